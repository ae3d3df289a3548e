/* array_tgt.c — the "tgt" array driver (array.h): a Linux tgtd, managed
 * with tgtadm, whose LUNs are files in backing_dir.
 *
 * Layout.  A snapshot of the LUN backed by <backing_dir>/<file> with id
 * <id> is the file <backing_dir>/.vdcfs-snapshots/<file>@<id>, exported
 * read-only as a LUN of its own; a clone is .vdcfs-clones/<file>@<id>,
 * exported writable.  What a LUN is (disk, snapshot, clone), of which LUN
 * and with which id, follows from nothing but its backing path as tgtadm
 * shows it, so the array alone tells after any restart.  The source of a
 * snapshot is the exported LUN whose file is <file> in backing_dir (or, for
 * snapshots of clones and clones of snapshots, in the clone or snapshot
 * directory); when no exported LUN has that file, source_lun is 0.
 * Whether an image was made copy-on-write is kept with the file, in the
 * extended attribute user.vdcfs.cow.
 *
 * Management.  Every change goes through tgtadm -C <control_port>, run
 * from its absolute path with an argv (never a shell) and killed when the
 * operation's deadline (open()'s timeout, counted from the start of each
 * op) passes: a stopped tgtd accepts the connection and never answers.
 * Every op starts with one `--mode target --op show` and finds the target
 * by name there, so a tgtd restarted with other tids is never mistaken.
 *
 * Consistency.  A snapshot must hold every write tgtd acknowledged before
 * the call.  tgtd's rdwr backing store acknowledges a write once pwrite()
 * returned, so the data is in the page cache of the backing file, which is
 * what both paths below read: FICLONE (XFS, btrfs) writes the source's
 * dirty pages back itself before sharing extents
 * (generic_remap_file_range_prep), and the fallback copy reads through the
 * page cache (copy_file_range, pread; SEEK_DATA sees delayed allocation).
 * So no fdatasync of the source is needed for consistency; the new image
 * is fsync'd before it gets its final name, which is what makes it durable.
 *
 * Atomicity.  An image is written as <name>.tmp and renamed when complete;
 * it is exported only after that, and a failed export removes the file
 * again.  A new LUN is created without a backing store (offline) and then
 * given readonly, thin provisioning and its path in one update, so that no
 * initiator ever sees a snapshot LUN writable.  delete_snapshot removes
 * the file even when tgtd cannot remove the export (dead or stuck): the
 * file is what makes a snapshot exist, and open() (and every later
 * snapshot or clone) unexports snapshot LUNs whose file is gone, while
 * list_luns does not report them.  open() also exports again the images
 * that are not exported (a crash between rename and export) and removes
 * *.tmp leftovers.
 *
 * Trust.  tgtadm's output includes text from initiators (their alias):
 * the parser refuses a target listed twice or with two LUN lists rather
 * than guess.  Files are only written or removed inside backing_dir (LUN
 * files there, our images in our two directories); ids are checked with
 * array_id_valid before they reach a path or a command line.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h> /* FICLONE */
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "array.h"

#define SNAPSHOT_DIR ".vdcfs-snapshots"
#define CLONE_DIR ".vdcfs-clones"
#define TMP_SUFFIX ".tmp"
#define COW_XATTR "user.vdcfs.cow"
/* tgtadm's answer: a target with thousands of LUNs is a few hundred KB. */
#define OUTPUT_MAX (16u << 20)
/* Copies check the deadline after each chunk. */
#define COPY_CHUNK ((size_t)16 << 20)
#define ZERO_CHUNK ((size_t)1 << 20)
/* Undoing a half-made export when the op already failed: enough for a
 * healthy tgtd, and enough to queue the request behind the one a stopped
 * tgtd has not answered yet (it runs both, in order, when it resumes). */
#define ROLLBACK_BUDGET_S 2u
/* Another manager may take the LUN number we chose: try the next one. */
#define EXPORT_TRIES 8

struct array_conn {
    char *name;          /* the array's name: first word of every message */
    char *target;        /* the target's IQN */
    char *control_port;  /* tgtadm -C, in decimal */
    char *tgtadm;        /* absolute path of the tgtadm program */
    char *backing_dir;   /* realpath of the configured backing_dir */
    char *snapshot_dir;  /* backing_dir/.vdcfs-snapshots */
    char *clone_dir;     /* backing_dir/.vdcfs-clones */
    unsigned timeout_s;  /* every op gives up after this */
    /* The LUNs as last seen (struct tgt_lu*), so that delete_snapshot
     * still knows a snapshot's file when tgtd does not answer. */
    GPtrArray *known;
};

/* --- messages ---------------------------------------------------------- */

/* Sets *err to "<array>: <formatted>", on one line (callers show it as
 * one line of a file and of the events log). */
static void G_GNUC_PRINTF(3, 4) set_err(char **err, const char *array, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_free(*err);
    *err = g_strdelimit(g_strdup_printf("%s: %s", array, msg), "\r\n", ' ');
}

/* The first non-empty line of @text, control characters made spaces;
 * NULL if there is none. */
static char *first_line(const char *text)
{
    const char *p = text + strspn(text, " \t\r\n");
    if (!*p)
        return NULL;
    char *line = g_strndup(p, strcspn(p, "\r\n"));
    for (char *q = line; *q; q++)
        if ((unsigned char)*q < 0x20 || *q == 0x7f)
            *q = ' ';
    return g_strchomp(line);
}

/* --- running tgtadm ---------------------------------------------------- */

static gint64 deadline_after(unsigned seconds)
{
    return g_get_monotonic_time() + (gint64)seconds * G_USEC_PER_SEC;
}

static bool past(gint64 deadline)
{
    return g_get_monotonic_time() >= deadline;
}

enum collect_result { COLLECT_EOF, COLLECT_DEADLINE, COLLECT_TOO_LONG, COLLECT_ERROR };

/* Reads the child's stdout and stderr into @out and @errs until both are
 * at EOF, @deadline passes or the output grows past OUTPUT_MAX. */
static enum collect_result collect_output(int out_fd, int err_fd, GString *out, GString *errs,
                                          gint64 deadline)
{
    struct pollfd p[2] = {{.fd = out_fd, .events = POLLIN}, {.fd = err_fd, .events = POLLIN}};
    GString *into[2] = {out, errs};
    char buf[8192];

    while (p[0].fd >= 0 || p[1].fd >= 0) {
        gint64 left_us = deadline - g_get_monotonic_time();
        if (left_us <= 0)
            return COLLECT_DEADLINE;
        int n = poll(p, 2, (int)MIN((left_us + 999) / 1000, (gint64)INT_MAX));
        if (n < 0 && errno != EINTR)
            return COLLECT_ERROR;
        for (int i = 0; n > 0 && i < 2; i++) {
            if (p[i].fd < 0 || !p[i].revents)
                continue;
            ssize_t r = read(p[i].fd, buf, sizeof(buf));
            if (r > 0) {
                if (into[i]->len + (size_t)r > OUTPUT_MAX)
                    return COLLECT_TOO_LONG;
                g_string_append_len(into[i], buf, r);
            } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
                p[i].fd = -1; /* poll() skips negative fds */
            }
        }
    }
    return COLLECT_EOF;
}

static int wait_child(GPid pid, int *status)
{
    while (waitpid(pid, status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return 0;
}

/* What a failed tgtadm said: its first line of stderr, else how it ended. */
static char *failure_reason(const GString *errs, int status)
{
    char *line = first_line(errs->str);
    if (line)
        return line;
    if (WIFEXITED(status))
        return g_strdup_printf("tgtadm exited with status %d", WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return g_strdup_printf("tgtadm was killed by signal %d", WTERMSIG(status));
    return g_strdup("tgtadm failed");
}

/* Runs @argv (argv[0] an absolute path, no shell) with an empty stdin and
 * kills it at @deadline.  0 when it exited with status 0, *out (if not
 * NULL) its stdout, g_malloc'd.  Else -1 and *why (g_malloc'd): what it
 * printed on stderr, or what went wrong. */
static int run_until(char **argv, gint64 deadline, unsigned timeout_s, char **out, char **why)
{
    GPid pid;
    int in_fd, out_fd, err_fd;
    GError *e = NULL;
    if (!g_spawn_async_with_pipes(NULL, argv, NULL,
                                  G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_CLOEXEC_PIPES, NULL, NULL,
                                  &pid, &in_fd, &out_fd, &err_fd, &e)) {
        *why = g_strdup_printf("cannot run %s: %s", argv[0], e->message);
        g_error_free(e);
        return -1;
    }
    close(in_fd); /* tgtadm reads nothing; EOF if it ever tries */
    g_autoptr(GString) o = g_string_new(NULL);
    g_autoptr(GString) errs = g_string_new(NULL);
    enum collect_result r = collect_output(out_fd, err_fd, o, errs, deadline);
    close(out_fd);
    close(err_fd);
    if (r != COLLECT_EOF)
        kill(pid, SIGKILL); /* our own child, not reaped yet: the pid is still ours */
    int status = 0;
    int waited = wait_child(pid, &status);
    g_spawn_close_pid(pid);

    switch (r) {
    case COLLECT_DEADLINE:
        *why = g_strdup_printf("tgtadm did not answer within %u s", timeout_s);
        return -1;
    case COLLECT_TOO_LONG:
        *why = g_strdup_printf("tgtadm's answer is longer than %u bytes", OUTPUT_MAX);
        return -1;
    case COLLECT_ERROR:
        *why = g_strdup_printf("cannot read tgtadm's answer: %s", g_strerror(errno));
        return -1;
    case COLLECT_EOF:
        break;
    }
    if (waited < 0) {
        *why = g_strdup_printf("cannot wait for tgtadm: %s", g_strerror(errno));
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        *why = failure_reason(errs, status);
        return -1;
    }
    if (out)
        *out = g_string_free(g_steal_pointer(&o), FALSE);
    return 0;
}

/* tgtadm -C <port> --lld iscsi <@args, NULL-terminated>; see run_until. */
static int tgtadm_args(const struct array_conn *c, gint64 deadline, char **out, char **why,
                       const char *const *args)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    const char *base[] = {c->tgtadm, "-C", c->control_port, "--lld", "iscsi"};
    for (size_t i = 0; i < G_N_ELEMENTS(base); i++)
        g_ptr_array_add(argv, (char *)base[i]);
    for (size_t i = 0; args[i]; i++)
        g_ptr_array_add(argv, (char *)args[i]);
    g_ptr_array_add(argv, NULL);
    return run_until((char **)argv->pdata, deadline, c->timeout_s, out, why);
}

static int G_GNUC_NULL_TERMINATED tgtadm(const struct array_conn *c, gint64 deadline, char **out,
                                         char **why, ...)
{
    g_autoptr(GPtrArray) args = g_ptr_array_new();
    va_list ap;
    va_start(ap, why);
    for (const char *a; (a = va_arg(ap, const char *));)
        g_ptr_array_add(args, (char *)a);
    va_end(ap);
    g_ptr_array_add(args, NULL);
    return tgtadm_args(c, deadline, out, why, (const char *const *)args->pdata);
}

/* --- what tgtadm shows ------------------------------------------------- */

/* Where a LUN's backing file is, which says what the LUN is. */
enum lu_place {
    PLACE_NONE,      /* no backing file (the controller, an offline LUN) */
    PLACE_ELSEWHERE, /* outside backing_dir: ours to list, not to touch */
    PLACE_DISKS,     /* directly in backing_dir */
    PLACE_SNAPSHOTS, /* an image <base>@<id> in the snapshot directory */
    PLACE_CLONES,    /* an image <base>@<id> in the clone directory */
};

/* One LUN as `--mode target --op show` describes it, plus what follows
 * from its path (classify). */
struct tgt_lu {
    unsigned lun;
    bool controller;     /* "Type: controller" */
    uint64_t shown_size; /* "Size:": approximate, tgt rounds to (about) MB */
    unsigned block_size;
    bool readonly, thin;
    char *path;          /* "Backing store path:" as shown; NULL for "None" */
    enum lu_place place;
    char *file;          /* path with its directory resolved (realpath) */
    char *name;          /* the file's name */
    char *base, *id;     /* SNAPSHOTS, CLONES: name is <base>@<id> */
};

static void tgt_lu_free(struct tgt_lu *lu)
{
    if (!lu)
        return;
    g_free(lu->path);
    g_free(lu->file);
    g_free(lu->name);
    g_free(lu->base);
    g_free(lu->id);
    g_free(lu);
}

static GPtrArray *lu_list_new(void)
{
    return g_ptr_array_new_with_free_func((GDestroyNotify)tgt_lu_free);
}

static struct tgt_lu *find_lun(GPtrArray *lus, unsigned lun)
{
    for (guint i = 0; i < lus->len; i++) {
        struct tgt_lu *lu = g_ptr_array_index(lus, i);
        if (lu->lun == lun)
            return lu;
    }
    return NULL;
}

struct show_parser {
    const char *iqn;
    int tid;             /* ours; -1 until seen */
    bool in_ours;        /* the lines belong to our target */
    bool in_luns;        /* ... to its "LUN information:" section */
    bool seen_luns;
    GPtrArray *lus;
    struct tgt_lu *cur;
};

static bool parse_uint(const char *s, unsigned *v, const char **end)
{
    if (!g_ascii_isdigit(*s))
        return false;
    char *e;
    errno = 0;
    guint64 n = g_ascii_strtoull(s, &e, 10);
    if (errno || n > UINT_MAX)
        return false;
    *v = (unsigned)n;
    if (end)
        *end = e;
    else if (*e)
        return false;
    return true;
}

/* "Target <tid>: <name>" */
static int parse_target_header(struct show_parser *p, const char *body, char **why)
{
    const char *rest;
    unsigned tid;
    p->in_ours = p->in_luns = false;
    p->cur = NULL;
    if (!parse_uint(body + strlen("Target "), &tid, &rest) || !g_str_has_prefix(rest, ": "))
        return 0; /* not a target header: nothing of ours */
    if (strcmp(rest + 2, p->iqn) != 0)
        return 0;
    if (p->tid >= 0) {
        *why = g_strdup("the target is listed twice");
        return -1;
    }
    p->tid = (int)MIN(tid, (unsigned)INT_MAX);
    p->in_ours = true;
    return 0;
}

/* "67 MB, Block size: 512" (tgt 1.0.85); older versions print a binary
 * suffix (K, M, G, T) and no "B". */
static void parse_size(struct tgt_lu *lu, const char *v)
{
    char *e;
    guint64 n = g_ascii_strtoull(v, &e, 10);
    while (*e == ' ')
        e++;
    if (g_str_has_prefix(e, "MB"))
        n *= 1000 * 1000;
    else if (*e == 'K' || *e == 'M' || *e == 'G' || *e == 'T')
        n <<= 10 * (strchr(" KMGT", *e) - " KMGT");
    lu->shown_size = n;
    const char *bs = strstr(v, "Block size: ");
    if (bs)
        parse_uint(bs + strlen("Block size: "), &lu->block_size, &bs);
}

static void parse_lun_attribute(struct tgt_lu *lu, const char *body)
{
    if (g_str_has_prefix(body, "Type: "))
        lu->controller = strcmp(body + 6, "controller") == 0;
    else if (g_str_has_prefix(body, "Size: "))
        parse_size(lu, body + 6);
    else if (g_str_has_prefix(body, "Readonly: "))
        lu->readonly = strcmp(body + 10, "Yes") == 0;
    else if (g_str_has_prefix(body, "Thin-provisioning: "))
        lu->thin = strcmp(body + 19, "Yes") == 0;
    else if (g_str_has_prefix(body, "Backing store path: ")) {
        const char *v = body + strlen("Backing store path: ");
        g_free(lu->path);
        lu->path = strcmp(v, "None") == 0 || !*v ? NULL : g_strdup(v);
    }
}

static int parse_lun_header(struct show_parser *p, const char *number, char **why)
{
    unsigned lun;
    if (!parse_uint(number, &lun, NULL)) {
        *why = g_strdup("a LUN number is not a number");
        return -1;
    }
    if (find_lun(p->lus, lun)) {
        *why = g_strdup_printf("LUN %u is listed twice", lun);
        return -1;
    }
    p->cur = g_new0(struct tgt_lu, 1);
    p->cur->lun = lun;
    g_ptr_array_add(p->lus, p->cur);
    return 0;
}

static int parse_show_line(struct show_parser *p, const char *line, char **why)
{
    size_t indent = strspn(line, " ");
    const char *body = line + indent;
    if (!*body)
        return 0;
    if (indent == 0)
        return g_str_has_prefix(body, "Target ") ? parse_target_header(p, body, why) : 0;
    if (!p->in_ours)
        return 0;
    /* Section titles ("LUN information:") are indented one level; LUNs
     * two, their attributes three. */
    if (indent < 8 && g_str_has_suffix(body, ":")) {
        p->cur = NULL;
        p->in_luns = strcmp(body, "LUN information:") == 0;
        if (p->in_luns && p->seen_luns) {
            *why = g_strdup("the target has two LUN lists");
            return -1;
        }
        p->seen_luns |= p->in_luns;
        return 0;
    }
    if (!p->in_luns)
        return 0;
    if (g_str_has_prefix(body, "LUN: "))
        return parse_lun_header(p, body + 5, why);
    if (p->cur)
        parse_lun_attribute(p->cur, body);
    return 0;
}

/* Finds target @iqn in the output of `--mode target --op show`.  1 with
 * *tid and *lus (owned by the caller) when found, 0 when not, -1 with
 * *why when the output makes no sense. */
static int parse_target_show(const char *text, const char *iqn, int *tid, GPtrArray **lus,
                             char **why)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    struct show_parser p = {.iqn = iqn, .tid = -1, .lus = lu_list_new()};
    for (size_t i = 0; lines[i]; i++) {
        if (parse_show_line(&p, lines[i], why) < 0) {
            g_ptr_array_unref(p.lus);
            return -1;
        }
    }
    if (p.tid < 0) {
        g_ptr_array_unref(p.lus);
        return 0;
    }
    *tid = p.tid;
    *lus = p.lus;
    return 1;
}

/* --- what a LUN is, from its backing path ------------------------------- */

/* A name we may put into a path and hand to tgtadm (its parameters are
 * comma-separated, so no commas). */
static bool file_name_ok(const char *name)
{
    if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strlen(name) > NAME_MAX)
        return false;
    for (const char *q = name; *q; q++)
        if (*q == '/' || *q == ',' || (unsigned char)*q < 0x20 || *q == 0x7f)
            return false;
    return true;
}

/* "<base>@<id>" with a valid id (which has no '@', so the last '@'
 * splits) and a usable base. */
static bool split_image_name(const char *name, char **base, char **id)
{
    const char *at = strrchr(name, '@');
    if (!at || at == name || !array_id_valid(at + 1))
        return false;
    g_autofree char *b = g_strndup(name, (size_t)(at - name));
    if (!file_name_ok(b))
        return false;
    *base = g_steal_pointer(&b);
    *id = g_strdup(at + 1);
    return true;
}

/* @path with its directory resolved, so that a backing_dir reached through
 * a symlink (or written with "//" or "/./") still compares equal. */
static char *canonical_file(const char *path)
{
    g_autofree char *dir = g_path_get_dirname(path);
    g_autofree char *name = g_path_get_basename(path);
    g_autofree char *real = realpath(dir, NULL);
    if (real)
        return g_build_filename(real, name, NULL);
    return g_canonicalize_filename(path, "/");
}

static void classify(const struct array_conn *c, struct tgt_lu *lu)
{
    lu->place = PLACE_NONE;
    if (!lu->path || lu->controller || lu->lun == 0)
        return;
    lu->place = PLACE_ELSEWHERE;
    if (!g_path_is_absolute(lu->path))
        return;
    lu->file = canonical_file(lu->path);
    lu->name = g_path_get_basename(lu->file);
    g_autofree char *dir = g_path_get_dirname(lu->file);
    if (strcmp(dir, c->backing_dir) == 0 && file_name_ok(lu->name))
        lu->place = PLACE_DISKS;
    else if (strcmp(dir, c->snapshot_dir) == 0 && split_image_name(lu->name, &lu->base, &lu->id))
        lu->place = PLACE_SNAPSHOTS;
    else if (strcmp(dir, c->clone_dir) == 0 && split_image_name(lu->name, &lu->base, &lu->id))
        lu->place = PLACE_CLONES;
}

static enum array_lun_role role_of(const struct tgt_lu *lu)
{
    if (lu->controller || lu->lun == 0)
        return ARRAY_LUN_CONTROLLER;
    switch (lu->place) {
    case PLACE_SNAPSHOTS:
        return ARRAY_LUN_SNAPSHOT;
    case PLACE_CLONES:
        return ARRAY_LUN_CLONE;
    default:
        return ARRAY_LUN_DISK;
    }
}

static bool is_image(const struct tgt_lu *lu)
{
    return lu->place == PLACE_SNAPSHOTS || lu->place == PLACE_CLONES;
}

static struct tgt_lu *find_file(GPtrArray *lus, enum lu_place place, const char *name)
{
    for (guint i = 0; i < lus->len; i++) {
        struct tgt_lu *lu = g_ptr_array_index(lus, i);
        if (lu->place == place && strcmp(lu->name, name) == 0)
            return lu;
    }
    return NULL;
}

/* The exported LUN an image was taken from: the one whose file is @base,
 * a disk first, then a clone, then a snapshot; NULL when none is. */
static struct tgt_lu *source_of(GPtrArray *lus, const char *base)
{
    static const enum lu_place order[] = {PLACE_DISKS, PLACE_CLONES, PLACE_SNAPSHOTS};
    for (size_t i = 0; i < G_N_ELEMENTS(order); i++) {
        struct tgt_lu *lu = find_file(lus, order[i], base);
        if (lu)
            return lu;
    }
    return NULL;
}

/* An image LUN whose file was deleted (by delete_snapshot while tgtd could
 * not unexport it).  A missing image directory (backing_dir not mounted?)
 * proves nothing, so it does not count. */
static bool is_stale(const struct tgt_lu *lu)
{
    if (!is_image(lu))
        return false;
    struct stat st;
    g_autofree char *dir = g_path_get_dirname(lu->file);
    return lstat(lu->file, &st) < 0 && errno == ENOENT && stat(dir, &st) == 0;
}

/* The size of the LUN as its file says (tgtadm rounds to MB). */
static uint64_t lun_size(const struct tgt_lu *lu)
{
    struct stat st;
    if (lu->path && stat(lu->path, &st) == 0) {
        if (S_ISREG(st.st_mode))
            return (uint64_t)st.st_size;
        if (S_ISBLK(st.st_mode)) {
            int fd = open(lu->path, O_RDONLY | O_CLOEXEC);
            off_t end = fd >= 0 ? lseek(fd, 0, SEEK_END) : -1;
            if (fd >= 0)
                close(fd);
            if (end >= 0)
                return (uint64_t)end;
        }
    }
    return lu->shown_size;
}

static bool has_cow_mark(const char *file)
{
    char v[2] = {0};
    return getxattr(file, COW_XATTR, v, sizeof(v) - 1) == 1 && v[0] == '1';
}

/* The array.h description of @lu (caller frees with array_lun_free). */
static struct array_lun *describe(GPtrArray *lus, const struct tgt_lu *lu)
{
    struct array_lun *l = g_new0(struct array_lun, 1);
    l->lun = lu->lun;
    l->role = role_of(lu);
    l->backing = l->role == ARRAY_LUN_CONTROLLER ? NULL : g_strdup(lu->path);
    l->readonly = lu->readonly;
    l->size = lun_size(lu);
    if (is_image(lu)) {
        struct tgt_lu *src = source_of(lus, lu->base);
        l->source_lun = src ? src->lun : 0;
        l->id = g_strdup(lu->id);
        l->cow = has_cow_mark(lu->file);
    }
    return l;
}

enum fetch_result { FETCH_OK = 0, FETCH_FAILED = -1, FETCH_NO_TARGET = -2 };

/* The target's tid and LUNs as tgtd shows them now, classified (*lus owned
 * by the caller, and also kept as c->known).  Else *why. */
static enum fetch_result fetch_luns(struct array_conn *c, gint64 deadline, int *tid,
                                    GPtrArray **lus, char **why)
{
    g_autofree char *out = NULL;
    if (tgtadm(c, deadline, &out, why, "--mode", "target", "--op", "show", NULL) < 0)
        return FETCH_FAILED;
    g_autofree char *bad = NULL;
    int found = parse_target_show(out, c->target, tid, lus, &bad);
    if (found < 0) {
        *why = g_strdup_printf("unexpected answer from tgtadm: %s", bad);
        return FETCH_FAILED;
    }
    if (found == 0) {
        *why = g_strdup_printf("target %s not found on tgtd (control port %s)", c->target,
                               c->control_port);
        return FETCH_NO_TARGET;
    }
    for (guint i = 0; i < (*lus)->len; i++)
        classify(c, g_ptr_array_index(*lus, i));
    g_clear_pointer(&c->known, g_ptr_array_unref);
    c->known = g_ptr_array_ref(*lus);
    return FETCH_OK;
}

/* --- exporting and unexporting ------------------------------------------ */

static unsigned lowest_free_lun(GPtrArray *lus, unsigned from)
{
    unsigned n = MAX(from, 1u);
    while (find_lun(lus, n))
        n++;
    return n;
}

static bool power_of_two_block(unsigned b)
{
    return b >= 512 && (b & (b - 1)) == 0;
}

struct export_req {
    const char *file;    /* absolute path of the image */
    bool readonly, thin;
    unsigned block_size; /* the source's; 0 for tgt's default */
};

/* Removes LUN @lun of @tid.  A LUN that is already gone counts as removed;
 * one with commands in flight is tried again until @deadline. */
static int unexport(const struct array_conn *c, int tid, unsigned lun, gint64 deadline,
                    char **why)
{
    g_autofree char *tid_s = g_strdup_printf("%d", tid);
    g_autofree char *lun_s = g_strdup_printf("%u", lun);
    for (;;) {
        g_autofree char *w = NULL;
        if (tgtadm(c, deadline, NULL, &w, "--mode", "logicalunit", "--op", "delete", "--tid", tid_s,
                   "--lun", lun_s, NULL) == 0 ||
            strstr(w, "can't find the logical unit"))
            return 0;
        if (!strstr(w, "still active") || past(deadline)) {
            *why = g_steal_pointer(&w);
            return -1;
        }
        g_usleep(100 * 1000);
    }
}

/* Creates LUN @lun without a backing store: tgtd makes it offline and
 * empty, so nothing can read or write it before set_backing. */
static int create_empty_lun(const struct array_conn *c, int tid, unsigned lun,
                            unsigned block_size, gint64 deadline, char **why)
{
    g_autofree char *tid_s = g_strdup_printf("%d", tid);
    g_autofree char *lun_s = g_strdup_printf("%u", lun);
    g_autofree char *bs_s = g_strdup_printf("%u", block_size);
    const char *args[] = {"--mode", "logicalunit", "--op", "new", "--tid", tid_s, "--lun", lun_s,
                          power_of_two_block(block_size) ? "--blocksize" : NULL, bs_s, NULL};
    return tgtadm_args(c, deadline, NULL, why, args);
}

/* Gives LUN @lun its flags and then its file, in one request: tgtd applies
 * the parameters in order, and brings the LUN online with the path. */
static int set_backing(const struct array_conn *c, int tid, unsigned lun,
                       const struct export_req *r, gint64 deadline, char **why)
{
    g_autofree char *tid_s = g_strdup_printf("%d", tid);
    g_autofree char *lun_s = g_strdup_printf("%u", lun);
    g_autofree char *params =
        g_strdup_printf("%s%sremovable=0,path=%s", r->readonly ? "readonly=1," : "",
                        r->thin ? "thin_provisioning=1," : "", r->file);
    return tgtadm(c, deadline, NULL, why, "--mode", "logicalunit", "--op", "update", "--tid",
                  tid_s, "--lun", lun_s, "--params", params, NULL);
}

/* Exports @r->file as the lowest free LUN >= 1 of @tid and adds it to
 * @lus.  Returns its number, or 0 with *why and nothing exported. */
static unsigned export_file(const struct array_conn *c, int tid, GPtrArray *lus,
                            const struct export_req *r, gint64 deadline, char **why)
{
    unsigned lun = 0;
    for (int tries = 0;; tries++) {
        lun = lowest_free_lun(lus, lun + 1);
        g_autofree char *w = NULL;
        if (create_empty_lun(c, tid, lun, r->block_size, deadline, &w) == 0)
            break;
        if (!strstr(w, "already exists") || tries + 1 == EXPORT_TRIES) {
            *why = g_steal_pointer(&w);
            return 0;
        }
    }
    if (set_backing(c, tid, lun, r, deadline, why) < 0) {
        g_autofree char *ignored = NULL;
        unexport(c, tid, lun, deadline_after(MIN(c->timeout_s, ROLLBACK_BUDGET_S)), &ignored);
        return 0;
    }
    struct tgt_lu *lu = g_new0(struct tgt_lu, 1);
    lu->lun = lun;
    lu->readonly = r->readonly;
    lu->thin = r->thin;
    lu->block_size = r->block_size;
    lu->path = g_strdup(r->file);
    classify(c, lu);
    g_ptr_array_add(lus, lu);
    return lun;
}

/* Unexports the image LUNs whose file is gone (see is_stale). */
static int drop_stale_exports(const struct array_conn *c, int tid, GPtrArray *lus,
                              gint64 deadline, char **why)
{
    for (guint i = 0; i < lus->len;) {
        struct tgt_lu *lu = g_ptr_array_index(lus, i);
        if (!is_stale(lu)) {
            i++;
            continue;
        }
        g_autofree char *w = NULL;
        if (unexport(c, tid, lu->lun, deadline, &w) < 0) {
            *why = g_strdup_printf("cannot unexport LUN %u, whose file %s is gone: %s", lu->lun,
                                   lu->file, w);
            return -1;
        }
        g_ptr_array_remove_index(lus, i);
    }
    return 0;
}

/* --- files ------------------------------------------------------------- */

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* @dir exists as a real directory (made 0700 if missing). */
static int ensure_dir(const char *dir, char **why)
{
    struct stat st;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        *why = g_strdup_printf("cannot create %s: %s", dir, g_strerror(errno));
        return -1;
    }
    if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        *why = g_strdup_printf("%s is not a directory", dir);
        return -1;
    }
    return 0;
}

/* A clone failing with one of these means "this filesystem (or this pair
 * of files) cannot share extents": copy instead. */
static bool reflink_unsupported(int e)
{
    return e == EOPNOTSUPP || e == EXDEV || e == EINVAL || e == ENOTTY || e == ENOSYS;
}

/* Writes @len zero bytes at @off, for filesystems that cannot punch. */
static int write_zeros(int fd, off_t off, off_t len, gint64 deadline, char **why)
{
    g_autofree char *zeros = g_malloc0(ZERO_CHUNK);
    while (len > 0) {
        if (past(deadline)) {
            *why = g_strdup("the copy did not finish in time");
            return -1;
        }
        ssize_t w = pwrite(fd, zeros, (size_t)MIN(len, (off_t)ZERO_CHUNK), off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            *why = g_strdup_printf("cannot write: %s", w < 0 ? g_strerror(errno) : "no progress");
            return -1;
        }
        off += w;
        len -= w;
    }
    return 0;
}

/* Makes [@off, @off+@len) of @fd read as zeros, freeing its blocks. */
static int make_hole(int fd, off_t off, off_t len, gint64 deadline, char **why)
{
    if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len) == 0)
        return 0;
    if (errno != EOPNOTSUPP) {
        *why = g_strdup_printf("cannot punch a hole: %s", g_strerror(errno));
        return -1;
    }
    return write_zeros(fd, off, len, deadline, why);
}

/* pread/pwrite, for when copy_file_range cannot (old kernels, some
 * filesystem pairs). */
static ssize_t copy_by_hand(int src, int dst, off_t off, size_t len)
{
    size_t n = MIN(len, (size_t)1 << 20);
    g_autofree char *b = g_malloc(n);
    ssize_t r = pread(src, b, n, off);
    if (r <= 0)
        return r;
    for (ssize_t done = 0; done < r;) {
        ssize_t w = pwrite(dst, b + done, (size_t)(r - done), off + done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        done += w;
    }
    return r;
}

/* Copies [@off, @off+@len) of @src to the same offsets of @dst. */
static int copy_range(int src, int dst, off_t off, off_t len, bool *by_hand, gint64 deadline,
                      char **why)
{
    while (len > 0) {
        if (past(deadline)) {
            *why = g_strdup("the copy did not finish in time");
            return -1;
        }
        size_t n = (size_t)MIN(len, (off_t)COPY_CHUNK);
        ssize_t r;
        if (!*by_hand) {
            off64_t in = off, out = off;
            r = copy_file_range(src, &in, dst, &out, n, 0);
            if (r < 0 && (errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP ||
                          errno == ENOSYS)) {
                *by_hand = true;
                continue;
            }
        } else {
            r = copy_by_hand(src, dst, off, n);
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            *why = g_strdup_printf("cannot copy: %s",
                                   r < 0 ? g_strerror(errno) : "the source ended early");
            return -1;
        }
        off += r;
        len -= r;
    }
    return 0;
}

/* Copies the first @size bytes of @src into @dst extent by extent: holes
 * of @src are skipped (a fresh sparse @dst keeps them) or, with
 * @punch_holes, made holes in @dst too (an in-place revert). */
static int copy_sparse(int src, int dst, off_t size, bool punch_holes, gint64 deadline,
                       char **why)
{
    bool by_hand = false;
    for (off_t off = 0; off < size;) {
        off_t data = lseek(src, off, SEEK_DATA);
        if (data < 0 && errno == ENXIO)
            data = size; /* only a hole is left */
        else if (data < 0) {
            *why = g_strdup_printf("cannot find data: %s", g_strerror(errno));
            return -1;
        }
        data = MIN(data, size);
        if (punch_holes && data > off && make_hole(dst, off, data - off, deadline, why) < 0)
            return -1;
        if (data >= size)
            break;
        off_t hole = lseek(src, data, SEEK_HOLE);
        if (hole < 0) {
            *why = g_strdup_printf("cannot find holes: %s", g_strerror(errno));
            return -1;
        }
        hole = MIN(hole, size);
        if (copy_range(src, dst, data, hole - data, &by_hand, deadline, why) < 0)
            return -1;
        off = hole;
    }
    return 0;
}

/* Makes @dst's content that of @src (@size bytes): FICLONE where the
 * filesystem can share extents (O(1), *cow true; it replaces the whole
 * content in place), else a sparse-aware copy. */
static int clone_or_copy(int src, int dst, off_t size, bool in_place, gint64 deadline, bool *cow,
                         char **why)
{
    *cow = ioctl(dst, FICLONE, src) == 0;
    if (!*cow) {
        if (!reflink_unsupported(errno)) {
            *why = g_strdup_printf("cannot clone: %s", g_strerror(errno));
            return -1;
        }
        if (!in_place && ftruncate(dst, size) < 0) {
            *why = g_strdup_printf("cannot size: %s", g_strerror(errno));
            return -1;
        }
        if (copy_sparse(src, dst, size, in_place, deadline, why) < 0)
            return -1;
    }
    if (ftruncate(dst, size) < 0 || fsync(dst) < 0) {
        *why = g_strdup_printf("cannot flush: %s", g_strerror(errno));
        return -1;
    }
    return 0;
}

/* Renames @from to @to unless @to exists. */
static int rename_new(const char *from, const char *to)
{
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    /* No RENAME_NOREPLACE here: the caller checked @to did not exist. */
    return rename(from, to);
}

/* Writes the image @final of the file @source: <final>.tmp is cloned or
 * copied, marked, flushed and only then renamed, so that the final name
 * always names a complete image.  On failure no file remains. */
static int write_image(const char *source, const char *final, gint64 deadline, bool *cow,
                       char **why)
{
    int src = open(source, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (src < 0 || fstat(src, &st) < 0) {
        *why = g_strdup_printf("%s: %s", source, g_strerror(errno));
        if (src >= 0)
            close(src);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        *why = g_strdup_printf("%s is not a regular file", source);
        close(src);
        return -1;
    }
    g_autofree char *tmp = g_strconcat(final, TMP_SUFFIX, NULL);
    int dst = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (dst < 0) {
        *why = g_strdup_printf("cannot create %s: %s", tmp, g_strerror(errno));
        close(src);
        return -1;
    }
    int rc = clone_or_copy(src, dst, st.st_size, false, deadline, cow, why);
    /* The mark only informs list_luns after a restart: without xattrs, cow
     * is reported false then, which is the careful side. */
    if (rc == 0 && *cow)
        fsetxattr(dst, COW_XATTR, "1", 1, 0);
    close(src);
    if (close(dst) < 0 && rc == 0) {
        *why = g_strdup_printf("cannot write %s: %s", tmp, g_strerror(errno));
        rc = -1;
    }
    if (rc == 0 && rename_new(tmp, final) < 0) {
        *why = g_strdup_printf("cannot rename %s: %s", tmp, g_strerror(errno));
        rc = -1;
    }
    if (rc < 0)
        unlink(tmp);
    g_autofree char *dir = g_path_get_dirname(final);
    fsync_dir(dir);
    return rc;
}

/* --- the ops ----------------------------------------------------------- */

static void tgt_close(struct array_conn *c)
{
    if (!c)
        return;
    g_free(c->name);
    g_free(c->target);
    g_free(c->control_port);
    g_free(c->tgtadm);
    g_free(c->backing_dir);
    g_free(c->snapshot_dir);
    g_free(c->clone_dir);
    if (c->known)
        g_ptr_array_unref(c->known);
    g_free(c);
}

typedef struct array_conn ArrayConn;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ArrayConn, tgt_close)

static char *find_tgtadm(void)
{
    char *p = g_find_program_in_path("tgtadm");
    if (p)
        return p;
    /* A daemon's PATH often lacks the sbin directories. */
    static const char *const known[] = {"/usr/sbin/tgtadm", "/sbin/tgtadm"};
    for (size_t i = 0; i < G_N_ELEMENTS(known); i++)
        if (g_file_test(known[i], G_FILE_TEST_IS_EXECUTABLE))
            return g_strdup(known[i]);
    return NULL;
}

/* Removes the *.tmp images a crash left in @dir. */
static void remove_temporaries(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    for (const char *name; d && (name = g_dir_read_name(d));) {
        if (!g_str_has_suffix(name, TMP_SUFFIX))
            continue;
        g_autofree char *path = g_build_filename(dir, name, NULL);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISREG(st.st_mode))
            unlink(path);
    }
}

/* Exports again the images in @dir (PLACE_SNAPSHOTS or PLACE_CLONES) that
 * no LUN exports: a crash between rename and export leaves them. */
static int export_orphans(const struct array_conn *c, int tid, GPtrArray *lus,
                          enum lu_place place, gint64 deadline, char **why)
{
    const char *dir = place == PLACE_SNAPSHOTS ? c->snapshot_dir : c->clone_dir;
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    for (const char *name; d && (name = g_dir_read_name(d));) {
        g_autofree char *base = NULL, *id = NULL;
        g_autofree char *file = g_build_filename(dir, name, NULL);
        struct stat st;
        if (!file_name_ok(name) || !split_image_name(name, &base, &id) ||
            lstat(file, &st) < 0 || !S_ISREG(st.st_mode) || find_file(lus, place, name))
            continue;
        const struct tgt_lu *src = source_of(lus, base);
        struct export_req r = {.file = file,
                               .readonly = place == PLACE_SNAPSHOTS,
                               .thin = src && src->thin,
                               .block_size = src ? src->block_size : 0};
        g_autofree char *w = NULL;
        if (export_file(c, tid, lus, &r, deadline, &w) == 0) {
            *why = g_strdup_printf("cannot export %s again: %s", file, w);
            return -1;
        }
    }
    return 0;
}

/* What a crash (of vdcfs or of tgtd) may have left; see the top. */
static int recover(const struct array_conn *c, int tid, GPtrArray *lus, gint64 deadline,
                   char **why)
{
    remove_temporaries(c->snapshot_dir);
    remove_temporaries(c->clone_dir);
    if (drop_stale_exports(c, tid, lus, deadline, why) < 0 ||
        export_orphans(c, tid, lus, PLACE_SNAPSHOTS, deadline, why) < 0 ||
        export_orphans(c, tid, lus, PLACE_CLONES, deadline, why) < 0)
        return -1;
    return 0;
}

/* The configured backing_dir, resolved; NULL with *why. */
static char *resolve_backing_dir(const char *dir, char **why)
{
    if (!dir || !g_path_is_absolute(dir)) {
        *why = g_strdup("backing_dir must be an absolute path");
        return NULL;
    }
    g_autofree char *real = realpath(dir, NULL);
    struct stat st;
    if (!real || stat(real, &st) < 0 || !S_ISDIR(st.st_mode)) {
        *why = g_strdup_printf("backing_dir %s: %s", dir,
                               real ? "not a directory" : g_strerror(errno));
        return NULL;
    }
    /* tgtadm passes paths inside comma-separated parameters. */
    if (strpbrk(real, ",\n")) {
        *why = g_strdup_printf("backing_dir %s contains a comma or a newline, which tgtadm "
                               "cannot pass", real);
        return NULL;
    }
    return g_steal_pointer(&real);
}

static struct array_conn *tgt_open(const struct vdc_array_config *cfg, unsigned timeout_s,
                                   char **err)
{
    const char *name = cfg->name ? cfg->name : "array";
    g_autofree char *why = NULL;
    if (!cfg->target || !*cfg->target) {
        set_err(err, name, "no target configured");
        return NULL;
    }
    g_autofree char *real = resolve_backing_dir(cfg->backing_dir, &why);
    if (!real) {
        set_err(err, name, "%s", why);
        return NULL;
    }
    g_autoptr(ArrayConn) c = g_new0(struct array_conn, 1);
    c->name = g_strdup(name);
    c->target = g_strdup(cfg->target);
    c->control_port = g_strdup_printf("%u", cfg->control_port);
    c->timeout_s = MAX(timeout_s, 1u);
    c->snapshot_dir = g_build_filename(real, SNAPSHOT_DIR, NULL);
    c->clone_dir = g_build_filename(real, CLONE_DIR, NULL);
    c->backing_dir = g_steal_pointer(&real);
    c->tgtadm = find_tgtadm();
    if (!c->tgtadm) {
        set_err(err, name, "tgtadm not found (package tgt)");
        return NULL;
    }

    gint64 deadline = deadline_after(c->timeout_s);
    int tid;
    g_autoptr(GPtrArray) lus = NULL;
    switch (fetch_luns(c, deadline, &tid, &lus, &why)) {
    case FETCH_NO_TARGET:
        set_err(err, name, "%s", why);
        return NULL;
    case FETCH_FAILED:
        set_err(err, name, "tgtd does not answer on control port %s: %s", c->control_port, why);
        return NULL;
    case FETCH_OK:
        break;
    }
    if (recover(c, tid, lus, deadline, &why) < 0) {
        set_err(err, name, "cannot recover snapshots: %s", why);
        return NULL;
    }
    return g_steal_pointer(&c);
}

static gint compare_luns(gconstpointer a, gconstpointer b)
{
    const struct array_lun *x = *(struct array_lun *const *)a, *y = *(struct array_lun *const *)b;
    return x->lun < y->lun ? -1 : x->lun > y->lun;
}

static int tgt_list_luns(struct array_conn *c, GPtrArray **out, char **err)
{
    g_autofree char *why = NULL;
    g_autoptr(GPtrArray) lus = NULL;
    int tid;
    if (fetch_luns(c, deadline_after(c->timeout_s), &tid, &lus, &why) != FETCH_OK) {
        set_err(err, c->name, "cannot list LUNs: %s", why);
        return -1;
    }
    GPtrArray *list = g_ptr_array_new_with_free_func((GDestroyNotify)array_lun_free);
    for (guint i = 0; i < lus->len; i++) {
        const struct tgt_lu *lu = g_ptr_array_index(lus, i);
        if (!is_stale(lu)) /* deleted; its export goes at the next change */
            g_ptr_array_add(list, describe(lus, lu));
    }
    g_ptr_array_sort(list, compare_luns);
    *out = list;
    return 0;
}

/* Allocation is the smaller of two upper bounds of what the LUN files
 * occupy: the sum of their allocated blocks (which counts blocks that
 * copy-on-write images share once per file) and the filesystem's used
 * space (which counts every block once, but also whatever else lives on
 * it).  On a filesystem of its own, as an array's pool would be, the
 * second is the truth. */
static int tgt_space(struct array_conn *c, uint64_t *capacity, uint64_t *allocation, char **err)
{
    struct statvfs vfs;
    if (statvfs(c->backing_dir, &vfs) < 0) {
        set_err(err, c->name, "cannot measure %s: %s", c->backing_dir, g_strerror(errno));
        return -1;
    }
    g_autofree char *why = NULL;
    g_autoptr(GPtrArray) lus = NULL;
    int tid;
    if (fetch_luns(c, deadline_after(c->timeout_s), &tid, &lus, &why) != FETCH_OK) {
        set_err(err, c->name, "cannot measure space: %s", why);
        return -1;
    }
    uint64_t files = 0;
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (guint i = 0; i < lus->len; i++) {
        const struct tgt_lu *lu = g_ptr_array_index(lus, i);
        struct stat st;
        if (!lu->path || stat(lu->path, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        char *key = g_strdup_printf("%ju:%ju", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
        if (g_hash_table_add(seen, key))
            files += (uint64_t)st.st_blocks * 512;
    }
    uint64_t used = (uint64_t)(vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize;
    *capacity = (uint64_t)vfs.f_blocks * vfs.f_frsize;
    *allocation = MIN(files, used);
    return 0;
}

/* Why @src cannot be the source of a snapshot (@role SNAPSHOT) or a clone;
 * NULL when it can. */
static char *copy_source_problem(const struct tgt_lu *src, unsigned lun, enum array_lun_role role)
{
    if (!src)
        return g_strdup_printf("LUN %u does not exist", lun);
    if (role_of(src) == ARRAY_LUN_CONTROLLER)
        return g_strdup_printf("LUN %u is the target's controller", lun);
    if (role == ARRAY_LUN_SNAPSHOT && src->place == PLACE_SNAPSHOTS)
        return g_strdup_printf("LUN %u is itself a snapshot", lun);
    if (src->place == PLACE_NONE)
        return g_strdup_printf("LUN %u has no backing file", lun);
    if (src->place == PLACE_ELSEWHERE)
        return g_strdup_printf("LUN %u's backing file %s is not in backing_dir", lun, src->path);
    return NULL;
}

/* Where @src's image @id goes in @dir (made if missing), once we know it
 * can be made there; NULL with *why. */
static char *image_path(const struct tgt_lu *src, const char *dir, const char *what,
                        const char *id, char **why)
{
    g_autofree char *name = g_strdup_printf("%s@%s", src->name, id);
    if (strlen(name) > NAME_MAX) {
        *why = g_strdup_printf("the image name %s is too long", name);
        return NULL;
    }
    if (ensure_dir(dir, why) < 0)
        return NULL;
    g_autofree char *final = g_build_filename(dir, name, NULL);
    struct stat st;
    if (lstat(final, &st) == 0) {
        *why = g_strdup_printf("%s %s of LUN %u already exists", what, id, src->lun);
        return NULL;
    }
    return g_steal_pointer(&final);
}

/* Writes the image @final of @src and exports it (read-only for a
 * snapshot).  Returns the new LUN, or 0 with *why and no file left. */
static unsigned write_and_export(const struct array_conn *c, int tid, GPtrArray *lus,
                                 const struct tgt_lu *src, const char *final,
                                 enum array_lun_role role, gint64 deadline, bool *cow,
                                 char **why)
{
    if (write_image(src->file, final, deadline, cow, why) < 0)
        return 0;
    struct export_req r = {.file = final,
                           .readonly = role == ARRAY_LUN_SNAPSHOT,
                           .thin = src->thin,
                           .block_size = src->block_size};
    unsigned n = export_file(c, tid, lus, &r, deadline, why);
    if (!n) {
        unlink(final);
        g_autofree char *dir = g_path_get_dirname(final);
        fsync_dir(dir);
    }
    return n;
}

/* snapshot() and clone(): an image of @lun in the snapshot or clone
 * directory, exported as a new LUN. */
static int make_image(struct array_conn *c, unsigned lun, const char *id,
                      enum array_lun_role role, struct array_lun **out, char **err)
{
    const char *what = role == ARRAY_LUN_SNAPSHOT ? "snapshot" : "clone";
    if (!array_id_valid(id)) {
        /* The id is not shown: it is not known to be printable. */
        set_err(err, c->name, "cannot make a %s of LUN %u: invalid id (1-64 of A-Z a-z 0-9 _ -)",
                what, lun);
        errno = EINVAL;
        return -1;
    }
    gint64 deadline = deadline_after(c->timeout_s);
    g_autofree char *why = NULL;
    g_autoptr(GPtrArray) lus = NULL;
    int tid;
    if (fetch_luns(c, deadline, &tid, &lus, &why) != FETCH_OK) {
        set_err(err, c->name, "cannot make %s %s of LUN %u: %s", what, id, lun, why);
        return -1;
    }
    g_autofree char *stale_why = NULL; /* best effort: the next change tries again */
    drop_stale_exports(c, tid, lus, deadline, &stale_why);

    const struct tgt_lu *src = find_lun(lus, lun);
    const char *dir = role == ARRAY_LUN_SNAPSHOT ? c->snapshot_dir : c->clone_dir;
    why = copy_source_problem(src, lun, role);
    g_autofree char *final = why ? NULL : image_path(src, dir, what, id, &why);
    bool cow = false;
    unsigned n = final ? write_and_export(c, tid, lus, src, final, role, deadline, &cow, &why) : 0;
    if (!n) {
        set_err(err, c->name, "cannot make %s %s of LUN %u: %s", what, id, lun, why);
        return -1;
    }
    *out = describe(lus, find_lun(lus, n));
    (*out)->cow = cow; /* how it was made, even if the mark could not be kept */
    return 0;
}

static int tgt_snapshot(struct array_conn *c, unsigned lun, const char *id,
                        struct array_lun **out, char **err)
{
    return make_image(c, lun, id, ARRAY_LUN_SNAPSHOT, out, err);
}

static int tgt_clone(struct array_conn *c, unsigned lun, const char *id, struct array_lun **out,
                     char **err)
{
    return make_image(c, lun, id, ARRAY_LUN_CLONE, out, err);
}

/* Deletes the image even when tgtd cannot unexport it (see the top): the
 * LUNs as last seen say which file it is when tgtd does not answer. */
static int tgt_delete_snapshot(struct array_conn *c, unsigned snap_lun, char **err)
{
    gint64 deadline = deadline_after(c->timeout_s);
    g_autofree char *tgtd_why = NULL;
    g_autoptr(GPtrArray) lus = NULL;
    int tid = -1;
    if (fetch_luns(c, deadline, &tid, &lus, &tgtd_why) != FETCH_OK) {
        if (!c->known || !find_lun(c->known, snap_lun)) {
            set_err(err, c->name, "cannot delete LUN %u: %s", snap_lun, tgtd_why);
            return -1;
        }
        lus = g_ptr_array_ref(c->known);
    }
    struct tgt_lu *lu = find_lun(lus, snap_lun);
    if (!lu) {
        set_err(err, c->name, "cannot delete LUN %u: it does not exist", snap_lun);
        return -1;
    }
    if (!is_image(lu)) {
        set_err(err, c->name, "cannot delete LUN %u: it is not a snapshot or clone", snap_lun);
        return -1;
    }
    if (!tgtd_why)
        unexport(c, tid, snap_lun, deadline, &tgtd_why);
    g_autofree char *file = g_strdup(lu->file);
    g_ptr_array_remove(lus, lu);
    if (unlink(file) < 0 && errno != ENOENT) {
        set_err(err, c->name, "cannot delete %s (LUN %u): %s", file, snap_lun, g_strerror(errno));
        return -1;
    }
    g_autofree char *dir = g_path_get_dirname(file);
    fsync_dir(dir);
    if (tgtd_why) {
        set_err(err, c->name, "LUN %u: deleted %s, but tgtd did not remove the export (%s)",
                snap_lun, file, tgtd_why);
        return -1;
    }
    return 0;
}

/* Why @dst cannot be reverted to @snap; NULL when it can. */
static char *revert_problem(GPtrArray *lus, const struct tgt_lu *dst, unsigned lun,
                            const struct tgt_lu *snap, unsigned snap_lun)
{
    if (!snap || snap->place != PLACE_SNAPSHOTS)
        return g_strdup_printf("LUN %u is not a snapshot", snap_lun);
    if (!dst || (dst->place != PLACE_DISKS && dst->place != PLACE_CLONES))
        return g_strdup_printf("LUN %u is not a disk or clone in backing_dir", lun);
    const struct tgt_lu *src = source_of(lus, snap->base);
    if (!src || src->lun != lun)
        return g_strdup_printf("LUN %u is not a snapshot of LUN %u", snap_lun, lun);
    return NULL;
}

/* Opens the snapshot's and the LUN's files and checks that their sizes
 * agree: tgtd reads a LUN's size only when it is exported, so a revert
 * must not change it. */
static int open_revert_pair(const struct tgt_lu *dst, const struct tgt_lu *snap, int *src_fd,
                            int *dst_fd, off_t *size, char **why)
{
    struct stat s, d;
    *src_fd = open(snap->file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    *dst_fd = open(dst->file, O_WRONLY | O_CLOEXEC);
    if (*src_fd < 0 || *dst_fd < 0 || fstat(*src_fd, &s) < 0 || fstat(*dst_fd, &d) < 0) {
        *why = g_strdup_printf("cannot open %s: %s", *src_fd < 0 ? snap->file : dst->file,
                               g_strerror(errno));
        return -1;
    }
    if (!S_ISREG(d.st_mode) || s.st_size != d.st_size) {
        *why = g_strdup_printf("LUN %u's size changed since the snapshot (%jd, now %jd bytes)",
                               dst->lun, (intmax_t)s.st_size, (intmax_t)d.st_size);
        return -1;
    }
    *size = s.st_size;
    return 0;
}

static int tgt_revert(struct array_conn *c, unsigned lun, unsigned snap_lun, char **err)
{
    gint64 deadline = deadline_after(c->timeout_s);
    g_autofree char *why = NULL;
    g_autoptr(GPtrArray) lus = NULL;
    int tid;
    if (fetch_luns(c, deadline, &tid, &lus, &why) != FETCH_OK) {
        set_err(err, c->name, "cannot revert LUN %u to LUN %u: %s", lun, snap_lun, why);
        return -1;
    }
    const struct tgt_lu *dst = find_lun(lus, lun), *snap = find_lun(lus, snap_lun);
    why = revert_problem(lus, dst, lun, snap, snap_lun);
    int src_fd = -1, dst_fd = -1;
    off_t size = 0;
    bool cow;
    if (!why && open_revert_pair(dst, snap, &src_fd, &dst_fd, &size, &why) == 0)
        clone_or_copy(src_fd, dst_fd, size, true, deadline, &cow, &why);
    if (src_fd >= 0)
        close(src_fd);
    if (dst_fd >= 0 && close(dst_fd) < 0 && !why)
        why = g_strdup_printf("cannot write %s: %s", dst->file, g_strerror(errno));
    if (why) {
        set_err(err, c->name, "cannot revert LUN %u to LUN %u: %s", lun, snap_lun, why);
        return -1;
    }
    return 0;
}

const struct array_ops array_tgt_ops = {
    .driver = "tgt",
    .open = tgt_open,
    .close = tgt_close,
    .list_luns = tgt_list_luns,
    .space = tgt_space,
    .snapshot = tgt_snapshot,
    .delete_snapshot = tgt_delete_snapshot,
    .revert = tgt_revert,
    .clone = tgt_clone,
};
