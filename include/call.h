/* call.h — work that a backend thread does for another thread, which may
 * stop waiting for it.
 *
 * Only a host's runner talks to its host and only an array's runner to
 * its array (host_runner.h, array_runner.h).  A thread that needs
 * something done there (the snapshot controller: freeze this VM, snapshot
 * that LUN) hands the runner a struct vdc_call and waits for it with a
 * deadline.  If the deadline passes first the caller abandons the call;
 * the runner still runs it when it gets to it, and when the work
 * succeeded after all, it runs the call's undo right away, so that
 * nothing the caller gave up on stays done (a snapshot nobody recorded,
 * a VM left suspended).
 *
 * The runner calls run() with its connection, or with NULL when it has
 * none right now (the host or array is down): run() must then fail at
 * once, with a message saying so, rather than wait.
 *
 * Ownership: a call is reference-counted; the creator holds one
 * reference, the runner it is queued on takes another.  @data is freed
 * with @free_data when the last reference goes.  err is g_malloc'd.
 */
#ifndef VDCFS_CALL_H
#define VDCFS_CALL_H

#include <glib.h>
#include <stdbool.h>

struct vdc_call;
/* On the runner's thread.  @ops is the runner's ops table (struct hv_ops
 * or struct array_ops), @conn its connection or NULL.  Returns 0, or -1
 * with *err set; the result is the call's rc. */
typedef int (*vdc_call_fn)(const void *ops, void *conn, void *data, char **err);

struct vdc_call *vdc_call_new(vdc_call_fn run, vdc_call_fn undo, void *data,
                              GDestroyNotify free_data);
struct vdc_call *vdc_call_ref(struct vdc_call *c);
void vdc_call_unref(struct vdc_call *c);
typedef struct vdc_call vdc_call;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(vdc_call, vdc_call_unref)

/* The runner's side: runs @c (and its undo when it was abandoned and
 * succeeded), then wakes the caller.  Drops the runner's reference. */
void vdc_call_execute(struct vdc_call *c, const void *ops, void *conn);

/* The runner's side: executes the calls of @q (guarded by @lock; NULL
 * when no other thread sees @q) until it is empty, with @conn (NULL:
 * they fail at once). */
void vdc_call_queue_run(GMutex *lock, GQueue *q, const void *ops, void *conn);

/* The caller's side: waits until @c ran or @deadline
 * (g_get_monotonic_time() scale) passes.  Returns true when it ran (see
 * vdc_call_result); false when the deadline came first: the call is then
 * abandoned. */
bool vdc_call_wait(struct vdc_call *c, gint64 deadline);
/* After a vdc_call_wait that returned true: run()'s rc, and its error
 * (owned by the call, NULL when none). */
int vdc_call_result(const struct vdc_call *c, const char **err);
/* The data given to vdc_call_new (owned by the call). */
void *vdc_call_data(const struct vdc_call *c);

#endif
