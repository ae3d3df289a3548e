/* tree_arrays.c — arrays/<array>/{info.json, luns/<lun>/{info.json,
 * snapshots/<id>/info.json}}: the storage arrays (array_model.h). */
#include <string.h>
#include <sys/stat.h>

#include "array_model.h"
#include "names.h"
#include "tree.h"

#define ARRAY(n) ((struct vdc_array *)(n)->obj)
#define LUN(n) ((struct vdc_lun *)(n)->obj)

static int arrays_lookup(const struct vdc_node *dir, const char *name, struct vdc_node *out)
{
    (void)dir;
    struct vdc_array *a = vdc_array_find(name);
    if (!a)
        return -ENOENT;
    *out = vdc_node_of(VDC_N_ARRAY, &a->o, VDC_ARRAY_DIR);
    return 0;
}

static void arrays_list(const struct vdc_node *dir, GArray *out)
{
    (void)dir;
    for (guint i = 0; i < vdc_model.arrays->len; i++) {
        struct vdc_array *a = g_ptr_array_index(vdc_model.arrays, i);
        vdc_dirents_add(out, a->name, vdc_node_of(VDC_N_ARRAY, &a->o, VDC_ARRAY_DIR));
    }
}

static const struct vdc_fixed_child array_files[] = {
    {"info.json", VDC_N_ARRAY_INFO, VDC_ARRAY_INFO},
    {"luns", VDC_N_ARRAY_LUNS, VDC_ARRAY_LUNS},
};

static int array_lookup(const struct vdc_node *dir, const char *name, struct vdc_node *out)
{
    return vdc_fixed_lookup(array_files, G_N_ELEMENTS(array_files), dir, name, out);
}

static void array_list(const struct vdc_node *dir, GArray *out)
{
    vdc_fixed_list(array_files, G_N_ELEMENTS(array_files), dir, out);
}

static GBytes *array_info_content(const struct vdc_node *n)
{
    return g_bytes_ref(ARRAY(n)->info_json);
}

static int luns_lookup(const struct vdc_node *dir, const char *name, struct vdc_node *out)
{
    return vdc_map_lookup(ARRAY(dir)->luns, VDC_N_LUN, VDC_LUN_DIR, name, out);
}

static void luns_list(const struct vdc_node *dir, GArray *out)
{
    vdc_map_list(ARRAY(dir)->luns, VDC_N_LUN, VDC_LUN_DIR, out);
}

/* A disk LUN has its snapshots below it; a snapshot LUN only its facts. */
static const struct vdc_fixed_child lun_files[] = {
    {"info.json", VDC_N_LUN_INFO, VDC_LUN_INFO},
    {"snapshots", VDC_N_LUN_SNAPS, VDC_LUN_SNAPSHOTS},
};

static size_t lun_children(const struct vdc_node *dir)
{
    return LUN(dir)->mgmt->role == ARRAY_LUN_DISK ? G_N_ELEMENTS(lun_files) : 1;
}

static int lun_lookup(const struct vdc_node *dir, const char *name, struct vdc_node *out)
{
    return vdc_fixed_lookup(lun_files, lun_children(dir), dir, name, out);
}

static void lun_list(const struct vdc_node *dir, GArray *out)
{
    vdc_fixed_list(lun_files, lun_children(dir), dir, out);
}

static GBytes *lun_info_content(const struct vdc_node *n)
{
    return vdc_lun_info(LUN(n));
}

/* The snapshot LUNs of LUN @l, each with the name it has in snapshots/
 * (its id, encoded like any name from outside). */
static void snapshots_each(const struct vdc_lun *l,
                           bool (*fn)(const char *name, struct vdc_lun *snap, void *ctx), void *ctx)
{
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, l->array->snapshots);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        struct vdc_lun *s = v;
        if (s->mgmt->role != ARRAY_LUN_SNAPSHOT || s->mgmt->source_lun != l->mgmt->lun ||
            !s->mgmt->id)
            continue;
        g_autofree char *name = vdc_name_encode(s->mgmt->id);
        if (!fn(name, s, ctx))
            return;
    }
}

struct snap_find {
    const char *name;
    struct vdc_lun *found;
};

static bool snap_match(const char *name, struct vdc_lun *snap, void *ctx)
{
    struct snap_find *f = ctx;
    if (strcmp(name, f->name) != 0)
        return true;
    f->found = snap;
    return false;
}

static bool snap_add(const char *name, struct vdc_lun *snap, void *ctx)
{
    vdc_dirents_add(ctx, name, vdc_node_of(VDC_N_LUN, &snap->o, VDC_LUN_DIR));
    return true;
}

static int snaps_lookup(const struct vdc_node *dir, const char *name, struct vdc_node *out)
{
    struct snap_find f = {.name = name};
    snapshots_each(LUN(dir), snap_match, &f);
    if (!f.found)
        return -ENOENT;
    *out = vdc_node_of(VDC_N_LUN, &f.found->o, VDC_LUN_DIR);
    return 0;
}

static void snaps_list(const struct vdc_node *dir, GArray *out)
{
    snapshots_each(LUN(dir), snap_add, out);
}

void vdc_tree_arrays_register(struct vdc_node_ops *ops)
{
    ops[VDC_N_ARRAYS] = VDC_DIR_OPS(arrays_lookup, arrays_list);
    ops[VDC_N_ARRAY] = VDC_DIR_OPS(array_lookup, array_list);
    ops[VDC_N_ARRAY_INFO] = VDC_FILE_OPS(array_info_content);
    ops[VDC_N_ARRAY_LUNS] = VDC_DIR_OPS(luns_lookup, luns_list);
    ops[VDC_N_LUN] = VDC_DIR_OPS(lun_lookup, lun_list);
    ops[VDC_N_LUN_INFO] = VDC_FILE_OPS(lun_info_content);
    ops[VDC_N_LUN_SNAPS] = VDC_DIR_OPS(snaps_lookup, snaps_list);
    ops[VDC_N_LUN_SNAPS].perm = 0755; /* mkdir and rmdir take and delete LUN snapshots */
}
