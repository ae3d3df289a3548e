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

static bool vanished(void)
{
    return virGetLastErrorCode() == VIR_ERR_NO_DOMAIN;
}

/* Reads everything about @dom; state, autostart and persistence come from
 * @known when given.  Returns 0, 1 if it vanished meanwhile, -1. */
static int read_domain(virDomainPtr dom, const struct hv_vm_brief *known, struct hv_vm **out,
                       char **err)
{
    int state = 0, reason = 0, autostart = 0, persistent = 0;
    char *xml = virDomainGetXMLDesc(dom, 0);
    if (!xml)
        goto failed;
    if (!known) {
        if (virDomainGetState(dom, &state, &reason, 0) < 0 ||
            (persistent = virDomainIsPersistent(dom)) < 0 ||
            virDomainGetAutostart(dom, &autostart) < 0)
            goto failed;
    }
    struct hv_vm *vm = hv_vm_new();
    int rc = hv_parse_domain_xml(xml, vm, err);
    free(xml);
    if (rc < 0) {
        hv_vm_free(vm);
        return -1;
    }
    virDomainGetUUIDString(dom, vm->uuid);
    vm->state = known ? known->state : state_of(state);
    vm->persistent = known ? known->persistent : persistent == 1;
    vm->autostart = known ? known->autostart : autostart != 0;
    *out = vm;
    return 0;
failed:
    free(xml);
    if (vanished())
        return 1;
    *err = last_error("cannot read VM");
    return -1;
}

/* The uuids of the domains that match @flags (persistent, autostart). */
static GHashTable *uuids_where(virConnectPtr conn, unsigned flags, char **err)
{
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(conn, &doms, flags);
    if (n < 0) {
        *err = last_error("cannot list VMs");
        return NULL;
    }
    GHashTable *set = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (int i = 0; i < n; i++) {
        char uuid[VIR_UUID_STRING_BUFLEN];
        if (virDomainGetUUIDString(doms[i], uuid) == 0)
            g_hash_table_add(set, g_strdup(uuid));
        virDomainFree(doms[i]);
    }
    free(doms);
    return set;
}

/* Every domain's uuid and state, a call per domain: for drivers without
 * the bulk stats API. */
static int list_states_one_by_one(virConnectPtr conn, GArray *out, char **err)
{
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(conn, &doms, 0);
    if (n < 0) {
        *err = last_error("cannot list VMs");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        struct hv_vm_brief b = {0};
        int state = 0, reason = 0;
        if (virDomainGetUUIDString(doms[i], b.uuid) == 0 &&
            virDomainGetState(doms[i], &state, &reason, 0) == 0) {
            b.state = state_of(state);
            g_array_append_val(out, b);
        }
        virDomainFree(doms[i]);
    }
    free(doms);
    return 0;
}

/* Every domain's uuid and state: one call with the bulk stats API. */
static int list_states(virConnectPtr conn, GArray *out, char **err)
{
    virDomainStatsRecordPtr *recs = NULL;
    int n = virConnectGetAllDomainStats(conn, VIR_DOMAIN_STATS_STATE, &recs, 0);
    if (n < 0) {
        if (virGetLastErrorCode() == VIR_ERR_NO_SUPPORT)
            return list_states_one_by_one(conn, out, err);
        *err = last_error("cannot list VM states");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        struct hv_vm_brief b = {0};
        int state = 0;
        if (virDomainGetUUIDString(recs[i]->dom, b.uuid) < 0)
            continue;
        virTypedParamsGetInt(recs[i]->params, recs[i]->nparams, "state.state", &state);
        b.state = state_of(state);
        g_array_append_val(out, b);
    }
    virDomainStatsRecordListFree(recs);
    return 0;
}

static int lv_list_vm_briefs(struct hv_conn *hc, GArray **out, char **err)
{
    GArray *briefs = g_array_new(FALSE, FALSE, sizeof(struct hv_vm_brief));
    GHashTable *persistent = NULL, *autostart = NULL;
    int rc = -1;
    if (list_states(hc->conn, briefs, err) < 0 ||
        !(persistent = uuids_where(hc->conn, VIR_CONNECT_LIST_DOMAINS_PERSISTENT, err)) ||
        !(autostart = uuids_where(hc->conn, VIR_CONNECT_LIST_DOMAINS_AUTOSTART, err)))
        goto out;
    for (guint i = 0; i < briefs->len; i++) {
        struct hv_vm_brief *b = &g_array_index(briefs, struct hv_vm_brief, i);
        b->persistent = g_hash_table_contains(persistent, b->uuid);
        b->autostart = g_hash_table_contains(autostart, b->uuid);
    }
    rc = 0;
out:
    if (persistent)
        g_hash_table_destroy(persistent);
    if (autostart)
        g_hash_table_destroy(autostart);
    if (rc < 0)
        g_array_free(briefs, TRUE);
    else
        *out = briefs;
    return rc;
}

static int lv_get_vm(struct hv_conn *hc, const char *uuid, const struct hv_vm_brief *known,
                     struct hv_vm **out, char **err)
{
    virDomainPtr dom = virDomainLookupByUUIDString(hc->conn, uuid);
    if (!dom) {
        if (vanished())
            return 1;
        *err = last_error("cannot look up VM");
        return -1;
    }
    int rc = read_domain(dom, known, out, err);
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
    .list_vm_briefs = lv_list_vm_briefs,
    .get_vm = lv_get_vm,
    .list_pools = lv_list_pools,
};
