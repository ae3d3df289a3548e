/* test_model.c — the model driven through its update functions, read back
 * through the tree the way the FUSE layer reads it, and the events log. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <glib.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>

#include "events.h"
#include "model.h"
#include "tree.h"
#include "unit_util.h"

/* --- fixtures ------------------------------------------------------------ */

struct fx {
    uint64_t ev_off; /* events seen so far */
};

static int setup(void **state)
{
    static bool tree_ready;
    if (!tree_ready) {
        vdc_tree_init();
        tree_ready = true;
    }
    vdc_events_init();
    vdc_model_init();
    *state = g_new0(struct fx, 1);
    return 0;
}

static int teardown(void **state)
{
    vdc_model_free();
    vdc_events_shutdown();
    g_free(*state);
    return 0;
}

/* Events appended since the last call (new reference). */
static json_t *new_events(void **state)
{
    struct fx *fx = *state;
    return tu_events_since(&fx->ev_off);
}

/* --- building facts by hand ---------------------------------------------- */

static char *uuid_of(unsigned n)
{
    return g_strdup_printf("6f1c5a3e-0000-4000-8000-%012u", n);
}

static struct hv_vm *mkvm(const char *name, unsigned n, enum vdc_vm_state st)
{
    struct hv_vm *vm = hv_vm_new();
    g_autofree char *uuid = uuid_of(n);
    vm->name = g_strdup(name);
    g_strlcpy(vm->uuid, uuid, sizeof vm->uuid);
    vm->state = st;
    vm->vcpus = 2;
    vm->memory_kib = 1048576;
    vm->autostart = true;
    vm->persistent = true;
    vm->domain_xml = g_strdup_printf("<domain type='test'><name>%s</name><uuid>%s</uuid></domain>",
                                     name, uuid);

    struct hv_disk *d = g_new0(struct hv_disk, 1);
    d->target = g_strdup("vda");
    d->bus = g_strdup("virtio");
    d->device = g_strdup("disk");
    d->source = HV_DISK_FILE;
    d->path = g_strdup_printf("/var/lib/images/%u.qcow2", n);
    g_ptr_array_add(vm->disks, d);
    d = g_new0(struct hv_disk, 1);
    d->target = g_strdup("sda");
    d->device = g_strdup("lun");
    d->source = HV_DISK_NETWORK;
    d->protocol = g_strdup("iscsi");
    d->name = g_strdup("iqn.2024-01.org.example:a/1");
    d->host = g_strdup("127.0.0.1");
    d->port = 3260;
    g_ptr_array_add(vm->disks, d);
    d = g_new0(struct hv_disk, 1);
    d->target = g_strdup("hdc");
    d->device = g_strdup("cdrom");
    d->source = HV_DISK_NONE;
    g_ptr_array_add(vm->disks, d);

    struct hv_iface *f = g_new0(struct hv_iface, 1);
    f->mac = g_strdup("52:54:00:00:00:01");
    f->network = g_strdup("default");
    g_ptr_array_add(vm->interfaces, f);
    f = g_new0(struct hv_iface, 1);
    f->mac = g_strdup("52:54:00:00:00:02");
    f->bridge = g_strdup("br0");
    g_ptr_array_add(vm->interfaces, f);
    return vm;
}

static struct hv_host_info *mkinfo(void)
{
    struct hv_host_info *i = g_new0(struct hv_host_info, 1);
    i->hypervisor = g_strdup("TEST");
    i->hypervisor_version = g_strdup("11.0.0");
    i->libvirt_version = g_strdup("11.0.0");
    i->cpus = 16;
    i->memory_kib = 33554432;
    return i;
}

/* A GPtrArray of VMs for vdc_model_host_sync_vms (which consumes it). */
static GPtrArray *vm_list(struct hv_vm *first, ...)
{
    GPtrArray *a = g_ptr_array_new();
    va_list ap;
    va_start(ap, first);
    for (struct hv_vm *vm = first; vm; vm = va_arg(ap, struct hv_vm *))
        g_ptr_array_add(a, vm);
    va_end(ap);
    return a;
}

static struct hv_volume *mkvol(const char *name, uint64_t cap)
{
    struct hv_volume *v = g_new0(struct hv_volume, 1);
    v->name = g_strdup(name);
    v->path = g_strdup_printf("/pool/%s", name);
    v->type = g_strdup("file");
    v->capacity = cap;
    v->allocation = cap / 2;
    return v;
}

static struct hv_pool *mkpool(const char *name, const char *type, const char *state,
                              uint64_t cap, ...)
{
    struct hv_pool *p = hv_pool_new();
    p->name = g_strdup(name);
    p->type = g_strdup(type);
    p->state = g_strdup(state);
    p->capacity = cap;
    p->allocation = cap / 4;
    p->available = cap - cap / 4;
    va_list ap;
    va_start(ap, cap);
    for (const char *v; (v = va_arg(ap, const char *));)
        g_ptr_array_add(p->volumes, mkvol(v, 1u << 20));
    va_end(ap);
    return p;
}

static GPtrArray *pool_list(struct hv_pool *first, ...)
{
    GPtrArray *a = g_ptr_array_new();
    va_list ap;
    va_start(ap, first);
    for (struct hv_pool *p = first; p; p = va_arg(ap, struct hv_pool *))
        g_ptr_array_add(a, p);
    va_end(ap);
    return a;
}

/* A connected host with the given VMs (the first sync happens before
 * "connected", as the host runner does it). */
static unsigned connected_host(const char *name, GPtrArray *vms)
{
    g_autofree char *uri = g_strdup_printf("test:///%s.xml", name);
    unsigned h = vdc_model_add_host(name, uri);
    vdc_model_host_sync_vms(h, vms ? vms : g_ptr_array_new());
    vdc_model_host_sync_pools(h, g_ptr_array_new());
    vdc_model_host_connected(h, mkinfo());
    return h;
}

/* --- assertions on the tree ---------------------------------------------- */

#define assert_listing(path, want)                                                       \
    do {                                                                                 \
        g_autofree char *got_ = tu_list_joined(path);                                    \
        if (strcmp(got_, (want)) != 0)                                                   \
            fail_msg("ls %s: \"%s\", want \"%s\"", (path), got_, (want));                \
    } while (0)

#define assert_content(path, want)                                                       \
    do {                                                                                 \
        g_autofree char *got_ = tu_read(path);                                           \
        if (!got_)                                                                       \
            fail_msg("cat %s: not found, want \"%s\"", (path), (want));                  \
        if (strcmp(got_, (want)) != 0)                                                   \
            fail_msg("cat %s: \"%s\", want \"%s\"", (path), got_, (want));               \
    } while (0)

#define assert_absent(path)                                                              \
    do {                                                                                 \
        uint64_t ino_;                                                                   \
        int rc_ = tu_ino((path), &ino_);                                                 \
        if (rc_ != -ENOENT)                                                              \
            fail_msg("%s: lookup gave %d, want -ENOENT", (path), rc_);                   \
    } while (0)

static json_t *json_at(const char *path)
{
    json_t *j = tu_read_json(path);
    if (!j)
        fail_msg("%s: missing or not JSON", path);
    return j;
}

static const char *jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v))
        fail_msg("key \"%s\" is not a string", key);
    return json_string_value(v);
}

static json_int_t jint(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        fail_msg("key \"%s\" is not an integer", key);
    return json_integer_value(v);
}

static void assert_event(json_t *evs, const char *kind, const char *name, const char *host,
                         const char *event)
{
    if (!tu_event_find(evs, kind, name, host, event)) {
        g_autofree char *dump = json_dumps(evs, JSON_COMPACT);
        fail_msg("no %s event \"%s\" for %s on %s in %s", kind, event, name ? name : "-",
                 host ? host : "-", dump);
    }
}

static void assert_no_event(json_t *evs, const char *kind, const char *name, const char *event)
{
    if (tu_event_find(evs, kind, name, NULL, event)) {
        g_autofree char *dump = json_dumps(evs, JSON_COMPACT);
        fail_msg("unexpected %s event \"%s\" for %s in %s", kind, event ? event : "*",
                 name ? name : "-", dump);
    }
}

/* --- tests --------------------------------------------------------------- */

static void test_empty_tree(void **state)
{
    (void)state;
    assert_listing("/", "arrays,events,hosts,pools,vms");
    assert_listing("/hosts", "");
    assert_listing("/vms", "");
    assert_listing("/pools", "");
    assert_int_equal(tu_type("/"), S_IFDIR);
    assert_int_equal(tu_type("/events"), S_IFREG);
    assert_absent("/nothing");

    vdc_model_add_host("alpha", "test:///alpha.xml");
    vdc_model_add_host("beta", "test:///beta.xml");
    assert_listing("/hosts", "alpha,beta");
    assert_listing("/hosts/alpha", "info.json,pools,vms");
    assert_listing("/hosts/alpha/vms", "");

    json_t *info = json_at("/hosts/beta/info.json");
    assert_string_equal(jstr(info, "name"), "beta");
    assert_string_equal(jstr(info, "uri"), "test:///beta.xml");
    assert_true(json_is_false(json_object_get(info, "connected")));
    assert_true(json_is_null(json_object_get(info, "hypervisor")));
    assert_string_equal(jstr(info, "error"), "not connected yet");
    assert_int_equal(jint(info, "vms"), 0);
    json_decref(info);

    /* files are not directories */
    struct vdc_node n, out;
    vdc_model_read_lock();
    assert_int_equal(tu_walk_locked("/hosts/alpha/info.json", &n), 0);
    assert_int_equal(vdc_tree_lookup(&n, "x", &out), -ENOTDIR);
    vdc_model_read_unlock();
}

static void test_vms_by_name(void **state)
{
    (void)state;
    unsigned a = connected_host("alpha", vm_list(mkvm("web-1", 1, VDC_VM_RUNNING),
                                                 mkvm("db-1", 2, VDC_VM_SHUTOFF), NULL));
    (void)a;
    assert_listing("/vms", "db-1,web-1");
    assert_listing("/vms/web-1", "disks,domain.xml,power,revert,snapshots,spec.json,state,status.json");
    assert_int_equal(tu_type("/vms/web-1"), S_IFDIR);
    assert_int_equal(tu_type("/vms/web-1/state"), S_IFREG);
    assert_content("/vms/web-1/state", "running\n");
    assert_content("/vms/db-1/state", "shutoff\n");
    g_autofree char *uuid = uuid_of(1);
    g_autofree char *xml = g_strdup_printf(
        "<domain type='test'><name>web-1</name><uuid>%s</uuid></domain>", uuid);
    assert_content("/vms/web-1/domain.xml", xml);

    assert_listing("/hosts/alpha/vms", "db-1,web-1");
    assert_int_equal(tu_type("/hosts/alpha/vms/web-1"), S_IFLNK);
    assert_content("/hosts/alpha/vms/web-1", "../../../vms/web-1");
    assert_content("/hosts/alpha/vms/db-1", "../../../vms/db-1");
    assert_absent("/vms/web-2");
    assert_absent("/hosts/alpha/vms/web-2");
    assert_absent("/vms/web-1/nope");

    json_t *info = json_at("/hosts/alpha/info.json");
    assert_true(json_is_true(json_object_get(info, "connected")));
    assert_true(json_is_null(json_object_get(info, "error")));
    assert_int_equal(jint(info, "vms"), 2);
    assert_string_equal(jstr(info, "hypervisor"), "TEST");
    assert_string_equal(jstr(info, "hypervisor_version"), "11.0.0");
    assert_int_equal(jint(info, "cpus"), 16);
    assert_int_equal(jint(info, "memory_kib"), 33554432);
    json_decref(info);
}

static void test_status_json(void **state)
{
    (void)state;
    struct hv_vm *vm = mkvm("web-1", 1, VDC_VM_PAUSED);
    vm->autostart = false;
    vm->persistent = true;
    vm->vcpus = 4;
    vm->memory_kib = 4194304;
    connected_host("alpha", vm_list(vm, NULL));

    json_t *st = json_at("/vms/web-1/status.json");
    g_autofree char *uuid = uuid_of(1);
    assert_string_equal(jstr(st, "name"), "web-1");
    assert_string_equal(jstr(st, "uuid"), uuid);
    assert_string_equal(jstr(st, "host"), "alpha");
    assert_string_equal(jstr(st, "state"), "paused");
    assert_int_equal(jint(st, "vcpus"), 4);
    assert_int_equal(jint(st, "memory_kib"), 4194304);
    assert_true(json_is_false(json_object_get(st, "autostart")));
    assert_true(json_is_true(json_object_get(st, "persistent")));

    json_t *disks = json_object_get(st, "disks");
    assert_true(json_is_array(disks));
    assert_int_equal(json_array_size(disks), 3);
    json_t *d0 = json_array_get(disks, 0);
    assert_string_equal(jstr(d0, "target"), "vda");
    assert_string_equal(jstr(d0, "bus"), "virtio");
    assert_string_equal(jstr(d0, "device"), "disk");
    assert_string_equal(jstr(json_object_get(d0, "source"), "file"), "/var/lib/images/1.qcow2");
    json_t *d1 = json_array_get(disks, 1);
    json_t *src = json_object_get(d1, "source");
    assert_string_equal(jstr(src, "protocol"), "iscsi");
    assert_string_equal(jstr(src, "name"), "iqn.2024-01.org.example:a/1");
    assert_string_equal(jstr(src, "host"), "127.0.0.1");
    assert_int_equal(jint(src, "port"), 3260);
    assert_true(json_is_null(json_object_get(d1, "bus")));
    json_t *d2 = json_array_get(disks, 2);
    assert_string_equal(jstr(d2, "device"), "cdrom");
    assert_true(json_is_null(json_object_get(d2, "source")));

    json_t *ifs = json_object_get(st, "interfaces");
    assert_true(json_is_array(ifs));
    assert_int_equal(json_array_size(ifs), 2);
    assert_string_equal(jstr(json_array_get(ifs, 0), "mac"), "52:54:00:00:00:01");
    assert_string_equal(jstr(json_array_get(ifs, 0), "network"), "default");
    assert_string_equal(jstr(json_array_get(ifs, 1), "bridge"), "br0");
    json_decref(st);

    /* status.json is pretty-printed and ends in a newline */
    g_autofree char *text = tu_read("/vms/web-1/status.json");
    assert_true(g_str_has_suffix(text, "}\n"));
}

static void test_duplicate_names(void **state)
{
    (void)state;
    unsigned a = connected_host("alpha", vm_list(mkvm("db", 1, VDC_VM_RUNNING),
                                                 mkvm("web", 2, VDC_VM_RUNNING), NULL));
    assert_listing("/vms", "db,web");
    uint64_t ino_plain;
    assert_int_equal(tu_ino("/vms/db", &ino_plain), 0);

    unsigned b = connected_host("beta", vm_list(mkvm("db", 3, VDC_VM_SHUTOFF), NULL));
    assert_listing("/vms", "db@alpha,db@beta,web");
    assert_absent("/vms/db");
    assert_content("/vms/db@alpha/state", "running\n");
    assert_content("/vms/db@beta/state", "shutoff\n");
    assert_content("/hosts/alpha/vms/db", "../../../vms/db@alpha");
    assert_content("/hosts/beta/vms/db", "../../../vms/db@beta");
    assert_content("/hosts/alpha/vms/web", "../../../vms/web");
    /* the same object (inode) under its new name */
    uint64_t ino_at;
    assert_int_equal(tu_ino("/vms/db@alpha", &ino_at), 0);
    assert_int_equal(ino_at, ino_plain);

    /* one of them goes: the other is plain again */
    g_autofree char *u3 = uuid_of(3);
    vdc_model_vm_gone(b, u3);
    assert_listing("/vms", "db,web");
    assert_absent("/vms/db@alpha");
    assert_absent("/vms/db@beta");
    assert_content("/hosts/alpha/vms/db", "../../../vms/db");
    assert_listing("/hosts/beta/vms", "");
    uint64_t ino_again;
    assert_int_equal(tu_ino("/vms/db", &ino_again), 0);
    assert_int_equal(ino_again, ino_plain);

    /* it comes back through a full sync: shared again */
    vdc_model_host_sync_vms(b, vm_list(mkvm("db", 3, VDC_VM_RUNNING), NULL));
    assert_listing("/vms", "db@alpha,db@beta,web");
    /* and the alpha one goes through a full sync */
    vdc_model_host_sync_vms(a, vm_list(mkvm("web", 2, VDC_VM_RUNNING), NULL));
    assert_listing("/vms", "db,web");
    assert_content("/hosts/beta/vms/db", "../../../vms/db");
    json_t *st = json_at("/vms/db/status.json");
    assert_string_equal(jstr(st, "host"), "beta");
    json_decref(st);
}

static void test_three_hosts_same_name(void **state)
{
    (void)state;
    connected_host("alpha", vm_list(mkvm("x", 1, VDC_VM_RUNNING), NULL));
    connected_host("beta", vm_list(mkvm("x", 2, VDC_VM_RUNNING), NULL));
    unsigned c = connected_host("gamma", vm_list(mkvm("x", 3, VDC_VM_RUNNING), NULL));
    assert_listing("/vms", "x@alpha,x@beta,x@gamma");
    g_autofree char *u3 = uuid_of(3);
    vdc_model_vm_gone(c, u3);
    assert_listing("/vms", "x@alpha,x@beta");
}

static void test_hostile_names(void **state)
{
    (void)state;
    connected_host("alpha", vm_list(mkvm("..", 1, VDC_VM_RUNNING), mkvm(".", 2, VDC_VM_RUNNING),
                                    mkvm("a/b", 3, VDC_VM_RUNNING), mkvm("x@y", 4, VDC_VM_RUNNING),
                                    mkvm("a'b\"<c>&d", 5, VDC_VM_RUNNING),
                                    mkvm("100%", 6, VDC_VM_RUNNING), mkvm("", 7, VDC_VM_RUNNING),
                                    mkvm("line\nbreak", 8, VDC_VM_RUNNING), NULL));
    assert_listing("/vms", "%00,%2E,%2E%2E,100%25,a%2Fb,a'b\"<c>&d,line\nbreak,x%40y");
    assert_listing("/hosts/alpha/vms", "%00,%2E,%2E%2E,100%25,a%2Fb,a'b\"<c>&d,line\nbreak,x%40y");
    assert_content("/hosts/alpha/vms/%2E%2E", "../../../vms/%2E%2E");
    assert_content("/hosts/alpha/vms/a%2Fb", "../../../vms/a%2Fb");
    assert_content("/vms/%2E%2E/state", "running\n");
    json_t *st = json_at("/vms/%2E%2E/status.json");
    assert_string_equal(jstr(st, "name"), ".."); /* the raw name inside */
    json_decref(st);
    st = json_at("/vms/a'b\"<c>&d/status.json");
    assert_string_equal(jstr(st, "name"), "a'b\"<c>&d");
    json_decref(st);
    st = json_at("/vms/%00/status.json");
    assert_string_equal(jstr(st, "name"), "");
    json_decref(st);
    assert_absent("/vms/..");

    /* a hostile name shared by two hosts */
    connected_host("beta", vm_list(mkvm("..", 9, VDC_VM_SHUTOFF), NULL));
    assert_content("/hosts/beta/vms/%2E%2E", "../../../vms/%2E%2E@beta");
    assert_content("/vms/%2E%2E@alpha/state", "running\n");
    assert_content("/vms/%2E%2E@beta/state", "shutoff\n");
    /* "x@y"'s '@' is encoded, so it never looks like a name@host */
    assert_content("/vms/x%40y/state", "running\n");
}

static void test_state_files(void **state)
{
    (void)state;
    static const struct {
        enum vdc_vm_state st;
        const char *text;
    } table[] = {
        {VDC_VM_RUNNING, "running\n"},   {VDC_VM_BLOCKED, "blocked\n"},
        {VDC_VM_PAUSED, "paused\n"},     {VDC_VM_SHUTOFF, "shutoff\n"},
        {VDC_VM_CRASHED, "crashed\n"},   {VDC_VM_SUSPENDED, "suspended\n"},
        {VDC_VM_UNKNOWN, "unknown\n"},
    };
    unsigned h = connected_host("alpha", NULL);
    for (size_t i = 0; i < G_N_ELEMENTS(table); i++) {
        vdc_model_vm_update(h, mkvm("vm", 1, table[i].st));
        assert_content("/vms/vm/state", table[i].text);
        json_t *st = json_at("/vms/vm/status.json");
        g_autofree char *word = g_strndup(table[i].text, strlen(table[i].text) - 1);
        assert_string_equal(jstr(st, "state"), word);
        json_decref(st);
    }
}

static void test_disconnect_and_reconnect(void **state)
{
    unsigned h = connected_host("alpha", vm_list(mkvm("web-1", 1, VDC_VM_RUNNING),
                                                 mkvm("db-1", 2, VDC_VM_PAUSED), NULL));
    json_decref(new_events(state));

    vdc_model_host_disconnected(h, "connection reset by peer");
    assert_content("/vms/web-1/state", "unknown\n");
    assert_content("/vms/db-1/state", "unknown\n");
    json_t *st = json_at("/vms/web-1/status.json");
    assert_string_equal(jstr(st, "state"), "unknown");
    assert_string_equal(jstr(st, "name"), "web-1"); /* last facts stay */
    assert_int_equal(jint(st, "vcpus"), 2);
    json_decref(st);
    json_t *info = json_at("/hosts/alpha/info.json");
    assert_true(json_is_false(json_object_get(info, "connected")));
    assert_string_equal(jstr(info, "error"), "connection reset by peer");
    assert_string_equal(jstr(info, "hypervisor"), "TEST"); /* last known */
    json_decref(info);
    assert_listing("/vms", "db-1,web-1"); /* nothing dropped */

    json_t *evs = new_events(state);
    assert_int_equal(tu_event_count(evs, "host", "alpha", "alpha", "disconnected"), 1);
    assert_string_equal(jstr(tu_event_find(evs, "host", "alpha", NULL, "disconnected"), "error"),
                        "connection reset by peer");
    assert_no_event(evs, "vm", NULL, NULL); /* "unknown" is not a VM transition */
    json_decref(evs);

    /* The reconnect attempts fail with the same error: no new event. */
    vdc_model_host_disconnected(h, "connection reset by peer");
    evs = new_events(state);
    assert_int_equal(json_array_size(evs), 0);
    json_decref(evs);
    /* ... with a different one: the error is news. */
    vdc_model_host_disconnected(h, "connection refused");
    evs = new_events(state);
    assert_int_equal(tu_event_count(evs, "host", "alpha", "alpha", "disconnected"), 1);
    json_decref(evs);
    info = json_at("/hosts/alpha/info.json");
    assert_string_equal(jstr(info, "error"), "connection refused");
    json_decref(info);

    /* Back: the host runner syncs, then says connected. */
    vdc_model_host_sync_vms(h, vm_list(mkvm("web-1", 1, VDC_VM_RUNNING),
                                       mkvm("db-1", 2, VDC_VM_PAUSED), NULL));
    vdc_model_host_connected(h, mkinfo());
    assert_content("/vms/web-1/state", "running\n");
    assert_content("/vms/db-1/state", "paused\n");
    info = json_at("/hosts/alpha/info.json");
    assert_true(json_is_true(json_object_get(info, "connected")));
    assert_true(json_is_null(json_object_get(info, "error")));
    json_decref(info);
    evs = new_events(state);
    assert_int_equal(tu_event_count(evs, "host", "alpha", "alpha", "connected"), 1);
    assert_int_equal(jint(tu_event_find(evs, "host", "alpha", NULL, "connected"), "vms"), 2);
    /* The VMs did not change while we were away: no VM events. */
    assert_no_event(evs, "vm", NULL, NULL);
    json_decref(evs);
}

static void test_vm_events(void **state)
{
    unsigned h = connected_host("alpha", vm_list(mkvm("web-1", 1, VDC_VM_RUNNING), NULL));
    g_autofree char *u1 = uuid_of(1);
    json_decref(new_events(state));

    static const struct {
        enum vdc_vm_state to;
        const char *event;
    } steps[] = {
        {VDC_VM_PAUSED, "suspended"}, {VDC_VM_RUNNING, "resumed"}, {VDC_VM_SHUTOFF, "stopped"},
        {VDC_VM_RUNNING, "started"},  {VDC_VM_CRASHED, "crashed"}, {VDC_VM_RUNNING, "started"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(steps); i++) {
        vdc_model_vm_update(h, mkvm("web-1", 1, steps[i].to));
        json_t *evs = new_events(state);
        if (json_array_size(evs) != 1)
            fail_msg("step %zu: %zu events", i, json_array_size(evs));
        json_t *ev = json_array_get(evs, 0);
        assert_string_equal(jstr(ev, "kind"), "vm");
        assert_string_equal(jstr(ev, "name"), "web-1");
        assert_string_equal(jstr(ev, "host"), "alpha");
        assert_string_equal(jstr(ev, "event"), steps[i].event);
        assert_string_equal(jstr(ev, "uuid"), u1);
        assert_string_equal(jstr(ev, "state"), vdc_vm_state_word(steps[i].to));
        assert_true(g_str_has_suffix(jstr(ev, "time"), "Z"));
        json_decref(evs);
    }

    /* The same facts again: nothing to say. */
    vdc_model_vm_update(h, mkvm("web-1", 1, VDC_VM_RUNNING));
    json_t *evs = new_events(state);
    assert_int_equal(json_array_size(evs), 0);
    json_decref(evs);

    /* A changed definition in the same state: "changed". */
    struct hv_vm *vm = mkvm("web-1", 1, VDC_VM_RUNNING);
    g_free(vm->domain_xml);
    vm->domain_xml = g_strdup("<domain><name>web-1</name><vcpu>8</vcpu></domain>");
    vm->vcpus = 8;
    vdc_model_vm_update(h, vm);
    evs = new_events(state);
    assert_int_equal(json_array_size(evs), 1);
    assert_event(evs, "vm", "web-1", "alpha", "changed");
    json_decref(evs);
    assert_content("/vms/web-1/domain.xml", "<domain><name>web-1</name><vcpu>8</vcpu></domain>");
    json_t *st = json_at("/vms/web-1/status.json");
    assert_int_equal(jint(st, "vcpus"), 8);
    json_decref(st);

    /* A new VM after the first connect: "defined". */
    vdc_model_vm_update(h, mkvm("web-2", 2, VDC_VM_SHUTOFF));
    evs = new_events(state);
    assert_event(evs, "vm", "web-2", "alpha", "defined");
    json_decref(evs);
    assert_listing("/vms", "web-1,web-2");

    /* Gone: "undefined". */
    vdc_model_vm_gone(h, u1);
    evs = new_events(state);
    assert_event(evs, "vm", "web-1", "alpha", "undefined");
    json_decref(evs);
    assert_listing("/vms", "web-2");
    assert_listing("/hosts/alpha/vms", "web-2");

    /* Gone again (a late event): nothing. */
    vdc_model_vm_gone(h, u1);
    evs = new_events(state);
    assert_int_equal(json_array_size(evs), 0);
    json_decref(evs);

    /* Missing from a full sync: "undefined" too. */
    vdc_model_host_sync_vms(h, g_ptr_array_new());
    evs = new_events(state);
    assert_event(evs, "vm", "web-2", "alpha", "undefined");
    json_decref(evs);
    assert_listing("/vms", "");
    json_t *info = json_at("/hosts/alpha/info.json");
    assert_int_equal(jint(info, "vms"), 0);
    json_decref(info);
}

static void test_first_sync_is_quiet(void **state)
{
    unsigned h = vdc_model_add_host("alpha", "test:///alpha.xml");
    vdc_model_host_sync_vms(h, vm_list(mkvm("web-1", 1, VDC_VM_RUNNING),
                                       mkvm("db-1", 2, VDC_VM_SHUTOFF), NULL));
    vdc_model_host_sync_pools(h, pool_list(mkpool("default", "dir", "running", 1 << 30, NULL),
                                           NULL));
    json_t *evs = new_events(state);
    assert_no_event(evs, "vm", NULL, "defined");
    assert_no_event(evs, "pool", NULL, "defined");
    json_decref(evs);
    /* already visible, though */
    assert_listing("/vms", "db-1,web-1");

    vdc_model_host_connected(h, mkinfo());
    evs = new_events(state);
    assert_int_equal(json_array_size(evs), 1);
    json_t *ev = tu_event_find(evs, "host", "alpha", "alpha", "connected");
    assert_non_null(ev);
    assert_int_equal(jint(ev, "vms"), 2);
    assert_string_equal(jstr(ev, "uri"), "test:///alpha.xml");
    json_decref(evs);

    /* connected again while connected (a refresh): no second event */
    vdc_model_host_connected(h, mkinfo());
    evs = new_events(state);
    assert_int_equal(json_array_size(evs), 0);
    json_decref(evs);

    /* from now on, new objects are news */
    vdc_model_host_sync_vms(h, vm_list(mkvm("web-1", 1, VDC_VM_RUNNING),
                                       mkvm("db-1", 2, VDC_VM_SHUTOFF),
                                       mkvm("web-3", 3, VDC_VM_RUNNING), NULL));
    evs = new_events(state);
    assert_int_equal(json_array_size(evs), 1);
    assert_event(evs, "vm", "web-3", "alpha", "defined");
    json_decref(evs);
    vdc_model_host_sync_pools(h, pool_list(mkpool("default", "dir", "running", 1 << 30, NULL),
                                           mkpool("fast", "dir", "running", 1 << 30, NULL), NULL));
    evs = new_events(state);
    assert_event(evs, "pool", "fast", "alpha", "defined");
    json_decref(evs);
}

static void test_rename(void **state)
{
    unsigned h = connected_host("alpha", vm_list(mkvm("old", 1, VDC_VM_RUNNING), NULL));
    uint64_t ino;
    assert_int_equal(tu_ino("/vms/old", &ino), 0);
    json_decref(new_events(state));

    vdc_model_vm_update(h, mkvm("new", 1, VDC_VM_RUNNING));
    assert_listing("/vms", "new");
    assert_listing("/hosts/alpha/vms", "new");
    assert_content("/hosts/alpha/vms/new", "../../../vms/new");
    assert_absent("/vms/old");
    assert_absent("/hosts/alpha/vms/old");
    uint64_t ino2;
    assert_int_equal(tu_ino("/vms/new", &ino2), 0);
    assert_int_equal(ino, ino2); /* same VM, same inode */
    json_t *evs = new_events(state);
    assert_event(evs, "vm", "new", "alpha", "renamed");
    json_decref(evs);

    /* renamed onto a name another host has: both become name@host */
    connected_host("beta", vm_list(mkvm("shared", 2, VDC_VM_RUNNING), NULL));
    vdc_model_vm_update(h, mkvm("shared", 1, VDC_VM_RUNNING));
    assert_listing("/vms", "shared@alpha,shared@beta");
    assert_content("/hosts/beta/vms/shared", "../../../vms/shared@beta");
    /* and away again */
    vdc_model_vm_update(h, mkvm("mine", 1, VDC_VM_RUNNING));
    assert_listing("/vms", "mine,shared");
    assert_content("/hosts/beta/vms/shared", "../../../vms/shared");
}

static void test_stale_inodes(void **state)
{
    (void)state;
    unsigned h = connected_host("alpha", vm_list(mkvm("web-1", 1, VDC_VM_RUNNING), NULL));
    static const char *const paths[] = {"/vms/web-1", "/vms/web-1/state", "/vms/web-1/status.json",
                                        "/vms/web-1/domain.xml", "/hosts/alpha/vms/web-1"};
    uint64_t inos[G_N_ELEMENTS(paths)];
    for (size_t i = 0; i < G_N_ELEMENTS(paths); i++)
        assert_int_equal(tu_ino(paths[i], &inos[i]), 0);
    /* distinct files, distinct inodes */
    for (size_t i = 0; i < G_N_ELEMENTS(paths); i++)
        for (size_t j = i + 1; j < G_N_ELEMENTS(paths); j++)
            assert_true(inos[i] != inos[j]);

    struct vdc_node n;
    vdc_model_read_lock();
    for (size_t i = 0; i < G_N_ELEMENTS(paths); i++)
        assert_int_equal(vdc_tree_resolve(inos[i], &n), 0);
    /* a file number the object does not have */
    assert_int_equal(vdc_tree_resolve(VDC_INO(VDC_INO_ID(inos[0]), VDC_VM_DISKS + 1), &n), -ENOENT);
    /* static inodes */
    assert_int_equal(vdc_tree_resolve(VDC_INO(0, 0), &n), -ENOENT);
    assert_int_equal(vdc_tree_resolve(VDC_INO(0, VDC_STATIC_ARRAYS + 1), &n), -ENOENT);
    assert_int_equal(vdc_tree_resolve(VDC_INO(0, VDC_STATIC_VMS), &n), 0);
    assert_int_equal(n.kind, VDC_N_VMS);
    /* an object that never existed */
    assert_int_equal(vdc_tree_resolve(VDC_INO(123456, 0), &n), -ENOENT);
    vdc_model_read_unlock();

    g_autofree char *u1 = uuid_of(1);
    vdc_model_vm_gone(h, u1);
    vdc_model_read_lock();
    for (size_t i = 0; i < G_N_ELEMENTS(paths); i++)
        assert_int_equal(vdc_tree_resolve(inos[i], &n), -ENOENT);
    vdc_model_read_unlock();

    /* The same VM again is a new object: the old inodes stay dead. */
    vdc_model_vm_update(h, mkvm("web-1", 1, VDC_VM_RUNNING));
    uint64_t fresh;
    assert_int_equal(tu_ino("/vms/web-1", &fresh), 0);
    assert_true(fresh != inos[0]);
    vdc_model_read_lock();
    assert_int_equal(vdc_tree_resolve(inos[0], &n), -ENOENT);
    assert_int_equal(vdc_tree_resolve(inos[1], &n), -ENOENT);
    vdc_model_read_unlock();
}

static void test_pools(void **state)
{
    unsigned a = connected_host("alpha", NULL);
    unsigned b = connected_host("beta", NULL);
    json_decref(new_events(state));

    vdc_model_host_sync_pools(a, pool_list(mkpool("default", "dir", "running", 1ull << 34,
                                                  "a.img", "b/c.qcow2", "..", NULL),
                                           mkpool("san-1", "iscsi", "running", 1ull << 40, NULL),
                                           NULL));
    vdc_model_host_sync_pools(b, pool_list(mkpool("default", "dir", "inactive", 1ull << 33, NULL),
                                           NULL));

    assert_listing("/hosts/alpha/pools", "default,san-1");
    assert_listing("/hosts/beta/pools", "default");
    assert_listing("/hosts/alpha/pools/default", "info.json,volumes");
    json_t *pi = json_at("/hosts/alpha/pools/default/info.json");
    assert_string_equal(jstr(pi, "name"), "default");
    assert_string_equal(jstr(pi, "type"), "dir");
    assert_string_equal(jstr(pi, "state"), "running");
    assert_int_equal(jint(pi, "capacity"), 1ll << 34);
    assert_int_equal(jint(pi, "allocation"), 1ll << 32);
    assert_int_equal(jint(pi, "available"), (1ll << 34) - (1ll << 32));
    json_decref(pi);

    assert_listing("/hosts/alpha/pools/default/volumes", "%2E%2E.json,a.img.json,b%2Fc.qcow2.json");
    assert_int_equal(tu_type("/hosts/alpha/pools/default/volumes/a.img.json"), S_IFREG);
    json_t *vol = json_at("/hosts/alpha/pools/default/volumes/b%2Fc.qcow2.json");
    assert_string_equal(jstr(vol, "name"), "b/c.qcow2");
    assert_string_equal(jstr(vol, "path"), "/pool/b/c.qcow2");
    assert_string_equal(jstr(vol, "type"), "file");
    assert_int_equal(jint(vol, "capacity"), 1 << 20);
    assert_int_equal(jint(vol, "allocation"), 1 << 19);
    json_decref(vol);
    assert_listing("/hosts/beta/pools/default/volumes", "");

    /* the cluster view */
    assert_listing("/pools", "default,san-1");
    assert_listing("/pools/default", "info.json");
    json_t *ci = json_at("/pools/default/info.json");
    assert_string_equal(jstr(ci, "name"), "default");
    assert_string_equal(jstr(ci, "type"), "dir");
    json_t *hosts = json_object_get(ci, "hosts");
    assert_true(json_is_object(hosts));
    assert_int_equal(json_object_size(hosts), 2);
    json_t *ha = json_object_get(hosts, "alpha"), *hb = json_object_get(hosts, "beta");
    assert_non_null(ha);
    assert_non_null(hb);
    assert_string_equal(jstr(ha, "state"), "running");
    assert_string_equal(jstr(hb, "state"), "inactive");
    assert_int_equal(jint(ha, "capacity"), 1ll << 34);
    assert_int_equal(jint(hb, "capacity"), 1ll << 33);
    assert_true(json_is_true(json_object_get(ha, "connected")));
    json_decref(ci);
    ci = json_at("/pools/san-1/info.json");
    assert_int_equal(json_object_size(json_object_get(ci, "hosts")), 1);
    assert_non_null(json_object_get(json_object_get(ci, "hosts"), "alpha"));
    json_decref(ci);

    /* a host going away shows in the cluster view */
    vdc_model_host_disconnected(b, "gone");
    ci = json_at("/pools/default/info.json");
    assert_true(json_is_false(json_object_get(json_object_get(json_object_get(ci, "hosts"), "beta"),
                                              "connected")));
    json_decref(ci);
    vdc_model_host_connected(b, mkinfo());
    json_decref(new_events(state));

    /* a volume goes, the pool stops on beta */
    uint64_t vol_ino;
    assert_int_equal(tu_ino("/hosts/alpha/pools/default/volumes/b%2Fc.qcow2.json", &vol_ino), 0);
    vdc_model_host_sync_pools(a, pool_list(mkpool("default", "dir", "running", 1ull << 34,
                                                  "a.img", "..", NULL),
                                           mkpool("san-1", "iscsi", "running", 1ull << 40, NULL),
                                           NULL));
    assert_listing("/hosts/alpha/pools/default/volumes", "%2E%2E.json,a.img.json");
    struct vdc_node n;
    vdc_model_read_lock();
    assert_int_equal(vdc_tree_resolve(vol_ino, &n), -ENOENT);
    vdc_model_read_unlock();
    vdc_model_host_sync_pools(b, pool_list(mkpool("default", "dir", "running", 1ull << 33, NULL),
                                           NULL));
    json_t *evs = new_events(state);
    assert_event(evs, "pool", "default", "beta", "started");
    json_decref(evs);

    /* removed from alpha: the cluster pool keeps only beta */
    uint64_t cpool_ino, hpool_ino;
    assert_int_equal(tu_ino("/pools/default/info.json", &cpool_ino), 0);
    assert_int_equal(tu_ino("/hosts/alpha/pools/default/info.json", &hpool_ino), 0);
    vdc_model_host_sync_pools(a, pool_list(mkpool("san-1", "iscsi", "running", 1ull << 40, NULL),
                                           NULL));
    evs = new_events(state);
    assert_event(evs, "pool", "default", "alpha", "undefined");
    json_decref(evs);
    assert_listing("/hosts/alpha/pools", "san-1");
    assert_absent("/hosts/alpha/pools/default");
    assert_listing("/pools", "default,san-1");
    ci = json_at("/pools/default/info.json");
    assert_int_equal(json_object_size(json_object_get(ci, "hosts")), 1);
    assert_null(json_object_get(json_object_get(ci, "hosts"), "alpha"));
    json_decref(ci);
    vdc_model_read_lock();
    assert_int_equal(vdc_tree_resolve(hpool_ino, &n), -ENOENT);
    assert_int_equal(vdc_tree_resolve(cpool_ino, &n), 0); /* still the same cluster pool */
    vdc_model_read_unlock();

    /* removed from every host: gone from pools/ */
    vdc_model_host_sync_pools(b, g_ptr_array_new());
    assert_listing("/pools", "san-1");
    assert_absent("/pools/default");
    vdc_model_read_lock();
    assert_int_equal(vdc_tree_resolve(cpool_ino, &n), -ENOENT);
    vdc_model_read_unlock();

    /* a pool stopping on its host: "stopped" */
    vdc_model_host_sync_pools(a, pool_list(mkpool("san-1", "iscsi", "inactive", 1ull << 40, NULL),
                                           NULL));
    evs = new_events(state);
    assert_event(evs, "pool", "san-1", "alpha", "stopped");
    json_decref(evs);
}

static void test_hostile_pool_names(void **state)
{
    (void)state;
    unsigned a = connected_host("alpha", NULL);
    vdc_model_host_sync_pools(a, pool_list(mkpool("..", "dir", "running", 1 << 20, "x", NULL),
                                           mkpool("a/b", "dir", "running", 1 << 20, NULL), NULL));
    assert_listing("/pools", "%2E%2E,a%2Fb");
    assert_listing("/hosts/alpha/pools", "%2E%2E,a%2Fb");
    json_t *ci = json_at("/pools/%2E%2E/info.json");
    assert_string_equal(jstr(ci, "name"), "..");
    json_decref(ci);
    assert_listing("/hosts/alpha/pools/%2E%2E/volumes", "x.json");
}

static void test_mtime_moves_on_change(void **state)
{
    (void)state;
    unsigned h = connected_host("alpha", vm_list(mkvm("web-1", 1, VDC_VM_RUNNING), NULL));
    struct vdc_node n;
    vdc_model_read_lock();
    assert_int_equal(tu_walk_locked("/vms/web-1/state", &n), 0);
    struct timespec before = *vdc_tree_mtime(&n);
    vdc_model_read_unlock();
    g_usleep(2000);
    vdc_model_vm_update(h, mkvm("web-1", 1, VDC_VM_PAUSED));
    vdc_model_read_lock();
    assert_int_equal(tu_walk_locked("/vms/web-1/state", &n), 0);
    const struct timespec *after = vdc_tree_mtime(&n);
    assert_true(after->tv_sec > before.tv_sec ||
                (after->tv_sec == before.tv_sec && after->tv_nsec > before.tv_nsec));
    vdc_model_read_unlock();
}

/* Regression (fs/model.c name indexes): two VMs of one host that swap
 * names (virsh domrename a->tmp, b->a, tmp->b) are seen by the next full
 * sync (or by get_vm of one before the other) as two VMs with the same
 * name on the same host for a moment.  The indexes used to borrow the
 * VM's own string as key and kept it after the VM was freed: a use after
 * free under AddressSanitizer.  They now own their keys. */
static void test_regression_swap_names_on_one_host(void **state)
{
    (void)state;
    unsigned h = connected_host("alpha", vm_list(mkvm("a", 1, VDC_VM_RUNNING),
                                                 mkvm("b", 2, VDC_VM_SHUTOFF), NULL));
    vdc_model_host_sync_vms(h, vm_list(mkvm("b", 1, VDC_VM_RUNNING),
                                       mkvm("a", 2, VDC_VM_SHUTOFF), NULL));
    assert_listing("/vms", "a,b");
    assert_listing("/hosts/alpha/vms", "a,b");
    assert_content("/vms/b/state", "running\n");
    assert_content("/vms/a/state", "shutoff\n");
    assert_content("/hosts/alpha/vms/a", "../../../vms/a");
}

/* The same, through single-VM updates as the host runner makes them
 * after events: VM 1 is fetched (now "b") while VM 2 is still "b". */
static void test_regression_rename_onto_name_being_vacated(void **state)
{
    (void)state;
    unsigned h = connected_host("alpha", vm_list(mkvm("a", 1, VDC_VM_RUNNING),
                                                 mkvm("b", 2, VDC_VM_SHUTOFF), NULL));
    vdc_model_vm_update(h, mkvm("b", 1, VDC_VM_RUNNING));
    vdc_model_vm_update(h, mkvm("c", 2, VDC_VM_SHUTOFF));
    assert_listing("/vms", "b,c");
    assert_listing("/hosts/alpha/vms", "b,c");
    assert_content("/vms/b/state", "running\n");
    assert_content("/hosts/alpha/vms/c", "../../../vms/c");
}

/* KNOWN BUG (fs/render.c, every json_string()): jansson's json_string()
 * returns NULL for bytes that are not UTF-8, and json_object_set_new()
 * then silently drops the key.  Volume names come from file names in a
 * directory pool and can be any bytes: the volume's JSON loses its "name"
 * and "path" (the /events lines lose "name" the same way). */
static void test_regression_volume_name_not_utf8(void **state)
{
    (void)state;
    unsigned a = connected_host("alpha", NULL);
    vdc_model_host_sync_pools(a, pool_list(mkpool("default", "dir", "running", 1 << 20,
                                                  "latin1-\xe9t\xe9.img", NULL),
                                           NULL));
    assert_listing("/hosts/alpha/pools/default/volumes", "latin1-\xe9t\xe9.img.json");
    json_t *vol = json_at("/hosts/alpha/pools/default/volumes/latin1-\xe9t\xe9.img.json");
    bool has_name = json_is_string(json_object_get(vol, "name"));
    bool has_path = json_is_string(json_object_get(vol, "path"));
    json_decref(vol);
    if (!has_name || !has_path)
        fail_msg("volume JSON lost its name (%d) or path (%d)", has_name, has_path);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_empty_tree),
        T(test_vms_by_name),
        T(test_status_json),
        T(test_duplicate_names),
        T(test_three_hosts_same_name),
        T(test_hostile_names),
        T(test_state_files),
        T(test_disconnect_and_reconnect),
        T(test_vm_events),
        T(test_first_sync_is_quiet),
        T(test_rename),
        T(test_stale_inodes),
        T(test_pools),
        T(test_hostile_pool_names),
        T(test_mtime_moves_on_change),
        T(test_regression_swap_names_on_one_host),
        T(test_regression_rename_onto_name_being_vacated),
        T(test_regression_volume_name_not_utf8),
    };
    return cmocka_run_group_tests_name("model", tests, NULL, NULL);
}
