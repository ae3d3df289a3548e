/* tree_snapshots.c — vms/<vm>/snapshots/<name>/{info.json, domain.xml,
 * disks/<target>.img}: a VM's snapshots (snapshot_model.h).
 *
 * The images have a size but no content here: reads of them go to the
 * array over iSCSI (lun_read.h), never through the model. */
#include <string.h>
#include <sys/stat.h>

#include "snapshot_model.h"
#include "tree.h"

#define SNAP(n) ((struct vdc_vmsnap *)(n)->obj)
#define SNAPDISK(n) ((struct vdc_snapdisk *)(n)->obj)

static int snaps_lookup(const struct vdc_node *dir, const char *name, struct vdc_node *out)
{
    const char *uuid = vdc_vmdir_uuid(dir);
    struct vdc_vmsnap *s = uuid ? vdc_snapshot_find(uuid, name) : NULL;
    if (!s)
        return -ENOENT;
    *out = vdc_node_of(VDC_N_SNAP, &s->o, VDC_SNAP_DIR);
    return 0;
}

static void snaps_list(const struct vdc_node *dir, GArray *out)
{
    const char *uuid = vdc_vmdir_uuid(dir);
    GHashTable *m = uuid ? vdc_snapshots_of(uuid) : NULL;
    if (m)
        vdc_map_list(m, VDC_N_SNAP, VDC_SNAP_DIR, out);
}

static const struct vdc_fixed_child snap_files[] = {
    {"disks", VDC_N_SNAP_DISKS, VDC_SNAP_DISKS},
    {"domain.xml", VDC_N_SNAP_DOMXML, VDC_SNAP_DOMXML},
    {"info.json", VDC_N_SNAP_INFO, VDC_SNAP_INFO},
};

static int snap_lookup(const struct vdc_node *dir, const char *name, struct vdc_node *out)
{
    return vdc_fixed_lookup(snap_files, G_N_ELEMENTS(snap_files), dir, name, out);
}

static void snap_list(const struct vdc_node *dir, GArray *out)
{
    vdc_fixed_list(snap_files, G_N_ELEMENTS(snap_files), dir, out);
}

static GBytes *snap_info_content(const struct vdc_node *n)
{
    return vdc_snapshot_info(SNAP(n));
}

static GBytes *snap_domxml_content(const struct vdc_node *n)
{
    return SNAP(n)->domain_xml ? g_bytes_ref(SNAP(n)->domain_xml) : NULL;
}

static int disks_lookup(const struct vdc_node *dir, const char *name, struct vdc_node *out)
{
    return vdc_map_lookup(SNAP(dir)->disks, VDC_N_SNAP_IMG, VDC_SNAPDISK_IMG, name, out);
}

static void disks_list(const struct vdc_node *dir, GArray *out)
{
    vdc_map_list(SNAP(dir)->disks, VDC_N_SNAP_IMG, VDC_SNAPDISK_IMG, out);
}

static size_t img_size(const struct vdc_node *n)
{
    return (size_t)SNAPDISK(n)->size;
}

void vdc_tree_snapshots_register(struct vdc_node_ops *ops)
{
    ops[VDC_N_VM_SNAPS] = VDC_DIR_OPS(snaps_lookup, snaps_list);
    ops[VDC_N_VM_SNAPS].perm = 0755; /* mkdir and rmdir take and delete snapshots */
    ops[VDC_N_SNAP] = VDC_DIR_OPS(snap_lookup, snap_list);
    ops[VDC_N_SNAP_INFO] = VDC_FILE_OPS(snap_info_content);
    ops[VDC_N_SNAP_DOMXML] = VDC_FILE_OPS(snap_domxml_content);
    ops[VDC_N_SNAP_DISKS] = VDC_DIR_OPS(disks_lookup, disks_list);
    ops[VDC_N_SNAP_IMG] = VDC_FILE_OPS(NULL);
    ops[VDC_N_SNAP_IMG].size = img_size;
}
