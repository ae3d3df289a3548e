/* tree_hosts.c — hosts/<host>/{info.json, vms/<vm> -> ../../../vms/<vm>, pools/} */
#include <string.h>
#include <sys/stat.h>

#include "tree.h"

#define HOST(n) ((struct vdc_host *)(n)->obj)

static int hosts_lookup(const struct vdc_node *dir, const char *name, struct vdc_node *out)
{
    (void)dir;
    return vdc_map_lookup(vdc_model.host_by_name, VDC_N_HOST, VDC_HOST_DIR, name, out);
}

static void hosts_list(const struct vdc_node *dir, GArray *out)
{
    (void)dir;
    vdc_map_list(vdc_model.host_by_name, VDC_N_HOST, VDC_HOST_DIR, out);
}

static const struct vdc_fixed_child host_files[] = {
    {"info.json", VDC_N_HOST_INFO, VDC_HOST_INFO},
    {"pools", VDC_N_HOST_POOLS, VDC_HOST_POOLS},
    {"vms", VDC_N_HOST_VMS, VDC_HOST_VMS},
};

static int host_lookup(const struct vdc_node *dir, const char *name, struct vdc_node *out)
{
    return vdc_fixed_lookup(host_files, G_N_ELEMENTS(host_files), dir, name, out);
}

static void host_list(const struct vdc_node *dir, GArray *out)
{
    vdc_fixed_list(host_files, G_N_ELEMENTS(host_files), dir, out);
}

static GBytes *host_info_content(const struct vdc_node *n)
{
    return g_bytes_ref(HOST(n)->info_json);
}

/* hosts/<host>/vms/<vm>: a symlink per VM of the host, by its own name. */
static int host_vms_lookup(const struct vdc_node *dir, const char *name, struct vdc_node *out)
{
    return vdc_map_lookup(HOST(dir)->vms_by_fname, VDC_N_HOST_VMLINK, VDC_VM_HOSTLINK, name, out);
}

static void host_vms_list(const struct vdc_node *dir, GArray *out)
{
    vdc_map_list(HOST(dir)->vms_by_fname, VDC_N_HOST_VMLINK, VDC_VM_HOSTLINK, out);
}

static GBytes *host_vmlink_content(const struct vdc_node *n)
{
    struct vdc_vm *vm = (struct vdc_vm *)n->obj;
    char *target = g_strdup_printf("../../../vms/%s", vm->display);
    return g_bytes_new_take(target, strlen(target));
}

static int host_pools_lookup(const struct vdc_node *dir, const char *name, struct vdc_node *out)
{
    return vdc_map_lookup(HOST(dir)->pools, VDC_N_HPOOL, VDC_HPOOL_DIR, name, out);
}

static void host_pools_list(const struct vdc_node *dir, GArray *out)
{
    vdc_map_list(HOST(dir)->pools, VDC_N_HPOOL, VDC_HPOOL_DIR, out);
}

void vdc_tree_hosts_register(struct vdc_node_ops *ops)
{
    ops[VDC_N_HOSTS] = VDC_DIR_OPS(hosts_lookup, hosts_list);
    ops[VDC_N_HOST] = VDC_DIR_OPS(host_lookup, host_list);
    ops[VDC_N_HOST_INFO] = VDC_FILE_OPS(host_info_content);
    ops[VDC_N_HOST_VMS] = VDC_DIR_OPS(host_vms_lookup, host_vms_list);
    ops[VDC_N_HOST_VMLINK] = VDC_LINK_OPS(host_vmlink_content);
    ops[VDC_N_HOST_POOLS] = VDC_DIR_OPS(host_pools_lookup, host_pools_list);
}
