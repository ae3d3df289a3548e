/* tree.h — what the tree looks like: paths to node kinds to content.
 *
 * One source file per subtree (tree_root.c, tree_hosts.c, tree_vms.c,
 * tree_pools.c, tree_arrays.c, tree_snapshots.c, tree_vmdisks.c)
 * describes its node kinds with a struct vdc_node_ops; the FUSE layer
 * (fuse_ll.c) only dispatches through vdc_tree_*.  Everything here runs
 * with the model read lock held and never blocks.
 */
#ifndef VDCFS_TREE_H
#define VDCFS_TREE_H

#include <glib.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "model.h"

enum vdc_node_kind {
    VDC_N_NONE = 0,
    VDC_N_ROOT, VDC_N_HOSTS, VDC_N_VMS, VDC_N_POOLS, VDC_N_EVENTS,
    VDC_N_HOST, VDC_N_HOST_INFO, VDC_N_HOST_VMS, VDC_N_HOST_POOLS, VDC_N_HOST_VMLINK,
    VDC_N_HPOOL, VDC_N_HPOOL_INFO, VDC_N_HPOOL_VOLS, VDC_N_VOLUME,
    VDC_N_CPOOL, VDC_N_CPOOL_INFO,
    VDC_N_VM, VDC_N_VM_STATE, VDC_N_VM_STATUS, VDC_N_VM_DOMXML, VDC_N_VM_SPEC, VDC_N_VM_POWER,
    VDC_N_SCRATCH,
    VDC_N_ARRAYS, VDC_N_ARRAY, VDC_N_ARRAY_INFO, VDC_N_ARRAY_LUNS, VDC_N_LUN, VDC_N_LUN_INFO,
    VDC_N_LUN_SNAPS,
    VDC_N_VM_SNAPS, VDC_N_VM_REVERT, VDC_N_SNAP, VDC_N_SNAP_INFO, VDC_N_SNAP_DOMXML,
    VDC_N_SNAP_DISKS, VDC_N_SNAP_IMG,
    VDC_N_VM_DISKS, VDC_N_VMDISK, VDC_N_VMDISK_INFO,
    VDC_N_COUNT
};

struct vdc_node {
    enum vdc_node_kind kind;
    uint64_t ino;
    struct vdc_obj *obj; /* NULL for static nodes */
};

struct vdc_dirent {
    char *name; /* owned */
    struct vdc_node node;
};

struct vdc_node_ops {
    mode_t type; /* S_IFDIR, S_IFREG or S_IFLNK */
    /* Directories: finds child @name.  Returns 0 or -ENOENT. */
    int (*lookup)(const struct vdc_node *dir, const char *name, struct vdc_node *out);
    /* Directories: appends struct vdc_dirent to @out (without . and ..). */
    void (*list)(const struct vdc_node *dir, GArray *out);
    /* Files and symlinks: the content, a new reference. */
    GBytes *(*content)(const struct vdc_node *n);
    /* Optional: the content's length, where it is cheaper than content(). */
    size_t (*size)(const struct vdc_node *n);
    /* Permission bits: 0 means read-only (0444 files, 0555 directories).
     * Writable nodes are writable by the owner only (fuse_ll.c adds the
     * admin group's bit). */
    mode_t perm;
    /* Optional: permission bits that depend on the node (scratch files). */
    mode_t (*perm_of)(const struct vdc_node *n);
    /* Optional: the node's mtime when it is not its object's. */
    const struct timespec *(*mtime)(const struct vdc_node *n);
};

#define VDC_DIR_OPS(lookup_fn, list_fn)                                                \
    ((struct vdc_node_ops){.type = S_IFDIR, .lookup = (lookup_fn), .list = (list_fn)})
#define VDC_FILE_OPS(content_fn) ((struct vdc_node_ops){.type = S_IFREG, .content = (content_fn)})
#define VDC_LINK_OPS(content_fn) ((struct vdc_node_ops){.type = S_IFLNK, .content = (content_fn)})

/* Puts the subtrees' ops together; call once before any other vdc_tree_*. */
void vdc_tree_init(void);

/* Resolves an inode number.  Returns 0 or -ENOENT (object gone). */
int vdc_tree_resolve(uint64_t ino, struct vdc_node *out);
int vdc_tree_lookup(const struct vdc_node *dir, const char *name, struct vdc_node *out);
/* Returns a GArray of struct vdc_dirent, sorted by name; free with
 * vdc_dirents_free(). */
GArray *vdc_tree_list(const struct vdc_node *dir);
void vdc_dirents_free(GArray *a);
GBytes *vdc_tree_content(const struct vdc_node *n);
size_t vdc_tree_size(const struct vdc_node *n);
mode_t vdc_tree_type(const struct vdc_node *n);
/* Permission bits (without the type). */
mode_t vdc_tree_perm(const struct vdc_node *n);
const struct timespec *vdc_tree_mtime(const struct vdc_node *n);

/* Node constructors the subtrees share. */
struct vdc_node vdc_node_static(enum vdc_node_kind kind, unsigned sub);
struct vdc_node vdc_node_of(enum vdc_node_kind kind, struct vdc_obj *obj, unsigned sub);
void vdc_dirents_add(GArray *out, const char *name, struct vdc_node node);

/* The two shapes of directory the subtrees are made of. */

/* A fixed list of files of the directory's own object (static nodes
 * when the directory is static). */
struct vdc_fixed_child {
    const char *name;
    enum vdc_node_kind kind;
    unsigned sub;
};
int vdc_fixed_lookup(const struct vdc_fixed_child *children, size_t n,
                     const struct vdc_node *dir, const char *name, struct vdc_node *out);
void vdc_fixed_list(const struct vdc_fixed_child *children, size_t n,
                    const struct vdc_node *dir, GArray *out);

/* The objects of a map from file name to object (struct vdc_obj first). */
int vdc_map_lookup(GHashTable *map, enum vdc_node_kind kind, unsigned sub, const char *name,
                   struct vdc_node *out);
void vdc_map_list(GHashTable *map, enum vdc_node_kind kind, unsigned sub, GArray *out);

/* Per-subtree registration: each fills in the ops of its kinds. */
void vdc_tree_root_register(struct vdc_node_ops *ops);
void vdc_tree_hosts_register(struct vdc_node_ops *ops);
void vdc_tree_vms_register(struct vdc_node_ops *ops);
void vdc_tree_pools_register(struct vdc_node_ops *ops);
void vdc_tree_arrays_register(struct vdc_node_ops *ops);
void vdc_tree_snapshots_register(struct vdc_node_ops *ops);
void vdc_tree_vmdisks_register(struct vdc_node_ops *ops);

/* The uuid of the VM a node of a VM directory (or of its snapshots/)
 * is about, or NULL when there is none yet.  Read lock held. */
const char *vdc_vmdir_uuid(const struct vdc_node *n);
/* The VM a node of a VM directory (or of its disks/) shows, or NULL
 * when there is none yet.  Read lock held. */
struct vdc_vm *vdc_vmdir_vm(const struct vdc_node *n);

#endif
