/* array_runner.h — one thread per storage array that keeps the model's
 * view of it current.
 *
 * The runner owns the array's management handle (array.h) and an iSCSI
 * session (iscsi.h).  Every few seconds, and at once when asked (after
 * vdcfs made or deleted a snapshot), it lists the LUNs from both sides
 * and feeds the model (array_model.h).  An array that does not answer is
 * marked down with the reason and tried again with backoff.  Only this
 * thread waits on the array: the filesystem never does.
 */
#ifndef VDCFS_ARRAY_RUNNER_H
#define VDCFS_ARRAY_RUNNER_H

#include <glib.h>
#include <stdbool.h>

#include "array.h"
#include "config.h"

struct vdc_array_runner;

/* How often an array is read again without being asked, at most. */
#define VDC_ARRAY_REFRESH_MAX_SECONDS 10
/* Every call to an array gives up after this long. */
#define VDC_ARRAY_TIMEOUT_SECONDS 10

/* Starts the runner of model array @index, configured as @cfg (copied). */
struct vdc_array_runner *vdc_array_runner_start(const struct array_ops *ops, unsigned index,
                                                const struct vdc_array_config *cfg,
                                                unsigned refresh_seconds);

/* Asks for a refresh now.  Thread-safe. */
void vdc_array_runner_kick(struct vdc_array_runner *r);

/* Queues @c (call.h) on the runner of model array @index, which takes a
 * reference: it runs it with the array's management handle between
 * refreshes, or at once with none while the array is down.  Returns
 * false (nothing queued) when there is no such runner. */
struct vdc_call;
bool vdc_array_runner_call(unsigned index, struct vdc_call *c);
/* vdc_array_runner_kick by model index; false when there is none. */
bool vdc_array_runner_kick_index(unsigned index);

/* Waits until the first attempt to read the array has ended or @deadline
 * (g_get_monotonic_time() scale) passes.  Returns true if it ended. */
bool vdc_array_runner_wait_first(struct vdc_array_runner *r, gint64 deadline);

/* Stops the runner, waiting until @deadline.  Returns true and frees @r
 * if it stopped; false when it is stuck in a call to its array (then @r
 * is abandoned: the process is about to exit). */
bool vdc_array_runner_stop(struct vdc_array_runner *r, gint64 deadline);

#endif
