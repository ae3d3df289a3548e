/* tree_vms.c — vms/<vm>/{state, status.json, domain.xml} */
#include <sys/stat.h>

#include "tree.h"
#include "ztext.h"

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
    return vdc_ztext_unpack(VM(n)->status_json);
}

static size_t vm_status_size(const struct vdc_node *n)
{
    return vdc_ztext_size(VM(n)->status_json);
}

static GBytes *vm_domxml_content(const struct vdc_node *n)
{
    return vdc_ztext_unpack(VM(n)->domain_xml);
}

static size_t vm_domxml_size(const struct vdc_node *n)
{
    return vdc_ztext_size(VM(n)->domain_xml);
}

void vdc_tree_vms_register(struct vdc_node_ops *ops)
{
    ops[VDC_N_VMS] = VDC_DIR_OPS(vms_lookup, vms_list);
    ops[VDC_N_VM] = VDC_DIR_OPS(vm_lookup, vm_list);
    ops[VDC_N_VM_STATE] = VDC_FILE_OPS(vm_state_content);
    ops[VDC_N_VM_STATUS] = VDC_FILE_OPS(vm_status_content);
    ops[VDC_N_VM_STATUS].size = vm_status_size;
    ops[VDC_N_VM_DOMXML] = VDC_FILE_OPS(vm_domxml_content);
    ops[VDC_N_VM_DOMXML].size = vm_domxml_size;
}
