/* events_file.c — /events through FUSE: a growing log file, with poll.
 *
 * The file is the log of events.h: absolute offsets, a size that grows
 * with every event (its attributes are never cached), and end of file at
 * the end, like any log file.  So `tail -f` follows it, `tail -n0 -f`
 * shows only what happens from then on, and tools that read to the end
 * (cat, grep -r, find | xargs cat, tar, rsync) finish.  A program that
 * waits for the next event polls: the fd becomes readable when the log
 * has grown past what it last read.
 *
 * A reader that falls more than the kept window behind skips the lost
 * part: the handle remembers the skew between its file offsets and the
 * log's, so it never gets the same bytes twice.
 */
#include <errno.h>
#include <poll.h>

#include "events.h"
#include "fuse_ll.h"

struct ev_handle {
    uint64_t skew;              /* log offset minus file offset */
    uint64_t next;              /* log offset where the last read ended */
    struct fuse_pollhandle *ph; /* a poll waiting for the next event */
};

static struct {
    GMutex lock;    /* guards handles and their ph */
    GList *handles; /* of struct ev_handle*, the open ones */
} evf;

/* Wakes every poll that waits for the next event. */
static void on_event(int closing)
{
    (void)closing;
    g_mutex_lock(&evf.lock);
    for (GList *l = evf.handles; l; l = l->next) {
        struct ev_handle *h = l->data;
        if (h->ph) {
            fuse_lowlevel_notify_poll(h->ph);
            fuse_pollhandle_destroy(h->ph);
            h->ph = NULL;
        }
    }
    g_mutex_unlock(&evf.lock);
}

void vdc_events_file_init(struct fuse_session *se)
{
    (void)se;
    vdc_events_listen(on_event);
}

void vdc_events_file_open(fuse_req_t req, struct fuse_file_info *fi)
{
    struct ev_handle *h = g_new0(struct ev_handle, 1);
    g_mutex_lock(&evf.lock);
    evf.handles = g_list_prepend(evf.handles, h);
    g_mutex_unlock(&evf.lock);
    fi->fh = (uintptr_t)h;
    fi->direct_io = 1; /* reads past the size the kernel last saw reach us */
    fi->keep_cache = 0;
    if (fuse_reply_open(req, fi) == -ENOENT) {
        g_mutex_lock(&evf.lock);
        evf.handles = g_list_remove(evf.handles, h);
        g_mutex_unlock(&evf.lock);
        g_free(h);
    }
}

void vdc_events_file_read(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi)
{
    struct ev_handle *h = (struct ev_handle *)(uintptr_t)fi->fh;
    g_mutex_lock(&evf.lock);
    uint64_t want = (uint64_t)off + h->skew;
    uint64_t at = want;
    GBytes *b = vdc_events_read(&at, size);
    h->skew += at - want; /* moved forward past what is no longer kept */
    h->next = at + (b ? g_bytes_get_size(b) : 0);
    g_mutex_unlock(&evf.lock);
    if (!b) {
        fuse_reply_buf(req, NULL, 0); /* the end, for now */
        return;
    }
    gsize n;
    const void *p = g_bytes_get_data(b, &n);
    fuse_reply_buf(req, p, n);
    g_bytes_unref(b);
}

void vdc_events_file_poll(fuse_req_t req, struct fuse_file_info *fi, struct fuse_pollhandle *ph)
{
    struct ev_handle *h = (struct ev_handle *)(uintptr_t)fi->fh;
    unsigned revents = 0;
    g_mutex_lock(&evf.lock);
    if (h->next < vdc_events_size())
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
    if (h->ph)
        fuse_pollhandle_destroy(h->ph);
    g_mutex_unlock(&evf.lock);
    g_free(h);
    fuse_reply_err(req, 0);
}
