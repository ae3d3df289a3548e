/* vmdisk_model.h — a VM's disks in the model: vms/<vm>/disks/.
 *
 *   vms/<vm>/disks/<target>/info.json   the virtual-to-physical mapping
 *
 * info.json says what the guest cannot see (seed 004): the disk as the
 * VM's definition has it (target, bus, device, source) and, for a disk on
 * a LUN of a configured array, that array, the LUN and the LUN's own
 * facts as arrays/<array>/luns/<lun>/info.json shows them, with whether
 * the array answers:
 *
 *   {"target", "bus", "device",
 *    "source": {"type": "file"|"block"|"volume"|"network", and its fields:
 *               file | dev | pool, volume | protocol, name, host, port} or null,
 *    "array": name or null, "lun": number or null,
 *    "lun_info": the LUN's info.json, or null (not on a configured array,
 *                the array not read yet, or no such LUN on it),
 *    "array_connected": bool or null, "array_error": text or null}
 *
 * Memory: a VM keeps one small object per disk (its inodes), with the
 * disk's target and a digest of its definition, nothing more; the rest
 * is read, when info.json is, from the VM's status.json and the array
 * model.  So the array part is always the array's latest facts.  A disk
 * is matched to an array by target IQN: libvirt names an iSCSI disk's
 * source "<iqn>/<lun>".
 *
 * Only the model changes disks (model.c, when a VM's facts arrive;
 * array_model.c tells when an array's facts changed); lookups need the
 * read lock.  Ownership: as model.h.
 */
#ifndef VDCFS_VMDISK_MODEL_H
#define VDCFS_VMDISK_MODEL_H

#include <glib.h>
#include <stdint.h>

#include "model.h"

struct vdc_vmdisk {
    struct vdc_obj o;  /* VDC_OBJ_VMDISK; subs VDC_VMDISK_* */
    struct vdc_vm *vm; /* owns it */
    const char *iscsi; /* "<iqn>/<lun>", borrowed from vm->iscsi_disks; NULL if not iSCSI */
    uint32_t digest;   /* of the disk's definition: tells when info.json changed */
    char fname[];      /* the target, as a file name (names.h) */
};

/* Read lock held.  The disk of @vm called @fname in disks/, or NULL. */
struct vdc_vmdisk *vdc_vmdisk_find(const struct vdc_vm *vm, const char *fname);

/* Read lock held.  info.json of @d (a new GBytes). */
GBytes *vdc_vmdisk_info(const struct vdc_vmdisk *d);

#endif
