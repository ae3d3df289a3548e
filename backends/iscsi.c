/* iscsi.c — vdcfs as an iSCSI initiator (libiscsi), see iscsi.h.
 *
 * Both ways in drive libiscsi's asynchronous API from a poll() loop of
 * our own, never its *_sync calls: those wait without a deadline, and an
 * array that stops answering (a SIGSTOPped tgtd, a dead link that still
 * holds the TCP connection) would hang the caller for ever.  Each libiscsi
 * context also gets the timeout as its per-PDU timeout (iscsi_set_timeout),
 * which fires from iscsi_service(ctx, 0) ticks; our own deadline, a little
 * later, is the backstop for what libiscsi does not time out (TCP connect).
 *
 * libiscsi's automatic reconnect is off: after any transport failure or
 * timeout the context is destroyed and a new one logs in when needed, so
 * that failure handling lives here, in one place, and never retries
 * silently behind a caller's deadline.
 *
 * A libiscsi context is never destroyed from inside one of its callbacks:
 * callbacks record what happened and the loop acts on it afterwards.
 */
#include "iscsi.h"

#include <errno.h>
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_INITIATOR "iqn.2024-01.org.vdcfs:initiator"
/* A command that meets a UNIT ATTENTION (the target was reset, LUNs were
 * added or removed: tgt raises one on every session when the array driver
 * exports a snapshot) is sent again this many times. */
#define UA_RETRIES 4
/* The loop ticks at least this often while commands are out, so that
 * libiscsi's own PDU timeouts get scanned. */
#define TICK_MS 250
/* Our deadline comes this long after libiscsi's own PDU timeout. */
#define BACKSTOP_US (1000 * 1000)
/* GET LBA STATUS: descriptors asked for per command (16 bytes each). */
#define LBA_STATUS_DESCRIPTORS 512
/* Reader: bytes per READ(16) and READs in flight per session.  32 x 512
 * KiB keeps 16 MiB on the wire, enough to fill a 10 Gb/s link at a
 * millisecond of latency.  On loopback tgt this read 1.1-2 GiB/s where
 * 128 KiB commands gave 0.7 and iscsi-perf (-m 32) 0.8-1.1. */
#ifndef READ_CMD_BYTES /* overridable for measurements */
#define READ_CMD_BYTES (512 * 1024)
#endif
#ifndef READ_QUEUE_DEPTH
#define READ_QUEUE_DEPTH 32
#endif
/* Reader: after a failed login, new requests fail at once for this long
 * (an array that is down is not asked again for every FUSE read). */
#define RELOGIN_BACKOFF_US (1000 * 1000)

const char *vdc_media_word(enum vdc_media m)
{
    switch (m) {
    case VDC_MEDIA_SSD:
        return "ssd";
    case VDC_MEDIA_HDD:
        return "hdd";
    default:
        return "unknown";
    }
}

void vdc_lun_facts_free(struct vdc_lun_facts *f)
{
    if (!f)
        return;
    g_free(f->vendor);
    g_free(f->product);
    g_free(f->revision);
    g_free(f->serial);
    g_free(f->wwn);
    g_free(f);
}

/* --- common: contexts, errors, signals --------------------------------- */

/* The login details, copied, so that a session or reader can log in
 * again later. */
struct target_copy {
    char *portal, *iqn, *chap_user, *chap_password, *initiator;
};

static void target_copy_init(struct target_copy *c, const struct vdc_iscsi_target *t)
{
    c->portal = g_strdup(t->portal);
    c->iqn = g_strdup(t->iqn);
    c->chap_user = g_strdup(t->chap_user);
    c->chap_password = g_strdup(t->chap_password);
    c->initiator = g_strdup(t->initiator ? t->initiator : DEFAULT_INITIATOR);
}

static void target_copy_clear(struct target_copy *c)
{
    g_free(c->portal);
    g_free(c->iqn);
    g_free(c->chap_user);
    if (c->chap_password)
        memset(c->chap_password, 0, strlen(c->chap_password));
    g_free(c->chap_password);
    g_free(c->initiator);
    memset(c, 0, sizeof(*c));
}

/* "@what: @detail" on one line, with the CHAP password (should any layer
 * below ever echo it) replaced: error strings end up in files that users
 * read. */
static char *clean_message(const struct target_copy *t, const char *what, const char *detail)
{
    char *msg = g_strdup_printf("%s: %s", what, detail && *detail ? detail : "unknown error");
    g_strdelimit(msg, "\r\n", ' ');
    g_strchomp(msg);
    const char *pw = t ? t->chap_password : NULL;
    if (pw && *pw && strstr(msg, pw)) {
        g_auto(GStrv) parts = g_strsplit(msg, pw, -1);
        g_free(msg);
        msg = g_strjoinv("***", parts);
    }
    return msg;
}

/* Why a completed SCSI command did not succeed, in words. */
static char *task_failure_text(struct iscsi_context *ctx, int status, const struct scsi_task *task)
{
    switch (status) {
    case SCSI_STATUS_CHECK_CONDITION:
        return g_strdup_printf("CHECK CONDITION: %s (%s)", scsi_sense_key_str(task->sense.key),
                               scsi_sense_ascq_str(task->sense.ascq));
    case SCSI_STATUS_TIMEOUT:
        return g_strdup("timed out");
    case SCSI_STATUS_CANCELLED:
        return g_strdup("cancelled");
    case SCSI_STATUS_ERROR:
        return g_strdup(ctx ? iscsi_get_error(ctx) : "transport error");
    default:
        return g_strdup_printf("SCSI status 0x%x", status);
    }
}

/* Statuses that say the command reached the target and it answered;
 * anything else is a transport failure after which the session is done. */
static bool target_answered(int status)
{
    return status != SCSI_STATUS_TIMEOUT && status != SCSI_STATUS_CANCELLED &&
           status != SCSI_STATUS_ERROR;
}

static bool is_unit_attention(int status, const struct scsi_task *task)
{
    return status == SCSI_STATUS_CHECK_CONDITION && task->sense.key == SCSI_SENSE_UNIT_ATTENTION;
}

static void quiet_log(int level, const char *message)
{
    (void)level, (void)message;
}

/* A context set up to log in to @t as a normal session; not connected.
 * NULL with *err when libiscsi refuses a setting. */
static struct iscsi_context *context_new(const struct target_copy *t, unsigned timeout_s,
                                         char **err)
{
    struct iscsi_context *ctx = iscsi_create_context(t->initiator);
    if (!ctx) {
        *err = g_strdup("cannot create an iSCSI context");
        return NULL;
    }
    iscsi_set_log_fn(ctx, quiet_log);
    if (iscsi_set_targetname(ctx, t->iqn) != 0 ||
        iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL) != 0 ||
        iscsi_set_header_digest(ctx, ISCSI_HEADER_DIGEST_NONE_CRC32C) != 0 ||
        (t->chap_user && iscsi_set_initiator_username_pwd(ctx, t->chap_user,
                                                          t->chap_password ? t->chap_password
                                                                           : "") != 0)) {
        *err = clean_message(t, "iSCSI setup", iscsi_get_error(ctx));
        iscsi_destroy_context(ctx);
        return NULL;
    }
    iscsi_set_noautoreconnect(ctx, 1);
    iscsi_set_timeout(ctx, (int)timeout_s);
    /* A peer that vanishes without a FIN/RST (a pulled cable) shows up
     * as a send error rather than as a silent wait. */
    iscsi_set_tcp_user_timeout(ctx, (int)MIN(timeout_s, 3600u) * 1000);
    return ctx;
}

/* libiscsi writes with writev(), which raises SIGPIPE when the array has
 * closed the connection, and the default action of SIGPIPE ends the
 * process.  Around our calls into libiscsi SIGPIPE is blocked on the
 * calling thread, and one that libiscsi raised is taken back off. */
struct pipe_guard {
    sigset_t old;
    bool was_pending;
};

static void pipe_guard_begin(struct pipe_guard *g)
{
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigpending(&pending);
    g->was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, &g->old);
}

static void pipe_guard_end(struct pipe_guard *g)
{
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigpending(&pending);
    if (!g->was_pending && sigismember(&pending, SIGPIPE)) {
        const struct timespec zero = {0, 0};
        sigtimedwait(&set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* One pass of a libiscsi event loop: waits up to @timeout_ms (capped by
 * the tick) for the context's socket and services it; a zero-revents
 * service also lets libiscsi scan its PDU timeouts.  @extra, when >= 0,
 * is polled for input too and its revents returned in *extra_revents.
 * A socket error, when there is one, goes to *sock_err (may be NULL).
 * Returns iscsi_service's result (-1: the connection is broken). */
static int service_once(struct iscsi_context *ctx, int timeout_ms, int extra,
                        short *extra_revents, int *sock_err)
{
    struct pollfd pfd[2];
    nfds_t n = 0;
    int ctx_slot = -1, extra_slot = -1;
    int events = ctx ? iscsi_which_events(ctx) : 0;
    if (ctx && events) {
        pfd[n] = (struct pollfd){.fd = iscsi_get_fd(ctx), .events = (short)events};
        ctx_slot = (int)n++;
    }
    if (extra >= 0) {
        pfd[n] = (struct pollfd){.fd = extra, .events = POLLIN};
        extra_slot = (int)n++;
    }
    /* No events wanted (libiscsi between sockets): wait a little. */
    if (ctx && !events && (timeout_ms < 0 || timeout_ms > 100))
        timeout_ms = 100;
    int got = poll(pfd, n, timeout_ms);
    if (got < 0 && errno != EINTR)
        got = 0;
    if (extra_revents)
        *extra_revents = got > 0 && extra_slot >= 0 ? pfd[extra_slot].revents : 0;
    if (!ctx)
        return 0;
    short revents = got > 0 && ctx_slot >= 0 ? pfd[ctx_slot].revents : 0;
    if ((revents & (POLLERR | POLLHUP)) && sock_err) {
        /* libiscsi's own message for a failed connect ("cannot reconnect
         * right now") hides the reason; the socket still knows it. */
        int e = 0;
        socklen_t elen = sizeof e;
        if (getsockopt(pfd[ctx_slot].fd, SOL_SOCKET, SO_ERROR, &e, &elen) == 0 && e)
            *sock_err = e;
    }
    return iscsi_service(ctx, revents);
}

static int ms_until(gint64 deadline)
{
    gint64 left = deadline - g_get_monotonic_time();
    if (left <= 0)
        return 0;
    return (int)MIN((left + 999) / 1000, (gint64)G_MAXINT);
}

/* REPORT LUNS entries are 8-byte LUN structures of which libiscsi gives
 * the first two bytes: bits 15-14 say how the rest is addressed. */
static bool decode_lun(uint16_t raw, unsigned *lun)
{
    switch (raw >> 14) {
    case 0: /* peripheral device addressing, bus 0 */
        if ((raw >> 8) != 0)
            return false;
        *lun = raw & 0xff;
        return true;
    case 1: /* flat space addressing */
        *lun = raw & 0x3fff;
        return true;
    default:
        return false;
    }
}

static gint compare_unsigned(gconstpointer a, gconstpointer b)
{
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return x < y ? -1 : x > y;
}

/* --- facts from unmarshalled pages (pure) ----------------------------- */

/* INQUIRY strings are blank-padded ASCII; serials may be padded in front
 * too (tgt right-aligns them).  Whatever is not printable ASCII becomes
 * '_': these strings end up as one line of a file. */
static char *trimmed(const char *s, size_t len)
{
    char *out = g_strndup(s, len);
    for (char *p = out; *p; p++)
        if (*p < 0x20 || *p > 0x7e)
            *p = '_';
    g_strstrip(out);
    return out;
}

static char *hex_lower(const unsigned char *p, size_t n)
{
    GString *s = g_string_sized_new(n * 2);
    for (size_t i = 0; i < n; i++)
        g_string_append_printf(s, "%02x", p[i]);
    return g_string_free(s, FALSE);
}

/* The LUN's best world-wide name from VPD 0x83: a designator of the
 * logical unit itself (not of a port), NAA first, then EUI-64, then T10
 * vendor id.  NULL when there is none. */
static char *best_designator(const struct scsi_inquiry_device_identification *id)
{
    static const struct {
        enum scsi_designator_type type;
        const char *prefix;
        bool binary;
    } order[] = {
        {SCSI_DESIGNATOR_TYPE_NAA, "naa.", true},
        {SCSI_DESIGNATOR_TYPE_EUI_64, "eui.", true},
        {SCSI_DESIGNATOR_TYPE_T10_VENDORT_ID, "t10.", false},
    };
    for (size_t k = 0; k < G_N_ELEMENTS(order); k++)
        for (const struct scsi_inquiry_device_designator *d = id->designators; d; d = d->next) {
            if (d->association != SCSI_ASSOCIATION_LOGICAL_UNIT ||
                d->designator_type != order[k].type || d->designator_length <= 0)
                continue;
            g_autofree char *body = NULL;
            if (order[k].binary)
                body = hex_lower((const unsigned char *)d->designator,
                                 (size_t)d->designator_length);
            else
                body = trimmed(d->designator, (size_t)d->designator_length);
            /* A name is one token: inner blanks (T10 ids pad the vendor
             * field) become '_'. */
            g_strcanon(body, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_:",
                       '_');
            if (!*body)
                continue;
            return g_strconcat(order[k].prefix, body, NULL);
        }
    return NULL;
}

/* A READ CAPACITY answer that describes a size we can count in bytes. */
static bool geometry_ok(uint64_t last_lba, uint32_t block_size)
{
    return block_size != 0 && last_lba < UINT64_MAX / block_size;
}

/* Peripheral device types with blocks to read: direct access, optical
 * (0x05, 0x07), simplified direct access (0x0e), zoned (0x14). */
static bool is_block_device(unsigned type)
{
    return type == 0x00 || type == 0x05 || type == 0x07 || type == 0x0e || type == 0x14;
}

/* SBC: 0 not reported, 1 non-rotating, 0x0401-0xfffe RPM. */
static enum vdc_media media_from_rotation(int rate)
{
    if (rate == 1)
        return VDC_MEDIA_SSD;
    if (rate >= 0x0401 && rate <= 0xfffe)
        return VDC_MEDIA_HDD;
    return VDC_MEDIA_UNKNOWN;
}

/* --- the synchronous session ------------------------------------------ */

struct vdc_iscsi {
    struct iscsi_context *ctx;
    struct target_copy t;
    unsigned timeout_s;
    bool dead; /* a transport failure or timeout: every call fails now */
    int sock_err; /* the last socket error seen, for messages */
    /* The connect callback's state lives here, not on a stack: libiscsi
     * may call a connect callback again when the connection breaks. */
    struct sync_wait *login_wait;
};

struct sync_wait {
    bool done;
    int status;
};

static void on_sync_done(struct iscsi_context *ctx, int status, void *data, void *priv)
{
    (void)ctx, (void)data;
    struct sync_wait *w = priv;
    if (!w->done) {
        w->done = true;
        w->status = status;
    }
}

/* Runs the session's loop until @w is done.  On a broken connection or
 * at the deadline every outstanding task is cancelled (their callbacks
 * run) and the session is marked dead.  0, or -1 with *err. */
static int sync_wait_for(struct vdc_iscsi *s, struct sync_wait *w, const char *what, char **err)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)s->timeout_s * G_USEC_PER_SEC +
                      BACKSTOP_US;
    g_autofree char *why = NULL;
    while (!w->done) {
        int wait = MIN(ms_until(deadline), TICK_MS);
        int sock_err = 0;
        int rc = service_once(s->ctx, wait, -1, NULL, &sock_err);
        if (sock_err)
            s->sock_err = sock_err;
        if (rc < 0) {
            /* Whatever was answered stands; nothing more can be sent. */
            s->dead = true;
            if (!w->done)
                why = g_strdup(sock_err ? g_strerror(sock_err) : iscsi_get_error(s->ctx));
            break;
        }
        if (!w->done && g_get_monotonic_time() >= deadline) {
            why = g_strdup_printf("no answer within %u s", s->timeout_s);
            break;
        }
    }
    if (w->done)
        return 0;
    s->dead = true;
    iscsi_scsi_cancel_all_tasks(s->ctx);
    *err = clean_message(&s->t, what, why);
    return -1;
}

/* Sends @task (built by a scsi_cdb_* function; taken) to @lun and waits.
 * A UNIT ATTENTION is answered by sending the same CDB again.
 * Returns 0 with *out (GOOD; the caller frees it), 1 when the target
 * refused the command (*err says how; the session lives on), or -1 on a
 * transport failure or timeout (*err; the session is dead). */
static int sync_exec(struct vdc_iscsi *s, unsigned lun, struct scsi_task *task, const char *what,
                     struct scsi_task **out, char **err)
{
    if (s->dead) {
        scsi_free_scsi_task(task);
        *err = g_strdup_printf("%s: the session has failed; log in again", what);
        return -1;
    }
    for (int attempt = 0;; attempt++) {
        struct sync_wait w = {0};
        if (iscsi_scsi_command_async(s->ctx, (int)lun, task, on_sync_done, NULL, &w) != 0) {
            *err = clean_message(&s->t, what, iscsi_get_error(s->ctx));
            scsi_free_scsi_task(task);
            s->dead = true;
            return -1;
        }
        if (sync_wait_for(s, &w, what, err) < 0) {
            scsi_free_scsi_task(task);
            return -1;
        }
        if (w.status == SCSI_STATUS_GOOD) {
            *out = task;
            return 0;
        }
        if (is_unit_attention(w.status, task) && attempt < UA_RETRIES) {
            struct scsi_task *again =
                scsi_create_task(task->cdb_size, task->cdb, task->xfer_dir, task->expxferlen);
            scsi_free_scsi_task(task);
            if (!again) {
                *err = g_strdup_printf("%s: out of memory", what);
                return 1;
            }
            task = again;
            continue;
        }
        g_autofree char *why = w.status == SCSI_STATUS_TIMEOUT
                                   ? g_strdup_printf("no answer within %u s", s->timeout_s)
                                   : task_failure_text(s->ctx, w.status, task);
        *err = clean_message(&s->t, what, why);
        scsi_free_scsi_task(task);
        if (!target_answered(w.status)) {
            s->dead = true;
            return -1;
        }
        return 1;
    }
}

/* Like sync_exec for commands whose answer may be longer than asked for
 * (INQUIRY, REPORT LUNS): asks again with the full length once.  @make
 * builds the CDB for an allocation length. */
static int sync_exec_full(struct vdc_iscsi *s, unsigned lun, struct scsi_task *(*make)(int, int),
                          int arg, int alloc, int max_alloc, const char *what,
                          struct scsi_task **out, char **err)
{
    struct scsi_task *task = make(arg, alloc);
    if (!task) {
        *err = g_strdup_printf("%s: out of memory", what);
        return -1;
    }
    int rc = sync_exec(s, lun, task, what, out, err);
    if (rc != 0)
        return rc;
    int full = scsi_datain_getfullsize(*out);
    if (full <= (*out)->datain.size || full <= alloc)
        return 0;
    scsi_free_scsi_task(*out);
    *out = NULL;
    task = make(arg, MIN(full, max_alloc));
    if (!task) {
        *err = g_strdup_printf("%s: out of memory", what);
        return -1;
    }
    return sync_exec(s, lun, task, what, out, err);
}

/* Why the login failed, in words: libiscsi's message hides a refused
 * connection and says little about a target that did not answer. */
static char *login_failure_text(const struct vdc_iscsi *s)
{
    if (s->sock_err)
        return g_strdup(g_strerror(s->sock_err));
    const char *msg = iscsi_get_error(s->ctx);
    /* A login PDU's timeout reaches us as a plain error. */
    if (s->login_wait->status == SCSI_STATUS_TIMEOUT || (msg && strstr(msg, "timed out")))
        return g_strdup_printf("no answer within %u s", s->timeout_s);
    return g_strdup(msg);
}

struct vdc_iscsi *vdc_iscsi_login(const struct vdc_iscsi_target *t, unsigned timeout_s,
                                  char **err)
{
    if (!t || !t->portal || !t->iqn) {
        *err = g_strdup("login: portal and target name are required");
        return NULL;
    }
    struct vdc_iscsi *s = g_new0(struct vdc_iscsi, 1);
    target_copy_init(&s->t, t);
    s->timeout_s = timeout_s ? timeout_s : 1;
    s->login_wait = g_new0(struct sync_wait, 1);
    s->ctx = context_new(&s->t, s->timeout_s, err);
    if (!s->ctx) {
        vdc_iscsi_logout(s);
        return NULL;
    }
    g_autofree char *what = g_strdup_printf("login to %s at %s", s->t.iqn, s->t.portal);
    struct pipe_guard g;
    pipe_guard_begin(&g);
    int rc = -1;
    if (iscsi_full_connect_async(s->ctx, s->t.portal, 0, on_sync_done, s->login_wait) != 0) {
        *err = clean_message(&s->t, what, iscsi_get_error(s->ctx));
    } else if (sync_wait_for(s, s->login_wait, what, err) == 0) {
        rc = s->login_wait->status == SCSI_STATUS_GOOD ? 0 : -1;
        if (rc < 0) {
            g_autofree char *why = login_failure_text(s);
            *err = clean_message(&s->t, what, why);
        }
    }
    pipe_guard_end(&g);
    if (rc < 0) {
        s->dead = true;
        vdc_iscsi_logout(s);
        return NULL;
    }
    return s;
}

void vdc_iscsi_logout(struct vdc_iscsi *s)
{
    if (!s)
        return;
    /* Here, not in the block below: destroying the context may still
     * call the logout's callback. */
    struct sync_wait w = {0};
    if (s->ctx) {
        struct pipe_guard g;
        pipe_guard_begin(&g);
        if (!s->dead) {
            /* Best effort: a target that does not answer the logout is
             * simply left; our side of the connection closes anyway. */
            g_autofree char *err = NULL;
            if (iscsi_logout_async(s->ctx, on_sync_done, &w) == 0)
                sync_wait_for(s, &w, "logout", &err);
        }
        iscsi_destroy_context(s->ctx);
        pipe_guard_end(&g);
    }
    g_free(s->login_wait);
    target_copy_clear(&s->t);
    g_free(s);
}

static struct scsi_task *make_reportluns(int type, int alloc)
{
    return scsi_reportluns_cdb(type, alloc);
}

int vdc_iscsi_report_luns(struct vdc_iscsi *s, GArray **luns, char **err)
{
    struct pipe_guard g;
    pipe_guard_begin(&g);
    struct scsi_task *task = NULL;
    int rc = sync_exec_full(s, 0, make_reportluns, SCSI_REPORTLUNS_REPORT_ALL_LUNS, 16 + 8 * 64,
                            16 + 8 * 16384, "REPORT LUNS", &task, err);
    pipe_guard_end(&g);
    if (rc != 0)
        return -1;
    const struct scsi_reportluns_list *list = scsi_datain_unmarshall(task);
    if (!list) {
        *err = g_strdup("REPORT LUNS: the target's answer cannot be parsed");
        scsi_free_scsi_task(task);
        return -1;
    }
    GArray *out = g_array_new(FALSE, FALSE, sizeof(unsigned));
    for (uint32_t i = 0; i < list->num; i++) {
        unsigned lun;
        if (decode_lun(list->luns[i], &lun))
            g_array_append_val(out, lun);
    }
    scsi_free_scsi_task(task);
    g_array_sort(out, compare_unsigned);
    /* Drop duplicates (a target listing one LUN under two addressings). */
    for (guint i = 1; i < out->len;)
        if (g_array_index(out, unsigned, i) == g_array_index(out, unsigned, i - 1))
            g_array_remove_index(out, i);
        else
            i++;
    *luns = out;
    return 0;
}

static struct scsi_task *make_inquiry_standard(int unused, int alloc)
{
    (void)unused;
    return scsi_cdb_inquiry(0, 0, alloc);
}

static struct scsi_task *make_inquiry_vpd(int page, int alloc)
{
    return scsi_cdb_inquiry(1, page, alloc);
}

/* Standard INQUIRY: device type and identification strings.  0, 1 (the
 * LUN is not there), -1. */
static int facts_inquiry(struct vdc_iscsi *s, unsigned lun, struct vdc_lun_facts *f, char **err)
{
    struct scsi_task *task = NULL;
    g_autofree char *what = g_strdup_printf("INQUIRY of LUN %u", lun);
    int rc = sync_exec_full(s, lun, make_inquiry_standard, 0, 96, 255, what, &task, err);
    if (rc != 0)
        return rc;
    const struct scsi_inquiry_standard *inq = scsi_datain_unmarshall(task);
    if (!inq) {
        *err = g_strdup_printf("%s: the answer cannot be parsed", what);
        scsi_free_scsi_task(task);
        return 1;
    }
    if (inq->qualifier != SCSI_INQUIRY_PERIPHERAL_QUALIFIER_CONNECTED) {
        *err = g_strdup_printf("LUN %u: no such logical unit", lun);
        scsi_free_scsi_task(task);
        return 1;
    }
    f->peripheral_type = (unsigned)inq->device_type;
    f->vendor = trimmed(inq->vendor_identification, sizeof(inq->vendor_identification) - 1);
    f->product = trimmed(inq->product_identification, sizeof(inq->product_identification) - 1);
    f->revision = trimmed(inq->product_revision_level, sizeof(inq->product_revision_level) - 1);
    scsi_free_scsi_task(task);
    return 0;
}

/* VPD page @page, unmarshalled, in *task (caller frees).  0, 1 (the
 * target does not have it), -1. */
static int vpd_page(struct vdc_iscsi *s, unsigned lun, int page, struct scsi_task **task,
                    void **parsed, char **err)
{
    g_autofree char *what = g_strdup_printf("INQUIRY VPD 0x%02x of LUN %u", page, lun);
    g_autofree char *refused = NULL;
    int rc = sync_exec_full(s, lun, make_inquiry_vpd, page, 255, 65535, what, task, &refused);
    if (rc < 0) {
        *err = g_steal_pointer(&refused);
        return -1;
    }
    if (rc > 0)
        return 1;
    *parsed = scsi_datain_unmarshall(*task);
    if (!*parsed) {
        scsi_free_scsi_task(*task);
        *task = NULL;
        return 1;
    }
    return 0;
}

/* Which VPD pages the LUN has (page 0x00), as a 256-entry table.  A
 * target without page 0x00 is asked for every page (and may refuse). */
static int vpd_supported(struct vdc_iscsi *s, unsigned lun, bool have[256], char **err)
{
    struct scsi_task *task = NULL;
    struct scsi_inquiry_supported_pages *sp = NULL;
    int rc = vpd_page(s, lun, SCSI_INQUIRY_PAGECODE_SUPPORTED_VPD_PAGES, &task, (void **)&sp, err);
    if (rc < 0)
        return -1;
    memset(have, rc == 0 ? 0 : 1, 256 * sizeof(bool));
    if (rc == 0) {
        for (int i = 0; i < sp->num_pages; i++)
            have[sp->pages[i]] = true;
        scsi_free_scsi_task(task);
    }
    return 0;
}

/* VPD 0x80, 0x83, 0xB1: serial, world-wide name, media. */
static int facts_vpd(struct vdc_iscsi *s, unsigned lun, struct vdc_lun_facts *f, char **err)
{
    bool have[256];
    if (vpd_supported(s, lun, have, err) < 0)
        return -1;
    struct scsi_task *task = NULL;
    void *page = NULL;
    int rc;
    if (have[SCSI_INQUIRY_PAGECODE_UNIT_SERIAL_NUMBER]) {
        rc = vpd_page(s, lun, SCSI_INQUIRY_PAGECODE_UNIT_SERIAL_NUMBER, &task, &page, err);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            const struct scsi_inquiry_unit_serial_number *usn = page;
            if (usn->usn) {
                f->serial = trimmed(usn->usn, strlen(usn->usn));
                if (!*f->serial)
                    g_clear_pointer(&f->serial, g_free);
            }
            scsi_free_scsi_task(task);
        }
    }
    if (have[SCSI_INQUIRY_PAGECODE_DEVICE_IDENTIFICATION]) {
        rc = vpd_page(s, lun, SCSI_INQUIRY_PAGECODE_DEVICE_IDENTIFICATION, &task, &page, err);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            f->wwn = best_designator(page);
            scsi_free_scsi_task(task);
        }
    }
    if (have[SCSI_INQUIRY_PAGECODE_BLOCK_DEVICE_CHARACTERISTICS]) {
        rc = vpd_page(s, lun, SCSI_INQUIRY_PAGECODE_BLOCK_DEVICE_CHARACTERISTICS, &task, &page,
                      err);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            const struct scsi_inquiry_block_device_characteristics *bdc = page;
            f->media = media_from_rotation(bdc->medium_rotation_rate);
            scsi_free_scsi_task(task);
        }
    }
    return 0;
}

/* READ CAPACITY(16), or (10) on a target without it: size, block size,
 * thin provisioning.  0, 1 (refused), -1. */
static int read_capacity(struct vdc_iscsi *s, unsigned lun, uint64_t *blocks, uint32_t *block_size,
                         bool *thin, char **err)
{
    struct scsi_task *task = NULL;
    g_autofree char *what = g_strdup_printf("READ CAPACITY(16) of LUN %u", lun);
    g_autofree char *refused = NULL;
    int rc = sync_exec(s, lun, scsi_cdb_readcapacity16(), what, &task, &refused);
    if (rc < 0) {
        *err = g_steal_pointer(&refused);
        return -1;
    }
    if (rc == 0) {
        const struct scsi_readcapacity16 *rc16 = scsi_datain_unmarshall(task);
        if (rc16 && geometry_ok(rc16->returned_lba, rc16->block_length)) {
            *blocks = rc16->returned_lba + 1;
            *block_size = rc16->block_length;
            *thin = rc16->lbpme != 0;
            scsi_free_scsi_task(task);
            return 0;
        }
        scsi_free_scsi_task(task);
    }
    g_clear_pointer(&refused, g_free);
    g_free(what);
    what = g_strdup_printf("READ CAPACITY(10) of LUN %u", lun);
    rc = sync_exec(s, lun, scsi_cdb_readcapacity10(0, 0), what, &task, &refused);
    if (rc != 0) {
        *err = g_steal_pointer(&refused);
        return rc;
    }
    const struct scsi_readcapacity10 *rc10 = scsi_datain_unmarshall(task);
    rc = 1;
    if (rc10 && geometry_ok(rc10->lba, rc10->block_size)) {
        *blocks = (uint64_t)rc10->lba + 1;
        *block_size = rc10->block_size;
        *thin = false;
        rc = 0;
    } else {
        *err = g_strdup_printf("%s: the answer cannot be parsed", what);
    }
    scsi_free_scsi_task(task);
    return rc;
}

/* MODE SENSE(6) header: the WP bit of the device-specific parameter.
 * Left false when the target does not answer it. */
static int facts_write_protect(struct vdc_iscsi *s, unsigned lun, struct vdc_lun_facts *f,
                               char **err)
{
    struct scsi_task *task = NULL;
    g_autofree char *refused = NULL;
    g_autofree char *what = g_strdup_printf("MODE SENSE(6) of LUN %u", lun);
    int rc = sync_exec(s, lun,
                       scsi_cdb_modesense6(1, SCSI_MODESENSE_PC_CURRENT,
                                           SCSI_MODEPAGE_RETURN_ALL_PAGES, 0, 255),
                       what, &task, &refused);
    if (rc < 0) {
        *err = g_steal_pointer(&refused);
        return -1;
    }
    if (rc > 0)
        return 0;
    const struct scsi_mode_sense *ms = scsi_datain_unmarshall(task);
    if (ms)
        f->write_protected = (ms->device_specific_parameter & 0x80) != 0;
    else if (task->datain.size >= 4)
        /* Pages libiscsi cannot parse do not hide the header. */
        f->write_protected = (task->datain.data[2] & 0x80) != 0;
    scsi_free_scsi_task(task);
    return 0;
}

/* Walks GET LBA STATUS over the whole LUN and sums the mapped extents.
 * allocated_known stays false when the target refuses the command or
 * answers without progress.  0 or -1 (transport). */
static int facts_allocated(struct vdc_iscsi *s, unsigned lun, uint64_t blocks,
                           struct vdc_lun_facts *f, char **err)
{
    uint64_t lba = 0, mapped = 0;
    g_autofree char *what = g_strdup_printf("GET LBA STATUS of LUN %u", lun);
    while (lba < blocks) {
        struct scsi_task *task = NULL;
        g_autofree char *refused = NULL;
        int rc = sync_exec(s, lun, scsi_cdb_get_lba_status(lba, 8 + 16 * LBA_STATUS_DESCRIPTORS),
                           what, &task, &refused);
        if (rc < 0) {
            *err = g_steal_pointer(&refused);
            return -1;
        }
        if (rc > 0)
            return 0;
        const struct scsi_get_lba_status *st = scsi_datain_unmarshall(task);
        uint64_t next = lba;
        for (uint32_t i = 0; st && i < st->num_descriptors; i++) {
            const struct scsi_lba_status_descriptor *d = &st->descriptors[i];
            if (d->lba >= blocks)
                break; /* past the end (and d->lba + num_blocks cannot overflow below) */
            uint64_t start = MAX(d->lba, lba), end = MIN(d->lba + d->num_blocks, blocks);
            if (end <= start)
                continue;
            if (d->provisioning == SCSI_PROVISIONING_TYPE_MAPPED)
                mapped += end - start;
            next = MAX(next, end);
        }
        scsi_free_scsi_task(task);
        if (next <= lba)
            return 0; /* no progress: the answer is not to be trusted */
        lba = next;
    }
    f->allocated_known = true;
    f->allocated = mapped * f->block_size;
    return 0;
}

/* The facts that only block devices have. */
static int facts_block_device(struct vdc_iscsi *s, unsigned lun, struct vdc_lun_facts *f,
                              char **err)
{
    uint64_t blocks = 0;
    uint32_t bs = 0;
    bool thin = false;
    g_autofree char *refused = NULL;
    int rc = read_capacity(s, lun, &blocks, &bs, &thin, &refused);
    if (rc < 0) {
        *err = g_steal_pointer(&refused);
        return -1;
    }
    if (rc > 0)
        return 0; /* a disk without a capacity: leave it unknown */
    f->capacity = blocks * bs;
    f->block_size = bs;
    f->thin_provisioned = thin;
    if (facts_write_protect(s, lun, f, err) < 0)
        return -1;
    return facts_allocated(s, lun, blocks, f, err);
}

int vdc_iscsi_lun_facts(struct vdc_iscsi *s, unsigned lun, struct vdc_lun_facts **out, char **err)
{
    struct vdc_lun_facts *f = g_new0(struct vdc_lun_facts, 1);
    f->lun = lun;
    struct pipe_guard g;
    pipe_guard_begin(&g);
    int rc = facts_inquiry(s, lun, f, err);
    if (rc == 0 && facts_vpd(s, lun, f, err) < 0)
        rc = -1;
    /* A controller LUN has no capacity to ask about. */
    if (rc == 0 && is_block_device(f->peripheral_type) && facts_block_device(s, lun, f, err) < 0)
        rc = -1;
    pipe_guard_end(&g);
    if (rc != 0) {
        vdc_lun_facts_free(f);
        return -1;
    }
    *out = f;
    return 0;
}

int vdc_iscsi_read(struct vdc_iscsi *s, unsigned lun, uint64_t offset, void *buf, size_t len,
                   char **err)
{
    uint64_t blocks = 0;
    uint32_t bs = 0;
    bool thin;
    struct pipe_guard g;
    pipe_guard_begin(&g);
    int rc = read_capacity(s, lun, &blocks, &bs, &thin, err) == 0 ? 0 : -1;
    if (rc == 0 && (offset % bs || len % bs)) {
        *err = g_strdup_printf("read of LUN %u: offset %" G_GUINT64_FORMAT
                               " and length %zu must be multiples of the block size %u",
                               lun, offset, len, bs);
        rc = -1;
    }
    for (size_t done = 0; rc == 0 && done < len;) {
        size_t n = MIN(len - done, (size_t)READ_CMD_BYTES);
        uint64_t lba = (offset + done) / bs;
        struct scsi_task *task = NULL;
        g_autofree char *what =
            g_strdup_printf("READ(16) of LUN %u at LBA %" G_GUINT64_FORMAT, lun, lba);
        if (sync_exec(s, lun, scsi_cdb_read16(lba, (uint32_t)n, (int)bs, 0, 0, 0, 0, 0), what,
                      &task, err) != 0) {
            rc = -1;
            break;
        }
        if (task->datain.size < 0 || (size_t)task->datain.size < n) {
            *err = g_strdup_printf("%s: short read", what);
            rc = -1;
        } else {
            memcpy((char *)buf + done, task->datain.data, n);
            done += n;
        }
        scsi_free_scsi_task(task);
    }
    pipe_guard_end(&g);
    return rc;
}

/* --- the asynchronous reader ------------------------------------------ */

/* How it works: one thread owns a libiscsi context and runs a poll() loop
 * over its socket and an eventfd that other threads write to when they
 * queue a request.  A request waits for a session (logged in lazily), then
 * for its LUN's geometry (READ CAPACITY(16), cached per LUN for the life
 * of the session), then its commands go out, up to READ_QUEUE_DEPTH in
 * flight over all requests, oldest request first.  Reads land straight in
 * the request's buffer (an iovec given to libiscsi).  Any transport
 * failure or timeout ends the session: every request under way fails with
 * -EIO and the next one logs in again.
 *
 * Deadlines: the login and every command get the timeout.  A request
 * queued behind the queue depth has none of its own: the commands ahead
 * of it either finish or time out, so it cannot wait for ever, and a busy
 * but healthy array does not fail requests for being busy. */

enum req_kind { REQ_READ, REQ_SEEK };

/* One caller's request.  Owned by the reader thread once it has left the
 * incoming queue; freed by answer(). */
struct request {
    enum req_kind kind;
    unsigned lun;
    uint64_t offset;
    size_t len;
    int whence;
    vdc_iscsi_read_cb read_cb;
    vdc_iscsi_seek_cb seek_cb;
    void *ctx;
    uint32_t block_size;
    uint64_t lun_blocks;
    /* a read under way: blocks [first_lba, end_lba) land in buf */
    guint8 *buf;
    uint64_t first_lba, next_lba, end_lba;
    size_t skip, out_len; /* the caller's slice of buf */
    unsigned outstanding; /* its commands in flight */
    int error;            /* the first failure, a negative errno */
    /* a lookup under way: the next LBA to ask about */
    uint64_t pos_lba;
    bool ready; /* in r->ready: has commands left to send */
};

enum lun_state { LUN_UNKNOWN, LUN_PROBING, LUN_READY };

/* What the reader knows of one LUN, for the current session only. */
struct lun_info {
    unsigned lun;
    enum lun_state state;
    uint32_t block_size;
    uint64_t blocks;
    bool no_lba_status; /* the target refused GET LBA STATUS */
    GQueue waiting;     /* of struct request*: until the geometry is known */
};

enum cmd_kind { CMD_READ, CMD_CAPACITY, CMD_LBA_STATUS };

/* One SCSI command; lives from sending until its callback. */
struct command {
    struct vdc_iscsi_reader *r;
    enum cmd_kind kind;
    unsigned lun;
    struct request *req; /* READ, LBA_STATUS */
    struct scsi_task *task;
    struct scsi_iovec iov; /* READ: where the data lands */
    uint64_t lba;
    uint32_t blocks;
    unsigned retries;
    gint64 deadline;
};

enum session_state { SESSION_DOWN, SESSION_CONNECTING, SESSION_UP };

struct vdc_iscsi_reader {
    struct target_copy t;
    unsigned timeout_s;
    int wake_fd; /* eventfd: a request was queued, or stop */
    GThread *thread;

    GMutex lock; /* guards incoming and stopping */
    GQueue incoming; /* of struct request* */
    bool stopping;

    /* the reader thread's own */
    struct iscsi_context *ctx;
    enum session_state state;
    gint64 connect_deadline;
    gint64 failed_at;      /* last session failure, for the backoff */
    char *broken;          /* why the session must end (set in callbacks) */
    int fail_errno;        /* what requests cut short get: -EIO, -ESHUTDOWN */
    GQueue session_wait;   /* of struct request*: until logged in */
    GHashTable *luns;      /* lun -> struct lun_info* */
    GQueue ready;          /* of struct request*: with commands to send */
    GQueue retry;          /* of struct command*: to send again */
    GHashTable *in_flight; /* of struct command* */
    struct sync_wait logout_wait;
};

static void lun_info_free(gpointer p)
{
    struct lun_info *li = p;
    g_queue_clear(&li->waiting);
    g_free(li);
}

/* Answers @q exactly once and frees it.  No lock is held, so callbacks
 * may queue further requests. */
static void answer(struct request *q, int err, uint64_t result)
{
    if (q->kind == REQ_READ) {
        if (err)
            q->read_cb(q->ctx, err, NULL, 0);
        else
            q->read_cb(q->ctx, 0, q->buf ? q->buf + q->skip : NULL, q->out_len);
    } else {
        q->seek_cb(q->ctx, err, err ? 0 : result);
    }
    g_free(q->buf);
    g_free(q);
}

static void fail_queue(GQueue *q, int err)
{
    struct request *req;
    while ((req = g_queue_pop_head(q))) {
        req->ready = false;
        answer(req, err, 0);
    }
}

static struct lun_info *lun_get(struct vdc_iscsi_reader *r, unsigned lun)
{
    struct lun_info *li = g_hash_table_lookup(r->luns, GUINT_TO_POINTER(lun));
    if (!li) {
        li = g_new0(struct lun_info, 1);
        li->lun = lun;
        g_queue_init(&li->waiting);
        g_hash_table_insert(r->luns, GUINT_TO_POINTER(lun), li);
    }
    return li;
}

static void mark_broken(struct vdc_iscsi_reader *r, const char *why)
{
    if (!r->broken)
        r->broken = g_strdup(why && *why ? why : "connection failed");
}

static void on_command_done(struct iscsi_context *ctx, int status, void *data, void *priv);

/* Sends @c on the current session.  false when libiscsi refuses: the
 * session is then marked broken and @c stays the caller's. */
static bool command_send(struct vdc_iscsi_reader *r, struct command *c)
{
    /* In the set before libiscsi has it, in case it ever answers at once. */
    c->deadline = g_get_monotonic_time() + (gint64)r->timeout_s * G_USEC_PER_SEC + BACKSTOP_US;
    g_hash_table_add(r->in_flight, c);
    switch (c->kind) {
    case CMD_READ:
        c->task = iscsi_read16_iov_task(r->ctx, (int)c->lun, c->lba,
                                        c->blocks * c->req->block_size,
                                        (int)c->req->block_size, 0, 0, 0, 0, 0, on_command_done,
                                        c, &c->iov, 1);
        break;
    case CMD_CAPACITY:
        c->task = iscsi_readcapacity16_task(r->ctx, (int)c->lun, on_command_done, c);
        break;
    case CMD_LBA_STATUS:
        c->task = iscsi_get_lba_status_task(r->ctx, (int)c->lun, c->lba,
                                            8 + 16 * LBA_STATUS_DESCRIPTORS, on_command_done, c);
        break;
    }
    if (!c->task) {
        g_hash_table_remove(r->in_flight, c);
        mark_broken(r, iscsi_get_error(r->ctx));
        return false;
    }
    return true;
}

static void make_ready(struct vdc_iscsi_reader *r, struct request *q)
{
    if (!q->ready) {
        q->ready = true;
        g_queue_push_tail(&r->ready, q);
    }
}

static void unready(struct vdc_iscsi_reader *r, struct request *q)
{
    if (q->ready) {
        g_queue_remove(&r->ready, q);
        q->ready = false;
    }
}

/* @q's LUN geometry is known: fix the blocks to read (the covering
 * blocks of an unaligned range, cut at the end of the LUN) or where the
 * lookup starts, and queue it for sending; or answer it now. */
static void request_start(struct vdc_iscsi_reader *r, struct request *q, const struct lun_info *li)
{
    uint64_t size = li->blocks * li->block_size;
    q->block_size = li->block_size;
    q->lun_blocks = li->blocks;
    if (q->kind == REQ_SEEK) {
        if (q->offset >= size)
            answer(q, -ENXIO, 0);
        else if (li->no_lba_status)
            answer(q, 0, q->whence == SEEK_DATA ? q->offset : size);
        else {
            q->pos_lba = q->offset / li->block_size;
            make_ready(r, q);
        }
        return;
    }
    if (q->offset >= size || q->len == 0) {
        answer(q, 0, 0);
        return;
    }
    uint64_t end = q->offset + MIN((uint64_t)q->len, size - q->offset);
    q->first_lba = q->offset / li->block_size;
    q->next_lba = q->first_lba;
    q->end_lba = (end + li->block_size - 1) / li->block_size;
    q->skip = (size_t)(q->offset - q->first_lba * li->block_size);
    q->out_len = (size_t)(end - q->offset);
    q->buf = g_try_malloc((size_t)((q->end_lba - q->first_lba) * li->block_size));
    if (!q->buf) {
        answer(q, -ENOMEM, 0);
        return;
    }
    make_ready(r, q);
}

/* Asks for @li's geometry unless that is under way already. */
static void lun_probe(struct vdc_iscsi_reader *r, struct lun_info *li)
{
    if (li->state != LUN_UNKNOWN)
        return;
    struct command *c = g_new0(struct command, 1);
    c->r = r;
    c->kind = CMD_CAPACITY;
    c->lun = li->lun;
    if (command_send(r, c))
        li->state = LUN_PROBING;
    else
        g_free(c);
}

/* Sends @q on its way on a live session. */
static void request_route(struct vdc_iscsi_reader *r, struct request *q)
{
    struct lun_info *li = lun_get(r, q->lun);
    if (li->state == LUN_READY) {
        request_start(r, q, li);
        return;
    }
    g_queue_push_tail(&li->waiting, q);
    lun_probe(r, li);
}

static void on_capacity(struct vdc_iscsi_reader *r, struct command *c, int status)
{
    struct lun_info *li = lun_get(r, c->lun);
    li->state = LUN_UNKNOWN;
    if (status == SCSI_STATUS_GOOD) {
        const struct scsi_readcapacity16 *rc16 = scsi_datain_unmarshall(c->task);
        if (rc16 && geometry_ok(rc16->returned_lba, rc16->block_length)) {
            li->state = LUN_READY;
            li->block_size = rc16->block_length;
            li->blocks = rc16->returned_lba + 1;
        }
    }
    if (li->state == LUN_READY) {
        GQueue waiting = li->waiting;
        g_queue_init(&li->waiting);
        struct request *q;
        while ((q = g_queue_pop_head(&waiting)))
            request_start(r, q, li);
    } else if (target_answered(status)) {
        /* No such LUN, or not a disk: its waiters learn it now, and the
         * next request asks again.  (After a transport failure the
         * session's teardown answers them.) */
        fail_queue(&li->waiting, -EIO);
    }
}

/* A READ finished: answer its request when it was the last one out. */
static void on_read(struct vdc_iscsi_reader *r, struct request *q, struct scsi_task *task,
                    int status)
{
    if (status == SCSI_STATUS_GOOD && task->residual_status == SCSI_RESIDUAL_UNDERFLOW &&
        task->residual > 0)
        status = SCSI_STATUS_ERROR; /* the target sent less than asked */
    if (status != SCSI_STATUS_GOOD && !q->error)
        q->error = r->fail_errno;
    q->outstanding--;
    if (q->error)
        unready(r, q); /* send no more of it */
    if (q->outstanding == 0 && (q->error || q->next_lba >= q->end_lba)) {
        unready(r, q);
        answer(q, q->error, 0);
    }
}

/* Where a lookup from LBA @pos stands after the descriptors of @st:
 * answered (*result, true) or to go on from *pos (false).  A gap
 * between descriptors counts as data. */
static bool seek_in_descriptors(const struct request *q, const struct scsi_get_lba_status *st,
                                uint64_t *pos, uint64_t *result)
{
    for (uint32_t i = 0; st && i < st->num_descriptors; i++) {
        const struct scsi_lba_status_descriptor *d = &st->descriptors[i];
        if (d->lba >= q->lun_blocks)
            break; /* past the end: nothing to learn (and no overflow) */
        uint64_t start = d->lba, end = MIN(d->lba + d->num_blocks, q->lun_blocks);
        bool data = d->provisioning == SCSI_PROVISIONING_TYPE_MAPPED;
        if (start > *pos) { /* a gap */
            if (q->whence == SEEK_DATA) {
                *result = MAX(q->offset, *pos * q->block_size);
                return true;
            }
            *pos = start;
        }
        if (end <= *pos)
            continue;
        if (data == (q->whence == SEEK_DATA)) {
            *result = MAX(q->offset, *pos * q->block_size);
            return true;
        }
        *pos = end;
    }
    return false;
}

/* A GET LBA STATUS finished: answer the lookup, or queue its next step. */
static void on_lba_status(struct vdc_iscsi_reader *r, struct request *q, struct scsi_task *task,
                          int status)
{
    struct lun_info *li = lun_get(r, q->lun);
    uint64_t size = q->lun_blocks * q->block_size;
    q->outstanding--;
    if (status == SCSI_STATUS_CHECK_CONDITION && task->sense.key == SCSI_SENSE_ILLEGAL_REQUEST)
        li->no_lba_status = true; /* not supported: all data */
    if (li->no_lba_status) {
        answer(q, 0, q->whence == SEEK_DATA ? q->offset : size);
        return;
    }
    if (status != SCSI_STATUS_GOOD) {
        answer(q, r->fail_errno, 0);
        return;
    }
    uint64_t pos = q->pos_lba, result = 0;
    if (seek_in_descriptors(q, scsi_datain_unmarshall(task), &pos, &result))
        answer(q, 0, result);
    else if (pos >= q->lun_blocks)
        answer(q, q->whence == SEEK_DATA ? -ENXIO : 0, size); /* the end is a hole */
    else if (pos <= q->pos_lba)
        /* No progress: take the rest as data rather than ask for ever. */
        answer(q, 0, q->whence == SEEK_DATA ? MAX(q->offset, pos * q->block_size) : size);
    else {
        q->pos_lba = pos;
        make_ready(r, q);
    }
}

static void on_command_done(struct iscsi_context *ctx, int status, void *data, void *priv)
{
    (void)ctx, (void)data;
    struct command *c = priv;
    struct vdc_iscsi_reader *r = c->r;
    g_hash_table_remove(r->in_flight, c);
    if (!target_answered(status)) {
        g_autofree char *why = task_failure_text(r->ctx, status, c->task);
        mark_broken(r, why);
    }
    if (is_unit_attention(status, c->task) && c->retries < UA_RETRIES && !r->broken) {
        /* The LUN may have changed under us (resized, replaced): the next
         * request asks for its geometry again; this command goes out
         * again as it was. */
        struct lun_info *li = lun_get(r, c->lun);
        if (li->state == LUN_READY)
            li->state = LUN_UNKNOWN;
        scsi_free_scsi_task(c->task);
        c->task = NULL;
        c->retries++;
        g_queue_push_tail(&r->retry, c);
        return;
    }
    switch (c->kind) {
    case CMD_CAPACITY:
        on_capacity(r, c, status);
        break;
    case CMD_READ:
        on_read(r, c->req, c->task, status);
        break;
    case CMD_LBA_STATUS:
        on_lba_status(r, c->req, c->task, status);
        break;
    }
    if (c->task)
        scsi_free_scsi_task(c->task);
    g_free(c);
}

/* Sends the next command of the oldest ready request; false when there
 * is nothing to send or the session broke. */
static bool send_next(struct vdc_iscsi_reader *r)
{
    struct request *q = g_queue_peek_head(&r->ready);
    if (!q)
        return false;
    struct command *c = g_new0(struct command, 1);
    c->r = r;
    c->req = q;
    c->lun = q->lun;
    if (q->kind == REQ_SEEK) {
        /* One command at a time: the next depends on this answer. */
        c->kind = CMD_LBA_STATUS;
        c->lba = q->pos_lba;
        unready(r, q);
    } else {
        uint64_t per_cmd = MAX(1, READ_CMD_BYTES / q->block_size);
        c->kind = CMD_READ;
        c->lba = q->next_lba;
        c->blocks = (uint32_t)MIN(per_cmd, q->end_lba - q->next_lba);
        c->iov.iov_base = q->buf + (c->lba - q->first_lba) * q->block_size;
        c->iov.iov_len = (size_t)c->blocks * q->block_size;
        q->next_lba += c->blocks;
        if (q->next_lba >= q->end_lba)
            unready(r, q);
    }
    if (!command_send(r, c)) {
        /* The teardown that follows answers the request. */
        if (!q->error)
            q->error = r->fail_errno;
        make_ready(r, q);
        g_free(c);
        return false;
    }
    q->outstanding++;
    return true;
}

/* Fills the queue depth: commands to send again first, then new ones. */
static void pump(struct vdc_iscsi_reader *r)
{
    if (r->state != SESSION_UP)
        return;
    struct command *c;
    while (!r->broken && (c = g_queue_pop_head(&r->retry)))
        if (!command_send(r, c)) {
            g_queue_push_head(&r->retry, c);
            return;
        }
    while (!r->broken && g_hash_table_size(r->in_flight) < READ_QUEUE_DEPTH && send_next(r))
        ;
}

/* --- the session ------------------------------------------------------ */

/* Called by libiscsi when the login finished, or failed; and possibly
 * again when an established connection breaks. */
static void on_connected(struct iscsi_context *ctx, int status, void *data, void *priv)
{
    (void)data;
    struct vdc_iscsi_reader *r = priv;
    if (status == SCSI_STATUS_GOOD && r->state == SESSION_CONNECTING)
        r->state = SESSION_UP; /* the loop routes the waiting requests */
    else if (status != SCSI_STATUS_GOOD)
        mark_broken(r, iscsi_get_error(ctx));
}

/* Starts logging in; requests wait in session_wait meanwhile. */
static void session_start(struct vdc_iscsi_reader *r)
{
    g_autofree char *err = NULL;
    r->ctx = context_new(&r->t, r->timeout_s, &err);
    if (!r->ctx) {
        mark_broken(r, err);
        return;
    }
    r->state = SESSION_CONNECTING;
    r->connect_deadline = g_get_monotonic_time() + (gint64)r->timeout_s * G_USEC_PER_SEC;
    if (iscsi_full_connect_async(r->ctx, r->t.portal, 0, on_connected, r) != 0)
        mark_broken(r, iscsi_get_error(r->ctx));
}

/* Logs out, waiting at most @timeout_ms: best effort on the way out. */
static void session_logout(struct vdc_iscsi_reader *r, int timeout_ms)
{
    struct sync_wait *w = &r->logout_wait; /* outlives the context */
    *w = (struct sync_wait){0};
    if (iscsi_logout_async(r->ctx, on_sync_done, w) != 0)
        return;
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    while (!w->done && g_get_monotonic_time() < deadline)
        if (service_once(r->ctx, MIN(ms_until(deadline), TICK_MS), -1, NULL, NULL) < 0)
            break;
}

/* Ends the session: every command out is cancelled and every request
 * waiting or under way is answered with @err.  With @logout, a live
 * session says goodbye to the target first. */
static void session_end(struct vdc_iscsi_reader *r, int err, bool logout)
{
    bool was_up = r->state == SESSION_UP && !r->broken;
    r->fail_errno = err;
    /* Everything in flight completes now, through its callback, with
     * SCSI_STATUS_CANCELLED.  broken is set so that nothing is sent
     * again from those callbacks. */
    mark_broken(r, "session ended");
    if (r->ctx)
        iscsi_scsi_cancel_all_tasks(r->ctx);
    if (r->ctx && logout && was_up)
        session_logout(r, (int)MIN(r->timeout_s, 2u) * 1000);
    if (r->ctx)
        iscsi_destroy_context(r->ctx);
    r->ctx = NULL;
    /* Commands libiscsi no longer knew of (none are expected) and those
     * waiting to be sent again complete as cancelled. */
    GList *left = g_hash_table_get_keys(r->in_flight);
    for (GList *l = left; l; l = l->next)
        on_command_done(NULL, SCSI_STATUS_CANCELLED, NULL, l->data);
    g_list_free(left);
    struct command *c;
    while ((c = g_queue_pop_head(&r->retry)))
        on_command_done(NULL, SCSI_STATUS_CANCELLED, NULL, c);
    fail_queue(&r->session_wait, err);
    fail_queue(&r->ready, err);
    GHashTableIter it;
    gpointer li;
    g_hash_table_iter_init(&it, r->luns);
    while (g_hash_table_iter_next(&it, NULL, &li))
        fail_queue(&((struct lun_info *)li)->waiting, err);
    g_hash_table_remove_all(r->luns);
    r->state = SESSION_DOWN;
    g_clear_pointer(&r->broken, g_free);
    r->fail_errno = -EIO;
}

/* A new request from the incoming queue. */
static void admit(struct vdc_iscsi_reader *r, struct request *q)
{
    if (q->kind == REQ_SEEK && q->whence != SEEK_DATA && q->whence != SEEK_HOLE) {
        answer(q, -EINVAL, 0);
        return;
    }
    switch (r->state) {
    case SESSION_DOWN:
        if (r->failed_at && g_get_monotonic_time() - r->failed_at < RELOGIN_BACKOFF_US) {
            answer(q, -EIO, 0); /* the array failed a moment ago */
            return;
        }
        session_start(r);
        g_queue_push_tail(&r->session_wait, q);
        return;
    case SESSION_CONNECTING:
        g_queue_push_tail(&r->session_wait, q);
        return;
    case SESSION_UP:
        request_route(r, q);
        return;
    }
}

/* Takes the incoming queue; true when asked to stop. */
static bool take_incoming(struct vdc_iscsi_reader *r)
{
    g_mutex_lock(&r->lock);
    GQueue batch = r->incoming;
    g_queue_init(&r->incoming);
    bool stop = r->stopping;
    g_mutex_unlock(&r->lock);
    struct request *q;
    while ((q = g_queue_pop_head(&batch))) {
        if (stop)
            answer(q, -ESHUTDOWN, 0);
        else
            admit(r, q);
    }
    return stop;
}

/* Notices what the last service did: a login that finished, a broken
 * session, a deadline that passed. */
static void after_service(struct vdc_iscsi_reader *r)
{
    gint64 now = g_get_monotonic_time();
    if (r->state == SESSION_CONNECTING && !r->broken && now >= r->connect_deadline)
        mark_broken(r, "login timed out");
    if (!r->broken) {
        GHashTableIter it;
        gpointer c;
        g_hash_table_iter_init(&it, r->in_flight);
        while (g_hash_table_iter_next(&it, &c, NULL))
            if (now >= ((struct command *)c)->deadline) {
                mark_broken(r, "command timed out");
                break;
            }
    }
    if (r->broken) {
        session_end(r, -EIO, false);
        r->failed_at = g_get_monotonic_time();
        return;
    }
    if (r->state == SESSION_UP) {
        struct request *q;
        while ((q = g_queue_pop_head(&r->session_wait)))
            request_route(r, q);
    }
}

/* How long the loop may sleep: for ever when idle, else until the next
 * tick (libiscsi's timeouts) or deadline. */
static int loop_timeout_ms(struct vdc_iscsi_reader *r)
{
    if (r->broken)
        return 0; /* to the teardown at once */
    if (r->state == SESSION_CONNECTING)
        return MIN(TICK_MS, ms_until(r->connect_deadline));
    if (g_hash_table_size(r->in_flight) > 0)
        return TICK_MS;
    return -1;
}

static gpointer reader_thread(gpointer data)
{
    struct vdc_iscsi_reader *r = data;
    /* SIGPIPE from libiscsi's writev() stays blocked (and pending, if
     * raised) on this thread for its whole life. */
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, NULL);
    while (!take_incoming(r)) {
        pump(r);
        short wake = 0;
        int sock_err = 0;
        if (service_once(r->ctx, loop_timeout_ms(r), r->wake_fd, &wake, &sock_err) < 0 && r->ctx)
            mark_broken(r, sock_err ? g_strerror(sock_err) : iscsi_get_error(r->ctx));
        if (wake & POLLIN) {
            uint64_t n;
            if (read(r->wake_fd, &n, sizeof n) < 0 && errno != EAGAIN)
                g_usleep(1000);
        }
        after_service(r);
    }
    session_end(r, -ESHUTDOWN, true);
    take_incoming(r); /* whatever came in meanwhile */
    return NULL;
}

struct vdc_iscsi_reader *vdc_iscsi_reader_start(const struct vdc_iscsi_target *t,
                                                unsigned timeout_s)
{
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0)
        return NULL; /* out of file descriptors */
    struct vdc_iscsi_reader *r = g_new0(struct vdc_iscsi_reader, 1);
    target_copy_init(&r->t, t);
    r->timeout_s = timeout_s ? timeout_s : 1;
    r->wake_fd = fd;
    r->fail_errno = -EIO;
    g_mutex_init(&r->lock);
    g_queue_init(&r->incoming);
    g_queue_init(&r->session_wait);
    g_queue_init(&r->ready);
    g_queue_init(&r->retry);
    r->luns = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, lun_info_free);
    r->in_flight = g_hash_table_new(g_direct_hash, g_direct_equal);
    r->thread = g_thread_new("vdc-iscsi-read", reader_thread, r);
    return r;
}

static void wake(struct vdc_iscsi_reader *r)
{
    uint64_t one = 1;
    /* EAGAIN: the counter is full, the thread is woken anyway. */
    if (write(r->wake_fd, &one, sizeof one) < 0 && errno != EAGAIN)
        g_warning("vdc-iscsi-read: cannot wake the reader: %s", g_strerror(errno));
}

/* Not from a read or seek callback: it joins the thread that runs them. */
void vdc_iscsi_reader_stop(struct vdc_iscsi_reader *r)
{
    if (!r)
        return;
    g_mutex_lock(&r->lock);
    r->stopping = true;
    g_mutex_unlock(&r->lock);
    wake(r);
    g_thread_join(r->thread);
    close(r->wake_fd);
    g_hash_table_destroy(r->luns);
    g_hash_table_destroy(r->in_flight);
    g_free(r->broken);
    target_copy_clear(&r->t);
    g_mutex_clear(&r->lock);
    g_free(r);
}

/* Queues @q for the reader thread.  Once stop has begun the request is
 * answered at once, on the caller's thread, with -ESHUTDOWN. */
static void enqueue(struct vdc_iscsi_reader *r, struct request *q)
{
    g_mutex_lock(&r->lock);
    bool refused = r->stopping;
    if (!refused)
        g_queue_push_tail(&r->incoming, q);
    g_mutex_unlock(&r->lock);
    if (refused)
        answer(q, -ESHUTDOWN, 0);
    else
        wake(r);
}

void vdc_iscsi_reader_read(struct vdc_iscsi_reader *r, unsigned lun, uint64_t offset, size_t len,
                           vdc_iscsi_read_cb cb, void *ctx)
{
    struct request *q = g_new0(struct request, 1);
    q->kind = REQ_READ;
    q->lun = lun;
    q->offset = offset;
    q->len = len;
    q->read_cb = cb;
    q->ctx = ctx;
    enqueue(r, q);
}

void vdc_iscsi_reader_seek(struct vdc_iscsi_reader *r, unsigned lun, uint64_t offset, int whence,
                           vdc_iscsi_seek_cb cb, void *ctx)
{
    struct request *q = g_new0(struct request, 1);
    q->kind = REQ_SEEK;
    q->lun = lun;
    q->offset = offset;
    q->whence = whence;
    q->seek_cb = cb;
    q->ctx = ctx;
    enqueue(r, q);
}
