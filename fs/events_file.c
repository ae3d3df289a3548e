/* events_file.c — /events through FUSE: a growing log file, with poll.
 *
 * vdcfs answers OPEN with ENOSYS (see vdc_open), so the kernel opens
 * files without asking us and no read or poll carries a per-open handle.
 * The events file is therefore stateless, like any log file: absolute
 * offsets, a size that grows with every event (its attributes are never
 * cached), end of file at the end.  So `tail -f` follows it, `tail -n0 -f`
 * shows only what happens from then on, and tools that read to the end
 * (cat, grep -r, find | xargs cat, tar, rsync) finish.
 *
 * Offsets older than the kept window (events.h) read as newlines: a reader
 * that fell that far behind sees blank lines where the dropped events
 * were, never the same bytes twice.
 *
 * poll: the file is readable for a process when the log has grown since
 * poll last said so to that process.  Without a handle per open file, the
 * calling process is the only reader identity FUSE gives us; a process
 * that follows the log with poll() then read() gets exactly the wake-ups
 * it needs.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>

#include "events.h"
#include "fuse_ll.h"

/* Bounds on what poll keeps: processes that polled, and pending polls. */
#define MAX_POLLERS 1024
#define MAX_WAITING 256

static struct {
    GMutex lock;
    GHashTable *seen;  /* pid -> log size when poll last said "readable" */
    GQueue waiting;    /* struct fuse_pollhandle*, to notify on the next event */
} evf;

/* Wakes every poll that waits for the next event. */
static void on_event(int closing)
{
    (void)closing;
    g_mutex_lock(&evf.lock);
    struct fuse_pollhandle *ph;
    while ((ph = g_queue_pop_head(&evf.waiting)) != NULL) {
        fuse_lowlevel_notify_poll(ph);
        fuse_pollhandle_destroy(ph);
    }
    g_mutex_unlock(&evf.lock);
}

void vdc_events_file_init(struct fuse_session *se)
{
    (void)se;
    evf.seen = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
    vdc_events_listen(on_event);
}

void vdc_events_file_shutdown(void)
{
    vdc_events_listen(NULL);
    on_event(1);
    if (evf.seen)
        g_hash_table_destroy(evf.seen);
    evf.seen = NULL;
}

void vdc_events_file_read(fuse_req_t req, size_t size, off_t off)
{
    uint64_t at = (uint64_t)off;
    GBytes *b = vdc_events_read(&at, size);
    if (at > (uint64_t)off) {
        /* Dropped from the log: newlines up to the oldest kept line. */
        size_t n = (size_t)MIN((uint64_t)size, at - (uint64_t)off);
        char *pad = g_malloc(n);
        memset(pad, '\n', n);
        fuse_reply_buf(req, pad, n);
        g_free(pad);
    } else if (b) {
        gsize n;
        const void *p = g_bytes_get_data(b, &n);
        fuse_reply_buf(req, p, n);
    } else {
        fuse_reply_buf(req, NULL, 0); /* the end, for now */
    }
    if (b)
        g_bytes_unref(b);
}

void vdc_events_file_poll(fuse_req_t req, struct fuse_pollhandle *ph)
{
    gpointer pid = GINT_TO_POINTER(fuse_req_ctx(req)->pid);
    uint64_t size = vdc_events_size();
    unsigned revents = 0;
    g_mutex_lock(&evf.lock);
    uint64_t *seen = g_hash_table_lookup(evf.seen, pid);
    if (!seen || *seen < size) {
        if (!seen) {
            if (g_hash_table_size(evf.seen) >= MAX_POLLERS)
                g_hash_table_remove_all(evf.seen);
            seen = g_new(uint64_t, 1);
            g_hash_table_insert(evf.seen, pid, seen);
        }
        *seen = size;
        revents = POLLIN | POLLRDNORM;
    }
    if (ph) {
        if (evf.waiting.length >= MAX_WAITING) {
            struct fuse_pollhandle *old = g_queue_pop_head(&evf.waiting);
            fuse_lowlevel_notify_poll(old); /* a spurious wake-up: it polls again */
            fuse_pollhandle_destroy(old);
        }
        g_queue_push_tail(&evf.waiting, ph);
    }
    g_mutex_unlock(&evf.lock);
    fuse_reply_poll(req, revents);
}
