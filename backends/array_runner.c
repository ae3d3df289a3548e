/* array_runner.c — the thread that reads one array, see array_runner.h. */
#include "array_runner.h"

#include "array_model.h"
#include "call.h"
#include "iscsi.h"

#include <string.h>

#define BACKOFF_MIN_US (1 * G_USEC_PER_SEC)
#define BACKOFF_MAX_US (30 * G_USEC_PER_SEC)

struct vdc_array_runner {
    const struct array_ops *ops;
    unsigned index;
    struct vdc_array_config cfg; /* deep copy; the password stays here */
    gint64 refresh_us;

    GMutex lock; /* guards what follows */
    GCond cond;
    bool stop, kicked, first_done, finished;
    GQueue *calls; /* of struct vdc_call*: work for other threads (call.h) */
    GThread *thread;
};

/* Every runner, so that the snapshot controller reaches one by index. */
static GMutex registry_lock;
static GPtrArray *registry;

static void copy_config(struct vdc_array_config *to, const struct vdc_array_config *from)
{
    to->name = g_strdup(from->name);
    to->driver = g_strdup(from->driver);
    to->portal = g_strdup(from->portal);
    to->target = g_strdup(from->target);
    to->backing_dir = g_strdup(from->backing_dir);
    to->chap_user = g_strdup(from->chap_user);
    to->chap_password = g_strdup(from->chap_password);
    to->control_port = from->control_port;
}

static void clear_config(struct vdc_array_config *c)
{
    g_free(c->name);
    g_free(c->driver);
    g_free(c->portal);
    g_free(c->target);
    g_free(c->backing_dir);
    g_free(c->chap_user);
    if (c->chap_password)
        explicit_bzero(c->chap_password, strlen(c->chap_password));
    g_free(c->chap_password);
}

/* Runs the calls queued so far with @c (NULL: the array is down, they
 * fail at once).  Lock not held. */
static void run_calls(struct vdc_array_runner *r, struct array_conn *c)
{
    vdc_call_queue_run(&r->lock, r->calls, r->ops, c);
}

/* Sleeps until @until, a kick or stop, running the calls that come
 * meanwhile with @c.  Returns false on stop. */
static bool wait_until(struct vdc_array_runner *r, struct array_conn *c, gint64 until)
{
    g_mutex_lock(&r->lock);
    while (!r->stop && !r->kicked && g_get_monotonic_time() < until) {
        if (!g_queue_is_empty(r->calls)) {
            g_mutex_unlock(&r->lock);
            run_calls(r, c);
            g_mutex_lock(&r->lock);
            continue;
        }
        g_cond_wait_until(&r->cond, &r->lock, until);
    }
    r->kicked = false;
    bool go_on = !r->stop;
    g_mutex_unlock(&r->lock);
    return go_on;
}

static void first_done(struct vdc_array_runner *r)
{
    g_mutex_lock(&r->lock);
    r->first_done = true;
    g_cond_broadcast(&r->cond);
    g_mutex_unlock(&r->lock);
}

/* The SCSI facts of every LUN the management side lists (but the
 * controller's).  A LUN whose facts cannot be read is an error: the
 * session is suspect, the caller starts over. */
static GPtrArray *read_facts(struct vdc_iscsi *s, GPtrArray *mgmt, char **err)
{
    GPtrArray *facts = g_ptr_array_new();
    for (guint i = 0; i < mgmt->len; i++) {
        const struct array_lun *m = g_ptr_array_index(mgmt, i);
        if (m->role == ARRAY_LUN_CONTROLLER)
            continue;
        struct vdc_lun_facts *f = NULL;
        if (vdc_iscsi_lun_facts(s, m->lun, &f, err) < 0) {
            for (guint k = 0; k < facts->len; k++)
                vdc_lun_facts_free(g_ptr_array_index(facts, k));
            g_ptr_array_free(facts, TRUE);
            return NULL;
        }
        g_ptr_array_add(facts, f);
    }
    return facts;
}

/* One look at the array.  Returns 0, or -1 with *err. */
static int refresh(struct vdc_array_runner *r, struct array_conn *c, struct vdc_iscsi *s,
                   char **err)
{
    GPtrArray *mgmt = NULL;
    uint64_t capacity = 0, allocation = 0;
    if (r->ops->list_luns(c, &mgmt, err) < 0)
        return -1;
    if (r->ops->space(c, &capacity, &allocation, err) < 0) {
        g_ptr_array_free(mgmt, TRUE);
        return -1;
    }
    GPtrArray *facts = read_facts(s, mgmt, err);
    if (!facts) {
        g_ptr_array_free(mgmt, TRUE);
        return -1;
    }
    /* The model takes the elements; the arrays must not free them again. */
    g_ptr_array_set_free_func(mgmt, NULL);
    vdc_model_array_sync(r->index, mgmt, facts, capacity, allocation);
    return 0;
}

static struct vdc_iscsi *login(const struct vdc_array_runner *r, char **err)
{
    struct vdc_iscsi_target t = {.portal = r->cfg.portal,
                                 .iqn = r->cfg.target,
                                 .chap_user = r->cfg.chap_user,
                                 .chap_password = r->cfg.chap_password};
    return vdc_iscsi_login(&t, VDC_ARRAY_TIMEOUT_SECONDS, err);
}

/* Reads the array until it fails or the runner stops.  Returns the
 * reason it failed (g_malloc'd), or NULL on stop. */
static char *serve(struct vdc_array_runner *r)
{
    char *err = NULL;
    struct array_conn *c = r->ops->open(&r->cfg, VDC_ARRAY_TIMEOUT_SECONDS, &err);
    if (!c)
        return err ? err : g_strdup("cannot reach the array");
    struct vdc_iscsi *s = login(r, &err);
    if (!s) {
        r->ops->close(c);
        return err ? err : g_strdup("iSCSI login failed");
    }
    for (;;) {
        if (refresh(r, c, s, &err) < 0)
            break;
        first_done(r);
        if (!wait_until(r, c, g_get_monotonic_time() + r->refresh_us))
            break;
    }
    vdc_iscsi_logout(s);
    r->ops->close(c);
    return err; /* NULL: stopped */
}

static gpointer runner_thread(gpointer data)
{
    struct vdc_array_runner *r = data;
    gint64 backoff = BACKOFF_MIN_US;
    for (;;) {
        g_autofree char *why = serve(r);
        if (!why)
            break;
        vdc_model_array_down(r->index, why);
        first_done(r);
        if (!wait_until(r, NULL, g_get_monotonic_time() + backoff))
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

struct vdc_array_runner *vdc_array_runner_start(const struct array_ops *ops, unsigned index,
                                                const struct vdc_array_config *cfg,
                                                unsigned refresh_seconds)
{
    struct vdc_array_runner *r = g_new0(struct vdc_array_runner, 1);
    r->ops = ops;
    r->index = index;
    copy_config(&r->cfg, cfg);
    r->refresh_us = (gint64)MIN(refresh_seconds, VDC_ARRAY_REFRESH_MAX_SECONDS) * G_USEC_PER_SEC;
    g_mutex_init(&r->lock);
    g_cond_init(&r->cond);
    r->calls = g_queue_new();
    g_mutex_lock(&registry_lock);
    if (!registry)
        registry = g_ptr_array_new();
    g_ptr_array_add(registry, r);
    g_mutex_unlock(&registry_lock);
    r->thread = g_thread_new("vdc-array", runner_thread, r);
    return r;
}

void vdc_array_runner_kick(struct vdc_array_runner *r)
{
    g_mutex_lock(&r->lock);
    r->kicked = true;
    g_cond_broadcast(&r->cond);
    g_mutex_unlock(&r->lock);
}

bool vdc_array_runner_wait_first(struct vdc_array_runner *r, gint64 deadline)
{
    g_mutex_lock(&r->lock);
    while (!r->first_done && g_get_monotonic_time() < deadline)
        g_cond_wait_until(&r->cond, &r->lock, deadline);
    bool done = r->first_done;
    g_mutex_unlock(&r->lock);
    return done;
}

bool vdc_array_runner_stop(struct vdc_array_runner *r, gint64 deadline)
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
    g_queue_free(r->calls); /* empty: nothing is queued once finished */
    clear_config(&r->cfg);
    g_mutex_clear(&r->lock);
    g_cond_clear(&r->cond);
    g_free(r);
    return true;
}

bool vdc_array_runner_call(unsigned index, struct vdc_call *c)
{
    bool queued = false;
    g_mutex_lock(&registry_lock);
    for (guint i = 0; registry && i < registry->len; i++) {
        struct vdc_array_runner *r = g_ptr_array_index(registry, i);
        if (r->index != index)
            continue;
        g_mutex_lock(&r->lock);
        queued = !r->finished;
        if (queued) {
            g_queue_push_tail(r->calls, vdc_call_ref(c));
            g_cond_signal(&r->cond);
        }
        g_mutex_unlock(&r->lock);
        break;
    }
    g_mutex_unlock(&registry_lock);
    return queued;
}

bool vdc_array_runner_kick_index(unsigned index)
{
    bool found = false;
    g_mutex_lock(&registry_lock);
    for (guint i = 0; registry && i < registry->len; i++) {
        struct vdc_array_runner *r = g_ptr_array_index(registry, i);
        if (r->index == index) {
            vdc_array_runner_kick(r);
            found = true;
        }
    }
    g_mutex_unlock(&registry_lock);
    return found;
}
