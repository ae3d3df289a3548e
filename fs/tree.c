/* tree.c — dispatching node operations to the subtree that owns the kind. */
#include "tree.h"

#include <errno.h>

#include "scratch.h"
#include <string.h>
#include <sys/stat.h>

static struct vdc_node_ops node_ops[VDC_N_COUNT];

void vdc_tree_init(void)
{
    vdc_tree_root_register(node_ops);
    vdc_tree_hosts_register(node_ops);
    vdc_tree_vms_register(node_ops);
    vdc_tree_pools_register(node_ops);
    vdc_tree_arrays_register(node_ops);
    vdc_tree_snapshots_register(node_ops);
    vdc_tree_vmdisks_register(node_ops);
}

struct vdc_node vdc_node_static(enum vdc_node_kind kind, unsigned sub)
{
    return (struct vdc_node){.kind = kind, .ino = VDC_INO(0, sub), .obj = NULL};
}

struct vdc_node vdc_node_of(enum vdc_node_kind kind, struct vdc_obj *obj, unsigned sub)
{
    return (struct vdc_node){.kind = kind, .ino = VDC_INO(obj->id, sub), .obj = obj};
}

void vdc_dirents_add(GArray *out, const char *name, struct vdc_node node)
{
    struct vdc_dirent d = {.name = g_strdup(name), .node = node};
    g_array_append_val(out, d);
}

void vdc_dirents_free(GArray *a)
{
    for (guint i = 0; i < a->len; i++)
        g_free(g_array_index(a, struct vdc_dirent, i).name);
    g_array_free(a, TRUE);
}

static struct vdc_node fixed_node(const struct vdc_fixed_child *c, const struct vdc_node *dir)
{
    return dir->obj ? vdc_node_of(c->kind, dir->obj, c->sub) : vdc_node_static(c->kind, c->sub);
}

int vdc_fixed_lookup(const struct vdc_fixed_child *children, size_t n,
                     const struct vdc_node *dir, const char *name, struct vdc_node *out)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(children[i].name, name) == 0) {
            *out = fixed_node(&children[i], dir);
            return 0;
        }
    }
    return -ENOENT;
}

void vdc_fixed_list(const struct vdc_fixed_child *children, size_t n,
                    const struct vdc_node *dir, GArray *out)
{
    for (size_t i = 0; i < n; i++)
        vdc_dirents_add(out, children[i].name, fixed_node(&children[i], dir));
}

int vdc_map_lookup(GHashTable *map, enum vdc_node_kind kind, unsigned sub, const char *name,
                   struct vdc_node *out)
{
    struct vdc_obj *o = g_hash_table_lookup(map, name);
    if (!o)
        return -ENOENT;
    *out = vdc_node_of(kind, o, sub);
    return 0;
}

void vdc_map_list(GHashTable *map, enum vdc_node_kind kind, unsigned sub, GArray *out)
{
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, map);
    while (g_hash_table_iter_next(&it, &k, &v))
        vdc_dirents_add(out, k, vdc_node_of(kind, v, sub));
}

static const enum vdc_node_kind static_kinds[] = {
    [VDC_STATIC_ROOT] = VDC_N_ROOT,   [VDC_STATIC_HOSTS] = VDC_N_HOSTS,
    [VDC_STATIC_VMS] = VDC_N_VMS,     [VDC_STATIC_POOLS] = VDC_N_POOLS,
    [VDC_STATIC_EVENTS] = VDC_N_EVENTS, [VDC_STATIC_ARRAYS] = VDC_N_ARRAYS,
};

/* The kind of file @sub of an object of @type, or VDC_N_NONE. */
static enum vdc_node_kind object_kind(enum vdc_obj_type type, unsigned sub)
{
    static const enum vdc_node_kind host[] = {VDC_N_HOST, VDC_N_HOST_INFO, VDC_N_HOST_VMS,
                                              VDC_N_HOST_POOLS};
    static const enum vdc_node_kind vm[] = {
        [VDC_VM_DIR] = VDC_N_VM,          [VDC_VM_STATE] = VDC_N_VM_STATE,
        [VDC_VM_STATUS] = VDC_N_VM_STATUS, [VDC_VM_DOMXML] = VDC_N_VM_DOMXML,
        [VDC_VM_HOSTLINK] = VDC_N_HOST_VMLINK, [VDC_VM_SPEC] = VDC_N_VM_SPEC,
        [VDC_VM_POWER] = VDC_N_VM_POWER,  [VDC_VM_SNAPS] = VDC_N_VM_SNAPS,
        [VDC_VM_REVERT] = VDC_N_VM_REVERT, [VDC_VM_DISKS] = VDC_N_VM_DISKS};
    /* The same files, but no host symlink (VDC_N_NONE). */
    static const enum vdc_node_kind desired[] = {
        [VDC_VM_DIR] = VDC_N_VM,          [VDC_VM_STATE] = VDC_N_VM_STATE,
        [VDC_VM_STATUS] = VDC_N_VM_STATUS, [VDC_VM_DOMXML] = VDC_N_VM_DOMXML,
        [VDC_VM_HOSTLINK] = VDC_N_NONE,   [VDC_VM_SPEC] = VDC_N_VM_SPEC,
        [VDC_VM_POWER] = VDC_N_VM_POWER,  [VDC_VM_SNAPS] = VDC_N_VM_SNAPS,
        [VDC_VM_REVERT] = VDC_N_VM_REVERT, [VDC_VM_DISKS] = VDC_N_VM_DISKS};
    static const enum vdc_node_kind scratch[] = {VDC_N_SCRATCH};
    static const enum vdc_node_kind hpool[] = {VDC_N_HPOOL, VDC_N_HPOOL_INFO,
                                               VDC_N_HPOOL_VOLS};
    static const enum vdc_node_kind volume[] = {VDC_N_VOLUME};
    static const enum vdc_node_kind cpool[] = {VDC_N_CPOOL, VDC_N_CPOOL_INFO};
    static const enum vdc_node_kind array[] = {VDC_N_ARRAY, VDC_N_ARRAY_INFO, VDC_N_ARRAY_LUNS};
    static const enum vdc_node_kind lun[] = {VDC_N_LUN, VDC_N_LUN_INFO, VDC_N_LUN_SNAPS};
    static const enum vdc_node_kind vmsnap[] = {VDC_N_SNAP, VDC_N_SNAP_INFO, VDC_N_SNAP_DOMXML,
                                                VDC_N_SNAP_DISKS};
    static const enum vdc_node_kind snapdisk[] = {VDC_N_SNAP_IMG};
    static const enum vdc_node_kind vmdisk[] = {VDC_N_VMDISK, VDC_N_VMDISK_INFO};
#define PICK(a) return sub < G_N_ELEMENTS(a) ? a[sub] : VDC_N_NONE
    switch (type) {
    case VDC_OBJ_HOST:
        PICK(host);
    case VDC_OBJ_VM:
        PICK(vm);
    case VDC_OBJ_HPOOL:
        PICK(hpool);
    case VDC_OBJ_VOLUME:
        PICK(volume);
    case VDC_OBJ_CPOOL:
        PICK(cpool);
    case VDC_OBJ_DESIRED:
        PICK(desired);
    case VDC_OBJ_SCRATCH:
        PICK(scratch);
    case VDC_OBJ_ARRAY:
        PICK(array);
    case VDC_OBJ_LUN:
        PICK(lun);
    case VDC_OBJ_VMSNAP:
        PICK(vmsnap);
    case VDC_OBJ_SNAPDISK:
        PICK(snapdisk);
    case VDC_OBJ_VMDISK:
        PICK(vmdisk);
    }
#undef PICK
    return VDC_N_NONE;
}

int vdc_tree_resolve(uint64_t ino, struct vdc_node *out)
{
    uint64_t id = VDC_INO_ID(ino);
    unsigned sub = VDC_INO_SUB(ino);
    if (id == 0) {
        if (sub == 0 || sub >= G_N_ELEMENTS(static_kinds))
            return -ENOENT;
        *out = vdc_node_static(static_kinds[sub], sub);
        return 0;
    }
    struct vdc_obj *obj = vdc_model_find(id);
    if (!obj)
        return -ENOENT;
    if (obj->type == VDC_OBJ_SCRATCH && ((struct vdc_scratch *)obj)->alias)
        return vdc_tree_resolve(((struct vdc_scratch *)obj)->alias, out);
    enum vdc_node_kind kind = object_kind(obj->type, sub);
    if (kind == VDC_N_NONE)
        return -ENOENT;
    *out = vdc_node_of(kind, obj, sub);
    return 0;
}

int vdc_tree_lookup(const struct vdc_node *dir, const char *name, struct vdc_node *out)
{
    const struct vdc_node_ops *ops = &node_ops[dir->kind];
    if (!ops->lookup)
        return -ENOTDIR;
    return ops->lookup(dir, name, out);
}

static gint dirent_cmp(gconstpointer a, gconstpointer b)
{
    return strcmp(((const struct vdc_dirent *)a)->name, ((const struct vdc_dirent *)b)->name);
}

GArray *vdc_tree_list(const struct vdc_node *dir)
{
    GArray *out = g_array_new(FALSE, FALSE, sizeof(struct vdc_dirent));
    const struct vdc_node_ops *ops = &node_ops[dir->kind];
    if (ops->list)
        ops->list(dir, out);
    g_array_sort(out, dirent_cmp);
    return out;
}

GBytes *vdc_tree_content(const struct vdc_node *n)
{
    const struct vdc_node_ops *ops = &node_ops[n->kind];
    GBytes *b = ops->content ? ops->content(n) : NULL;
    return b ? b : g_bytes_new_static("", 0);
}

size_t vdc_tree_size(const struct vdc_node *n)
{
    const struct vdc_node_ops *ops = &node_ops[n->kind];
    if (ops->size)
        return ops->size(n);
    GBytes *b = vdc_tree_content(n);
    size_t len = g_bytes_get_size(b);
    g_bytes_unref(b);
    return len;
}

mode_t vdc_tree_type(const struct vdc_node *n)
{
    return node_ops[n->kind].type;
}

mode_t vdc_tree_perm(const struct vdc_node *n)
{
    const struct vdc_node_ops *ops = &node_ops[n->kind];
    mode_t perm = ops->perm_of ? ops->perm_of(n) : ops->perm;
    if (perm)
        return perm;
    return ops->type == S_IFDIR ? 0555 : ops->type == S_IFLNK ? 0777 : 0444;
}

const struct timespec *vdc_tree_mtime(const struct vdc_node *n)
{
    const struct vdc_node_ops *ops = &node_ops[n->kind];
    if (ops->mtime)
        return ops->mtime(n);
    return n->obj ? &n->obj->mtime : &vdc_model.start_time;
}
