/* snapshot_model.h — VM snapshots in the model: vms/<vm>/snapshots/.
 *
 *   vms/<vm>/snapshots/<name>/info.json           what the snapshot is
 *   vms/<vm>/snapshots/<name>/domain.xml          the VM's definition then
 *   vms/<vm>/snapshots/<name>/disks/<target>.img  a disk at that instant
 *
 * A snapshot is described by its record: the JSON document the snapshot
 * controller (snap_ctl.c) keeps in the state directory (snap_store.h):
 *
 *   {"name", "vm", "uuid", "host", "time", "consistency", "mechanism",
 *    "state" (the VM's power state then), "parent", "domain_xml",
 *    "disks": [{"target", "array", "source_lun", "snapshot_id", "size",
 *               "cow"}],             (mechanism "array")
 *    "libvirt_snapshot": "<id>"}     (mechanism "libvirt")
 *
 * Snapshots belong to a VM by uuid, so the directory follows the VM
 * whether vms/ shows it by its own name or as a desired entry.  Which
 * LUN holds a disk's snapshot is not kept: the array says it (the LUN
 * whose snapshot id is the disk's), so it is looked up when read.
 *
 * Only the snapshot controller changes this part of the model; every
 * update function takes the write lock itself; lookups need the read
 * lock.  Ownership: as model.h; records given are consumed.
 */
#ifndef VDCFS_SNAPSHOT_MODEL_H
#define VDCFS_SNAPSHOT_MODEL_H

#include <glib.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "model.h"

struct vdc_vmsnap;

/* disks/<target>.img of an array snapshot. */
struct vdc_snapdisk {
    struct vdc_obj o;          /* VDC_OBJ_SNAPDISK, sub 0: the image */
    struct vdc_vmsnap *snap;
    char *fname;               /* "<target>.img" */
    char *array;               /* the array's name */
    char *snapshot_id;         /* on the array */
    uint64_t size;             /* bytes: the LUN's size */
};

struct vdc_vmsnap {
    struct vdc_obj o;          /* VDC_OBJ_VMSNAP; subs VDC_SNAP_* */
    char uuid[37];
    char *name;                /* its name in snapshots/ */
    json_t *record;            /* owned */
    GBytes *domain_xml;
    GHashTable *disks;         /* fname -> struct vdc_snapdisk*, owned */
};

/* Loads or replaces the snapshot @record describes (consumed). */
void vdc_model_snapshot_put(json_t *record);
/* Removes snapshot @name of VM @uuid, if there. */
void vdc_model_snapshot_remove(const char *uuid, const char *name);
/* The outcome of the last snapshot operation on VM @uuid, shown in its
 * status.json: @message NULL for success.  @op: "snapshot", "revert",
 * "delete". */
void vdc_model_snapshot_outcome(const char *uuid, const char *op, const char *name,
                                const char *message);
/* Marks snapshot @name of @uuid as being made (true) or no longer.  A
 * snapshot being made is not shown, but its name is taken. */
void vdc_model_snapshot_pending(const char *uuid, const char *name, bool pending);

/* While a snapshot is taken or reverted, the VM is paused, stopped or
 * frozen on purpose: the reconciler must leave it alone (it would resume
 * or start it mid-way).  Holds nest; the snapshot controller asks for a
 * reconcile when it lets go. */
void vdc_model_snapshot_hold(const char *uuid, bool hold);

/* --- lookups: read lock held ------------------------------------------ */

/* True while VM @uuid is held (above). */
bool vdc_snapshot_vm_held(const char *uuid);
/* VM @uuid's snapshots: name -> struct vdc_vmsnap*, or NULL when none. */
GHashTable *vdc_snapshots_of(const char *uuid);
struct vdc_vmsnap *vdc_snapshot_find(const char *uuid, const char *name);
/* True while snapshot @name of @uuid is being made. */
bool vdc_snapshot_is_pending(const char *uuid, const char *name);
/* The number of snapshots of VM @uuid. */
unsigned vdc_snapshot_count(const char *uuid);
/* The newest snapshot of @uuid by time, or NULL. */
struct vdc_vmsnap *vdc_snapshot_latest(const char *uuid);
/* status.json's "snapshots" member for @uuid (new ref), or NULL when
 * the VM never had one and no operation was tried. */
json_t *vdc_snapshot_status(const char *uuid);
/* info.json of @s, with each disk's snapshot LUN as the array says now. */
GBytes *vdc_snapshot_info(const struct vdc_vmsnap *s);
/* Where disk @d's image is now: the array's model index and the LUN that
 * holds the snapshot.  False when the array no longer has it. */
bool vdc_snapdisk_where(const struct vdc_snapdisk *d, unsigned *array_index, unsigned *lun);
/* The LUN of array @a that holds snapshot @id, or NULL. */
struct vdc_array;
struct vdc_lun *vdc_array_snapshot_lun(const struct vdc_array *a, const char *id);
/* The VM snapshot that array @array's snapshot @id is a disk of, or NULL. */
struct vdc_vmsnap *vdc_snapshot_with_disk(const char *array, const char *id);
/* The bytes the array has mapped for @d's image (GET LBA STATUS), or its
 * size when the array does not say: st_blocks, so that tar -S and others
 * that look at it know the image is sparse. */
uint64_t vdc_snapdisk_allocated(const struct vdc_snapdisk *d);

#endif
