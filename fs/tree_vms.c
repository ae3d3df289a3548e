/* tree_vms.c — vms/<vm>/{state, status.json, domain.xml} */
#include <sys/stat.h>

#include "tree.h"

#define VM(n) ((struct vdc_vm *)(n)->obj)

static int vms_lookup(const struct vdc_node *dir, const char *name, struct vdc_node *out)
{
    (void)dir;
    return vdc_map_lookup(vdc_model.vms_by_display, VDC_N_VM, VDC_VM_DIR, name, out);
}

static void vms_list(const struct vdc_node *dir, GArray *out)
{
    (void)dir;
    vdc_map_list(vdc_model.vms_by_display, VDC_N_VM, VDC_VM_DIR, out);
}

static const struct vdc_fixed_child vm_files[] = {
    {"domain.xml", VDC_N_VM_DOMXML, VDC_VM_DOMXML},
    {"state", VDC_N_VM_STATE, VDC_VM_STATE},
    {"status.json", VDC_N_VM_STATUS, VDC_VM_STATUS},
};

static int vm_lookup(const struct vdc_node *dir, const char *name, struct vdc_node *out)
{
    return vdc_fixed_lookup(vm_files, G_N_ELEMENTS(vm_files), dir, name, out);
}

static void vm_list(const struct vdc_node *dir, GArray *out)
{
    vdc_fixed_list(vm_files, G_N_ELEMENTS(vm_files), dir, out);
}

static GBytes *vm_state_content(const struct vdc_node *n)
{
    return g_bytes_ref(vdc_vm_state_bytes(VM(n)->state));
}

static GBytes *vm_status_content(const struct vdc_node *n)
{
    return g_bytes_ref(VM(n)->status_json);
}

static GBytes *vm_domxml_content(const struct vdc_node *n)
{
    return g_bytes_ref(VM(n)->domain_xml);
}

void vdc_tree_vms_register(struct vdc_node_ops *ops)
{
    ops[VDC_N_VMS] = (struct vdc_node_ops){S_IFDIR, vms_lookup, vms_list, NULL};
    ops[VDC_N_VM] = (struct vdc_node_ops){S_IFDIR, vm_lookup, vm_list, NULL};
    ops[VDC_N_VM_STATE] = (struct vdc_node_ops){S_IFREG, NULL, NULL, vm_state_content};
    ops[VDC_N_VM_STATUS] = (struct vdc_node_ops){S_IFREG, NULL, NULL, vm_status_content};
    ops[VDC_N_VM_DOMXML] = (struct vdc_node_ops){S_IFREG, NULL, NULL, vm_domxml_content};
}
