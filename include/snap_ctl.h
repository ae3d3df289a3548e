/* snap_ctl.h — the snapshot controller: what mkdir and rmdir in
 * vms/<vm>/snapshots/ and writes to vms/<vm>/revert do.
 *
 * Taking a snapshot (seed 003): the VM is brought to a consistent point
 * (the guest agent freezes its filesystems; where it cannot, the VM is
 * suspended; a VM that is shut off, or that neither works for, gives a
 * crash-consistent snapshot), every LUN behind its disks is snapshotted
 * by its array, the snapshot is recorded in the state directory, and the
 * VM is thawed or resumed, on every path, errors included.  If any LUN
 * fails, the LUN snapshots already made are deleted, mkdir fails with
 * EIO and the message goes to /events and the VM's status.json.  A VM
 * whose disks are not on arrays gets libvirt's own snapshot instead
 * ("mechanism": "libvirt"); a VM with disks of both kinds is refused.
 *
 * Each request runs on a worker thread of the controller and reaches
 * hosts and arrays only through their runners (call.h), so it never
 * touches a connection it does not own.  The FUSE request is answered
 * when the work is done or, at the latest, shortly after the configured
 * deadline (snapshot_timeout_seconds); work given up on is undone by the
 * runners.  A crash in the middle is repaired at the next start: an
 * intent record written first says what to delete and which VM to thaw
 * or resume.
 *
 * The request functions take ownership of the request (they reply).
 */
#ifndef VDCFS_SNAP_CTL_H
#define VDCFS_SNAP_CTL_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <stdbool.h>

#include "config.h"

/* Loads the records kept in @state_dir (may be NULL: snapshots are then
 * refused with EROFS) into the model, and starts the workers; intent
 * records left by a crash are repaired in the background. */
void vdc_snap_ctl_start(const struct vdc_config *cfg, const char *state_dir);
/* Waits for the requests under way (each ends by its deadline). */
void vdc_snap_ctl_stop(void);

/* Which VM a request is about, resolved on the FUSE thread (copied). */
struct vdc_snap_target {
    const char *uuid, *host, *vm_name;
    uint64_t dir_ino; /* the snapshots/ directory's inode */
};

/* mkdir vms/<vm>/snapshots/<name>: replies with the new directory. */
void vdc_snap_mkdir(fuse_req_t req, const struct vdc_snap_target *t, const char *name);
/* rmdir vms/<vm>/snapshots/<name>. */
void vdc_snap_rmdir(fuse_req_t req, const struct vdc_snap_target *t, const char *name);
/* A snapshot name written to vms/<vm>/revert; replies @size written. */
void vdc_snap_revert(fuse_req_t req, const struct vdc_snap_target *t, const char *name,
                     size_t size);

/* mkdir (@make) or rmdir of arrays/<array>/luns/<lun>/snapshots/<id>:
 * a LUN snapshot made or deleted on the array (model index @array).  The
 * id is the name: 1..64 of [A-Za-z0-9_-], not starting with "vdcfs-"
 * (those belong to VM snapshots, which rmdir refuses with EBUSY here). */
void vdc_snap_lun_op(fuse_req_t req, unsigned array, unsigned lun, const char *id, bool make);

#endif
