/* tree_root.c — the top of the tree: hosts/, vms/, pools/, events. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "tree.h"

static const struct {
    const char *name;
    enum vdc_node_kind kind;
    unsigned sub;
} top[] = {
    {"events", VDC_N_EVENTS, VDC_STATIC_EVENTS},
    {"hosts", VDC_N_HOSTS, VDC_STATIC_HOSTS},
    {"pools", VDC_N_POOLS, VDC_STATIC_POOLS},
    {"vms", VDC_N_VMS, VDC_STATIC_VMS},
};

static int root_lookup(const struct vdc_node *dir, const char *name, struct vdc_node *out)
{
    (void)dir;
    for (size_t i = 0; i < G_N_ELEMENTS(top); i++) {
        if (strcmp(top[i].name, name) == 0) {
            *out = vdc_node_static(top[i].kind, top[i].sub);
            return 0;
        }
    }
    return -ENOENT;
}

static void root_list(const struct vdc_node *dir, GArray *out)
{
    (void)dir;
    for (size_t i = 0; i < G_N_ELEMENTS(top); i++)
        vdc_dirents_add(out, top[i].name, vdc_node_static(top[i].kind, top[i].sub));
}

void vdc_tree_root_register(struct vdc_node_ops *ops)
{
    ops[VDC_N_ROOT] = (struct vdc_node_ops){.type = S_IFDIR, .lookup = root_lookup,
                                            .list = root_list};
    /* The FUSE layer serves the events log itself (events_file.c). */
    ops[VDC_N_EVENTS] = (struct vdc_node_ops){.type = S_IFREG};
}
