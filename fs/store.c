/* store.c — the state directory, see store.h.
 *
 * Everything goes through directory file descriptors (the state directory
 * and its vms/) with openat() and friends: a user's name is only ever one
 * validated path component, so no name can reach outside vms/, and no
 * path string has to be built except for messages.
 *
 * Names starting with ".tmp-" are ours:
 *   <dir>/.tmp-removed-*          a VM directory being removed (see below)
 *   <dir>/vms/.tmp-probe-*        the write check of vdc_store_open()
 *   <dir>/vms/<fname>/.tmp-*      a file being replaced
 * A VM may itself be called ".tmp-something" (vdc_name_encode() keeps a
 * leading dot), so in vms/ only regular files with that prefix are ours;
 * directories there are always VMs. */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SPEC_FILE "spec.json"
#define META_FILE "vdcfs.json"
#define VMS_DIR "vms"
#define TMP_PREFIX ".tmp-"

/* Files read at load are kept in memory for the daemon's life; a file
 * bigger than this is not something vdcfs wrote or a person meant. */
#define MAX_FILE_SIZE (16u << 20)

/* How deep remove_tree() follows subdirectories.  Only a person can put
 * directories inside a VM directory; the bound keeps recursion (and so
 * the stack) small whatever they did. */
#define MAX_TREE_DEPTH 16

struct vdc_store {
    char *path;     /* absolute state directory */
    char *vms_path; /* path + "/vms", for messages only */
    int root_fd;    /* O_DIRECTORY fd of path */
    int vms_fd;     /* O_DIRECTORY fd of vms/ */
};

/* --- cleanup helpers: early returns free and close ------------------- */

static void close_fdp(int *fd)
{
    if (*fd >= 0) {
        int saved = errno; /* callers read errno after an early return */
        close(*fd);
        errno = saved;
    }
}
#define auto_fd __attribute__((cleanup(close_fdp))) int

static void closedirp(DIR **d)
{
    if (*d) {
        int saved = errno;
        closedir(*d);
        errno = saved;
    }
}
#define auto_dir __attribute__((cleanup(closedirp))) DIR *

/* json_t: jansson's own json_auto_t. */

typedef struct vdc_store store_t;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(store_t, vdc_store_close)
typedef struct vdc_stored_vm stored_vm_t;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(stored_vm_t, vdc_stored_vm_free)

/* Closes *fd now (so that its error is seen) and disarms the cleanup.
 * EINTR is not an error: Linux has closed the fd anyway, and retrying
 * could close someone else's. */
static int close_now(int *fd)
{
    int rc = close(*fd);
    *fd = -1;
    return rc < 0 && errno != EINTR ? -1 : 0;
}

/* --- errors ----------------------------------------------------------- */

/* Sets *err to "state dir PATH: strerror" with code @errnum; returns false
 * so that callers can "return fail(...)". */
static bool fail(GError **err, int errnum, const char *path)
{
    g_set_error(err, VDC_STORE_ERROR, errnum, "state dir %s: %s", path, g_strerror(errnum));
    return false;
}

/* fail() for vms/[FNAME[/LEAF]]. */
static bool fail_at(GError **err, int errnum, const struct vdc_store *st, const char *fname,
                    const char *leaf)
{
    g_autofree char *path = g_build_filename(st->vms_path, fname, leaf, NULL);
    return fail(err, errnum, path);
}

/* --- names ------------------------------------------------------------ */

/* A valid fname is exactly one path component: anything else could name
 * a file outside the VM's directory, or the directory itself. */
static bool fname_valid(const char *fname)
{
    if (!fname)
        return false;
    size_t n = strnlen(fname, NAME_MAX + 1);
    if (n == 0 || n > NAME_MAX)
        return false;
    if (strcmp(fname, ".") == 0 || strcmp(fname, "..") == 0)
        return false;
    return memchr(fname, '/', n) == NULL;
}

/* Checks @fname before anything touches the disk. */
static bool check_fname(const struct vdc_store *st, const char *fname, GError **err)
{
    if (fname_valid(fname))
        return true;
    /* Escaped and cut: the name is whatever the caller passed. */
    g_autofree char *cut = fname ? g_strndup(fname, 64) : g_strdup("(null)");
    g_autofree char *shown = g_strescape(cut, NULL);
    g_set_error(err, VDC_STORE_ERROR, EINVAL, "state dir %s: invalid VM directory name \"%s%s\": %s",
                st->vms_path, shown, fname && strlen(fname) > 64 ? "..." : "",
                g_strerror(EINVAL));
    return false;
}

static bool is_tmp_name(const char *name)
{
    return g_str_has_prefix(name, TMP_PREFIX);
}

/* --- small syscall wrappers ------------------------------------------- */

static int fsync_retry(int fd)
{
    int rc;
    do
        rc = fsync(fd);
    while (rc < 0 && errno == EINTR);
    return rc;
}

/* write() may write less than asked (signals, quotas reached midway);
 * a short file renamed into place would be a corrupt spec. */
static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, MIN(len, (size_t)1 << 30));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0) { /* cannot happen for a regular file; never spin */
            errno = EIO;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Creates a new empty file "<TMP_PREFIX><what>-<random>" in @dir_fd.
 * Random rather than pid/counter names so that threads and processes
 * never need to agree; O_EXCL turns a collision into a retry, never into
 * writing someone else's file. */
static int open_tmp(int dir_fd, const char *what, char **name_out)
{
    for (int tries = 0; tries < 100; tries++) {
        g_autofree char *name = g_strdup_printf(TMP_PREFIX "%s-%08x", what, g_random_int());
        int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd >= 0) {
            *name_out = g_steal_pointer(&name);
            return fd;
        }
        if (errno != EEXIST && errno != EINTR)
            return -1;
    }
    errno = EEXIST;
    return -1;
}

/* Opens @name (a directory) in @dir_fd for listing.  A fresh open rather
 * than dup(): a dup shares the file offset, so two threads listing the
 * same directory would read each other's positions. */
static DIR *opendir_at(int dir_fd, const char *name)
{
    int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    DIR *d = fdopendir(fd);
    if (!d)
        close_fdp(&fd);
    return d;
}

/* Called for each entry of a directory listed by for_each_entry(), with
 * the listed directory's fd.  Returns -1 with errno to stop. */
typedef int (*entry_fn)(int dir_fd, const char *name, void *ctx);

/* Calls @fn for each entry of @dir_fd/@name except "." and "..". */
static int for_each_entry(int dir_fd, const char *name, entry_fn fn, void *ctx)
{
    auto_dir d = opendir_at(dir_fd, name);
    if (!d)
        return -1;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e)
            return errno ? -1 : 0;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (fn(dirfd(d), e->d_name, ctx) < 0)
            return -1;
    }
}

/* --- removing --------------------------------------------------------- */

static int remove_tree_depth(int dir_fd, const char *name, int depth);

static int remove_entry_cb(int dir_fd, const char *name, void *ctx)
{
    return remove_tree_depth(dir_fd, name, *(int *)ctx + 1);
}

/* Removes @name in @dir_fd whatever it is (file, symlink, directory with
 * its contents; symlinks are removed, never followed).  Gone already is
 * success. */
static int remove_tree_depth(int dir_fd, const char *name, int depth)
{
    if (unlinkat(dir_fd, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM) /* EPERM: POSIX's word for a directory */
        return -1;
    int unlink_errno = errno;
    if (depth >= MAX_TREE_DEPTH) {
        errno = ELOOP;
        return -1;
    }
    if (for_each_entry(dir_fd, name, remove_entry_cb, &depth) < 0) {
        if (errno == ENOTDIR) /* not a directory: the unlink error was the real one */
            errno = unlink_errno;
        return errno == ENOENT ? 0 : -1;
    }
    if (unlinkat(dir_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return -1;
    return 0;
}

static int remove_tree(int dir_fd, const char *name)
{
    return remove_tree_depth(dir_fd, name, 0);
}

/* unlinkat() where already gone is success. */
static int unlink_if_present(int dir_fd, const char *name)
{
    return unlinkat(dir_fd, name, 0) < 0 && errno != ENOENT ? -1 : 0;
}

/* --- crash leftovers ------------------------------------------------- */

/* In a VM directory every ".tmp-" entry is an unfinished replace. */
static int clean_vm_entry_cb(int dir_fd, const char *name, void *ctx)
{
    (void)ctx;
    return is_tmp_name(name) ? remove_tree(dir_fd, name) : 0;
}

/* What clean_vms_entry_cb() could not clean, for the message. */
struct clean_ctx {
    char *failed;
};

/* An entry of vms/: a probe file left by open, or a VM directory to clean
 * inside.  Symlinks and other files are left alone (load skips them). */
static int clean_vms_entry_cb(int dir_fd, const char *name, void *ctx)
{
    struct clean_ctx *c = ctx;
    struct stat sb;
    if (fstatat(dir_fd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -1;
    int rc = 0;
    if (S_ISREG(sb.st_mode) && is_tmp_name(name))
        rc = unlink_if_present(dir_fd, name);
    else if (S_ISDIR(sb.st_mode))
        rc = for_each_entry(dir_fd, name, clean_vm_entry_cb, NULL);
    if (rc < 0 && errno != ENOENT) {
        c->failed = g_strdup(name);
        return -1;
    }
    return 0;
}

/* Removes what a crash left half-done.  No fsync afterwards: a leftover
 * coming back after another crash is removed again next time. */
static bool clean_leftovers(struct vdc_store *st, GError **err)
{
    /* In the state directory itself, ".tmp-" entries are VM directories
     * whose removal was cut short: the same rule as inside a VM's. */
    if (for_each_entry(st->root_fd, ".", clean_vm_entry_cb, NULL) < 0)
        return fail(err, errno, st->path);
    struct clean_ctx c = {NULL};
    if (for_each_entry(st->vms_fd, ".", clean_vms_entry_cb, &c) < 0) {
        g_autofree char *failed = c.failed;
        return failed ? fail_at(err, errno, st, failed, NULL) : fail(err, errno, st->vms_path);
    }
    return true;
}

/* --- opening ---------------------------------------------------------- */

/* fsyncs the directory @path: after a mkdir or rmdir in it, its entry is
 * only durable once the parent is. */
static int fsync_dir_path(const char *path)
{
    auto_fd fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    return fsync_retry(fd);
}

/* Makes the state directory itself if missing (not its parents: a
 * mistyped path should fail, not grow a tree). */
static bool make_state_dir(const char *path, GError **err)
{
    if (mkdir(path, 0700) < 0)
        return errno == EEXIST ? true : fail(err, errno, path);
    g_autofree char *parent = g_path_get_dirname(path);
    if (fsync_dir_path(parent) < 0)
        return fail(err, errno, parent);
    return true;
}

/* Makes vms/ if missing and opens it. */
static bool open_vms_dir(struct vdc_store *st, GError **err)
{
    if (mkdirat(st->root_fd, VMS_DIR, 0700) == 0) {
        if (fsync_retry(st->root_fd) < 0)
            return fail(err, errno, st->path);
    } else if (errno != EEXIST) {
        return fail(err, errno, st->vms_path);
    }
    st->vms_fd = openat(st->root_fd, VMS_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (st->vms_fd < 0)
        return fail(err, errno, st->vms_path);
    return true;
}

/* Creates and removes a file in vms/: finding out at start that writes
 * will fail (read-only mount, permissions, ACLs, immutable flag) beats
 * finding out when a user's spec cannot be kept.  access() would miss
 * some of these. */
static bool check_writable(struct vdc_store *st, GError **err)
{
    g_autofree char *probe = NULL;
    auto_fd fd = open_tmp(st->vms_fd, "probe", &probe);
    if (fd < 0)
        return fail(err, errno, st->vms_path);
    if (unlinkat(st->vms_fd, probe, 0) < 0)
        return fail_at(err, errno, st, probe, NULL);
    return true;
}

struct vdc_store *vdc_store_open(const char *dir, GError **err)
{
    if (!dir || !*dir) {
        g_set_error(err, VDC_STORE_ERROR, EINVAL, "state dir: empty path: %s", g_strerror(EINVAL));
        return NULL;
    }
    g_autoptr(store_t) st = g_new0(struct vdc_store, 1);
    st->root_fd = st->vms_fd = -1;
    /* Absolute, so that messages and vdc_store_path() do not depend on
     * the working directory (a daemon changes it). */
    st->path = g_canonicalize_filename(dir, NULL);
    st->vms_path = g_build_filename(st->path, VMS_DIR, NULL);

    if (!make_state_dir(st->path, err))
        return NULL;
    st->root_fd = open(st->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (st->root_fd < 0) {
        fail(err, errno, st->path);
        return NULL;
    }
    if (!open_vms_dir(st, err) || !check_writable(st, err) || !clean_leftovers(st, err))
        return NULL;
    return g_steal_pointer(&st);
}

void vdc_store_close(struct vdc_store *st)
{
    if (!st)
        return;
    close_fdp(&st->vms_fd);
    close_fdp(&st->root_fd);
    g_free(st->vms_path);
    g_free(st->path);
    g_free(st);
}

const char *vdc_store_path(const struct vdc_store *st)
{
    return st->path;
}

/* --- writing ---------------------------------------------------------- */

/* Opens the VM directory @fname, making it first when @create.  With
 * @sync_parent vms/ is fsync'd even when the directory existed: an
 * earlier call may have made it and failed before its fsync, and fsync
 * of a clean directory costs little.  (Callers that sync the whole file
 * system afterwards pass false.)  Returns -1 with *err; with !@create, a
 * missing directory gives -1 with errno ENOENT and no *err so callers can
 * treat it as done. */
static int open_vm_dir(const struct vdc_store *st, const char *fname, bool create,
                       bool sync_parent, GError **err)
{
    if (create) {
        if (mkdirat(st->vms_fd, fname, 0700) < 0 && errno != EEXIST) {
            fail_at(err, errno, st, fname, NULL);
            return -1;
        }
        if (sync_parent && fsync_retry(st->vms_fd) < 0) {
            fail(err, errno, st->vms_path);
            return -1;
        }
    }
    /* O_NOFOLLOW: a symlink under vms/ is not a VM directory (load skips
     * it), so writes must not go through it either. */
    int fd = openat(st->vms_fd, fname, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && (create || errno != ENOENT)) {
        int e = errno == ELOOP ? ENOTDIR : errno;
        fail_at(err, e, st, fname, NULL);
        errno = e;
    }
    return fd;
}

static int append_to_gstring(const char *buffer, size_t size, void *data)
{
    g_string_append_len(data, buffer, (gssize)size);
    return 0;
}

/* vdcfs.json's text: jansson's indented, sorted form and a newline.
 * NULL with *err for anything but an object: load keeps only objects, so
 * storing anything else would be lost. */
static GString *meta_text(const struct vdc_store *st, const char *fname, json_t *meta,
                          GError **err)
{
    if (!json_is_object(meta)) {
        g_autofree char *path = g_build_filename(st->vms_path, fname, META_FILE, NULL);
        g_set_error(err, VDC_STORE_ERROR, EINVAL, "state dir %s: not a JSON object: %s", path,
                    g_strerror(EINVAL));
        return NULL;
    }
    /* Into a GString rather than json_dumps(): its result would have to be
     * freed with jansson's allocator, which the program may have changed. */
    GString *text = g_string_new(NULL);
    if (json_dump_callback(meta, append_to_gstring, text, JSON_INDENT(2) | JSON_SORT_KEYS) < 0) {
        g_string_free(text, TRUE);
        fail_at(err, ENOMEM, st, fname, META_FILE);
        return NULL;
    }
    g_string_append_c(text, '\n');
    return text;
}

/* --- group commit ------------------------------------------------------ */

/* One file staged in a transaction: written to a temporary, renamed over
 * @leaf at commit. */
struct staged_file {
    int dir_fd;       /* the VM directory, owned */
    char *fname;      /* for messages */
    const char *leaf; /* SPEC_FILE or META_FILE */
    char *tmp;        /* NULL once renamed */
};

struct vdc_store_txn {
    struct vdc_store *st;
    GArray *files; /* of struct staged_file */
    bool dirs;     /* a VM directory may have been made: something to sync */
};

static int syncfs_retry(int fd)
{
    int rc;
    do
        rc = syncfs(fd);
    while (rc < 0 && errno == EINTR);
    return rc;
}

static void staged_file_clear(struct staged_file *f)
{
    if (f->tmp)
        unlinkat(f->dir_fd, f->tmp, 0); /* best effort: open removes it otherwise */
    if (f->dir_fd >= 0)
        close(f->dir_fd);
    g_free(f->fname);
    g_free(f->tmp);
}

struct vdc_store_txn *vdc_store_txn_begin(struct vdc_store *st)
{
    struct vdc_store_txn *t = g_new0(struct vdc_store_txn, 1);
    t->st = st;
    t->files = g_array_new(FALSE, TRUE, sizeof(struct staged_file));
    g_array_set_clear_func(t->files, (GDestroyNotify)staged_file_clear);
    return t;
}

void vdc_store_txn_free(struct vdc_store_txn *t)
{
    if (!t)
        return;
    g_array_unref(t->files);
    g_free(t);
}

bool vdc_store_txn_empty(const struct vdc_store_txn *t)
{
    return t->files->len == 0 && !t->dirs;
}

/* Writes @data to a new temporary file in @dir_fd and stages it. */
static bool stage_file(struct vdc_store_txn *t, int dir_fd, const char *fname, const char *leaf,
                       const void *data, size_t len, GError **err)
{
    struct staged_file f = {.dir_fd = dup(dir_fd), .fname = g_strdup(fname), .leaf = leaf};
    int fd = f.dir_fd < 0 ? -1 : open_tmp(dir_fd, leaf, &f.tmp);
    if (fd < 0 || write_all(fd, data, len) < 0 || close_now(&fd) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        staged_file_clear(&f);
        return fail_at(err, e, t->st, fname, leaf);
    }
    g_array_append_val(t->files, f);
    return true;
}

bool vdc_store_txn_put_dir(struct vdc_store_txn *t, const char *fname, GError **err)
{
    if (!check_fname(t->st, fname, err))
        return false;
    auto_fd dir_fd = open_vm_dir(t->st, fname, true, false, err);
    if (dir_fd < 0)
        return false;
    t->dirs = true;
    return true;
}

bool vdc_store_txn_put_vm(struct vdc_store_txn *t, const char *fname, const void *spec,
                          size_t spec_len, json_t *meta, GError **err)
{
    g_return_val_if_fail(spec || spec_len == 0, false);
    if (!check_fname(t->st, fname, err))
        return false;
    g_autoptr(GString) text = NULL;
    if (meta && !(text = meta_text(t->st, fname, meta, err)))
        return false;
    auto_fd dir_fd = open_vm_dir(t->st, fname, true, false, err);
    if (dir_fd < 0)
        return false;
    t->dirs = true;
    guint before = t->files->len;
    /* The spec first: a crash between the two renames leaves the new spec
     * with the old decisions, which the loader completes; never decisions
     * for a spec that is not there. */
    if ((spec && !stage_file(t, dir_fd, fname, SPEC_FILE, spec, spec_len, err)) ||
        (text && !stage_file(t, dir_fd, fname, META_FILE, text->str, text->len, err))) {
        g_array_set_size(t->files, before); /* this VM's temporaries go */
        return false;
    }
    return true;
}

/* Two flushes to the disk for the whole group, however many files: the
 * first makes every temporary's content and every new directory durable,
 * the second every rename.  syncfs rather than an fsync per file: on a
 * journalling file system each fsync is a journal commit and a disk
 * flush of its own.  The price: a sync also waits for other dirty data
 * on the state directory's file system, so state_dir belongs on a file
 * system that does not take bulk writes. */
bool vdc_store_txn_commit(struct vdc_store_txn *t, GError **err)
{
    bool ok = true, renamed = false;
    if (vdc_store_txn_empty(t))
        return true;
    if (syncfs_retry(t->st->vms_fd) < 0)
        ok = fail(err, errno, t->st->path);
    for (guint i = 0; ok && i < t->files->len; i++) {
        struct staged_file *f = &g_array_index(t->files, struct staged_file, i);
        if (renameat(f->dir_fd, f->tmp, f->dir_fd, f->leaf) < 0) {
            ok = fail_at(err, errno, t->st, f->fname, f->leaf);
            break;
        }
        g_clear_pointer(&f->tmp, g_free);
        renamed = true;
    }
    if (renamed && syncfs_retry(t->st->vms_fd) < 0 && ok)
        ok = fail(err, errno, t->st->path);
    g_array_set_size(t->files, 0); /* closes the directories, removes what was not renamed */
    t->dirs = false;
    return ok;
}

/* --- one change at a time ---------------------------------------------- */

bool vdc_store_put_dir(struct vdc_store *st, const char *fname, GError **err)
{
    if (!check_fname(st, fname, err))
        return false;
    auto_fd dir_fd = open_vm_dir(st, fname, true, true, err);
    return dir_fd >= 0;
}

bool vdc_store_put_spec(struct vdc_store *st, const char *fname, const void *data, size_t len,
                        GError **err)
{
    return vdc_store_put_vm(st, fname, data ? data : "", len, NULL, err);
}

bool vdc_store_put_meta(struct vdc_store *st, const char *fname, json_t *meta, GError **err)
{
    if (!check_fname(st, fname, err))
        return false;
    if (!meta) {
        g_autoptr(GString) none = meta_text(st, fname, meta, err);
        return false;
    }
    return vdc_store_put_vm(st, fname, NULL, 0, meta, err);
}

bool vdc_store_put_vm(struct vdc_store *st, const char *fname, const void *spec, size_t spec_len,
                      json_t *meta, GError **err)
{
    if (!spec && !meta)
        return vdc_store_put_dir(st, fname, err);
    struct vdc_store_txn *t = vdc_store_txn_begin(st);
    bool ok = vdc_store_txn_put_vm(t, fname, spec, spec_len, meta, err) &&
              vdc_store_txn_commit(t, err);
    vdc_store_txn_free(t);
    return ok;
}

bool vdc_store_remove_spec(struct vdc_store *st, const char *fname, GError **err)
{
    if (!check_fname(st, fname, err))
        return false;
    auto_fd dir_fd = open_vm_dir(st, fname, false, false, err);
    if (dir_fd < 0)
        return errno == ENOENT;
    /* The spec first: it is what says the VM should be, so a crash in
     * between leaves a VM that is no longer wanted, never a spec whose
     * decisions are lost. */
    if (unlink_if_present(dir_fd, SPEC_FILE) < 0)
        return fail_at(err, errno, st, fname, SPEC_FILE);
    if (unlink_if_present(dir_fd, META_FILE) < 0)
        return fail_at(err, errno, st, fname, META_FILE);
    if (fsync_retry(dir_fd) < 0)
        return fail_at(err, errno, st, fname, NULL);
    return true;
}

/* Removes the VM directory in place, file by file: for when it cannot be
 * moved out of vms/ first (vms/ on another file system). */
static bool remove_in_place(struct vdc_store *st, const char *fname, GError **err)
{
    if (remove_tree(st->vms_fd, fname) < 0)
        return fail_at(err, errno, st, fname, NULL);
    if (fsync_retry(st->vms_fd) < 0)
        return fail(err, errno, st->vms_path);
    return true;
}

/* Moves the VM directory @fname out of vms/ to a new <dir>/.tmp-removed-*
 * (*trash_out).  RENAME_NOREPLACE: renaming a directory onto an empty one
 * would silently replace it. */
static int move_to_trash(struct vdc_store *st, const char *fname, char **trash_out)
{
    for (int tries = 0; tries < 100; tries++) {
        g_autofree char *trash = g_strdup_printf(TMP_PREFIX "removed-%08x", g_random_int());
        if (renameat2(st->vms_fd, fname, st->root_fd, trash, RENAME_NOREPLACE) == 0) {
            *trash_out = g_steal_pointer(&trash);
            return 0;
        }
        if (errno != EEXIST)
            return -1;
    }
    return -1;
}

/* The VM directory is first moved out of vms/, which is one atomic step:
 * a crash can never leave a VM directory with some of its files gone.
 * Then the moved tree is deleted at leisure. */
bool vdc_store_remove(struct vdc_store *st, const char *fname, GError **err)
{
    if (!check_fname(st, fname, err))
        return false;
    g_autofree char *trash = NULL;
    if (move_to_trash(st, fname, &trash) < 0) {
        if (errno == ENOENT)
            return true;
        /* vms/ on another file system, or no RENAME_NOREPLACE there */
        if (errno == EXDEV || errno == EINVAL || errno == ENOSYS)
            return remove_in_place(st, fname, err);
        return fail_at(err, errno, st, fname, NULL);
    }
    if (fsync_retry(st->vms_fd) < 0)
        return fail(err, errno, st->vms_path);
    /* The VM is gone from vms/; what is left is ours to tidy, and a failure
     * here is tidied by the next vdc_store_open(). */
    if (remove_tree(st->root_fd, trash) < 0)
        g_warning("state dir %s/%s: %s (removed at next start)", st->path, trash,
                  g_strerror(errno));
    return true;
}

/* --- loading ---------------------------------------------------------- */

void vdc_stored_vm_free(struct vdc_stored_vm *v)
{
    if (!v)
        return;
    g_free(v->fname);
    if (v->spec)
        g_bytes_unref(v->spec);
    json_decref(v->meta);
    g_free(v);
}

static int warn_skipped(const struct vdc_store *st, const char *fname, const char *leaf,
                        const char *why)
{
    g_warning("state dir %s/%s/%s: %s, ignored", st->vms_path, fname, leaf, why);
    return 0;
}

/* Reads @leaf of the VM directory @dir_fd whole.  *out is NULL when the
 * file is absent, or skipped with a warning (not a regular file, over
 * MAX_FILE_SIZE).  Returns -1 with errno on a read error: the caller must
 * not mistake an unreadable spec for an absent one. */
static int read_small_file(const struct vdc_store *st, int dir_fd, const char *fname,
                           const char *leaf, GBytes **out)
{
    *out = NULL;
    /* O_NONBLOCK: a FIFO put there must not hang the daemon at open. */
    auto_fd fd = openat(dir_fd, leaf, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        if (errno == ELOOP || errno == ENXIO) /* a symlink; a socket */
            return warn_skipped(st, fname, leaf, "not a regular file");
        return -1;
    }
    struct stat sb;
    if (fstat(fd, &sb) < 0)
        return -1;
    if (!S_ISREG(sb.st_mode))
        return warn_skipped(st, fname, leaf, "not a regular file");
    if (sb.st_size > (off_t)MAX_FILE_SIZE)
        return warn_skipped(st, fname, leaf, "larger than 16 MiB");
    /* Read to the end rather than trusting st_size, and check the size
     * again as bytes arrive: a person may be writing the file. */
    g_autoptr(GByteArray) buf = g_byte_array_new();
    size_t used = 0;
    for (;;) {
        if (used > MAX_FILE_SIZE)
            return warn_skipped(st, fname, leaf, "larger than 16 MiB");
        size_t chunk = 64 * 1024;
        g_byte_array_set_size(buf, (guint)(used + chunk));
        ssize_t n = read(fd, buf->data + used, chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        used += (size_t)n;
    }
    g_byte_array_set_size(buf, (guint)used);
    *out = g_byte_array_free_to_bytes(g_steal_pointer(&buf));
    return 0;
}

/* vdcfs.json's bytes as a JSON object, or NULL (with a warning) when they
 * are not one: a bad meta loses vdcfs's decisions, never the VM. */
static json_t *parse_meta(const struct vdc_store *st, const char *fname, GBytes *bytes)
{
    if (!bytes)
        return NULL;
    gsize size;
    const char *data = g_bytes_get_data(bytes, &size);
    json_error_t jerr;
    json_auto_t *meta = json_loadb(data, size, 0, &jerr);
    if (!meta) {
        g_warning("state dir %s/%s/%s: line %d: %s, ignored", st->vms_path, fname, META_FILE,
                  jerr.line, jerr.text);
        return NULL;
    }
    if (!json_is_object(meta)) {
        g_warning("state dir %s/%s/%s: not a JSON object, ignored", st->vms_path, fname,
                  META_FILE);
        return NULL;
    }
    json_t *ret = meta;
    meta = NULL;
    return ret;
}

/* Reads one VM directory.  *out is NULL (and true returned) when it is
 * not one after all: removed since it was listed, or replaced by
 * something else. */
static bool load_vm(const struct vdc_store *st, const char *fname, struct vdc_stored_vm **out,
                    GError **err)
{
    *out = NULL;
    auto_fd dir_fd = openat(st->vms_fd, fname, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (dir_fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
            return true;
        return fail_at(err, errno, st, fname, NULL);
    }
    g_autoptr(stored_vm_t) vm = g_new0(struct vdc_stored_vm, 1);
    vm->fname = g_strdup(fname);
    if (read_small_file(st, dir_fd, fname, SPEC_FILE, &vm->spec) < 0)
        return fail_at(err, errno, st, fname, SPEC_FILE);
    g_autoptr(GBytes) meta = NULL;
    if (read_small_file(st, dir_fd, fname, META_FILE, &meta) < 0)
        return fail_at(err, errno, st, fname, META_FILE);
    vm->meta = parse_meta(st, fname, meta);
    *out = g_steal_pointer(&vm);
    return true;
}

struct collect_ctx {
    const struct vdc_store *st;
    GPtrArray *names;
};

/* Collects the names of vms/ that are VM directories. */
static int collect_vm_cb(int dir_fd, const char *name, void *ctx)
{
    struct collect_ctx *c = ctx;
    struct stat sb;
    if (fstatat(dir_fd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -1;
    if (S_ISREG(sb.st_mode) && is_tmp_name(name))
        return 0; /* a probe file of a concurrent open: ours, not worth a warning */
    if (!S_ISDIR(sb.st_mode)) {
        g_warning("state dir %s/%s: not a directory, ignored", c->st->vms_path, name);
        return 0;
    }
    if (!fname_valid(name)) {
        g_warning("state dir %s/%s: not a valid VM directory name, ignored", c->st->vms_path, name);
        return 0;
    }
    g_ptr_array_add(c->names, g_strdup(name));
    return 0;
}

static gint compare_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

GPtrArray *vdc_store_load(struct vdc_store *st, GError **err)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    struct collect_ctx c = {st, names};
    if (for_each_entry(st->vms_fd, ".", collect_vm_cb, &c) < 0) {
        fail(err, errno, st->vms_path);
        return NULL;
    }
    /* Sorted before reading, so that warnings come in a stable order too. */
    g_ptr_array_sort(names, compare_names);
    g_autoptr(GPtrArray) vms =
        g_ptr_array_new_full(names->len, (GDestroyNotify)vdc_stored_vm_free);
    for (guint i = 0; i < names->len; i++) {
        struct vdc_stored_vm *vm;
        if (!load_vm(st, g_ptr_array_index(names, i), &vm, err))
            return NULL;
        if (vm)
            g_ptr_array_add(vms, vm);
    }
    return g_steal_pointer(&vms);
}
