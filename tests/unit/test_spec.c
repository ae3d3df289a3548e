/* test_spec.c — a VM's desired state (spec.h): parsing and checking
 * spec.json, its canonical JSON and the libvirt domain XML it stands for. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib.h>
#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <string.h>

#include "spec.h"

/* The example of the contract (spec.h). */
#define FULL                                                                                  \
    "{\"host\": \"beta\", \"vcpus\": 2, \"memory_mib\": 2048, \"state\": \"running\",\n"      \
    " \"autostart\": false, \"description\": \"web server\",\n"                               \
    " \"disks\": [{\"target\": \"vda\", \"pool\": \"default\", \"volume\": \"web-3.img\",\n"  \
    "            \"capacity_gib\": 20},\n"                                                    \
    "           {\"target\": \"vdb\", \"file\": \"/srv/images/x.img\"},\n"                    \
    "           {\"target\": \"vdc\", \"array\": \"array1\", \"lun\": 3}],\n"                 \
    " \"interfaces\": [{\"network\": \"default\"},\n"                                         \
    "                {\"bridge\": \"br0\", \"mac\": \"52:54:00:12:34:56\"}]}\n"

/* The smallest spec, with something appended before the closing brace. */
#define SMALL(rest) "{\"vcpus\": 1, \"memory_mib\": 1" rest "}"
/* A spec with one disk / one interface / a list of disks. */
#define DISK(d) SMALL(", \"disks\": [" d "]")
#define DISKS(d) SMALL(", \"disks\": [" d "]")
#define IFACE(i) SMALL(", \"interfaces\": [" i "]")

#define FD(t) "{\"target\": \"" t "\", \"file\": \"/x.img\"}"

static struct vdc_spec *parse_ok(const char *text)
{
    g_autoptr(GError) err = NULL;
    struct vdc_spec *spec = vdc_spec_parse(text, strlen(text), &err);
    if (!spec)
        fail_msg("spec refused (%s):\n%s", err ? err->message : "no message", text);
    assert_null(err);
    return spec;
}

static guint len_of(GPtrArray *a)
{
    return a ? a->len : 0;
}

static struct vdc_spec_disk *disk_at(struct vdc_spec *spec, guint i)
{
    assert_true(i < len_of(spec->disks));
    return g_ptr_array_index(spec->disks, i);
}

static struct vdc_spec_iface *iface_at(struct vdc_spec *spec, guint i)
{
    assert_true(i < len_of(spec->interfaces));
    return g_ptr_array_index(spec->interfaces, i);
}

/* ---------------------------------------------------------------------- */
/* Good specs                                                              */

static void test_minimal_defaults(void **state)
{
    (void)state;
    g_autoptr(vdc_spec) spec = parse_ok("{\"vcpus\": 1, \"memory_mib\": 512}");
    assert_null(spec->host);
    assert_int_equal(spec->vcpus, 1);
    assert_int_equal(spec->memory_mib, 512);
    assert_int_equal(spec->state, VDC_VM_RUNNING);
    assert_false(spec->autostart);
    assert_null(spec->description);
    assert_int_equal(len_of(spec->disks), 0);
    assert_int_equal(len_of(spec->interfaces), 0);
}

static void test_full_example(void **state)
{
    (void)state;
    g_autoptr(vdc_spec) spec = parse_ok(FULL);
    assert_string_equal(spec->host, "beta");
    assert_int_equal(spec->vcpus, 2);
    assert_int_equal(spec->memory_mib, 2048);
    assert_int_equal(spec->state, VDC_VM_RUNNING);
    assert_false(spec->autostart);
    assert_string_equal(spec->description, "web server");
    assert_int_equal(len_of(spec->disks), 3);

    struct vdc_spec_disk *d = disk_at(spec, 0);
    assert_string_equal(d->target, "vda");
    assert_int_equal(d->kind, VDC_SPEC_DISK_VOLUME);
    assert_string_equal(d->pool, "default");
    assert_string_equal(d->volume, "web-3.img");
    assert_int_equal(d->capacity_gib, 20);
    assert_null(d->file);
    assert_null(d->array);

    d = disk_at(spec, 1);
    assert_string_equal(d->target, "vdb");
    assert_int_equal(d->kind, VDC_SPEC_DISK_FILE);
    assert_string_equal(d->file, "/srv/images/x.img");
    assert_null(d->pool);
    assert_null(d->volume);
    assert_null(d->array);

    d = disk_at(spec, 2);
    assert_string_equal(d->target, "vdc");
    assert_int_equal(d->kind, VDC_SPEC_DISK_LUN);
    assert_string_equal(d->array, "array1");
    assert_int_equal(d->lun, 3);
    assert_null(d->pool);
    assert_null(d->file);

    assert_int_equal(len_of(spec->interfaces), 2);
    struct vdc_spec_iface *i = iface_at(spec, 0);
    assert_string_equal(i->network, "default");
    assert_null(i->bridge);
    assert_null(i->mac);
    i = iface_at(spec, 1);
    assert_null(i->network);
    assert_string_equal(i->bridge, "br0");
    assert_string_equal(i->mac, "52:54:00:12:34:56");
}

static void test_states_and_autostart(void **state)
{
    (void)state;
    static const struct {
        const char *word;
        enum vdc_vm_state want;
    } st[] = {{"running", VDC_VM_RUNNING}, {"paused", VDC_VM_PAUSED}, {"shutoff", VDC_VM_SHUTOFF}};
    for (size_t i = 0; i < G_N_ELEMENTS(st); i++) {
        g_autofree char *text = g_strdup_printf(
            "{\"state\": \"%s\", \"autostart\": true, \"vcpus\": 3, \"memory_mib\": 4}", st[i].word);
        g_autoptr(vdc_spec) spec = parse_ok(text);
        assert_int_equal(spec->state, st[i].want);
        assert_true(spec->autostart);
    }
}

/* Values at the limits, and shapes that look odd but are allowed. */
static void test_bounds_accepted(void **state)
{
    (void)state;
    static const char *ok[] = {
        "{\"vcpus\": 4096, \"memory_mib\": 16777216}",
        "{\"memory_mib\": 1, \"vcpus\": 1}",
        SMALL(", \"host\": \"a\""),
        SMALL(", \"host\": \"A.b-c_9\""),
        SMALL(", \"host\": \"hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh\""),
        SMALL(", \"host\": \"a..b\""),
        SMALL(", \"description\": \"\""),
        SMALL(", \"description\": \"multi\\nline \\u00e9 <xml> & 'q' \\\"dq\\\"\""),
        SMALL(", \"disks\": [], \"interfaces\": []"),
        SMALL(", \"autostart\": false"),
        /* what the canonical JSON writes for "absent" reads back */
        SMALL(", \"host\": null, \"description\": null"),
        IFACE("{\"network\": \"n\", \"mac\": null}"),
        DISK("{\"target\": \"vda\", \"pool\": \"p\", \"volume\": \"v\", \"capacity_gib\": 65536}"),
        DISK("{\"target\": \"vda\", \"pool\": \"p\", \"volume\": \"v\", \"capacity_gib\": 1}"),
        DISK("{\"target\": \"vda\", \"pool\": \"p\", \"volume\": \"v\"}"),
        DISK("{\"target\": \"sda\", \"array\": \"a\", \"lun\": 0}"),
        DISK("{\"target\": \"sda\", \"array\": \"a\", \"lun\": 16383}"),
        DISK("{\"lun\": 5, \"array\": \"a\", \"target\": \"sdz\"}"),
        DISKS(FD("vda") ", " FD("sdb") ", " FD("hdc") ", " FD("xvdabc") ", " FD("vdzz")),
        DISK("{\"target\": \"vda\", \"file\": \"/srv/a..b/..x/x..\"}"),
        DISK("{\"target\": \"vda\", \"file\": \"/srv/with space/x.img\"}"),
        IFACE("{\"network\": \"default\", \"mac\": \"52:54:00:AB:cd:Ef\"}"),
        IFACE("{\"bridge\": \"br0\", \"mac\": \"02:00:00:00:00:00\"}"),
        IFACE("{\"bridge\": \"br0\", \"mac\": \"fe:ff:ff:ff:ff:ff\"}"),
        IFACE("{\"network\": \"n\"}, {\"network\": \"n\"}"),
        IFACE("{\"network\": \"n\", \"mac\": \"52:54:00:00:00:01\"}, "
              "{\"network\": \"n\", \"mac\": \"52:54:00:00:00:02\"}"),
    };
    unsigned failures = 0;
    for (size_t i = 0; i < G_N_ELEMENTS(ok); i++) {
        g_autoptr(GError) err = NULL;
        struct vdc_spec *spec = vdc_spec_parse(ok[i], strlen(ok[i]), &err);
        if (!spec) {
            print_error("ok[%zu] refused (%s): %s\n", i, err ? err->message : "no message", ok[i]);
            failures++;
        }
        vdc_spec_free(spec);
    }
    if (failures)
        fail_msg("%u of %zu good specs refused", failures, G_N_ELEMENTS(ok));
}

static void test_limits_values(void **state)
{
    (void)state;
    g_autoptr(vdc_spec) spec = parse_ok("{\"vcpus\": 4096, \"memory_mib\": 16777216}");
    assert_int_equal(spec->vcpus, VDC_SPEC_MAX_VCPUS);
    assert_true(spec->memory_mib == VDC_SPEC_MAX_MEMORY_MIB);
    g_autoptr(vdc_spec) lun = parse_ok(DISK("{\"target\": \"sda\", \"array\": \"a\", \"lun\": 16383}"));
    assert_int_equal(disk_at(lun, 0)->lun, 16383);
    g_autoptr(vdc_spec) cap = parse_ok(
        DISK("{\"target\": \"vda\", \"pool\": \"p\", \"volume\": \"v\", \"capacity_gib\": 65536}"));
    assert_int_equal(disk_at(cap, 0)->capacity_gib, VDC_SPEC_MAX_CAPACITY_GIB);
    g_autoptr(vdc_spec) nocap = parse_ok(DISK("{\"target\": \"vda\", \"pool\": \"p\", \"volume\": \"v\"}"));
    assert_int_equal(disk_at(nocap, 0)->capacity_gib, 0);
}

/* Only @len bytes are JSON: what follows is not looked at. */
static void test_len_respected(void **state)
{
    (void)state;
    const char *text = "{\"vcpus\": 2, \"memory_mib\": 3}garbage{{{";
    size_t len = strlen("{\"vcpus\": 2, \"memory_mib\": 3}");
    g_autoptr(GError) err = NULL;
    g_autoptr(vdc_spec) spec = vdc_spec_parse(text, len, &err);
    if (!spec)
        fail_msg("refused: %s", err ? err->message : "no message");
    assert_int_equal(spec->vcpus, 2);

    /* and a buffer cut short is not read past */
    g_autoptr(GError) err2 = NULL;
    struct vdc_spec *cut = vdc_spec_parse(text, len - 1, &err2);
    assert_null(cut);
    assert_non_null(err2);
}

/* The largest lists allowed, and one more. */
static char *many_disks(unsigned n)
{
    GString *s = g_string_new("{\"vcpus\": 1, \"memory_mib\": 1, \"disks\": [");
    for (unsigned i = 0; i < n; i++) {
        /* vda.. vdz, vdaa.. */
        char t[8];
        if (i < 26)
            g_snprintf(t, sizeof t, "vd%c", 'a' + i);
        else
            g_snprintf(t, sizeof t, "vd%c%c", 'a' + i / 26 - 1, 'a' + i % 26);
        g_string_append_printf(s, "%s{\"target\": \"%s\", \"file\": \"/d/%u\"}", i ? ", " : "", t, i);
    }
    g_string_append(s, "]}");
    return g_string_free(s, FALSE);
}

static char *many_ifaces(unsigned n)
{
    GString *s = g_string_new("{\"vcpus\": 1, \"memory_mib\": 1, \"interfaces\": [");
    for (unsigned i = 0; i < n; i++)
        g_string_append_printf(s, "%s{\"network\": \"n%u\", \"mac\": \"52:54:00:00:01:%02x\"}",
                               i ? ", " : "", i, i);
    g_string_append(s, "]}");
    return g_string_free(s, FALSE);
}

static void expect_refused(const char *text, size_t len, const char *want, const char *what)
{
    g_autoptr(GError) err = NULL;
    struct vdc_spec *spec = vdc_spec_parse(text, len, &err);
    if (spec) {
        vdc_spec_free(spec);
        fail_msg("%s was accepted", what);
    }
    if (!err)
        fail_msg("%s refused without a message", what);
    if (want && !strstr(err->message, want))
        fail_msg("%s: message \"%s\" lacks \"%s\"", what, err->message, want);
    if (strchr(err->message, '\n'))
        fail_msg("%s: message \"%s\" is not one line", what, err->message);
}

static void test_list_limits(void **state)
{
    (void)state;
    g_autofree char *d64 = many_disks(VDC_SPEC_MAX_DISKS);
    g_autoptr(vdc_spec) s64 = parse_ok(d64);
    assert_int_equal(len_of(s64->disks), 64);
    g_autofree char *d65 = many_disks(VDC_SPEC_MAX_DISKS + 1);
    expect_refused(d65, strlen(d65), "disks", "65 disks");

    g_autofree char *i32 = many_ifaces(VDC_SPEC_MAX_INTERFACES);
    g_autoptr(vdc_spec) s32 = parse_ok(i32);
    assert_int_equal(len_of(s32->interfaces), 32);
    g_autofree char *i33 = many_ifaces(VDC_SPEC_MAX_INTERFACES + 1);
    expect_refused(i33, strlen(i33), "interfaces", "33 interfaces");
}

static void test_description_limit(void **state)
{
    (void)state;
    g_autofree char *fill = g_strnfill(VDC_SPEC_MAX_DESCRIPTION, 'x');
    g_autofree char *ok = g_strdup_printf(SMALL(", \"description\": \"%s\""), fill);
    g_autoptr(vdc_spec) spec = parse_ok(ok);
    assert_int_equal(strlen(spec->description), VDC_SPEC_MAX_DESCRIPTION);

    g_autofree char *over = g_strdup_printf(SMALL(", \"description\": \"%sx\""), fill);
    expect_refused(over, strlen(over), "description", "4097-byte description");

    /* bytes, not characters: 2049 two-byte characters are 4098 bytes */
    GString *s = g_string_new(NULL);
    for (int i = 0; i < 2049; i++)
        g_string_append(s, "\xc3\xa9");
    g_autofree char *wide_fill = g_string_free(s, FALSE);
    g_autofree char *wide = g_strdup_printf(SMALL(", \"description\": \"%s\""), wide_fill);
    expect_refused(wide, strlen(wide), "description", "4098-byte (2049-character) description");
}

/* ---------------------------------------------------------------------- */
/* Bad specs                                                               */

/* want: a substring of the message; "a|b" means either; "" any message.
 * want2: a second substring, or NULL. */
static const struct {
    const char *text;
    const char *want, *want2;
} bad[] = {
    /* not JSON: "line N:" first */
    {"{\n\"vcpus\": 1,\n\"memory_mib\": 2,\n}", "line 4:", NULL},
    {"{\"vcpus\": 1, \"memory_mib\": 1} trailing", "line 1:", NULL},
    {"", "line ", NULL},
    {"{'vcpus': 1, 'memory_mib': 1}", "line 1:", NULL},
    {"{\"vcpus\": 1,\n\n \"memory_mib\": 1", "line ", NULL},
    /* the top level */
    {"[]", "must be a JSON object", NULL},
    {"[{\"vcpus\": 1, \"memory_mib\": 1}]", "must be a JSON object", NULL},
    {SMALL(", \"bogus\": 1"), "unknown key \"bogus\"", NULL},
    {SMALL(", \"Vcpus\": 1"), "unknown key \"Vcpus\"", NULL},
    {SMALL(", \"name\": \"web\""), "unknown key \"name\"", NULL},
    {"{\"memory_mib\": 1}", "vcpus", NULL},
    {"{\"vcpus\": 1}", "memory_mib", NULL},
    {"{}", "vcpus|memory_mib", NULL},
    /* vcpus */
    {"{\"vcpus\": 0, \"memory_mib\": 1}", "vcpus", NULL},
    {"{\"vcpus\": 4097, \"memory_mib\": 1}", "vcpus", NULL},
    {"{\"vcpus\": -1, \"memory_mib\": 1}", "vcpus", NULL},
    {"{\"vcpus\": 4294967297, \"memory_mib\": 1}", "vcpus", NULL},
    {"{\"vcpus\": \"2\", \"memory_mib\": 1}", "vcpus", NULL},
    {"{\"vcpus\": true, \"memory_mib\": 1}", "vcpus", NULL},
    {"{\"vcpus\": 2.0, \"memory_mib\": 1}", "vcpus", NULL},
    {"{\"vcpus\": 1.5, \"memory_mib\": 1}", "vcpus", NULL},
    {"{\"vcpus\": null, \"memory_mib\": 1}", "vcpus", NULL},
    {"{\"vcpus\": [1], \"memory_mib\": 1}", "vcpus", NULL},
    /* memory_mib */
    {"{\"vcpus\": 1, \"memory_mib\": 0}", "memory_mib", NULL},
    {"{\"vcpus\": 1, \"memory_mib\": 16777217}", "memory_mib", NULL},
    {"{\"vcpus\": 1, \"memory_mib\": -2048}", "memory_mib", NULL},
    {"{\"vcpus\": 1, \"memory_mib\": 9223372036854775807}", "memory_mib", NULL},
    {"{\"vcpus\": 1, \"memory_mib\": \"2048\"}", "memory_mib", NULL},
    {"{\"vcpus\": 1, \"memory_mib\": false}", "memory_mib", NULL},
    {"{\"vcpus\": 1, \"memory_mib\": 1024.5}", "memory_mib", NULL},
    /* state */
    {SMALL(", \"state\": \"stopped\""), "state", NULL},
    {SMALL(", \"state\": \"Running\""), "state", NULL},
    {SMALL(", \"state\": \"crashed\""), "state", NULL},
    {SMALL(", \"state\": \"\""), "state", NULL},
    {SMALL(", \"state\": 1"), "state", NULL},
    {SMALL(", \"state\": null"), "state", NULL},
    {SMALL(", \"state\": \"run\\nning\""), "state", NULL},
    /* autostart */
    {SMALL(", \"autostart\": \"true\""), "autostart", NULL},
    {SMALL(", \"autostart\": 1"), "autostart", NULL},
    {SMALL(", \"autostart\": null"), "autostart", NULL},
    /* description */
    {SMALL(", \"description\": 5"), "description", NULL},
    {SMALL(", \"description\": [\"a\"]"), "description", NULL},
    /* host */
    {SMALL(", \"host\": \"\""), "host", NULL},
    {SMALL(", \"host\": \".x\""), "host", NULL},
    {SMALL(", \"host\": \"..\""), "host", NULL},
    {SMALL(", \"host\": \"a/b\""), "host", NULL},
    {SMALL(", \"host\": \"a b\""), "host", NULL},
    {SMALL(", \"host\": \"a@b\""), "host", NULL},
    {SMALL(", \"host\": \"h\\u00e9\""), "host", NULL},
    {SMALL(", \"host\": \"a\\nb\""), "host", NULL},
    {SMALL(", \"host\": \"hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh\""), "host",
     NULL},
    {SMALL(", \"host\": 7"), "host", NULL},
    /* disks: the list */
    {SMALL(", \"disks\": {}"), "disks", NULL},
    {SMALL(", \"disks\": \"vda\""), "disks", NULL},
    {DISK("\"vda\""), "disks[0]", NULL},
    {DISK(FD("vda") ", 3"), "disks[1]", NULL},
    /* disks: keys */
    {DISK("{\"target\": \"vda\", \"file\": \"/x\", \"size\": 1}"), "disks[0]: unknown key \"size\"",
     NULL},
    {DISKS(FD("vda") ", {\"target\": \"vdb\", \"file\": \"/x\", \"size\": 1}"),
     "disks[1]: unknown key \"size\"", NULL},
    {DISK("{\"target\": \"vda\", \"file\": \"/x\", \"bus\": \"virtio\"}"), "unknown key \"bus\"",
     "disks[0]"},
    /* disks: target */
    {DISK("{\"file\": \"/x\"}"), "disks[0]", "target"},
    {DISK("{\"target\": \"vd\", \"file\": \"/x\"}"), "disks[0]", "target"},
    {DISK("{\"target\": \"vdaaaa\", \"file\": \"/x\"}"), "disks[0]", "target"},
    {DISK("{\"target\": \"VDA\", \"file\": \"/x\"}"), "disks[0]", "target"},
    {DISK("{\"target\": \"vda1\", \"file\": \"/x\"}"), "disks[0]", "target"},
    {DISK("{\"target\": \"fda\", \"file\": \"/x\"}"), "disks[0]", "target"},
    {DISK("{\"target\": \"nvme0n1\", \"file\": \"/x\"}"), "disks[0]", "target"},
    {DISK("{\"target\": \"xvda\\n\", \"file\": \"/x\"}"), "disks[0]", "target"},
    {DISK("{\"target\": \" vda\", \"file\": \"/x\"}"), "disks[0]", "target"},
    {DISK("{\"target\": \"vd\\ra\", \"file\": \"/x\"}"), "disks[0]", "target"},
    {DISK("{\"target\": 1, \"file\": \"/x\"}"), "disks[0]", "target"},
    {DISKS(FD("vda") ", " FD("vdb") ", " FD("vda")), "twice|duplicate", "vda"},
    /* disks: the kind */
    {DISK("{\"target\": \"vda\"}"), "disks[0]", NULL},
    {DISK("{\"target\": \"vda\", \"pool\": \"p\"}"), "disks[0]", "volume"},
    {DISK("{\"target\": \"vda\", \"volume\": \"v\"}"), "disks[0]", "pool"},
    {DISK("{\"target\": \"vda\", \"pool\": \"p\", \"volume\": \"v\", \"file\": \"/x\"}"), "disks[0]",
     NULL},
    {DISK("{\"target\": \"vda\", \"file\": \"/x\", \"array\": \"a\", \"lun\": 1}"), "disks[0]", NULL},
    {DISK("{\"target\": \"vda\", \"pool\": \"p\", \"volume\": \"v\", \"array\": \"a\", \"lun\": 1}"),
     "disks[0]", NULL},
    {DISK("{\"target\": \"vda\", \"file\": \"/x\", \"pool\": \"p\"}"), "disks[0]", NULL},
    {DISK("{\"target\": \"vda\", \"array\": \"a\"}"), "disks[0]", "lun"},
    {DISK("{\"target\": \"vda\", \"lun\": 1}"), "disks[0]", "array"},
    {DISK("{\"target\": \"vda\", \"file\": \"/x\", \"lun\": 1}"), "disks[0]", NULL},
    /* disks: capacity_gib */
    {DISK("{\"target\": \"vda\", \"file\": \"/x\", \"capacity_gib\": 5}"), "disks[0]", "capacity_gib"},
    {DISK("{\"target\": \"vda\", \"array\": \"a\", \"lun\": 1, \"capacity_gib\": 5}"), "disks[0]",
     "capacity_gib"},
    {DISK("{\"target\": \"vda\", \"pool\": \"p\", \"volume\": \"v\", \"capacity_gib\": 0}"),
     "disks[0]", "capacity_gib"},
    {DISK("{\"target\": \"vda\", \"pool\": \"p\", \"volume\": \"v\", \"capacity_gib\": 65537}"),
     "disks[0]", "capacity_gib"},
    {DISK("{\"target\": \"vda\", \"pool\": \"p\", \"volume\": \"v\", \"capacity_gib\": -1}"),
     "disks[0]", "capacity_gib"},
    {DISK("{\"target\": \"vda\", \"pool\": \"p\", \"volume\": \"v\", \"capacity_gib\": \"20\"}"),
     "disks[0]", "capacity_gib"},
    {DISK("{\"target\": \"vda\", \"pool\": \"p\", \"volume\": \"v\", \"capacity_gib\": 2.5}"),
     "disks[0]", "capacity_gib"},
    {DISK("{\"target\": \"vda\", \"pool\": \"p\", \"volume\": \"v\", \"capacity_gib\": 4294967297}"),
     "disks[0]", "capacity_gib"},
    /* disks: file */
    {DISK("{\"target\": \"vda\", \"file\": \"x.img\"}"), "disks[0]", "file"},
    {DISK("{\"target\": \"vda\", \"file\": \"\"}"), "disks[0]", "file"},
    {DISK("{\"target\": \"vda\", \"file\": \"/srv/../etc/shadow\"}"), "disks[0]", "file"},
    {DISK("{\"target\": \"vda\", \"file\": \"/srv/..\"}"), "disks[0]", "file"},
    {DISK("{\"target\": \"vda\", \"file\": \"/..\"}"), "disks[0]", "file"},
    {DISK("{\"target\": \"vda\", \"file\": \"/srv//../x\"}"), "disks[0]", "file"},
    {DISK("{\"target\": \"vda\", \"file\": 5}"), "disks[0]", "file"},
    {DISK("{\"target\": \"vda\", \"file\": \"./x.img\"}"), "disks[0]", "file"},
    /* disks: pool, volume, array, lun */
    {DISK("{\"target\": \"vda\", \"pool\": \"\", \"volume\": \"v\"}"), "disks[0]", "pool"},
    {DISK("{\"target\": \"vda\", \"pool\": \"a/b\", \"volume\": \"v\"}"), "disks[0]", "pool"},
    {DISK("{\"target\": \"vda\", \"pool\": \"x\\ny/z\", \"volume\": \"v\"}"), "disks[0]", "pool"},
    {DISK("{\"target\": \"vda\", \"pool\": 1, \"volume\": \"v\"}"), "disks[0]", "pool"},
    {DISK("{\"target\": \"vda\", \"pool\": \"p\", \"volume\": \"\"}"), "disks[0]", "volume"},
    {DISK("{\"target\": \"vda\", \"pool\": \"p\", \"volume\": \"../v\"}"), "disks[0]", "volume"},
    {DISK("{\"target\": \"vda\", \"array\": \"\", \"lun\": 1}"), "disks[0]", "array"},
    {DISK("{\"target\": \"vda\", \"array\": \"a/b\", \"lun\": 1}"), "disks[0]", "array"},
    {DISK("{\"target\": \"vda\", \"array\": \"a\", \"lun\": -1}"), "disks[0]", "lun"},
    {DISK("{\"target\": \"vda\", \"array\": \"a\", \"lun\": 16384}"), "disks[0]", "lun"},
    {DISK("{\"target\": \"vda\", \"array\": \"a\", \"lun\": \"3\"}"), "disks[0]", "lun"},
    {DISK("{\"target\": \"vda\", \"array\": \"a\", \"lun\": 3.0}"), "disks[0]", "lun"},
    {DISK("{\"target\": \"vda\", \"array\": \"a\", \"lun\": null}"), "disks[0]", "lun"},
    /* interfaces: the list */
    {SMALL(", \"interfaces\": {}"), "interfaces", NULL},
    {SMALL(", \"interfaces\": null"), "interfaces", NULL},
    {IFACE("\"default\""), "interfaces[0]", NULL},
    {IFACE("{}"), "interfaces[0]", NULL},
    {IFACE("{\"network\": \"n\"}, {\"mac\": \"52:54:00:12:34:56\"}"), "interfaces[1]", NULL},
    {IFACE("{\"network\": \"n\", \"bridge\": \"b\"}"), "interfaces[0]", NULL},
    {IFACE("{\"network\": \"n\", \"model\": \"virtio\"}"), "interfaces[0]: unknown key \"model\"",
     NULL},
    {IFACE("{\"network\": \"\"}"), "interfaces[0]", "network"},
    {IFACE("{\"network\": 5}"), "interfaces[0]", "network"},
    {IFACE("{\"bridge\": \"\"}"), "interfaces[0]", "bridge"},
    {IFACE("{\"bridge\": [\"br0\"]}"), "interfaces[0]", "bridge"},
    /* interfaces: mac */
    {IFACE("{\"network\": \"n\", \"mac\": \"52:54:00:12:34\"}"), "interfaces[0]", "mac"},
    {IFACE("{\"network\": \"n\", \"mac\": \"52:54:00:12:34:56:78\"}"), "interfaces[0]", "mac"},
    {IFACE("{\"network\": \"n\", \"mac\": \"52-54-00-12-34-56\"}"), "interfaces[0]", "mac"},
    {IFACE("{\"network\": \"n\", \"mac\": \"525400123456\"}"), "interfaces[0]", "mac"},
    {IFACE("{\"network\": \"n\", \"mac\": \"52:54:00:12:34:5g\"}"), "interfaces[0]", "mac"},
    {IFACE("{\"network\": \"n\", \"mac\": \"52:54:00:12:34:567\"}"), "interfaces[0]", "mac"},
    {IFACE("{\"network\": \"n\", \"mac\": \"5:54:00:12:34:56\"}"), "interfaces[0]", "mac"},
    {IFACE("{\"network\": \"n\", \"mac\": \"52:54:00:12:34:56\\n\"}"), "interfaces[0]", "mac"},
    {IFACE("{\"network\": \"n\", \"mac\": \" 52:54:00:12:34:56\"}"), "interfaces[0]", "mac"},
    {IFACE("{\"network\": \"n\", \"mac\": \"53:54:00:12:34:56\"}"), "interfaces[0]", "mac"},
    {IFACE("{\"network\": \"n\", \"mac\": \"01:00:5e:00:00:01\"}"), "interfaces[0]", "mac"},
    {IFACE("{\"network\": \"n\", \"mac\": \"ff:ff:ff:ff:ff:ff\"}"), "interfaces[0]", "mac"},
    {IFACE("{\"network\": \"n\", \"mac\": \"\"}"), "interfaces[0]", "mac"},
    {IFACE("{\"network\": \"n\", \"mac\": 5}"), "interfaces[0]", "mac"},
    {IFACE("{\"network\": \"n\", \"mac\": \"52:54:00:12:34:56\"}, "
           "{\"bridge\": \"b\", \"mac\": \"52:54:00:12:34:56\"}"),
     "twice|duplicate", NULL},
    {IFACE("{\"network\": \"n\", \"mac\": \"52:54:00:ab:cd:ef\"}, "
           "{\"bridge\": \"b\", \"mac\": \"52:54:00:AB:CD:EF\"}"),
     "twice|duplicate", NULL},
    /* NUL bytes in strings */
    {SMALL(", \"description\": \"a\\u0000b\""), "", NULL},
    {SMALL(", \"host\": \"a\\u0000b\""), "", NULL},
    {DISK("{\"target\": \"vda\", \"file\": \"/x\\u0000y\"}"), "", NULL},
    {DISK("{\"target\": \"vda\", \"pool\": \"p\\u0000\", \"volume\": \"v\"}"), "", NULL},
    {DISK("{\"target\": \"vda\", \"pool\": \"p\", \"volume\": \"\\u0000\"}"), "", NULL},
    {DISK("{\"target\": \"vda\", \"array\": \"a\\u0000\", \"lun\": 1}"), "", NULL},
    {IFACE("{\"network\": \"n\\u0000\"}"), "", NULL},
    {IFACE("{\"bridge\": \"br\\u00000\"}"), "", NULL},
    {SMALL(", \"state\": \"running\\u0000\""), "", NULL},
    {SMALL(", \"vcp\\u0000us\": 1"), "", NULL},
    /* hostile keys are still named on one line */
    {SMALL(", \"x\\ny\": 1"), "unknown key", NULL},
    /* duplicate keys: a spec that says two things is refused */
    {"{\"vcpus\": 1, \"memory_mib\": 1, \"vcpus\": 2}", "", NULL},
};

static bool message_has(const char *msg, const char *want)
{
    if (!*want)
        return true;
    g_auto(GStrv) alts = g_strsplit(want, "|", -1);
    for (char **a = alts; *a; a++)
        if (strstr(msg, *a))
            return true;
    return false;
}

static void test_bad_specs(void **state)
{
    (void)state;
    assert_true(G_N_ELEMENTS(bad) >= 40);
    unsigned failures = 0;
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) err = NULL;
        struct vdc_spec *spec = vdc_spec_parse(bad[i].text, strlen(bad[i].text), &err);
        if (spec) {
            vdc_spec_free(spec);
            print_error("bad[%zu] was accepted: %s\n", i, bad[i].text);
            failures++;
            continue;
        }
        if (!err) {
            print_error("bad[%zu] refused without a message: %s\n", i, bad[i].text);
            failures++;
            continue;
        }
        if (err->domain != VDC_SPEC_ERROR) {
            print_error("bad[%zu]: error domain is %s, not vdc-spec\n", i,
                        g_quark_to_string(err->domain));
            failures++;
        }
        if (!message_has(err->message, bad[i].want) ||
            (bad[i].want2 && !strstr(err->message, bad[i].want2))) {
            print_error("bad[%zu]: message \"%s\" lacks \"%s\"%s%s (spec: %s)\n", i, err->message,
                        bad[i].want, bad[i].want2 ? " and \"" : "", bad[i].want2 ? bad[i].want2 : "",
                        bad[i].text);
            failures++;
        }
        if (g_str_has_prefix(bad[i].want, "line ") && !g_str_has_prefix(err->message, "line ")) {
            print_error("bad[%zu]: message \"%s\" does not start with \"line \"\n", i, err->message);
            failures++;
        }
        if (strchr(err->message, '\n') || strchr(err->message, '\r')) {
            print_error("bad[%zu]: message \"%s\" is not one line\n", i, err->message);
            failures++;
        }
    }
    if (failures)
        fail_msg("%u of %zu bad specs were not handled as expected", failures, G_N_ELEMENTS(bad));
}

/* ---------------------------------------------------------------------- */
/* Canonical JSON                                                          */

static const char *const top_keys[] = {"host",  "vcpus", "memory_mib", "state", "autostart",
                                       "disks", "interfaces", "description"};

static void check_key_order(json_t *obj)
{
    assert_true(json_is_object(obj));
    assert_int_equal(json_object_size(obj), G_N_ELEMENTS(top_keys));
    size_t i = 0;
    for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it), i++) {
        assert_true(i < G_N_ELEMENTS(top_keys));
        if (strcmp(json_object_iter_key(it), top_keys[i]) != 0)
            fail_msg("canonical key %zu is \"%s\", expected \"%s\"", i, json_object_iter_key(it),
                     top_keys[i]);
    }
}

static void assert_json_is(json_t *got, const char *want_text)
{
    json_error_t jerr;
    json_t *want = json_loads(want_text, 0, &jerr);
    if (!want)
        fail_msg("test bug: %s: %s", jerr.text, want_text);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_COMPACT);
        print_error("got:  %s\nwant: %s\n", g, want_text);
        free(g);
        json_decref(want);
        fail_msg("canonical JSON differs");
    }
    json_decref(want);
}

static void test_canonical_minimal(void **state)
{
    (void)state;
    g_autoptr(vdc_spec) spec = parse_ok("{\"memory_mib\": 64, \"vcpus\": 2}");
    json_t *j = vdc_spec_to_json(spec);
    assert_non_null(j);
    check_key_order(j);
    assert_json_is(j, "{\"host\": null, \"vcpus\": 2, \"memory_mib\": 64, \"state\": \"running\","
                      " \"autostart\": false, \"disks\": [], \"interfaces\": [],"
                      " \"description\": null}");
    /* and written out in that order */
    char *text = json_dumps(j, JSON_COMPACT);
    assert_string_equal(text, "{\"host\":null,\"vcpus\":2,\"memory_mib\":64,\"state\":\"running\","
                              "\"autostart\":false,\"disks\":[],\"interfaces\":[],"
                              "\"description\":null}");
    free(text);
    json_decref(j);
}

static void test_canonical_full(void **state)
{
    (void)state;
    g_autoptr(vdc_spec) spec = parse_ok(FULL);
    json_t *j = vdc_spec_to_json(spec);
    assert_non_null(j);
    check_key_order(j);
    assert_json_is(j,
                   "{\"host\": \"beta\", \"vcpus\": 2, \"memory_mib\": 2048, \"state\": \"running\","
                   " \"autostart\": false,"
                   " \"disks\": [{\"target\": \"vda\", \"pool\": \"default\", \"volume\": \"web-3.img\","
                   "              \"capacity_gib\": 20},"
                   "             {\"target\": \"vdb\", \"file\": \"/srv/images/x.img\"},"
                   "             {\"target\": \"vdc\", \"array\": \"array1\", \"lun\": 3}],"
                   " \"interfaces\": [{\"network\": \"default\", \"mac\": null},"
                   "                  {\"bridge\": \"br0\", \"mac\": \"52:54:00:12:34:56\"}],"
                   " \"description\": \"web server\"}");
    /* each disk begins with its target */
    json_t *disks = json_object_get(j, "disks");
    for (size_t i = 0; i < json_array_size(disks); i++) {
        void *it = json_object_iter(json_array_get(disks, i));
        assert_non_null(it);
        assert_string_equal(json_object_iter_key(it), "target");
    }
    json_decref(j);
}

static void test_canonical_states(void **state)
{
    (void)state;
    g_autoptr(vdc_spec) spec =
        parse_ok(SMALL(", \"state\": \"paused\", \"autostart\": true, \"host\": \"h1\","
                     " \"disks\": [{\"target\": \"vda\", \"pool\": \"p\", \"volume\": \"v\"}]"));
    json_t *j = vdc_spec_to_json(spec);
    assert_non_null(j);
    check_key_order(j);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "paused");
    assert_true(json_is_true(json_object_get(j, "autostart")));
    assert_string_equal(json_string_value(json_object_get(j, "host")), "h1");
    /* no capacity_gib when not set */
    json_t *d = json_array_get(json_object_get(j, "disks"), 0);
    assert_null(json_object_get(d, "capacity_gib"));
    assert_json_is(d, "{\"target\": \"vda\", \"pool\": \"p\", \"volume\": \"v\"}");
    json_decref(j);

    g_autoptr(vdc_spec) off = parse_ok(SMALL(", \"state\": \"shutoff\""));
    j = vdc_spec_to_json(off);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "shutoff");
    json_decref(j);
}

/* parse(to_json(parse(x))) == to_json(parse(x)) */
static void test_round_trip(void **state)
{
    (void)state;
    /* not g_autofree: fail_msg() jumps over cleanups */
    char *d64 = many_disks(VDC_SPEC_MAX_DISKS);
    char *i32 = many_ifaces(VDC_SPEC_MAX_INTERFACES);
    const char *inputs[] = {
        FULL,
        SMALL(""),
        SMALL(", \"state\": \"shutoff\", \"autostart\": true, \"description\": \"a\\nb\\t\\\"c\\\" \\u00e9\""),
        SMALL(", \"host\": \"A.b-c_9\", \"state\": \"paused\""),
        DISKS("{\"target\": \"xvdabc\", \"array\": \"a\", \"lun\": 0}, "
              "{\"target\": \"hdz\", \"pool\": \"p q\", \"volume\": \"v'\\\"<>&\", \"capacity_gib\": 65536}, "
              "{\"target\": \"sdb\", \"file\": \"/srv/a..b/c d\"}"),
        IFACE("{\"bridge\": \"b\", \"mac\": \"52:54:00:AB:cd:Ef\"}, {\"network\": \"n\"}"),
        d64,
        i32,
    };
    unsigned failures = 0;
    for (size_t i = 0; i < G_N_ELEMENTS(inputs); i++) {
        g_autoptr(vdc_spec) a = parse_ok(inputs[i]);
        json_t *ja = vdc_spec_to_json(a);
        assert_non_null(ja);
        check_key_order(ja);
        char *text = json_dumps(ja, JSON_COMPACT);
        assert_non_null(text);
        g_autoptr(GError) err = NULL;
        struct vdc_spec *b = vdc_spec_parse(text, strlen(text), &err);
        if (!b) {
            print_error("inputs[%zu]: canonical JSON refused (%s): %s\n", i, err->message, text);
            failures++;
            free(text);
            json_decref(ja);
            continue;
        }
        json_t *jb = vdc_spec_to_json(b);
        /* and the canonical text is a fixed point */
        char *text_b = json_dumps(jb, JSON_COMPACT);
        if (!json_equal(ja, jb) || strcmp(text, text_b) != 0) {
            print_error("inputs[%zu]: round trip differs:\n%s\n%s\n", i, text, text_b);
            failures++;
        }
        free(text_b);
        free(text);
        json_decref(jb);
        json_decref(ja);
        vdc_spec_free(b);
    }
    g_free(d64);
    g_free(i32);
    if (failures)
        fail_msg("%u of %zu round trips failed", failures, G_N_ELEMENTS(inputs));
}

/* ---------------------------------------------------------------------- */
/* Domain XML                                                              */

#define UUID "c7a5fdbd-cdaf-9455-926a-d65c16db1809"
#define IQN "iqn.2024-01.com.example:storage.array1"

/* The CHAP password of the fake's arrays with CHAP: known to the
 * configuration, never to the lookup, never in the XML. */
#define CHAP_PASSWORD "S3cret-chap-pw"

struct lookup_log {
    unsigned calls;
    char last[64];
    const char *iqn;
    const char *chap_user;    /* array1's CHAP user; NULL: array1 has no CHAP */
    const char *other_array;  /* one more array the fake knows, with chap_user */
};

static bool lookup(const char *array, char **host, int *port, char **iqn, char **chap_user,
                   void *data)
{
    struct lookup_log *log = data;
    log->calls++;
    g_strlcpy(log->last, array, sizeof log->last);
    if (strcmp(array, "array1") == 0 || g_strcmp0(array, log->other_array) == 0) {
        *host = g_strdup("10.0.0.5");
        *port = 3260;
        *iqn = g_strdup(log->iqn ? log->iqn : IQN);
        *chap_user = g_strdup(log->chap_user);
        return true;
    }
    if (strcmp(array, "array3") == 0) {
        *host = g_strdup("san3.example");
        *port = 3261;
        *iqn = g_strdup("iqn.2024-01.com.example:a3");
        *chap_user = g_strdup("vdcfs-u");
        return true;
    }
    if (strcmp(array, "array2") == 0) {
        *host = g_strdup("san2.example");
        *port = 13260;
        *iqn = g_strdup("iqn.2024-01.com.example:a2");
        return true;
    }
    return false;
}

/* The domain XML of @spec, parsed; *@text (when given) gets its text. */
static xmlDocPtr xml_text_of(const struct vdc_spec *spec, const char *name, const char *uuid,
                             struct lookup_log *log, char **text)
{
    g_autoptr(GError) err = NULL;
    char *xml = vdc_spec_domain_xml(spec, name, uuid, NULL, lookup, log, &err);
    if (!xml)
        fail_msg("no domain XML: %s", err ? err->message : "no message");
    assert_null(err);
    if (text)
        *text = g_strdup(xml);
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        fail_msg("domain XML does not parse:\n%s", xml);
    g_free(xml);
    return doc;
}

static xmlDocPtr xml_of(const struct vdc_spec *spec, const char *name, const char *uuid,
                        struct lookup_log *log)
{
    return xml_text_of(spec, name, uuid, log, NULL);
}

static char *xp_str(xmlDocPtr doc, const char *expr)
{
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    g_autofree char *full = g_strdup_printf("string(%s)", expr);
    xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)full, ctx);
    assert_non_null(o);
    char *s = g_strdup(o->stringval ? (const char *)o->stringval : "");
    xmlXPathFreeObject(o);
    xmlXPathFreeContext(ctx);
    return s;
}

static int xp_count(xmlDocPtr doc, const char *expr)
{
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    g_autofree char *full = g_strdup_printf("count(%s)", expr);
    xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)full, ctx);
    assert_non_null(o);
    int n = (int)o->floatval;
    xmlXPathFreeObject(o);
    xmlXPathFreeContext(ctx);
    return n;
}

#define assert_xp(doc, expr, want)                                                            \
    do {                                                                                      \
        g_autofree char *got_ = xp_str((doc), (expr));                                        \
        if (strcmp(got_, (want)) != 0)                                                        \
            fail_msg("%s is \"%s\", expected \"%s\"", (expr), got_, (want));                  \
    } while (0)

#define assert_xp_count(doc, expr, want)                                                      \
    do {                                                                                      \
        int got_ = xp_count((doc), (expr));                                                   \
        if (got_ != (want))                                                                   \
            fail_msg("count(%s) is %d, expected %d", (expr), got_, (want));                   \
    } while (0)

static void test_xml_full(void **state)
{
    (void)state;
    g_autoptr(vdc_spec) spec = parse_ok(FULL);
    struct lookup_log log = {0};
    xmlDocPtr doc = xml_of(spec, "web-3", UUID, &log);

    xmlNodePtr root = xmlDocGetRootElement(doc);
    assert_string_equal((const char *)root->name, "domain");
    assert_xp_count(doc, "/domain/@type", 1);
    g_autofree char *type = xp_str(doc, "/domain/@type");
    assert_true(*type != '\0');
    assert_xp(doc, "/domain/name", "web-3");
    assert_xp_count(doc, "/domain/name", 1);
    assert_xp(doc, "/domain/uuid", UUID);
    assert_xp(doc, "/domain/memory", "2048");
    assert_xp(doc, "/domain/memory/@unit", "MiB");
    assert_xp(doc, "/domain/vcpu", "2");
    assert_xp(doc, "/domain/description", "web server");

    assert_xp_count(doc, "/domain/devices", 1);
    assert_xp_count(doc, "/domain/devices/disk", 3);
    assert_xp(doc, "/domain/devices/disk[1]/@type", "volume");
    assert_xp(doc, "/domain/devices/disk[1]/source/@pool", "default");
    assert_xp(doc, "/domain/devices/disk[1]/source/@volume", "web-3.img");
    assert_xp(doc, "/domain/devices/disk[1]/target/@dev", "vda");
    assert_xp(doc, "/domain/devices/disk[2]/@type", "file");
    assert_xp(doc, "/domain/devices/disk[2]/source/@file", "/srv/images/x.img");
    assert_xp(doc, "/domain/devices/disk[2]/target/@dev", "vdb");
    assert_xp(doc, "/domain/devices/disk[3]/@type", "network");
    assert_xp(doc, "/domain/devices/disk[3]/source/@protocol", "iscsi");
    assert_xp(doc, "/domain/devices/disk[3]/source/@name", IQN "/3");
    assert_xp(doc, "/domain/devices/disk[3]/source/host/@name", "10.0.0.5");
    assert_xp(doc, "/domain/devices/disk[3]/source/host/@port", "3260");
    assert_xp(doc, "/domain/devices/disk[3]/target/@dev", "vdc");
    assert_true(log.calls >= 1);
    assert_string_equal(log.last, "array1");

    assert_xp_count(doc, "/domain/devices/interface", 2);
    assert_xp(doc, "/domain/devices/interface[1]/@type", "network");
    assert_xp(doc, "/domain/devices/interface[1]/source/@network", "default");
    assert_xp_count(doc, "/domain/devices/interface[1]/mac", 0);
    assert_xp(doc, "/domain/devices/interface[2]/@type", "bridge");
    assert_xp(doc, "/domain/devices/interface[2]/source/@bridge", "br0");
    assert_xp(doc, "/domain/devices/interface[2]/mac/@address", "52:54:00:12:34:56");
    xmlFreeDoc(doc);
}

static void test_xml_minimal(void **state)
{
    (void)state;
    g_autoptr(vdc_spec) spec = parse_ok("{\"vcpus\": 4096, \"memory_mib\": 16777216}");
    /* no LUN disks: no lookup needed */
    g_autoptr(GError) err = NULL;
    g_autofree char *xml = vdc_spec_domain_xml(spec, "m", NULL, NULL, NULL, NULL, &err);
    if (!xml)
        fail_msg("no XML: %s", err ? err->message : "no message");
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "d.xml", NULL, XML_PARSE_NONET);
    assert_non_null(doc);
    assert_xp(doc, "/domain/name", "m");
    assert_xp_count(doc, "/domain/uuid", 0);
    assert_xp_count(doc, "/domain/description", 0);
    assert_xp(doc, "/domain/memory", "16777216");
    assert_xp(doc, "/domain/memory/@unit", "MiB");
    assert_xp(doc, "/domain/vcpu", "4096");
    assert_xp_count(doc, "//disk", 0);
    assert_xp_count(doc, "//interface", 0);
    xmlFreeDoc(doc);
}

static void test_xml_volume_and_file_without_lookup(void **state)
{
    (void)state;
    g_autoptr(vdc_spec) spec = parse_ok(
        DISKS("{\"target\": \"sdb\", \"file\": \"/f\"}, {\"target\": \"hda\", \"pool\": \"p\", \"volume\": \"v\"}"));
    g_autoptr(GError) err = NULL;
    g_autofree char *xml = vdc_spec_domain_xml(spec, "x", UUID, NULL, NULL, NULL, &err);
    if (!xml)
        fail_msg("no XML: %s", err ? err->message : "no message");
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "d.xml", NULL, XML_PARSE_NONET);
    assert_non_null(doc);
    assert_xp_count(doc, "/domain/devices/disk", 2);
    assert_xp(doc, "/domain/devices/disk[1]/target/@dev", "sdb");
    assert_xp(doc, "/domain/devices/disk[1]/source/@file", "/f");
    assert_xp(doc, "/domain/devices/disk[2]/target/@dev", "hda");
    assert_xp(doc, "/domain/devices/disk[2]/source/@pool", "p");
    xmlFreeDoc(doc);
}

static void test_xml_two_arrays(void **state)
{
    (void)state;
    g_autoptr(vdc_spec) spec = parse_ok(
        DISKS("{\"target\": \"sda\", \"array\": \"array2\", \"lun\": 16383}, "
              "{\"target\": \"sdb\", \"array\": \"array1\", \"lun\": 0}"));
    struct lookup_log log = {0};
    xmlDocPtr doc = xml_of(spec, "x", NULL, &log);
    assert_int_equal(log.calls, 2);
    assert_xp(doc, "/domain/devices/disk[1]/source/@name", "iqn.2024-01.com.example:a2/16383");
    assert_xp(doc, "/domain/devices/disk[1]/source/host/@name", "san2.example");
    assert_xp(doc, "/domain/devices/disk[1]/source/host/@port", "13260");
    assert_xp(doc, "/domain/devices/disk[2]/source/@name", IQN "/0");
    assert_xp(doc, "/domain/devices/disk[2]/source/host/@port", "3260");
    xmlFreeDoc(doc);
}

static void test_xml_unknown_array(void **state)
{
    (void)state;
    g_autoptr(vdc_spec) spec = parse_ok(
        DISKS(FD("vda") ", {\"target\": \"vdb\", \"array\": \"nosuch-array\", \"lun\": 1}"));
    struct lookup_log log = {0};
    g_autoptr(GError) err = NULL;
    char *xml = vdc_spec_domain_xml(spec, "x", NULL, NULL, lookup, &log, &err);
    if (xml) {
        g_free(xml);
        fail_msg("XML built for an unknown array");
    }
    assert_non_null(err);
    if (!strstr(err->message, "nosuch-array"))
        fail_msg("message \"%s\" does not name the array", err->message);
    assert_null(strchr(err->message, '\n'));
    assert_string_equal(log.last, "nosuch-array");
}

/* The error names the array on one line, whatever the array is called. */
static void test_xml_unknown_array_hostile_name(void **state)
{
    (void)state;
    g_autoptr(vdc_spec) spec =
        parse_ok(DISK("{\"target\": \"vda\", \"array\": \"bad\\narray\\r\", \"lun\": 1}"));
    struct lookup_log log = {0};
    g_autoptr(GError) err = NULL;
    char *xml = vdc_spec_domain_xml(spec, "x", NULL, NULL, lookup, &log, &err);
    if (xml) {
        g_free(xml);
        fail_msg("XML built for an unknown array");
    }
    assert_non_null(err);
    /* fail_msg() jumps over the cleanups: decide first, free, then fail */
    bool named = strstr(err->message, "bad") != NULL;
    bool one_line = !strchr(err->message, '\n') && !strchr(err->message, '\r');
    if (!named || !one_line)
        print_error("message \"%s\"\n", err->message);
    g_clear_error(&err);
    g_clear_pointer(&spec, vdc_spec_free);
    if (!named)
        fail_msg("the message does not name the array");
    if (!one_line)
        fail_msg("the message is not one line");
}

/* Names that would break hand-made XML come back as they were. */
static void test_xml_hostile_names(void **state)
{
    (void)state;
    static const char *names[] = {
        "a'b\"<c>&d", "x]]>y", "line1\nline2", "<![CDATA[z]]>", "&amp;&#60;", "</name><uuid>u</uuid>",
        "tab\there", "--><!--", "é ü 日本", "cr\r\nlf",
    };
    g_autoptr(vdc_spec) spec = parse_ok(SMALL(""));
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        struct lookup_log log = {0};
        xmlDocPtr doc = xml_of(spec, names[i], NULL, &log);
        assert_xp_count(doc, "/domain/name", 1);
        assert_xp_count(doc, "/domain/uuid", 0);
        g_autofree char *got = xp_str(doc, "/domain/name");
        if (strcmp(got, names[i]) != 0)
            fail_msg("names[%zu]: <name> is \"%s\", expected \"%s\"", i, got, names[i]);
        xmlFreeDoc(doc);
    }
}

static void test_xml_hostile_values(void **state)
{
    (void)state;
    /* JSON escapes of the values below */
    const char *text =
        "{\"vcpus\": 1, \"memory_mib\": 1,"
        " \"description\": \"</description><devices><disk type='file'/></devices>&amp;'\\\"]]>\\n<!--x-->\\r\\n\","
        " \"disks\": [{\"target\": \"vda\", \"pool\": \"p'o\\\"o<l>&x\", \"volume\": \"v]]>'\\\"<&\\n\\t\"},"
        "            {\"target\": \"vdb\", \"file\": \"/srv/a'b\\\"c<d>&e\\n f\"}],"
        " \"interfaces\": [{\"network\": \"n'\\\"<>&\"}, {\"bridge\": \"b'\\\"></source><x/>&\"}]}";
    const char *desc = "</description><devices><disk type='file'/></devices>&amp;'\"]]>\n<!--x-->\r\n";
    g_autoptr(vdc_spec) spec = parse_ok(text);
    assert_string_equal(spec->description, desc);
    struct lookup_log log = {0};
    xmlDocPtr doc = xml_of(spec, "h", NULL, &log);
    assert_xp_count(doc, "/domain/description", 1);
    g_autofree char *got = xp_str(doc, "/domain/description");
    if (strcmp(got, desc) != 0)
        fail_msg("<description> is \"%s\"", got);
    assert_xp_count(doc, "//devices", 1);
    assert_xp_count(doc, "//disk", 2);
    assert_xp_count(doc, "//x", 0);
    assert_xp_count(doc, "//comment()", 0);
    assert_xp(doc, "/domain/devices/disk[1]/source/@pool", "p'o\"o<l>&x");
    assert_xp(doc, "/domain/devices/disk[1]/source/@volume", "v]]>'\"<&\n\t");
    assert_xp(doc, "/domain/devices/disk[2]/source/@file", "/srv/a'b\"c<d>&e\n f");
    assert_xp(doc, "/domain/devices/interface[1]/source/@network", "n'\"<>&");
    assert_xp(doc, "/domain/devices/interface[2]/source/@bridge", "b'\"></source><x/>&");
    assert_xp_count(doc, "/domain/devices/interface[2]/source", 1);
    xmlFreeDoc(doc);
}

/* An IQN from the configuration goes into an attribute unchanged. */
static void test_xml_hostile_iqn(void **state)
{
    (void)state;
    g_autoptr(vdc_spec) spec = parse_ok(DISK("{\"target\": \"vda\", \"array\": \"array1\", \"lun\": 7}"));
    struct lookup_log log = {.iqn = "iqn.x:a'b\"<c>&d\n"};
    xmlDocPtr doc = xml_of(spec, "h", NULL, &log);
    assert_xp(doc, "/domain/devices/disk[1]/source/@name", "iqn.x:a'b\"<c>&d\n/7");
    xmlFreeDoc(doc);
}

/* A LUN of an array without CHAP: an iSCSI network disk on the portal,
 * no <auth>. */
static void test_xml_lun_without_chap(void **state)
{
    (void)state;
    g_autoptr(vdc_spec) spec =
        parse_ok(DISK("{\"target\": \"vdb\", \"array\": \"array1\", \"lun\": 1}"));
    struct lookup_log log = {0};
    xmlDocPtr doc = xml_of(spec, "h", NULL, &log);
    assert_xp_count(doc, "/domain/devices/disk", 1);
    assert_xp(doc, "/domain/devices/disk/@type", "network");
    assert_xp(doc, "/domain/devices/disk/@device", "disk");
    assert_xp(doc, "/domain/devices/disk/source/@protocol", "iscsi");
    assert_xp(doc, "/domain/devices/disk/source/@name", IQN "/1");
    assert_xp_count(doc, "/domain/devices/disk/source/host", 1);
    assert_xp(doc, "/domain/devices/disk/source/host/@name", "10.0.0.5");
    assert_xp(doc, "/domain/devices/disk/source/host/@port", "3260");
    assert_xp(doc, "/domain/devices/disk/target/@dev", "vdb");
    assert_xp(doc, "/domain/devices/disk/target/@bus", "virtio");
    assert_xp_count(doc, "//auth", 0);
    assert_xp_count(doc, "//secret", 0);
    xmlFreeDoc(doc);
}

/* A LUN of an array with CHAP: <auth> names the user and the libvirt
 * secret (usage "vdcfs-<array>"); the password is nowhere. */
static void test_xml_lun_with_chap(void **state)
{
    (void)state;
    g_autoptr(vdc_spec) spec = parse_ok(
        DISKS("{\"target\": \"sda\", \"array\": \"array3\", \"lun\": 2}, "
              "{\"target\": \"sdb\", \"array\": \"array1\", \"lun\": 5}"));
    struct lookup_log log = {0};
    g_autofree char *text = NULL;
    xmlDocPtr doc = xml_text_of(spec, "h", NULL, &log, &text);
    assert_xp(doc, "/domain/devices/disk[1]/source/@protocol", "iscsi");
    assert_xp(doc, "/domain/devices/disk[1]/source/@name", "iqn.2024-01.com.example:a3/2");
    assert_xp(doc, "/domain/devices/disk[1]/source/host/@name", "san3.example");
    assert_xp(doc, "/domain/devices/disk[1]/source/host/@port", "3261");
    assert_xp_count(doc, "/domain/devices/disk[1]/source/auth", 1);
    assert_xp_count(doc, "/domain/devices/disk[1]/auth", 0);
    assert_xp(doc, "/domain/devices/disk[1]/source/auth/@username", "vdcfs-u");
    assert_xp_count(doc, "/domain/devices/disk[1]/source/auth/@*", 1);
    assert_xp_count(doc, "/domain/devices/disk[1]/source/auth/*", 1);
    assert_xp(doc, "/domain/devices/disk[1]/source/auth/secret/@type", "iscsi");
    assert_xp(doc, "/domain/devices/disk[1]/source/auth/secret/@usage", "vdcfs-array3");
    assert_xp_count(doc, "/domain/devices/disk[1]/source/auth/secret/@*", 2);
    /* the disk without CHAP next to it has none */
    assert_xp_count(doc, "/domain/devices/disk[2]//auth", 0);
    assert_xp_count(doc, "//auth", 1);
    if (strstr(text, CHAP_PASSWORD) || strstr(text, "password") || strstr(text, "passwd"))
        fail_msg("the domain XML has a password in it:\n%s", text);
    xmlFreeDoc(doc);
}

/* A CHAP user and an array name that would break hand-made XML are
 * attribute values, unchanged; nothing is added to the document. */
static void test_xml_lun_chap_hostile_names(void **state)
{
    (void)state;
    static const char *const users[] = {"a'b\"<c>&d", "u'/><secret usage='x'/><x y='",
                                        "]]>&amp;\n<!--"};
    g_autoptr(vdc_spec) spec = parse_ok(DISK(
        "{\"target\": \"vda\", \"array\": \"a'b\\\"<c>&d\", \"lun\": 4}"));
    for (size_t i = 0; i < G_N_ELEMENTS(users); i++) {
        struct lookup_log log = {.chap_user = users[i], .other_array = "a'b\"<c>&d"};
        g_autofree char *text = NULL;
        xmlDocPtr doc = xml_text_of(spec, "h", NULL, &log, &text);
        assert_string_equal(log.last, "a'b\"<c>&d");
        assert_xp_count(doc, "//auth", 1);
        assert_xp_count(doc, "//secret", 1);
        assert_xp_count(doc, "//x", 0);
        assert_xp_count(doc, "//comment()", 0);
        assert_xp_count(doc, "/domain/devices/disk/source/auth/@*", 1);
        assert_xp_count(doc, "/domain/devices/disk/source/auth/secret/@*", 2);
        g_autofree char *user = xp_str(doc, "/domain/devices/disk/source/auth/@username");
        if (strcmp(user, users[i]) != 0)
            fail_msg("users[%zu]: username is \"%s\":\n%s", i, user, text);
        assert_xp(doc, "/domain/devices/disk/source/auth/secret/@usage", "vdcfs-a'b\"<c>&d");
        assert_xp(doc, "/domain/devices/disk/source/@name", IQN "/4");
        assert_null(strstr(text, "<c>"));
        xmlFreeDoc(doc);
    }
}

/* Every MAC case the parser accepts reaches the XML. */
static void test_xml_macs(void **state)
{
    (void)state;
    g_autofree char *i32 = many_ifaces(VDC_SPEC_MAX_INTERFACES);
    g_autoptr(vdc_spec) spec = parse_ok(i32);
    struct lookup_log log = {0};
    xmlDocPtr doc = xml_of(spec, "h", NULL, &log);
    assert_xp_count(doc, "/domain/devices/interface", 32);
    assert_xp_count(doc, "/domain/devices/interface/mac", 32);
    assert_xp(doc, "/domain/devices/interface[32]/mac/@address", "52:54:00:00:01:1f");
    assert_xp(doc, "/domain/devices/interface[32]/source/@network", "n31");
    xmlFreeDoc(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_defaults),
        cmocka_unit_test(test_full_example),
        cmocka_unit_test(test_states_and_autostart),
        cmocka_unit_test(test_bounds_accepted),
        cmocka_unit_test(test_limits_values),
        cmocka_unit_test(test_len_respected),
        cmocka_unit_test(test_list_limits),
        cmocka_unit_test(test_description_limit),
        cmocka_unit_test(test_bad_specs),
        cmocka_unit_test(test_canonical_minimal),
        cmocka_unit_test(test_canonical_full),
        cmocka_unit_test(test_canonical_states),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_xml_full),
        cmocka_unit_test(test_xml_minimal),
        cmocka_unit_test(test_xml_volume_and_file_without_lookup),
        cmocka_unit_test(test_xml_two_arrays),
        cmocka_unit_test(test_xml_unknown_array),
        cmocka_unit_test(test_xml_unknown_array_hostile_name),
        cmocka_unit_test(test_xml_hostile_names),
        cmocka_unit_test(test_xml_hostile_values),
        cmocka_unit_test(test_xml_hostile_iqn),
        cmocka_unit_test(test_xml_lun_without_chap),
        cmocka_unit_test(test_xml_lun_with_chap),
        cmocka_unit_test(test_xml_lun_chap_hostile_names),
        cmocka_unit_test(test_xml_macs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
