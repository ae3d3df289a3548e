/* libvirt.c — the libvirt hypervisor backend (hv.h ops).
 *
 * libvirt delivers events on its default event loop, which runs in one
 * thread of ours for the whole process (global_init).  Callbacks only
 * pass the news to the host runner through the hv_sink; every RPC is made
 * by the runner thread that owns the connection.
 */
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h> /* variables */
#include <limits.h>
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

/* "@what: libvirt's message", on one line: callers show it as one line of
 * a file, and some drivers' messages carry a hypervisor's multi-line output. */
static char *last_error(const char *what)
{
    const char *msg = virGetLastErrorMessage();
    char *e = g_strdup_printf("%s: %s", what, msg ? msg : "unknown libvirt error");
    return g_strdelimit(e, "\r\n", ' ');
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
    (void)c, (void)detail;
    const struct hv_sink *sink = opaque;
    char uuid[VIR_UUID_STRING_BUFLEN];
    if (virDomainGetUUIDString(dom, uuid) < 0)
        return;
    bool redefined = event == VIR_DOMAIN_EVENT_DEFINED || event == VIR_DOMAIN_EVENT_UNDEFINED;
    if (redefined && sink->vm_redefined)
        sink->vm_redefined(sink->ctx, uuid);
    else
        sink->vm_changed(sink->ctx, uuid);
}

static void on_domain_device(virConnectPtr c, virDomainPtr dom, const char *alias, void *opaque)
{
    (void)alias;
    on_domain_lifecycle(c, dom, VIR_DOMAIN_EVENT_DEFINED, 0, opaque); /* a device came or went */
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

/* The string values of the nodes @expr selects in @ctx, in document order,
 * as g_malloc'd char* (libxml2 hands out xmlChar*). */
static GPtrArray *xpath_strings(xmlXPathContextPtr ctx, const char *expr)
{
    GPtrArray *values = g_ptr_array_new_with_free_func(g_free);
    xmlXPathObjectPtr o = xmlXPathEval((const xmlChar *)expr, ctx);
    xmlNodeSetPtr nodes = o ? o->nodesetval : NULL;
    for (int i = 0; nodes && i < nodes->nodeNr; i++) {
        xmlChar *v = xmlNodeGetContent(nodes->nodeTab[i]);
        if (v)
            g_ptr_array_add(values, g_strdup((const char *)v));
        xmlFree(v);
    }
    xmlXPathFreeObject(o);
    return values;
}

/* Of the domain types a host offers, the one its VMs should use: hardware
 * acceleration ("kvm") when there is any, then the test driver's only
 * one, then plain emulation ("qemu"), then whatever comes first (xen,
 * lxc...). */
static char *preferred_type(GPtrArray *types)
{
    static const char *const preferred[] = {"kvm", "test", "qemu"};
    for (size_t p = 0; p < G_N_ELEMENTS(preferred); p++)
        for (guint i = 0; i < types->len; i++)
            if (strcmp(g_ptr_array_index(types, i), preferred[p]) == 0)
                return g_strdup(preferred[p]);
    return types->len ? g_strdup(g_ptr_array_index(types, 0)) : NULL;
}

/* The <domain type=...> a host runs for its own architecture, from its
 * capabilities XML; NULL when it offers none. */
static char *domain_type_of_caps(const char *caps)
{
    xmlDocPtr doc = xmlReadMemory(caps, (int)strlen(caps), "capabilities.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        return NULL;
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    xmlXPathObjectPtr arch =
        xmlXPathEval((const xmlChar *)"normalize-space(/capabilities/host/cpu/arch)", ctx);
    /* The arch goes in as an XPath variable, never pasted into the
     * expression: the context owns the value from here on. */
    xmlXPathRegisterVariable(ctx, (const xmlChar *)"arch",
                             xmlXPathNewString(arch ? arch->stringval : (const xmlChar *)""));
    xmlXPathFreeObject(arch);
    GPtrArray *types =
        xpath_strings(ctx, "/capabilities/guest[arch/@name = $arch]/arch/domain/@type");
    if (types->len == 0) {
        g_ptr_array_free(types, TRUE);
        types = xpath_strings(ctx, "/capabilities/guest[1]/arch/domain/@type");
    }
    char *type = preferred_type(types);
    g_ptr_array_free(types, TRUE);
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
    return type;
}

/* Fills what host_info can do without: a host that cannot say leaves
 * them unknown rather than costing the connection. */
static void read_optional_host_facts(virConnectPtr conn, struct hv_host_info *h)
{
    /* 0 on error, which hv.h reads as "cannot say". */
    h->free_kib = virNodeGetFreeMemory(conn) / 1024;
    char *caps = virConnectGetCapabilities(conn);
    h->domain_type = caps ? domain_type_of_caps(caps) : NULL;
    free(caps);
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
    read_optional_host_facts(hc->conn, h);
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

/* Reads everything about @dom, its XML as @xml_flags ask; state,
 * autostart and persistence come from @known when given.  Returns 0, 1 if
 * it vanished meanwhile, -1. */
static int read_domain(virDomainPtr dom, unsigned xml_flags, const struct hv_vm_brief *known,
                       struct hv_vm **out, char **err)
{
    int state = 0, reason = 0, autostart = 0, persistent = 0;
    char *xml = virDomainGetXMLDesc(dom, xml_flags);
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

/* get_vm and get_vm_config: the VM @uuid, as @xml_flags describe it. */
static int get_domain(struct hv_conn *hc, const char *uuid, unsigned xml_flags,
                      const struct hv_vm_brief *known, struct hv_vm **out, char **err)
{
    virDomainPtr dom = virDomainLookupByUUIDString(hc->conn, uuid);
    if (!dom) {
        if (vanished())
            return 1;
        *err = last_error("cannot look up VM");
        return -1;
    }
    int rc = read_domain(dom, xml_flags, known, out, err);
    virDomainFree(dom);
    return rc;
}

static int lv_get_vm(struct hv_conn *hc, const char *uuid, const struct hv_vm_brief *known,
                     struct hv_vm **out, char **err)
{
    return get_domain(hc, uuid, 0, known, out, err);
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

/* --- writes ------------------------------------------------------------- */

static int lv_get_vm_config(struct hv_conn *hc, const char *uuid, struct hv_vm **out, char **err)
{
    /* INACTIVE: the definition the next boot gets, not the running one. */
    return get_domain(hc, uuid, VIR_DOMAIN_XML_INACTIVE, NULL, out, err);
}

/* The VM @uuid for a write; NULL with *err set when it cannot be had. */
static virDomainPtr lookup(struct hv_conn *hc, const char *uuid, char **err)
{
    virDomainPtr dom = virDomainLookupByUUIDString(hc->conn, uuid);
    if (!dom)
        *err = last_error("cannot look up VM");
    return dom;
}

static int lv_define_vm(struct hv_conn *hc, const char *xml, char **err)
{
    virDomainPtr dom = virDomainDefineXML(hc->conn, xml);
    if (!dom) {
        *err = last_error("cannot define VM");
        return -1;
    }
    virDomainFree(dom);
    return 0;
}

/* Undefines with what hangs off the definition too: without these flags
 * libvirt refuses a VM that has a managed save or snapshots. */
static int undefine(virDomainPtr dom)
{
    /* A driver refuses the whole call for one flag it does not know (the
     * test driver knows only the first two), so we ask for less and less:
     * what a driver does not know, it cannot have kept for the VM. */
    static const unsigned tries[] = {
        VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
            VIR_DOMAIN_UNDEFINE_NVRAM | VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA,
        VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA,
    };
    for (size_t i = 0; i < G_N_ELEMENTS(tries); i++) {
        if (virDomainUndefineFlags(dom, tries[i]) == 0)
            return 0;
        int code = virGetLastErrorCode();
        if (code != VIR_ERR_INVALID_ARG && code != VIR_ERR_NO_SUPPORT)
            return -1;
    }
    return virDomainUndefine(dom);
}

static int lv_undefine_vm(struct hv_conn *hc, const char *uuid, char **err)
{
    virDomainPtr dom = lookup(hc, uuid, err);
    if (!dom)
        return -1;
    int rc = undefine(dom);
    if (rc < 0)
        *err = last_error("cannot undefine VM");
    virDomainFree(dom);
    return rc < 0 ? -1 : 0;
}

static int power_call(virDomainPtr dom, enum hv_power_action action)
{
    switch (action) {
    case HV_POWER_START:
        return virDomainCreate(dom);
    case HV_POWER_START_PAUSED:
        return virDomainCreateWithFlags(dom, VIR_DOMAIN_START_PAUSED);
    case HV_POWER_SHUTDOWN:
        return virDomainShutdown(dom);
    case HV_POWER_DESTROY:
        return virDomainDestroy(dom);
    case HV_POWER_REBOOT:
        return virDomainReboot(dom, 0);
    case HV_POWER_SUSPEND:
        return virDomainSuspend(dom);
    case HV_POWER_RESUME:
        return virDomainResume(dom);
    }
    return -1; /* not reached: lv_power checks @action */
}

static int lv_power(struct hv_conn *hc, const char *uuid, enum hv_power_action action,
                    char **err)
{
    if (action < HV_POWER_START || action > HV_POWER_RESUME) {
        *err = g_strdup_printf("cannot change VM power: %d is no power action", (int)action);
        return -1;
    }
    virDomainPtr dom = lookup(hc, uuid, err);
    if (!dom)
        return -1;
    int rc = power_call(dom, action);
    if (rc < 0) {
        g_autofree char *what = g_strdup_printf("cannot %s VM", hv_power_word(action));
        *err = last_error(what);
    }
    virDomainFree(dom);
    return rc < 0 ? -1 : 0;
}

static int lv_set_autostart(struct hv_conn *hc, const char *uuid, bool on, char **err)
{
    virDomainPtr dom = lookup(hc, uuid, err);
    if (!dom)
        return -1;
    int rc = virDomainSetAutostart(dom, on ? 1 : 0);
    if (rc < 0)
        *err = last_error("cannot set autostart");
    virDomainFree(dom);
    return rc < 0 ? -1 : 0;
}

static int lv_set_vcpus_live(struct hv_conn *hc, const char *uuid, unsigned vcpus, char **err)
{
    virDomainPtr dom = lookup(hc, uuid, err);
    if (!dom)
        return -1;
    int rc = virDomainSetVcpusFlags(dom, vcpus, VIR_DOMAIN_AFFECT_LIVE);
    if (rc < 0)
        *err = last_error("cannot change the running VM's vCPUs");
    virDomainFree(dom);
    return rc < 0 ? -1 : 0;
}

static int lv_set_memory_live(struct hv_conn *hc, const char *uuid, uint64_t kib, char **err)
{
    /* libvirt takes an unsigned long: 32 bits on some hosts. */
    if (kib > ULONG_MAX) {
        *err = g_strdup_printf("cannot change the running VM's memory: %" G_GUINT64_FORMAT
                               " KiB is more than this libvirt can ask for",
                               kib);
        return -1;
    }
    virDomainPtr dom = lookup(hc, uuid, err);
    if (!dom)
        return -1;
    int rc = virDomainSetMemoryFlags(dom, (unsigned long)kib, VIR_DOMAIN_AFFECT_LIVE);
    if (rc < 0)
        *err = last_error("cannot change the running VM's memory");
    virDomainFree(dom);
    return rc < 0 ? -1 : 0;
}

/* @doc as a g_malloc'd UTF-8 string; @doc is freed. */
static char *doc_string(xmlDocPtr doc)
{
    xmlChar *buf = NULL;
    int n = 0;
    xmlDocDumpMemoryEnc(doc, &buf, &n, "UTF-8");
    char *xml = g_strndup((const char *)buf, (gsize)n);
    xmlFree(buf);
    xmlFreeDoc(doc);
    return xml;
}

/* <volume><name>@name</name><capacity unit='bytes'>..</capacity>
 * <allocation>0</allocation></volume>, written by libxml2 so that no
 * name can add markup. */
static char *volume_xml(const char *name, uint64_t capacity)
{
    xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
    xmlNodePtr vol = xmlNewNode(NULL, (const xmlChar *)"volume");
    xmlDocSetRootElement(doc, vol);
    xmlNewTextChild(vol, NULL, (const xmlChar *)"name", (const xmlChar *)name);
    g_autofree char *bytes = g_strdup_printf("%" G_GUINT64_FORMAT, capacity);
    xmlNodePtr cap =
        xmlNewTextChild(vol, NULL, (const xmlChar *)"capacity", (const xmlChar *)bytes);
    xmlNewProp(cap, (const xmlChar *)"unit", (const xmlChar *)"bytes");
    /* Allocation 0: sparse where the pool can, no waiting for zeroes. */
    xmlNewTextChild(vol, NULL, (const xmlChar *)"allocation", (const xmlChar *)"0");
    return doc_string(doc);
}

/* Creates volume @name in @pool.  Returns 0, 1 when someone else created
 * it since we looked, -1. */
static int create_volume(virStoragePoolPtr pool, const char *name, uint64_t capacity, char **err)
{
    g_autofree char *xml = volume_xml(name, capacity);
    virStorageVolPtr vol = virStorageVolCreateXML(pool, xml, 0);
    if (vol) {
        virStorageVolFree(vol);
        return 0;
    }
    if (virGetLastErrorCode() == VIR_ERR_STORAGE_VOL_EXIST)
        return 1;
    *err = last_error("cannot create volume");
    return -1;
}

static int lv_ensure_volume(struct hv_conn *hc, const char *pool_name, const char *name,
                            uint64_t capacity, char **err)
{
    virStoragePoolPtr pool = virStoragePoolLookupByName(hc->conn, pool_name);
    if (!pool) {
        *err = last_error("cannot look up pool");
        return -1;
    }
    int rc;
    virStorageVolPtr vol = virStorageVolLookupByName(pool, name);
    if (vol) {
        virStorageVolFree(vol);
        rc = 1;
    } else if (virGetLastErrorCode() == VIR_ERR_NO_STORAGE_VOL) {
        rc = create_volume(pool, name, capacity, err);
    } else {
        *err = last_error("cannot look up volume"); /* e.g. the pool is not running */
        rc = -1;
    }
    virStoragePoolFree(pool);
    return rc;
}

/* --- snapshots ------------------------------------------------------------ */

/* Whether the last error says the guest cannot be frozen here (no guest
 * agent, or it does not answer; a hypervisor or a VM state that cannot),
 * rather than that freezing failed. */
static bool cannot_freeze_here(void)
{
    switch (virGetLastErrorCode()) {
    case VIR_ERR_NO_SUPPORT:
    case VIR_ERR_OPERATION_UNSUPPORTED:
    case VIR_ERR_ARGUMENT_UNSUPPORTED: /* e.g. qemu: no agent channel configured */
    case VIR_ERR_OPERATION_INVALID:    /* e.g. the VM is not running */
    case VIR_ERR_AGENT_UNRESPONSIVE:
    case VIR_ERR_AGENT_UNSYNCED:
        return true;
    default:
        return false;
    }
}

static int lv_fs_freeze(struct hv_conn *hc, const char *uuid, char **err)
{
    virDomainPtr dom = lookup(hc, uuid, err);
    if (!dom)
        return -1;
    /* All mounted filesystems; libvirt returns how many it froze. */
    int rc = virDomainFSFreeze(dom, NULL, 0, 0);
    if (rc < 0) {
        rc = cannot_freeze_here() ? 1 : -1;
        *err = last_error("cannot freeze the guest's filesystems");
    } else {
        rc = 0;
    }
    virDomainFree(dom);
    return rc;
}

static int lv_fs_thaw(struct hv_conn *hc, const char *uuid, char **err)
{
    virDomainPtr dom = lookup(hc, uuid, err);
    if (!dom)
        return -1;
    int rc = virDomainFSThaw(dom, NULL, 0, 0);
    if (rc < 0)
        *err = last_error("cannot thaw the guest's filesystems");
    virDomainFree(dom);
    return rc < 0 ? -1 : 0;
}

/* <domainsnapshot><name>@name</name></domainsnapshot>, written by libxml2
 * so that no name can add markup. */
static char *snapshot_xml(const char *name)
{
    xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
    xmlNodePtr snap = xmlNewNode(NULL, (const xmlChar *)"domainsnapshot");
    xmlDocSetRootElement(doc, snap);
    xmlNewTextChild(snap, NULL, (const xmlChar *)"name", (const xmlChar *)name);
    return doc_string(doc);
}

static int lv_snapshot_create(struct hv_conn *hc, const char *uuid, const char *name,
                              bool quiesce, char **xml_out, char **err)
{
    virDomainPtr dom = lookup(hc, uuid, err);
    if (!dom)
        return -1;
    g_autofree char *xml = snapshot_xml(name);
    unsigned flags = quiesce ? VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE : 0;
    int rc = -1;
    virDomainSnapshotPtr snap = virDomainSnapshotCreateXML(dom, xml, flags);
    if (!snap) {
        *err = last_error("cannot create snapshot");
        goto out;
    }
    char *desc = virDomainSnapshotGetXMLDesc(snap, 0);
    if (!desc) {
        /* Taken, but not described: the caller can still list or delete it. */
        *err = last_error("cannot read the new snapshot");
    } else {
        *xml_out = g_strdup(desc);
        free(desc);
        rc = 0;
    }
    virDomainSnapshotFree(snap);
out:
    virDomainFree(dom);
    return rc;
}

/* The VM @uuid's snapshot @name, or NULL with *err set (when @missing,
 * *missing tells whether there is no such snapshot, with *err unset). */
static virDomainSnapshotPtr lookup_snapshot(struct hv_conn *hc, const char *uuid,
                                            const char *name, bool *missing, char **err)
{
    virDomainPtr dom = lookup(hc, uuid, err);
    if (!dom)
        return NULL;
    virDomainSnapshotPtr snap = virDomainSnapshotLookupByName(dom, name, 0);
    if (!snap) {
        if (missing && virGetLastErrorCode() == VIR_ERR_NO_DOMAIN_SNAPSHOT)
            *missing = true;
        else
            *err = last_error("cannot look up snapshot");
    }
    virDomainFree(dom); /* the snapshot keeps its own reference */
    return snap;
}

static int lv_snapshot_delete(struct hv_conn *hc, const char *uuid, const char *name,
                              char **err)
{
    bool missing = false;
    virDomainSnapshotPtr snap = lookup_snapshot(hc, uuid, name, &missing, err);
    if (!snap)
        return missing ? 1 : -1;
    int rc = virDomainSnapshotDelete(snap, 0);
    if (rc < 0)
        *err = last_error("cannot delete snapshot");
    virDomainSnapshotFree(snap);
    return rc < 0 ? -1 : 0;
}

static int lv_snapshot_revert(struct hv_conn *hc, const char *uuid, const char *name,
                              char **err)
{
    virDomainSnapshotPtr snap = lookup_snapshot(hc, uuid, name, NULL, err);
    if (!snap)
        return -1;
    int rc = virDomainRevertToSnapshot(snap, 0);
    if (rc < 0)
        *err = last_error("cannot revert to snapshot");
    virDomainSnapshotFree(snap);
    return rc < 0 ? -1 : 0;
}

static int lv_snapshot_list(struct hv_conn *hc, const char *uuid, GPtrArray **names,
                            char **err)
{
    virDomainPtr dom = lookup(hc, uuid, err);
    if (!dom)
        return -1;
    virDomainSnapshotPtr *snaps = NULL;
    int n = virDomainListAllSnapshots(dom, &snaps, 0);
    if (n < 0) {
        *err = last_error("cannot list snapshots");
        virDomainFree(dom);
        return -1;
    }
    GPtrArray *list = g_ptr_array_new_with_free_func(g_free);
    for (int i = 0; i < n; i++) {
        const char *name = virDomainSnapshotGetName(snaps[i]);
        if (name)
            g_ptr_array_add(list, g_strdup(name));
        virDomainSnapshotFree(snaps[i]);
    }
    free(snaps);
    virDomainFree(dom);
    *names = list;
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
    .get_vm_config = lv_get_vm_config,
    .define_vm = lv_define_vm,
    .undefine_vm = lv_undefine_vm,
    .power = lv_power,
    .set_autostart = lv_set_autostart,
    .set_vcpus_live = lv_set_vcpus_live,
    .set_memory_live = lv_set_memory_live,
    .ensure_volume = lv_ensure_volume,
    .fs_freeze = lv_fs_freeze,
    .fs_thaw = lv_fs_thaw,
    .snapshot_create = lv_snapshot_create,
    .snapshot_delete = lv_snapshot_delete,
    .snapshot_revert = lv_snapshot_revert,
    .snapshot_list = lv_snapshot_list,
};
