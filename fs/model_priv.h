/* model_priv.h — what the model's own source files (model.c, desired.c,
 * scratch.c) share.  Not for the rest of vdcfs: everything else changes
 * the model through the functions of model.h, desired.h and scratch.h. */
#ifndef VDCFS_MODEL_PRIV_H
#define VDCFS_MODEL_PRIV_H

#include "model.h"

void write_lock(void);
void write_unlock(void);

/* Objects: an id that is never reused, registered in vdc_model.objs. */
void obj_register(struct vdc_obj *o, enum vdc_obj_type type);
void obj_unregister(struct vdc_obj *o);
void obj_touch(struct vdc_obj *o);

/* Replaces *@slot with @fresh (stolen); invalidates @ino when it changed. */
bool set_content(GBytes **slot, GBytes *fresh, uint64_t ino);

struct vdc_host *host_at(unsigned index);

/* Recomputes the names in vms/ of every VM called @raw. */
void displays_refresh(const char *raw);

/* desired.c's side of VM changes: a VM appeared, changed or is about to
 * go; binds or unbinds it to the desired entry that names its uuid and
 * invalidates that entry's files. */
void desired_vm_seen(struct vdc_vm *vm);
void desired_vm_changed(struct vdc_vm *vm);
void desired_vm_leaving(struct vdc_vm *vm);
/* The desired entry that claims the name @fname in vms/, if any. */
struct vdc_desired *desired_claiming(const char *fname);
void desired_free_all(void);
void scratch_free_all(void);
void arrays_free_all(void); /* array_model.c */
void snapshots_free_all(void); /* snapshot_model.c */

/* vmdisk_model.c: a VM's disks/.  vmdisks_sync brings vm->disks and
 * vm->iscsi_disks in line with @facts and invalidates what changed;
 * vmdisks_free frees them (the VM is going).  vmdisks_array_changed: what
 * array @a shows changed, for the LUNs numbered in @luns (a GArray of
 * unsigned) or, when NULL, for all of them: the info.json of every disk
 * on them is invalidated. */
struct vdc_array;
void vmdisks_sync(struct vdc_vm *vm, const struct hv_vm *facts);
void vmdisks_free(struct vdc_vm *vm);
void vmdisks_array_changed(const struct vdc_array *a, const GArray *luns);

#endif
