/* test_store.c — the state directory (store.h), on a real directory under
 * /tmp made fresh for each test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"

typedef struct vdc_store Store;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Store, vdc_store_close)

struct fixture {
    char *tmp;   /* the mkdtemp directory */
    char *state; /* tmp/state: the state directory (not made by the fixture) */
    char *vms;   /* tmp/state/vms */
};

/* --- warnings: counted, and kept out of the test output -------------- */

static int warnings;
static char *last_warning;

static void log_handler(const gchar *domain, GLogLevelFlags level, const gchar *message,
                        gpointer data)
{
    (void)domain;
    (void)data;
    if (level & G_LOG_LEVEL_WARNING) {
        warnings++;
        g_free(last_warning);
        last_warning = g_strdup(message);
    } else {
        g_log_default_handler(domain, level, message, data);
    }
}

/* --- fixture ---------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    struct fixture *f = g_new0(struct fixture, 1);
    f->tmp = g_strdup("/tmp/vdcfs-store-XXXXXX");
    if (!g_mkdtemp(f->tmp))
        return -1;
    f->state = g_build_filename(f->tmp, "state", NULL);
    f->vms = g_build_filename(f->state, "vms", NULL);
    warnings = 0;
    g_log_set_default_handler(log_handler, NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    int rc = nftw(f->tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    g_free(f->tmp);
    g_free(f->state);
    g_free(f->vms);
    g_free(f);
    g_clear_pointer(&last_warning, g_free);
    g_log_set_default_handler(g_log_default_handler, NULL);
    return rc;
}

/* --- helpers ---------------------------------------------------------- */

static struct vdc_store *open_ok(const struct fixture *f)
{
    g_autoptr(GError) err = NULL;
    struct vdc_store *st = vdc_store_open(f->state, &err);
    if (!st)
        fail_msg("vdc_store_open: %s", err->message);
    return st;
}

static GPtrArray *load_ok(struct vdc_store *st)
{
    g_autoptr(GError) err = NULL;
    GPtrArray *vms = vdc_store_load(st, &err);
    if (!vms)
        fail_msg("vdc_store_load: %s", err->message);
    return vms;
}

static struct vdc_stored_vm *vm_at(GPtrArray *vms, guint i)
{
    return g_ptr_array_index(vms, i);
}

/* The fnames of @vms joined with commas. */
static char *fnames(GPtrArray *vms)
{
    GString *s = g_string_new(NULL);
    for (guint i = 0; i < vms->len; i++)
        g_string_append_printf(s, "%s%s", i ? "," : "", vm_at(vms, i)->fname);
    return g_string_free(s, FALSE);
}

static gint compare_strings(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entries of directory @path, sorted, joined with commas. */
static char *listing(const char *path)
{
    g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
    if (!d)
        return g_strdup("(none)");
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    const char *n;
    while ((n = g_dir_read_name(d)))
        g_ptr_array_add(names, g_strdup(n));
    g_ptr_array_sort(names, compare_strings);
    GString *s = g_string_new(NULL);
    for (guint i = 0; i < names->len; i++)
        g_string_append_printf(s, "%s%s", i ? "," : "", (char *)g_ptr_array_index(names, i));
    return g_string_free(s, FALSE);
}

static char *path_in(const struct fixture *f, const char *rel)
{
    return g_build_filename(f->state, rel, NULL);
}

static void write_file(const char *path, const void *data, size_t len)
{
    g_autoptr(GError) err = NULL;
    if (!g_file_set_contents(path, data, (gssize)len, &err))
        fail_msg("%s", err->message);
}

static void assert_bytes(GBytes *b, const void *want, size_t want_len)
{
    assert_non_null(b);
    gsize len;
    const void *data = g_bytes_get_data(b, &len);
    assert_int_equal(len, want_len);
    if (want_len)
        assert_memory_equal(data, want, want_len);
}

static void put_spec_ok(struct vdc_store *st, const char *fname, const void *data, size_t len)
{
    g_autoptr(GError) err = NULL;
    if (!vdc_store_put_spec(st, fname, data, len, &err))
        fail_msg("put_spec %s: %s", fname, err->message);
}

static void put_meta_ok(struct vdc_store *st, const char *fname, json_t *meta)
{
    g_autoptr(GError) err = NULL;
    if (!vdc_store_put_meta(st, fname, meta, &err))
        fail_msg("put_meta %s: %s", fname, err->message);
}

static bool exists(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0;
}

/* --- tests ------------------------------------------------------------ */

static void test_open_creates_dirs(void **state)
{
    struct fixture *f = *state;
    assert_false(exists(f->state));
    g_autoptr(Store) st = open_ok(f);
    struct stat sb;
    assert_int_equal(stat(f->state, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(sb.st_mode & 0777, 0700);
    assert_int_equal(stat(f->vms, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(sb.st_mode & 0777, 0700);
    assert_string_equal(vdc_store_path(st), f->state);
    g_autoptr(GPtrArray) vms = load_ok(st);
    assert_int_equal(vms->len, 0);
    /* the write check leaves nothing behind */
    g_autofree char *l = listing(f->vms);
    assert_string_equal(l, "");

    /* opening an existing one is fine too */
    g_autoptr(Store) again = open_ok(f);
    assert_non_null(again);
}

static void test_open_relative_path_is_made_absolute(void **state)
{
    struct fixture *f = *state;
    g_autofree char *cwd = g_get_current_dir();
    assert_int_equal(chdir(f->tmp), 0);
    g_autoptr(GError) err = NULL;
    g_autoptr(Store) st = vdc_store_open("./state/", &err);
    assert_int_equal(chdir(cwd), 0);
    assert_non_null(st);
    assert_string_equal(vdc_store_path(st), f->state);
}

static void test_round_trip(void **state)
{
    struct fixture *f = *state;
    g_autoptr(Store) st = open_ok(f);
    g_autoptr(GError) err = NULL;

    static const char good[] = "{\"name\": \"web\",  \"memory\": \"1G\"}\n";
    static const char invalid[] = "{\"name\": \"db\", oops";
    static const unsigned char binary[] = {0x00, 0xff, 0x7b, 0x0a, 0x00, 0x80, 0xc3, 0x28, 0x5c};

    assert_true(vdc_store_put_dir(st, "z-empty", &err));
    put_spec_ok(st, "web-3", good, strlen(good));
    put_spec_ok(st, "db@alpha", invalid, strlen(invalid));
    put_spec_ok(st, "bin", binary, sizeof binary);
    put_spec_ok(st, "empty-spec", "", 0);
    json_auto_t *meta = json_pack("{s:i, s:s, s:[s], s:{s:b}}", "generation", 3, "uuid",
                                  "6f1c0a4e-1b7e-4b5f-9a44-1f0c1f6d2b11", "macs",
                                  "52:54:00:aa:bb:cc", "z", "x", 1);
    put_meta_ok(st, "web-3", meta);
    put_meta_ok(st, "meta-only", meta); /* makes the directory too */
    assert_null(err);

    g_autoptr(GPtrArray) vms = load_ok(st);
    g_autofree char *names = fnames(vms);
    assert_string_equal(names, "bin,db@alpha,empty-spec,meta-only,web-3,z-empty");

    assert_bytes(vm_at(vms, 0)->spec, binary, sizeof binary);
    assert_null(vm_at(vms, 0)->meta);
    assert_bytes(vm_at(vms, 1)->spec, invalid, strlen(invalid));
    assert_bytes(vm_at(vms, 2)->spec, "", 0); /* present and empty, not absent */
    assert_null(vm_at(vms, 3)->spec);
    assert_true(json_equal(vm_at(vms, 3)->meta, meta));
    assert_bytes(vm_at(vms, 4)->spec, good, strlen(good));
    assert_true(json_is_object(vm_at(vms, 4)->meta));
    assert_true(json_equal(vm_at(vms, 4)->meta, meta));
    assert_null(vm_at(vms, 5)->spec);
    assert_null(vm_at(vms, 5)->meta);

    /* the layout a person reads: vdcfs.json indented, keys sorted, newline */
    g_autofree char *meta_path = path_in(f, "vms/web-3/vdcfs.json");
    g_autofree char *text = NULL;
    assert_true(g_file_get_contents(meta_path, &text, NULL, NULL));
    char *dumped = json_dumps(meta, JSON_INDENT(2) | JSON_SORT_KEYS);
    g_autofree char *want = g_strconcat(dumped, "\n", NULL);
    free(dumped);
    assert_string_equal(text, want);
    assert_non_null(strstr(text, "\n  \"generation\": 3,\n"));
    g_autofree char *web = path_in(f, "vms/web-3");
    g_autofree char *l = listing(web);
    assert_string_equal(l, "spec.json,vdcfs.json");

    /* a store opened afresh sees the same */
    vdc_store_close(g_steal_pointer(&st));
    g_autoptr(Store) st2 = open_ok(f);
    g_autoptr(GPtrArray) vms2 = load_ok(st2);
    g_autofree char *names2 = fnames(vms2);
    assert_string_equal(names2, names);
    assert_bytes(vm_at(vms2, 0)->spec, binary, sizeof binary);
}

static void test_longest_name(void **state)
{
    struct fixture *f = *state;
    g_autoptr(Store) st = open_ok(f);
    char name[256];
    memset(name, 'n', 255);
    name[255] = '\0';
    put_spec_ok(st, name, "{}", 2);
    g_autoptr(GPtrArray) vms = load_ok(st);
    assert_int_equal(vms->len, 1);
    assert_string_equal(vm_at(vms, 0)->fname, name);
    g_autoptr(GError) err = NULL;
    assert_true(vdc_store_remove(st, name, &err));
}

static void test_replace(void **state)
{
    struct fixture *f = *state;
    g_autoptr(Store) st = open_ok(f);
    put_spec_ok(st, "web", "{\"a\": \"a long first version\"}", 29);
    put_spec_ok(st, "web", "{}", 2); /* shorter: no tail of the old one */
    json_auto_t *m1 = json_pack("{s:i}", "generation", 1);
    json_auto_t *m2 = json_pack("{s:i, s:s}", "generation", 2, "host", "beta");
    put_meta_ok(st, "web", m1);
    put_meta_ok(st, "web", m2);

    g_autoptr(GPtrArray) vms = load_ok(st);
    assert_int_equal(vms->len, 1);
    assert_bytes(vm_at(vms, 0)->spec, "{}", 2);
    assert_true(json_equal(vm_at(vms, 0)->meta, m2));
    /* no temporary file is left behind by a successful replace */
    g_autofree char *dir = path_in(f, "vms/web");
    g_autofree char *l = listing(dir);
    assert_string_equal(l, "spec.json,vdcfs.json");
}

static void test_remove_spec_keeps_dir(void **state)
{
    struct fixture *f = *state;
    g_autoptr(Store) st = open_ok(f);
    g_autoptr(GError) err = NULL;
    json_auto_t *meta = json_pack("{s:i}", "generation", 1);
    put_spec_ok(st, "web", "{}", 2);
    put_meta_ok(st, "web", meta);

    assert_true(vdc_store_remove_spec(st, "web", &err));
    g_autofree char *dir = path_in(f, "vms/web");
    g_autofree char *l = listing(dir);
    assert_string_equal(l, "");
    g_autoptr(GPtrArray) vms = load_ok(st);
    assert_int_equal(vms->len, 1);
    assert_string_equal(vm_at(vms, 0)->fname, "web");
    assert_null(vm_at(vms, 0)->spec);
    assert_null(vm_at(vms, 0)->meta);

    /* already gone, and never there: not errors */
    assert_true(vdc_store_remove_spec(st, "web", &err));
    assert_true(vdc_store_remove_spec(st, "never-was", &err));
    assert_null(err);
    g_autofree char *never = path_in(f, "vms/never-was");
    assert_false(exists(never));
}

static void test_remove(void **state)
{
    struct fixture *f = *state;
    g_autoptr(Store) st = open_ok(f);
    g_autoptr(GError) err = NULL;
    json_auto_t *meta = json_pack("{s:i}", "generation", 1);
    put_spec_ok(st, "web", "{}", 2);
    put_meta_ok(st, "web", meta);
    put_spec_ok(st, "db", "{}", 2);
    /* what a person may have added inside: removed as well */
    g_autofree char *notes = path_in(f, "vms/web/notes");
    assert_int_equal(g_mkdir(notes, 0700), 0);
    g_autofree char *note = path_in(f, "vms/web/notes/todo.txt");
    write_file(note, "x", 1);
    g_autofree char *link = path_in(f, "vms/web/link");
    assert_int_equal(symlink(f->tmp, link), 0); /* removed, not followed */

    assert_true(vdc_store_remove(st, "web", &err));
    assert_null(err);
    g_autofree char *l = listing(f->vms);
    assert_string_equal(l, "db");
    g_autofree char *root = listing(f->state); /* nothing left on the side */
    assert_string_equal(root, "vms");
    assert_true(exists(f->tmp));
    g_autoptr(GPtrArray) vms = load_ok(st);
    g_autofree char *names = fnames(vms);
    assert_string_equal(names, "db");

    /* absent: not an error */
    assert_true(vdc_store_remove(st, "web", &err));
    assert_true(vdc_store_remove(st, "never-was", &err));
    assert_null(err);

    /* an empty VM directory */
    assert_true(vdc_store_put_dir(st, "empty", &err));
    assert_true(vdc_store_remove(st, "empty", &err));
    g_autofree char *l2 = listing(f->vms);
    assert_string_equal(l2, "db");
}

static void test_invalid_fnames(void **state)
{
    struct fixture *f = *state;
    g_autoptr(Store) st = open_ok(f);
    char long_name[301];
    memset(long_name, 'a', 300);
    long_name[300] = '\0';
    const char *bad[] = {"", ".", "..", "a/b", "/", "../x", "x/..", long_name, NULL};
    json_auto_t *meta = json_pack("{s:i}", "generation", 1);

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        for (int op = 0; op < 5; op++) {
            g_autoptr(GError) err = NULL;
            bool ok;
            switch (op) {
            case 0: ok = vdc_store_put_dir(st, bad[i], &err); break;
            case 1: ok = vdc_store_put_spec(st, bad[i], "{}", 2, &err); break;
            case 2: ok = vdc_store_put_meta(st, bad[i], meta, &err); break;
            case 3: ok = vdc_store_remove_spec(st, bad[i], &err); break;
            default: ok = vdc_store_remove(st, bad[i], &err); break;
            }
            if (ok)
                fail_msg("fname \"%.40s\" accepted by operation %d", bad[i] ? bad[i] : "NULL", op);
            assert_non_null(err);
            assert_true(err->domain == VDC_STORE_ERROR);
            assert_int_equal(err->code, EINVAL);
            assert_non_null(strstr(err->message, "invalid VM directory name"));
            assert_non_null(strstr(err->message, f->vms));
            assert_true(strlen(err->message) < 200); /* the 300-byte name is cut */
        }
    }
    /* nothing touched: not vms/, not the state dir, not its parent */
    g_autofree char *l = listing(f->vms);
    assert_string_equal(l, "");
    g_autofree char *root = listing(f->state);
    assert_string_equal(root, "vms");
    g_autofree char *top = listing(f->tmp);
    assert_string_equal(top, "state");
}

static void test_put_meta_refuses_non_objects(void **state)
{
    struct fixture *f = *state;
    g_autoptr(Store) st = open_ok(f);
    json_auto_t *array = json_pack("[i]", 1);
    g_autoptr(GError) err = NULL;
    assert_false(vdc_store_put_meta(st, "web", array, &err));
    assert_int_equal(err->code, EINVAL);
    assert_non_null(strstr(err->message, "not a JSON object"));
    g_clear_error(&err);
    assert_false(vdc_store_put_meta(st, "web", NULL, &err));
    assert_int_equal(err->code, EINVAL);
}

static void test_leftovers_removed_by_open(void **state)
{
    struct fixture *f = *state;
    {
        g_autoptr(Store) st = open_ok(f);
        put_spec_ok(st, "web", "{\"v\": 1}", 8);
        /* a VM may be called ".tmp-..." itself: it is a VM, not a leftover */
        put_spec_ok(st, ".tmp-vm", "{}", 2);
    }
    /* what a crash leaves: a half-written replace in a VM directory, a
     * write check's probe, a VM directory whose removal was cut short */
    g_autofree char *half = path_in(f, "vms/web/.tmp-spec.json-0badf00d");
    write_file(half, "{\"v\": 2, \"trunc", 15);
    g_autofree char *half_meta = path_in(f, "vms/.tmp-vm/.tmp-vdcfs.json-12345678");
    write_file(half_meta, "{", 1);
    g_autofree char *probe = path_in(f, "vms/.tmp-probe-deadbeef");
    write_file(probe, "", 0);
    g_autofree char *trash = path_in(f, ".tmp-removed-01234567");
    assert_int_equal(g_mkdir(trash, 0700), 0);
    g_autofree char *trash_spec = path_in(f, ".tmp-removed-01234567/spec.json");
    write_file(trash_spec, "{}", 2);

    g_autoptr(Store) st = open_ok(f);
    assert_false(exists(half));
    assert_false(exists(half_meta));
    assert_false(exists(probe));
    assert_false(exists(trash));
    g_autofree char *vms_list = listing(f->vms);
    assert_string_equal(vms_list, ".tmp-vm,web");
    g_autofree char *web = path_in(f, "vms/web");
    g_autofree char *web_list = listing(web);
    assert_string_equal(web_list, "spec.json");

    g_autoptr(GPtrArray) vms = load_ok(st);
    g_autofree char *names = fnames(vms);
    assert_string_equal(names, ".tmp-vm,web");
    assert_bytes(vm_at(vms, 1)->spec, "{\"v\": 1}", 8);
}

static void test_tmp_files_never_loaded(void **state)
{
    struct fixture *f = *state;
    g_autoptr(Store) st = open_ok(f);
    put_spec_ok(st, "web", "{}", 2);
    /* appearing while the store is open (another writer's, or a crash of a
     * previous process sharing the directory) */
    g_autofree char *tmp = path_in(f, "vms/web/.tmp-spec.json-aaaaaaaa");
    write_file(tmp, "{\"new\": true}", 13);
    g_autofree char *probe = path_in(f, "vms/.tmp-probe-bbbbbbbb");
    write_file(probe, "", 0);

    warnings = 0;
    g_autoptr(GPtrArray) vms = load_ok(st);
    g_autofree char *names = fnames(vms);
    assert_string_equal(names, "web");
    assert_bytes(vm_at(vms, 0)->spec, "{}", 2);
    assert_int_equal(warnings, 0); /* our own probe files are not worth one */
}

static void test_non_directories_skipped(void **state)
{
    struct fixture *f = *state;
    g_autoptr(Store) st = open_ok(f);
    put_spec_ok(st, "web", "{}", 2);
    g_autofree char *file = path_in(f, "vms/README");
    write_file(file, "hello", 5);
    g_autofree char *link = path_in(f, "vms/alias");
    assert_int_equal(symlink("web", link), 0);
    g_autofree char *fifo = path_in(f, "vms/pipe");
    assert_int_equal(mkfifo(fifo, 0600), 0);

    warnings = 0;
    g_autoptr(GPtrArray) vms = load_ok(st);
    g_autofree char *names = fnames(vms);
    assert_string_equal(names, "web");
    assert_int_equal(warnings, 3);
    assert_non_null(strstr(last_warning, "not a directory"));

    /* nor does a write go through a symlink under vms/ */
    g_autoptr(GError) err = NULL;
    assert_false(vdc_store_put_spec(st, "alias", "{\"x\": 1}", 8, &err));
    assert_int_equal(err->code, ENOTDIR);
    g_autofree char *real = path_in(f, "vms/web/spec.json");
    g_autofree char *text = NULL;
    assert_true(g_file_get_contents(real, &text, NULL, NULL));
    assert_string_equal(text, "{}");
}

static void test_non_regular_files_skipped(void **state)
{
    struct fixture *f = *state;
    g_autoptr(Store) st = open_ok(f);
    g_autoptr(GError) err = NULL;
    assert_true(vdc_store_put_dir(st, "fifo", &err));
    assert_true(vdc_store_put_dir(st, "link", &err));
    g_autofree char *fifo = path_in(f, "vms/fifo/spec.json");
    assert_int_equal(mkfifo(fifo, 0600), 0); /* must not hang the load */
    g_autofree char *outside = g_build_filename(f->tmp, "outside.json", NULL);
    write_file(outside, "{}", 2);
    g_autofree char *link = path_in(f, "vms/link/spec.json");
    assert_int_equal(symlink(outside, link), 0);

    warnings = 0;
    g_autoptr(GPtrArray) vms = load_ok(st);
    assert_int_equal(vms->len, 2);
    assert_null(vm_at(vms, 0)->spec);
    assert_null(vm_at(vms, 1)->spec);
    assert_int_equal(warnings, 2);
    assert_non_null(strstr(last_warning, "not a regular file"));
}

static void test_oversized_files_skipped(void **state)
{
    struct fixture *f = *state;
    g_autoptr(Store) st = open_ok(f);
    g_autoptr(GError) err = NULL;
    assert_true(vdc_store_put_dir(st, "big", &err));
    assert_true(vdc_store_put_dir(st, "limit", &err));
    g_autofree char *big = path_in(f, "vms/big/spec.json");
    g_autofree char *limit = path_in(f, "vms/limit/spec.json");
    write_file(big, "", 0);
    write_file(limit, "", 0);
    assert_int_equal(truncate(big, (16 << 20) + 1), 0); /* sparse: cheap */
    assert_int_equal(truncate(limit, 16 << 20), 0);

    warnings = 0;
    g_autoptr(GPtrArray) vms = load_ok(st);
    assert_int_equal(vms->len, 2);
    assert_null(vm_at(vms, 0)->spec);
    assert_int_equal(warnings, 1);
    assert_non_null(strstr(last_warning, "larger than 16 MiB"));
    assert_non_null(vm_at(vms, 1)->spec);
    assert_int_equal(g_bytes_get_size(vm_at(vms, 1)->spec), 16 << 20);
}

static void test_open_parent_is_a_file(void **state)
{
    struct fixture *f = *state;
    /* tests run as root, so chmod cannot make a directory unwritable: a
     * path through a regular file cannot be made by anyone */
    g_autofree char *file = g_build_filename(f->tmp, "file", NULL);
    write_file(file, "x", 1);
    g_autofree char *dir = g_build_filename(file, "state", NULL);
    g_autoptr(GError) err = NULL;
    g_autoptr(Store) st = vdc_store_open(dir, &err);
    assert_null(st);
    assert_non_null(err);
    assert_true(err->domain == VDC_STORE_ERROR);
    assert_int_equal(err->code, ENOTDIR);
    g_autofree char *want = g_strdup_printf("state dir %s: %s", dir, g_strerror(ENOTDIR));
    assert_string_equal(err->message, want);

    /* the state directory itself a file */
    g_clear_error(&err);
    g_autoptr(Store) st2 = vdc_store_open(file, &err);
    assert_null(st2);
    assert_int_equal(err->code, ENOTDIR);
    assert_non_null(strstr(err->message, file));

    /* vms/ a file */
    g_clear_error(&err);
    assert_int_equal(g_mkdir(f->state, 0700), 0);
    write_file(f->vms, "", 0);
    g_autoptr(Store) st3 = vdc_store_open(f->state, &err);
    assert_null(st3);
    assert_int_equal(err->code, ENOTDIR);
    assert_non_null(strstr(err->message, f->vms));

    /* an empty path */
    g_clear_error(&err);
    g_autoptr(Store) st4 = vdc_store_open("", &err);
    assert_null(st4);
    assert_int_equal(err->code, EINVAL);
}

static void test_write_error_names_the_file(void **state)
{
    struct fixture *f = *state;
    g_autoptr(Store) st = open_ok(f);
    g_autoptr(GError) err = NULL;
    /* spec.json a non-empty directory: the rename over it fails */
    g_autofree char *blocker = path_in(f, "vms/web/spec.json/x");
    assert_int_equal(g_mkdir_with_parents(blocker, 0700), 0);
    assert_false(vdc_store_put_spec(st, "web", "{}", 2, &err));
    assert_true(err->domain == VDC_STORE_ERROR);
    assert_int_equal(err->code, EISDIR);
    g_autofree char *want =
        g_strdup_printf("state dir %s/web/spec.json: %s", f->vms, g_strerror(EISDIR));
    assert_string_equal(err->message, want);
    /* and the temporary file is not left behind */
    g_autofree char *dir = path_in(f, "vms/web");
    g_autofree char *l = listing(dir);
    assert_string_equal(l, "spec.json");
    /* nor loaded as a spec */
    warnings = 0;
    g_autoptr(GPtrArray) vms = load_ok(st);
    assert_null(vm_at(vms, 0)->spec);
    assert_int_equal(warnings, 1);
}

static void test_bad_meta_loads_as_null(void **state)
{
    struct fixture *f = *state;
    g_autoptr(Store) st = open_ok(f);
    put_spec_ok(st, "a-broken", "{}", 2);
    put_spec_ok(st, "b-array", "{}", 2);
    put_spec_ok(st, "c-empty", "{}", 2);
    g_autofree char *broken = path_in(f, "vms/a-broken/vdcfs.json");
    write_file(broken, "{\"generation\": 1,", 17);
    g_autofree char *array = path_in(f, "vms/b-array/vdcfs.json");
    write_file(array, "[1, 2]\n", 7);
    g_autofree char *empty = path_in(f, "vms/c-empty/vdcfs.json");
    write_file(empty, "", 0);

    warnings = 0;
    g_autoptr(GPtrArray) vms = load_ok(st);
    assert_int_equal(vms->len, 3);
    for (guint i = 0; i < vms->len; i++) {
        assert_null(vm_at(vms, i)->meta);
        assert_bytes(vm_at(vms, i)->spec, "{}", 2); /* the spec survives */
    }
    assert_int_equal(warnings, 3);
    assert_non_null(strstr(last_warning, "c-empty/vdcfs.json"));
}

/* --- threads: different fnames at once ------------------------------- */

#define THREADS 8
#define ROUNDS 10

struct worker {
    struct vdc_store *st;
    int id;
    bool ok;
};

static gpointer worker_run(gpointer data)
{
    struct worker *w = data;
    g_autofree char *fname = g_strdup_printf("vm-%d", w->id);
    w->ok = true;
    for (int r = 0; r < ROUNDS && w->ok; r++) {
        g_autoptr(GError) err = NULL;
        g_autofree char *spec = g_strdup_printf("{\"id\": %d, \"round\": %d}", w->id, r);
        json_auto_t *meta = json_pack("{s:i}", "generation", r);
        w->ok = vdc_store_put_spec(w->st, fname, spec, strlen(spec), &err) &&
                vdc_store_put_meta(w->st, fname, meta, &err);
        if (w->ok && r % 3 == 0) {
            /* loads run alongside other threads' writes */
            GPtrArray *vms = vdc_store_load(w->st, &err);
            w->ok = vms != NULL;
            if (vms)
                g_ptr_array_unref(vms);
        }
        if (w->ok && w->id % 2 && r == ROUNDS / 2)
            w->ok = vdc_store_remove(w->st, fname, &err);
        if (!w->ok)
            g_printerr("worker %d: %s\n", w->id, err ? err->message : "?");
    }
    return NULL;
}

static void test_threads(void **state)
{
    struct fixture *f = *state;
    g_autoptr(Store) st = open_ok(f);
    struct worker w[THREADS];
    GThread *t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){st, i, false};
        t[i] = g_thread_new("store-worker", worker_run, &w[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        g_thread_join(t[i]);
        assert_true(w[i].ok);
    }
    g_autoptr(GPtrArray) vms = load_ok(st);
    assert_int_equal(vms->len, THREADS);
    for (int i = 0; i < THREADS; i++) {
        g_autofree char *want = g_strdup_printf("{\"id\": %d, \"round\": %d}", i, ROUNDS - 1);
        g_autofree char *fname = g_strdup_printf("vm-%d", i);
        assert_string_equal(vm_at(vms, (guint)i)->fname, fname);
        assert_bytes(vm_at(vms, (guint)i)->spec, want, strlen(want));
        assert_int_equal(json_integer_value(json_object_get(vm_at(vms, (guint)i)->meta,
                                                            "generation")),
                         ROUNDS - 1);
    }
    g_autofree char *root = listing(f->state);
    assert_string_equal(root, "vms");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_open_creates_dirs),
        T(test_open_relative_path_is_made_absolute),
        T(test_round_trip),
        T(test_longest_name),
        T(test_replace),
        T(test_remove_spec_keeps_dir),
        T(test_remove),
        T(test_invalid_fnames),
        T(test_put_meta_refuses_non_objects),
        T(test_leftovers_removed_by_open),
        T(test_tmp_files_never_loaded),
        T(test_non_directories_skipped),
        T(test_non_regular_files_skipped),
        T(test_oversized_files_skipped),
        T(test_open_parent_is_a_file),
        T(test_write_error_names_the_file),
        T(test_bad_meta_loads_as_null),
        T(test_threads),
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
