/* test_ztext.c — packed text (fs/ztext.c): round trips, sizes, damage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ztext.h"

static void round_trip(const char *text, size_t len)
{
    GBytes *packed = vdc_ztext_pack(text, len);
    assert_int_equal(vdc_ztext_size(packed), len);
    GBytes *back = vdc_ztext_unpack(packed);
    gsize n;
    const char *p = g_bytes_get_data(back, &n);
    assert_int_equal(n, len);
    assert_memory_equal(p, text, len);
    g_bytes_unref(back);
    g_bytes_unref(packed);
}

static void test_round_trips(void **state)
{
    (void)state;
    round_trip("", 0);
    round_trip("x", 1);
    round_trip("<domain type='test'><name>a'b\"<c>&amp;d</name></domain>\n", 55);
    /* Incompressible bytes, NULs included, and a long text. */
    GString *s = g_string_new(NULL);
    for (guint i = 0; i < 200000; i++)
        g_string_append_c(s, (char)(g_random_int() & 0xff));
    round_trip(s->str, s->len);
    g_string_free(s, TRUE);
}

static void test_domain_xml_shrinks(void **state)
{
    (void)state;
    static const char xml[] =
        "<domain type='kvm' id='7'>\n  <name>web-1</name>\n"
        "  <uuid>092d62bc-1f44-5e94-b91d-cde046213f97</uuid>\n"
        "  <memory unit='KiB'>2097152</memory>\n  <currentMemory unit='KiB'>2097152</currentMemory>\n"
        "  <vcpu placement='static'>2</vcpu>\n  <os>\n    <type arch='x86_64'>hvm</type>\n"
        "    <boot dev='hd'/>\n  </os>\n  <clock offset='utc'/>\n"
        "  <on_poweroff>destroy</on_poweroff>\n  <on_reboot>restart</on_reboot>\n"
        "  <on_crash>destroy</on_crash>\n  <devices>\n"
        "    <disk type='volume' device='disk'>\n      <source pool='default' volume='web-1.img'/>\n"
        "      <target dev='vda' bus='virtio'/>\n    </disk>\n"
        "    <interface type='network'>\n      <mac address='52:54:00:a1:00:02'/>\n"
        "      <source network='default'/>\n      <target dev='vnet0'/>\n    </interface>\n"
        "  </devices>\n</domain>\n";
    GBytes *packed = vdc_ztext_pack(xml, strlen(xml));
    /* The dictionary makes typical domain XML at least 2.5x smaller. */
    assert_true(g_bytes_get_size(packed) * 5 < strlen(xml) * 2);
    g_bytes_unref(packed);
    round_trip(xml, strlen(xml));
}

static void test_packing_is_deterministic(void **state)
{
    (void)state;
    const char *a = "<domain><name>a</name></domain>";
    GBytes *p1 = vdc_ztext_pack(a, strlen(a)), *p2 = vdc_ztext_pack(a, strlen(a));
    GBytes *p3 = vdc_ztext_pack("<domain><name>b</name></domain>", strlen(a));
    assert_true(g_bytes_equal(p1, p2)); /* change detection relies on it */
    assert_false(g_bytes_equal(p1, p3));
    g_bytes_unref(p1);
    g_bytes_unref(p2);
    g_bytes_unref(p3);
}

static void test_damaged_input_gives_empty_text(void **state)
{
    (void)state;
    const char *a = "<domain><name>some text long enough</name></domain>";
    GBytes *packed = vdc_ztext_pack(a, strlen(a));
    gsize n;
    const guint8 *p = g_bytes_get_data(packed, &n);
    guint8 *bad = g_memdup2(p, n);
    bad[n - 2] ^= 0x5a;
    bad[5] ^= 0xff;
    GBytes *damaged = g_bytes_new_take(bad, n);
    GBytes *back = vdc_ztext_unpack(damaged);
    assert_true(g_bytes_get_size(back) == 0 || g_bytes_get_size(back) == strlen(a));
    g_bytes_unref(back);
    GBytes *tiny = g_bytes_new("ab", 2); /* shorter than the header */
    back = vdc_ztext_unpack(tiny);
    assert_int_equal(g_bytes_get_size(back), 0);
    assert_int_equal(vdc_ztext_size(tiny), 0);
    g_bytes_unref(back);
    g_bytes_unref(tiny);
    g_bytes_unref(damaged);
    g_bytes_unref(packed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_domain_xml_shrinks),
        cmocka_unit_test(test_packing_is_deterministic),
        cmocka_unit_test(test_damaged_input_gives_empty_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
