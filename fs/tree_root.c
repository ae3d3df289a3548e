/* tree_root.c — the top of the tree: arrays/, events, hosts/, pools/, vms/. */
#include <sys/stat.h>

#include "tree.h"

static const struct vdc_fixed_child top[] = {
    {"arrays", VDC_N_ARRAYS, VDC_STATIC_ARRAYS},
    {"events", VDC_N_EVENTS, VDC_STATIC_EVENTS},
    {"hosts", VDC_N_HOSTS, VDC_STATIC_HOSTS},
    {"pools", VDC_N_POOLS, VDC_STATIC_POOLS},
    {"vms", VDC_N_VMS, VDC_STATIC_VMS},
};

static int root_lookup(const struct vdc_node *dir, const char *name, struct vdc_node *out)
{
    return vdc_fixed_lookup(top, G_N_ELEMENTS(top), dir, name, out);
}

static void root_list(const struct vdc_node *dir, GArray *out)
{
    vdc_fixed_list(top, G_N_ELEMENTS(top), dir, out);
}

void vdc_tree_root_register(struct vdc_node_ops *ops)
{
    ops[VDC_N_ROOT] = VDC_DIR_OPS(root_lookup, root_list);
    /* The FUSE layer serves the events log itself (events_file.c). */
    ops[VDC_N_EVENTS] = VDC_FILE_OPS(NULL);
}
