/* test_vm_disks.c — vms/<vm>/disks/<target>/info.json: the mapping of a
 * VM's disks to what is behind them (vmdisk_model.h, tree_vmdisks.c),
 * driven through the model's update functions and read back through the
 * tree as the FUSE layer reads it. */
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

#include "array_model.h"
#include "desired.h"
#include "events.h"
#include "model.h"
#include "tree.h"
#include "unit_util.h"
#include "vmdisk_model.h"

#define IQN "iqn.2026-11.org.vdcfs.test:a1"
#define UUID1 "6f1c5a3e-0000-4000-8000-000000000001"
#define UUID2 "6f1c5a3e-0000-4000-8000-000000000002"

static unsigned host;

static int setup(void **state)
{
    (void)state;
    static bool tree_ready;
    if (!tree_ready) {
        vdc_tree_init();
        tree_ready = true;
    }
    vdc_events_init();
    vdc_model_init();
    host = vdc_model_add_host("alpha", "test:///alpha.xml");
    vdc_model_host_connected(host, g_new0(struct hv_host_info, 1));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    vdc_model_free();
    vdc_events_shutdown();
    return 0;
}

/* --- facts by hand ---------------------------------------------------------- */

static struct hv_disk *file_disk(const char *target, const char *path)
{
    struct hv_disk *d = g_new0(struct hv_disk, 1);
    d->target = g_strdup(target);
    d->bus = g_strdup("virtio");
    d->device = g_strdup("disk");
    d->source = HV_DISK_FILE;
    d->path = g_strdup(path);
    return d;
}

static struct hv_disk *iscsi_disk(const char *target, const char *name)
{
    struct hv_disk *d = g_new0(struct hv_disk, 1);
    d->target = g_strdup(target);
    d->bus = g_strdup("virtio");
    d->device = g_strdup("disk");
    d->source = HV_DISK_NETWORK;
    d->protocol = g_strdup("iscsi");
    d->name = g_strdup(name);
    d->host = g_strdup("127.0.0.1");
    d->port = 3260;
    return d;
}

/* VM @name (@uuid) in @st with the disks given (NULL-terminated, consumed). */
static struct hv_vm *vm_with(const char *name, const char *uuid, enum vdc_vm_state st, ...)
{
    struct hv_vm *vm = hv_vm_new();
    vm->name = g_strdup(name);
    g_strlcpy(vm->uuid, uuid, sizeof vm->uuid);
    vm->state = st;
    vm->vcpus = 1;
    vm->memory_kib = 262144;
    vm->persistent = true;
    vm->domain_xml = g_strdup_printf("<domain type='test'><name>%s</name></domain>", name);
    va_list ap;
    va_start(ap, st);
    for (struct hv_disk *d; (d = va_arg(ap, struct hv_disk *));)
        g_ptr_array_add(vm->disks, d);
    va_end(ap);
    return vm;
}

/* The usual VM: vda on LUN 1 of the array, vdb a file, vdc a volume,
 * vdd a block device, hdc an empty CD-ROM. */
static struct hv_vm *db1(enum vdc_vm_state st)
{
    struct hv_disk *pool = g_new0(struct hv_disk, 1);
    pool->target = g_strdup("vdc");
    pool->bus = g_strdup("virtio");
    pool->device = g_strdup("disk");
    pool->source = HV_DISK_VOLUME;
    pool->pool = g_strdup("default");
    pool->volume = g_strdup("db-1-data.img");
    struct hv_disk *blk = file_disk("vdd", "/dev/sdz");
    blk->source = HV_DISK_BLOCK;
    struct hv_disk *cd = g_new0(struct hv_disk, 1);
    cd->target = g_strdup("hdc");
    cd->bus = g_strdup("ide");
    cd->device = g_strdup("cdrom");
    return vm_with("db-1", UUID1, st, iscsi_disk("vda", IQN "/1"),
                   file_disk("vdb", "/images/db-1.img"), pool, blk, cd, NULL);
}

static void add_array(void)
{
    struct vdc_array_config cfg = {.name = "array1", .driver = "tgt", .portal = "127.0.0.1:3260",
                                   .target = IQN, .backing_dir = "/srv/a1"};
    vdc_model_add_array(&cfg);
}

/* The array answers with disk LUNs 1 and 2; LUN 1 is @capacity bytes. */
static void array_read(uint64_t capacity)
{
    GPtrArray *mgmt = g_ptr_array_new();
    GPtrArray *facts = g_ptr_array_new();
    for (unsigned n = 1; n <= 2; n++) {
        struct array_lun *m = g_new0(struct array_lun, 1);
        m->lun = n;
        m->role = ARRAY_LUN_DISK;
        m->backing = g_strdup_printf("/srv/a1/lun%u.img", n);
        m->size = capacity;
        g_ptr_array_add(mgmt, m);
        struct vdc_lun_facts *f = g_new0(struct vdc_lun_facts, 1);
        f->lun = n;
        f->capacity = capacity;
        f->block_size = 512;
        f->vendor = g_strdup("IET");
        f->product = g_strdup("VIRTUAL-DISK");
        f->wwn = g_strdup_printf("naa.60000000000000000e0000000001000%u", n);
        f->thin_provisioned = true;
        f->media = VDC_MEDIA_SSD;
        f->allocated_known = true;
        f->allocated = 4096;
        g_ptr_array_add(facts, f);
    }
    vdc_model_array_sync(0, mgmt, facts, 1u << 30, 1u << 20);
}

/* --- assertions ------------------------------------------------------------- */

#define assert_listing(path, want)                                                       \
    do {                                                                                 \
        g_autofree char *got_ = tu_list_joined(path);                                    \
        if (strcmp(got_, (want)) != 0)                                                   \
            fail_msg("ls %s: \"%s\", want \"%s\"", (path), got_, (want));                \
    } while (0)

static json_t *info(const char *path)
{
    json_t *j = tu_read_json(path);
    if (!j)
        fail_msg("%s: missing or not JSON", path);
    return j;
}

/* @j's @key as compact JSON text (g_free). */
static char *jtext(json_t *j, const char *key)
{
    json_t *v = json_object_get(j, key);
    if (!v)
        fail_msg("no key \"%s\"", key);
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

#define assert_key(j, key, want)                                                         \
    do {                                                                                 \
        g_autofree char *got_ = jtext((j), (key));                                       \
        if (strcmp(got_, (want)) != 0)                                                   \
            fail_msg("\"%s\": %s, want %s", (key), got_, (want));                        \
    } while (0)

static uint64_t ino_of(const char *path)
{
    uint64_t ino = 0;
    if (tu_ino(path, &ino) != 0)
        fail_msg("%s: not found", path);
    return ino;
}

static bool resolves(uint64_t ino)
{
    struct vdc_node n;
    vdc_model_read_lock();
    bool ok = vdc_tree_resolve(ino, &n) == 0;
    vdc_model_read_unlock();
    return ok;
}

static struct timespec mtime_of(const char *path)
{
    struct vdc_node n;
    vdc_model_read_lock();
    assert_int_equal(tu_walk_locked(path, &n), 0);
    struct timespec t = *vdc_tree_mtime(&n);
    vdc_model_read_unlock();
    return t;
}

static bool same_time(struct timespec a, struct timespec b)
{
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/* --- tests ------------------------------------------------------------------ */

static void test_listing(void **state)
{
    (void)state;
    vdc_model_vm_update(host, db1(VDC_VM_RUNNING));
    assert_listing("/vms/db-1",
                   "disks,domain.xml,power,revert,snapshots,spec.json,state,status.json");
    assert_int_equal(tu_type("/vms/db-1/disks"), S_IFDIR);
    assert_listing("/vms/db-1/disks", "hdc,vda,vdb,vdc,vdd");
    assert_int_equal(tu_type("/vms/db-1/disks/vda"), S_IFDIR);
    assert_listing("/vms/db-1/disks/vda", "info.json");
    assert_int_equal(tu_type("/vms/db-1/disks/vda/info.json"), S_IFREG);
    assert_int_equal(tu_type("/vms/db-1/disks/sda"), 0);
    assert_int_equal(tu_type("/vms/db-1/disks/vda/nope"), 0);

    /* Distinct inodes: each disk is an object of its own. */
    uint64_t a = ino_of("/vms/db-1/disks/vda"), b = ino_of("/vms/db-1/disks/vdb");
    assert_true(a != b);
    assert_true(ino_of("/vms/db-1/disks/vda/info.json") != a);
    assert_int_equal(VDC_INO_SUB(ino_of("/vms/db-1/disks")), VDC_VM_DISKS);

    /* A VM without disks has an empty disks/. */
    vdc_model_vm_update(host, vm_with("bare", UUID2, VDC_VM_SHUTOFF, NULL));
    assert_listing("/vms/bare/disks", "");
}

static void test_sources_without_array(void **state)
{
    (void)state;
    vdc_model_vm_update(host, db1(VDC_VM_RUNNING));
    json_t *j = info("/vms/db-1/disks/vdb/info.json");
    assert_key(j, "target", "\"vdb\"");
    assert_key(j, "bus", "\"virtio\"");
    assert_key(j, "device", "\"disk\"");
    assert_key(j, "source", "{\"type\":\"file\",\"file\":\"/images/db-1.img\"}");
    assert_key(j, "array", "null");
    assert_key(j, "lun", "null");
    assert_key(j, "lun_info", "null");
    assert_key(j, "array_connected", "null");
    json_decref(j);

    j = info("/vms/db-1/disks/vdc/info.json");
    assert_key(j, "source",
               "{\"type\":\"volume\",\"pool\":\"default\",\"volume\":\"db-1-data.img\"}");
    json_decref(j);
    j = info("/vms/db-1/disks/vdd/info.json");
    assert_key(j, "source", "{\"type\":\"block\",\"dev\":\"/dev/sdz\"}");
    json_decref(j);
    j = info("/vms/db-1/disks/hdc/info.json");
    assert_key(j, "device", "\"cdrom\"");
    assert_key(j, "source", "null");
    json_decref(j);

    /* iSCSI, but no array of that IQN is configured. */
    j = info("/vms/db-1/disks/vda/info.json");
    assert_key(j, "source",
               "{\"type\":\"network\",\"protocol\":\"iscsi\",\"name\":\"" IQN "/1\","
               "\"host\":\"127.0.0.1\",\"port\":3260}");
    assert_key(j, "array", "null");
    assert_key(j, "lun", "null");
    assert_key(j, "lun_info", "null");
    json_decref(j);
}

static void test_array_lun(void **state)
{
    (void)state;
    add_array();
    vdc_model_vm_update(host, db1(VDC_VM_RUNNING));
    const char *vda = "/vms/db-1/disks/vda/info.json";

    /* The array is configured but not read yet: the mapping, no facts. */
    json_t *j = info(vda);
    assert_key(j, "array", "\"array1\"");
    assert_key(j, "lun", "1");
    assert_key(j, "lun_info", "null");
    assert_key(j, "array_connected", "false");
    json_decref(j);

    struct timespec before = mtime_of(vda);
    array_read(67108864);
    assert_false(same_time(before, mtime_of(vda))); /* the kernel's copy is dropped */
    j = info(vda);
    assert_key(j, "array_connected", "true");
    assert_key(j, "array_error", "null");
    json_t *l = json_object_get(j, "lun_info");
    assert_true(json_is_object(l));
    /* The LUN's own info.json, as arrays/array1/luns/1/info.json has it. */
    json_t *lun_file = info("/arrays/array1/luns/1/info.json");
    assert_true(json_equal(l, lun_file));
    json_decref(lun_file);
    assert_key(l, "capacity", "67108864");
    assert_key(l, "block_size", "512");
    assert_key(l, "vendor", "\"IET\"");
    assert_key(l, "thin_provisioned", "true");
    assert_key(l, "media", "\"ssd\"");
    assert_key(l, "allocated", "4096");
    assert_key(l, "used_by", "[\"db-1\"]");
    json_decref(j);

    /* The LUN grows: reading shows the new facts. */
    before = mtime_of(vda);
    struct timespec vdb_before = mtime_of("/vms/db-1/disks/vdb/info.json");
    array_read(134217728);
    assert_false(same_time(before, mtime_of(vda)));
    assert_true(same_time(vdb_before, mtime_of("/vms/db-1/disks/vdb/info.json")));
    j = info(vda);
    assert_key(json_object_get(j, "lun_info"), "capacity", "134217728");
    json_decref(j);

    /* The array goes: says so, the facts stay as last seen. */
    before = mtime_of(vda);
    vdc_model_array_down(0, "connection refused");
    assert_false(same_time(before, mtime_of(vda)));
    j = info(vda);
    assert_key(j, "array_connected", "false");
    assert_key(j, "array_error", "\"connection refused\"");
    assert_key(json_object_get(j, "lun_info"), "capacity", "134217728");
    json_decref(j);
}

static void test_lun_not_on_array(void **state)
{
    (void)state;
    add_array();
    array_read(67108864);
    vdc_model_vm_update(host, vm_with("db-2", UUID2, VDC_VM_RUNNING, iscsi_disk("vda", IQN "/7"),
                                      iscsi_disk("vdb", IQN "/2"), NULL));
    json_t *j = info("/vms/db-2/disks/vda/info.json");
    assert_key(j, "array", "\"array1\"");
    assert_key(j, "lun", "7");
    assert_key(j, "lun_info", "null"); /* the array has no LUN 7 */
    assert_key(j, "array_connected", "true");
    json_decref(j);
    j = info("/vms/db-2/disks/vdb/info.json");
    assert_key(json_object_get(j, "lun_info"), "used_by", "[\"db-2\"]");
    json_decref(j);
}

static void test_disks_follow_definition(void **state)
{
    (void)state;
    vdc_model_vm_update(host, db1(VDC_VM_RUNNING));
    uint64_t vda = ino_of("/vms/db-1/disks/vda"), vdb = ino_of("/vms/db-1/disks/vdb");
    struct timespec t_vda = mtime_of("/vms/db-1/disks/vda/info.json");

    /* A change of state leaves the disks alone. */
    vdc_model_vm_update(host, db1(VDC_VM_PAUSED));
    assert_true(same_time(t_vda, mtime_of("/vms/db-1/disks/vda/info.json")));

    /* vdb goes, vde comes, vda moves to another LUN: same inode, new content. */
    vdc_model_vm_update(host, vm_with("db-1", UUID1, VDC_VM_RUNNING, iscsi_disk("vda", IQN "/2"),
                                      file_disk("vde", "/images/new.img"), NULL));
    assert_listing("/vms/db-1/disks", "vda,vde");
    assert_int_equal(ino_of("/vms/db-1/disks/vda"), vda);
    assert_false(same_time(t_vda, mtime_of("/vms/db-1/disks/vda/info.json")));
    assert_false(resolves(vdb));
    assert_false(resolves(VDC_INO(VDC_INO_ID(vdb), VDC_VMDISK_INFO)));
    json_t *j = info("/vms/db-1/disks/vda/info.json");
    assert_key(json_object_get(j, "source"), "name", "\"" IQN "/2\"");
    json_decref(j);

    /* The VM goes: so do its disks, for good. */
    vdc_model_vm_gone(host, UUID1);
    assert_false(resolves(vda));
    vdc_model_vm_update(host, db1(VDC_VM_RUNNING));
    assert_true(ino_of("/vms/db-1/disks/vda") != vda);
}

static void test_hostile_target(void **state)
{
    (void)state;
    vdc_model_vm_update(host, vm_with("odd", UUID2, VDC_VM_RUNNING,
                                      file_disk("a/b", "/images/x.img"),
                                      file_disk("..", "/images/y.img"), NULL));
    assert_listing("/vms/odd/disks", "%2E%2E,a%2Fb");
    json_t *j = info("/vms/odd/disks/a%2Fb/info.json");
    assert_key(j, "target", "\"a/b\"");
    assert_key(json_object_get(j, "source"), "file", "\"/images/x.img\"");
    json_decref(j);
}

/* A directory made with mkdir has no VM yet: no disks/; once bound to its
 * VM it shows the VM's. */
static void test_desired_entry(void **state)
{
    (void)state;
    struct vdc_want *w = g_new0(struct vdc_want, 1);
    w->fname = g_strdup("db-1");
    w->name = g_strdup("db-1");
    w->host = g_strdup("alpha");
    g_strlcpy(w->uuid, UUID1, sizeof w->uuid);
    w->macs = g_ptr_array_new_with_free_func(g_free);
    vdc_desired_put(w);
    vdc_want_free(w);
    assert_listing("/vms/db-1", "state,status.json");
    assert_int_equal(tu_type("/vms/db-1/disks"), 0);

    vdc_model_vm_update(host, db1(VDC_VM_RUNNING));
    assert_listing("/vms/db-1/disks", "hdc,vda,vdb,vdc,vdd");
    json_t *j = info("/vms/db-1/disks/vdb/info.json");
    assert_key(j, "target", "\"vdb\"");
    json_decref(j);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_listing),
        T(test_sources_without_array),
        T(test_array_lun),
        T(test_lun_not_on_array),
        T(test_disks_follow_definition),
        T(test_hostile_target),
        T(test_desired_entry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
