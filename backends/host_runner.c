/* host_runner.c — the per-host thread, see host_runner.h. */
#include "host_runner.h"

#include <malloc.h>
#include <string.h>

#include "desired.h"
#include "events.h"
#include "model.h"
#include "reconcile.h"

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
    GHashTable *dirty; /* uuids of VMs to fetch again */
    bool pools_dirty;
    bool lost;
    char *lost_reason;
    bool stop, first_done, finished;
    GThread *thread;
    char *host_name;
    GHashTable *to_reconcile; /* fnames of desired entries to reconcile */
    GQueue *power;     /* of struct power_job*: vms/<vm>/power writes */
    GHashTable *memos; /* fname -> struct vdc_memo*: runner thread only */
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

static void sink_vm_changed(void *ctx, const char *uuid)
{
    struct vdc_runner *r = ctx;
    g_mutex_lock(&r->lock);
    g_hash_table_add(r->dirty, g_strdup(uuid));
    g_cond_signal(&r->cond);
    g_mutex_unlock(&r->lock);
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

/* Sleeps until @until or until asked to stop.  Returns false on stop. */
static bool sleep_until(struct vdc_runner *r, gint64 until)
{
    g_mutex_lock(&r->lock);
    while (!r->stop && g_get_monotonic_time() < until)
        g_cond_wait_until(&r->cond, &r->lock, until);
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

/* A managed VM changed: if it drifted, the reconciler puts it back. */
static void enqueue_if_managed(struct vdc_runner *r, const char *uuid)
{
    char *fname = NULL;
    vdc_model_read_lock();
    struct vdc_host *h = g_ptr_array_index(vdc_model.hosts, r->host);
    struct vdc_vm *vm = g_hash_table_lookup(h->vms, uuid);
    struct vdc_desired *d = vm ? vm->managed : NULL;
    if (d && (d->spec_text || d->deleting))
        fname = g_strdup(d->fname);
    vdc_model_read_unlock();
    if (fname)
        enqueue(r, fname);
    g_free(fname);
}

static void run_reconciles(struct vdc_runner *r, struct hv_conn *c)
{
    g_mutex_lock(&r->lock);
    GHashTable *batch = r->to_reconcile;
    r->to_reconcile = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_mutex_unlock(&r->lock);
    GHashTableIter it;
    gpointer fname;
    g_hash_table_iter_init(&it, batch);
    while (g_hash_table_iter_next(&it, &fname, NULL))
        vdc_reconcile(r->ops, c, r->host, fname, r->memos, prune_enabled);
    g_hash_table_destroy(batch);
}

static void fetch_vm(struct vdc_runner *r, struct hv_conn *c, const char *uuid);

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
        fetch_vm(r, c, j->uuid);
        g_free(j);
    }
    g_queue_free(jobs);
}

static void fetch_vm(struct vdc_runner *r, struct hv_conn *c, const char *uuid)
{
    struct hv_vm *vm = NULL;
    g_autofree char *err = NULL;
    int rc = r->ops->get_vm(c, uuid, NULL, &vm, &err);
    enqueue_if_managed(r, uuid);
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
               g_get_monotonic_time() < next_refresh)
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

        run_power_jobs(r, c, power);

        GHashTableIter it;
        gpointer uuid;
        g_hash_table_iter_init(&it, dirty);
        while (g_hash_table_iter_next(&it, &uuid, NULL))
            fetch_vm(r, c, uuid);
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
    g_mutex_lock(&r->lock);
    r->finished = true;
    g_cond_broadcast(&r->cond);
    g_mutex_unlock(&r->lock);
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
    r->sink = (struct hv_sink){sink_vm_changed, sink_pools_changed, sink_connection_lost, r};
    g_mutex_init(&r->lock);
    g_cond_init(&r->cond);
    r->dirty = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    r->to_reconcile = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    r->power = g_queue_new();
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

void vdc_runner_set_prune(bool prune)
{
    prune_enabled = prune;
}
