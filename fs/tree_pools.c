/* tree_pools.c — pools/<pool>/info.json (the cluster view) and the
 * per-host pools: hosts/<host>/pools/<pool>/{info.json, volumes/<vol>.json} */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "tree.h"

#define HPOOL(n) ((struct vdc_hpool *)(n)->obj)

static int pools_lookup(const struct vdc_node *dir, const char *name, struct vdc_node *out)
{
    (void)dir;
    struct vdc_cpool *c = g_hash_table_lookup(vdc_model.cpools, name);
    if (!c)
        return -ENOENT;
    *out = vdc_node_of(VDC_N_CPOOL, &c->o, VDC_CPOOL_DIR);
    return 0;
}

static void pools_list(const struct vdc_node *dir, GArray *out)
{
    (void)dir;
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, vdc_model.cpools);
    while (g_hash_table_iter_next(&it, &k, &v))
        vdc_dirents_add(out, k, vdc_node_of(VDC_N_CPOOL, v, VDC_CPOOL_DIR));
}

static int cpool_lookup(const struct vdc_node *dir, const char *name, struct vdc_node *out)
{
    if (strcmp(name, "info.json") != 0)
        return -ENOENT;
    *out = vdc_node_of(VDC_N_CPOOL_INFO, dir->obj, VDC_CPOOL_INFO);
    return 0;
}

static void cpool_list(const struct vdc_node *dir, GArray *out)
{
    vdc_dirents_add(out, "info.json", vdc_node_of(VDC_N_CPOOL_INFO, dir->obj, VDC_CPOOL_INFO));
}

static GBytes *cpool_info_content(const struct vdc_node *n)
{
    return g_bytes_ref(((struct vdc_cpool *)n->obj)->info_json);
}

static int hpool_lookup(const struct vdc_node *dir, const char *name, struct vdc_node *out)
{
    if (strcmp(name, "info.json") == 0)
        *out = vdc_node_of(VDC_N_HPOOL_INFO, dir->obj, VDC_HPOOL_INFO);
    else if (strcmp(name, "volumes") == 0)
        *out = vdc_node_of(VDC_N_HPOOL_VOLS, dir->obj, VDC_HPOOL_VOLS);
    else
        return -ENOENT;
    return 0;
}

static void hpool_list(const struct vdc_node *dir, GArray *out)
{
    vdc_dirents_add(out, "info.json", vdc_node_of(VDC_N_HPOOL_INFO, dir->obj, VDC_HPOOL_INFO));
    vdc_dirents_add(out, "volumes", vdc_node_of(VDC_N_HPOOL_VOLS, dir->obj, VDC_HPOOL_VOLS));
}

static GBytes *hpool_info_content(const struct vdc_node *n)
{
    return g_bytes_ref(HPOOL(n)->info_json);
}

static int vols_lookup(const struct vdc_node *dir, const char *name, struct vdc_node *out)
{
    struct vdc_volume *v = g_hash_table_lookup(HPOOL(dir)->volumes, name);
    if (!v)
        return -ENOENT;
    *out = vdc_node_of(VDC_N_VOLUME, &v->o, VDC_VOLUME_FILE);
    return 0;
}

static void vols_list(const struct vdc_node *dir, GArray *out)
{
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, HPOOL(dir)->volumes);
    while (g_hash_table_iter_next(&it, &k, &v))
        vdc_dirents_add(out, k, vdc_node_of(VDC_N_VOLUME, v, VDC_VOLUME_FILE));
}

static GBytes *volume_content(const struct vdc_node *n)
{
    return g_bytes_ref(((struct vdc_volume *)n->obj)->json);
}

void vdc_tree_pools_register(struct vdc_node_ops *ops)
{
    ops[VDC_N_POOLS] = (struct vdc_node_ops){S_IFDIR, pools_lookup, pools_list, NULL};
    ops[VDC_N_CPOOL] = (struct vdc_node_ops){S_IFDIR, cpool_lookup, cpool_list, NULL};
    ops[VDC_N_CPOOL_INFO] = (struct vdc_node_ops){S_IFREG, NULL, NULL, cpool_info_content};
    ops[VDC_N_HPOOL] = (struct vdc_node_ops){S_IFDIR, hpool_lookup, hpool_list, NULL};
    ops[VDC_N_HPOOL_INFO] = (struct vdc_node_ops){S_IFREG, NULL, NULL, hpool_info_content};
    ops[VDC_N_HPOOL_VOLS] = (struct vdc_node_ops){S_IFDIR, vols_lookup, vols_list, NULL};
    ops[VDC_N_VOLUME] = (struct vdc_node_ops){S_IFREG, NULL, NULL, volume_content};
}
