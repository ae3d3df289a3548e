/* test_names.c — object names <-> file names (names.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib.h>
#include <string.h>

#include "names.h"

static void check_encode(const char *raw, const char *want)
{
    g_autofree char *enc = vdc_name_encode(raw);
    if (strcmp(enc, want) != 0)
        fail_msg("encode(\"%s\") = \"%s\", want \"%s\"", raw, enc, want);
}

static void test_plain_names_unchanged(void **state)
{
    (void)state;
    static const char *const plain[] = {
        "web-1", "db_1", "a", "VM.with.dots", "...", ".hidden", "a.", "x..y",
        "name with spaces", "tab\there", "a'b\"<c>&d", "d\xc3\xad" "as", "\xe5\x90\x8d\xe5\x89\x8d",
        "line\nbreak", "-", "#!", "*?[]", "\\back\\slash", "+:;=,",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(plain); i++)
        check_encode(plain[i], plain[i]);
}

static void test_special_bytes_encoded(void **state)
{
    (void)state;
    check_encode("/", "%2F");
    check_encode("a/b", "a%2Fb");
    check_encode("%", "%25");
    check_encode("100%", "100%25");
    check_encode("@", "%40");
    check_encode("db-1@alpha", "db-1%40alpha");
    check_encode("%2F", "%252F");
    check_encode("/%@", "%2F%25%40");
    check_encode("//", "%2F%2F");
}

static void test_dots_and_empty(void **state)
{
    (void)state;
    check_encode(".", "%2E");
    check_encode("..", "%2E%2E");
    check_encode("", "%00");
    /* Only the exact names are special. */
    check_encode("...", "...");
    check_encode("./", ".%2F");
    check_encode("../", "..%2F");
}

/* Every encoded name is a usable, unambiguous file name. */
static G_GNUC_NO_INLINE void check_file_name(const char *raw, const char *enc)
{
    if (!enc)
        fail_msg("encode returned NULL");
    if (enc[0] == '\0' || strchr(enc, '/') || strcmp(enc, ".") == 0 || strcmp(enc, "..") == 0)
        fail_msg("encode(\"%s\") = \"%s\" is not a file name", raw, enc);
    if (strchr(enc, '@'))
        fail_msg("encode(\"%s\") = \"%s\" contains '@'", raw, enc);
}

static void test_round_trip(void **state)
{
    (void)state;
    static const char *const names[] = {
        "", ".", "..", "...", "....", ".a", "a.", "/", "//", "/.", "./", "../..",
        "%", "%%", "%2F", "%2E", "%2E%2E", "%00", "%zz", "%2", "@", "@@", "a@b", "a@b@c",
        "db-1@alpha", "a'b\"<c>&d", "name with spaces", " leading", "trailing ",
        "d\xc3\xad" "as", "\xe5\x90\x8d\xe5\x89\x8d", "\xf0\x9f\x92\xbe disk",
        "line\nbreak", "\n", "\r\n", "tab\t", "a/b/c", "/etc/passwd", "../../../etc/passwd",
        "$(rm -rf /)", "`id`", "a;b|c&d", "\x01\x7f", "\xff\xfe", "-rf", "~root",
        "%41", "%2e", "%2f", "a%2Fb",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *enc = vdc_name_encode(names[i]);
        check_file_name(names[i], enc);
        g_autofree char *dec = vdc_name_decode(enc);
        if (!dec)
            fail_msg("decode(encode(\"%s\")) = decode(\"%s\") failed", names[i], enc);
        if (strcmp(dec, names[i]) != 0)
            fail_msg("decode(encode(\"%s\")) = \"%s\"", names[i], dec);
    }
}

/* Distinct raw names never share a file name. */
static void test_injective(void **state)
{
    (void)state;
    static const char *const names[] = {
        "", ".", "..", "%00", "%2E", "%2E%2E", "/", "%2F", "%252F", "@", "%40",
        "a@b", "a%40b", "a/b", "a%2Fb", "%", "%25",
    };
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        char *enc = vdc_name_encode(names[i]);
        if (g_hash_table_contains(seen, enc))
            fail_msg("two names encode to \"%s\"", enc);
        g_hash_table_add(seen, enc);
    }
}

static void check_decode(const char *enc, const char *want)
{
    g_autofree char *dec = vdc_name_decode(enc);
    if (!want) {
        if (dec)
            fail_msg("decode(\"%s\") = \"%s\", want refusal", enc, dec);
        return;
    }
    if (!dec)
        fail_msg("decode(\"%s\") refused, want \"%s\"", enc, want);
    if (strcmp(dec, want) != 0)
        fail_msg("decode(\"%s\") = \"%s\", want \"%s\"", enc, dec, want);
}

static void test_decode_canonical(void **state)
{
    (void)state;
    check_decode("web-1", "web-1");
    check_decode("%2F", "/");
    check_decode("%25", "%");
    check_decode("%40", "@");
    check_decode("%2E", ".");
    check_decode("%2E%2E", "..");
    check_decode("%00", "");
    check_decode("a%2Fb%25c%40d", "a/b%c@d");
    check_decode("...", "...");
    check_decode(".x", ".x");
}

static void test_decode_refuses_non_canonical(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "%2f",       /* lowercase hex */
        "%2e",       /* lowercase hex, and '.' is not escaped this way */
        "a%2Eb",     /* '.' is only escaped when the whole name is "." or ".." */
        "%2E.",      /* ".." written half-escaped */
        ".%2E",
        "%2E%2E%2E", /* "..." is not escaped */
        "%41",       /* 'A' never needs escaping */
        "%20",       /* nor does a space */
        "a/b",       /* raw '/' */
        "/",
        "a@b",       /* raw '@' */
        "@",
        "%",         /* truncated escapes */
        "%2",
        "a%",
        "a%4",
        "%G0",       /* not hex */
        "%0G",
        "%-1",
        "%%",
        "a%00b",     /* NUL inside a name */
        "%00%00",
        "%00a",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
        check_decode(bad[i], NULL);
}

static void test_host_name_valid(void **state)
{
    (void)state;
    char max[65], over[66];
    memset(max, 'h', 64);
    max[64] = '\0';
    memset(over, 'h', 65);
    over[65] = '\0';
    static const struct {
        const char *name;
        bool valid;
    } table[] = {
        {"alpha", true},     {"a", true},          {"A-1_b.c", true},  {"host01", true},
        {"x.", true},        {"-x", true},         {"_x", true},       {"1", true},
        {"a..b", true},      {"", false},          {".", false},       {"..", false},
        {".x", false},       {"a/b", false},       {"/", false},       {"a b", false},
        {"a@b", false},      {"a%b", false},       {"a\nb", false},    {"d\xc3\xad" "as", false},
        {"a:b", false},      {"a\\b", false},      {"a*", false},      {"a'b", false},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(table); i++)
        if (vdc_host_name_valid(table[i].name) != table[i].valid)
            fail_msg("vdc_host_name_valid(\"%s\") != %d", table[i].name, table[i].valid);
    assert_true(vdc_host_name_valid(max));
    assert_false(vdc_host_name_valid(over));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_names_unchanged),
        cmocka_unit_test(test_special_bytes_encoded),
        cmocka_unit_test(test_dots_and_empty),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_injective),
        cmocka_unit_test(test_decode_canonical),
        cmocka_unit_test(test_decode_refuses_non_canonical),
        cmocka_unit_test(test_host_name_valid),
    };
    return cmocka_run_group_tests_name("names", tests, NULL, NULL);
}
