/* unit_util.c — see unit_util.h. */
#include "unit_util.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "events.h"

int tu_walk_locked(const char *path, struct vdc_node *out)
{
    int rc = vdc_tree_resolve(VDC_INO(0, VDC_STATIC_ROOT), out);
    if (rc < 0)
        return rc;
    g_auto(GStrv) parts = g_strsplit(path, "/", -1);
    for (char **p = parts; *p; p++) {
        if (**p == '\0')
            continue;
        struct vdc_node next;
        rc = vdc_tree_lookup(out, *p, &next);
        if (rc < 0)
            return rc;
        *out = next;
    }
    return 0;
}

int tu_ino(const char *path, uint64_t *ino)
{
    struct vdc_node n;
    vdc_model_read_lock();
    int rc = tu_walk_locked(path, &n);
    vdc_model_read_unlock();
    if (rc == 0)
        *ino = n.ino;
    return rc;
}

mode_t tu_type(const char *path)
{
    struct vdc_node n;
    mode_t t = 0;
    vdc_model_read_lock();
    if (tu_walk_locked(path, &n) == 0)
        t = vdc_tree_type(&n);
    vdc_model_read_unlock();
    return t;
}

char *tu_read(const char *path)
{
    struct vdc_node n;
    GBytes *b = NULL;
    vdc_model_read_lock();
    if (tu_walk_locked(path, &n) == 0 && vdc_tree_type(&n) != S_IFDIR)
        b = vdc_tree_content(&n);
    vdc_model_read_unlock();
    if (!b)
        return NULL;
    gsize len;
    const char *data = g_bytes_get_data(b, &len);
    char *s = g_strndup(data ? data : "", len);
    g_bytes_unref(b);
    return s;
}

json_t *tu_read_json(const char *path)
{
    g_autofree char *text = tu_read(path);
    if (!text)
        return NULL;
    return json_loads(text, 0, NULL);
}

char **tu_list(const char *path)
{
    struct vdc_node n;
    GArray *a = NULL;
    vdc_model_read_lock();
    if (tu_walk_locked(path, &n) == 0 && vdc_tree_type(&n) == S_IFDIR)
        a = vdc_tree_list(&n);
    vdc_model_read_unlock();
    if (!a)
        return NULL;
    char **names = g_new0(char *, a->len + 1);
    for (guint i = 0; i < a->len; i++)
        names[i] = g_strdup(g_array_index(a, struct vdc_dirent, i).name);
    vdc_dirents_free(a);
    return names;
}

char *tu_list_joined(const char *path)
{
    g_auto(GStrv) names = tu_list(path);
    if (!names)
        return g_strdup("(none)");
    return g_strjoinv(",", names);
}

json_t *tu_events_since(uint64_t *off)
{
    GString *all = g_string_new(NULL);
    for (;;) {
        GBytes *b = vdc_events_read(off, 65536);
        if (!b)
            break;
        gsize len;
        const char *data = g_bytes_get_data(b, &len);
        g_string_append_len(all, data, (gssize)len);
        *off += len;
        g_bytes_unref(b);
    }
    json_t *evs = json_array();
    g_auto(GStrv) lines = g_strsplit(all->str, "\n", -1);
    for (char **l = lines; *l; l++) {
        if (**l == '\0')
            continue;
        json_error_t jerr;
        json_t *ev = json_loads(*l, 0, &jerr);
        if (!ev)
            g_error("events log line is not JSON (%s): %s", jerr.text, *l);
        json_array_append_new(evs, ev);
    }
    g_string_free(all, TRUE);
    return evs;
}

static bool field_is(json_t *ev, const char *key, const char *want)
{
    return !want || g_strcmp0(json_string_value(json_object_get(ev, key)), want) == 0;
}

static bool event_matches(json_t *ev, const char *kind, const char *name, const char *host,
                          const char *event)
{
    return field_is(ev, "kind", kind) && field_is(ev, "name", name) &&
           field_is(ev, "host", host) && field_is(ev, "event", event);
}

json_t *tu_event_find(json_t *evs, const char *kind, const char *name, const char *host,
                      const char *event)
{
    size_t i;
    json_t *ev;
    json_array_foreach(evs, i, ev) {
        if (event_matches(ev, kind, name, host, event))
            return ev;
    }
    return NULL;
}

size_t tu_event_count(json_t *evs, const char *kind, const char *name, const char *host,
                      const char *event)
{
    size_t i, n = 0;
    json_t *ev;
    json_array_foreach(evs, i, ev) {
        if (event_matches(ev, kind, name, host, event))
            n++;
    }
    return n;
}
