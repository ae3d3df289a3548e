/* tree_pools.c — pools/<pool>/info.json (the cluster view) and the
 * per-host pools: hosts/<host>/pools/<pool>/{info.json, volumes/<vol>.json} */
#include <sys/stat.h>

#include "tree.h"

#define HPOOL(n) ((struct vdc_hpool *)(n)->obj)

static int pools_lookup(const struct vdc_node *dir, const char *name, struct vdc_node *out)
{
    (void)dir;
    return vdc_map_lookup(vdc_model.cpools, VDC_N_CPOOL, VDC_CPOOL_DIR, name, out);
}

static void pools_list(const struct vdc_node *dir, GArray *out)
{
    (void)dir;
    vdc_map_list(vdc_model.cpools, VDC_N_CPOOL, VDC_CPOOL_DIR, out);
}

static const struct vdc_fixed_child cpool_files[] = {
    {"info.json", VDC_N_CPOOL_INFO, VDC_CPOOL_INFO},
};

static int cpool_lookup(const struct vdc_node *dir, const char *name, struct vdc_node *out)
{
    return vdc_fixed_lookup(cpool_files, G_N_ELEMENTS(cpool_files), dir, name, out);
}

static void cpool_list(const struct vdc_node *dir, GArray *out)
{
    vdc_fixed_list(cpool_files, G_N_ELEMENTS(cpool_files), dir, out);
}

static GBytes *cpool_info_content(const struct vdc_node *n)
{
    return g_bytes_ref(((struct vdc_cpool *)n->obj)->info_json);
}

static const struct vdc_fixed_child hpool_files[] = {
    {"info.json", VDC_N_HPOOL_INFO, VDC_HPOOL_INFO},
    {"volumes", VDC_N_HPOOL_VOLS, VDC_HPOOL_VOLS},
};

static int hpool_lookup(const struct vdc_node *dir, const char *name, struct vdc_node *out)
{
    return vdc_fixed_lookup(hpool_files, G_N_ELEMENTS(hpool_files), dir, name, out);
}

static void hpool_list(const struct vdc_node *dir, GArray *out)
{
    vdc_fixed_list(hpool_files, G_N_ELEMENTS(hpool_files), dir, out);
}

static GBytes *hpool_info_content(const struct vdc_node *n)
{
    return g_bytes_ref(HPOOL(n)->info_json);
}

static int vols_lookup(const struct vdc_node *dir, const char *name, struct vdc_node *out)
{
    return vdc_map_lookup(HPOOL(dir)->volumes, VDC_N_VOLUME, VDC_VOLUME_FILE, name, out);
}

static void vols_list(const struct vdc_node *dir, GArray *out)
{
    vdc_map_list(HPOOL(dir)->volumes, VDC_N_VOLUME, VDC_VOLUME_FILE, out);
}

static GBytes *volume_content(const struct vdc_node *n)
{
    return g_bytes_ref(((struct vdc_volume *)n->obj)->json);
}

void vdc_tree_pools_register(struct vdc_node_ops *ops)
{
    ops[VDC_N_POOLS] = VDC_DIR_OPS(pools_lookup, pools_list);
    ops[VDC_N_CPOOL] = VDC_DIR_OPS(cpool_lookup, cpool_list);
    ops[VDC_N_CPOOL_INFO] = VDC_FILE_OPS(cpool_info_content);
    ops[VDC_N_HPOOL] = VDC_DIR_OPS(hpool_lookup, hpool_list);
    ops[VDC_N_HPOOL_INFO] = VDC_FILE_OPS(hpool_info_content);
    ops[VDC_N_HPOOL_VOLS] = VDC_DIR_OPS(vols_lookup, vols_list);
    ops[VDC_N_VOLUME] = VDC_FILE_OPS(volume_content);
}
