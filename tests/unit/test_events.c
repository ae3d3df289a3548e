/* test_events.c — the /events log (events.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib.h>
#include <jansson.h>
#include <string.h>

#include "events.h"

static int setup(void **state)
{
    (void)state;
    vdc_events_init();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    vdc_events_shutdown();
    vdc_events_listen(NULL);
    return 0;
}

/* Everything from @off to the end, as a string. */
static char *read_from(uint64_t off)
{
    GString *s = g_string_new(NULL);
    GBytes *b;
    while ((b = vdc_events_read(&off, 1000)) != NULL) {
        gsize n;
        const char *d = g_bytes_get_data(b, &n);
        g_string_append_len(s, d, (gssize)n);
        off += n;
        g_bytes_unref(b);
    }
    return g_string_free(s, FALSE);
}

static void test_emitf_shape(void **state)
{
    (void)state;
    assert_true(vdc_events_is_open());
    assert_int_equal(vdc_events_size(), 0);
    vdc_events_emitf("vm", "web-1", "alpha", "started", "state", json_string("running"),
                     "vcpus", json_integer(2), "missing", NULL, NULL);
    vdc_events_emitf("host", NULL, NULL, "odd", NULL);

    g_autofree char *all = read_from(0);
    assert_int_equal(strlen(all), vdc_events_size());
    g_auto(GStrv) lines = g_strsplit(all, "\n", -1);
    assert_int_equal(g_strv_length(lines), 3); /* two lines and the empty tail */
    assert_string_equal(lines[2], "");

    /* "time" first, then the fields in order */
    assert_true(g_str_has_prefix(lines[0], "{\"time\":\""));
    const char *order[] = {"\"time\"", "\"kind\"", "\"name\"", "\"host\"", "\"event\"",
                           "\"state\"", "\"vcpus\"", "\"missing\""};
    const char *at = lines[0];
    for (size_t i = 0; i < G_N_ELEMENTS(order); i++) {
        const char *p = strstr(at, order[i]);
        if (!p)
            fail_msg("%s missing or out of order in %s", order[i], lines[0]);
        at = p;
    }
    json_t *ev = json_loads(lines[0], 0, NULL);
    assert_non_null(ev);
    assert_string_equal(json_string_value(json_object_get(ev, "kind")), "vm");
    assert_string_equal(json_string_value(json_object_get(ev, "name")), "web-1");
    assert_string_equal(json_string_value(json_object_get(ev, "host")), "alpha");
    assert_string_equal(json_string_value(json_object_get(ev, "event")), "started");
    assert_string_equal(json_string_value(json_object_get(ev, "state")), "running");
    assert_int_equal(json_integer_value(json_object_get(ev, "vcpus")), 2);
    assert_true(json_is_null(json_object_get(ev, "missing")));
    /* RFC 3339, UTC, milliseconds: 2024-01-02T03:04:05.678Z */
    const char *t = json_string_value(json_object_get(ev, "time"));
    assert_non_null(t);
    assert_int_equal(strlen(t), 24);
    assert_true(g_regex_match_simple("^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z$", t, 0, 0));
    json_decref(ev);

    ev = json_loads(lines[1], 0, NULL);
    assert_true(json_is_null(json_object_get(ev, "name")));
    assert_true(json_is_null(json_object_get(ev, "host")));
    json_decref(ev);
}

static void test_one_line_per_event(void **state)
{
    (void)state;
    vdc_events_emitf("vm", "line\nbreak \"q\" d\xc3\xad" "as", "alpha", "defined", NULL);
    g_autofree char *all = read_from(0);
    assert_int_equal(strchr(all, '\n') - all + 1, (long)strlen(all)); /* one newline, at the end */
    for (const char *p = all; *p; p++)
        assert_true((unsigned char)*p < 0x80); /* ASCII only */
    json_t *ev = json_loads(all, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(ev, "name")),
                        "line\nbreak \"q\" d\xc3\xad" "as");
    json_decref(ev);
}

static void test_offsets(void **state)
{
    (void)state;
    vdc_events_emitf("a", "1", NULL, "x", NULL);
    uint64_t first = vdc_events_size();
    vdc_events_emitf("b", "2", NULL, "y", NULL);
    uint64_t total = vdc_events_size();
    assert_true(total > first);

    uint64_t off = first;
    GBytes *b = vdc_events_read(&off, 1 << 20);
    assert_non_null(b);
    assert_int_equal(off, first);
    assert_int_equal(g_bytes_get_size(b), total - first);
    assert_true(g_str_has_prefix(g_bytes_get_data(b, NULL), "{\"time\""));
    g_bytes_unref(b);

    /* short reads */
    off = 0;
    b = vdc_events_read(&off, 5);
    assert_int_equal(g_bytes_get_size(b), 5);
    assert_memory_equal(g_bytes_get_data(b, NULL), "{\"tim", 5);
    g_bytes_unref(b);

    /* at or past the end: nothing yet */
    off = total;
    assert_null(vdc_events_read(&off, 100));
    off = total + 100;
    assert_null(vdc_events_read(&off, 100));
}

static void test_trim_keeps_whole_lines(void **state)
{
    (void)state;
    g_autofree char *pad = g_strnfill(200, 'p');
    uint64_t sizes = 0;
    for (int i = 0; i < 8000; i++) {
        uint64_t before = vdc_events_size();
        vdc_events_emitf("vm", pad, "alpha", "changed", "i", json_integer(i), NULL);
        sizes += vdc_events_size() - before;
    }
    assert_true(sizes > 2 * VDC_EVENTS_KEEP);
    assert_int_equal(vdc_events_size(), sizes); /* offsets stay absolute */

    /* a reader at 0 is moved to the oldest kept line */
    uint64_t off = 0;
    GBytes *b = vdc_events_read(&off, 1 << 22);
    assert_non_null(b);
    assert_true(off > 0);
    assert_true(vdc_events_size() - off <= VDC_EVENTS_KEEP);
    assert_int_equal(off + g_bytes_get_size(b), vdc_events_size());
    gsize n;
    const char *d = g_bytes_get_data(b, &n);
    assert_true(g_str_has_prefix(d, "{\"time\""));
    assert_int_equal(d[n - 1], '\n');
    /* the last event is the last one emitted */
    const char *last = g_strrstr_len(d, (gssize)n - 1, "\n") + 1;
    json_t *ev = json_loadb(last, (size_t)(d + n - last), 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(ev, "i")), 7999);
    json_decref(ev);
    g_bytes_unref(b);
}

static int calls[2];

static void listener(int closing)
{
    calls[closing ? 1 : 0]++;
}

static void test_listener_and_shutdown(void **state)
{
    (void)state;
    calls[0] = calls[1] = 0;
    vdc_events_listen(listener);
    vdc_events_emitf("a", NULL, NULL, "x", NULL);
    vdc_events_emitf("a", NULL, NULL, "y", NULL);
    assert_int_equal(calls[0], 2);
    assert_int_equal(calls[1], 0);

    vdc_events_shutdown();
    assert_int_equal(calls[1], 1);
    assert_false(vdc_events_is_open());
    uint64_t off = 0;
    assert_null(vdc_events_read(&off, 100));
    vdc_events_emitf("a", NULL, NULL, "after", NULL); /* dropped */
    assert_int_equal(calls[0], 2);
    vdc_events_shutdown(); /* twice: harmless, no second closing call */
    assert_int_equal(calls[1], 1);
    vdc_events_init(); /* for the teardown */
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_emitf_shape),
        T(test_one_line_per_event),
        T(test_offsets),
        T(test_trim_keeps_whole_lines),
        T(test_listener_and_shutdown),
    };
    return cmocka_run_group_tests_name("events", tests, NULL, NULL);
}
