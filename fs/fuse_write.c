/* fuse_write.c — FUSE operations that change the tree.
 *
 * Only VM directories are writable: vms/ (mkdir, rmdir), and in a VM
 * directory spec.json, power and temporary files (scratch.h).  Everything
 * else is refused: the kernel does that from the mode bits for ordinary
 * users, and these handlers do it again for root, whom mode bits do not
 * stop.
 *
 * Files are opened without a handle (fuse_ll.h), so what a writer writes
 * to spec.json is kept per inode and writing process ("staged") until the
 * process closes the file (FLUSH) or fsyncs it; only then is it checked
 * and handed to the controller (vm_ctl.h), which answers the close.  Two
 * processes writing one spec never mix their bytes: each close commits
 * that process's whole file, and the last close wins.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "array_model.h"
#include "desired.h"
#include "events.h"
#include "fuse_priv.h"
#include "inval.h"
#include "names.h"
#include "scratch.h"
#include "snap_ctl.h"
#include "snapshot_model.h"
#include "vm_ctl.h"

/* --- staged writes ------------------------------------------------------ */

struct staged {
    uint64_t ino;
    GByteArray *data;
    pid_t tgid;
    bool written; /* a write came, not only a truncation */
};

static GHashTable *staging; /* "ino/tgid" -> struct staged*; FUSE thread only */
static GHashTable *staged_inos; /* ino -> number of staged entries for it */

/* The process (thread group) of thread @tid: FUSE tells the thread. */
static pid_t tgid_of(pid_t tid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status", (int)tid);
    g_autofree char *text = NULL;
    if (!g_file_get_contents(path, &text, NULL, NULL))
        return tid;
    const char *p = strstr(text, "\nTgid:");
    return p ? (pid_t)atoi(p + 6) : tid;
}

static char *staged_key(uint64_t ino, pid_t tgid)
{
    return g_strdup_printf("%" G_GUINT64_FORMAT "/%d", ino, (int)tgid);
}

/* Drops what processes that are gone staged without ever closing (a
 * truncation that no write followed, see vdc_flush). */
static void staged_sweep(void)
{
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, staging);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        g_autofree char *proc = g_strdup_printf("/proc/%d", (int)((struct staged *)v)->tgid);
        if (!g_file_test(proc, G_FILE_TEST_EXISTS))
            g_hash_table_iter_remove(&it);
    }
}

static void staged_free(gpointer p)
{
    struct staged *s = p;
    guint n = GPOINTER_TO_UINT(g_hash_table_lookup(staged_inos, &s->ino));
    if (n <= 1)
        g_hash_table_remove(staged_inos, &s->ino);
    else
        g_hash_table_insert(staged_inos, g_memdup2(&s->ino, sizeof s->ino), GUINT_TO_POINTER(n - 1));
    g_byte_array_unref(s->data);
    g_free(s);
}

/* The writer's staged copy of spec @n, made from the current content
 * when it writes for the first time. */
static struct staged *staged_get(fuse_req_t req, const struct vdc_node *n)
{
    if (!staging) {
        staging = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, staged_free);
        staged_inos = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
    }
    pid_t tgid = tgid_of(fuse_req_ctx(req)->pid);
    char *key = staged_key(n->ino, tgid);
    struct staged *s = g_hash_table_lookup(staging, key);
    if (s) {
        g_free(key);
        return s;
    }
    staged_sweep();
    s = g_new0(struct staged, 1);
    s->data = g_byte_array_new();
    s->tgid = tgid;
    s->ino = n->ino;
    guint count = GPOINTER_TO_UINT(g_hash_table_lookup(staged_inos, &s->ino));
    g_hash_table_insert(staged_inos, g_memdup2(&s->ino, sizeof s->ino),
                        GUINT_TO_POINTER(count + 1));
    vdc_model_read_lock();
    g_autoptr(GBytes) now = vdc_tree_content(n);
    vdc_model_read_unlock();
    g_byte_array_append(s->data, g_bytes_get_data(now, NULL), (guint)g_bytes_get_size(now));
    g_hash_table_insert(staging, key, s);
    return s;
}

/* Takes the writer's staged bytes away, NULL when it wrote nothing.
 * A truncation without a write is not taken: the shell's `> file` opens,
 * truncates and closes a duplicate descriptor before the command writes,
 * and that first close must not commit an empty spec. */
static GBytes *staged_take(fuse_req_t req, uint64_t ino)
{
    /* Every close of every file comes here: without a staged write (the
     * crawl's case) no /proc lookup. */
    if (!staging || !g_hash_table_contains(staged_inos, &ino))
        return NULL;
    g_autofree char *key = staged_key(ino, tgid_of(fuse_req_ctx(req)->pid));
    struct staged *s = g_hash_table_lookup(staging, key);
    if (!s || !s->written)
        return NULL;
    GBytes *b = g_byte_array_free_to_bytes(g_byte_array_ref(s->data));
    g_hash_table_remove(staging, key);
    return b;
}

static int staged_resize(struct staged *s, size_t len)
{
    if (len > VDC_SCRATCH_MAX_BYTES)
        return -EFBIG;
    guint old = s->data->len;
    g_byte_array_set_size(s->data, (guint)len);
    if (len > old)
        memset(s->data->data + old, 0, len - old);
    return 0;
}

/* --- resolving ------------------------------------------------------------ */

/* Resolves @ino under the read lock; fills *dir with its VM directory
 * when it is one or in one. */
static int resolve(uint64_t ino, struct vdc_node *n)
{
    vdc_model_read_lock();
    int rc = vdc_tree_resolve(ino, n);
    vdc_model_read_unlock();
    return rc;
}

/* Lock held: which entry directory @dir (a VM directory) stands for. */
static void target_of(const struct vdc_node *dir, struct vdc_ctl_target *t)
{
    memset(t, 0, sizeof *t);
    t->dir_ino = dir->ino;
    if (dir->obj->type == VDC_OBJ_DESIRED) {
        t->fname = g_strdup(((struct vdc_desired *)dir->obj)->fname);
        return;
    }
    const struct vdc_vm *vm = (const struct vdc_vm *)dir->obj;
    const struct vdc_desired *d = vdc_desired_of_vm(vm);
    if (d) {
        t->fname = g_strdup(d->fname);
        return;
    }
    t->fname = g_strdup(vm->fname);
    t->vm_host = g_strdup(vm->host->name);
    g_strlcpy(t->uuid, vm->uuid, sizeof t->uuid);
}

/* The directory node of a file node @n of a VM directory. */
static struct vdc_node dir_of(const struct vdc_node *n)
{
    if (n->kind == VDC_N_SCRATCH) {
        struct vdc_node d = {0};
        vdc_tree_resolve(VDC_INO(((struct vdc_scratch *)n->obj)->dir, 0), &d);
        return d;
    }
    return vdc_node_of(VDC_N_VM, n->obj, VDC_VM_DIR);
}

static bool is_fixed_name(const char *name)
{
    static const char *const names[] = {"disks",     "domain.xml", "power", "revert",
                                        "snapshots", "spec.json",  "state", "status.json"};
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++)
        if (strcmp(names[i], name) == 0)
            return true;
    return false;
}

/* --- attributes ------------------------------------------------------------ */

/* chmod/chown to what it already is passes (cp -p, rsync -p do that). */
static int check_owner_mode(const struct vdc_node *n, const struct stat *attr, int to_set)
{
    struct stat now;
    vdc_model_read_lock();
    fill_attr(n, &now);
    vdc_model_read_unlock();
    if ((to_set & FUSE_SET_ATTR_UID) && attr->st_uid != now.st_uid)
        return -EPERM;
    if ((to_set & FUSE_SET_ATTR_GID) && attr->st_gid != now.st_gid)
        return -EPERM;
    if ((to_set & FUSE_SET_ATTR_MODE) && n->kind != VDC_N_SCRATCH &&
        (attr->st_mode & 07777) != (now.st_mode & 07777))
        return -EPERM;
    return 0;
}

void vdc_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                 struct fuse_file_info *fi)
{
    (void)fi;
    struct vdc_node n;
    int rc = resolve(ino, &n);
    off_t staged_size = -1;
    if (rc == 0)
        rc = check_owner_mode(&n, attr, to_set);
    if (rc == 0) {
        switch (n.kind) {
        case VDC_N_VM_SPEC:
            if (to_set & FUSE_SET_ATTR_SIZE) {
                struct staged *s = staged_get(req, &n);
                rc = staged_resize(s, (size_t)attr->st_size);
                staged_size = s->data->len;
            }
            break;
        case VDC_N_SCRATCH:
            if (to_set & FUSE_SET_ATTR_SIZE)
                rc = vdc_scratch_truncate(ino, attr->st_size);
            if (rc == 0 && (to_set & FUSE_SET_ATTR_MODE))
                rc = vdc_scratch_chmod(ino, attr->st_mode);
            break;
        case VDC_N_VM_POWER: /* echo > power truncates first */
        case VDC_N_VM_REVERT:
        case VDC_N_VM:
        case VDC_N_VMS:
            if (n.kind != VDC_N_VM_POWER && n.kind != VDC_N_VM_REVERT &&
                (to_set & FUSE_SET_ATTR_SIZE))
                rc = -EISDIR;
            break; /* times: accepted, not kept */
        default:
            rc = -EACCES;
        }
    }
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    struct stat st;
    vdc_model_read_lock();
    rc = vdc_tree_resolve(ino, &n);
    if (rc == 0)
        fill_attr(&n, &st);
    vdc_model_read_unlock();
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    if (staged_size >= 0)
        st.st_size = staged_size;
    fuse_reply_attr(req, &st, 0);
}

/* --- writing ------------------------------------------------------------- */

static void write_power(fuse_req_t req, const struct vdc_node *n, const char *buf, size_t size)
{
    g_autofree char *word = g_strstrip(g_strndup(buf, size));
    enum hv_power_action a = hv_power_parse(word);
    struct vdc_ctl_target t;
    vdc_model_read_lock();
    struct vdc_node dir = dir_of(n);
    target_of(&dir, &t);
    vdc_model_read_unlock();
    if (!a) {
        g_autofree char *shown = g_strescape(word, NULL);
        g_autofree char *msg = g_strdup_printf(
            "power: \"%s\" is not one of start, shutdown, destroy, reboot, suspend, resume", shown);
        vdc_events_emitf("vm", t.fname, t.vm_host, "power-refused", "error", json_string(msg),
                         NULL);
        vdc_ctl_target_clear(&t);
        fuse_reply_err(req, EINVAL);
        return;
    }
    vdc_ctl_power(req, &t, a, size);
}

/* Lock held: the VM a node of a VM directory (the directory itself,
 * snapshots/, revert) is about, for the snapshot controller.  The
 * strings point into the model: copy before unlocking.  False when the
 * directory has no VM on a host yet. */
static bool snap_target_of(const struct vdc_node *n, struct vdc_snap_target *t)
{
    const struct vdc_vm *vm = NULL;
    if (n->obj->type == VDC_OBJ_VM)
        vm = (const struct vdc_vm *)n->obj;
    else if (n->obj->type == VDC_OBJ_DESIRED)
        vm = ((const struct vdc_desired *)n->obj)->vm;
    if (!vm)
        return false;
    *t = (struct vdc_snap_target){.uuid = vm->uuid, .host = vm->host->name, .vm_name = vm->name,
                                  .dir_ino = VDC_INO(n->obj->id, VDC_VM_SNAPS)};
    return true;
}

/* Copies of a snap target's strings, freed by the caller. */
struct snap_target_copy {
    struct vdc_snap_target t;
    char *uuid, *host, *vm_name;
};

static void snap_target_copy(struct snap_target_copy *c, const struct vdc_snap_target *t)
{
    c->uuid = g_strdup(t->uuid);
    c->host = g_strdup(t->host);
    c->vm_name = g_strdup(t->vm_name);
    c->t = (struct vdc_snap_target){.uuid = c->uuid, .host = c->host, .vm_name = c->vm_name,
                                    .dir_ino = t->dir_ino};
}

static void snap_target_clear(struct snap_target_copy *c)
{
    g_free(c->uuid);
    g_free(c->host);
    g_free(c->vm_name);
}

/* A snapshot name written to revert. */
static void write_revert(fuse_req_t req, const struct vdc_node *n, const char *buf, size_t size)
{
    g_autofree char *name = g_strndup(buf, size);
    g_strchomp(name); /* echo's newline */
    struct vdc_snap_target t;
    struct snap_target_copy c = {0};
    int rc = 0;
    vdc_model_read_lock();
    if (!snap_target_of(n, &t))
        rc = ENOENT;
    else if (!vdc_snapshot_find(t.uuid, name))
        rc = EINVAL;
    else if (vdc_snapshot_is_pending(t.uuid, name))
        rc = EBUSY;
    if (rc != ENOENT)
        snap_target_copy(&c, &t);
    vdc_model_read_unlock();
    if (rc == EINVAL) {
        g_autofree char *shown = g_strescape(name, NULL);
        g_autofree char *msg = g_strdup_printf("revert: no snapshot called \"%s\"", shown);
        vdc_model_snapshot_outcome(c.uuid, "revert", name, msg);
        vdc_events_emitf("vm", c.vm_name, c.host, "revert-refused", "error", json_string(msg),
                         NULL);
    }
    if (rc)
        fuse_reply_err(req, rc);
    else
        vdc_snap_revert(req, &c.t, name, size);
    snap_target_clear(&c);
}

void vdc_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
               struct fuse_file_info *fi)
{
    (void)fi;
    struct vdc_node n;
    int rc = resolve(ino, &n);
    if (rc == 0 && (off < 0 || (uint64_t)off + size > VDC_SCRATCH_MAX_BYTES))
        rc = -EFBIG;
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    switch (n.kind) {
    case VDC_N_VM_SPEC: {
        struct staged *s = staged_get(req, &n);
        if (s->data->len < (size_t)off + size)
            staged_resize(s, (size_t)off + size);
        memcpy(s->data->data + off, buf, size);
        s->written = true;
        fuse_reply_write(req, size);
        return;
    }
    case VDC_N_SCRATCH:
        rc = vdc_scratch_write(ino, buf, size, off);
        if (rc < 0)
            fuse_reply_err(req, -rc);
        else
            fuse_reply_write(req, size);
        return;
    case VDC_N_VM_POWER:
        write_power(req, &n, buf, size);
        return;
    case VDC_N_VM_REVERT:
        write_revert(req, &n, buf, size);
        return;
    default:
        fuse_reply_err(req, EACCES);
    }
}

/* Close and fsync: the writer's spec is done; the controller answers. */
static void commit_staged(fuse_req_t req, fuse_ino_t ino)
{
    GBytes *text = staged_take(req, ino);
    struct vdc_node n;
    if (!text) {
        fuse_reply_err(req, 0);
        return;
    }
    struct vdc_ctl_target t;
    vdc_model_read_lock();
    int rc = vdc_tree_resolve(ino, &n);
    if (rc == 0) {
        struct vdc_node dir = dir_of(&n);
        target_of(&dir, &t);
    }
    vdc_model_read_unlock();
    if (rc < 0) {
        g_bytes_unref(text);
        fuse_reply_err(req, -rc);
        return;
    }
    vdc_ctl_commit_spec(req, &t, text, 0);
}

void vdc_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)fi;
    commit_staged(req, ino);
}

void vdc_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    (void)datasync, (void)fi;
    commit_staged(req, ino);
}

/* --- names ---------------------------------------------------------------- */

/* Makes file @name in VM directory @parent: spec.json (a directory made
 * with mkdir has none yet) or a scratch file.  Returns 0 and *ino. */
static int make_file(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                     uint64_t *ino)
{
    struct vdc_node dir;
    int rc = resolve(parent, &dir);
    if (rc < 0)
        return rc;
    if (dir.kind == VDC_N_VMS)
        return -EPERM; /* vms/ holds VM directories only */
    if (dir.kind != VDC_N_VM)
        return -EACCES;
    if (strcmp(name, "spec.json") == 0) {
        struct vdc_node spec = vdc_node_of(VDC_N_VM_SPEC, dir.obj, VDC_VM_SPEC);
        struct staged *s = staged_get(req, &spec);
        g_byte_array_set_size(s->data, 0);
        *ino = spec.ino;
        return 0;
    }
    if (is_fixed_name(name))
        return -EPERM;
    return vdc_scratch_create(dir.obj->id, name, mode, ino);
}

void vdc_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                struct fuse_file_info *fi)
{
    uint64_t ino = 0;
    struct fuse_entry_param e;
    int rc = make_file(req, parent, name, mode, &ino);
    if (rc == 0)
        rc = vdc_fuse_entry_of(ino, &e);
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    fi->fh = 0;
    fuse_reply_create(req, &e, fi);
}

void vdc_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
    (void)rdev;
    uint64_t ino = 0;
    int rc = S_ISREG(mode) ? make_file(req, parent, name, mode, &ino) : -EPERM;
    if (rc < 0)
        fuse_reply_err(req, -rc);
    else
        vdc_fuse_reply_entry(req, ino);
}

/* mkdir and rmdir in vms/<vm>/snapshots/. */
static void snapshot_dir_op(fuse_req_t req, const struct vdc_node *dir, const char *name,
                            bool make)
{
    struct vdc_snap_target t;
    struct snap_target_copy c = {0};
    int rc = 0;
    if (make && !g_utf8_validate(name, -1, NULL)) {
        fuse_reply_err(req, EINVAL); /* it could not be recorded (JSON is UTF-8) */
        return;
    }
    vdc_model_read_lock();
    if (!snap_target_of(dir, &t))
        rc = EIO; /* its host is away: nothing can be done now */
    else if (vdc_snapshot_is_pending(t.uuid, name))
        rc = make ? EEXIST : EBUSY;
    else if (!vdc_snapshot_find(t.uuid, name) != make)
        rc = make ? EEXIST : ENOENT;
    if (!rc)
        snap_target_copy(&c, &t);
    vdc_model_read_unlock();
    if (rc)
        fuse_reply_err(req, rc);
    else if (make)
        vdc_snap_mkdir(req, &c.t, name);
    else
        vdc_snap_rmdir(req, &c.t, name);
    snap_target_clear(&c);
}

/* mkdir and rmdir in arrays/<array>/luns/<lun>/snapshots/ (@dir_ino). */
static void lun_snapshot_op(fuse_req_t req, fuse_ino_t dir_ino, const char *name, bool make)
{
    struct vdc_node dir;
    unsigned array = 0, lun = 0;
    vdc_model_read_lock();
    int rc = vdc_tree_resolve(dir_ino, &dir);
    if (rc == 0) {
        const struct vdc_lun *l = (const struct vdc_lun *)dir.obj;
        array = l->array->index;
        lun = l->mgmt->lun;
    }
    vdc_model_read_unlock();
    if (rc < 0)
        fuse_reply_err(req, -rc);
    else
        vdc_snap_lun_op(req, array, lun, name, make);
}

void vdc_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    (void)mode;
    struct vdc_node dir;
    int rc = resolve(parent, &dir);
    if (rc == 0 && dir.kind == VDC_N_VM_SNAPS) {
        snapshot_dir_op(req, &dir, name, true);
        return;
    }
    if (rc == 0 && dir.kind == VDC_N_LUN_SNAPS) {
        lun_snapshot_op(req, parent, name, true);
        return;
    }
    if (rc == 0 && dir.kind != VDC_N_VMS)
        rc = dir.kind == VDC_N_VM ? -EPERM : -EACCES;
    g_autofree char *raw = rc == 0 ? vdc_name_decode(name) : NULL;
    if (rc == 0 && !raw)
        rc = -EINVAL; /* not a name vdcfs could show (a raw '@' or '%') */
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    struct vdc_ctl_target t = {.fname = g_strdup(name), .dir_ino = parent};
    vdc_ctl_mkdir(req, &t);
}

void vdc_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct vdc_node dir, child;
    struct vdc_ctl_target t;
    vdc_model_read_lock();
    int rc = vdc_tree_resolve(parent, &dir);
    if (rc == 0 && dir.kind == VDC_N_VM_SNAPS) {
        vdc_model_read_unlock();
        snapshot_dir_op(req, &dir, name, false);
        return;
    }
    if (rc == 0 && dir.kind == VDC_N_LUN_SNAPS) {
        vdc_model_read_unlock();
        lun_snapshot_op(req, parent, name, false);
        return;
    }
    /* snapshots/ itself stays: removing it is a no-op, like removing the
     * VM's other views, so that rsync --delete of a VM directory gets on.
     * Its snapshots are only deleted one by one, by rmdir. */
    if (rc == 0 && dir.kind == VDC_N_VM && strcmp(name, "snapshots") == 0) {
        vdc_model_read_unlock();
        fuse_reply_err(req, 0);
        return;
    }
    /* disks/ and the directories in it are views of the VM's disks:
     * removing one is a no-op as well (ENOENT for what is not there). */
    if (rc == 0 && (dir.kind == VDC_N_VM_DISKS ||
                    (dir.kind == VDC_N_VM && strcmp(name, "disks") == 0))) {
        rc = vdc_tree_lookup(&dir, name, &child);
        vdc_model_read_unlock();
        fuse_reply_err(req, -rc);
        return;
    }
    if (rc == 0 && dir.kind != VDC_N_VMS)
        rc = dir.kind == VDC_N_VM ? -ENOTDIR : -EACCES;
    if (rc == 0)
        rc = vdc_tree_lookup(&dir, name, &child);
    if (rc == 0) {
        const char *uuid = vdc_vmdir_uuid(&child);
        if (uuid && vdc_snapshot_count(uuid) > 0)
            rc = -ENOTEMPTY; /* its snapshots would be lost with it */
    }
    if (rc == 0)
        target_of(&child, &t);
    vdc_model_read_unlock();
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    vdc_ctl_rmdir(req, &t);
}

void vdc_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct vdc_node dir, child;
    struct vdc_ctl_target t = {0};
    vdc_model_read_lock();
    int rc = vdc_tree_resolve(parent, &dir);
    if (rc == 0 && dir.kind != VDC_N_VM && dir.kind != VDC_N_VMDISK)
        rc = dir.kind == VDC_N_VMS ? -EISDIR : -EACCES;
    if (rc == 0)
        rc = vdc_tree_lookup(&dir, name, &child);
    if (rc == 0 && child.kind == VDC_N_VM_SPEC)
        target_of(&dir, &t);
    vdc_model_read_unlock();
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    switch (child.kind) {
    case VDC_N_VM_SPEC:
        vdc_ctl_unlink_spec(req, &t);
        return;
    case VDC_N_SCRATCH:
        fuse_reply_err(req, -vdc_scratch_unlink(dir.obj->id, name));
        return;
    default:
        /* state, status.json, domain.xml and power are views of the VM:
         * removing one is a no-op (it is back at once), so that rm -r and
         * rsync --delete of a VM directory get as far as its rmdir. */
        fuse_reply_err(req, 0);
    }
}

void vdc_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                const char *newname, unsigned int flags)
{
    struct vdc_node dir;
    int rc = resolve(parent, &dir);
    if (rc == 0 && parent != newparent)
        rc = -EXDEV; /* tools copy instead */
    if (rc == 0 && dir.kind != VDC_N_VM)
        rc = dir.kind == VDC_N_VMS ? -EPERM : -EACCES;
    if (rc == 0 && (flags & RENAME_EXCHANGE))
        rc = -EINVAL;
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    uint64_t ino = 0;
    GBytes *text = vdc_scratch_take(dir.obj->id, name, &ino);
    if (!text) {
        /* Only temporary files move: spec.json and the views stay put. */
        fuse_reply_err(req, is_fixed_name(name) ? EXDEV : ENOENT);
        return;
    }
    if (strcmp(newname, "spec.json") == 0) {
        struct vdc_ctl_target t;
        vdc_model_read_lock();
        struct vdc_node spec;
        bool exists = vdc_tree_lookup(&dir, "spec.json", &spec) == 0;
        target_of(&dir, &t);
        vdc_model_read_unlock();
        if (exists && (flags & RENAME_NOREPLACE)) {
            vdc_ctl_target_clear(&t);
            g_bytes_unref(text);
            fuse_reply_err(req, EEXIST);
            return;
        }
        vdc_ctl_commit_spec(req, &t, text, ino);
        return;
    }
    g_bytes_unref(text);
    if (is_fixed_name(newname)) {
        fuse_reply_err(req, EPERM);
        return;
    }
    vdc_model_read_lock();
    bool taken = vdc_scratch_find(dir.obj->id, newname) != NULL;
    vdc_model_read_unlock();
    if (taken && (flags & RENAME_NOREPLACE)) {
        fuse_reply_err(req, EEXIST);
        return;
    }
    fuse_reply_err(req, -vdc_scratch_rename(dir.obj->id, name, newname));
}

void vdc_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
    (void)link, (void)parent, (void)name;
    fuse_reply_err(req, EPERM);
}

void vdc_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
    (void)ino, (void)newparent, (void)newname;
    fuse_reply_err(req, EPERM);
}
