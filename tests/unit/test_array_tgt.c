/* test_array_tgt.c — the tgt array driver (array.h) against a private,
 * real tgtd (tgt_fixture.h; needs root), run twice: on a plain directory
 * under /tmp (no reflink: the sparse copy) and on a loop-mounted XFS with
 * reflink (FICLONE).  Each test gets a fresh tgtd whose target has LUN 1
 * (64 MiB, 1 MiB of data at 8 MiB, the rest a hole) and LUN 2 (16 MiB).
 * A few tests of the output parser run against a fake tgtadm. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "array.h"
#include "tgt_fixture.h"

#define MIB ((uint64_t)1 << 20)
#define LUN1_SIZE (64 * MIB)
#define LUN2_SIZE (16 * MIB)
#define DATA_OFF (8 * MIB)  /* LUN 1's data: [8 MiB, 9 MiB) */
#define HOLE_OFF (40 * MIB) /* a hole in LUN 1 */
#define IQN "iqn.2026-01.org.example.vdcfs:array1"
#define PASSWORD "not-to-be-seen-7f3a"

typedef struct array_conn Conn;
static void conn_close(Conn *c)
{
    array_tgt_ops.close(c);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Conn, conn_close)
typedef struct array_lun Lun;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Lun, array_lun_free)

/* One run of the tests: where the backing files live. */
struct group {
    const char *label;
    char *mnt; /* the XFS mount; NULL: a directory under the fixture's own */
    bool cow;  /* snapshots are expected to be copy-on-write */
    unsigned runs;
};

struct t {
    struct group *g;
    struct tgt_fixture f;
    char *bdir;       /* our directory on the XFS mount, or NULL */
    char *lun1;       /* backing file of LUN 1 */
    char *snap_dir;   /* backing_dir/.vdcfs-snapshots */
    struct vdc_array_config cfg;
    Conn *c;
};

/* --- helpers ----------------------------------------------------------- */

static int run(char **argv)
{
    int status = -1;
    if (!g_spawn_sync(NULL, argv, NULL,
                      G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
                      NULL, NULL, NULL, NULL, &status, NULL))
        return -1;
    return g_spawn_check_wait_status(status, NULL) ? 0 : -1;
}

static void remove_tree(const char *path)
{
    char *argv[] = {"rm", "-rf", "--one-file-system", (char *)path, NULL};
    run(argv);
}

/* `tgtadm --mode target --op show` of the fixture. */
static char *show(const struct tgt_fixture *f)
{
    g_autofree char *port = g_strdup_printf("%u", f->control_port);
    char *argv[] = {"tgtadm", "-C",   port,     "--lld", "iscsi", "--mode",
                    "target", "--op", "show",   NULL};
    char *out = NULL;
    assert_true(g_spawn_sync(NULL, argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL,
                             NULL, NULL, &out, NULL, NULL, NULL));
    return out;
}

/* The lines that show() prints for LUN @lun; "" when it has none. */
static char *lun_block(const struct tgt_fixture *f, unsigned lun)
{
    g_autofree char *all = show(f);
    g_autofree char *head = g_strdup_printf("        LUN: %u\n", lun);
    const char *p = strstr(all, head);
    if (!p)
        return g_strdup("");
    p += strlen(head);
    const char *end = strstr(p, "        LUN: ");
    if (!end)
        end = strstr(p, "    Account information:");
    return g_strndup(p, end ? (size_t)(end - p) : strlen(p));
}

static void write_pattern(const char *path, uint64_t off, uint64_t len, unsigned char seed)
{
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    g_autofree unsigned char *buf = g_malloc(len);
    for (uint64_t i = 0; i < len; i++)
        buf[i] = (unsigned char)(seed + i * 7 + (i >> 9));
    assert_int_equal(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
    close(fd);
}

static char *file_sha(const char *path)
{
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    g_autofree unsigned char *buf = g_malloc(MIB);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    for (ssize_t r; (r = read(fd, buf, MIB)) > 0;)
        g_checksum_update(sum, buf, r);
    close(fd);
    return g_strdup(g_checksum_get_string(sum));
}

static struct stat stat_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st;
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static char *snap_file(const struct t *t, const char *dir, const char *id)
{
    g_autofree char *name = g_strdup_printf("lun1.img@%s", id);
    return g_build_filename(t->f.backing_dir, dir, name, NULL);
}

static const struct array_lun *find(GPtrArray *luns, unsigned lun)
{
    for (guint i = 0; i < luns->len; i++) {
        const struct array_lun *l = g_ptr_array_index(luns, i);
        if (l->lun == lun)
            return l;
    }
    return NULL;
}

static GPtrArray *list(struct t *t)
{
    GPtrArray *luns = NULL;
    g_autofree char *err = NULL;
    if (t->c && array_tgt_ops.list_luns(t->c, &luns, &err) == 0)
        return luns;
    fail_msg("list_luns: %s", err);
    return NULL;
}

static struct array_lun *snapshot_ok(struct t *t, unsigned lun, const char *id)
{
    struct array_lun *s = NULL;
    g_autofree char *err = NULL;
    if (array_tgt_ops.snapshot(t->c, lun, id, &s, &err) < 0)
        fail_msg("snapshot: %s", err);
    return s;
}

/* Files in the snapshot directory (none if it does not exist). */
static unsigned count_files(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    unsigned n = 0;
    while (d && g_dir_read_name(d))
        n++;
    return n;
}

/* --- fixture ------------------------------------------------------------ */

static int setup(void **state)
{
    struct t *t = g_new0(struct t, 1);
    t->g = *state;
    const uint64_t sizes[] = {LUN1_SIZE, LUN2_SIZE};
    if (t->g->mnt) {
        t->bdir = g_strdup_printf("%s/t%u", t->g->mnt, t->g->runs++);
        g_mkdir_with_parents(t->bdir, 0700);
    }
    if (tgt_fixture_start(&t->f, IQN, t->bdir, sizes, 2) < 0) {
        tgt_fixture_stop(&t->f);
        g_free(t);
        return -1;
    }
    t->lun1 = g_build_filename(t->f.backing_dir, "lun1.img", NULL);
    t->snap_dir = g_build_filename(t->f.backing_dir, ".vdcfs-snapshots", NULL);
    write_pattern(t->lun1, DATA_OFF, MIB, 1);
    t->cfg = (struct vdc_array_config){.name = "array1",
                                       .driver = "tgt",
                                       .portal = t->f.portal,
                                       .target = IQN,
                                       .backing_dir = t->f.backing_dir,
                                       .chap_user = "user",
                                       .chap_password = PASSWORD,
                                       .control_port = t->f.control_port};
    g_autofree char *err = NULL;
    t->c = array_tgt_ops.open(&t->cfg, 10, &err);
    if (!t->c)
        fprintf(stderr, "open: %s\n", err);
    *state = t;
    return t->c ? 0 : -1;
}

static int teardown(void **state)
{
    struct t *t = *state;
    array_tgt_ops.close(t->c);
    tgt_fixture_stop(&t->f);
    if (t->bdir)
        remove_tree(t->bdir);
    g_free(t->bdir);
    g_free(t->lun1);
    g_free(t->snap_dir);
    g_free(t);
    return 0;
}

/* --- tests --------------------------------------------------------------- */

static void test_list_luns(void **state)
{
    struct t *t = *state;
    g_autoptr(GPtrArray) luns = list(t);
    assert_int_equal(luns->len, 3);
    const struct array_lun *ctl = g_ptr_array_index(luns, 0);
    assert_int_equal(ctl->lun, 0);
    assert_int_equal(ctl->role, ARRAY_LUN_CONTROLLER);
    assert_null(ctl->backing);
    const struct array_lun *l1 = find(luns, 1), *l2 = find(luns, 2);
    assert_non_null(l1);
    assert_non_null(l2);
    assert_int_equal(l1->role, ARRAY_LUN_DISK);
    assert_int_equal(l1->size, LUN1_SIZE);
    assert_int_equal(l2->size, LUN2_SIZE);
    assert_false(l1->readonly);
    assert_string_equal(l1->backing, t->lun1);
    assert_null(l1->id);
    assert_int_equal(l1->source_lun, 0);
}

static void test_snapshot(void **state)
{
    struct t *t = *state;
    g_autofree char *before = file_sha(t->lun1);
    g_autoptr(Lun) s = snapshot_ok(t, 1, "s1");
    g_autofree char *file = snap_file(t, ".vdcfs-snapshots", "s1");

    assert_int_equal(s->lun, 3);
    assert_int_equal(s->role, ARRAY_LUN_SNAPSHOT);
    assert_int_equal(s->source_lun, 1);
    assert_string_equal(s->id, "s1");
    assert_string_equal(s->backing, file);
    assert_true(s->readonly);
    assert_int_equal(s->size, LUN1_SIZE);
    assert_int_equal(s->cow, t->g->cow);

    /* The array itself says so. */
    g_autofree char *block = lun_block(&t->f, 3);
    g_autofree char *path_line = g_strdup_printf("Backing store path: %s\n", file);
    assert_non_null(strstr(block, "Readonly: Yes"));
    assert_non_null(strstr(block, "Online: Yes"));
    assert_non_null(strstr(block, "Thin-provisioning: Yes")); /* as the source */
    assert_non_null(strstr(block, path_line));

    /* Content at the instant; later writes to the source don't show. */
    g_autofree char *snap_sha = file_sha(file);
    assert_string_equal(snap_sha, before);
    write_pattern(t->lun1, DATA_OFF, MIB, 99);
    g_autofree char *after = file_sha(t->lun1);
    g_autofree char *snap_after = file_sha(file);
    assert_string_not_equal(after, before);
    assert_string_equal(snap_after, before);

    /* list_luns tells what it is, as a restart would see it. */
    g_autoptr(GPtrArray) luns = list(t);
    const struct array_lun *l = find(luns, 3);
    assert_non_null(l);
    assert_int_equal(l->role, ARRAY_LUN_SNAPSHOT);
    assert_int_equal(l->source_lun, 1);
    assert_string_equal(l->id, "s1");
    assert_true(l->readonly);
    assert_int_equal(l->cow, t->g->cow);
    g_autofree char *tmp = g_strconcat(file, ".tmp", NULL);
    assert_false(exists(tmp));

    /* The same id twice is refused; nothing new appears. */
    Lun *again = NULL;
    g_autofree char *err = NULL;
    assert_int_equal(array_tgt_ops.snapshot(t->c, 1, "s1", &again, &err), -1);
    assert_non_null(strstr(err, "already exists"));
    g_autoptr(GPtrArray) luns2 = list(t);
    assert_int_equal(luns2->len, 4);
}

static void test_snapshot_keeps_holes(void **state)
{
    struct t *t = *state;
    g_autoptr(Lun) s = snapshot_ok(t, 1, "sparse");
    struct stat st = stat_of(s->backing);
    assert_int_equal(st.st_size, LUN1_SIZE);
    /* 1 MiB of data in 64 MiB: a copy that filled the holes would use 64. */
    assert_true((uint64_t)st.st_blocks * 512 >= MIB);
    assert_true((uint64_t)st.st_blocks * 512 <= 4 * MIB);
    int fd = open(s->backing, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(lseek(fd, 0, SEEK_DATA), DATA_OFF);
    close(fd);
}

static void test_delete_snapshot(void **state)
{
    struct t *t = *state;
    g_autoptr(Lun) s = snapshot_ok(t, 1, "gone");
    g_autofree char *err = NULL;
    assert_int_equal(array_tgt_ops.delete_snapshot(t->c, s->lun, &err), 0);
    g_autofree char *block = lun_block(&t->f, s->lun);
    assert_string_equal(block, "");
    assert_false(exists(s->backing));

    /* Disks, the controller and LUNs that don't exist are refused. */
    g_clear_pointer(&err, g_free);
    assert_int_equal(array_tgt_ops.delete_snapshot(t->c, 1, &err), -1);
    assert_non_null(strstr(err, "array1: "));
    assert_non_null(strstr(err, "not a snapshot"));
    g_clear_pointer(&err, g_free);
    assert_int_equal(array_tgt_ops.delete_snapshot(t->c, 0, &err), -1);
    g_clear_pointer(&err, g_free);
    assert_int_equal(array_tgt_ops.delete_snapshot(t->c, 9, &err), -1);
    assert_non_null(strstr(err, "does not exist"));
    assert_true(exists(t->lun1));
    g_autoptr(GPtrArray) luns = list(t);
    assert_int_equal(luns->len, 3);
}

static void test_revert(void **state)
{
    struct t *t = *state;
    g_autofree char *before = file_sha(t->lun1);
    struct stat st0 = stat_of(t->lun1);
    g_autoptr(Lun) s = snapshot_ok(t, 1, "r1");

    write_pattern(t->lun1, DATA_OFF, MIB, 42);
    write_pattern(t->lun1, HOLE_OFF, 2 * MIB, 43);
    g_autofree char *changed = file_sha(t->lun1);
    assert_string_not_equal(changed, before);

    g_autofree char *err = NULL;
    if (array_tgt_ops.revert(t->c, 1, s->lun, &err) < 0)
        fail_msg("revert: %s", err);
    g_autofree char *after = file_sha(t->lun1);
    assert_string_equal(after, before);
    struct stat st1 = stat_of(t->lun1);
    assert_int_equal(st1.st_ino, st0.st_ino); /* in place: tgtd keeps its file */
    assert_int_equal(st1.st_size, LUN1_SIZE);
    /* The data written into the hole is gone, not just zeroed. */
    assert_true((uint64_t)st1.st_blocks * 512 <= 4 * MIB);
    g_autofree char *block = lun_block(&t->f, 1);
    assert_non_null(strstr(block, "Readonly: No"));

    /* Only a LUN's own snapshot, onto that LUN. */
    assert_int_equal(array_tgt_ops.revert(t->c, 2, s->lun, &err), -1);
    assert_non_null(strstr(err, "is not a snapshot of LUN 2"));
    g_clear_pointer(&err, g_free);
    assert_int_equal(array_tgt_ops.revert(t->c, 1, 2, &err), -1);
    assert_non_null(strstr(err, "LUN 2 is not a snapshot"));
    g_clear_pointer(&err, g_free);
    assert_int_equal(array_tgt_ops.revert(t->c, s->lun, s->lun, &err), -1);
    g_clear_pointer(&err, g_free);
}

static void test_clone(void **state)
{
    struct t *t = *state;
    g_autofree char *before = file_sha(t->lun1);
    g_autoptr(Lun) c = NULL;
    g_autofree char *err = NULL;
    if (array_tgt_ops.clone(t->c, 1, "c1", &c, &err) < 0)
        fail_msg("clone: %s", err);
    g_autofree char *file = snap_file(t, ".vdcfs-clones", "c1");
    assert_int_equal(c->role, ARRAY_LUN_CLONE);
    assert_false(c->readonly);
    assert_int_equal(c->source_lun, 1);
    assert_string_equal(c->id, "c1");
    assert_string_equal(c->backing, file);
    assert_int_equal(c->cow, t->g->cow);
    g_autofree char *block = lun_block(&t->f, c->lun);
    assert_non_null(strstr(block, "Readonly: No"));
    g_autofree char *sha = file_sha(file);
    assert_string_equal(sha, before);

    /* A snapshot of the clone is a snapshot of the clone's LUN. */
    g_autoptr(Lun) s = snapshot_ok(t, c->lun, "of-clone");
    assert_int_equal(s->source_lun, c->lun);
    assert_true(s->readonly);
    g_autoptr(GPtrArray) luns = list(t);
    assert_int_equal(find(luns, s->lun)->source_lun, c->lun);
    assert_int_equal(find(luns, c->lun)->role, ARRAY_LUN_CLONE);

    /* A snapshot of a snapshot is refused. */
    Lun *no = NULL;
    assert_int_equal(array_tgt_ops.snapshot(t->c, s->lun, "x", &no, &err), -1);
    g_clear_pointer(&err, g_free);

    assert_int_equal(array_tgt_ops.delete_snapshot(t->c, s->lun, &err), 0);
    assert_int_equal(array_tgt_ops.delete_snapshot(t->c, c->lun, &err), 0);
    assert_false(exists(file));
}

static void test_invalid_ids(void **state)
{
    struct t *t = *state;
    char long_id[66];
    memset(long_id, 'a', 65);
    long_id[65] = 0;
    const char *bad[] = {"../x", "", "a b", long_id, "a/b", "x\ny", "a@b", ".", NULL};
    for (size_t i = 0; bad[i]; i++) {
        Lun *out = NULL;
        g_autofree char *err = NULL;
        assert_int_equal(array_tgt_ops.snapshot(t->c, 1, bad[i], &out, &err), -1);
        assert_null(out);
        assert_non_null(strstr(err, "invalid id"));
        assert_null(strchr(err, '\n'));
        g_clear_pointer(&err, g_free);
        assert_int_equal(array_tgt_ops.clone(t->c, 1, bad[i], &out, &err), -1);
        assert_null(out);
    }
    Lun *out = NULL;
    g_autofree char *err = NULL;
    assert_int_equal(array_tgt_ops.snapshot(t->c, 1, NULL, &out, &err), -1);
    g_autoptr(GPtrArray) luns = list(t);
    assert_int_equal(luns->len, 3);
    assert_int_equal(count_files(t->snap_dir), 0);
    g_autofree char *escaped = g_build_filename(t->f.backing_dir, "x", NULL);
    assert_false(exists(escaped));

    long_id[64] = 0; /* 64 is the most */
    g_autoptr(Lun) s = snapshot_ok(t, 1, long_id);
    assert_string_equal(s->id, long_id);
}

static void test_open_wrong_target(void **state)
{
    struct t *t = *state;
    struct vdc_array_config cfg = t->cfg;
    cfg.target = "iqn.2026-01.org.example.vdcfs:nope";
    g_autofree char *err = NULL;
    assert_null(array_tgt_ops.open(&cfg, 5, &err));
    g_autofree char *want = g_strdup_printf("array1: target %s not found on tgtd (control port %u)",
                                            cfg.target, t->f.control_port);
    assert_string_equal(err, want);

    g_clear_pointer(&err, g_free);
    cfg = t->cfg;
    cfg.backing_dir = "/nonexistent/vdcfs";
    assert_null(array_tgt_ops.open(&cfg, 5, &err));
    assert_non_null(strstr(err, "array1: backing_dir /nonexistent/vdcfs"));
}

static void test_open_recovery(void **state)
{
    struct t *t = *state;
    g_autoptr(Lun) kept = snapshot_ok(t, 1, "kept");
    g_autoptr(Lun) lost = snapshot_ok(t, 2, "lost");
    g_autofree char *lun_s = g_strdup_printf("%u", kept->lun);
    /* As if vdcfs had crashed between rename and export... */
    assert_int_equal(tgt_fixture_tgtadm(&t->f, "--lld", "iscsi", "--mode", "logicalunit", "--op",
                                        "delete", "--tid", "1", "--lun", lun_s, NULL),
                     0);
    /* ... or while writing an image ... */
    g_autofree char *tmp = snap_file(t, ".vdcfs-snapshots", "half.tmp");
    g_file_set_contents(tmp, "x", 1, NULL);
    /* ... and as if a delete had removed a file but not its export. */
    assert_int_equal(unlink(lost->backing), 0);

    array_tgt_ops.close(t->c);
    g_autofree char *err = NULL;
    t->c = array_tgt_ops.open(&t->cfg, 10, &err);
    if (!t->c)
        fail_msg("open: %s", err);

    g_autoptr(GPtrArray) luns = list(t);
    const struct array_lun *again = NULL;
    for (guint i = 0; i < luns->len; i++) {
        const struct array_lun *l = g_ptr_array_index(luns, i);
        assert_true(l->id == NULL || strcmp(l->id, "lost") != 0);
        if (l->id && strcmp(l->id, "kept") == 0)
            again = l;
    }
    assert_non_null(again);
    assert_int_equal(again->role, ARRAY_LUN_SNAPSHOT);
    assert_int_equal(again->source_lun, 1);
    assert_true(again->readonly);
    g_autofree char *block = lun_block(&t->f, again->lun);
    assert_non_null(strstr(block, "Readonly: Yes"));
    g_autofree char *all = show(&t->f);
    assert_null(strstr(all, lost->backing));
    assert_false(exists(tmp));
}

static void test_dead_tgtd(void **state)
{
    struct t *t = *state;
    g_autoptr(Lun) s = snapshot_ok(t, 1, "before");
    tgt_fixture_kill(&t->f);

    g_autofree char *err = NULL;
    GPtrArray *luns = NULL;
    assert_int_equal(array_tgt_ops.list_luns(t->c, &luns, &err), -1);
    assert_non_null(strstr(err, "array1: cannot list LUNs: "));
    g_clear_pointer(&err, g_free);

    Lun *out = NULL;
    assert_int_equal(array_tgt_ops.snapshot(t->c, 1, "after", &out, &err), -1);
    assert_null(out);
    g_autofree char *after = snap_file(t, ".vdcfs-snapshots", "after");
    assert_false(exists(after));
    g_clear_pointer(&err, g_free);

    /* The snapshot made before goes all the same: its file is what makes
     * it exist, and the error says what could not be done. */
    assert_int_equal(array_tgt_ops.delete_snapshot(t->c, s->lun, &err), -1);
    assert_non_null(strstr(err, "did not remove the export"));
    assert_false(exists(s->backing));
    assert_int_equal(count_files(t->snap_dir), 0);
    g_clear_pointer(&err, g_free);

    uint64_t cap, alloc;
    assert_int_equal(array_tgt_ops.space(t->c, &cap, &alloc, &err), -1);
    g_clear_pointer(&err, g_free);

    assert_null(array_tgt_ops.open(&t->cfg, 5, &err));
    assert_non_null(strstr(err, "array1: tgtd does not answer on control port"));
}

static void test_stopped_tgtd(void **state)
{
    struct t *t = *state;
    g_autoptr(Lun) s = snapshot_ok(t, 1, "before");
    g_autofree char *err = NULL;
    g_autoptr(Conn) c = array_tgt_ops.open(&t->cfg, 2, &err);
    assert_non_null(c);

    kill(t->f.pid, SIGSTOP);
    GPtrArray *luns = NULL;
    int listed = array_tgt_ops.list_luns(c, &luns, &err);
    Lun *out = NULL;
    g_autofree char *err2 = NULL, *err3 = NULL;
    int snapped = array_tgt_ops.snapshot(c, 1, "during", &out, &err2);
    int deleted = array_tgt_ops.delete_snapshot(c, s->lun, &err3);
    kill(t->f.pid, SIGCONT);

    assert_int_equal(listed, -1);
    assert_non_null(strstr(err, "did not answer within 2 s"));
    assert_int_equal(snapped, -1);
    assert_null(out);
    assert_non_null(err2);
    g_autofree char *during = snap_file(t, ".vdcfs-snapshots", "during");
    assert_false(exists(during));
    assert_int_equal(deleted, -1);
    assert_false(exists(s->backing));

    /* Back to normal: no trace of either. */
    g_autoptr(GPtrArray) now = list(t);
    assert_int_equal(now->len, 3);
    assert_int_equal(count_files(t->snap_dir), 0);
    g_autoptr(Lun) s2 = snapshot_ok(t, 1, "after");
    g_autofree char *all = show(&t->f);
    assert_null(strstr(all, s->backing)); /* the stale export went */
}

static void test_space(void **state)
{
    struct t *t = *state;
    uint64_t cap = 0, alloc = 0;
    g_autofree char *err = NULL;
    assert_int_equal(array_tgt_ops.space(t->c, &cap, &alloc, &err), 0);
    assert_true(cap > 0);
    assert_true(alloc >= MIB);
    assert_true(alloc <= cap);
    g_autoptr(Lun) s = snapshot_ok(t, 1, "space");
    uint64_t cap2 = 0, alloc2 = 0;
    assert_int_equal(array_tgt_ops.space(t->c, &cap2, &alloc2, &err), 0);
    assert_int_equal(cap2, cap);
    assert_true(alloc2 <= alloc + 4 * MIB);
}

/* Every message of a failing op names the array and never the password. */
static void test_errors_keep_the_secret(void **state)
{
    struct t *t = *state;
    g_autofree char *e1 = NULL, *e2 = NULL, *e3 = NULL, *e4 = NULL;
    Lun *out = NULL;
    array_tgt_ops.snapshot(t->c, 7, "x", &out, &e1);
    array_tgt_ops.revert(t->c, 1, 7, &e2);
    tgt_fixture_kill(&t->f);
    GPtrArray *luns = NULL;
    array_tgt_ops.list_luns(t->c, &luns, &e3);
    assert_null(array_tgt_ops.open(&t->cfg, 2, &e4));
    const char *all[] = {e1, e2, e3, e4};
    for (size_t i = 0; i < G_N_ELEMENTS(all); i++) {
        assert_non_null(all[i]);
        assert_true(g_str_has_prefix(all[i], "array1: "));
        assert_null(strstr(all[i], PASSWORD));
        assert_null(strchr(all[i], '\n'));
    }
}

/* --- without tgtd --------------------------------------------------------- */

static void test_ids_and_driver(void **state)
{
    (void)state;
    assert_true(array_id_valid("a"));
    assert_true(array_id_valid("pre-upgrade_2026-01-01"));
    assert_true(array_id_valid("0123456789012345678901234567890123456789012345678901234567890123"));
    assert_false(array_id_valid("01234567890123456789012345678901234567890123456789012345678901234"));
    assert_false(array_id_valid(""));
    assert_false(array_id_valid(NULL));
    assert_false(array_id_valid("a.b"));
    assert_false(array_id_valid("\xc3\xa9"));
    assert_ptr_equal(array_driver("tgt"), &array_tgt_ops);
    assert_null(array_driver("netapp"));
    assert_null(array_driver(NULL));
    array_lun_free(NULL);
}

/* A fake tgtadm that prints the file $FAKE_TGTADM_OUT. */
struct fake {
    char *dir, *out, *old_path;
};

static int fake_setup(void **state)
{
    struct fake *f = g_new0(struct fake, 1);
    f->dir = g_dir_make_tmp("vdcfs-faketgt-XXXXXX", NULL);
    g_autofree char *prog = g_build_filename(f->dir, "tgtadm", NULL);
    g_file_set_contents(prog, "#!/bin/sh\ncat \"$FAKE_TGTADM_OUT\"\n", -1, NULL);
    chmod(prog, 0755);
    f->out = g_build_filename(f->dir, "out", NULL);
    f->old_path = g_strdup(g_getenv("PATH"));
    g_autofree char *path = g_strdup_printf("%s:%s", f->dir, f->old_path);
    g_setenv("PATH", path, TRUE);
    g_setenv("FAKE_TGTADM_OUT", f->out, TRUE);
    *state = f;
    return 0;
}

static int fake_teardown(void **state)
{
    struct fake *f = *state;
    g_setenv("PATH", f->old_path, TRUE);
    remove_tree(f->dir);
    g_free(f->dir);
    g_free(f->out);
    g_free(f->old_path);
    g_free(f);
    return 0;
}

static char *fake_lun(unsigned lun, const char *type, const char *path)
{
    return g_strdup_printf("        LUN: %u\n"
                           "            Type: %s\n"
                           "            Size: 67 MB, Block size: 4096\n"
                           "            Readonly: %s\n"
                           "            Thin-provisioning: Yes\n"
                           "            Backing store path: %s\n"
                           "            Backing store flags: \n",
                           lun, type, lun == 2 ? "Yes" : "No", path);
}

static Conn *fake_open(struct fake *f, const char *text, char **err)
{
    g_file_set_contents(f->out, text, -1, NULL);
    struct vdc_array_config cfg = {.name = "fake", .driver = "tgt", .target = IQN,
                                   .backing_dir = f->dir, .control_port = 9};
    return array_tgt_ops.open(&cfg, 5, err);
}

static void test_parse_other_targets_and_tids(void **state)
{
    struct fake *f = *state;
    g_autofree char *l0 = fake_lun(0, "controller", "None");
    g_autofree char *other = fake_lun(1, "disk", "/etc/passwd");
    g_autofree char *disk = g_strdup_printf("%s/disk.img", f->dir);
    g_autofree char *snap = g_strdup_printf("%s/.vdcfs-snapshots/disk.img@s1", f->dir);
    g_autofree char *l1 = fake_lun(1, "disk", disk);
    g_autofree char *l2 = fake_lun(2, "disk", snap);
    g_autofree char *text = g_strdup_printf(
        "Target 3: iqn.2026-01.org.example:other\n"
        "    System information:\n"
        "    I_T nexus information:\n"
        "    LUN information:\n%s%s"
        "    Account information:\n"
        "    ACL information:\n"
        "        ALL\n"
        "Target 7: %s\n"
        "    System information:\n"
        "        Driver: iscsi\n"
        "    I_T nexus information:\n"
        "        I_T nexus: 1\n"
        "            Initiator: iqn.x alias: LUN: 5\n"
        "    LUN information:\n%s%s%s"
        "    Account information:\n"
        "        user\n"
        "    ACL information:\n"
        "        ALL\n",
        l0, other, IQN, l0, l1, l2);
    g_autofree char *err = NULL;
    g_autoptr(Conn) c = fake_open(f, text, &err);
    if (!c)
        fail_msg("open: %s", err);
    GPtrArray *luns = NULL;
    assert_int_equal(array_tgt_ops.list_luns(c, &luns, &err), 0);
    g_autoptr(GPtrArray) owned = luns;
    assert_int_equal(luns->len, 3);
    assert_int_equal(find(luns, 0)->role, ARRAY_LUN_CONTROLLER);
    assert_int_equal(find(luns, 1)->role, ARRAY_LUN_DISK);
    assert_string_equal(find(luns, 1)->backing, disk);
    const struct array_lun *s = find(luns, 2);
    assert_int_equal(s->role, ARRAY_LUN_SNAPSHOT);
    assert_int_equal(s->source_lun, 1);
    assert_string_equal(s->id, "s1");
    assert_true(s->readonly);
    assert_int_equal(s->size, 67000000); /* no file: tgtadm's rounded size */
}

/* Initiator aliases are printed as they come: text that pretends to be
 * another listing of our target makes the answer unusable, not wrong. */
static void test_parse_refuses_spoofed_lines(void **state)
{
    struct fake *f = *state;
    g_autofree char *l1 = fake_lun(1, "disk", "/etc/shadow");
    g_autofree char *twice = g_strdup_printf("Target 1: %s\n    LUN information:\n%s"
                                             "Target 2: %s\n    LUN information:\n%s",
                                             IQN, l1, IQN, l1);
    g_autofree char *err = NULL;
    assert_null(fake_open(f, twice, &err));
    assert_non_null(strstr(err, "listed twice"));
    g_clear_pointer(&err, g_free);

    g_autofree char *two_lists = g_strdup_printf("Target 1: %s\n    I_T nexus information:\n"
                                                 "            Initiator: x alias: y\n"
                                                 "    LUN information:\n%s"
                                                 "    LUN information:\n%s",
                                                 IQN, l1, l1);
    assert_null(fake_open(f, two_lists, &err));
    assert_non_null(strstr(err, "two LUN lists"));
    g_clear_pointer(&err, g_free);

    assert_null(fake_open(f, "Target 1: iqn.other\n", &err));
    assert_non_null(strstr(err, "not found on tgtd (control port 9)"));
}

/* --- main ---------------------------------------------------------------- */

/* A 1 GiB XFS with reflink, loop-mounted on a fresh directory; false with
 * a reason when this machine cannot. */
static bool mount_xfs(struct group *g, char **why)
{
    g_autofree char *dir = g_dir_make_tmp("vdcfs-xfs-XXXXXX", NULL);
    g_autofree char *img = g_build_filename(dir, "xfs.img", NULL);
    g_autofree char *mnt = g_build_filename(dir, "mnt", NULL);
    g_mkdir(mnt, 0700);
    char *mkfs[] = {"mkfs.xfs", "-q", "-m", "reflink=1", img, NULL};
    char *mount[] = {"mount", "-o", "loop", img, mnt, NULL};
    int fd = open(img, O_CREAT | O_WRONLY, 0600);
    bool sized = fd >= 0 && ftruncate(fd, 1 << 30) == 0;
    if (fd >= 0)
        close(fd);
    if (!sized || run(mkfs) < 0) {
        *why = g_strdup("mkfs.xfs -m reflink=1 failed");
    } else if (run(mount) < 0) {
        *why = g_strdup("mount -o loop failed");
    } else {
        g->mnt = g_steal_pointer(&mnt);
        return true;
    }
    remove_tree(dir);
    return false;
}

static void unmount_xfs(struct group *g)
{
    char *umount[] = {"umount", g->mnt, NULL};
    if (run(umount) < 0)
        fprintf(stderr, "umount %s failed: unmount it by hand\n", g->mnt);
    else {
        g_autofree char *dir = g_path_get_dirname(g->mnt);
        remove_tree(dir);
    }
    g_free(g->mnt);
}

#define DRIVER_TESTS(g)                                                                     \
    cmocka_unit_test_prestate_setup_teardown(test_list_luns, setup, teardown, g),           \
        cmocka_unit_test_prestate_setup_teardown(test_snapshot, setup, teardown, g),        \
        cmocka_unit_test_prestate_setup_teardown(test_snapshot_keeps_holes, setup, teardown, \
                                                 g),                                        \
        cmocka_unit_test_prestate_setup_teardown(test_delete_snapshot, setup, teardown, g), \
        cmocka_unit_test_prestate_setup_teardown(test_revert, setup, teardown, g),          \
        cmocka_unit_test_prestate_setup_teardown(test_clone, setup, teardown, g),           \
        cmocka_unit_test_prestate_setup_teardown(test_invalid_ids, setup, teardown, g),     \
        cmocka_unit_test_prestate_setup_teardown(test_open_wrong_target, setup, teardown, g), \
        cmocka_unit_test_prestate_setup_teardown(test_open_recovery, setup, teardown, g),   \
        cmocka_unit_test_prestate_setup_teardown(test_dead_tgtd, setup, teardown, g),       \
        cmocka_unit_test_prestate_setup_teardown(test_stopped_tgtd, setup, teardown, g),    \
        cmocka_unit_test_prestate_setup_teardown(test_space, setup, teardown, g),           \
        cmocka_unit_test_prestate_setup_teardown(test_errors_keep_the_secret, setup,        \
                                                 teardown, g)

int main(void)
{
    const struct CMUnitTest offline[] = {
        cmocka_unit_test(test_ids_and_driver),
        cmocka_unit_test_setup_teardown(test_parse_other_targets_and_tids, fake_setup,
                                        fake_teardown),
        cmocka_unit_test_setup_teardown(test_parse_refuses_spoofed_lines, fake_setup,
                                        fake_teardown),
    };
    int failed = cmocka_run_group_tests_name("array_tgt offline", offline, NULL, NULL);

    g_autofree char *tgtd = g_find_program_in_path("tgtd");
    if (geteuid() != 0 || !tgtd) {
        printf("skipping the tgtd tests: they need root and tgtd\n");
        return failed;
    }
    struct group plain = {.label = "plain", .cow = false};
    const struct CMUnitTest plain_tests[] = {DRIVER_TESTS(&plain)};
    failed += cmocka_run_group_tests_name("array_tgt on a plain directory (copy)", plain_tests,
                                          NULL, NULL);

    struct group xfs = {.label = "xfs", .cow = true};
    g_autofree char *why = NULL;
    if (!mount_xfs(&xfs, &why)) {
        printf("skipping the XFS reflink tests: %s\n", why);
        return failed;
    }
    const struct CMUnitTest xfs_tests[] = {DRIVER_TESTS(&xfs)};
    failed += cmocka_run_group_tests_name("array_tgt on XFS with reflink (FICLONE)", xfs_tests,
                                          NULL, NULL);
    unmount_xfs(&xfs);
    return failed;
}
