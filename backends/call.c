/* call.c — work handed to a runner thread, see call.h. */
#include "call.h"

struct vdc_call {
    gint refs;
    vdc_call_fn run, undo;
    void *data;
    GDestroyNotify free_data;

    GMutex lock; /* guards what follows */
    GCond cond;
    bool done, abandoned;
    int rc;
    char *err;
};

struct vdc_call *vdc_call_new(vdc_call_fn run, vdc_call_fn undo, void *data,
                              GDestroyNotify free_data)
{
    struct vdc_call *c = g_new0(struct vdc_call, 1);
    c->refs = 1;
    c->run = run;
    c->undo = undo;
    c->data = data;
    c->free_data = free_data;
    g_mutex_init(&c->lock);
    g_cond_init(&c->cond);
    return c;
}

struct vdc_call *vdc_call_ref(struct vdc_call *c)
{
    g_atomic_int_inc(&c->refs);
    return c;
}

void vdc_call_unref(struct vdc_call *c)
{
    if (!c || !g_atomic_int_dec_and_test(&c->refs))
        return;
    if (c->free_data)
        c->free_data(c->data);
    g_free(c->err);
    g_mutex_clear(&c->lock);
    g_cond_clear(&c->cond);
    g_free(c);
}

void vdc_call_execute(struct vdc_call *c, const void *ops, void *conn)
{
    char *err = NULL;
    int rc = c->run(ops, conn, c->data, &err);
    g_mutex_lock(&c->lock);
    bool abandoned = c->abandoned;
    c->done = true;
    c->rc = rc;
    c->err = err;
    g_cond_broadcast(&c->cond);
    g_mutex_unlock(&c->lock);
    if (abandoned && rc == 0 && c->undo) {
        g_autofree char *undo_err = NULL;
        if (c->undo(ops, conn, c->data, &undo_err) < 0)
            g_warning("undoing work given up on: %s", undo_err ? undo_err : "failed");
    }
    vdc_call_unref(c);
}

bool vdc_call_wait(struct vdc_call *c, gint64 deadline)
{
    g_mutex_lock(&c->lock);
    while (!c->done && g_get_monotonic_time() < deadline)
        g_cond_wait_until(&c->cond, &c->lock, deadline);
    bool done = c->done;
    if (!done)
        c->abandoned = true;
    g_mutex_unlock(&c->lock);
    return done;
}

int vdc_call_result(const struct vdc_call *c, const char **err)
{
    if (err)
        *err = c->err;
    return c->rc;
}

void *vdc_call_data(const struct vdc_call *c)
{
    return c->data;
}

void vdc_call_queue_run(GMutex *lock, GQueue *q, const void *ops, void *conn)
{
    for (;;) {
        if (lock)
            g_mutex_lock(lock);
        struct vdc_call *call = g_queue_pop_head(q);
        if (lock)
            g_mutex_unlock(lock);
        if (!call)
            return;
        vdc_call_execute(call, ops, conn);
    }
}
