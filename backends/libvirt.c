/* libvirt.c — the libvirt hypervisor backend (hv.h ops).
 *
 * libvirt delivers events on its default event loop, which runs in one
 * thread of ours for the whole process (global_init).  Callbacks only
 * pass the news to the host runner through the hv_sink; every RPC is made
 * by the runner thread that owns the connection.
 */
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <string.h>

#include "hv.h"

struct hv_conn {
    virConnectPtr conn;
    int dom_lifecycle_cb, dom_added_cb, dom_removed_cb, pool_lifecycle_cb, pool_refresh_cb;
};

static void silence_errors(void *data, virErrorPtr e)
{
    /* Errors are reported through the functions' return values. */
    (void)data;
    (void)e;
}

static gpointer event_loop_thread(gpointer unused)
{
    (void)unused;
    for (;;)
        if (virEventRunDefaultImpl() < 0)
            g_usleep(10000);
    return NULL;
}

static char *last_error(const char *what)
{
    const char *msg = virGetLastErrorMessage();
    return g_strdup_printf("%s: %s", what, msg ? msg : "unknown libvirt error");
}

static int lv_global_init(char **err)
{
    virSetErrorFunc(NULL, silence_errors);
    if (virInitialize() < 0 || virEventRegisterDefaultImpl() < 0) {
        *err = last_error("cannot start libvirt's event loop");
        return -1;
    }
    g_thread_unref(g_thread_new("vdc-libvirt-events", event_loop_thread, NULL));
    return 0;
}

static void on_domain_lifecycle(virConnectPtr c, virDomainPtr dom, int event, int detail,
                                void *opaque)
{
    (void)c, (void)event, (void)detail;
    const struct hv_sink *sink = opaque;
    char uuid[VIR_UUID_STRING_BUFLEN];
    if (virDomainGetUUIDString(dom, uuid) == 0)
        sink->vm_changed(sink->ctx, uuid);
}

static void on_domain_device(virConnectPtr c, virDomainPtr dom, const char *alias, void *opaque)
{
    (void)alias;
    on_domain_lifecycle(c, dom, 0, 0, opaque);
}

static void on_pool_event(virConnectPtr c, virStoragePoolPtr pool, void *opaque)
{
    (void)c, (void)pool;
    const struct hv_sink *sink = opaque;
    sink->pools_changed(sink->ctx);
}

static void on_pool_lifecycle(virConnectPtr c, virStoragePoolPtr pool, int event, int detail,
                              void *opaque)
{
    (void)event, (void)detail;
    on_pool_event(c, pool, opaque);
}

static void on_close(virConnectPtr c, int reason, void *opaque)
{
    (void)c;
    static const char *const reasons[] = {"connection error", "end of file from host",
                                          "keepalive timeout", "client closed"};
    const struct hv_sink *sink = opaque;
    const char *why = reason >= 0 && reason < (int)G_N_ELEMENTS(reasons) ? reasons[reason]
                                                                          : "connection closed";
    sink->connection_lost(sink->ctx, why);
}

static void lv_disconnect(struct hv_conn *hc)
{
    if (!hc)
        return;
    if (hc->conn) {
        if (hc->dom_lifecycle_cb >= 0)
            virConnectDomainEventDeregisterAny(hc->conn, hc->dom_lifecycle_cb);
        if (hc->dom_added_cb >= 0)
            virConnectDomainEventDeregisterAny(hc->conn, hc->dom_added_cb);
        if (hc->dom_removed_cb >= 0)
            virConnectDomainEventDeregisterAny(hc->conn, hc->dom_removed_cb);
        if (hc->pool_lifecycle_cb >= 0)
            virConnectStoragePoolEventDeregisterAny(hc->conn, hc->pool_lifecycle_cb);
        if (hc->pool_refresh_cb >= 0)
            virConnectStoragePoolEventDeregisterAny(hc->conn, hc->pool_refresh_cb);
        virConnectUnregisterCloseCallback(hc->conn, on_close);
        virConnectClose(hc->conn);
    }
    g_free(hc);
}

static struct hv_conn *lv_connect(const char *uri, const struct hv_sink *sink, char **err)
{
    struct hv_conn *hc = g_new0(struct hv_conn, 1);
    /* Callbacks get the sink, which outlives every connection, rather
     * than @hc: a late callback of a closed connection then cannot touch
     * freed memory. */
    void *opaque = (void *)sink;
    hc->dom_lifecycle_cb = hc->dom_added_cb = hc->dom_removed_cb = -1;
    hc->pool_lifecycle_cb = hc->pool_refresh_cb = -1;
    hc->conn = virConnectOpen(uri);
    if (!hc->conn) {
        *err = last_error("cannot connect");
        g_free(hc);
        return NULL;
    }
    /* A host that stops answering is noticed after interval * (count + 1)
     * = 12 s.  Local drivers don't do keepalive (returns 1): that's fine. */
    virConnectSetKeepAlive(hc->conn, 3, 3);
    virConnectRegisterCloseCallback(hc->conn, on_close, opaque, NULL);
    hc->dom_lifecycle_cb = virConnectDomainEventRegisterAny(
        hc->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK(on_domain_lifecycle),
        opaque, NULL);
    hc->dom_added_cb = virConnectDomainEventRegisterAny(
        hc->conn, NULL, VIR_DOMAIN_EVENT_ID_DEVICE_ADDED,
        VIR_DOMAIN_EVENT_CALLBACK(on_domain_device), opaque, NULL);
    hc->dom_removed_cb = virConnectDomainEventRegisterAny(
        hc->conn, NULL, VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED,
        VIR_DOMAIN_EVENT_CALLBACK(on_domain_device), opaque, NULL);
    hc->pool_lifecycle_cb = virConnectStoragePoolEventRegisterAny(
        hc->conn, NULL, VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE,
        VIR_STORAGE_POOL_EVENT_CALLBACK(on_pool_lifecycle), opaque, NULL);
    hc->pool_refresh_cb = virConnectStoragePoolEventRegisterAny(
        hc->conn, NULL, VIR_STORAGE_POOL_EVENT_ID_REFRESH,
        VIR_STORAGE_POOL_EVENT_CALLBACK(on_pool_event), opaque, NULL);
    if (hc->dom_lifecycle_cb < 0) {
        *err = last_error("cannot subscribe to domain events");
        lv_disconnect(hc);
        return NULL;
    }
    return hc;
}

static char *version_string(unsigned long v)
{
    return g_strdup_printf("%lu.%lu.%lu", v / 1000000, (v / 1000) % 1000, v % 1000);
}

static int lv_host_info(struct hv_conn *hc, struct hv_host_info **out, char **err)
{
    virNodeInfo node;
    unsigned long hv_version = 0, lib_version = 0;
    const char *type = virConnectGetType(hc->conn);
    if (!type || virNodeGetInfo(hc->conn, &node) < 0) {
        *err = last_error("cannot read host facts");
        return -1;
    }
    virConnectGetVersion(hc->conn, &hv_version);
    virConnectGetLibVersion(hc->conn, &lib_version);
    struct hv_host_info *h = g_new0(struct hv_host_info, 1);
    h->hypervisor = g_strdup(type);
    h->hypervisor_version = version_string(hv_version);
    h->libvirt_version = version_string(lib_version);
    h->cpus = node.cpus;
    h->memory_kib = node.memory;
    *out = h;
    return 0;
}

static enum vdc_vm_state state_of(int s)
{
    switch (s) {
    case VIR_DOMAIN_RUNNING:
    case VIR_DOMAIN_SHUTDOWN: /* still running while it shuts down */
        return VDC_VM_RUNNING;
    case VIR_DOMAIN_BLOCKED:
        return VDC_VM_BLOCKED;
    case VIR_DOMAIN_PAUSED:
        return VDC_VM_PAUSED;
    case VIR_DOMAIN_SHUTOFF:
        return VDC_VM_SHUTOFF;
    case VIR_DOMAIN_CRASHED:
        return VDC_VM_CRASHED;
    case VIR_DOMAIN_PMSUSPENDED:
        return VDC_VM_SUSPENDED;
    default:
        return VDC_VM_UNKNOWN;
    }
}

/* Reads everything about @dom.  Returns 0, 1 if it vanished meanwhile, -1. */
static int read_domain(virDomainPtr dom, struct hv_vm **out, char **err)
{
    int state = 0, reason = 0, autostart = 0;
    char *xml = virDomainGetXMLDesc(dom, 0);
    if (!xml || virDomainGetState(dom, &state, &reason, 0) < 0) {
        free(xml);
        if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN)
            return 1;
        *err = last_error("cannot read VM");
        return -1;
    }
    struct hv_vm *vm = hv_vm_new();
    int rc = hv_parse_domain_xml(xml, vm, err);
    free(xml);
    if (rc < 0) {
        hv_vm_free(vm);
        return -1;
    }
    virDomainGetUUIDString(dom, vm->uuid);
    vm->state = state_of(state);
    vm->persistent = virDomainIsPersistent(dom) == 1;
    vm->autostart = virDomainGetAutostart(dom, &autostart) == 0 && autostart;
    *out = vm;
    return 0;
}

static int lv_list_vms(struct hv_conn *hc, GPtrArray **out, char **err)
{
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(hc->conn, &doms, 0);
    if (n < 0) {
        *err = last_error("cannot list VMs");
        return -1;
    }
    GPtrArray *vms = g_ptr_array_new_with_free_func((GDestroyNotify)hv_vm_free);
    int rc = 0;
    for (int i = 0; i < n; i++) {
        struct hv_vm *vm = NULL;
        if (rc == 0) {
            int r = read_domain(doms[i], &vm, err);
            if (r < 0)
                rc = -1;
            else if (r == 0)
                g_ptr_array_add(vms, vm);
        }
        virDomainFree(doms[i]);
    }
    free(doms);
    if (rc < 0) {
        g_ptr_array_free(vms, TRUE);
        return -1;
    }
    g_ptr_array_set_free_func(vms, NULL);
    *out = vms;
    return 0;
}

static int lv_get_vm(struct hv_conn *hc, const char *uuid, struct hv_vm **out, char **err)
{
    virDomainPtr dom = virDomainLookupByUUIDString(hc->conn, uuid);
    if (!dom) {
        if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN)
            return 1;
        *err = last_error("cannot look up VM");
        return -1;
    }
    int rc = read_domain(dom, out, err);
    virDomainFree(dom);
    return rc;
}

static const char *pool_state_word(int s)
{
    switch (s) {
    case VIR_STORAGE_POOL_INACTIVE:
        return "inactive";
    case VIR_STORAGE_POOL_BUILDING:
        return "building";
    case VIR_STORAGE_POOL_RUNNING:
        return "running";
    case VIR_STORAGE_POOL_DEGRADED:
        return "degraded";
    case VIR_STORAGE_POOL_INACCESSIBLE:
        return "inaccessible";
    default:
        return "unknown";
    }
}

static const char *volume_type_word(int t)
{
    static const char *const words[] = {"file", "block", "dir", "network", "netdir", "ploop"};
    return t >= 0 && t < (int)G_N_ELEMENTS(words) ? words[t] : "unknown";
}

static void read_volumes(virStoragePoolPtr pool, struct hv_pool *p)
{
    virStorageVolPtr *vols = NULL;
    int n = virStoragePoolListAllVolumes(pool, &vols, 0);
    for (int i = 0; i < n; i++) {
        virStorageVolInfo info;
        const char *name = virStorageVolGetName(vols[i]);
        if (name && virStorageVolGetInfo(vols[i], &info) == 0) {
            struct hv_volume *v = g_new0(struct hv_volume, 1);
            v->name = g_strdup(name);
            char *path = virStorageVolGetPath(vols[i]);
            v->path = g_strdup(path);
            free(path);
            v->type = g_strdup(volume_type_word(info.type));
            v->capacity = info.capacity;
            v->allocation = info.allocation;
            g_ptr_array_add(p->volumes, v);
        }
        virStorageVolFree(vols[i]);
    }
    free(vols);
}

static int lv_list_pools(struct hv_conn *hc, GPtrArray **out, char **err)
{
    virStoragePoolPtr *pools = NULL;
    int n = virConnectListAllStoragePools(hc->conn, &pools, 0);
    if (n < 0) {
        if (virGetLastErrorCode() == VIR_ERR_NO_SUPPORT) {
            *out = g_ptr_array_new(); /* a hypervisor without storage */
            return 0;
        }
        *err = last_error("cannot list pools");
        return -1;
    }
    GPtrArray *list = g_ptr_array_new();
    for (int i = 0; i < n; i++) {
        virStoragePoolInfo info;
        const char *name = virStoragePoolGetName(pools[i]);
        if (name && virStoragePoolGetInfo(pools[i], &info) == 0) {
            struct hv_pool *p = hv_pool_new();
            p->name = g_strdup(name);
            char *xml = virStoragePoolGetXMLDesc(pools[i], 0);
            p->type = xml ? hv_parse_pool_type(xml) : NULL;
            free(xml);
            p->state = g_strdup(pool_state_word(info.state));
            p->capacity = info.capacity;
            p->allocation = info.allocation;
            p->available = info.available;
            if (info.state == VIR_STORAGE_POOL_RUNNING)
                read_volumes(pools[i], p);
            g_ptr_array_add(list, p);
        }
        virStoragePoolFree(pools[i]);
    }
    free(pools);
    *out = list;
    return 0;
}

const struct hv_ops hv_libvirt_ops = {
    .name = "libvirt",
    .global_init = lv_global_init,
    .connect = lv_connect,
    .disconnect = lv_disconnect,
    .host_info = lv_host_info,
    .list_vms = lv_list_vms,
    .get_vm = lv_get_vm,
    .list_pools = lv_list_pools,
};
