/* reconcile.h — making a host match the desired state.
 *
 * The reconciler runs on a host runner's thread (host_runner.h), with
 * that runner's connection: it reads a desired entry (desired.h), asks the
 * host for the VM's persistent definition, plans the steps that close the
 * gap (vdc_reconcile_plan, a pure function the unit tests drive), carries
 * them out, and reports through conditions and /events.  A step that
 * fails stops the plan; the entry says why and the next change, event or
 * refresh tries again.
 *
 * Ownership: plans belong to the caller (vdc_plan_free).
 */
#ifndef VDCFS_RECONCILE_H
#define VDCFS_RECONCILE_H

#include <glib.h>
#include <stdbool.h>

#include "desired.h"
#include "hv.h"
#include "spec.h"

enum vdc_step_kind {
    VDC_STEP_ENSURE_VOLUME = 1, /* pool, volume, capacity */
    VDC_STEP_DEFINE,            /* the domain XML of the spec */
    VDC_STEP_AUTOSTART,         /* flag */
    VDC_STEP_POWER,             /* power */
    VDC_STEP_SET_VCPUS,         /* live: vcpus */
    VDC_STEP_SET_MEMORY,        /* live: kib */
    VDC_STEP_UNDEFINE,
};

struct vdc_step {
    enum vdc_step_kind kind;
    enum hv_power_action power;
    const char *pool, *volume; /* borrowed from the spec */
    uint64_t capacity;         /* bytes */
    bool flag;
    unsigned vcpus;
    uint64_t kib;
};

/* What the runner remembers between reconciles of one entry. */
struct vdc_memo {
    uint64_t live_tried_generation; /* live vcpus/memory attempted for it */
    bool live_failed;               /* ... and the hypervisor said no */
    gint64 shutdown_since;          /* monotonic us of the first shutdown asked, 0 */
};

struct vdc_plan {
    GArray *steps;       /* of struct vdc_step */
    char *drift;         /* what differs, "" when in sync (g_malloc'd) */
    char *blocked;       /* why nothing can be done now, or NULL */
    bool restart_needed; /* the config is right, the running VM is not */
};

/* How long a guest has to shut down when asked before it is destroyed. */
#define VDC_SHUTDOWN_GRACE_US (60 * G_USEC_PER_SEC)

/* Plans what takes the VM from @config (its persistent definition, with
 * its state; NULL when not defined on the host) to @w.  @xml is the
 * domain XML @w stands for.  @arrays (called with @arrays_data; may be
 * NULL when the spec has no LUN disk) says where the spec's arrays are,
 * as it did for @xml: a LUN disk matches an iSCSI disk of that IQN/LUN on
 * that portal host and port, and nothing else.  @prune: a running VM
 * that is being deleted may be destroyed.  @now: monotonic time, for the
 * shutdown grace.  Pure: it looks at nothing but its arguments. */
struct vdc_plan *vdc_reconcile_plan(const struct vdc_want *w, const char *xml,
                                    const struct hv_vm *config, const struct hv_vm *live,
                                    const struct vdc_memo *memo, vdc_spec_array_lookup arrays,
                                    void *arrays_data, bool prune, gint64 now);
void vdc_plan_free(struct vdc_plan *p);

/* The MAC of interface @i of @w: the spec's, or the one assigned. */
const char *vdc_want_mac(const struct vdc_want *w, guint i);

/* Reconciles entry @fname on the runner's host @host (model index) over
 * @conn.  @memos: the runner's memo table (fname -> struct vdc_memo*). */
void vdc_reconcile(const struct hv_ops *ops, struct hv_conn *conn, unsigned host,
                   const char *fname, GHashTable *memos, bool prune);

/* Called (on the runner's thread) when a deleted entry's VM has been
 * undefined: the controller forgets the entry.  Set by the controller. */
extern void (*vdc_reconcile_deleted_hook)(const char *fname);

#endif
