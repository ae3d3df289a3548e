/* tree_hosts.c — hosts/<host>/{info.json, vms/<vm> -> ../../../vms/<vm>, pools/} */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "tree.h"

#define HOST(n) ((struct vdc_host *)(n)->obj)

static int hosts_lookup(const struct vdc_node *dir, const char *name, struct vdc_node *out)
{
    (void)dir;
    struct vdc_host *h = g_hash_table_lookup(vdc_model.host_by_name, name);
    if (!h)
        return -ENOENT;
    *out = vdc_node_of(VDC_N_HOST, &h->o, VDC_HOST_DIR);
    return 0;
}

static void hosts_list(const struct vdc_node *dir, GArray *out)
{
    (void)dir;
    for (guint i = 0; i < vdc_model.hosts->len; i++) {
        struct vdc_host *h = g_ptr_array_index(vdc_model.hosts, i);
        vdc_dirents_add(out, h->name, vdc_node_of(VDC_N_HOST, &h->o, VDC_HOST_DIR));
    }
}

static const struct {
    const char *name;
    enum vdc_node_kind kind;
    unsigned sub;
} host_files[] = {
    {"info.json", VDC_N_HOST_INFO, VDC_HOST_INFO},
    {"pools", VDC_N_HOST_POOLS, VDC_HOST_POOLS},
    {"vms", VDC_N_HOST_VMS, VDC_HOST_VMS},
};

static int host_lookup(const struct vdc_node *dir, const char *name, struct vdc_node *out)
{
    for (size_t i = 0; i < G_N_ELEMENTS(host_files); i++) {
        if (strcmp(host_files[i].name, name) == 0) {
            *out = vdc_node_of(host_files[i].kind, dir->obj, host_files[i].sub);
            return 0;
        }
    }
    return -ENOENT;
}

static void host_list(const struct vdc_node *dir, GArray *out)
{
    for (size_t i = 0; i < G_N_ELEMENTS(host_files); i++)
        vdc_dirents_add(out, host_files[i].name,
                        vdc_node_of(host_files[i].kind, dir->obj, host_files[i].sub));
}

static GBytes *host_info_content(const struct vdc_node *n)
{
    return g_bytes_ref(HOST(n)->info_json);
}

static int host_vms_lookup(const struct vdc_node *dir, const char *name, struct vdc_node *out)
{
    struct vdc_vm *vm = g_hash_table_lookup(HOST(dir)->vms_by_fname, name);
    if (!vm)
        return -ENOENT;
    *out = vdc_node_of(VDC_N_HOST_VMLINK, &vm->o, VDC_VM_HOSTLINK);
    return 0;
}

static void host_vms_list(const struct vdc_node *dir, GArray *out)
{
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, HOST(dir)->vms_by_fname);
    while (g_hash_table_iter_next(&it, &k, &v))
        vdc_dirents_add(out, k, vdc_node_of(VDC_N_HOST_VMLINK, v, VDC_VM_HOSTLINK));
}

static GBytes *host_vmlink_content(const struct vdc_node *n)
{
    struct vdc_vm *vm = (struct vdc_vm *)n->obj;
    char *target = g_strdup_printf("../../../vms/%s", vm->display);
    return g_bytes_new_take(target, strlen(target));
}

static int host_pools_lookup(const struct vdc_node *dir, const char *name, struct vdc_node *out)
{
    struct vdc_hpool *p = g_hash_table_lookup(HOST(dir)->pools, name);
    if (!p)
        return -ENOENT;
    *out = vdc_node_of(VDC_N_HPOOL, &p->o, VDC_HPOOL_DIR);
    return 0;
}

static void host_pools_list(const struct vdc_node *dir, GArray *out)
{
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, HOST(dir)->pools);
    while (g_hash_table_iter_next(&it, &k, &v))
        vdc_dirents_add(out, k, vdc_node_of(VDC_N_HPOOL, v, VDC_HPOOL_DIR));
}

void vdc_tree_hosts_register(struct vdc_node_ops *ops)
{
    ops[VDC_N_HOSTS] = (struct vdc_node_ops){S_IFDIR, hosts_lookup, hosts_list, NULL};
    ops[VDC_N_HOST] = (struct vdc_node_ops){S_IFDIR, host_lookup, host_list, NULL};
    ops[VDC_N_HOST_INFO] = (struct vdc_node_ops){S_IFREG, NULL, NULL, host_info_content};
    ops[VDC_N_HOST_VMS] = (struct vdc_node_ops){S_IFDIR, host_vms_lookup, host_vms_list, NULL};
    ops[VDC_N_HOST_VMLINK] = (struct vdc_node_ops){S_IFLNK, NULL, NULL, host_vmlink_content};
    ops[VDC_N_HOST_POOLS] =
        (struct vdc_node_ops){S_IFDIR, host_pools_lookup, host_pools_list, NULL};
}
