/* fuse_ll.c — FUSE low-level operations: dispatch to the tree, see fuse_ll.h. */
#include "fuse_ll.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "events.h"
#include "inval.h"
#include "tree.h"

/* An open regular file: the content at open time, so a reader sees one
 * consistent version however many reads it takes. */
struct vdc_file_handle {
    GBytes *data;
};

/* An open directory: its listing at opendir time, with attributes. */
struct dir_handle {
    GArray *ents;  /* of struct vdc_dirent */
    GArray *attrs; /* of struct stat, parallel to ents */
};

static uid_t owner_uid;
static gid_t owner_gid;

static double attr_timeout_of(const struct vdc_node *n)
{
    /* The events file grows with every event: its size is always asked. */
    return n->kind == VDC_N_EVENTS ? 0.0 : VDC_CACHE_SECONDS;
}

void vdc_fuse_fill_attr(const struct vdc_node *node, struct stat *st)
{
    mode_t type = vdc_tree_type(node);
    memset(st, 0, sizeof *st);
    st->st_ino = node->ino;
    st->st_uid = owner_uid;
    st->st_gid = owner_gid;
    st->st_blksize = 4096;
    const struct timespec *t = vdc_tree_mtime(node);
    st->st_mtim = st->st_ctim = st->st_atim = *t;
    if (type == S_IFDIR) {
        st->st_mode = S_IFDIR | 0555;
        st->st_nlink = 2;
        return;
    }
    st->st_nlink = 1;
    if (node->kind == VDC_N_EVENTS) {
        st->st_mode = S_IFREG | 0444;
        st->st_size = (off_t)vdc_events_size();
    } else {
        GBytes *b = vdc_tree_content(node);
        st->st_size = (off_t)g_bytes_get_size(b);
        g_bytes_unref(b);
        st->st_mode = type == S_IFLNK ? (S_IFLNK | 0777) : (S_IFREG | 0444);
    }
    st->st_blocks = (st->st_size + 511) / 512;
}

static void fill_entry(const struct vdc_node *n, struct fuse_entry_param *e)
{
    memset(e, 0, sizeof *e);
    e->ino = n->ino;
    e->attr_timeout = attr_timeout_of(n);
    e->entry_timeout = VDC_CACHE_SECONDS;
    vdc_fuse_fill_attr(n, &e->attr);
}

static void vdc_init(void *userdata, struct fuse_conn_info *conn)
{
    (void)userdata;
    owner_uid = getuid();
    owner_gid = getgid();
    /* We invalidate precisely; never guess from mtime. */
    conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
    if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
        conn->want |= FUSE_CAP_CACHE_SYMLINKS;
    if (conn->capable & FUSE_CAP_READDIRPLUS) {
        conn->want |= FUSE_CAP_READDIRPLUS;
        conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
    }
}

static void vdc_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct vdc_node dir, child;
    struct fuse_entry_param e;
    vdc_model_read_lock();
    int rc = vdc_tree_resolve(parent, &dir);
    if (rc == 0)
        rc = vdc_tree_lookup(&dir, name, &child);
    if (rc == 0)
        fill_entry(&child, &e);
    vdc_model_read_unlock();
    if (rc < 0)
        fuse_reply_err(req, -rc);
    else
        fuse_reply_entry(req, &e);
}

static void vdc_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    /* Inode numbers are never reused, so nothing is kept per lookup. */
    (void)ino;
    (void)nlookup;
    fuse_reply_none(req);
}

static void vdc_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
    (void)count;
    (void)forgets;
    fuse_reply_none(req);
}

static void vdc_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)fi;
    struct vdc_node n;
    struct stat st;
    double timeout = 0;
    vdc_model_read_lock();
    int rc = vdc_tree_resolve(ino, &n);
    if (rc == 0) {
        vdc_fuse_fill_attr(&n, &st);
        timeout = attr_timeout_of(&n);
    }
    vdc_model_read_unlock();
    if (rc < 0)
        fuse_reply_err(req, -rc);
    else
        fuse_reply_attr(req, &st, timeout);
}

static void vdc_readlink(fuse_req_t req, fuse_ino_t ino)
{
    struct vdc_node n;
    char *target = NULL;
    vdc_model_read_lock();
    int rc = vdc_tree_resolve(ino, &n);
    if (rc == 0 && vdc_tree_type(&n) != S_IFLNK)
        rc = -EINVAL;
    if (rc == 0) {
        GBytes *b = vdc_tree_content(&n);
        gsize len;
        const char *p = g_bytes_get_data(b, &len);
        target = g_strndup(p, len);
        g_bytes_unref(b);
    }
    vdc_model_read_unlock();
    if (rc < 0)
        fuse_reply_err(req, -rc);
    else
        fuse_reply_readlink(req, target);
    g_free(target);
}

static void vdc_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct vdc_node n;
    struct dir_handle *d = NULL;
    vdc_model_read_lock();
    int rc = vdc_tree_resolve(ino, &n);
    if (rc == 0 && vdc_tree_type(&n) != S_IFDIR)
        rc = -ENOTDIR;
    if (rc == 0) {
        d = g_new0(struct dir_handle, 1);
        d->ents = vdc_tree_list(&n);
        d->attrs = g_array_sized_new(FALSE, FALSE, sizeof(struct stat), d->ents->len);
        g_array_set_size(d->attrs, d->ents->len);
        for (guint i = 0; i < d->ents->len; i++)
            vdc_fuse_fill_attr(&g_array_index(d->ents, struct vdc_dirent, i).node,
                               &g_array_index(d->attrs, struct stat, i));
    }
    vdc_model_read_unlock();
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    fi->fh = (uintptr_t)d;
    fi->cache_readdir = 1;
    fi->keep_cache = 1;
    if (fuse_reply_open(req, fi) == -ENOENT) {
        vdc_dirents_free(d->ents);
        g_array_free(d->attrs, TRUE);
        g_free(d);
    }
}

/* Offsets: 1 is ".", 2 is "..", 3 + i is entry i. */
static void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi, bool plus)
{
    struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
    char *buf = g_malloc(size);
    size_t used = 0;
    guint total = d->ents->len + 2;
    for (off_t i = off; i < (off_t)total; i++) {
        const char *name;
        struct stat st;
        if (i < 2) {
            name = i == 0 ? "." : "..";
            memset(&st, 0, sizeof st);
            st.st_ino = ino;
            st.st_mode = S_IFDIR;
        } else {
            name = g_array_index(d->ents, struct vdc_dirent, i - 2).name;
            st = g_array_index(d->attrs, struct stat, i - 2);
        }
        size_t n;
        if (plus) {
            struct fuse_entry_param e = {.ino = i < 2 ? 0 : st.st_ino, .attr = st};
            e.attr_timeout = e.entry_timeout = VDC_CACHE_SECONDS;
            if (i >= 2 && g_array_index(d->ents, struct vdc_dirent, i - 2).node.kind ==
                              VDC_N_EVENTS)
                e.attr_timeout = 0;
            n = fuse_add_direntry_plus(req, buf + used, size - used, name, &e, i + 1);
        } else {
            n = fuse_add_direntry(req, buf + used, size - used, name, &st, i + 1);
        }
        if (n > size - used)
            break;
        used += n;
    }
    fuse_reply_buf(req, buf, used);
    g_free(buf);
}

static void vdc_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                        struct fuse_file_info *fi)
{
    readdir_common(req, ino, size, off, fi, false);
}

static void vdc_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                            struct fuse_file_info *fi)
{
    readdir_common(req, ino, size, off, fi, true);
}

static void vdc_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
    vdc_dirents_free(d->ents);
    g_array_free(d->attrs, TRUE);
    g_free(d);
    fuse_reply_err(req, 0);
}

static void vdc_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct vdc_node n;
    GBytes *data = NULL;
    if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
        fuse_reply_err(req, EROFS);
        return;
    }
    vdc_model_read_lock();
    int rc = vdc_tree_resolve(ino, &n);
    if (rc == 0 && vdc_tree_type(&n) == S_IFDIR)
        rc = -EISDIR;
    if (rc == 0 && n.kind != VDC_N_EVENTS)
        data = vdc_tree_content(&n);
    vdc_model_read_unlock();
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    if (n.kind == VDC_N_EVENTS) {
        vdc_events_file_open(req, fi);
        return;
    }
    struct vdc_file_handle *f = g_new0(struct vdc_file_handle, 1);
    f->data = data;
    fi->fh = (uintptr_t)f;
    fi->keep_cache = 1; /* valid until we invalidate the inode */
    fi->noflush = 1;
    if (fuse_reply_open(req, fi) == -ENOENT) {
        g_bytes_unref(f->data);
        g_free(f);
    }
}

static bool is_events(fuse_ino_t ino)
{
    return ino == VDC_INO(0, VDC_STATIC_EVENTS);
}

/* A reader keeps the content it opened (one consistent version), and the
 * kernel keeps what it read in its page cache.  If the file changed
 * between open and this read, the invalidation for the change may have
 * come before these pages: invalidate again so they do not outlive it. */
static void drop_if_stale(fuse_ino_t ino, GBytes *served)
{
    struct vdc_node n;
    vdc_model_read_lock();
    GBytes *now = vdc_tree_resolve(ino, &n) == 0 ? vdc_tree_content(&n) : NULL;
    vdc_model_read_unlock();
    if (now != served)
        vdc_inval_inode(ino);
    if (now)
        g_bytes_unref(now);
}

static void vdc_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
    if (is_events(ino)) {
        vdc_events_file_read(req, size, off, fi);
        return;
    }
    struct vdc_file_handle *f = (struct vdc_file_handle *)(uintptr_t)fi->fh;
    gsize len;
    const char *p = g_bytes_get_data(f->data, &len);
    if (off < 0 || (uint64_t)off >= len)
        fuse_reply_buf(req, NULL, 0);
    else
        fuse_reply_buf(req, p + off, MIN(size, len - (size_t)off));
    drop_if_stale(ino, f->data);
}

static void vdc_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    if (is_events(ino)) {
        vdc_events_file_release(req, fi);
        return;
    }
    struct vdc_file_handle *f = (struct vdc_file_handle *)(uintptr_t)fi->fh;
    g_bytes_unref(f->data);
    g_free(f);
    fuse_reply_err(req, 0);
}

static void vdc_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
                     struct fuse_pollhandle *ph)
{
    if (is_events(ino)) {
        vdc_events_file_poll(req, fi, ph);
        return;
    }
    if (ph)
        fuse_pollhandle_destroy(ph);
    fuse_reply_poll(req, POLLIN | POLLRDNORM);
}

static void vdc_statfs(fuse_req_t req, fuse_ino_t ino)
{
    (void)ino;
    struct statvfs sv = {0};
    sv.f_bsize = sv.f_frsize = 4096;
    sv.f_namemax = 255;
    vdc_model_read_lock();
    sv.f_files = g_hash_table_size(vdc_model.objs) + 5;
    vdc_model_read_unlock();
    fuse_reply_statfs(req, &sv);
}

/* This tree is read-only: everything that would change it. */
static void erofs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                          struct fuse_file_info *fi)
{
    (void)ino, (void)attr, (void)to_set, (void)fi;
    fuse_reply_err(req, EROFS);
}
static void erofs_mknod(fuse_req_t req, fuse_ino_t p, const char *n, mode_t m, dev_t d)
{
    (void)p, (void)n, (void)m, (void)d;
    fuse_reply_err(req, EROFS);
}
static void erofs_mkdir(fuse_req_t req, fuse_ino_t p, const char *n, mode_t m)
{
    (void)p, (void)n, (void)m;
    fuse_reply_err(req, EROFS);
}
static void erofs_unlink(fuse_req_t req, fuse_ino_t p, const char *n)
{
    (void)p, (void)n;
    fuse_reply_err(req, EROFS);
}
static void erofs_symlink(fuse_req_t req, const char *l, fuse_ino_t p, const char *n)
{
    (void)l, (void)p, (void)n;
    fuse_reply_err(req, EROFS);
}
static void erofs_rename(fuse_req_t req, fuse_ino_t p, const char *n, fuse_ino_t np,
                         const char *nn, unsigned int flags)
{
    (void)p, (void)n, (void)np, (void)nn, (void)flags;
    fuse_reply_err(req, EROFS);
}
static void erofs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t np, const char *nn)
{
    (void)ino, (void)np, (void)nn;
    fuse_reply_err(req, EROFS);
}
static void erofs_create(fuse_req_t req, fuse_ino_t p, const char *n, mode_t m,
                         struct fuse_file_info *fi)
{
    (void)p, (void)n, (void)m, (void)fi;
    fuse_reply_err(req, EROFS);
}
static void erofs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                        struct fuse_file_info *fi)
{
    (void)ino, (void)buf, (void)size, (void)off, (void)fi;
    fuse_reply_err(req, EROFS);
}
static void erofs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                           size_t size, int flags)
{
    (void)ino, (void)name, (void)value, (void)size, (void)flags;
    fuse_reply_err(req, EROFS);
}

const struct fuse_lowlevel_ops vdc_fuse_ops = {
    .init = vdc_init,
    .lookup = vdc_lookup,
    .forget = vdc_forget,
    .forget_multi = vdc_forget_multi,
    .getattr = vdc_getattr,
    .readlink = vdc_readlink,
    .opendir = vdc_opendir,
    .readdir = vdc_readdir,
    .readdirplus = vdc_readdirplus,
    .releasedir = vdc_releasedir,
    .open = vdc_open,
    .read = vdc_read,
    .release = vdc_release,
    .poll = vdc_poll,
    .statfs = vdc_statfs,
    .setattr = erofs_setattr,
    .mknod = erofs_mknod,
    .mkdir = erofs_mkdir,
    .unlink = erofs_unlink,
    .rmdir = erofs_unlink,
    .symlink = erofs_symlink,
    .rename = erofs_rename,
    .link = erofs_link,
    .create = erofs_create,
    .write = erofs_write,
    .setxattr = erofs_setxattr,
    .removexattr = erofs_unlink,
};
