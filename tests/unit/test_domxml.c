/* test_domxml.c — reading libvirt domain and pool XML (hv.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hv.h"

#define UUID "c7a5fdbd-cdaf-9455-926a-d65c16db1809"

/* Parses @xml into a fresh hv_vm; fails the test if it does not parse. */
static struct hv_vm *parse_ok(const char *xml)
{
    struct hv_vm *vm = hv_vm_new();
    g_autofree char *err = NULL;
    if (hv_parse_domain_xml(xml, vm, &err) != 0)
        fail_msg("domain XML refused (%s):\n%s", err ? err : "no message", xml);
    assert_null(err);
    return vm;
}

static struct hv_disk *disk_at(struct hv_vm *vm, guint i)
{
    assert_true(i < vm->disks->len);
    return g_ptr_array_index(vm->disks, i);
}

static struct hv_iface *iface_at(struct hv_vm *vm, guint i)
{
    assert_true(i < vm->interfaces->len);
    return g_ptr_array_index(vm->interfaces, i);
}

static const char full_xml[] =
    "<domain type='kvm' id='3'>\n"
    "  <name>web-1</name>\n"
    "  <uuid>" UUID "</uuid>\n"
    "  <memory unit='KiB'>2097152</memory>\n"
    "  <currentMemory unit='KiB'>1048576</currentMemory>\n"
    "  <vcpu placement='static' current='2'>4</vcpu>\n"
    "  <os><type arch='x86_64' machine='pc'>hvm</type></os>\n"
    "  <devices>\n"
    "    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
    "    <disk type='file' device='disk'>\n"
    "      <driver name='qemu' type='qcow2'/>\n"
    "      <source file='/var/lib/libvirt/images/web-1.qcow2'/>\n"
    "      <target dev='vda' bus='virtio'/>\n"
    "    </disk>\n"
    "    <disk type='block' device='disk'>\n"
    "      <source dev='/dev/mapper/lun7'/>\n"
    "      <target dev='vdb' bus='virtio'/>\n"
    "    </disk>\n"
    "    <disk type='volume' device='disk'>\n"
    "      <source pool='default' volume='data.img'/>\n"
    "      <target dev='vdc' bus='scsi'/>\n"
    "    </disk>\n"
    "    <disk type='network' device='lun'>\n"
    "      <source protocol='iscsi' name='iqn.2024-01.org.example:array1/3'>\n"
    "        <host name='127.0.0.1' port='3260'/>\n"
    "        <host name='127.0.0.2' port='3261'/>\n"
    "      </source>\n"
    "      <target dev='sda' bus='scsi'/>\n"
    "    </disk>\n"
    "    <disk type='file' device='cdrom'>\n"
    "      <target dev='hdc' bus='ide'/>\n"
    "      <readonly/>\n"
    "    </disk>\n"
    "    <controller type='usb' index='0'/>\n"
    "    <interface type='network'>\n"
    "      <mac address='52:54:00:12:34:56'/>\n"
    "      <source network='default'/>\n"
    "      <model type='virtio'/>\n"
    "    </interface>\n"
    "    <interface type='bridge'>\n"
    "      <mac address='52:54:00:ab:cd:ef'/>\n"
    "      <source bridge='br0'/>\n"
    "    </interface>\n"
    "    <interface type='user'/>\n"
    "  </devices>\n"
    "</domain>\n";

static void test_full_domain(void **state)
{
    (void)state;
    struct hv_vm *vm = parse_ok(full_xml);
    assert_string_equal(vm->name, "web-1");
    assert_string_equal(vm->uuid, UUID);
    assert_int_equal(vm->vcpus, 2); /* current= wins over the maximum */
    assert_int_equal(vm->max_vcpus, 4);
    assert_int_equal(vm->memory_kib, 2097152);
    assert_int_equal(vm->current_memory_kib, 1048576);
    assert_string_equal(vm->domain_xml, full_xml);
    assert_ptr_not_equal(vm->domain_xml, full_xml);

    assert_int_equal(vm->disks->len, 5);
    struct hv_disk *d = disk_at(vm, 0);
    assert_int_equal(d->source, HV_DISK_FILE);
    assert_string_equal(d->path, "/var/lib/libvirt/images/web-1.qcow2");
    assert_string_equal(d->target, "vda");
    assert_string_equal(d->bus, "virtio");
    assert_string_equal(d->device, "disk");

    d = disk_at(vm, 1);
    assert_int_equal(d->source, HV_DISK_BLOCK);
    assert_string_equal(d->path, "/dev/mapper/lun7");
    assert_string_equal(d->target, "vdb");

    d = disk_at(vm, 2);
    assert_int_equal(d->source, HV_DISK_VOLUME);
    assert_string_equal(d->pool, "default");
    assert_string_equal(d->volume, "data.img");
    assert_null(d->path);
    assert_string_equal(d->bus, "scsi");

    d = disk_at(vm, 3);
    assert_int_equal(d->source, HV_DISK_NETWORK);
    assert_string_equal(d->protocol, "iscsi");
    assert_string_equal(d->name, "iqn.2024-01.org.example:array1/3");
    assert_string_equal(d->host, "127.0.0.1"); /* the first <host> */
    assert_int_equal(d->port, 3260);
    assert_string_equal(d->device, "lun");

    d = disk_at(vm, 4);
    assert_int_equal(d->source, HV_DISK_NONE);
    assert_string_equal(d->device, "cdrom");
    assert_string_equal(d->target, "hdc");
    assert_null(d->path);

    assert_int_equal(vm->interfaces->len, 3);
    struct hv_iface *f = iface_at(vm, 0);
    assert_string_equal(f->mac, "52:54:00:12:34:56");
    assert_string_equal(f->network, "default");
    assert_null(f->bridge);
    f = iface_at(vm, 1);
    assert_string_equal(f->mac, "52:54:00:ab:cd:ef");
    assert_string_equal(f->bridge, "br0");
    assert_null(f->network);
    f = iface_at(vm, 2);
    assert_null(f->mac);
    assert_null(f->network);
    assert_null(f->bridge);
    hv_vm_free(vm);
}

static void test_minimal_domain(void **state)
{
    (void)state;
    struct hv_vm *vm = parse_ok("<domain type='test'><name>min</name>"
                                "<uuid>" UUID "</uuid><vcpu>3</vcpu>"
                                "<memory>1024</memory></domain>");
    assert_string_equal(vm->name, "min");
    assert_int_equal(vm->vcpus, 3);
    assert_int_equal(vm->max_vcpus, 3);
    assert_int_equal(vm->memory_kib, 1024); /* no unit: KiB */
    assert_int_equal(vm->current_memory_kib, 0); /* absent: the same as <memory> */
    assert_int_equal(vm->disks->len, 0);
    assert_int_equal(vm->interfaces->len, 0);
    hv_vm_free(vm);
}

static void test_network_disk_variants(void **state)
{
    (void)state;
    struct hv_vm *vm = parse_ok(
        "<domain><name>n</name><devices>"
        "<disk type='network' device='disk'><source protocol='iscsi' name='iqn.x/0'/>"
        "<target dev='sda' bus='scsi'/></disk>"
        "<disk type='network' device='disk'><source protocol='nbd' name='exp'>"
        "<host name='nbd.example'/></source><target dev='sdb'/></disk>"
        "</devices></domain>");
    struct hv_disk *d = disk_at(vm, 0);
    assert_int_equal(d->source, HV_DISK_NETWORK);
    assert_string_equal(d->name, "iqn.x/0");
    assert_null(d->host);
    assert_int_equal(d->port, 0);
    d = disk_at(vm, 1);
    assert_string_equal(d->protocol, "nbd");
    assert_string_equal(d->host, "nbd.example");
    assert_int_equal(d->port, 0);
    assert_null(d->bus);
    hv_vm_free(vm);
}

static uint64_t memory_of(const char *unit, const char *value)
{
    g_autofree char *xml =
        unit ? g_strdup_printf("<domain><name>m</name><memory unit='%s'>%s</memory></domain>",
                               unit, value)
             : g_strdup_printf("<domain><name>m</name><memory>%s</memory></domain>", value);
    struct hv_vm *vm = parse_ok(xml);
    uint64_t kib = vm->memory_kib;
    hv_vm_free(vm);
    return kib;
}

static void test_memory_units(void **state)
{
    (void)state;
    assert_int_equal(memory_of(NULL, "524288"), 524288);
    assert_int_equal(memory_of("KiB", "524288"), 524288);
    assert_int_equal(memory_of("k", "2048"), 2048);
    assert_int_equal(memory_of("MiB", "512"), 512 * 1024);
    assert_int_equal(memory_of("M", "3"), 3 * 1024);
    assert_int_equal(memory_of("GiB", "4"), 4ull * 1024 * 1024);
    assert_int_equal(memory_of("G", "1"), 1024 * 1024);
    assert_int_equal(memory_of("bytes", "1073741824"), 1024 * 1024);
    assert_int_equal(memory_of("b", "2048"), 2);
    assert_int_equal(memory_of("KB", "1024"), 1000);
    assert_int_equal(memory_of("MB", "1"), 1000000 / 1024);
    assert_int_equal(memory_of("GB", "1"), 1000000000ull / 1024);
    /* whitespace around the number, as pretty-printers write it */
    assert_int_equal(memory_of("MiB", "\n  64\n"), 64 * 1024);
}

/* libvirt also accepts T/TiB/TB, P/PiB/PB, E/EiB/EB for <memory>.
 * Regression: to_kib() used to treat them as KiB. */
static void test_regression_memory_tib(void **state)
{
    (void)state;
    assert_int_equal(memory_of("TiB", "1"), 1024ull * 1024 * 1024);
    assert_int_equal(memory_of("T", "2"), 2ull * 1024 * 1024 * 1024);
    assert_int_equal(memory_of("TB", "1"), 1000000000000ull / 1024);
}

static void test_vcpu_without_current(void **state)
{
    (void)state;
    struct hv_vm *vm = parse_ok("<domain><name>v</name><vcpu placement='static'> 8 </vcpu></domain>");
    assert_int_equal(vm->vcpus, 8);
    assert_int_equal(vm->max_vcpus, 8); /* no current=: current and maximum are the same */
    hv_vm_free(vm);
}

/* <vcpu current='N'>MAX</vcpu>: what `virsh setvcpus --config --maximum`
 * leaves behind.  Both counts are kept. */
static void test_vcpu_current_and_maximum(void **state)
{
    (void)state;
    struct hv_vm *vm = parse_ok("<domain><name>v</name>"
                                "<vcpu placement='static' current='2'>4</vcpu></domain>");
    assert_int_equal(vm->vcpus, 2);
    assert_int_equal(vm->max_vcpus, 4);
    hv_vm_free(vm);

    /* current= equal to the maximum (libvirt omits it then, but may not) */
    vm = parse_ok("<domain><name>v</name><vcpu current=' 3 '>\n 3 \n</vcpu></domain>");
    assert_int_equal(vm->vcpus, 3);
    assert_int_equal(vm->max_vcpus, 3);
    hv_vm_free(vm);

    /* no <vcpu> at all: 0, which the reconciler reads as "the same" */
    vm = parse_ok("<domain><name>v</name></domain>");
    assert_int_equal(vm->vcpus, 0);
    assert_int_equal(vm->max_vcpus, 0);
    hv_vm_free(vm);
}

static uint64_t current_memory_of(const char *unit, const char *value)
{
    g_autofree char *xml =
        unit ? g_strdup_printf("<domain><name>m</name><memory unit='GiB'>64</memory>"
                               "<currentMemory unit='%s'>%s</currentMemory></domain>",
                               unit, value)
             : g_strdup_printf("<domain><name>m</name><memory unit='GiB'>64</memory>"
                               "<currentMemory>%s</currentMemory></domain>",
                               value);
    struct hv_vm *vm = parse_ok(xml);
    assert_int_equal(vm->memory_kib, 64ull << 20); /* <memory> is not affected */
    uint64_t kib = vm->current_memory_kib;
    hv_vm_free(vm);
    return kib;
}

/* <currentMemory> takes the same units as <memory>, KiB when none. */
static void test_current_memory_units(void **state)
{
    (void)state;
    assert_int_equal(current_memory_of(NULL, "262144"), 262144);
    assert_int_equal(current_memory_of("KiB", "262144"), 262144);
    assert_int_equal(current_memory_of("k", "2048"), 2048);
    assert_int_equal(current_memory_of("MiB", "256"), 256 * 1024);
    assert_int_equal(current_memory_of("m", "3"), 3 * 1024);
    assert_int_equal(current_memory_of("GiB", "1"), 1024 * 1024);
    assert_int_equal(current_memory_of("bytes", "268435456"), 256 * 1024);
    assert_int_equal(current_memory_of("KB", "1024"), 1000);
    assert_int_equal(current_memory_of("MB", "1"), 1000000 / 1024);
    assert_int_equal(current_memory_of("TiB", "1"), 1024ull * 1024 * 1024);
    assert_int_equal(current_memory_of("MiB", "\n  64\n"), 64 * 1024);
}

/* What libvirt reports after `virsh setmem --config 256M` on a 512 MiB
 * VM, and what it reports for vdcfs' own definition (<memory unit='MiB'>
 * alone, which libvirt fills in). */
static void test_current_memory_as_libvirt_writes_it(void **state)
{
    (void)state;
    struct hv_vm *vm = parse_ok("<domain type='test'><name>d</name>"
                                "<memory unit='KiB'>524288</memory>"
                                "<currentMemory unit='KiB'>262144</currentMemory>"
                                "<vcpu placement='static'>2</vcpu></domain>");
    assert_int_equal(vm->memory_kib, 524288);
    assert_int_equal(vm->current_memory_kib, 262144);
    hv_vm_free(vm);

    vm = parse_ok("<domain type='test'><name>d</name><memory unit='MiB'>512</memory>"
                  "<vcpu>2</vcpu></domain>");
    assert_int_equal(vm->memory_kib, 524288);
    assert_int_equal(vm->current_memory_kib, 0);
    assert_int_equal(vm->vcpus, 2);
    assert_int_equal(vm->max_vcpus, 2);
    hv_vm_free(vm);
}

/* Parsing again into the same hv_vm: a <currentMemory> and a maximum that
 * are gone do not stay behind. */
static void test_reparse_resets_maximum_and_current(void **state)
{
    (void)state;
    struct hv_vm *vm = parse_ok("<domain><name>a</name><memory>2048</memory>"
                                "<currentMemory>1024</currentMemory>"
                                "<vcpu current='1'>4</vcpu></domain>");
    assert_int_equal(vm->current_memory_kib, 1024);
    assert_int_equal(vm->max_vcpus, 4);
    g_autofree char *err = NULL;
    assert_int_equal(hv_parse_domain_xml("<domain><name>a</name><memory>2048</memory>"
                                         "<vcpu>2</vcpu></domain>",
                                         vm, &err),
                     0);
    assert_int_equal(vm->current_memory_kib, 0);
    assert_int_equal(vm->vcpus, 2);
    assert_int_equal(vm->max_vcpus, 2);
    hv_vm_free(vm);
}

static void test_entities_decoded(void **state)
{
    (void)state;
    struct hv_vm *vm = parse_ok("<domain><name>a&apos;b&quot;&lt;c&gt;&amp;d</name>"
                                "<uuid>" UUID "</uuid>"
                                "<devices><disk type='file'><source file='/x/a&amp;b &apos;c&apos;.img'/>"
                                "<target dev='vda'/></disk></devices></domain>");
    assert_string_equal(vm->name, "a'b\"<c>&d");
    assert_string_equal(disk_at(vm, 0)->path, "/x/a&b 'c'.img");
    hv_vm_free(vm);

    vm = parse_ok("<domain><name>d&#xED;as &#x540D;/..</name></domain>");
    assert_string_equal(vm->name, "d\xc3\xad" "as \xe5\x90\x8d/..");
    hv_vm_free(vm);
}

static void check_refused(const char *xml, const char *why)
{
    struct hv_vm *vm = hv_vm_new();
    char *err = NULL;
    int rc = hv_parse_domain_xml(xml, vm, &err);
    if (rc != -1)
        fail_msg("%s: accepted", why);
    if (!err || !*err)
        fail_msg("%s: no error message", why);
    g_free(err);
    hv_vm_free(vm);
}

static void test_malformed(void **state)
{
    (void)state;
    check_refused("", "empty");
    check_refused("not xml at all", "text");
    check_refused("<domain><name>x</name>", "unclosed");
    check_refused("<domain><name>x</nam></domain>", "mismatched tags");
    check_refused("<domain><name>x</name></domain><domain/>", "two roots");
    check_refused("<pool type='dir'><name>x</name></pool>", "not a domain");
    check_refused("<domain type='kvm'><uuid>" UUID "</uuid></domain>", "no name");
    check_refused("<domain><name>a &bogus; b</name></domain>", "undefined entity");
    check_refused("<domain><name>\x01</name></domain>", "control character");
}

/* A listening TCP socket on loopback that no one should connect to. */
static int listen_loopback(int *port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(s >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s, 8), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return s;
}

static bool someone_connected(int s)
{
    int c = accept(s, NULL, NULL);
    if (c >= 0) {
        close(c);
        return true;
    }
    return false;
}

static void test_no_external_entities(void **state)
{
    (void)state;
    int port;
    int s = listen_loopback(&port);

    /* A local file that an external entity would pull in. */
    g_autoptr(GError) gerr = NULL;
    g_autofree char *dir = g_dir_make_tmp("vdcfs-domxml-XXXXXX", &gerr);
    assert_non_null(dir);
    g_autofree char *secret = g_build_filename(dir, "secret.txt", NULL);
    assert_true(g_file_set_contents(secret, "TOPSECRET", -1, NULL));

    char *docs[] = {
        /* external DTD subset over the network */
        g_strdup_printf("<?xml version='1.0'?>\n"
                        "<!DOCTYPE domain SYSTEM 'http://127.0.0.1:%d/domain.dtd'>\n"
                        "<domain><name>x</name></domain>",
                        port),
        /* external general entity over the network */
        g_strdup_printf("<?xml version='1.0'?>\n"
                        "<!DOCTYPE domain [<!ENTITY e SYSTEM 'http://127.0.0.1:%d/e.xml'>]>\n"
                        "<domain><name>x&e;</name></domain>",
                        port),
        /* external parameter entity over the network */
        g_strdup_printf("<?xml version='1.0'?>\n"
                        "<!DOCTYPE domain [<!ENTITY %% p SYSTEM 'http://127.0.0.1:%d/p.dtd'> %%p;]>\n"
                        "<domain><name>x</name></domain>",
                        port),
        /* external general entity from a local file */
        g_strdup_printf("<?xml version='1.0'?>\n"
                        "<!DOCTYPE domain [<!ENTITY e SYSTEM 'file://%s'>]>\n"
                        "<domain><name>x&e;</name><devices><disk type='file'>"
                        "<source file='&e;'/></disk></devices></domain>",
                        secret),
    };
    for (size_t i = 0; i < G_N_ELEMENTS(docs); i++) {
        struct hv_vm *vm = hv_vm_new();
        char *err = NULL;
        int rc = hv_parse_domain_xml(docs[i], vm, &err);
        /* Refusing is fine; accepting must not have fetched anything. */
        if (rc == 0) {
            assert_non_null(vm->name);
            if (strstr(vm->name, "TOPSECRET"))
                fail_msg("doc %zu: external entity expanded into the name", i);
            for (guint j = 0; j < vm->disks->len; j++) {
                struct hv_disk *d = g_ptr_array_index(vm->disks, j);
                if (d->path && strstr(d->path, "TOPSECRET"))
                    fail_msg("doc %zu: external entity expanded into a disk path", i);
            }
        }
        g_free(err);
        hv_vm_free(vm);
        if (someone_connected(s))
            fail_msg("doc %zu: the parser connected to 127.0.0.1:%d", i, port);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(docs); i++)
        g_free(docs[i]);
    close(s);
    g_unlink(secret);
    g_rmdir(dir);
}

/* Nested internal entities ("billion laughs") must not blow up memory. */
static void test_entity_expansion_bounded(void **state)
{
    (void)state;
    GString *x = g_string_new("<?xml version='1.0'?>\n<!DOCTYPE domain [\n"
                              "<!ENTITY l0 'LOLLOLLOLLOLLOLLOLLOLLOLLOLLOL'>\n");
    for (int i = 1; i <= 9; i++) {
        g_string_append_printf(x, "<!ENTITY l%d '", i);
        for (int j = 0; j < 10; j++)
            g_string_append_printf(x, "&l%d;", i - 1);
        g_string_append(x, "'>\n");
    }
    g_string_append(x, "]>\n<domain><name>&l9;</name></domain>");
    struct hv_vm *vm = hv_vm_new();
    char *err = NULL;
    int rc = hv_parse_domain_xml(x->str, vm, &err);
    if (rc == 0 && strlen(vm->name) > 1000000)
        fail_msg("entities expanded to a %zu byte name", strlen(vm->name));
    g_free(err);
    hv_vm_free(vm);
    g_string_free(x, TRUE);
}

static void test_reparse_replaces_name_and_xml(void **state)
{
    (void)state;
    struct hv_vm *vm = parse_ok("<domain><name>first</name></domain>");
    g_autofree char *err = NULL;
    assert_int_equal(hv_parse_domain_xml("<domain><name>second</name></domain>", vm, &err), 0);
    assert_string_equal(vm->name, "second");
    assert_string_equal(vm->domain_xml, "<domain><name>second</name></domain>");
    hv_vm_free(vm);
}

static void test_pool_type(void **state)
{
    (void)state;
    static const struct {
        const char *xml, *want;
    } table[] = {
        {"<pool type='dir'><name>default</name><target><path>/var/lib/libvirt/images</path>"
         "</target></pool>", "dir"},
        {"<pool type=\"iscsi\"><name>lun</name></pool>", "iscsi"},
        {"<pool type='logical'/>", "logical"},
        {"<pool><name>untyped</name></pool>", NULL},
        {"<pool type='dir'", NULL},
        {"", NULL},
        {"garbage", NULL},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(table); i++) {
        g_autofree char *type = hv_parse_pool_type(table[i].xml);
        if (g_strcmp0(type, table[i].want) != 0)
            fail_msg("pool %zu: type \"%s\", want \"%s\"", i, type ? type : "(null)",
                     table[i].want ? table[i].want : "(null)");
    }
}

static void test_state_words(void **state)
{
    (void)state;
    assert_string_equal(vdc_vm_state_word(VDC_VM_RUNNING), "running");
    assert_string_equal(vdc_vm_state_word(VDC_VM_BLOCKED), "blocked");
    assert_string_equal(vdc_vm_state_word(VDC_VM_PAUSED), "paused");
    assert_string_equal(vdc_vm_state_word(VDC_VM_SHUTOFF), "shutoff");
    assert_string_equal(vdc_vm_state_word(VDC_VM_CRASHED), "crashed");
    assert_string_equal(vdc_vm_state_word(VDC_VM_SUSPENDED), "suspended");
    assert_string_equal(vdc_vm_state_word(VDC_VM_UNKNOWN), "unknown");
    assert_string_equal(vdc_vm_state_word((enum vdc_vm_state)99), "unknown");
}

static void test_free_null(void **state)
{
    (void)state;
    hv_vm_free(NULL);
    hv_pool_free(NULL);
    hv_volume_free(NULL);
    hv_disk_free(NULL);
    hv_iface_free(NULL);
    hv_host_info_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_domain),
        cmocka_unit_test(test_minimal_domain),
        cmocka_unit_test(test_network_disk_variants),
        cmocka_unit_test(test_memory_units),
        cmocka_unit_test(test_regression_memory_tib),
        cmocka_unit_test(test_vcpu_without_current),
        cmocka_unit_test(test_vcpu_current_and_maximum),
        cmocka_unit_test(test_current_memory_units),
        cmocka_unit_test(test_current_memory_as_libvirt_writes_it),
        cmocka_unit_test(test_reparse_resets_maximum_and_current),
        cmocka_unit_test(test_entities_decoded),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_no_external_entities),
        cmocka_unit_test(test_entity_expansion_bounded),
        cmocka_unit_test(test_reparse_replaces_name_and_xml),
        cmocka_unit_test(test_pool_type),
        cmocka_unit_test(test_state_words),
        cmocka_unit_test(test_free_null),
    };
    return cmocka_run_group_tests_name("domxml", tests, NULL, NULL);
}
