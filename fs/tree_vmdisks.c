/* tree_vmdisks.c — vms/<vm>/disks/<target>/info.json: each disk of a VM
 * and what is behind it (vmdisk_model.h).
 *
 * disks/ belongs to the VM directory's object (the VM, or the desired
 * entry bound to it) and lists the VM's disk objects; a directory with no
 * VM yet has no disks/ (tree_vms.c). */
#include <string.h>
#include <sys/stat.h>

#include "tree.h"
#include "vmdisk_model.h"

#define VMDISK(n) ((struct vdc_vmdisk *)(n)->obj)

static int disks_lookup(const struct vdc_node *dir, const char *name, struct vdc_node *out)
{
    const struct vdc_vm *vm = vdc_vmdir_vm(dir);
    struct vdc_vmdisk *d = vm ? vdc_vmdisk_find(vm, name) : NULL;
    if (!d)
        return -ENOENT;
    *out = vdc_node_of(VDC_N_VMDISK, &d->o, VDC_VMDISK_DIR);
    return 0;
}

static void disks_list(const struct vdc_node *dir, GArray *out)
{
    const struct vdc_vm *vm = vdc_vmdir_vm(dir);
    for (size_t i = 0; vm && vm->disks && vm->disks[i]; i++)
        vdc_dirents_add(out, vm->disks[i]->fname,
                        vdc_node_of(VDC_N_VMDISK, &vm->disks[i]->o, VDC_VMDISK_DIR));
}

static const struct vdc_fixed_child disk_files[] = {
    {"info.json", VDC_N_VMDISK_INFO, VDC_VMDISK_INFO},
};

static int disk_lookup(const struct vdc_node *dir, const char *name, struct vdc_node *out)
{
    return vdc_fixed_lookup(disk_files, G_N_ELEMENTS(disk_files), dir, name, out);
}

static void disk_list(const struct vdc_node *dir, GArray *out)
{
    vdc_fixed_list(disk_files, G_N_ELEMENTS(disk_files), dir, out);
}

static GBytes *disk_info_content(const struct vdc_node *n)
{
    return vdc_vmdisk_info(VMDISK(n));
}

void vdc_tree_vmdisks_register(struct vdc_node_ops *ops)
{
    ops[VDC_N_VM_DISKS] = VDC_DIR_OPS(disks_lookup, disks_list);
    ops[VDC_N_VMDISK] = VDC_DIR_OPS(disk_lookup, disk_list);
    /* Writable like the VM directory they are in, for one thing only:
     * removing them (and info.json) is a no-op, as for the VM's other
     * views, so that rm -r and rsync --delete of a VM directory by its
     * owner get through (default_permissions checks these bits first).
     * Nothing can be made in them. */
    ops[VDC_N_VM_DISKS].perm = 0755;
    ops[VDC_N_VMDISK].perm = 0755;
    ops[VDC_N_VMDISK_INFO] = VDC_FILE_OPS(disk_info_content);
}
