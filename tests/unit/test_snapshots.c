/* test_snapshots.c — VM snapshot metadata: the records in the state
 * directory (snap_store.h) and the snapshot part of the model and tree
 * (snapshot_model.h, tree_snapshots.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "array_model.h"
#include "events.h"
#include "model.h"
#include "snap_store.h"
#include "snapshot_model.h"
#include "tree.h"
#include "unit_util.h"

#define UUID "6f1c5a3e-0000-4000-8000-000000000001"

static json_t *record(const char *name, const char *time, const char *parent)
{
    json_t *r = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s}", "name", name,
                          "vm", "db-1", "uuid", UUID, "host", "alpha", "time", time,
                          "consistency", "frozen", "mechanism", "array", "state", "running",
                          "parent", parent ? json_string(parent) : json_null(), "domain_xml",
                          "<domain><name>db-1</name></domain>");
    json_t *disks = json_pack("[{s:s, s:s, s:i, s:s, s:i, s:b}]", "target", "vda", "array",
                              "array1", "source_lun", 1, "snapshot_id", "vdcfs-6f1c5a3e-1", "size",
                              67108864, "cow", 1);
    json_object_set_new(r, "disks", disks);
    return r;
}

/* --- the store ------------------------------------------------------------ */

static char *tmpdir(void)
{
    char *d = g_dir_make_tmp("vdcfs-snapstore-XXXXXX", NULL);
    assert_non_null(d);
    return d;
}

static void rm_rf(const char *path)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", path);
    assert_int_equal(system(cmd), 0);
}

static void test_store_round_trip(void **state)
{
    (void)state;
    g_autofree char *dir = tmpdir();
    GError *e = NULL;
    json_t *a = record("pre-upgrade", "2026-11-22T10:00:00.000000Z", NULL);
    json_t *b = record("a/b%c", "2026-11-22T11:00:00.000000Z", "pre-upgrade");
    assert_true(vdc_snap_store_put(dir, a, &e));
    assert_true(vdc_snap_store_put(dir, b, &e));
    /* A name with '/' and '%' is kept under its encoded name. */
    g_autofree char *enc = g_build_filename(dir, "snapshots", UUID, "a%2Fb%25c.json", NULL);
    assert_true(g_file_test(enc, G_FILE_TEST_IS_REGULAR));
    GPtrArray *all = vdc_snap_store_list(dir, &e);
    assert_non_null(all);
    assert_int_equal(all->len, 2);
    int matched = 0;
    for (guint i = 0; i < all->len; i++) {
        json_t *r = g_ptr_array_index(all, i);
        matched += json_equal(r, a) || json_equal(r, b);
    }
    assert_int_equal(matched, 2);
    g_ptr_array_unref(all);
    /* Replacing keeps one file. */
    json_object_set_new(b, "consistency", json_string("crash"));
    assert_true(vdc_snap_store_put(dir, b, &e));
    all = vdc_snap_store_list(dir, &e);
    assert_int_equal(all->len, 2);
    g_ptr_array_unref(all);
    assert_true(vdc_snap_store_remove(dir, UUID, "a/b%c", &e));
    assert_true(vdc_snap_store_remove(dir, UUID, "a/b%c", &e)); /* gone already: fine */
    assert_true(vdc_snap_store_remove(dir, UUID, "pre-upgrade", &e));
    g_autofree char *vmdir = g_build_filename(dir, "snapshots", UUID, NULL);
    assert_false(g_file_test(vmdir, G_FILE_TEST_EXISTS)); /* the last one takes the dir */
    json_decref(a);
    json_decref(b);
    rm_rf(dir);
}

static void test_store_skips_and_cleans(void **state)
{
    (void)state;
    g_autofree char *dir = tmpdir();
    GError *e = NULL;
    json_t *a = record("good", "2026-11-22T10:00:00.000000Z", NULL);
    assert_true(vdc_snap_store_put(dir, a, &e));
    g_autofree char *vmdir = g_build_filename(dir, "snapshots", UUID, NULL);
    g_autofree char *torn = g_build_filename(vmdir, "good.json.K3X9QZ", NULL);
    g_autofree char *junk = g_build_filename(vmdir, "junk.json", NULL);
    g_autofree char *other = g_build_filename(vmdir, "other.json", NULL);
    g_autofree char *notuuid = g_build_filename(dir, "snapshots", "not-a-uuid", NULL);
    assert_true(g_file_set_contents(torn, "{\"half", -1, NULL));
    assert_true(g_file_set_contents(junk, "not json", -1, NULL));
    assert_true(g_file_set_contents(
        other, "{\"name\": \"x\", \"uuid\": \"6f1c5a3e-0000-4000-8000-000000000009\"}", -1, NULL));
    assert_int_equal(mkdir(notuuid, 0700), 0);
    GPtrArray *all = vdc_snap_store_list(dir, &e);
    assert_non_null(all);
    assert_int_equal(all->len, 1); /* junk and a record of another VM are skipped */
    assert_true(json_equal(g_ptr_array_index(all, 0), a));
    g_ptr_array_unref(all);
    assert_false(g_file_test(torn, G_FILE_TEST_EXISTS)); /* a torn replace is removed */
    json_t *bad = json_pack("{s:s}", "name", "x");
    assert_false(vdc_snap_store_put(dir, bad, &e)); /* no uuid */
    assert_non_null(e);
    g_clear_error(&e);
    json_decref(bad);
    json_decref(a);
    rm_rf(dir);
}

static void test_store_missing_dir_is_empty(void **state)
{
    (void)state;
    g_autofree char *dir = tmpdir();
    GError *e = NULL;
    GPtrArray *all = vdc_snap_store_list(dir, &e);
    assert_non_null(all);
    assert_int_equal(all->len, 0);
    g_ptr_array_unref(all);
    rm_rf(dir);
}

/* --- the model and the tree ---------------------------------------------- */

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
    unsigned h = vdc_model_add_host("alpha", "test:///alpha.xml");
    struct hv_vm *vm = hv_vm_new();
    vm->name = g_strdup("db-1");
    g_strlcpy(vm->uuid, UUID, sizeof vm->uuid);
    vm->state = VDC_VM_RUNNING;
    vm->vcpus = 1;
    vm->memory_kib = 262144;
    vm->persistent = true;
    vm->domain_xml = g_strdup("<domain type='test'><name>db-1</name></domain>");
    vdc_model_host_connected(h, g_new0(struct hv_host_info, 1));
    vdc_model_vm_update(h, vm);
    struct vdc_array_config cfg = {.name = "array1", .driver = "tgt", .portal = "127.0.0.1:3260",
                                   .target = "iqn.2026-11.test:array1", .backing_dir = "/srv/a1"};
    vdc_model_add_array(&cfg);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    vdc_model_free();
    vdc_events_shutdown();
    return 0;
}

/* The array as its runner would show it: disk LUN 1 and its snapshot
 * "vdcfs-6f1c5a3e-1" as LUN 4. */
static void array_has_snapshot(void)
{
    GPtrArray *mgmt = g_ptr_array_new();
    struct array_lun *disk = g_new0(struct array_lun, 1);
    disk->lun = 1;
    disk->role = ARRAY_LUN_DISK;
    disk->backing = g_strdup("/srv/a1/lun1.img");
    disk->size = 67108864;
    struct array_lun *snap = g_new0(struct array_lun, 1);
    snap->lun = 4;
    snap->role = ARRAY_LUN_SNAPSHOT;
    snap->backing = g_strdup("/srv/a1/.vdcfs-snapshots/lun1.img@vdcfs-6f1c5a3e-1");
    snap->readonly = true;
    snap->size = 67108864;
    snap->source_lun = 1;
    snap->id = g_strdup("vdcfs-6f1c5a3e-1");
    snap->cow = true;
    g_ptr_array_add(mgmt, disk);
    g_ptr_array_add(mgmt, snap);
    struct vdc_lun_facts *f = g_new0(struct vdc_lun_facts, 1);
    f->lun = 4;
    f->capacity = 67108864;
    f->block_size = 512;
    f->allocated_known = true;
    f->allocated = 2097152;
    GPtrArray *facts = g_ptr_array_new();
    g_ptr_array_add(facts, f);
    vdc_model_array_sync(0, mgmt, facts, 1 << 30, 1 << 20); /* takes both */
}

static void test_tree_shows_snapshots(void **state)
{
    (void)state;
    g_autofree char *empty = tu_list_joined("/vms/db-1/snapshots");
    assert_string_equal(empty, "");
    vdc_model_snapshot_put(record("pre-upgrade", "2026-11-22T10:00:00.000000Z", NULL));
    vdc_model_snapshot_put(record("second", "2026-11-22T11:00:00.000000Z", "pre-upgrade"));
    g_autofree char *names = tu_list_joined("/vms/db-1/snapshots");
    assert_string_equal(names, "pre-upgrade,second");
    g_autofree char *files = tu_list_joined("/vms/db-1/snapshots/second");
    assert_string_equal(files, "disks,domain.xml,info.json");
    g_autofree char *disks = tu_list_joined("/vms/db-1/snapshots/second/disks");
    assert_string_equal(disks, "vda.img");
    g_autofree char *xml = tu_read("/vms/db-1/snapshots/second/domain.xml");
    assert_string_equal(xml, "<domain><name>db-1</name></domain>");
    /* info.json: the record without the XML; the LUN unknown until the
     * array has been read (present null: the array was never reached). */
    json_t *info = tu_read_json("/vms/db-1/snapshots/second/info.json");
    assert_non_null(info);
    assert_null(json_object_get(info, "domain_xml"));
    assert_string_equal(json_string_value(json_object_get(info, "parent")), "pre-upgrade");
    json_t *d0 = json_array_get(json_object_get(info, "disks"), 0);
    assert_true(json_is_null(json_object_get(d0, "snapshot_lun")));
    assert_true(json_is_null(json_object_get(d0, "present")));
    json_decref(info);
    /* The array says which LUN holds it. */
    array_has_snapshot();
    info = tu_read_json("/vms/db-1/snapshots/second/info.json");
    d0 = json_array_get(json_object_get(info, "disks"), 0);
    assert_int_equal(json_integer_value(json_object_get(d0, "snapshot_lun")), 4);
    assert_true(json_is_true(json_object_get(d0, "present")));
    json_decref(info);
    /* Looked at under the lock, checked after it (a failed check must
     * not leave the lock held). */
    vdc_model_read_lock();
    struct vdc_vmsnap *s = vdc_snapshot_find(UUID, "second");
    struct vdc_snapdisk *d = s ? g_hash_table_lookup(s->disks, "vda.img") : NULL;
    unsigned array = 9, lun = 0;
    bool where = d && vdc_snapdisk_where(d, &array, &lun);
    uint64_t allocated = d ? vdc_snapdisk_allocated(d) : 0;
    bool with_disk = vdc_snapshot_with_disk("array1", "vdcfs-6f1c5a3e-1") != NULL;
    bool no_nightly = vdc_snapshot_with_disk("array1", "nightly") == NULL;
    struct vdc_vmsnap *latest = vdc_snapshot_latest(UUID);
    g_autofree char *latest_name = latest ? g_strdup(latest->name) : NULL;
    unsigned count = vdc_snapshot_count(UUID);
    vdc_model_read_unlock();
    assert_true(where);
    assert_int_equal(array, 0);
    assert_int_equal(lun, 4);
    assert_int_equal(allocated, 2097152); /* GET LBA STATUS: st_blocks */
    assert_true(with_disk);
    assert_true(no_nightly);
    assert_string_equal(latest_name, "second");
    assert_int_equal(count, 2);
    /* The image's size is the LUN's. */
    struct vdc_node n;
    vdc_model_read_lock();
    int rc = tu_walk_locked("/vms/db-1/snapshots/second/disks/vda.img", &n);
    size_t size = rc == 0 ? vdc_tree_size(&n) : 0;
    vdc_model_read_unlock();
    assert_int_equal(rc, 0);
    assert_int_equal(size, 67108864);
}

static void test_status_and_outcome(void **state)
{
    (void)state;
    json_t *st = tu_read_json("/vms/db-1/status.json");
    assert_null(json_object_get(st, "snapshots")); /* never had one: unchanged */
    json_decref(st);
    vdc_model_snapshot_outcome(UUID, "snapshot", "x", "array array1 is not connected");
    st = tu_read_json("/vms/db-1/status.json");
    json_t *s = json_object_get(st, "snapshots");
    assert_int_equal(json_integer_value(json_object_get(s, "count")), 0);
    json_t *last = json_object_get(s, "last_operation");
    assert_true(json_is_false(json_object_get(last, "ok")));
    assert_string_equal(json_string_value(json_object_get(last, "message")),
                        "array array1 is not connected");
    json_decref(st);
    vdc_model_snapshot_put(record("s1", "2026-11-22T10:00:00.000000Z", NULL));
    vdc_model_snapshot_outcome(UUID, "snapshot", "s1", NULL);
    st = tu_read_json("/vms/db-1/status.json");
    s = json_object_get(st, "snapshots");
    assert_int_equal(json_integer_value(json_object_get(s, "count")), 1);
    assert_string_equal(json_string_value(json_object_get(s, "latest")), "s1");
    assert_true(json_is_true(json_object_get(json_object_get(s, "last_operation"), "ok")));
    json_decref(st);
}

static void test_pending_and_remove(void **state)
{
    (void)state;
    vdc_model_snapshot_pending(UUID, "soon", true);
    vdc_model_read_lock();
    bool pending = vdc_snapshot_is_pending(UUID, "soon");
    bool shown = vdc_snapshot_find(UUID, "soon") != NULL;
    vdc_model_read_unlock();
    assert_true(pending);
    assert_false(shown); /* not shown half-made */
    g_autofree char *l1 = tu_list_joined("/vms/db-1/snapshots");
    assert_string_equal(l1, "");
    vdc_model_snapshot_pending(UUID, "soon", false);
    vdc_model_snapshot_put(record("soon", "2026-11-22T10:00:00.000000Z", NULL));
    uint64_t ino = 0;
    assert_int_equal(tu_ino("/vms/db-1/snapshots/soon/info.json", &ino), 0);
    vdc_model_snapshot_remove(UUID, "soon");
    g_autofree char *l2 = tu_list_joined("/vms/db-1/snapshots");
    assert_string_equal(l2, "");
    /* Its inode is stale now: it resolves to nothing. */
    struct vdc_node n;
    vdc_model_read_lock();
    int rc = vdc_tree_resolve(ino, &n);
    vdc_model_read_unlock();
    assert_int_equal(rc, -ENOENT);
    /* A record without a uuid is not loaded. */
    vdc_model_snapshot_put(json_pack("{s:s}", "name", "x"));
    g_autofree char *l3 = tu_list_joined("/vms/db-1/snapshots");
    assert_string_equal(l3, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_round_trip),
        cmocka_unit_test(test_store_skips_and_cleans),
        cmocka_unit_test(test_store_missing_dir_is_empty),
        cmocka_unit_test_setup_teardown(test_tree_shows_snapshots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_and_outcome, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pending_and_remove, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
