/* tree_vms.c — vms/<vm>/{state, status.json, domain.xml} */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "tree.h"

#define VM(n) ((struct vdc_vm *)(n)->obj)

static int vms_lookup(const struct vdc_node *dir, const char *name, struct vdc_node *out)
{
    (void)dir;
    struct vdc_vm *vm = g_hash_table_lookup(vdc_model.vms_by_display, name);
    if (!vm)
        return -ENOENT;
    *out = vdc_node_of(VDC_N_VM, &vm->o, VDC_VM_DIR);
    return 0;
}

static void vms_list(const struct vdc_node *dir, GArray *out)
{
    (void)dir;
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, vdc_model.vms_by_display);
    while (g_hash_table_iter_next(&it, &k, &v))
        vdc_dirents_add(out, k, vdc_node_of(VDC_N_VM, v, VDC_VM_DIR));
}

static const struct {
    const char *name;
    enum vdc_node_kind kind;
    unsigned sub;
} vm_files[] = {
    {"domain.xml", VDC_N_VM_DOMXML, VDC_VM_DOMXML},
    {"state", VDC_N_VM_STATE, VDC_VM_STATE},
    {"status.json", VDC_N_VM_STATUS, VDC_VM_STATUS},
};

static int vm_lookup(const struct vdc_node *dir, const char *name, struct vdc_node *out)
{
    for (size_t i = 0; i < G_N_ELEMENTS(vm_files); i++) {
        if (strcmp(vm_files[i].name, name) == 0) {
            *out = vdc_node_of(vm_files[i].kind, dir->obj, vm_files[i].sub);
            return 0;
        }
    }
    return -ENOENT;
}

static void vm_list(const struct vdc_node *dir, GArray *out)
{
    for (size_t i = 0; i < G_N_ELEMENTS(vm_files); i++)
        vdc_dirents_add(out, vm_files[i].name,
                        vdc_node_of(vm_files[i].kind, dir->obj, vm_files[i].sub));
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
