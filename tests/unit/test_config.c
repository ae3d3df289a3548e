/* test_config.c — the configuration file (config.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "config.h"

#define ORIGIN "test.json"

static struct vdc_host_config *host_at(struct vdc_config *cfg, guint i)
{
    return g_ptr_array_index(cfg->hosts, i);
}

static void test_good_config(void **state)
{
    (void)state;
    g_autoptr(GError) err = NULL;
    g_autoptr(vdc_config) cfg = vdc_config_parse(
        "{\n"
        "  \"state_dir\": \"/var/lib/vdcfs\",\n"
        "  \"refresh_seconds\": 7,\n"
        "  \"hosts\": [\n"
        "    {\"name\": \"alpha\", \"uri\": \"test:///srv/dc/alpha.xml\"},\n"
        "    {\"uri\": \"test+tcp://127.0.0.1:16509/default\", \"name\": \"beta-2.dc_1\"}\n"
        "  ]\n"
        "}\n",
        ORIGIN, &err);
    assert_null(err);
    assert_non_null(cfg);
    assert_string_equal(cfg->state_dir, "/var/lib/vdcfs");
    assert_int_equal(cfg->refresh_seconds, 7);
    assert_int_equal(cfg->hosts->len, 2);
    assert_string_equal(host_at(cfg, 0)->name, "alpha");
    assert_string_equal(host_at(cfg, 0)->uri, "test:///srv/dc/alpha.xml");
    assert_string_equal(host_at(cfg, 1)->name, "beta-2.dc_1");
    assert_string_equal(host_at(cfg, 1)->uri, "test+tcp://127.0.0.1:16509/default");
}

static void test_minimal_config_defaults(void **state)
{
    (void)state;
    g_autoptr(GError) err = NULL;
    g_autoptr(vdc_config) cfg =
        vdc_config_parse("{\"hosts\": [{\"name\": \"a\", \"uri\": \"test:///default\"}]}", ORIGIN,
                         &err);
    assert_null(err);
    assert_non_null(cfg);
    assert_null(cfg->state_dir);
    assert_int_equal(cfg->refresh_seconds, VDC_DEFAULT_REFRESH_SECONDS);
    assert_int_equal(cfg->hosts->len, 1);
}

static void test_refresh_bounds_accepted(void **state)
{
    (void)state;
    static const struct {
        const char *value;
        unsigned want;
    } ok[] = {{"1", 1}, {"86400", 86400}, {"30", 30}};
    for (size_t i = 0; i < G_N_ELEMENTS(ok); i++) {
        g_autofree char *text = g_strdup_printf(
            "{\"refresh_seconds\": %s, \"hosts\": [{\"name\": \"a\", \"uri\": \"u\"}]}",
            ok[i].value);
        g_autoptr(GError) err = NULL;
        g_autoptr(vdc_config) cfg = vdc_config_parse(text, ORIGIN, &err);
        if (!cfg)
            fail_msg("refresh_seconds %s refused: %s", ok[i].value, err->message);
        assert_int_equal(cfg->refresh_seconds, ok[i].want);
    }
}

#define H1 "{\"name\": \"alpha\", \"uri\": \"test:///a.xml\"}"
#define H2 "{\"name\": \"beta\", \"uri\": \"test:///b.xml\"}"
#define ARR_NO_NAME                                                                        \
    "\"driver\": \"tgt\", \"portal\": \"127.0.0.1:3260\", \"target\": \"iqn.x:a\", "           \
    "\"backing_dir\": \"/srv/a\""
#define ARR(name) "{\"name\": \"" name "\", " ARR_NO_NAME "}"

static const struct {
    const char *text;
    const char *want; /* substring of the message */
} bad[] = {
    /* not JSON at all, with the line of the mistake */
    {"{\"hosts\": [" H1 "\n,\n]", ORIGIN ": line 3:"},
    {"{\n\n\n  \"hosts\": [" H1 "] oops}", ORIGIN ": line 4:"},
    {"", ORIGIN ": line "},
    {"{\"hosts\": [" H1 "]} trailing", ORIGIN ": line 1:"},
    {"{'hosts': []}", ORIGIN ": line 1:"},
    /* duplicate keys and NUL bytes, refused by the JSON reader */
    {"{\"hosts\": [" H1 "], \"hosts\": [" H2 "]}", "duplicate"},
    {"{\"hosts\": [{\"name\": \"a\", \"name\": \"b\", \"uri\": \"u\"}]}", "duplicate"},
    {"{\"hosts\": [{\"name\": \"al\\u0000pha\", \"uri\": \"u\"}]}", "u0000"},
    {"{\"state_dir\": \"/var\\u0000/x\", \"hosts\": [" H1 "]}", "u0000"},
    /* the top level */
    {"[]", "must be a JSON object"},
    {"42", ORIGIN ": "},
    {"{\"hosts\": [" H1 "], \"bogus\": 1}", "unknown key \"bogus\" in the configuration"},
    {"{\"Hosts\": [" H1 "]}", "unknown key \"Hosts\""},
    {"{\"state_dir\": \"/x\"}", "missing key \"hosts\""},
    {"{}", "missing key \"hosts\""},
    {"{\"hosts\": []}", "\"hosts\" is empty"},
    {"{\"hosts\": {\"name\": \"a\", \"uri\": \"u\"}}", "\"hosts\" must be an array"},
    {"{\"hosts\": \"alpha\"}", "\"hosts\" must be an array"},
    {"{\"hosts\": null}", "\"hosts\" must be an array"},
    /* hosts[i] */
    {"{\"hosts\": [\"alpha\"]}", "hosts[0] must be an object"},
    {"{\"hosts\": [" H1 ", 3]}", "hosts[1] must be an object"},
    {"{\"hosts\": [" H1 ", {\"name\": \"b\", \"uri\": \"u\", \"port\": 1}]}",
     "unknown key \"port\" in hosts[1]"},
    {"{\"hosts\": [{\"uri\": \"u\"}]}", "missing key \"name\" in hosts[0]"},
    {"{\"hosts\": [" H1 ", {\"name\": \"b\"}]}", "missing key \"uri\" in hosts[1]"},
    {"{\"hosts\": [{\"name\": \"\", \"uri\": \"u\"}]}",
     "\"name\" in hosts[0] must be a non-empty string"},
    {"{\"hosts\": [{\"name\": 7, \"uri\": \"u\"}]}",
     "\"name\" in hosts[0] must be a non-empty string"},
    {"{\"hosts\": [{\"name\": \"a\", \"uri\": \"\"}]}",
     "\"uri\" in hosts[0] must be a non-empty string"},
    {"{\"hosts\": [{\"name\": \"a\", \"uri\": [\"u\"]}]}",
     "\"uri\" in hosts[0] must be a non-empty string"},
    {"{\"hosts\": [{\"name\": \".x\", \"uri\": \"u\"}]}", "host name \".x\" in hosts[0] is not valid"},
    {"{\"hosts\": [{\"name\": \"a/b\", \"uri\": \"u\"}]}", "host name \"a/b\" in hosts[0] is not valid"},
    {"{\"hosts\": [{\"name\": \"a b\", \"uri\": \"u\"}]}", "host name \"a b\" in hosts[0] is not valid"},
    {"{\"hosts\": [{\"name\": \"..\", \"uri\": \"u\"}]}", "host name \"..\" in hosts[0] is not valid"},
    {"{\"hosts\": [{\"name\": \"a@b\", \"uri\": \"u\"}]}", "host name \"a@b\" in hosts[0] is not valid"},
    {"{\"hosts\": [{\"name\": \"hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh\","
     " \"uri\": \"u\"}]}", "is not valid"},
    {"{\"hosts\": [" H1 ", " H2 ", " H1 "]}", "host name \"alpha\" appears twice"},
    /* refresh_seconds */
    {"{\"refresh_seconds\": 0, \"hosts\": [" H1 "]}", "\"refresh_seconds\" must be an integer from 1 to 86400"},
    {"{\"refresh_seconds\": -5, \"hosts\": [" H1 "]}", "\"refresh_seconds\" must be an integer"},
    {"{\"refresh_seconds\": 86401, \"hosts\": [" H1 "]}", "\"refresh_seconds\" must be an integer"},
    {"{\"refresh_seconds\": 99999999999999, \"hosts\": [" H1 "]}", "\"refresh_seconds\" must be an integer"},
    {"{\"refresh_seconds\": \"30\", \"hosts\": [" H1 "]}", "\"refresh_seconds\" must be an integer"},
    {"{\"refresh_seconds\": 1.5, \"hosts\": [" H1 "]}", "\"refresh_seconds\" must be an integer"},
    {"{\"refresh_seconds\": null, \"hosts\": [" H1 "]}", "\"refresh_seconds\" must be an integer"},
    /* state_dir */
    {"{\"state_dir\": 5, \"hosts\": [" H1 "]}",
     "\"state_dir\" in the configuration must be a non-empty string"},
    {"{\"state_dir\": \"\", \"hosts\": [" H1 "]}",
     "\"state_dir\" in the configuration must be a non-empty string"},
    {"{\"state_dir\": [\"/x\"], \"hosts\": [" H1 "]}",
     "\"state_dir\" in the configuration must be a non-empty string"},
    /* arrays */
    {"{\"hosts\": [" H1 "], \"arrays\": {}}", "\"arrays\" must be an array"},
    {"{\"hosts\": [" H1 "], \"arrays\": [7]}", "arrays[0] must be an object"},
    {"{\"hosts\": [" H1 "], \"arrays\": [{" ARR_NO_NAME "}]}", "missing key \"name\" in arrays[0]"},
    {"{\"hosts\": [" H1 "], \"arrays\": [{\"name\": \"a\", \"driver\": \"tgt\"}]}",
     "missing key \"portal\" in arrays[0]"},
    {"{\"hosts\": [" H1 "], \"arrays\": [{\"name\": \"a/b\", " ARR_NO_NAME "}]}",
     "array name \"a/b\" in arrays[0] is not valid"},
    {"{\"hosts\": [" H1 "], \"arrays\": [{\"name\": \"a\", " ARR_NO_NAME ", \"size\": 1}]}",
     "unknown key \"size\" in arrays[0]"},
    {"{\"hosts\": [" H1 "], \"arrays\": [" ARR("a") ", " ARR("a") "]}",
     "array name \"a\" appears twice"},
    {"{\"hosts\": [" H1 "], \"arrays\": [{\"name\": \"a\", \"driver\": \"netapp\", "
     "\"portal\": \"p\", \"target\": \"t\", \"backing_dir\": \"/b\"}]}",
     "unknown driver \"netapp\" in arrays[0]"},
    {"{\"hosts\": [" H1 "], \"arrays\": [{\"name\": \"a\", \"driver\": \"tgt\", "
     "\"portal\": \"p\", \"target\": \"t\", \"backing_dir\": \"srv/a\"}]}",
     "\"backing_dir\" in arrays[0] must be an absolute path"},
#define ARR_PORTAL(p)                                                                     \
    "{\"hosts\": [" H1 "], \"arrays\": [{\"name\": \"a\", \"driver\": \"tgt\", \"portal\": \"" p \
    "\", \"target\": \"t\", \"backing_dir\": \"/b\"}]}"
    {ARR_PORTAL(":3260"), "\"portal\" in arrays[0] must be \"host\" or \"host:port\""},
    {ARR_PORTAL("h:"), "\"portal\" in arrays[0] must be"},
    {ARR_PORTAL("h:0"), "\"portal\" in arrays[0] must be"},
    {ARR_PORTAL("h:65536"), "\"portal\" in arrays[0] must be"},
    {ARR_PORTAL("h:32x"), "\"portal\" in arrays[0] must be"},
    {ARR_PORTAL("[::1"), "\"portal\" in arrays[0] must be"},
    {ARR_PORTAL("[::1]x"), "\"portal\" in arrays[0] must be"},
    {ARR_PORTAL("[]:3260"), "\"portal\" in arrays[0] must be"},
    {"{\"hosts\": [" H1 "], \"arrays\": [{\"name\": \"a\", " ARR_NO_NAME ", \"control_port\": -1}]}",
     "\"control_port\" in arrays[0] must be an integer from 0 to 65535"},
    {"{\"hosts\": [" H1 "], \"arrays\": [{\"name\": \"a\", " ARR_NO_NAME ", \"control_port\": \"1\"}]}",
     "\"control_port\" in arrays[0] must be an integer"},
    {"{\"hosts\": [" H1 "], \"arrays\": [{\"name\": \"a\", " ARR_NO_NAME ", \"chap\": \"u:p\"}]}",
     "arrays[0].chap must be an object"},
    {"{\"hosts\": [" H1 "], \"arrays\": [{\"name\": \"a\", " ARR_NO_NAME ", \"chap\": {\"user\": \"u\"}}]}",
     "missing key \"password\" in arrays[0].chap"},
    {"{\"hosts\": [" H1 "], \"arrays\": [{\"name\": \"a\", " ARR_NO_NAME
     ", \"chap\": {\"user\": \"u\", \"password\": \"p\", \"secret\": 1}}]}",
     "unknown key \"secret\" in arrays[0].chap"},
    {"{\"hosts\": [" H1 "], \"snapshot_timeout_seconds\": 0}",
     "\"snapshot_timeout_seconds\" must be an integer from 1 to 3600"},
};

static void test_bad_configs(void **state)
{
    (void)state;
    assert_true(G_N_ELEMENTS(bad) >= 20);
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) err = NULL;
        struct vdc_config *cfg = vdc_config_parse(bad[i].text, ORIGIN, &err);
        if (cfg) {
            vdc_config_free(cfg);
            fail_msg("bad[%zu] was accepted: %s", i, bad[i].text);
        }
        if (!err)
            fail_msg("bad[%zu] refused without a message: %s", i, bad[i].text);
        if (!g_error_matches(err, VDC_CONFIG_ERROR, 1))
            fail_msg("bad[%zu]: unexpected error domain/code", i);
        if (!strstr(err->message, bad[i].want))
            fail_msg("bad[%zu]: message \"%s\" lacks \"%s\" (config: %s)", i, err->message,
                     bad[i].want, bad[i].text);
        /* Every message names its origin and is one line. */
        if (!g_str_has_prefix(err->message, ORIGIN ": "))
            fail_msg("bad[%zu]: message \"%s\" does not start with the origin", i, err->message);
        if (strchr(err->message, '\n'))
            fail_msg("bad[%zu]: message \"%s\" is not one line", i, err->message);
    }
}

static char *temp_dir(void)
{
    g_autoptr(GError) err = NULL;
    char *dir = g_dir_make_tmp("vdcfs-config-XXXXXX", &err);
    assert_non_null(dir);
    return dir;
}

static void test_load_missing_file(void **state)
{
    (void)state;
    g_autofree char *dir = temp_dir();
    g_autofree char *path = g_build_filename(dir, "no-such-config.json", NULL);
    g_autoptr(GError) err = NULL;
    struct vdc_config *cfg = vdc_config_load(path, &err);
    assert_null(cfg);
    assert_non_null(err);
    if (!strstr(err->message, path))
        fail_msg("message \"%s\" does not name %s", err->message, path);
    g_rmdir(dir);
}

static void test_load_file(void **state)
{
    (void)state;
    g_autofree char *dir = temp_dir();
    g_autofree char *good = g_build_filename(dir, "good.json", NULL);
    g_autofree char *worse = g_build_filename(dir, "bad.json", NULL);
    assert_true(g_file_set_contents(good, "{\"hosts\": [" H1 ", " H2 "]}", -1, NULL));
    assert_true(g_file_set_contents(worse, "{\"hosts\": [" H1 "],\n \"extra\": true}", -1, NULL));

    g_autoptr(GError) err = NULL;
    g_autoptr(vdc_config) cfg = vdc_config_load(good, &err);
    assert_non_null(cfg);
    assert_int_equal(cfg->hosts->len, 2);
    assert_string_equal(host_at(cfg, 1)->name, "beta");

    struct vdc_config *none = vdc_config_load(worse, &err);
    assert_null(none);
    assert_non_null(err);
    /* A problem in the content names the file too. */
    if (!g_str_has_prefix(err->message, worse) || !strstr(err->message, "\"extra\""))
        fail_msg("message \"%s\" does not name %s and the key", err->message, worse);
    g_unlink(good);
    g_unlink(worse);
    g_rmdir(dir);
}

/* Regression (fs/config.c, vdc_config_load/vdc_config_parse): the file is
 * parsed with json_loads(), which stops at the first NUL byte, so a config
 * file with a NUL after a valid prefix is accepted and the rest ignored. */
static void test_regression_nul_byte_in_file(void **state)
{
    (void)state;
    g_autofree char *dir = temp_dir();
    g_autofree char *path = g_build_filename(dir, "nul.json", NULL);
    static const char text[] = "{\"hosts\": [" H1 "]}\0{\"hosts\": [" H2 "]}";
    assert_true(g_file_set_contents(path, text, sizeof text - 1, NULL));
    g_autoptr(GError) err = NULL;
    struct vdc_config *cfg = vdc_config_load(path, &err);
    g_unlink(path);
    g_rmdir(dir);
    if (cfg) {
        vdc_config_free(cfg);
        fail_msg("a config file with a NUL byte was accepted");
    }
    assert_non_null(err);
}

static void test_arrays(void **state)
{
    (void)state;
    g_autoptr(GError) err = NULL;
    g_autoptr(vdc_config) cfg = vdc_config_parse(
        "{\"hosts\": [" H1 "], \"snapshot_timeout_seconds\": 30, \"arrays\": [" ARR("array1")
        ", {\"name\": \"array2\", " ARR_NO_NAME ", \"control_port\": 7,"
        " \"chap\": {\"user\": \"u\", \"password\": \"pw\"}}]}",
        ORIGIN, &err);
    assert_non_null(cfg);
    assert_int_equal(cfg->snapshot_timeout_seconds, 30);
    assert_int_equal(cfg->arrays->len, 2);
    const struct vdc_array_config *a = g_ptr_array_index(cfg->arrays, 0);
    assert_string_equal(a->name, "array1");
    assert_string_equal(a->driver, "tgt");
    assert_string_equal(a->portal, "127.0.0.1:3260");
    assert_string_equal(a->target, "iqn.x:a");
    assert_string_equal(a->backing_dir, "/srv/a");
    assert_null(a->chap_user);
    assert_null(a->chap_password);
    assert_int_equal(a->control_port, 0);
    const struct vdc_array_config *b = g_ptr_array_index(cfg->arrays, 1);
    assert_string_equal(b->chap_user, "u");
    assert_string_equal(b->chap_password, "pw");
    assert_int_equal(b->control_port, 7);
    /* Without arrays: none, and the default deadline. */
    g_autoptr(vdc_config) plain = vdc_config_parse("{\"hosts\": [" H1 "]}", ORIGIN, &err);
    assert_non_null(plain);
    assert_int_equal(plain->arrays->len, 0);
    assert_int_equal(plain->snapshot_timeout_seconds, VDC_DEFAULT_SNAPSHOT_TIMEOUT_SECONDS);
}

/* An array's portal as a LUN disk's <host> needs it. */
static void test_portal_split(void **state)
{
    (void)state;
    static const struct {
        const char *portal, *host;
        int port;
    } ok[] = {
        {"127.0.0.1:3260", "127.0.0.1", 3260}, {"san.example", "san.example", 3260},
        {"san.example:13260", "san.example", 13260}, {"h:1", "h", 1}, {"h:65535", "h", 65535},
        {"[::1]:3261", "::1", 3261}, {"[fe80::1]", "fe80::1", 3260}, {"::1", "::1", 3260},
        {"fd00::5:3260", "fd00::5:3260", 3260}, /* a bare IPv6 address has no port */
    };
    for (size_t i = 0; i < G_N_ELEMENTS(ok); i++) {
        g_autofree char *host = NULL;
        int port = 0;
        if (!vdc_portal_split(ok[i].portal, &host, &port))
            fail_msg("\"%s\" refused", ok[i].portal);
        assert_string_equal(host, ok[i].host);
        assert_int_equal(port, ok[i].port);
    }
    static const char *const bad[] = {NULL, "", ":1", "h:", "h:0", "h:-1", "h:65536", "h: 1",
                                      "[::1", "[::1]3260", "[]", "[]:1", "[::1]:"};
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        char *host = NULL;
        int port = -7;
        if (vdc_portal_split(bad[i], &host, &port))
            fail_msg("\"%s\" taken as %s:%d", bad[i] ? bad[i] : "(null)", host, port);
        assert_null(host);
        assert_int_equal(port, -7);
    }
}

static void test_add_host_and_new(void **state)
{
    (void)state;
    g_autoptr(vdc_config) cfg = vdc_config_new();
    assert_int_equal(cfg->refresh_seconds, VDC_DEFAULT_REFRESH_SECONDS);
    assert_int_equal(cfg->hosts->len, 0);
    char name[] = "alpha", uri[] = "test:///x";
    vdc_config_add_host(cfg, name, uri);
    name[0] = 'X'; /* copies were taken */
    uri[0] = 'X';
    assert_string_equal(host_at(cfg, 0)->name, "alpha");
    assert_string_equal(host_at(cfg, 0)->uri, "test:///x");
    vdc_config_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_config),
        cmocka_unit_test(test_minimal_config_defaults),
        cmocka_unit_test(test_refresh_bounds_accepted),
        cmocka_unit_test(test_bad_configs),
        cmocka_unit_test(test_load_missing_file),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_add_host_and_new),
        cmocka_unit_test(test_arrays),
        cmocka_unit_test(test_portal_split),
        cmocka_unit_test(test_regression_nul_byte_in_file),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
