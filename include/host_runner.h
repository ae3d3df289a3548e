/* host_runner.h — one thread per host that keeps the model current.
 *
 * The runner owns the host's backend connection.  It connects (retrying
 * with backoff while the host is down), loads everything, then waits for
 * news from the backend's event callbacks (a VM changed, pools changed,
 * the connection dropped) and for the periodic full refresh, and feeds
 * what it fetches into the model.  Only this thread ever waits on the
 * host, so a slow or dead host never stalls the filesystem.
 */
#ifndef VDCFS_HOST_RUNNER_H
#define VDCFS_HOST_RUNNER_H

#include <glib.h>
#include <stdbool.h>

#include "hv.h"

struct vdc_runner;

/* Starts the runner of model host @host_index.  Copies @uri. */
struct vdc_runner *vdc_runner_start(const struct hv_ops *ops, unsigned host_index,
                                    const char *uri, unsigned refresh_seconds);

/* Waits until the runner's first connection attempt has ended (loaded or
 * failed) or @deadline (g_get_monotonic_time() scale) passes.  Returns
 * true if it ended. */
bool vdc_runner_wait_first(struct vdc_runner *r, gint64 deadline);

/* Tells the runner to stop and waits for it until @deadline.  Returns
 * true and frees @r if it stopped; false if it is still stuck in a call
 * to its host (then @r is abandoned: the process is about to exit). */
bool vdc_runner_stop(struct vdc_runner *r, gint64 deadline);

/* Asks the runner of host @host to reconcile desired entry @fname.
 * Returns false when no runner has that name. */
bool vdc_runner_kick(const char *host, const char *fname);
/* Queues a power action on VM @uuid of @host, done before any reconcile
 * that is queued.  Returns false when no runner has that name. */
bool vdc_runner_power(const char *host, const char *uuid, enum hv_power_action action);
/* Queues @c (call.h) on the runner of @host, which takes a reference:
 * it runs it with the host's connection between its other work, or at
 * once with none while the host is down.  Returns false (nothing queued)
 * when no runner has that name or it has stopped. */
struct vdc_call;
bool vdc_runner_call(const char *host, struct vdc_call *c);
/* Whether deleting a running VM's directory destroys it (config "prune"). */
void vdc_runner_set_prune(bool prune);
/* Called on a runner's thread each time its host (re)connects: VMs that
 * wait for a host to be placed on can be placed now.  Set before start. */
extern void (*vdc_runner_connected_hook)(void);

#endif
