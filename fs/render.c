/* render.c — JSON documents of the tree, see render.h. */
#include "render.h"

#include <jansson.h>
#include <string.h>

GBytes *vdc_json_file(json_t *doc)
{
    char *text = json_dumps(doc, JSON_INDENT(2));
    json_decref(doc);
    size_t n = strlen(text);
    char *buf = g_malloc(n + 1);
    memcpy(buf, text, n);
    buf[n] = '\n';
    free(text);
    return g_bytes_new_take(buf, n + 1);
}

json_t *vdc_json_text(const char *s)
{
    if (!s)
        return json_null();
    if (g_utf8_validate(s, -1, NULL))
        return json_string(s);
    g_autofree char *valid = g_utf8_make_valid(s, -1);
    return json_string(valid);
}

/* Sizes and counters: JSON integers; a value past int64 (a hypervisor's
 * arithmetic gone wrong, e.g. a negative "available") is not a fact. */
static json_t *bytes_json(uint64_t v)
{
    return v > INT64_MAX ? json_null() : json_integer((json_int_t)v);
}

GBytes *vdc_render_host_info(const struct vdc_host *h)
{
    const struct hv_host_info *i = h->info;
    json_t *o = json_object();
    json_object_set_new(o, "name", vdc_json_text(h->name));
    json_object_set_new(o, "uri", vdc_json_text(h->uri));
    json_object_set_new(o, "connected", json_boolean(h->connected));
    json_object_set_new(o, "hypervisor", vdc_json_text(i ? i->hypervisor : NULL));
    json_object_set_new(o, "hypervisor_version", vdc_json_text(i ? i->hypervisor_version : NULL));
    json_object_set_new(o, "libvirt_version", vdc_json_text(i ? i->libvirt_version : NULL));
    json_object_set_new(o, "cpus", i ? json_integer(i->cpus) : json_null());
    json_object_set_new(o, "memory_kib", i ? bytes_json(i->memory_kib) : json_null());
    json_object_set_new(o, "vms", json_integer(g_hash_table_size(h->vms)));
    json_object_set_new(o, "error", vdc_json_text(h->error));
    return vdc_json_file(o);
}

static json_t *disk_source_json(const struct hv_disk *d)
{
    json_t *s = json_object();
    switch (d->source) {
    case HV_DISK_FILE:
        json_object_set_new(s, "file", vdc_json_text(d->path));
        break;
    case HV_DISK_BLOCK:
        json_object_set_new(s, "dev", vdc_json_text(d->path));
        break;
    case HV_DISK_VOLUME:
        json_object_set_new(s, "pool", vdc_json_text(d->pool));
        json_object_set_new(s, "volume", vdc_json_text(d->volume));
        break;
    case HV_DISK_NETWORK:
        json_object_set_new(s, "protocol", vdc_json_text(d->protocol));
        json_object_set_new(s, "name", vdc_json_text(d->name));
        json_object_set_new(s, "host", vdc_json_text(d->host));
        json_object_set_new(s, "port", d->port ? json_integer(d->port) : json_null());
        break;
    case HV_DISK_NONE:
        json_decref(s);
        return json_null();
    }
    return s;
}

static json_t *disks_json(const GPtrArray *disks)
{
    json_t *a = json_array();
    for (guint i = 0; disks && i < disks->len; i++) {
        const struct hv_disk *d = g_ptr_array_index(disks, i);
        json_t *o = json_object();
        json_object_set_new(o, "target", vdc_json_text(d->target));
        json_object_set_new(o, "bus", vdc_json_text(d->bus));
        json_object_set_new(o, "device", vdc_json_text(d->device));
        json_object_set_new(o, "source", disk_source_json(d));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *interfaces_json(const GPtrArray *ifaces)
{
    json_t *a = json_array();
    for (guint i = 0; ifaces && i < ifaces->len; i++) {
        const struct hv_iface *f = g_ptr_array_index(ifaces, i);
        json_t *o = json_object();
        json_object_set_new(o, "mac", vdc_json_text(f->mac));
        if (f->network)
            json_object_set_new(o, "network", vdc_json_text(f->network));
        if (f->bridge)
            json_object_set_new(o, "bridge", vdc_json_text(f->bridge));
        json_array_append_new(a, o);
    }
    return a;
}

GBytes *vdc_render_vm_status(const struct hv_vm *f, const char *host,
                             enum vdc_vm_state state)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", vdc_json_text(f->name));
    json_object_set_new(o, "uuid", vdc_json_text(f->uuid));
    json_object_set_new(o, "host", vdc_json_text(host));
    json_object_set_new(o, "state", vdc_json_text(vdc_vm_state_word(state)));
    json_object_set_new(o, "vcpus", json_integer(f->vcpus));
    json_object_set_new(o, "memory_kib", bytes_json(f->memory_kib));
    json_object_set_new(o, "autostart", json_boolean(f->autostart));
    json_object_set_new(o, "persistent", json_boolean(f->persistent));
    json_object_set_new(o, "disks", disks_json(f->disks));
    json_object_set_new(o, "interfaces", interfaces_json(f->interfaces));
    return vdc_json_file(o);
}

GBytes *vdc_render_vm_status_state(GBytes *status, enum vdc_vm_state state)
{
    gsize n;
    const char *text = g_bytes_get_data(status, &n);
    json_t *o = json_loadb(text, n, JSON_DECODE_ANY, NULL);
    if (!json_is_object(o)) { /* cannot happen: we rendered it */
        json_decref(o);
        return g_bytes_ref(status);
    }
    json_object_set_new(o, "state", json_string(vdc_vm_state_word(state)));
    return vdc_json_file(o);
}

GBytes *vdc_render_hpool_info(const struct vdc_hpool *p)
{
    const struct hv_pool *f = p->facts;
    json_t *o = json_object();
    json_object_set_new(o, "name", vdc_json_text(f->name));
    json_object_set_new(o, "type", vdc_json_text(f->type));
    json_object_set_new(o, "state", vdc_json_text(f->state));
    json_object_set_new(o, "capacity", bytes_json(f->capacity));
    json_object_set_new(o, "allocation", bytes_json(f->allocation));
    json_object_set_new(o, "available", bytes_json(f->available));
    return vdc_json_file(o);
}

GBytes *vdc_render_volume(const struct hv_volume *v)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", vdc_json_text(v->name));
    json_object_set_new(o, "path", vdc_json_text(v->path));
    json_object_set_new(o, "type", vdc_json_text(v->type));
    json_object_set_new(o, "capacity", bytes_json(v->capacity));
    json_object_set_new(o, "allocation", bytes_json(v->allocation));
    return vdc_json_file(o);
}

GBytes *vdc_render_cpool_info(const char *raw_name, GPtrArray *hosts)
{
    json_t *o = json_object();
    json_t *per_host = json_object();
    const char *type = NULL;
    g_autofree char *fname = NULL;
    for (guint i = 0; i < hosts->len; i++) {
        const struct vdc_host *h = g_ptr_array_index(hosts, i);
        GHashTableIter it;
        gpointer v;
        g_hash_table_iter_init(&it, h->pools);
        while (g_hash_table_iter_next(&it, NULL, &v)) {
            const struct vdc_hpool *p = v;
            if (strcmp(p->facts->name, raw_name) != 0)
                continue;
            if (!type)
                type = p->facts->type;
            json_t *e = json_object();
            json_object_set_new(e, "state", vdc_json_text(p->facts->state));
            json_object_set_new(e, "capacity", bytes_json(p->facts->capacity));
            json_object_set_new(e, "allocation", bytes_json(p->facts->allocation));
            json_object_set_new(e, "available", bytes_json(p->facts->available));
            json_object_set_new(e, "connected", json_boolean(h->connected));
            json_object_set_new(per_host, h->name, e); /* host names are validated ASCII */
        }
    }
    json_object_set_new(o, "name", vdc_json_text(raw_name));
    json_object_set_new(o, "type", vdc_json_text(type));
    json_object_set_new(o, "hosts", per_host);
    return vdc_json_file(o);
}
