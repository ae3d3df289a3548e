/* test_libvirt_ops.c — the libvirt backend (hv_libvirt_ops) against
 * libvirt's in-process test driver, test:///default: real libvirt, no
 * daemon.  Its state belongs to the connection and goes when it closes,
 * so every test starts from the driver's stock host on a fresh
 * connection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <string.h>

#include "hv.h"

#define URI "test:///default"
#define POOL "default-pool" /* the test driver's one pool (virsh pool-list --all) */
#define UUID1 "5c9a4b6e-1d2f-4e3a-9b8c-7d6e5f4a3b21"
#define UUID2 "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
#define MISSING_UUID "deadbeef-0000-4000-8000-000000000000"

/* What the backend reported between calls.  Only counted: the callbacks
 * run on libvirt's event thread. */
static gint vm_changes, pool_changes, losses;

static void count_vm(void *ctx, const char *uuid)
{
    (void)ctx, (void)uuid;
    g_atomic_int_inc(&vm_changes);
}

static void count_pools(void *ctx)
{
    (void)ctx;
    g_atomic_int_inc(&pool_changes);
}

static void count_loss(void *ctx, const char *reason)
{
    (void)ctx, (void)reason;
    g_atomic_int_inc(&losses);
}

/* Static: it must outlive every connection (hv.h). */
static const struct hv_sink sink = {
    .vm_changed = count_vm, .pools_changed = count_pools, .connection_lost = count_loss};

static const struct hv_ops *ops = &hv_libvirt_ops;

static int open_conn(void **state)
{
    g_autofree char *err = NULL;
    struct hv_conn *c = ops->connect(URI, &sink, &err);
    if (!c)
        fail_msg("cannot connect to %s: %s", URI, err);
    *state = c;
    return 0;
}

static int close_conn(void **state)
{
    ops->disconnect(*state);
    return 0;
}

/* --- helpers ------------------------------------------------------------- */

static xmlNodePtr add(xmlNodePtr parent, const char *name, const char *text)
{
    /* xmlNewTextChild escapes @text: names with markup in them stay text. */
    return xmlNewTextChild(parent, NULL, (const xmlChar *)name, (const xmlChar *)text);
}

static void attr(xmlNodePtr n, const char *name, const char *value)
{
    xmlNewProp(n, (const xmlChar *)name, (const xmlChar *)value);
}

/* A small test-driver VM: 1 GiB maximum, 512 MiB now, 2 of 4 vCPUs. */
static char *domain_xml(const char *name, const char *uuid, const char *description)
{
    xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
    xmlNodePtr dom = xmlNewNode(NULL, (const xmlChar *)"domain");
    xmlDocSetRootElement(doc, dom);
    attr(dom, "type", "test");
    add(dom, "name", name);
    add(dom, "uuid", uuid);
    if (description)
        add(dom, "description", description);
    attr(add(dom, "memory", "1048576"), "unit", "KiB");
    attr(add(dom, "currentMemory", "524288"), "unit", "KiB");
    attr(add(dom, "vcpu", "4"), "current", "2");
    add(add(dom, "os", NULL), "type", "hvm");
    xmlChar *buf = NULL;
    int n = 0;
    xmlDocDumpMemoryEnc(doc, &buf, &n, "UTF-8");
    char *xml = g_strndup((const char *)buf, (gsize)n);
    xmlFree(buf);
    xmlFreeDoc(doc);
    return xml;
}

/* The string value of XPath @expr in @xml. */
static char *xml_value(const char *xml, const char *expr)
{
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "x.xml", NULL, XML_PARSE_NONET);
    assert_non_null(doc);
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    xmlXPathObjectPtr o = xmlXPathEval((const xmlChar *)expr, ctx);
    assert_non_null(o);
    char *s = g_strdup((const char *)o->stringval);
    xmlXPathFreeObject(o);
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
    return s;
}

/* A failed op's message: there, on one line, and not empty. */
static void assert_one_line(const char *err)
{
    assert_non_null(err);
    assert_true(err[0] != '\0');
    assert_null(strchr(err, '\n'));
}

static void define_ok(struct hv_conn *c, const char *name, const char *uuid,
                      const char *description)
{
    g_autofree char *xml = domain_xml(name, uuid, description);
    g_autofree char *err = NULL;
    if (ops->define_vm(c, xml, &err) != 0)
        fail_msg("define_vm: %s\n%s", err, xml);
    assert_null(err);
}

static struct hv_vm *get_ok(struct hv_conn *c, const char *uuid)
{
    struct hv_vm *vm = NULL;
    g_autofree char *err = NULL;
    int rc = ops->get_vm(c, uuid, NULL, &vm, &err);
    if (rc != 0)
        fail_msg("get_vm %s: %d %s", uuid, rc, err ? err : "");
    return vm;
}

static struct hv_vm *get_config_ok(struct hv_conn *c, const char *uuid)
{
    struct hv_vm *vm = NULL;
    g_autofree char *err = NULL;
    int rc = ops->get_vm_config(c, uuid, &vm, &err);
    if (rc != 0)
        fail_msg("get_vm_config %s: %d %s", uuid, rc, err ? err : "");
    return vm;
}

static enum vdc_vm_state state_of(struct hv_conn *c, const char *uuid)
{
    struct hv_vm *vm = get_ok(c, uuid);
    enum vdc_vm_state s = vm->state;
    hv_vm_free(vm);
    return s;
}

static void power_ok(struct hv_conn *c, const char *uuid, enum hv_power_action a)
{
    g_autofree char *err = NULL;
    if (ops->power(c, uuid, a, &err) != 0)
        fail_msg("power %s: %s", hv_power_word(a), err);
    assert_null(err);
}

/* Asserts @a fails on @uuid, with a message. */
static void power_fails(struct hv_conn *c, const char *uuid, enum hv_power_action a)
{
    g_autofree char *err = NULL;
    assert_int_equal(ops->power(c, uuid, a, &err), -1);
    assert_one_line(err);
}

static void assert_state(struct hv_conn *c, const char *uuid, enum vdc_vm_state want)
{
    enum vdc_vm_state got = state_of(c, uuid);
    if (got != want)
        fail_msg("state %s, expected %s", vdc_vm_state_word(got), vdc_vm_state_word(want));
}

static struct hv_volume *find_volume(struct hv_conn *c, const char *pool, const char *name)
{
    GPtrArray *pools = NULL;
    g_autofree char *err = NULL;
    assert_int_equal(ops->list_pools(c, &pools, &err), 0);
    struct hv_volume *found = NULL;
    for (guint i = 0; i < pools->len; i++) {
        struct hv_pool *p = g_ptr_array_index(pools, i);
        for (guint j = 0; !found && strcmp(p->name, pool) == 0 && j < p->volumes->len; j++) {
            struct hv_volume *v = g_ptr_array_index(p->volumes, j);
            if (strcmp(v->name, name) == 0)
                found = g_ptr_array_steal_index(p->volumes, j);
        }
        hv_pool_free(p);
    }
    g_ptr_array_free(pools, TRUE);
    return found;
}

/* --- power words ---------------------------------------------------------- */

static void test_power_words(void **state)
{
    (void)state;
    static const char *const six[] = {"start",  "shutdown", "destroy",
                                      "reboot", "suspend",  "resume"};
    for (size_t i = 0; i < G_N_ELEMENTS(six); i++) {
        enum hv_power_action a = hv_power_parse(six[i]);
        assert_int_not_equal(a, 0);
        assert_string_equal(hv_power_word(a), six[i]);
    }
    assert_int_equal(hv_power_parse("start"), HV_POWER_START);
    assert_int_equal(hv_power_parse("resume"), HV_POWER_RESUME);
    /* start-paused has a word, but only the reconciler asks for it. */
    assert_string_equal(hv_power_word(HV_POWER_START_PAUSED), "start-paused");
    assert_int_equal(hv_power_parse("start-paused"), 0);
    assert_int_equal(hv_power_parse(""), 0);
    assert_int_equal(hv_power_parse("START"), 0);
    assert_int_equal(hv_power_parse("start\n"), 0);
    assert_int_equal(hv_power_parse(" start"), 0);
    assert_int_equal(hv_power_parse("star"), 0);
    assert_int_equal(hv_power_parse("unknown"), 0);
    assert_int_equal(hv_power_parse(NULL), 0);
}

/* --- description, straight from hv_parse_domain_xml ------------------------ */

static void test_parse_description(void **state)
{
    (void)state;
    struct hv_vm *vm = hv_vm_new();
    g_autofree char *err = NULL;
    /* Only the top-level element counts, text as written. */
    assert_int_equal(hv_parse_domain_xml("<domain><name>a</name>"
                                         "<metadata><description>no</description></metadata>"
                                         "<description> x &amp; y\n</description></domain>",
                                         vm, &err),
                     0);
    assert_string_equal(vm->description, " x & y\n");
    /* Parsing again into the same hv_vm forgets the old one. */
    assert_int_equal(hv_parse_domain_xml("<domain><name>a</name>"
                                         "<metadata><description>no</description></metadata>"
                                         "</domain>",
                                         vm, &err),
                     0);
    assert_null(vm->description);
    assert_int_equal(hv_parse_domain_xml("<domain><name>a</name><description/></domain>", vm, &err),
                     0);
    assert_string_equal(vm->description, "");
    assert_null(err);
    hv_vm_free(vm);
}

/* --- host ------------------------------------------------------------------ */

static void test_host_info(void **state)
{
    struct hv_host_info *h = NULL;
    g_autofree char *err = NULL;
    assert_int_equal(ops->host_info(*state, &h, &err), 0);
    assert_null(err);
    assert_string_equal(h->hypervisor, "TEST");
    /* The test driver offers only "test" guests, for its i686 host. */
    assert_string_equal(h->domain_type, "test");
    assert_true(h->memory_kib > 0);
    /* Free memory is optional (0 = cannot say); when given, it fits. */
    assert_true(h->free_kib <= h->memory_kib);
    print_message("test driver: %u cpus, %" G_GUINT64_FORMAT " KiB, %" G_GUINT64_FORMAT
                  " KiB free\n",
                  h->cpus, h->memory_kib, h->free_kib);
    hv_host_info_free(h);
}

/* --- definitions ------------------------------------------------------------ */

static void test_define_then_config(void **state)
{
    struct hv_conn *c = *state;
    /* Spaces and line breaks are the description's own. */
    const char *description = "  web front end\nsecond line & <more>  ";
    define_ok(c, "web-1", UUID1, description);
    struct hv_vm *vm = get_config_ok(c, UUID1);
    assert_string_equal(vm->name, "web-1");
    assert_string_equal(vm->uuid, UUID1);
    assert_string_equal(vm->description, description);
    assert_int_equal(vm->vcpus, 2);
    assert_int_equal(vm->memory_kib, 1048576);
    assert_int_equal(vm->state, VDC_VM_SHUTOFF);
    assert_true(vm->persistent);
    assert_false(vm->autostart);
    assert_non_null(strstr(vm->domain_xml, "<domain"));
    hv_vm_free(vm);
}

static void test_no_description_is_null(void **state)
{
    struct hv_conn *c = *state;
    define_ok(c, "plain", UUID1, NULL);
    struct hv_vm *vm = get_config_ok(c, UUID1);
    assert_null(vm->description);
    hv_vm_free(vm);
}

static void test_hostile_name_survives(void **state)
{
    struct hv_conn *c = *state;
    const char *name = "a<b>&c'd\"e]]>f";
    define_ok(c, name, UUID1, "</description><evil/>");
    struct hv_vm *vm = get_config_ok(c, UUID1);
    assert_string_equal(vm->name, name);
    assert_string_equal(vm->description, "</description><evil/>");
    hv_vm_free(vm);
}

static void test_redefine_changes_config_not_running_vm(void **state)
{
    struct hv_conn *c = *state;
    define_ok(c, "web-1", UUID1, "old");
    power_ok(c, UUID1, HV_POWER_START);
    define_ok(c, "web-1", UUID1, "new");
    /* get_vm_config is the next boot's; get_vm what runs now. */
    struct hv_vm *config = get_config_ok(c, UUID1), *live = get_ok(c, UUID1);
    assert_string_equal(config->description, "new");
    assert_string_equal(live->description, "old");
    assert_int_equal(config->state, VDC_VM_RUNNING);
    hv_vm_free(config);
    hv_vm_free(live);
}

static void test_define_bad_xml(void **state)
{
    g_autofree char *err = NULL;
    assert_int_equal(ops->define_vm(*state, "<domain type='test'><name>x</nam", &err), -1);
    assert_one_line(err);
    g_autofree char *err2 = NULL;
    /* A name clash: same name, another uuid. */
    define_ok(*state, "web-1", UUID1, NULL);
    g_autofree char *xml = domain_xml("web-1", UUID2, NULL);
    assert_int_equal(ops->define_vm(*state, xml, &err2), -1);
    assert_one_line(err2);
}

static void test_config_of_missing_vm(void **state)
{
    struct hv_vm *vm = NULL;
    char *err = NULL;
    assert_int_equal(ops->get_vm_config(*state, MISSING_UUID, &vm, &err), 1);
    assert_null(vm);
    assert_null(err);
}

/* --- power ------------------------------------------------------------------ */

static void test_power_moves_state(void **state)
{
    struct hv_conn *c = *state;
    define_ok(c, "web-1", UUID1, NULL);
    assert_state(c, UUID1, VDC_VM_SHUTOFF);
    power_ok(c, UUID1, HV_POWER_START);
    assert_state(c, UUID1, VDC_VM_RUNNING);
    power_ok(c, UUID1, HV_POWER_SUSPEND);
    assert_state(c, UUID1, VDC_VM_PAUSED);
    power_ok(c, UUID1, HV_POWER_RESUME);
    assert_state(c, UUID1, VDC_VM_RUNNING);
    /* The test driver reboots at once: running again. */
    power_ok(c, UUID1, HV_POWER_REBOOT);
    assert_state(c, UUID1, VDC_VM_RUNNING);
    /* ... and its guests obey ACPI at once. */
    power_ok(c, UUID1, HV_POWER_SHUTDOWN);
    assert_state(c, UUID1, VDC_VM_SHUTOFF);
    /* The test driver starts nothing paused (libvirt 9.0 and later: its
     * virDomainCreateWithFlags takes no flags).  The op says so and the VM
     * stays off; a driver that can, pauses it. */
    g_autofree char *err = NULL;
    if (ops->power(c, UUID1, HV_POWER_START_PAUSED, &err) == 0) {
        assert_state(c, UUID1, VDC_VM_PAUSED);
    } else {
        assert_one_line(err);
        assert_non_null(strstr(err, "start-paused"));
        assert_state(c, UUID1, VDC_VM_SHUTOFF);
        power_ok(c, UUID1, HV_POWER_START);
        power_ok(c, UUID1, HV_POWER_SUSPEND);
    }
    /* Destroy works on a paused VM... */
    power_ok(c, UUID1, HV_POWER_DESTROY);
    assert_state(c, UUID1, VDC_VM_SHUTOFF);
    /* ... and on a running one. */
    power_ok(c, UUID1, HV_POWER_START);
    power_ok(c, UUID1, HV_POWER_DESTROY);
    assert_state(c, UUID1, VDC_VM_SHUTOFF);
}

static void test_power_refused(void **state)
{
    struct hv_conn *c = *state;
    define_ok(c, "web-1", UUID1, NULL);
    power_fails(c, UUID1, HV_POWER_RESUME);   /* not running */
    power_fails(c, UUID1, HV_POWER_SHUTDOWN); /* not running */
    power_ok(c, UUID1, HV_POWER_START);
    power_fails(c, UUID1, HV_POWER_START); /* already running */
    power_fails(c, MISSING_UUID, HV_POWER_START);
    power_fails(c, UUID1, (enum hv_power_action)0);
    power_fails(c, UUID1, (enum hv_power_action)99);
    assert_state(c, UUID1, VDC_VM_RUNNING);
}

static void test_events_reach_the_sink(void **state)
{
    struct hv_conn *c = *state;
    int before = g_atomic_int_get(&vm_changes);
    define_ok(c, "web-1", UUID1, NULL);
    power_ok(c, UUID1, HV_POWER_START);
    /* Delivered on libvirt's event thread, soon but not at once. */
    for (int i = 0; i < 500 && g_atomic_int_get(&vm_changes) == before; i++)
        g_usleep(10000);
    assert_true(g_atomic_int_get(&vm_changes) > before);
    assert_int_equal(g_atomic_int_get(&losses), 0);
}

/* --- autostart and live changes ---------------------------------------------- */

static void test_autostart(void **state)
{
    struct hv_conn *c = *state;
    define_ok(c, "web-1", UUID1, NULL);
    g_autofree char *err = NULL;
    assert_int_equal(ops->set_autostart(c, UUID1, true, &err), 0);
    struct hv_vm *vm = get_ok(c, UUID1);
    assert_true(vm->autostart);
    hv_vm_free(vm);
    assert_int_equal(ops->set_autostart(c, UUID1, false, &err), 0);
    vm = get_ok(c, UUID1);
    assert_false(vm->autostart);
    hv_vm_free(vm);
    assert_null(err);
    assert_int_equal(ops->set_autostart(c, MISSING_UUID, true, &err), -1);
    assert_one_line(err);
}

static void test_vcpus_live(void **state)
{
    struct hv_conn *c = *state;
    define_ok(c, "web-1", UUID1, NULL);
    power_ok(c, UUID1, HV_POWER_START);
    g_autofree char *err = NULL;
    assert_int_equal(ops->set_vcpus_live(c, UUID1, 3, &err), 0);
    assert_null(err);
    struct hv_vm *vm = get_ok(c, UUID1);
    assert_int_equal(vm->vcpus, 3);
    hv_vm_free(vm);
    /* Beyond the VM's maximum of 4. */
    assert_int_equal(ops->set_vcpus_live(c, UUID1, 8, &err), -1);
    assert_one_line(err);
    vm = get_ok(c, UUID1);
    assert_int_equal(vm->vcpus, 3);
    hv_vm_free(vm);
    /* The definition is not what changed. */
    vm = get_config_ok(c, UUID1);
    assert_int_equal(vm->vcpus, 2);
    hv_vm_free(vm);
}

static void test_vcpus_live_on_shut_off_vm(void **state)
{
    struct hv_conn *c = *state;
    define_ok(c, "web-1", UUID1, NULL);
    g_autofree char *err = NULL;
    assert_int_equal(ops->set_vcpus_live(c, UUID1, 3, &err), -1);
    assert_one_line(err);
}

static void test_memory_live(void **state)
{
    struct hv_conn *c = *state;
    define_ok(c, "web-1", UUID1, NULL);
    power_ok(c, UUID1, HV_POWER_START);
    g_autofree char *err = NULL;
    assert_int_equal(ops->set_memory_live(c, UUID1, 786432, &err), 0);
    assert_null(err);
    struct hv_vm *vm = get_ok(c, UUID1);
    g_autofree char *now = xml_value(vm->domain_xml, "string(/domain/currentMemory)");
    assert_string_equal(now, "786432");
    hv_vm_free(vm);
    /* Beyond the VM's maximum of 1 GiB. */
    assert_int_equal(ops->set_memory_live(c, UUID1, 2097152, &err), -1);
    assert_one_line(err);
    vm = get_ok(c, UUID1);
    g_autofree char *still = xml_value(vm->domain_xml, "string(/domain/currentMemory)");
    assert_string_equal(still, "786432");
    hv_vm_free(vm);
}

/* --- volumes ------------------------------------------------------------------ */

static void test_ensure_volume(void **state)
{
    struct hv_conn *c = *state;
    const char *name = "data<1>&'\".img"; /* markup stays in the name */
    g_autofree char *err = NULL;
    assert_int_equal(ops->ensure_volume(c, POOL, name, 10 * 1024 * 1024, &err), 0);
    assert_null(err);
    struct hv_volume *v = find_volume(c, POOL, name);
    assert_non_null(v);
    assert_int_equal(v->capacity, 10 * 1024 * 1024);
    hv_volume_free(v);
    /* Again: it is there, whatever size is asked for now. */
    assert_int_equal(ops->ensure_volume(c, POOL, name, 1, &err), 1);
    assert_null(err);
}

static void test_ensure_volume_missing_pool(void **state)
{
    g_autofree char *err = NULL;
    assert_int_equal(ops->ensure_volume(*state, "no-such-pool", "x.img", 1024, &err), -1);
    assert_one_line(err);
}

/* --- undefine ----------------------------------------------------------------- */

static void test_undefine_shut_off(void **state)
{
    struct hv_conn *c = *state;
    define_ok(c, "web-1", UUID1, NULL);
    g_autofree char *err = NULL;
    assert_int_equal(ops->undefine_vm(c, UUID1, &err), 0);
    assert_null(err);
    struct hv_vm *vm = NULL;
    assert_int_equal(ops->get_vm_config(c, UUID1, &vm, &err), 1);
    assert_null(vm);
    assert_int_equal(ops->get_vm(c, UUID1, NULL, &vm, &err), 1);
    assert_null(err);
    /* Undefining what is not there is an error, with a message. */
    assert_int_equal(ops->undefine_vm(c, UUID1, &err), -1);
    assert_one_line(err);
}

/* libvirt undefines a running VM too: it goes on running, transient, and
 * is gone when it stops.  The op reports that as success, and get_vm and
 * get_vm_config both show the VM as running and no longer persistent. */
static void test_undefine_running(void **state)
{
    struct hv_conn *c = *state;
    define_ok(c, "web-1", UUID1, NULL);
    power_ok(c, UUID1, HV_POWER_START);
    g_autofree char *err = NULL;
    assert_int_equal(ops->undefine_vm(c, UUID1, &err), 0);
    assert_null(err);
    struct hv_vm *vm = get_ok(c, UUID1);
    assert_int_equal(vm->state, VDC_VM_RUNNING);
    assert_false(vm->persistent);
    hv_vm_free(vm);
    vm = get_config_ok(c, UUID1);
    assert_false(vm->persistent);
    hv_vm_free(vm);
    power_ok(c, UUID1, HV_POWER_DESTROY);
    assert_int_equal(ops->get_vm_config(c, UUID1, &vm, &err), 1);
    assert_int_equal(ops->get_vm(c, UUID1, NULL, &vm, &err), 1);
    assert_null(err);
}

/* --- guest filesystems ------------------------------------------------------ */

static void freeze_ok(struct hv_conn *c, const char *uuid)
{
    g_autofree char *err = NULL;
    if (ops->fs_freeze(c, uuid, &err) != 0)
        fail_msg("fs_freeze: %s", err);
    assert_null(err);
}

static void thaw_ok(struct hv_conn *c, const char *uuid)
{
    g_autofree char *err = NULL;
    if (ops->fs_thaw(c, uuid, &err) != 0)
        fail_msg("fs_thaw: %s", err);
    assert_null(err);
}

/* The test driver pretends a guest agent: a running VM freezes (libvirt
 * counts 2 filesystems) and thaws.  Freezing what is frozen counts 0,
 * which is success too. */
static void test_freeze_thaw_running(void **state)
{
    struct hv_conn *c = *state;
    define_ok(c, "web-1", UUID1, NULL);
    power_ok(c, UUID1, HV_POWER_START);
    freeze_ok(c, UUID1);
    freeze_ok(c, UUID1);
    thaw_ok(c, UUID1);
    thaw_ok(c, UUID1);
    assert_state(c, UUID1, VDC_VM_RUNNING);
}

/* A paused VM is still active: the test driver freezes and thaws it. */
static void test_freeze_thaw_paused(void **state)
{
    struct hv_conn *c = *state;
    define_ok(c, "web-1", UUID1, NULL);
    power_ok(c, UUID1, HV_POWER_START);
    power_ok(c, UUID1, HV_POWER_SUSPEND);
    freeze_ok(c, UUID1);
    thaw_ok(c, UUID1);
    assert_state(c, UUID1, VDC_VM_PAUSED);
}

/* A shut-off VM: the test driver says VIR_ERR_OPERATION_INVALID ("domain
 * is not running"), a "cannot do it here", so fs_freeze returns 1 (the
 * caller falls back), with the message.  fs_thaw has no such case: -1. */
static void test_freeze_shut_off(void **state)
{
    struct hv_conn *c = *state;
    define_ok(c, "web-1", UUID1, NULL);
    g_autofree char *err = NULL;
    assert_int_equal(ops->fs_freeze(c, UUID1, &err), 1);
    assert_one_line(err);
    assert_non_null(strstr(err, "not running"));
    g_autofree char *err2 = NULL;
    assert_int_equal(ops->fs_thaw(c, UUID1, &err2), -1);
    assert_one_line(err2);
}

static void test_freeze_missing_vm(void **state)
{
    g_autofree char *err = NULL;
    assert_int_equal(ops->fs_freeze(*state, MISSING_UUID, &err), -1);
    assert_one_line(err);
    g_autofree char *err2 = NULL;
    assert_int_equal(ops->fs_thaw(*state, MISSING_UUID, &err2), -1);
    assert_one_line(err2);
}

/* --- hypervisor snapshots ----------------------------------------------------- */

static void snapshot_ok(struct hv_conn *c, const char *uuid, const char *name, bool quiesce)
{
    g_autofree char *err = NULL;
    g_autofree char *xml = NULL;
    if (ops->snapshot_create(c, uuid, name, quiesce, &xml, &err) != 0)
        fail_msg("snapshot_create %s: %s", name, err);
    assert_null(err);
    assert_non_null(xml);
    g_autofree char *got = xml_value(xml, "string(/domainsnapshot/name)");
    assert_string_equal(got, name);
}

static gint by_string(gconstpointer a, gconstpointer b)
{
    /* g_ptr_array_sort hands over pointers to the elements. */
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The VM's snapshot names, sorted. */
static GPtrArray *snapshots_of(struct hv_conn *c, const char *uuid)
{
    GPtrArray *names = NULL;
    g_autofree char *err = NULL;
    if (ops->snapshot_list(c, uuid, &names, &err) != 0)
        fail_msg("snapshot_list: %s", err);
    assert_null(err);
    g_ptr_array_sort(names, by_string);
    return names;
}

/* A name with markup in it is a name, not XML; the test driver snapshots a
 * running VM (memory and all). */
static void test_snapshot_hostile_name(void **state)
{
    struct hv_conn *c = *state;
    const char *name = "a'b\"<c>&d";
    define_ok(c, "web-1", UUID1, NULL);
    power_ok(c, UUID1, HV_POWER_START);
    g_autofree char *err = NULL;
    g_autofree char *xml = NULL;
    assert_int_equal(ops->snapshot_create(c, UUID1, name, false, &xml, &err), 0);
    assert_null(err);
    g_autofree char *got = xml_value(xml, "string(/domainsnapshot/name)");
    assert_string_equal(got, name);
    g_autofree char *was = xml_value(xml, "string(/domainsnapshot/state)");
    assert_string_equal(was, "running");
    GPtrArray *names = snapshots_of(c, UUID1);
    assert_int_equal(names->len, 1);
    assert_string_equal(g_ptr_array_index(names, 0), name);
    g_ptr_array_free(names, TRUE);
    assert_state(c, UUID1, VDC_VM_RUNNING);
}

/* The test driver takes the quiesce flag (and ignores it), running or
 * not; the same name twice is an error. */
static void test_snapshot_quiesce_and_clash(void **state)
{
    struct hv_conn *c = *state;
    define_ok(c, "web-1", UUID1, NULL);
    snapshot_ok(c, UUID1, "off", true);
    power_ok(c, UUID1, HV_POWER_START);
    snapshot_ok(c, UUID1, "on", true);
    g_autofree char *err = NULL;
    char *xml = NULL;
    assert_int_equal(ops->snapshot_create(c, UUID1, "on", false, &xml, &err), -1);
    assert_null(xml);
    assert_one_line(err);
    GPtrArray *names = snapshots_of(c, UUID1);
    assert_int_equal(names->len, 2);
    assert_string_equal(g_ptr_array_index(names, 0), "off");
    assert_string_equal(g_ptr_array_index(names, 1), "on");
    g_ptr_array_free(names, TRUE);
}

/* Reverting brings back the state the VM was in: running here. */
static void test_snapshot_revert(void **state)
{
    struct hv_conn *c = *state;
    define_ok(c, "web-1", UUID1, NULL);
    power_ok(c, UUID1, HV_POWER_START);
    snapshot_ok(c, UUID1, "s1", false);
    power_ok(c, UUID1, HV_POWER_DESTROY);
    assert_state(c, UUID1, VDC_VM_SHUTOFF);
    g_autofree char *err = NULL;
    assert_int_equal(ops->snapshot_revert(c, UUID1, "s1", &err), 0);
    assert_null(err);
    assert_state(c, UUID1, VDC_VM_RUNNING);
    /* No such snapshot: an error, with a message. */
    assert_int_equal(ops->snapshot_revert(c, UUID1, "s2", &err), -1);
    assert_one_line(err);
}

static void test_snapshot_delete(void **state)
{
    struct hv_conn *c = *state;
    define_ok(c, "web-1", UUID1, NULL);
    snapshot_ok(c, UUID1, "s1", false);
    snapshot_ok(c, UUID1, "s2", false);
    g_autofree char *err = NULL;
    assert_int_equal(ops->snapshot_delete(c, UUID1, "s1", &err), 0);
    assert_null(err);
    /* Gone: 1, and no message. */
    assert_int_equal(ops->snapshot_delete(c, UUID1, "s1", &err), 1);
    assert_null(err);
    GPtrArray *names = snapshots_of(c, UUID1);
    assert_int_equal(names->len, 1);
    assert_string_equal(g_ptr_array_index(names, 0), "s2");
    g_ptr_array_free(names, TRUE);
}

static void test_snapshot_list_empty(void **state)
{
    struct hv_conn *c = *state;
    define_ok(c, "web-1", UUID1, NULL);
    GPtrArray *names = snapshots_of(c, UUID1);
    assert_int_equal(names->len, 0);
    g_ptr_array_free(names, TRUE);
}

/* Every snapshot op on a VM that is not there: -1, with a message. */
static void test_snapshot_missing_vm(void **state)
{
    struct hv_conn *c = *state;
    g_autofree char *err = NULL;
    char *xml = NULL;
    assert_int_equal(ops->snapshot_create(c, MISSING_UUID, "s1", false, &xml, &err), -1);
    assert_null(xml);
    assert_one_line(err);
    g_autofree char *err2 = NULL;
    assert_int_equal(ops->snapshot_delete(c, MISSING_UUID, "s1", &err2), -1);
    assert_one_line(err2);
    g_autofree char *err3 = NULL;
    assert_int_equal(ops->snapshot_revert(c, MISSING_UUID, "s1", &err3), -1);
    assert_one_line(err3);
    g_autofree char *err4 = NULL;
    GPtrArray *names = NULL;
    assert_int_equal(ops->snapshot_list(c, MISSING_UUID, &names, &err4), -1);
    assert_null(names);
    assert_one_line(err4);
}

#define T(f) cmocka_unit_test_setup_teardown(f, open_conn, close_conn)

int main(void)
{
    g_autofree char *err = NULL;
    if (ops->global_init(&err) != 0) {
        fprintf(stderr, "global_init: %s\n", err);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_power_words),
        cmocka_unit_test(test_parse_description),
        T(test_host_info),
        T(test_define_then_config),
        T(test_no_description_is_null),
        T(test_hostile_name_survives),
        T(test_redefine_changes_config_not_running_vm),
        T(test_define_bad_xml),
        T(test_config_of_missing_vm),
        T(test_power_moves_state),
        T(test_power_refused),
        T(test_events_reach_the_sink),
        T(test_autostart),
        T(test_vcpus_live),
        T(test_vcpus_live_on_shut_off_vm),
        T(test_memory_live),
        T(test_ensure_volume),
        T(test_ensure_volume_missing_pool),
        T(test_undefine_shut_off),
        T(test_undefine_running),
        T(test_freeze_thaw_running),
        T(test_freeze_thaw_paused),
        T(test_freeze_shut_off),
        T(test_freeze_missing_vm),
        T(test_snapshot_hostile_name),
        T(test_snapshot_quiesce_and_clash),
        T(test_snapshot_revert),
        T(test_snapshot_delete),
        T(test_snapshot_list_empty),
        T(test_snapshot_missing_vm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
