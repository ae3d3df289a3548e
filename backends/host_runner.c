/* host_runner.c — the per-host thread, see host_runner.h. */
#include "host_runner.h"

#include <malloc.h>
#include <string.h>

#include "call.h"
#include "desired.h"
#include "events.h"
#include "model.h"
#include "reconcile.h"
#include "snapshot_model.h"
#include "spec.h"

#define BACKOFF_MIN_US (500 * 1000)
#define BACKOFF_MAX_US (8 * 1000 * 1000)
/* Every this many refreshes, every VM's definition is fetched again, not
 * only those whose brief changed: the safety net for changes to a
 * definition that came without an event. */
#define DEEP_EVERY 10

struct vdc_runner {
    const struct hv_ops *ops;
    unsigned host;
    char *uri;
    gint64 refresh_us;
    struct hv_sink sink; /* lives as long as the runner: callbacks point here */

    GMutex lock; /* guards everything below */
    GCond cond;
    GHashTable *dirty; /* uuids of VMs to fetch again -> DIRTY_* flags */
    bool pools_dirty;
    bool lost;
    char *lost_reason;
    bool stop, first_done, finished;
    GThread *thread;
    char *host_name;
    GHashTable *to_reconcile; /* fnames of desired entries to reconcile */
    GQueue *power;     /* of struct power_job*: vms/<vm>/power writes */
    GQueue *calls;     /* of struct vdc_call*: work for other threads (call.h) */
    GHashTable *memos; /* fname -> struct vdc_memo*: runner thread only */
    GThreadPool *workers;  /* reconciles of one batch run side by side */
    unsigned in_flight;    /* reconciles handed to the workers, not yet done */
};

/* How many reconciles of one host run at once.  Each waits mostly on the
 * host's round trips (libvirt connections are thread-safe and pipeline
 * calls), so a few in parallel multiply the throughput; every entry is in
 * at most one of them. */
#define RECONCILE_WORKERS 8

/* One entry's reconcile on a worker, with its memo lent in a table of
 * its own (vdc_reconcile may drop it: the entry was deleted). */
struct reconcile_task {
    struct hv_conn *conn;
    char *fname;
    GHashTable *memos;
};

struct power_job {
    char uuid[37];
    enum hv_power_action action;
};

/* Every runner, so that writes can reach the one of a host by name. */
static GMutex registry_lock;
static GPtrArray *registry;
static bool prune_enabled;
void (*vdc_runner_connected_hook)(void);

static void enqueue_all(struct vdc_runner *r);

/* --- the sink: called from the backend's event thread ------------------ */

/* Why a VM is fetched again. */
enum { DIRTY_STATE = 1, DIRTY_DEFINITION = 2 };

static void mark_dirty(struct vdc_runner *r, const char *uuid, int why)
{
    g_mutex_lock(&r->lock);
    int had = GPOINTER_TO_INT(g_hash_table_lookup(r->dirty, uuid));
    g_hash_table_insert(r->dirty, g_strdup(uuid), GINT_TO_POINTER(had | why));
    g_cond_signal(&r->cond);
    g_mutex_unlock(&r->lock);
}

static void sink_vm_changed(void *ctx, const char *uuid)
{
    mark_dirty(ctx, uuid, DIRTY_STATE);
}

static void sink_vm_redefined(void *ctx, const char *uuid)
{
    mark_dirty(ctx, uuid, DIRTY_DEFINITION);
}

static void sink_pools_changed(void *ctx)
{
    struct vdc_runner *r = ctx;
    g_mutex_lock(&r->lock);
    r->pools_dirty = true;
    g_cond_signal(&r->cond);
    g_mutex_unlock(&r->lock);
}

static void sink_connection_lost(void *ctx, const char *reason)
{
    struct vdc_runner *r = ctx;
    g_mutex_lock(&r->lock);
    r->lost = true;
    g_free(r->lost_reason);
    r->lost_reason = g_strdup(reason);
    g_cond_signal(&r->cond);
    g_mutex_unlock(&r->lock);
}

/* --- the thread ------------------------------------------------------ */

static void mark_first_done(struct vdc_runner *r)
{
    g_mutex_lock(&r->lock);
    r->first_done = true;
    g_cond_broadcast(&r->cond);
    g_mutex_unlock(&r->lock);
}

/* Runs the calls queued so far with @c (NULL: the host is down, they
 * fail at once).  Lock not held. */
static void run_calls(struct vdc_runner *r, struct hv_conn *c)
{
    vdc_call_queue_run(&r->lock, r->calls, r->ops, c);
}

/* Sleeps until @until or until asked to stop; calls that come meanwhile
 * fail at once (no connection).  Returns false on stop. */
static bool sleep_until(struct vdc_runner *r, gint64 until)
{
    g_mutex_lock(&r->lock);
    while (!r->stop && g_get_monotonic_time() < until) {
        if (!g_queue_is_empty(r->calls)) {
            g_mutex_unlock(&r->lock);
            run_calls(r, NULL);
            g_mutex_lock(&r->lock);
            continue;
        }
        g_cond_wait_until(&r->cond, &r->lock, until);
    }
    bool go_on = !r->stop;
    g_mutex_unlock(&r->lock);
    return go_on;
}

/* Brings the model in line with the host: lists every VM briefly (a few
 * calls for the whole host), fetches the VMs that are new or changed (all
 * of them when @deep), one at a time so that memory does not grow with
 * the host, drops the VMs that are gone, and re-reads the pools.
 * Returns 0 or -1 with *err. */
static int refresh(struct vdc_runner *r, struct hv_conn *c, bool deep, char **err)
{
    GArray *briefs = NULL;
    GPtrArray *pools = NULL;
    /* Whatever changes while we list is fetched again afterwards. */
    g_mutex_lock(&r->lock);
    g_hash_table_remove_all(r->dirty);
    r->pools_dirty = false;
    g_mutex_unlock(&r->lock);
    if (r->ops->list_vm_briefs(c, &briefs, err) < 0)
        return -1;
    GHashTable *alive = g_hash_table_new(g_str_hash, g_str_equal);
    for (guint i = 0; i < briefs->len; i++) {
        const struct hv_vm_brief *b = &g_array_index(briefs, struct hv_vm_brief, i);
        g_hash_table_add(alive, (gpointer)b->uuid);
        if (!deep && vdc_model_vm_matches(r->host, b))
            continue;
        struct hv_vm *vm = NULL;
        g_autofree char *vm_err = NULL;
        int got = r->ops->get_vm(c, b->uuid, b, &vm, &vm_err);
        if (got == 0)
            vdc_model_vm_update(r->host, vm);
        else if (got == 1)
            g_hash_table_remove(alive, b->uuid); /* gone meanwhile */
        /* An error on one VM (a definition we cannot read, say) keeps its
         * last facts and does not cost the host its connection; a broken
         * connection shows in the calls below and in the close callback. */
    }
    vdc_model_host_prune_vms(r->host, alive);
    g_hash_table_destroy(alive);
    g_array_free(briefs, TRUE);
    if (r->ops->list_pools(c, &pools, err) < 0)
        return -1;
    vdc_model_host_sync_pools(r->host, pools);
    struct hv_host_info *info = NULL;
    g_autofree char *info_err = NULL;
    if (r->first_done && r->ops->host_info(c, &info, &info_err) == 0)
        vdc_model_host_connected(r->host, info); /* free memory, for placement */
    if (deep) {
        enqueue_all(r); /* drift that came without an event */
        malloc_trim(0); /* a deep refresh churned every VM's buffers */
    }
    return 0;
}

/* Asks for entry @fname to be reconciled (soon, on the runner's thread). */
static void enqueue(struct vdc_runner *r, const char *fname)
{
    g_mutex_lock(&r->lock);
    g_hash_table_add(r->to_reconcile, g_strdup(fname));
    g_cond_signal(&r->cond);
    g_mutex_unlock(&r->lock);
}

static void enqueue_all(struct vdc_runner *r)
{
    g_autoptr(GPtrArray) mine = vdc_desired_list(r->host_name);
    for (guint i = 0; i < mine->len; i++)
        enqueue(r, g_ptr_array_index(mine, i));
}

static bool state_agrees(enum vdc_vm_state want, enum vdc_vm_state have)
{
    switch (want) {
    case VDC_VM_RUNNING:
        return have == VDC_VM_RUNNING || have == VDC_VM_BLOCKED;
    case VDC_VM_PAUSED:
        return have == VDC_VM_PAUSED;
    case VDC_VM_SHUTOFF:
        return have == VDC_VM_SHUTOFF;
    default:
        return false;
    }
}

/* Whether the running VM @vm shows what @spec_text asks for, in what a
 * state change can change (state, vcpus, memory, autostart).  A "no"
 * costs a reconcile; a "yes" saves one, so anything unclear is a no. */
static bool vm_agrees(GBytes *spec_text, const struct hv_vm *vm)
{
    if (!spec_text || !vm)
        return false;
    g_autoptr(vdc_spec) spec =
        vdc_spec_parse(g_bytes_get_data(spec_text, NULL), g_bytes_get_size(spec_text), NULL);
    return spec && state_agrees(spec->state, vm->state) && spec->vcpus == vm->vcpus &&
           spec->memory_mib * 1024 == vm->memory_kib && spec->autostart == vm->autostart &&
           vm->persistent;
}

/* A managed VM changed: if it drifted, the reconciler puts it back.  A
 * change of state that leaves it as its spec says (our own start, say)
 * needs no reconcile; a new definition always gets one (someone may have
 * changed its configuration behind our back). */
static void enqueue_if_managed(struct vdc_runner *r, const char *uuid, const struct hv_vm *now,
                               bool redefined)
{
    char *fname = NULL;
    vdc_model_read_lock();
    struct vdc_host *h = g_ptr_array_index(vdc_model.hosts, r->host);
    struct vdc_vm *vm = g_hash_table_lookup(h->vms, uuid);
    struct vdc_desired *d = vm ? vm->managed : NULL;
    if (d && (d->deleting || (d->spec_text && (redefined || !vm_agrees(d->spec_text, now)))))
        fname = g_strdup(d->fname);
    vdc_model_read_unlock();
    if (fname)
        enqueue(r, fname);
    g_free(fname);
}

static void reconcile_task_run(gpointer data, gpointer user)
{
    struct reconcile_task *t = data;
    struct vdc_runner *r = user;
    vdc_reconcile(r->ops, t->conn, r->host, t->fname, t->memos, prune_enabled);
    g_mutex_lock(&r->lock);
    r->in_flight--;
    g_cond_broadcast(&r->cond);
    g_mutex_unlock(&r->lock);
}

static struct reconcile_task *reconcile_task_new(struct vdc_runner *r, struct hv_conn *c,
                                                 const char *fname)
{
    struct reconcile_task *t = g_new0(struct reconcile_task, 1);
    t->conn = c;
    t->fname = g_strdup(fname);
    t->memos = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    gpointer key, memo;
    if (g_hash_table_steal_extended(r->memos, fname, &key, &memo))
        g_hash_table_insert(t->memos, key, memo);
    return t;
}

/* Takes the memo back (unless the reconcile dropped it) and frees @t. */
static void reconcile_task_finish(struct vdc_runner *r, struct reconcile_task *t)
{
    gpointer key, memo;
    if (g_hash_table_steal_extended(t->memos, t->fname, &key, &memo))
        g_hash_table_insert(r->memos, key, memo);
    g_hash_table_destroy(t->memos);
    g_free(t->fname);
    g_free(t);
}

/* Reconciles every entry asked for so far, several at once, and returns
 * when all are done. */
static void run_reconciles(struct vdc_runner *r, struct hv_conn *c)
{
    g_mutex_lock(&r->lock);
    GHashTable *batch = r->to_reconcile;
    r->to_reconcile = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_mutex_unlock(&r->lock);
    g_autoptr(GPtrArray) tasks = g_ptr_array_new();
    GHashTableIter it;
    gpointer fname;
    g_hash_table_iter_init(&it, batch);
    vdc_model_read_lock();
    while (g_hash_table_iter_next(&it, &fname, NULL)) {
        /* A VM in the middle of a snapshot or a revert is paused or
         * stopped on purpose: left alone, reconciled when it is over. */
        struct vdc_desired *d = vdc_desired_find(fname);
        if (!d || !vdc_snapshot_vm_held(d->uuid))
            g_ptr_array_add(tasks, reconcile_task_new(r, c, fname));
    }
    vdc_model_read_unlock();
    g_hash_table_destroy(batch);
    if (tasks->len == 1) {
        struct reconcile_task *t = g_ptr_array_index(tasks, 0);
        vdc_reconcile(r->ops, c, r->host, t->fname, t->memos, prune_enabled);
    } else if (tasks->len > 1) {
        if (!r->workers)
            r->workers = g_thread_pool_new(reconcile_task_run, r, RECONCILE_WORKERS, FALSE, NULL);
        g_mutex_lock(&r->lock);
        r->in_flight += tasks->len;
        g_mutex_unlock(&r->lock);
        for (guint i = 0; i < tasks->len; i++)
            g_thread_pool_push(r->workers, g_ptr_array_index(tasks, i), NULL);
        g_mutex_lock(&r->lock);
        while (r->in_flight > 0)
            g_cond_wait(&r->cond, &r->lock);
        g_mutex_unlock(&r->lock);
    }
    for (guint i = 0; i < tasks->len; i++)
        reconcile_task_finish(r, g_ptr_array_index(tasks, i));
}

static void fetch_vm(struct vdc_runner *r, struct hv_conn *c, const char *uuid, bool redefined);

static void run_power_jobs(struct vdc_runner *r, struct hv_conn *c, GQueue *jobs)
{
    struct power_job *j;
    while ((j = g_queue_pop_head(jobs))) {
        g_autofree char *err = NULL;
        if (r->ops->power(c, j->uuid, j->action, &err) < 0)
            vdc_events_emitf("vm", NULL, r->host_name, "power-failed", "uuid",
                             json_string(j->uuid), "action",
                             json_string(hv_power_word(j->action)), "error",
                             json_string(err ? err : "?"), NULL);
        fetch_vm(r, c, j->uuid, true);
        g_free(j);
    }
    g_queue_free(jobs);
}

static void fetch_vm(struct vdc_runner *r, struct hv_conn *c, const char *uuid, bool redefined)
{
    struct hv_vm *vm = NULL;
    g_autofree char *err = NULL;
    int rc = r->ops->get_vm(c, uuid, NULL, &vm, &err);
    enqueue_if_managed(r, uuid, rc == 0 ? vm : NULL, redefined);
    if (rc == 0)
        vdc_model_vm_update(r->host, vm);
    else if (rc == 1)
        vdc_model_vm_gone(r->host, uuid);
    /* rc < 0: if the connection broke, the close callback says so; if
     * not, the next full refresh tries again. */
}

/* Serves one connection until it is lost or the runner stops.  Returns
 * the reason it ended (g_malloc'd), or NULL on stop. */
static char *serve(struct vdc_runner *r, struct hv_conn *c)
{
    gint64 next_refresh = g_get_monotonic_time() + r->refresh_us;
    unsigned refreshes = 0;
    for (;;) {
        g_mutex_lock(&r->lock);
        while (!r->stop && !r->lost && g_hash_table_size(r->dirty) == 0 && !r->pools_dirty &&
               g_hash_table_size(r->to_reconcile) == 0 && g_queue_is_empty(r->power) &&
               g_queue_is_empty(r->calls) && g_get_monotonic_time() < next_refresh)
            g_cond_wait_until(&r->cond, &r->lock, next_refresh);
        if (r->stop) {
            g_mutex_unlock(&r->lock);
            return NULL;
        }
        if (r->lost) {
            char *why = g_strdup(r->lost_reason ? r->lost_reason : "connection lost");
            g_mutex_unlock(&r->lock);
            return why;
        }
        GHashTable *dirty = r->dirty;
        r->dirty = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        bool pools = r->pools_dirty;
        r->pools_dirty = false;
        GQueue *power = r->power;
        r->power = g_queue_new();
        g_mutex_unlock(&r->lock);

        run_calls(r, c);
        run_power_jobs(r, c, power);

        GHashTableIter it;
        gpointer uuid, why;
        g_hash_table_iter_init(&it, dirty);
        while (g_hash_table_iter_next(&it, &uuid, &why))
            fetch_vm(r, c, uuid, GPOINTER_TO_INT(why) & DIRTY_DEFINITION);
        g_hash_table_destroy(dirty);

        run_reconciles(r, c);

        char *err = NULL;
        if (pools) {
            GPtrArray *list = NULL;
            if (r->ops->list_pools(c, &list, &err) < 0)
                return err;
            vdc_model_host_sync_pools(r->host, list);
        }
        if (g_get_monotonic_time() >= next_refresh) {
            if (refresh(r, c, ++refreshes % DEEP_EVERY == 0, &err) < 0)
                return err;
            next_refresh = g_get_monotonic_time() + r->refresh_us;
        }
    }
}

/* Connects and loads.  Returns the connection, or NULL with *err. */
static struct hv_conn *connect_and_load(struct vdc_runner *r, char **err)
{
    struct hv_host_info *info = NULL;
    g_mutex_lock(&r->lock);
    r->lost = false;
    g_mutex_unlock(&r->lock);
    struct hv_conn *c = r->ops->connect(r->uri, &r->sink, err);
    if (!c)
        return NULL;
    if (r->ops->host_info(c, &info, err) < 0 || refresh(r, c, true, err) < 0) {
        hv_host_info_free(info);
        r->ops->disconnect(c);
        return NULL;
    }
    vdc_model_host_connected(r->host, info);
    return c;
}

static gpointer runner_thread(gpointer data)
{
    struct vdc_runner *r = data;
    gint64 backoff = BACKOFF_MIN_US;
    for (;;) {
        char *err = NULL;
        struct hv_conn *c = connect_and_load(r, &err);
        if (c) {
            backoff = BACKOFF_MIN_US;
            mark_first_done(r);
            /* What was asked while the host was away converges now. */
            enqueue_all(r);
            if (vdc_runner_connected_hook)
                vdc_runner_connected_hook();
            err = serve(r, c);
            r->ops->disconnect(c);
            if (!err)
                break; /* asked to stop */
        }
        vdc_model_host_disconnected(r->host, err);
        g_free(err);
        mark_first_done(r);
        if (!sleep_until(r, g_get_monotonic_time() + backoff))
            break;
        backoff = MIN(backoff * 2, BACKOFF_MAX_US);
    }
    /* No call is queued once finished is set: those still here fail. */
    g_mutex_lock(&r->lock);
    r->finished = true;
    GQueue *left = r->calls;
    r->calls = g_queue_new();
    g_cond_broadcast(&r->cond);
    g_mutex_unlock(&r->lock);
    vdc_call_queue_run(NULL, left, r->ops, NULL); /* nobody else sees @left */
    g_queue_free(left);
    return NULL;
}

struct vdc_runner *vdc_runner_start(const struct hv_ops *ops, unsigned host_index,
                                    const char *uri, unsigned refresh_seconds)
{
    struct vdc_runner *r = g_new0(struct vdc_runner, 1);
    r->ops = ops;
    r->host = host_index;
    r->uri = g_strdup(uri);
    r->refresh_us = (gint64)refresh_seconds * G_USEC_PER_SEC;
    r->sink = (struct hv_sink){.vm_changed = sink_vm_changed,
                               .vm_redefined = sink_vm_redefined,
                               .pools_changed = sink_pools_changed,
                               .connection_lost = sink_connection_lost,
                               .ctx = r};
    g_mutex_init(&r->lock);
    g_cond_init(&r->cond);
    r->dirty = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    r->to_reconcile = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    r->power = g_queue_new();
    r->calls = g_queue_new();
    r->memos = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    vdc_model_read_lock();
    r->host_name = g_strdup(((struct vdc_host *)g_ptr_array_index(vdc_model.hosts, host_index))->name);
    vdc_model_read_unlock();
    g_mutex_lock(&registry_lock);
    if (!registry)
        registry = g_ptr_array_new();
    g_ptr_array_add(registry, r);
    g_mutex_unlock(&registry_lock);
    r->thread = g_thread_new("vdc-host", runner_thread, r);
    return r;
}

bool vdc_runner_wait_first(struct vdc_runner *r, gint64 deadline)
{
    g_mutex_lock(&r->lock);
    while (!r->first_done && g_get_monotonic_time() < deadline)
        g_cond_wait_until(&r->cond, &r->lock, deadline);
    bool done = r->first_done;
    g_mutex_unlock(&r->lock);
    return done;
}

bool vdc_runner_stop(struct vdc_runner *r, gint64 deadline)
{
    g_mutex_lock(&r->lock);
    r->stop = true;
    g_cond_broadcast(&r->cond);
    while (!r->finished && g_get_monotonic_time() < deadline)
        g_cond_wait_until(&r->cond, &r->lock, deadline);
    bool finished = r->finished;
    g_mutex_unlock(&r->lock);
    if (!finished)
        return false;
    g_thread_join(r->thread);
    g_mutex_lock(&registry_lock);
    g_ptr_array_remove(registry, r);
    if (registry->len == 0)
        g_clear_pointer(&registry, g_ptr_array_unref);
    g_mutex_unlock(&registry_lock);
    g_hash_table_destroy(r->dirty);
    g_hash_table_destroy(r->to_reconcile);
    g_queue_free_full(r->power, g_free);
    g_queue_free(r->calls); /* empty: nothing is queued once finished */
    if (r->workers)
        g_thread_pool_free(r->workers, FALSE, TRUE);
    g_hash_table_destroy(r->memos);
    g_free(r->host_name);
    g_free(r->lost_reason);
    g_free(r->uri);
    g_mutex_clear(&r->lock);
    g_cond_clear(&r->cond);
    g_free(r);
    return true;
}

/* --- reaching a runner by host name ------------------------------------ */

static struct vdc_runner *runner_named(const char *host)
{
    for (guint i = 0; registry && i < registry->len; i++) {
        struct vdc_runner *r = g_ptr_array_index(registry, i);
        if (strcmp(r->host_name, host) == 0)
            return r;
    }
    return NULL;
}

bool vdc_runner_kick(const char *host, const char *fname)
{
    g_mutex_lock(&registry_lock);
    struct vdc_runner *r = host ? runner_named(host) : NULL;
    if (r)
        enqueue(r, fname);
    g_mutex_unlock(&registry_lock);
    return r != NULL;
}

bool vdc_runner_power(const char *host, const char *uuid, enum hv_power_action action)
{
    g_mutex_lock(&registry_lock);
    struct vdc_runner *r = runner_named(host);
    if (r) {
        struct power_job *j = g_new0(struct power_job, 1);
        g_strlcpy(j->uuid, uuid, sizeof j->uuid);
        j->action = action;
        g_mutex_lock(&r->lock);
        g_queue_push_tail(r->power, j);
        g_cond_signal(&r->cond);
        g_mutex_unlock(&r->lock);
    }
    g_mutex_unlock(&registry_lock);
    return r != NULL;
}

bool vdc_runner_call(const char *host, struct vdc_call *c)
{
    bool queued = false;
    g_mutex_lock(&registry_lock);
    /* Every runner of that name, not only the first: one given up on at
     * a stop that timed out stays registered (finished) until exit. */
    for (guint i = 0; host && !queued && registry && i < registry->len; i++) {
        struct vdc_runner *r = g_ptr_array_index(registry, i);
        if (strcmp(r->host_name, host) != 0)
            continue;
        g_mutex_lock(&r->lock);
        queued = !r->finished;
        if (queued) {
            g_queue_push_tail(r->calls, vdc_call_ref(c));
            g_cond_signal(&r->cond);
        }
        g_mutex_unlock(&r->lock);
    }
    g_mutex_unlock(&registry_lock);
    return queued;
}

void vdc_runner_set_prune(bool prune)
{
    prune_enabled = prune;
}
