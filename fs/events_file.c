/* events_file.c — /events through FUSE: reads that wait, and poll.
 *
 * The file is the log of events.h with absolute offsets and a size that
 * grows, so tail -f (which follows the size) works.  A read at the end
 * does not return EOF: it is parked until the next event arrives (a
 * non-blocking fd gets EAGAIN), so `cat` and read loops follow the log
 * like a pipe.  Parked reads hold no thread: they are answered from the
 * events listener.  Whoever takes a parked read out of the list answers
 * it: the listener (data or EOF at shutdown) or an interrupt (EINTR).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>

#include "events.h"
#include "fuse_ll.h"

struct ev_handle {
    uint64_t next;                /* where the last read ended: for poll */
    struct fuse_pollhandle *ph;   /* a poll waiting for the next event */
};

struct parked {
    fuse_req_t req;
    uint64_t off;
    size_t size;
    struct ev_handle *h;
};

static struct {
    GMutex lock;
    GList *parked;  /* of struct parked* */
    GList *handles; /* of struct ev_handle*, open ones */
    bool closing;
} evf;

static void reply_data(fuse_req_t req, GBytes *b)
{
    gsize n;
    const void *p = g_bytes_get_data(b, &n);
    fuse_reply_buf(req, p, n);
    g_bytes_unref(b);
}

/* Takes out every parked read that can be answered now.  Lock held. */
static GList *take_ready_locked(bool closing)
{
    GList *ready = NULL;
    for (GList *l = evf.parked; l;) {
        GList *next = l->next;
        struct parked *p = l->data;
        uint64_t off = p->off;
        GBytes *b = closing ? NULL : vdc_events_read(&off, p->size);
        if (b || closing) {
            if (b)
                p->h->next = off + g_bytes_get_size(b);
            evf.parked = g_list_delete_link(evf.parked, l);
            ready = g_list_prepend(ready, b);
            ready = g_list_prepend(ready, p);
        }
        l = next;
    }
    return ready;
}

/* Answers the (parked, data) pairs that take_ready_locked() returned. */
static void answer_ready(GList *ready)
{
    for (GList *l = ready; l; l = l->next->next) {
        struct parked *p = l->data;
        GBytes *b = l->next->data;
        if (b)
            reply_data(p->req, b);
        else
            fuse_reply_buf(p->req, NULL, 0); /* shutting down: EOF */
        g_free(p);
    }
    g_list_free(ready);
}

static void on_event(int closing)
{
    g_mutex_lock(&evf.lock);
    if (closing)
        evf.closing = true;
    GList *ready = take_ready_locked(closing);
    for (GList *l = evf.handles; l; l = l->next) {
        struct ev_handle *h = l->data;
        if (h->ph) {
            fuse_lowlevel_notify_poll(h->ph);
            fuse_pollhandle_destroy(h->ph);
            h->ph = NULL;
        }
    }
    g_mutex_unlock(&evf.lock);
    answer_ready(ready);
}

void vdc_events_file_init(struct fuse_session *se)
{
    (void)se;
    vdc_events_listen(on_event);
}

void vdc_events_file_open(fuse_req_t req, struct fuse_file_info *fi)
{
    struct ev_handle *h = g_new0(struct ev_handle, 1);
    h->next = vdc_events_size();
    g_mutex_lock(&evf.lock);
    evf.handles = g_list_prepend(evf.handles, h);
    g_mutex_unlock(&evf.lock);
    fi->fh = (uintptr_t)h;
    fi->direct_io = 1; /* reads past the cached size must reach us */
    fi->keep_cache = 0;
    if (fuse_reply_open(req, fi) == -ENOENT) {
        g_mutex_lock(&evf.lock);
        evf.handles = g_list_remove(evf.handles, h);
        g_mutex_unlock(&evf.lock);
        g_free(h);
    }
}

static void on_interrupt(fuse_req_t req, void *unused)
{
    (void)unused;
    struct parked *found = NULL;
    g_mutex_lock(&evf.lock);
    for (GList *l = evf.parked; l; l = l->next) {
        struct parked *p = l->data;
        if (p->req == req) {
            found = p;
            evf.parked = g_list_delete_link(evf.parked, l);
            break;
        }
    }
    g_mutex_unlock(&evf.lock);
    if (found) {
        fuse_reply_err(req, EINTR);
        g_free(found);
    }
}

void vdc_events_file_read(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi)
{
    struct ev_handle *h = (struct ev_handle *)(uintptr_t)fi->fh;
    uint64_t at = (uint64_t)off;
    GBytes *b = vdc_events_read(&at, size);
    if (b) {
        h->next = at + g_bytes_get_size(b);
        reply_data(req, b);
        return;
    }
    if (!vdc_events_is_open()) {
        fuse_reply_buf(req, NULL, 0);
        return;
    }
    if (fi->flags & O_NONBLOCK) {
        fuse_reply_err(req, EAGAIN);
        return;
    }

    struct parked *p = g_new0(struct parked, 1);
    p->req = req;
    p->off = (uint64_t)off;
    p->size = size;
    p->h = h;
    fuse_req_interrupt_func(req, on_interrupt, NULL);
    g_mutex_lock(&evf.lock);
    if (fuse_req_interrupted(req)) {
        g_mutex_unlock(&evf.lock);
        g_free(p);
        fuse_reply_err(req, EINTR);
        return;
    }
    evf.parked = g_list_prepend(evf.parked, p);
    /* An event may have been appended since our read above; its listener
     * call may have run before we parked.  Look again under the lock. */
    GList *ready = take_ready_locked(evf.closing);
    g_mutex_unlock(&evf.lock);
    answer_ready(ready);
}

void vdc_events_file_poll(fuse_req_t req, struct fuse_file_info *fi, struct fuse_pollhandle *ph)
{
    struct ev_handle *h = (struct ev_handle *)(uintptr_t)fi->fh;
    unsigned revents = 0;
    g_mutex_lock(&evf.lock);
    if (h->next < vdc_events_size() || evf.closing)
        revents = POLLIN | POLLRDNORM;
    if (ph) {
        if (h->ph)
            fuse_pollhandle_destroy(h->ph);
        h->ph = ph;
    }
    g_mutex_unlock(&evf.lock);
    fuse_reply_poll(req, revents);
}

void vdc_events_file_release(fuse_req_t req, struct fuse_file_info *fi)
{
    struct ev_handle *h = (struct ev_handle *)(uintptr_t)fi->fh;
    g_mutex_lock(&evf.lock);
    evf.handles = g_list_remove(evf.handles, h);
    /* Parked reads of this handle are gone with the file: the kernel
     * does not release a file while a read on it is in flight. */
    if (h->ph)
        fuse_pollhandle_destroy(h->ph);
    g_mutex_unlock(&evf.lock);
    g_free(h);
    fuse_reply_err(req, 0);
}
