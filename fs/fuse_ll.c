/* fuse_ll.c — FUSE low-level operations: dispatch to the tree, see fuse_ll.h. */
#include "fuse_ll.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "dircache.h"
#include "events.h"
#include "fuse_priv.h"
#include "inval.h"
#include "lun_read.h"
#include "scratch.h"
#include "snapshot_model.h"
#include "tree.h"

static uid_t owner_uid;
static gid_t owner_gid;
static gid_t admin_gid;
static bool have_admin_gid;

void vdc_fuse_set_admin_gid(gid_t gid)
{
    admin_gid = gid;
    have_admin_gid = true;
}

static double attr_timeout_of(const struct vdc_node *n)
{
    /* The events file grows with every event: its size is always asked. */
    return n->kind == VDC_N_EVENTS ? 0.0 : VDC_CACHE_SECONDS;
}

void fill_attr(const struct vdc_node *node, struct stat *st)
{
    mode_t type = vdc_tree_type(node);
    mode_t perm = vdc_tree_perm(node);
    memset(st, 0, sizeof *st);
    st->st_ino = node->ino;
    st->st_uid = owner_uid;
    st->st_gid = owner_gid;
    /* Whatever the owner may change, the admin group may too. */
    if (have_admin_gid) {
        st->st_gid = admin_gid;
        if (perm & 0200)
            perm |= 0020;
    }
    st->st_blksize = 4096;
    const struct timespec *t = vdc_tree_mtime(node);
    st->st_mtim = st->st_ctim = st->st_atim = *t;
    st->st_mode = type | perm;
    if (type == S_IFDIR) {
        st->st_nlink = 2;
        return;
    }
    st->st_nlink = 1;
    if (node->kind == VDC_N_EVENTS)
        st->st_size = (off_t)vdc_events_size();
    else
        st->st_size = (off_t)vdc_tree_size(node);
    st->st_blocks = (st->st_size + 511) / 512;
    if (node->kind == VDC_N_SNAP_IMG)
        st->st_blocks = (blkcnt_t)((vdc_snapdisk_allocated((const void *)node->obj) + 511) / 512);
}

void fill_entry(const struct vdc_node *n, struct fuse_entry_param *e)
{
    memset(e, 0, sizeof *e);
    e->ino = n->ino;
    e->attr_timeout = attr_timeout_of(n);
    e->entry_timeout = VDC_CACHE_SECONDS;
    fill_attr(n, &e->attr);
}

static void vdc_init(void *userdata, struct fuse_conn_info *conn)
{
    (void)userdata;
    owner_uid = getuid();
    owner_gid = getgid();
    /* We invalidate precisely; never guess from mtime. */
    conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
    /* O_TRUNC must arrive as a SETATTR: with no OPEN requests (see
     * vdc_open) an atomic O_TRUNC would never reach us. */
    conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
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
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    if (child.kind == VDC_N_SCRATCH)
        vdc_scratch_ref(child.ino);
    fuse_reply_entry(req, &e);
}

int vdc_fuse_entry_of(uint64_t ino, struct fuse_entry_param *e)
{
    struct vdc_node n;
    vdc_model_read_lock();
    int rc = ino ? vdc_tree_resolve(ino, &n) : -ENOENT;
    if (rc == 0)
        fill_entry(&n, e);
    vdc_model_read_unlock();
    if (rc == 0 && n.kind == VDC_N_SCRATCH)
        vdc_scratch_ref(n.ino); /* the kernel holds a reference from now on */
    return rc;
}

void vdc_fuse_reply_entry(fuse_req_t req, uint64_t ino)
{
    struct fuse_entry_param e;
    int rc = vdc_fuse_entry_of(ino, &e);
    if (rc < 0)
        fuse_reply_err(req, -rc);
    else
        fuse_reply_entry(req, &e);
}

/* Inode numbers are never reused, so nothing is kept per lookup, except
 * for scratch files, whose inode outlives their name (scratch.h). */
static void vdc_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    vdc_scratch_forget(ino, nlookup);
    fuse_reply_none(req);
}

static void vdc_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
    for (size_t i = 0; i < count; i++)
        vdc_scratch_forget(forgets[i].ino, forgets[i].nlookup);
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
        fill_attr(&n, &st);
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

/* ENOSYS: the kernel then opens directories without asking us (no
 * OPENDIR/RELEASEDIR round trip per directory of a crawl) and caches
 * their listings until we invalidate them.  Readdir is stateless. */
static void vdc_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino, (void)fi;
    fuse_reply_err(req, ENOSYS);
}

/* Offsets: 0 and 1 are "." and "..", 2 + i is entry i of the listing. */
static void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
    int err = 0;
    struct vdc_listing *l = vdc_dircache_get(ino, &err);
    if (!l) {
        fuse_reply_err(req, err);
        return;
    }
    char *buf = g_malloc(size);
    size_t used = 0;
    off_t total = (off_t)l->ents->len + 2;
    GArray *refs = g_array_new(FALSE, FALSE, sizeof(uint64_t)); /* scratch inodes handed out */
    if (plus)
        vdc_model_read_lock();
    for (off_t i = off < 0 ? 0 : off; i < total; i++) {
        struct fuse_entry_param e = {0};
        const char *name = i == 0 ? "." : "..";
        e.attr.st_mode = S_IFDIR;
        e.attr.st_ino = ino;
        if (i >= 2) {
            const struct vdc_dirent *d = &g_array_index(l->ents, struct vdc_dirent, i - 2);
            struct vdc_node n;
            name = d->name;
            e.attr.st_ino = d->node.ino;
            e.attr.st_mode = vdc_tree_type(&d->node);
            /* Attributes of now, not of when the listing was made. */
            if (plus && vdc_tree_resolve(d->node.ino, &n) == 0)
                fill_entry(&n, &e);
        }
        size_t n = plus ? fuse_add_direntry_plus(req, buf + used, size - used, name, &e, i + 1)
                        : fuse_add_direntry(req, buf + used, size - used, name, &e.attr, i + 1);
        if (n > size - used)
            break;
        used += n;
        if (plus && e.ino && i >= 2 &&
            g_array_index(l->ents, struct vdc_dirent, i - 2).node.kind == VDC_N_SCRATCH)
            g_array_append_val(refs, e.ino);
    }
    if (plus)
        vdc_model_read_unlock();
    for (guint i = 0; i < refs->len; i++)
        vdc_scratch_ref(g_array_index(refs, uint64_t, i));
    g_array_free(refs, TRUE);
    vdc_listing_unref(l);
    fuse_reply_buf(req, buf, used);
    g_free(buf);
}

static void vdc_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                        struct fuse_file_info *fi)
{
    (void)fi;
    readdir_common(req, ino, size, off, false);
}

static void vdc_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                            struct fuse_file_info *fi)
{
    (void)fi;
    readdir_common(req, ino, size, off, true);
}

/* ENOSYS: the kernel then opens every file without asking us (see
 * fuse_ll.h).  Writes come with no handle: fuse_write.c keeps what each
 * writer wrote until it closes. */
static void vdc_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino, (void)fi;
    fuse_reply_err(req, ENOSYS);
}

static bool is_events(fuse_ino_t ino)
{
    return ino == VDC_INO(0, VDC_STATIC_EVENTS);
}

/* The reply goes to the kernel's page cache.  If the file changed after
 * we took its content, the change's invalidation may already have been
 * sent, before these pages existed: send another, so that stale pages do
 * not outlive the change.  An object's mtime moves with every change of
 * anything it shows, so it tells whether @served is still current. */
static void drop_if_stale(fuse_ino_t ino, struct timespec served)
{
    struct vdc_node n;
    vdc_model_read_lock();
    bool current = vdc_tree_resolve(ino, &n) == 0 &&
                   vdc_tree_mtime(&n)->tv_sec == served.tv_sec &&
                   vdc_tree_mtime(&n)->tv_nsec == served.tv_nsec;
    vdc_model_read_unlock();
    if (!current)
        vdc_inval_inode(ino);
}

/* Where the bytes of a snapshot image are: read lock held. */
struct image_ref {
    bool there; /* false: the array lost it, or has not been read yet */
    unsigned array, lun;
    uint64_t size;
};

static struct image_ref image_ref_of(const struct vdc_node *n)
{
    const struct vdc_snapdisk *d = (const struct vdc_snapdisk *)n->obj;
    struct image_ref r = {.size = d->size};
    r.there = vdc_snapdisk_where(d, &r.array, &r.lun);
    return r;
}

static void vdc_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
    (void)fi;
    if (is_events(ino)) {
        vdc_events_file_read(req, size, off);
        return;
    }
    struct vdc_node n;
    struct timespec version = {0};
    GBytes *data = NULL;
    vdc_model_read_lock();
    int rc = vdc_tree_resolve(ino, &n);
    if (rc == 0 && vdc_tree_type(&n) == S_IFDIR)
        rc = -EISDIR;
    if (rc == 0 && n.kind == VDC_N_SNAP_IMG) {
        struct image_ref r = image_ref_of(&n);
        vdc_model_read_unlock();
        if (r.there)
            vdc_lun_read(req, r.array, r.lun, size, off, r.size);
        else
            fuse_reply_err(req, EIO); /* the array lost it, or is not read yet */
        return;
    }
    if (rc == 0) {
        data = vdc_tree_content(&n);
        version = *vdc_tree_mtime(&n);
    }
    vdc_model_read_unlock();
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    gsize len;
    const char *p = g_bytes_get_data(data, &len);
    if (off < 0 || (uint64_t)off >= len)
        fuse_reply_buf(req, NULL, 0);
    else
        fuse_reply_buf(req, p + off, MIN(size, len - (size_t)off));
    drop_if_stale(ino, version);
    g_bytes_unref(data);
}

/* SEEK_DATA and SEEK_HOLE: snapshot images ask the array where the
 * data is; every other file is all data. */
static void vdc_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
                      struct fuse_file_info *fi)
{
    (void)fi;
    struct vdc_node n;
    vdc_model_read_lock();
    int rc = vdc_tree_resolve(ino, &n);
    if (rc == 0 && n.kind == VDC_N_SNAP_IMG) {
        struct image_ref r = image_ref_of(&n);
        vdc_model_read_unlock();
        if (r.there)
            vdc_lun_lseek(req, r.array, r.lun, off, whence, r.size);
        else
            fuse_reply_err(req, EIO);
        return;
    }
    size_t len = rc == 0 && vdc_tree_type(&n) == S_IFREG ? vdc_tree_size(&n) : 0;
    vdc_model_read_unlock();
    if (rc < 0)
        fuse_reply_err(req, -rc);
    else if (whence != SEEK_DATA && whence != SEEK_HOLE)
        fuse_reply_err(req, EINVAL);
    else if (off < 0 || (uint64_t)off >= len)
        fuse_reply_err(req, ENXIO);
    else
        fuse_reply_lseek(req, whence == SEEK_DATA ? off : (off_t)len);
}

static void vdc_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
                     struct fuse_pollhandle *ph)
{
    (void)fi;
    if (is_events(ino)) {
        vdc_events_file_poll(req, ph);
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
    .open = vdc_open,
    .read = vdc_read,
    .lseek = vdc_lseek,
    .poll = vdc_poll,
    .statfs = vdc_statfs,
    .setattr = vdc_setattr,
    .mknod = vdc_mknod,
    .mkdir = vdc_mkdir,
    .unlink = vdc_unlink,
    .rmdir = vdc_rmdir,
    .symlink = vdc_symlink,
    .rename = vdc_rename,
    .link = vdc_link,
    .create = vdc_create,
    .write = vdc_write,
    .flush = vdc_flush,
    .fsync = vdc_fsync,
};
