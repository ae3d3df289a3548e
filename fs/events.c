/* events.c — the /events log, see events.h. */
#include "events.h"

#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "render.h"

static struct {
    GMutex lock;
    GString *buf;     /* the kept tail of the log */
    uint64_t base;    /* absolute offset of buf->str[0] */
    bool open;
    void (*listener)(int closing);
} log_;

void vdc_events_init(void)
{
    g_mutex_init(&log_.lock);
    log_.buf = g_string_sized_new(4096);
    log_.base = 0;
    log_.open = true;
}

void vdc_events_listen(void (*fn)(int closing))
{
    log_.listener = fn;
}

static void tell_listener(int closing)
{
    if (log_.listener)
        log_.listener(closing);
}

void vdc_events_shutdown(void)
{
    g_mutex_lock(&log_.lock);
    if (!log_.open) {
        g_mutex_unlock(&log_.lock);
        return;
    }
    log_.open = false;
    g_string_free(log_.buf, TRUE);
    log_.buf = NULL;
    g_mutex_unlock(&log_.lock);
    tell_listener(1);
}

/* Drops whole lines from the front until the kept log fits. */
static void trim_locked(void)
{
    if (log_.buf->len <= VDC_EVENTS_KEEP)
        return;
    size_t excess = log_.buf->len - VDC_EVENTS_KEEP / 2;
    const char *nl = memchr(log_.buf->str + excess, '\n', log_.buf->len - excess);
    size_t cut = nl ? (size_t)(nl - log_.buf->str) + 1 : log_.buf->len;
    g_string_erase(log_.buf, 0, (gssize)cut);
    log_.base += cut;
}

static json_t *time_now_json(void)
{
    struct timespec ts;
    struct tm tm;
    char stamp[64];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + n, sizeof stamp - n, ".%03ldZ", ts.tv_nsec / 1000000);
    return json_string(stamp);
}

void vdc_events_emit(json_t *fields)
{
    json_t *ev = json_object();
    json_object_set_new(ev, "time", time_now_json());
    json_object_update(ev, fields);
    json_decref(fields);
    char *line = json_dumps(ev, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(ev);
    if (!line)
        return;

    g_mutex_lock(&log_.lock);
    if (!log_.open) {
        g_mutex_unlock(&log_.lock);
        free(line);
        return;
    }
    g_string_append(log_.buf, line);
    g_string_append_c(log_.buf, '\n');
    trim_locked();
    g_mutex_unlock(&log_.lock);
    free(line);
    tell_listener(0);
}

void vdc_events_emitf(const char *kind, const char *name, const char *host, const char *event,
                      ...)
{
    json_t *o = json_object();
    json_object_set_new(o, "kind", json_string(kind));
    json_object_set_new(o, "name", vdc_json_text(name));
    json_object_set_new(o, "host", vdc_json_text(host));
    json_object_set_new(o, "event", json_string(event));
    va_list ap;
    va_start(ap, event);
    const char *key;
    while ((key = va_arg(ap, const char *)) != NULL) {
        json_t *v = va_arg(ap, json_t *);
        json_object_set_new(o, key, v ? v : json_null());
    }
    va_end(ap);
    vdc_events_emit(o);
}

uint64_t vdc_events_size(void)
{
    g_mutex_lock(&log_.lock);
    uint64_t n = log_.buf ? log_.base + log_.buf->len : log_.base;
    g_mutex_unlock(&log_.lock);
    return n;
}

GBytes *vdc_events_read(uint64_t *off, size_t size)
{
    GBytes *out = NULL;
    g_mutex_lock(&log_.lock);
    if (log_.buf) {
        if (*off < log_.base)
            *off = log_.base;
        uint64_t end = log_.base + log_.buf->len;
        if (*off < end) {
            size_t n = (size_t)MIN((uint64_t)size, end - *off);
            out = g_bytes_new(log_.buf->str + (*off - log_.base), n);
        }
    }
    g_mutex_unlock(&log_.lock);
    return out;
}


bool vdc_events_is_open(void)
{
    g_mutex_lock(&log_.lock);
    bool open = log_.open;
    g_mutex_unlock(&log_.lock);
    return open;
}
