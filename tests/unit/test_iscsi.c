/* test_iscsi.c — the iSCSI initiator (iscsi.h) against a real tgtd.
 *
 * Every test talks to a private tgtd on a loopback portal (tgt_fixture.h),
 * with LUNs backed by sparse files that the test writes directly: tgt's
 * rdwr backing store uses pread/pwrite, so what the test writes into a
 * backing file is what an initiator reads.  Tests that stop or kill the
 * target, or change its accounts, start a tgtd of their own.  Needs root;
 * without tgtd the tests are skipped.
 *
 * Waits are bounded (WAIT_LIMIT_S) only so that a bug fails the test
 * instead of hanging it; no test asserts how long anything took.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "iscsi.h"
#include "tgt_fixture.h"

#define IQN "iqn.2024-01.org.vdcfs.test:array1"
#define MIB (1024 * 1024)
#define WAIT_LIMIT_S 60
/* The timeout the stopped-target tests give sessions and readers. */
#define SHORT_TIMEOUT_S 2

/* LUN 1: 64 MiB, LUN 2: 16 MiB, LUN 3: 8 MiB and three blocks (an odd
 * size, for reads past the end). */
static const uint64_t lun_sizes[] = {64 * MIB, 16 * MIB, 8 * MIB + 3 * 512};

/* The array shared by the tests that neither stop nor reconfigure it. */
static struct tgt_fixture shared;
static bool have_tgt;

static struct vdc_iscsi_target target_of(const struct tgt_fixture *f)
{
    return (struct vdc_iscsi_target){.portal = f->portal, .iqn = f->iqn};
}

static char *backing_path(const struct tgt_fixture *f, unsigned lun)
{
    return g_strdup_printf("%s/lun%u.img", f->backing_dir, lun);
}

/* Writes @len bytes of pseudo-random data (from @seed) at @offset of the
 * LUN's backing file. */
static void write_backing(const struct tgt_fixture *f, unsigned lun, uint64_t offset, size_t len,
                          guint32 seed)
{
    g_autofree char *path = backing_path(f, lun);
    g_autofree guint8 *buf = g_malloc(len);
    GRand *rnd = g_rand_new_with_seed(seed);
    for (size_t i = 0; i < len; i++)
        buf[i] = (guint8)g_rand_int(rnd);
    g_rand_free(rnd);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, buf, len, (off_t)offset), (ssize_t)len);
    close(fd);
}

/* The whole backing file of a LUN. */
static guint8 *read_backing(const struct tgt_fixture *f, unsigned lun, size_t *size)
{
    g_autofree char *path = backing_path(f, lun);
    gchar *data = NULL;
    gsize len = 0;
    assert_true(g_file_get_contents(path, &data, &len, NULL));
    *size = len;
    return (guint8 *)data;
}

static int start_array(struct tgt_fixture *f)
{
    if (geteuid() != 0)
        return -1;
    if (tgt_fixture_start(f, IQN, NULL, lun_sizes, G_N_ELEMENTS(lun_sizes)) < 0) {
        tgt_fixture_stop(f);
        return -1;
    }
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    /* SIGPIPE keeps its default disposition on purpose: the module must
     * guard against it itself when the target dies under it. */
    have_tgt = start_array(&shared) == 0;
    if (!have_tgt)
        fprintf(stderr, "test_iscsi: no tgtd (needs root and package tgt): skipping\n");
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (have_tgt)
        tgt_fixture_stop(&shared);
    return 0;
}

/* Tests that stop, kill or reconfigure the target get one of their own;
 * the teardown kills it whatever the test did. */
static int private_array_setup(void **state)
{
    struct tgt_fixture *f = g_new0(struct tgt_fixture, 1);
    if (!have_tgt || start_array(f) < 0) {
        g_free(f);
        *state = NULL;
        return 0; /* the test skips */
    }
    *state = f;
    return 0;
}

static int private_array_teardown(void **state)
{
    struct tgt_fixture *f = *state;
    if (!f)
        skip();
    if (f) {
        if (f->pid > 0)
            kill(f->pid, SIGCONT);
        tgt_fixture_stop(f);
        g_free(f);
    }
    return 0;
}

#define NEED_TGT()                                                                                \
    do {                                                                                          \
        if (!have_tgt)                                                                            \
            skip();                                                                               \
    } while (0)

static struct vdc_iscsi *login_ok(const struct tgt_fixture *f, unsigned timeout_s)
{
    struct vdc_iscsi_target t = target_of(f);
    g_autofree char *err = NULL;
    struct vdc_iscsi *s = vdc_iscsi_login(&t, timeout_s, &err);
    if (!s)
        fail_msg("login: %s", err);
    return s;
}

/* --- waiting for reader callbacks ------------------------------------- */

/* Counts answers; each answer records itself into its own slot. */
struct waiter {
    GMutex lock;
    GCond cond;
    int pending;
};

static void waiter_init(struct waiter *w, int pending)
{
    g_mutex_init(&w->lock);
    g_cond_init(&w->cond);
    w->pending = pending;
}

static void waiter_done(struct waiter *w)
{
    g_mutex_lock(&w->lock);
    w->pending--;
    g_cond_broadcast(&w->cond);
    g_mutex_unlock(&w->lock);
}

/* Waits until every answer is in; false when the (hang-guard) limit
 * passed first. */
static bool waiter_wait(struct waiter *w)
{
    gint64 until = g_get_monotonic_time() + WAIT_LIMIT_S * G_USEC_PER_SEC;
    g_mutex_lock(&w->lock);
    while (w->pending > 0)
        if (!g_cond_wait_until(&w->cond, &w->lock, until))
            break;
    bool all = w->pending == 0;
    g_mutex_unlock(&w->lock);
    return all;
}

static void waiter_clear(struct waiter *w)
{
    g_mutex_clear(&w->lock);
    g_cond_clear(&w->cond);
}

struct read_slot {
    struct waiter *w;
    uint64_t offset;
    size_t len;
    int calls;
    int err;
    guint8 *data;
    size_t got;
};

static void on_read(void *ctx, int err, const void *data, size_t len)
{
    struct read_slot *s = ctx;
    s->calls++;
    s->err = err;
    s->got = len;
    if (!err && len)
        s->data = g_memdup2(data, len);
    waiter_done(s->w);
}

struct seek_slot {
    struct waiter *w;
    int calls;
    int err;
    uint64_t result;
};

static void on_seek(void *ctx, int err, uint64_t result)
{
    struct seek_slot *s = ctx;
    s->calls++;
    s->err = err;
    s->result = result;
    waiter_done(s->w);
}

/* One read through @r, waited for. */
static struct read_slot read_one(struct vdc_iscsi_reader *r, unsigned lun, uint64_t offset,
                                 size_t len)
{
    struct waiter w;
    waiter_init(&w, 1);
    struct read_slot s = {.w = &w, .offset = offset, .len = len};
    vdc_iscsi_reader_read(r, lun, offset, len, on_read, &s);
    assert_true(waiter_wait(&w));
    waiter_clear(&w);
    assert_int_equal(s.calls, 1);
    s.w = NULL;
    return s;
}

static struct seek_slot seek_one(struct vdc_iscsi_reader *r, unsigned lun, uint64_t offset,
                                 int whence)
{
    struct waiter w;
    waiter_init(&w, 1);
    struct seek_slot s = {.w = &w};
    vdc_iscsi_reader_seek(r, lun, offset, whence, on_seek, &s);
    assert_true(waiter_wait(&w));
    waiter_clear(&w);
    assert_int_equal(s.calls, 1);
    s.w = NULL;
    return s;
}

/* --- login ------------------------------------------------------------ */

static void test_login_ok(void **state)
{
    (void)state;
    NEED_TGT();
    struct vdc_iscsi *s = login_ok(&shared, 10);
    vdc_iscsi_logout(s);
}

static void test_login_bad_portal(void **state)
{
    (void)state;
    NEED_TGT();
    /* Nothing listens on port 1. */
    struct vdc_iscsi_target t = {.portal = "127.0.0.1:1", .iqn = IQN};
    g_autofree char *err = NULL;
    assert_null(vdc_iscsi_login(&t, 5, &err));
    assert_non_null(err);
    assert_null(strchr(err, '\n'));
    print_message("bad portal: %s\n", err);
}

static void test_login_bad_iqn(void **state)
{
    (void)state;
    NEED_TGT();
    struct vdc_iscsi_target t = {.portal = shared.portal, .iqn = "iqn.2024-01.org.vdcfs:nope"};
    g_autofree char *err = NULL;
    assert_null(vdc_iscsi_login(&t, 5, &err));
    assert_non_null(err);
    assert_non_null(strstr(err, "iqn.2024-01.org.vdcfs:nope"));
    print_message("bad iqn: %s\n", err);
}

static void test_login_chap(void **state)
{
    struct tgt_fixture *f = *state;
    if (!f)
        skip();
    assert_int_equal(tgt_fixture_tgtadm(f, "--lld", "iscsi", "--mode", "account", "--op", "new",
                                        "--user", "u1", "--password", "secretpass12", NULL),
                     0);
    assert_int_equal(tgt_fixture_tgtadm(f, "--lld", "iscsi", "--mode", "account", "--op", "bind",
                                        "--tid", "1", "--user", "u1", NULL),
                     0);
    struct vdc_iscsi_target t = target_of(f);
    g_autofree char *err = NULL;
    assert_null(vdc_iscsi_login(&t, 5, &err));
    assert_non_null(err);
    print_message("without CHAP: %s\n", err);
    g_clear_pointer(&err, g_free);

    t.chap_user = "u1";
    t.chap_password = "wrongpass1234";
    assert_null(vdc_iscsi_login(&t, 5, &err));
    assert_non_null(err);
    assert_null(strstr(err, "wrongpass1234"));
    assert_null(strstr(err, "secretpass12"));
    print_message("wrong CHAP: %s\n", err);
    g_clear_pointer(&err, g_free);

    t.chap_password = "secretpass12";
    struct vdc_iscsi *s = vdc_iscsi_login(&t, 5, &err);
    if (!s)
        fail_msg("CHAP login: %s", err);
    g_autoptr(GArray) luns = NULL;
    assert_int_equal(vdc_iscsi_report_luns(s, &luns, &err), 0);
    assert_int_equal(luns->len, 4);
    vdc_iscsi_logout(s);

    /* The reader logs in with CHAP too. */
    write_backing(f, 1, 0, 4096, 11);
    struct vdc_iscsi_reader *r = vdc_iscsi_reader_start(&t, 10);
    struct read_slot got = read_one(r, 1, 0, 4096);
    assert_int_equal(got.err, 0);
    assert_int_equal(got.got, 4096);
    size_t size;
    g_autofree guint8 *file = read_backing(f, 1, &size);
    assert_memory_equal(got.data, file, 4096);
    g_free(got.data);
    vdc_iscsi_reader_stop(r);

    /* ... and without it fails cleanly. */
    struct vdc_iscsi_target bare = target_of(f);
    r = vdc_iscsi_reader_start(&bare, 5);
    got = read_one(r, 1, 0, 4096);
    assert_int_equal(got.err, -EIO);
    vdc_iscsi_reader_stop(r);
}

/* --- inventory and facts ---------------------------------------------- */

static void test_report_luns(void **state)
{
    (void)state;
    NEED_TGT();
    struct vdc_iscsi *s = login_ok(&shared, 10);
    g_autoptr(GArray) luns = NULL;
    g_autofree char *err = NULL;
    assert_int_equal(vdc_iscsi_report_luns(s, &luns, &err), 0);
    assert_int_equal(luns->len, 4);
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(g_array_index(luns, unsigned, i), i);
    vdc_iscsi_logout(s);
}

static void test_facts_disk(void **state)
{
    (void)state;
    NEED_TGT();
    struct vdc_iscsi *s = login_ok(&shared, 10);
    struct vdc_lun_facts *f = NULL;
    g_autofree char *err = NULL;
    if (vdc_iscsi_lun_facts(s, 2, &f, &err) < 0)
        fail_msg("facts: %s", err);
    assert_int_equal(f->lun, 2);
    assert_int_equal(f->peripheral_type, 0);
    assert_int_equal(f->capacity, lun_sizes[1]);
    assert_int_equal(f->block_size, 512);
    assert_string_equal(f->vendor, "IET");
    assert_string_equal(f->product, "VIRTUAL-DISK");
    assert_non_null(f->revision);
    assert_non_null(f->wwn);
    assert_true(g_str_has_prefix(f->wwn, "naa.") || g_str_has_prefix(f->wwn, "t10.") ||
                g_str_has_prefix(f->wwn, "eui."));
    assert_non_null(f->serial);
    assert_true(*f->serial && !g_ascii_isspace(f->serial[0]));
    assert_true(f->thin_provisioned);
    assert_false(f->write_protected);
    /* tgt reports a rotation rate of 0, "not reported". */
    assert_int_equal(f->media, VDC_MEDIA_UNKNOWN);
    assert_string_equal(vdc_media_word(f->media), "unknown");
    print_message("LUN 2: wwn %s serial %s rev %s allocated %s %" PRIu64 "\n", f->wwn, f->serial,
                  f->revision, f->allocated_known ? "known" : "unknown", f->allocated);
    /* Another LUN has another name. */
    struct vdc_lun_facts *g = NULL;
    assert_int_equal(vdc_iscsi_lun_facts(s, 3, &g, &err), 0);
    assert_string_not_equal(f->wwn, g->wwn);
    assert_int_equal(g->capacity, lun_sizes[2]);
    vdc_lun_facts_free(g);
    vdc_lun_facts_free(f);
    vdc_iscsi_logout(s);
}

static void test_facts_controller(void **state)
{
    (void)state;
    NEED_TGT();
    struct vdc_iscsi *s = login_ok(&shared, 10);
    struct vdc_lun_facts *f = NULL;
    g_autofree char *err = NULL;
    if (vdc_iscsi_lun_facts(s, 0, &f, &err) < 0)
        fail_msg("facts: %s", err);
    assert_int_equal(f->peripheral_type, 0x0c);
    assert_string_equal(f->vendor, "IET");
    assert_int_equal(f->capacity, 0);
    assert_false(f->allocated_known);
    vdc_lun_facts_free(f);
    /* A LUN that is not there is an error, and the session lives on. */
    assert_int_equal(vdc_iscsi_lun_facts(s, 9, &f, &err), -1);
    assert_non_null(err);
    print_message("LUN 9: %s\n", err);
    g_clear_pointer(&err, g_free);
    g_autoptr(GArray) luns = NULL;
    assert_int_equal(vdc_iscsi_report_luns(s, &luns, &err), 0);
    vdc_iscsi_logout(s);
}

/* GET LBA STATUS walks: what the LUN says is mapped follows what is
 * written to the backing file. */
static void test_facts_allocated(void **state)
{
    struct tgt_fixture *f = *state;
    if (!f)
        skip();
    struct vdc_iscsi *s = login_ok(f, 10);
    struct vdc_lun_facts *before = NULL, *after = NULL;
    g_autofree char *err = NULL;
    assert_int_equal(vdc_iscsi_lun_facts(s, 1, &before, &err), 0);
    if (!before->allocated_known) {
        /* Not every tgt build answers GET LBA STATUS. */
        print_message("tgt does not answer GET LBA STATUS: allocated unknown\n");
        vdc_lun_facts_free(before);
        vdc_iscsi_logout(s);
            return;
    }
    write_backing(f, 1, 4 * MIB, MIB, 7);
    assert_int_equal(vdc_iscsi_lun_facts(s, 1, &after, &err), 0);
    assert_true(after->allocated_known);
    print_message("allocated: %" PRIu64 " -> %" PRIu64 "\n", before->allocated,
                  after->allocated);
    assert_true(after->allocated > before->allocated);
    assert_true(after->allocated >= MIB);
    assert_true(after->allocated < after->capacity);
    vdc_lun_facts_free(before);
    vdc_lun_facts_free(after);
    vdc_iscsi_logout(s);
}

static void test_facts_write_protected(void **state)
{
    struct tgt_fixture *f = *state;
    if (!f)
        skip();
    assert_int_equal(tgt_fixture_tgtadm(f, "--lld", "iscsi", "--mode", "logicalunit", "--op",
                                        "update", "--tid", "1", "--lun", "2", "--params",
                                        "readonly=1", NULL),
                     0);
    struct vdc_iscsi *s = login_ok(f, 10);
    struct vdc_lun_facts *ro = NULL, *rw = NULL;
    g_autofree char *err = NULL;
    assert_int_equal(vdc_iscsi_lun_facts(s, 2, &ro, &err), 0);
    assert_int_equal(vdc_iscsi_lun_facts(s, 1, &rw, &err), 0);
    assert_true(ro->write_protected);
    assert_false(rw->write_protected);
    vdc_lun_facts_free(ro);
    vdc_lun_facts_free(rw);
    vdc_iscsi_logout(s);
}

static void test_sync_read(void **state)
{
    (void)state;
    NEED_TGT();
    write_backing(&shared, 3, 0, 3 * MIB, 21);
    write_backing(&shared, 3, lun_sizes[2] - 4096, 4096, 22);
    size_t size;
    g_autofree guint8 *file = read_backing(&shared, 3, &size);
    assert_int_equal(size, lun_sizes[2]);
    struct vdc_iscsi *s = login_ok(&shared, 10);
    g_autofree char *err = NULL;
    /* More than one command's worth, and the very end of the LUN. */
    g_autofree guint8 *buf = g_malloc(3 * MIB);
    assert_int_equal(vdc_iscsi_read(s, 3, 512, buf, 3 * MIB - 1024, &err), 0);
    assert_memory_equal(buf, file + 512, 3 * MIB - 1024);
    assert_int_equal(vdc_iscsi_read(s, 3, size - 8192, buf, 8192, &err), 0);
    assert_memory_equal(buf, file + size - 8192, 8192);
    /* Unaligned: refused, the session lives on. */
    assert_int_equal(vdc_iscsi_read(s, 3, 100, buf, 512, &err), -1);
    assert_non_null(err);
    g_clear_pointer(&err, g_free);
    assert_int_equal(vdc_iscsi_read(s, 3, 0, buf, 512, &err), 0);
    assert_memory_equal(buf, file, 512);
    vdc_iscsi_logout(s);
}

/* --- the reader ------------------------------------------------------- */

/* Many reads at once, of random places and sizes (unaligned ones, ones
 * that run past the end, ones that start past it), each compared with
 * the backing file. */
static void test_reader_concurrent(void **state)
{
    (void)state;
    NEED_TGT();
    /* LUN 3: data with holes between. */
    write_backing(&shared, 3, 0, 2 * MIB, 31);
    write_backing(&shared, 3, 3 * MIB + 123 * 512, MIB + 7 * 512, 32);
    write_backing(&shared, 3, lun_sizes[2] - 3 * MIB, 3 * MIB, 33);
    size_t size;
    g_autofree guint8 *file = read_backing(&shared, 3, &size);
    struct vdc_iscsi_target t = target_of(&shared);
    struct vdc_iscsi_reader *r = vdc_iscsi_reader_start(&t, 10);

    enum { N = 300 };
    struct read_slot *slots = g_new0(struct read_slot, N);
    struct waiter w;
    waiter_init(&w, N);
    GRand *rnd = g_rand_new_with_seed(42);
    for (int i = 0; i < N; i++) {
        uint64_t off;
        size_t len;
        switch (i % 6) {
        case 0: /* anywhere, any length up to 3 MiB */
            off = (uint64_t)g_rand_int_range(rnd, 0, (gint32)size);
            len = (size_t)g_rand_int_range(rnd, 1, 3 * MIB);
            break;
        case 1: /* small and unaligned */
            off = (uint64_t)g_rand_int_range(rnd, 0, (gint32)size);
            len = (size_t)g_rand_int_range(rnd, 1, 1500);
            break;
        case 2: /* aligned, a FUSE-sized read */
            off = (uint64_t)g_rand_int_range(rnd, 0, (gint32)(size / 4096)) * 4096;
            len = 128 * 1024;
            break;
        case 3: /* across the end */
            off = size - (uint64_t)g_rand_int_range(rnd, 1, 100000);
            len = (size_t)g_rand_int_range(rnd, 1, 300000);
            break;
        case 4: /* at or past the end */
            off = size + (uint64_t)g_rand_int_range(rnd, 0, 3) * 777;
            len = 4096;
            break;
        default: /* zero length */
            off = (uint64_t)g_rand_int_range(rnd, 0, (gint32)size);
            len = 0;
            break;
        }
        slots[i] = (struct read_slot){.w = &w, .offset = off, .len = len};
        vdc_iscsi_reader_read(r, 3, off, len, on_read, &slots[i]);
    }
    g_rand_free(rnd);
    assert_true(waiter_wait(&w));
    for (int i = 0; i < N; i++) {
        struct read_slot *s = &slots[i];
        assert_int_equal(s->calls, 1);
        assert_int_equal(s->err, 0);
        size_t expect = s->offset >= size ? 0 : MIN(s->len, size - s->offset);
        assert_int_equal(s->got, expect);
        if (expect)
            assert_memory_equal(s->data, file + s->offset, expect);
        g_free(s->data);
    }
    g_free(slots);
    waiter_clear(&w);
    vdc_iscsi_reader_stop(r);
}

/* Reads whose callback queues the next read, as a streaming FUSE reader
 * does; and a whole LUN read that way. */
struct chain {
    struct vdc_iscsi_reader *r;
    struct waiter *w;
    guint8 *copy;
    uint64_t next, size;
    int err;
};

static void on_chain_read(void *ctx, int err, const void *data, size_t len)
{
    struct chain *c = ctx;
    if (err || len == 0) {
        c->err = err;
        waiter_done(c->w);
        return;
    }
    memcpy(c->copy + c->next, data, len);
    c->next += len;
    vdc_iscsi_reader_read(c->r, 2, c->next, 3 * MIB + 17, on_chain_read, c);
}

static void test_reader_chained(void **state)
{
    (void)state;
    NEED_TGT();
    write_backing(&shared, 2, MIB, 5 * MIB, 41);
    size_t size;
    g_autofree guint8 *file = read_backing(&shared, 2, &size);
    struct vdc_iscsi_target t = target_of(&shared);
    struct waiter w;
    waiter_init(&w, 1);
    struct chain c = {.w = &w, .copy = g_malloc0(size), .size = size};
    c.r = vdc_iscsi_reader_start(&t, 10);
    vdc_iscsi_reader_read(c.r, 2, 0, 3 * MIB + 17, on_chain_read, &c);
    assert_true(waiter_wait(&w));
    assert_int_equal(c.err, 0);
    assert_int_equal(c.next, size);
    assert_memory_equal(c.copy, file, size);
    g_free(c.copy);
    waiter_clear(&w);
    vdc_iscsi_reader_stop(c.r);
}

/* SEEK_DATA / SEEK_HOLE answered from GET LBA STATUS match lseek(2) on
 * the backing file (tgt answers from SEEK_DATA/SEEK_HOLE on that file;
 * the extents are 4 KiB aligned here, so the answers match exactly). */
static void test_reader_seek(void **state)
{
    struct tgt_fixture *f = *state;
    if (!f)
        skip();
    uint64_t size = lun_sizes[0];
    write_backing(f, 1, 4 * MIB, MIB, 51);
    write_backing(f, 1, 20 * MIB + 4096, 8192, 52);
    write_backing(f, 1, size - 64 * 1024, 64 * 1024, 53);

    /* Facts first: does this tgt answer GET LBA STATUS at all? */
    struct vdc_iscsi *s = login_ok(f, 10);
    struct vdc_lun_facts *facts = NULL;
    g_autofree char *err = NULL;
    assert_int_equal(vdc_iscsi_lun_facts(s, 1, &facts, &err), 0);
    bool lba_status = facts->allocated_known;
    vdc_lun_facts_free(facts);
    vdc_iscsi_logout(s);

    g_autofree char *path = backing_path(f, 1);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    struct vdc_iscsi_target t = target_of(f);
    struct vdc_iscsi_reader *r = vdc_iscsi_reader_start(&t, 10);
    const uint64_t probes[] = {0,
                               512,
                               4 * MIB - 1,
                               4 * MIB,
                               4 * MIB + 100,
                               5 * MIB - 1,
                               5 * MIB,
                               12 * MIB + 3,
                               20 * MIB,
                               20 * MIB + 4096 + 5,
                               20 * MIB + 3 * 4096,
                               size - 64 * 1024 - 1,
                               size - 64 * 1024,
                               size - 1};
    for (size_t i = 0; i < G_N_ELEMENTS(probes); i++)
        for (int k = 0; k < 2; k++) {
            int whence = k ? SEEK_HOLE : SEEK_DATA;
            off_t want = lseek(fd, (off_t)probes[i], whence);
            struct seek_slot got = seek_one(r, 1, probes[i], whence);
            if (!lba_status) {
                /* All data: the offset itself, or the end. */
                assert_int_equal(got.err, 0);
                assert_int_equal(got.result, whence == SEEK_DATA ? probes[i] : size);
                continue;
            }
            if (want < 0) {
                assert_int_equal(got.err, -ENXIO);
            } else {
                if (got.err != 0 || got.result != (uint64_t)want)
                    fail_msg("%s from %" PRIu64 ": got %d/%" PRIu64 ", lseek says %lld",
                             k ? "SEEK_HOLE" : "SEEK_DATA", probes[i], got.err, got.result,
                             (long long)want);
            }
        }
    /* At or past the end: ENXIO for both. */
    assert_int_equal(seek_one(r, 1, size, SEEK_DATA).err, -ENXIO);
    assert_int_equal(seek_one(r, 1, size + 4096, SEEK_HOLE).err, -ENXIO);
    /* A bad whence is a bad request. */
    assert_int_equal(seek_one(r, 1, 0, SEEK_SET).err, -EINVAL);
    close(fd);
    vdc_iscsi_reader_stop(r);
}

static void test_reader_bad_lun(void **state)
{
    (void)state;
    NEED_TGT();
    struct vdc_iscsi_target t = target_of(&shared);
    struct vdc_iscsi_reader *r = vdc_iscsi_reader_start(&t, 10);
    assert_int_equal(read_one(r, 9, 0, 4096).err, -EIO);
    assert_int_equal(seek_one(r, 9, 0, SEEK_DATA).err, -EIO);
    /* The controller LUN has no blocks to read. */
    assert_int_equal(read_one(r, 0, 0, 512).err, -EIO);
    /* ... and the session is fine for a real LUN after that. */
    struct read_slot ok = read_one(r, 2, 0, 512);
    assert_int_equal(ok.err, 0);
    assert_int_equal(ok.got, 512);
    g_free(ok.data);
    vdc_iscsi_reader_stop(r);
}

static void test_reader_no_target(void **state)
{
    (void)state;
    NEED_TGT();
    struct vdc_iscsi_target t = {.portal = "127.0.0.1:1", .iqn = IQN};
    struct vdc_iscsi_reader *r = vdc_iscsi_reader_start(&t, 5);
    assert_int_equal(read_one(r, 1, 0, 4096).err, -EIO);
    assert_int_equal(seek_one(r, 1, 0, SEEK_HOLE).err, -EIO);
    vdc_iscsi_reader_stop(r);
    /* A reader that never had a request stops too. */
    vdc_iscsi_reader_stop(vdc_iscsi_reader_start(&t, 5));
}

/* A LUN added while a session is up (as the array driver does for a
 * snapshot): the target raises a UNIT ATTENTION, which is retried, and
 * the new LUN is readable. */
static void test_lun_added_while_up(void **state)
{
    struct tgt_fixture *f = *state;
    if (!f)
        skip();
    struct vdc_iscsi *s = login_ok(f, 10);
    struct vdc_iscsi_target t = target_of(f);
    struct vdc_iscsi_reader *r = vdc_iscsi_reader_start(&t, 10);
    struct read_slot got = read_one(r, 1, 0, 4096);
    assert_int_equal(got.err, 0);
    g_free(got.data);

    g_autofree char *path = g_strdup_printf("%s/lun4.img", f->backing_dir);
    int fd = open(path, O_CREAT | O_RDWR, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 4 * MIB), 0);
    close(fd);
    assert_int_equal(tgt_fixture_tgtadm(f, "--lld", "iscsi", "--mode", "logicalunit", "--op",
                                        "new", "--tid", "1", "--lun", "4", "-b", path, NULL),
                     0);
    write_backing(f, 4, 8192, 4096, 61);

    g_autoptr(GArray) luns = NULL;
    g_autofree char *err = NULL;
    if (vdc_iscsi_report_luns(s, &luns, &err) < 0)
        fail_msg("REPORT LUNS after a new LUN: %s", err);
    assert_int_equal(luns->len, 5);
    got = read_one(r, 1, 0, 4096);
    assert_int_equal(got.err, 0);
    g_free(got.data);
    got = read_one(r, 4, 8192, 4096);
    assert_int_equal(got.err, 0);
    size_t size;
    g_autofree guint8 *file = read_backing(f, 4, &size);
    assert_memory_equal(got.data, file + 8192, 4096);
    g_free(got.data);
    vdc_iscsi_reader_stop(r);
    vdc_iscsi_logout(s);
}

/* --- a target that stops answering ------------------------------------ */

/* SIGSTOP keeps the TCP connections open but answers nothing: only a
 * timeout ends the wait. */
static void test_sync_timeout(void **state)
{
    struct tgt_fixture *f = *state;
    if (!f)
        skip();
    struct vdc_iscsi *s1 = login_ok(f, SHORT_TIMEOUT_S);
    struct vdc_iscsi *s2 = login_ok(f, SHORT_TIMEOUT_S);
    assert_int_equal(kill(f->pid, SIGSTOP), 0);

    g_autoptr(GArray) luns = NULL;
    g_autofree char *err = NULL;
    assert_int_equal(vdc_iscsi_report_luns(s1, &luns, &err), -1);
    assert_non_null(err);
    print_message("stopped target, REPORT LUNS: %s\n", err);
    g_clear_pointer(&err, g_free);
    /* The session is dead now: calls fail at once. */
    assert_int_equal(vdc_iscsi_report_luns(s1, &luns, &err), -1);
    g_clear_pointer(&err, g_free);

    struct vdc_lun_facts *facts = NULL;
    assert_int_equal(vdc_iscsi_lun_facts(s2, 1, &facts, &err), -1);
    assert_non_null(err);
    print_message("stopped target, facts: %s\n", err);
    g_clear_pointer(&err, g_free);

    struct vdc_iscsi_target t = target_of(f);
    assert_null(vdc_iscsi_login(&t, SHORT_TIMEOUT_S, &err));
    assert_non_null(err);
    print_message("stopped target, login: %s\n", err);

    /* A reader's lazy login meets the same silence. */
    struct vdc_iscsi_reader *r = vdc_iscsi_reader_start(&t, SHORT_TIMEOUT_S);
    assert_int_equal(read_one(r, 1, 0, 4096).err, -EIO);
    vdc_iscsi_reader_stop(r);

    /* Logging out of dead sessions does not wait on the target. */
    vdc_iscsi_logout(s1);
    vdc_iscsi_logout(s2);
    assert_int_equal(kill(f->pid, SIGCONT), 0);
}

static void test_reader_timeout(void **state)
{
    struct tgt_fixture *f = *state;
    if (!f)
        skip();
    write_backing(f, 1, 0, MIB, 71);
    struct vdc_iscsi_target t = target_of(f);
    struct vdc_iscsi_reader *r = vdc_iscsi_reader_start(&t, SHORT_TIMEOUT_S);
    struct read_slot got = read_one(r, 1, 0, MIB);
    assert_int_equal(got.err, 0);
    g_free(got.data);

    /* Stopped: reads and lookups queued meanwhile fail with EIO. */
    assert_int_equal(kill(f->pid, SIGSTOP), 0);
    enum { N = 8 };
    struct read_slot slots[N];
    struct seek_slot seek;
    struct waiter w;
    waiter_init(&w, N + 1);
    for (int i = 0; i < N; i++) {
        slots[i] = (struct read_slot){.w = &w};
        vdc_iscsi_reader_read(r, 1, (uint64_t)i * 3 * MIB, 3 * MIB, on_read, &slots[i]);
    }
    seek = (struct seek_slot){.w = &w};
    vdc_iscsi_reader_seek(r, 1, 0, SEEK_DATA, on_seek, &seek);
    assert_true(waiter_wait(&w));
    waiter_clear(&w);
    for (int i = 0; i < N; i++) {
        assert_int_equal(slots[i].calls, 1);
        assert_int_equal(slots[i].err, -EIO);
    }
    assert_int_equal(seek.calls, 1);
    assert_int_equal(seek.err, -EIO);

    /* Back again: the reader logs in anew (after its short backoff). */
    assert_int_equal(kill(f->pid, SIGCONT), 0);
    int err = -EIO;
    for (int tries = 0; tries < 50 && err; tries++) {
        got = read_one(r, 1, 4096, 4096);
        err = got.err;
        g_free(got.data);
        if (err)
            g_usleep(200 * 1000);
    }
    assert_int_equal(err, 0);

    /* Stopped again, with requests pending: stop answers them all and
     * returns (it does not wait for the target). */
    assert_int_equal(kill(f->pid, SIGSTOP), 0);
    waiter_init(&w, N);
    for (int i = 0; i < N; i++) {
        slots[i] = (struct read_slot){.w = &w};
        vdc_iscsi_reader_read(r, 1, (uint64_t)i * MIB, MIB, on_read, &slots[i]);
    }
    vdc_iscsi_reader_stop(r);
    assert_true(waiter_wait(&w));
    waiter_clear(&w);
    for (int i = 0; i < N; i++) {
        assert_int_equal(slots[i].calls, 1);
        assert_true(slots[i].err == -ESHUTDOWN || slots[i].err == -EIO);
    }
    assert_int_equal(kill(f->pid, SIGCONT), 0);
}

/* The target killed under reads in flight: they fail with EIO (no
 * SIGPIPE, no hang) and later requests fail fast. */
static void test_reader_target_killed(void **state)
{
    struct tgt_fixture *f = *state;
    if (!f)
        skip();
    struct vdc_iscsi_target t = target_of(f);
    struct vdc_iscsi_reader *r = vdc_iscsi_reader_start(&t, 10);
    struct read_slot got = read_one(r, 1, 0, 4096);
    assert_int_equal(got.err, 0);
    g_free(got.data);

    enum { N = 64 };
    struct read_slot *slots = g_new0(struct read_slot, N);
    struct waiter w;
    waiter_init(&w, N);
    for (int i = 0; i < N; i++) {
        slots[i] = (struct read_slot){.w = &w};
        vdc_iscsi_reader_read(r, 1, (uint64_t)(i % 16) * 4 * MIB, 4 * MIB, on_read, &slots[i]);
    }
    tgt_fixture_kill(f);
    assert_true(waiter_wait(&w));
    int failed = 0;
    for (int i = 0; i < N; i++) {
        assert_int_equal(slots[i].calls, 1);
        assert_true(slots[i].err == 0 || slots[i].err == -EIO);
        failed += slots[i].err != 0;
        g_free(slots[i].data);
    }
    print_message("killed under %d reads: %d failed\n", N, failed);
    waiter_clear(&w);
    g_free(slots);
    assert_int_equal(read_one(r, 1, 0, 4096).err, -EIO);
    vdc_iscsi_reader_stop(r);
}

/* Stop with many requests queued and in flight on a healthy target:
 * every callback runs exactly once, before stop returns. */
static void test_reader_stop_pending(void **state)
{
    (void)state;
    NEED_TGT();
    struct vdc_iscsi_target t = target_of(&shared);
    for (int round = 0; round < 3; round++) {
        struct vdc_iscsi_reader *r = vdc_iscsi_reader_start(&t, 10);
        if (round > 0) { /* with a session up, and without */
            struct read_slot got = read_one(r, 1, 0, 4096);
            assert_int_equal(got.err, 0);
            g_free(got.data);
        }
        enum { N = 100 };
        struct read_slot *slots = g_new0(struct read_slot, N);
        struct waiter w;
        waiter_init(&w, N);
        for (int i = 0; i < N; i++) {
            slots[i] = (struct read_slot){.w = &w};
            vdc_iscsi_reader_read(r, 1 + (unsigned)(i % 2), (uint64_t)(i % 8) * MIB, 2 * MIB,
                                  on_read, &slots[i]);
        }
        if (round == 2)
            g_usleep(20 * 1000); /* some answered, some in flight */
        vdc_iscsi_reader_stop(r);
        /* Everything was answered by the time stop returned. */
        g_mutex_lock(&w.lock);
        assert_int_equal(w.pending, 0);
        g_mutex_unlock(&w.lock);
        for (int i = 0; i < N; i++) {
            assert_int_equal(slots[i].calls, 1);
            assert_true(slots[i].err == 0 || slots[i].err == -ESHUTDOWN);
            g_free(slots[i].data);
        }
        waiter_clear(&w);
        g_free(slots);
    }
}

/* A test with a tgtd of its own. */
#define PRIVATE(test)                                                                             \
    cmocka_unit_test_setup_teardown(test, private_array_setup, private_array_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_login_ok),
        cmocka_unit_test(test_login_bad_portal),
        cmocka_unit_test(test_login_bad_iqn),
        PRIVATE(test_login_chap),
        cmocka_unit_test(test_report_luns),
        cmocka_unit_test(test_facts_disk),
        cmocka_unit_test(test_facts_controller),
        PRIVATE(test_facts_allocated),
        PRIVATE(test_facts_write_protected),
        cmocka_unit_test(test_sync_read),
        cmocka_unit_test(test_reader_concurrent),
        cmocka_unit_test(test_reader_chained),
        PRIVATE(test_reader_seek),
        cmocka_unit_test(test_reader_bad_lun),
        cmocka_unit_test(test_reader_no_target),
        PRIVATE(test_lun_added_while_up),
        PRIVATE(test_sync_timeout),
        PRIVATE(test_reader_timeout),
        PRIVATE(test_reader_target_killed),
        cmocka_unit_test(test_reader_stop_pending),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
