/* vm_ctl.h — the controller: what writes to vms/ do.
 *
 * The FUSE thread hands every write that changes the desired state to
 * the controller and goes on serving reads.  The controller works on one
 * thread, in the order the requests came (so of two closes of the same
 * spec the last one wins): it validates, persists in the state directory
 * (store.h) before answering, updates the model (desired.h), asks the
 * host's runner to reconcile (host_runner.h) and replies to the request.
 * It never waits on a host.
 *
 * Every vdc_ctl_* request function takes ownership of the request (it
 * replies, from the controller's thread) and of the GBytes it is given.
 */
#ifndef VDCFS_VM_CTL_H
#define VDCFS_VM_CTL_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <glib.h>
#include <stdbool.h>

#include "hv.h"
#include "store.h"

/* Which VM directory a request is about, resolved on the FUSE thread. */
struct vdc_ctl_target {
    char *fname;      /* the entry's name in vms/ */
    uint64_t dir_ino; /* the directory's inode as the kernel knows it */
    /* For a VM that has no entry yet: the VM itself (adopting it). */
    char *vm_host;
    char uuid[37];
};

void vdc_ctl_target_clear(struct vdc_ctl_target *t);

/* Loads the desired state kept in @st into the model (after the hosts
 * are added, before their runners start).  Returns false with *err when
 * the state directory cannot be read. */
bool vdc_ctl_load(struct vdc_store *st, GError **err);

/* Starts the controller thread.  @store may be NULL (no state_dir): then
 * every write is refused with EROFS and a message saying why. */
void vdc_ctl_start(struct vdc_store *store, bool prune);
/* Finishes the queued requests and stops. */
void vdc_ctl_stop(void);

/* A spec was closed or fsync'd (@scratch_ino 0) or a scratch file
 * renamed over spec.json (@scratch_ino its inode): validate, persist,
 * apply.  Replies 0, or EINVAL (bad spec), EIO (cannot persist), EROFS. */
void vdc_ctl_commit_spec(fuse_req_t req, struct vdc_ctl_target *t, GBytes *text,
                         uint64_t scratch_ino);
/* mkdir vms/<fname>: replies with the new directory's entry. */
void vdc_ctl_mkdir(fuse_req_t req, struct vdc_ctl_target *t);
/* rmdir vms/<fname>. */
void vdc_ctl_rmdir(fuse_req_t req, struct vdc_ctl_target *t);
/* rm vms/<fname>/spec.json: stop managing the VM. */
void vdc_ctl_unlink_spec(fuse_req_t req, struct vdc_ctl_target *t);
/* A word written to vms/<vm>/power; replies with @size written. */
void vdc_ctl_power(fuse_req_t req, struct vdc_ctl_target *t, enum hv_power_action a,
                   size_t size);

#endif
