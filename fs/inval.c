/* inval.c — a thread that sends the kernel invalidations, see inval.h. */
#include "inval.h"

#include "dircache.h"

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <glib.h>
#include <string.h>

struct inval {
    uint64_t ino;
    char *name; /* NULL: the inode itself; else an entry of directory ino */
};

static struct {
    GAsyncQueue *queue;
    GThread *thread;
    struct fuse_session *se;
    GMutex lock; /* guards queue against vdc_inval_stop() */
    uint64_t sent;
} inv;

static struct inval stop_marker;

static gpointer inval_thread(gpointer unused)
{
    (void)unused;
    for (;;) {
        struct inval *iv = g_async_queue_pop(inv.queue);
        if (iv == &stop_marker)
            break;
        /* -ENOENT just means the kernel had nothing cached: fine. */
        if (iv->name)
            fuse_lowlevel_notify_inval_entry(inv.se, iv->ino, iv->name, strlen(iv->name));
        else
            fuse_lowlevel_notify_inval_inode(inv.se, iv->ino, 0, 0);
        __atomic_add_fetch(&inv.sent, 1, __ATOMIC_RELAXED);
        g_free(iv->name);
        g_free(iv);
    }
    return NULL;
}

void vdc_inval_start(struct fuse_session *se)
{
    inv.se = se;
    inv.queue = g_async_queue_new();
    inv.thread = g_thread_new("vdc-inval", inval_thread, NULL);
}

void vdc_inval_stop(void)
{
    if (!inv.thread)
        return;
    g_mutex_lock(&inv.lock);
    GAsyncQueue *q = inv.queue;
    inv.queue = NULL;
    g_mutex_unlock(&inv.lock);
    g_async_queue_push(q, &stop_marker);
    g_thread_join(inv.thread);
    inv.thread = NULL;
    struct inval *iv;
    while ((iv = g_async_queue_try_pop(q)) != NULL) {
        g_free(iv->name);
        g_free(iv);
    }
    g_async_queue_unref(q);
}

static void push(uint64_t ino, const char *name)
{
    g_mutex_lock(&inv.lock);
    if (inv.queue) {
        struct inval *iv = g_new(struct inval, 1);
        iv->ino = ino;
        iv->name = g_strdup(name);
        g_async_queue_push(inv.queue, iv);
    }
    g_mutex_unlock(&inv.lock);
}

void vdc_inval_entry(uint64_t parent, const char *name)
{
    push(parent, name);
}

void vdc_inval_inode(uint64_t ino)
{
    /* Our own listing cache first, at once (callers hold the model lock),
     * then the kernel's, from the notifier thread. */
    vdc_dircache_drop(ino);
    push(ino, NULL);
}

uint64_t vdc_inval_sent(void)
{
    return __atomic_load_n(&inv.sent, __ATOMIC_RELAXED);
}
