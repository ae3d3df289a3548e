/* desired.c — desired entries in the model, see desired.h. */
#include "desired.h"

#include <string.h>

#include "events.h"
#include "inval.h"
#include "model_priv.h"
#include "names.h"
#include "render.h"
#include "ztext.h"

/* --- wants -------------------------------------------------------------- */

static GPtrArray *macs_copy(const GPtrArray *macs)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; macs && i < macs->len; i++)
        g_ptr_array_add(out, g_strdup(g_ptr_array_index(macs, i)));
    return out;
}

void vdc_want_free(struct vdc_want *w)
{
    if (!w)
        return;
    g_free(w->fname);
    g_free(w->name);
    if (w->spec_text)
        g_bytes_unref(w->spec_text);
    if (w->spec)
        vdc_spec_free(w->spec);
    g_free(w->host);
    if (w->macs)
        g_ptr_array_unref(w->macs);
    g_free(w);
}

struct vdc_want *vdc_desired_get(const char *fname)
{
    struct vdc_want *w = g_new0(struct vdc_want, 1);
    w->fname = g_strdup(fname);
    w->name = vdc_name_decode(fname);
    vdc_model_read_lock();
    struct vdc_desired *d = vdc_desired_find(fname);
    if (d) {
        w->exists = true;
        w->spec_text = d->spec_text ? g_bytes_ref(d->spec_text) : NULL;
        w->generation = d->generation;
        memcpy(w->uuid, d->uuid, sizeof w->uuid);
        w->host = g_strdup(d->host);
        w->macs = macs_copy(d->macs);
        w->in_store = d->in_store;
        w->deleting = d->deleting;
    }
    vdc_model_read_unlock();
    if (!w->macs)
        w->macs = g_ptr_array_new_with_free_func(g_free);
    if (w->spec_text) {
        gsize n;
        const char *p = g_bytes_get_data(w->spec_text, &n);
        w->spec = vdc_spec_parse(p, n, NULL);
    }
    return w;
}

/* --- entries ------------------------------------------------------------ */

struct vdc_desired *vdc_desired_find(const char *fname)
{
    return g_hash_table_lookup(vdc_model.desired, fname);
}

struct vdc_desired *desired_claiming(const char *fname)
{
    struct vdc_desired *d = vdc_desired_find(fname);
    return d && !d->deleting ? d : NULL;
}

struct vdc_desired *vdc_desired_of_vm(const struct vdc_vm *vm)
{
    return vm->managed && !vm->managed->deleting ? vm->managed : NULL;
}

/* Every file of @d and of its VM whose content depends on @d. */
static void entry_inval(struct vdc_desired *d)
{
    static const unsigned subs[] = {VDC_VM_DIR, VDC_VM_STATE, VDC_VM_STATUS, VDC_VM_DOMXML,
                                    VDC_VM_SPEC, VDC_VM_DISKS};
    for (size_t i = 0; i < G_N_ELEMENTS(subs); i++) {
        vdc_inval_inode(VDC_INO(d->o.id, subs[i]));
        if (d->vm)
            vdc_inval_inode(VDC_INO(d->vm->o.id, subs[i]));
    }
    obj_touch(&d->o);
}

/* The name @d shows in vms/ appeared or went: the VMs of that name move
 * between "name" and "name@host". */
static void entry_name_changed(struct vdc_desired *d)
{
    vdc_inval_entry(VDC_STATIC_VMS, d->fname);
    vdc_inval_inode(VDC_STATIC_VMS);
    displays_refresh(d->name);
}

static void unbind(struct vdc_desired *d)
{
    if (!d->vm)
        return;
    struct vdc_vm *vm = d->vm;
    entry_inval(d);
    vm->managed = NULL;
    d->vm = NULL;
    displays_refresh(vm->name);
}

/* Binds @d to the VM its uuid names on its host, if that VM is there. */
static void bind(struct vdc_desired *d)
{
    struct vdc_host *h = d->host ? g_hash_table_lookup(vdc_model.host_by_name, d->host) : NULL;
    struct vdc_vm *vm = h && d->uuid[0] ? g_hash_table_lookup(h->vms, d->uuid) : NULL;
    if (vm == d->vm)
        return;
    unbind(d);
    if (!vm)
        return;
    if (vm->managed)
        unbind(vm->managed);
    d->vm = vm;
    vm->managed = d;
    entry_inval(d);
    displays_refresh(vm->name);
}

static void set_uuid(struct vdc_desired *d, const char *uuid)
{
    if (strcmp(d->uuid, uuid) == 0)
        return;
    if (d->uuid[0] && g_hash_table_lookup(vdc_model.desired_by_uuid, d->uuid) == d)
        g_hash_table_remove(vdc_model.desired_by_uuid, d->uuid);
    g_strlcpy(d->uuid, uuid, sizeof d->uuid);
    if (d->uuid[0])
        g_hash_table_insert(vdc_model.desired_by_uuid, d->uuid, d);
}

static struct vdc_desired *entry_new(const char *fname)
{
    struct vdc_desired *d = g_new0(struct vdc_desired, 1);
    obj_register(&d->o, VDC_OBJ_DESIRED);
    d->fname = g_strdup(fname);
    d->name = vdc_name_decode(fname);
    if (!d->name)
        d->name = g_strdup(fname);
    d->macs = g_ptr_array_new_with_free_func(g_free);
    g_hash_table_insert(vdc_model.desired, d->fname, d);
    return d;
}

static void cond_clear(struct vdc_cond *c)
{
    g_clear_pointer(&c->reason, g_free);
    g_clear_pointer(&c->message, g_free);
}

static void entry_free(struct vdc_desired *d)
{
    unbind(d);
    set_uuid(d, "");
    obj_unregister(&d->o);
    for (int i = 0; i < VDC_COND_COUNT; i++)
        cond_clear(&d->cond[i]);
    if (d->spec_text)
        g_bytes_unref(d->spec_text);
    g_ptr_array_unref(d->macs);
    g_free(d->host);
    g_free(d->name);
    g_free(d->fname);
    g_free(d);
}

/* Returns true when the condition changed. */
static bool cond_set(struct vdc_desired *d, enum vdc_cond_type type, enum vdc_cond_status status,
                     const char *reason, const char *message)
{
    struct vdc_cond *c = &d->cond[type];
    bool moved = c->status != status;
    if (!moved && g_strcmp0(c->reason, reason) == 0 && g_strcmp0(c->message, message) == 0)
        return false;
    if (moved)
        clock_gettime(CLOCK_REALTIME, &c->since);
    c->status = status;
    cond_clear(c);
    c->reason = g_strdup(reason);
    c->message = g_strdup(message);
    entry_inval(d);
    return true;
}

void vdc_desired_put(const struct vdc_want *w)
{
    write_lock();
    struct vdc_desired *d = vdc_desired_find(w->fname);
    bool is_new = !d;
    bool was_shown = d && !d->deleting;
    if (!d)
        d = entry_new(w->fname);
    bool spec_changed = (d->spec_text == NULL) != (w->spec_text == NULL) ||
                        (d->spec_text && !g_bytes_equal(d->spec_text, w->spec_text));
    if (d->spec_text)
        g_bytes_unref(d->spec_text);
    d->spec_text = w->spec_text ? g_bytes_ref(w->spec_text) : NULL;
    d->generation = w->generation;
    g_free(d->host);
    d->host = g_strdup(w->host);
    g_ptr_array_unref(d->macs);
    d->macs = macs_copy(w->macs);
    d->in_store = w->in_store;
    d->deleting = w->deleting;
    set_uuid(d, w->uuid);
    if (d->spec_text && spec_changed) {
        cond_set(d, VDC_COND_SPEC_VALID, VDC_COND_TRUE, "Accepted", "the spec is valid");
        cond_set(d, VDC_COND_APPLIED, VDC_COND_FALSE, "Pending", "waiting to be applied");
        cond_set(d, VDC_COND_IN_SYNC, VDC_COND_UNKNOWN, "Pending", "not checked yet");
    } else if (!d->spec_text) {
        for (int i = 0; i < VDC_COND_COUNT; i++)
            cond_set(d, (enum vdc_cond_type)i, VDC_COND_UNKNOWN, "NoSpec", "no spec written");
    }
    bind(d);
    entry_inval(d);
    if (is_new || was_shown == d->deleting)
        entry_name_changed(d);
    write_unlock();
}

void vdc_desired_refuse(const char *fname, const char *uuid, const char *host,
                        const char *message)
{
    write_lock();
    struct vdc_desired *d = vdc_desired_find(fname);
    if (!d && host && uuid) {
        d = entry_new(fname);
        g_free(d->host);
        d->host = g_strdup(host);
        set_uuid(d, uuid);
        bind(d);
        entry_name_changed(d);
    }
    if (d)
        cond_set(d, VDC_COND_SPEC_VALID, VDC_COND_FALSE, "Invalid", message);
    write_unlock();
}

void vdc_desired_remove(const char *fname)
{
    write_lock();
    struct vdc_desired *d = vdc_desired_find(fname);
    if (d) {
        g_hash_table_remove(vdc_model.desired, fname);
        g_autofree char *name = g_strdup(d->name);
        vdc_inval_entry(VDC_STATIC_VMS, fname);
        vdc_inval_inode(VDC_STATIC_VMS);
        entry_free(d);
        displays_refresh(name);
    }
    write_unlock();
}

bool vdc_desired_report(const char *fname, uint64_t generation, enum vdc_cond_type type,
                        enum vdc_cond_status status, const char *reason, const char *message,
                        bool observed)
{
    write_lock();
    struct vdc_desired *d = vdc_desired_find(fname);
    bool current = d && d->generation == generation, changed = false;
    if (current) {
        changed = cond_set(d, type, status, reason, message);
        if (observed && d->observed_generation != generation) {
            d->observed_generation = generation;
            entry_inval(d);
        }
    }
    write_unlock();
    return changed;
}

GPtrArray *vdc_desired_list(const char *host)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
    vdc_model_read_lock();
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, vdc_model.desired);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        struct vdc_desired *d = v;
        if (!d->spec_text && !d->deleting)
            continue;
        if (host ? g_strcmp0(d->host, host) == 0 : d->host == NULL)
            g_ptr_array_add(out, g_strdup(d->fname));
    }
    vdc_model_read_unlock();
    return out;
}

/* Memory (KiB) of the VMs placed on @h whose spec is not on it yet. */
static uint64_t pending_kib(const struct vdc_host *h)
{
    uint64_t kib = 0;
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, vdc_model.desired);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        struct vdc_desired *d = v;
        if (d->vm || !d->spec_text || g_strcmp0(d->host, h->name) != 0)
            continue;
        gsize n;
        const char *p = g_bytes_get_data(d->spec_text, &n);
        g_autoptr(vdc_spec) s = vdc_spec_parse(p, n, NULL);
        if (s)
            kib += s->memory_mib * 1024;
    }
    return kib;
}

char *vdc_desired_pick_host(void)
{
    struct vdc_host *best = NULL;
    int64_t best_free = 0;
    for (guint i = 0; i < vdc_model.hosts->len; i++) {
        struct vdc_host *h = host_at(i);
        if (!h->connected || !h->info)
            continue;
        int64_t free_kib = (int64_t)h->info->free_kib - (int64_t)pending_kib(h);
        if (!best || free_kib > best_free) {
            best = h;
            best_free = free_kib;
        }
    }
    return best ? g_strdup(best->name) : NULL;
}

/* --- the model's VM changes ------------------------------------------- */

void desired_vm_seen(struct vdc_vm *vm)
{
    struct vdc_desired *d = g_hash_table_lookup(vdc_model.desired_by_uuid, vm->uuid);
    if (d && g_strcmp0(d->host, vm->host->name) == 0)
        bind(d);
}

void desired_vm_changed(struct vdc_vm *vm)
{
    if (vm->managed)
        entry_inval(vm->managed);
}

void desired_vm_leaving(struct vdc_vm *vm)
{
    if (vm->managed)
        unbind(vm->managed);
}

void desired_free_all(void)
{
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, vdc_model.desired);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        g_hash_table_iter_steal(&it);
        entry_free(v);
    }
}

/* --- what the files show ---------------------------------------------- */

static const char *cond_names[VDC_COND_COUNT] = {"SpecValid", "Applied", "InSync"};
static const char *cond_words[] = {"Unknown", "True", "False"};

static json_t *time_json(const struct timespec *t)
{
    if (t->tv_sec == 0)
        return json_null();
    g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(t->tv_sec);
    g_autofree char *s = g_date_time_format(dt, "%Y-%m-%dT%H:%M:%SZ");
    return json_string(s);
}

static json_t *conditions_json(const struct vdc_desired *d)
{
    json_t *a = json_array();
    for (int i = 0; i < VDC_COND_COUNT; i++) {
        const struct vdc_cond *c = &d->cond[i];
        json_array_append_new(
            a, json_pack("{s:s, s:s, s:o, s:o, s:o}", "type", cond_names[i], "status",
                         cond_words[c->status], "reason", vdc_json_text(c->reason), "message",
                         vdc_json_text(c->message), "time", time_json(&c->since)));
    }
    return a;
}

GBytes *vdc_vmdir_status(const struct vdc_vm *vm, const struct vdc_desired *d)
{
    if (!d)
        return vdc_ztext_unpack(vm->status_json);
    json_t *doc = NULL;
    if (vm) {
        g_autoptr(GBytes) facts = vdc_ztext_unpack(vm->status_json);
        gsize n;
        const char *p = g_bytes_get_data(facts, &n);
        doc = json_loadb(p, n, JSON_PRESERVE_ORDER, NULL);
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        doc = json_object();
        json_object_set_new(doc, "name", vdc_json_text(d->name));
        json_object_set_new(doc, "uuid", d->uuid[0] ? json_string(d->uuid) : json_null());
        json_object_set_new(doc, "host", vdc_json_text(d->host));
        json_object_set_new(doc, "state", json_string("undefined"));
    }
    json_object_set_new(doc, "managed", json_boolean(d->spec_text != NULL));
    json_object_set_new(doc, "placement", vdc_json_text(d->host));
    json_object_set_new(doc, "spec_generation", json_integer((json_int_t)d->generation));
    json_object_set_new(doc, "observed_generation",
                        json_integer((json_int_t)d->observed_generation));
    json_t *macs = json_array();
    for (guint i = 0; i < d->macs->len; i++)
        json_array_append_new(macs, vdc_json_text(g_ptr_array_index(d->macs, i)));
    json_object_set_new(doc, "assigned_macs", macs);
    json_object_set_new(doc, "conditions", conditions_json(d));
    return vdc_json_file(doc);
}

static const char *spec_state_word(enum vdc_vm_state s)
{
    switch (s) {
    case VDC_VM_RUNNING:
    case VDC_VM_BLOCKED:
        return "running";
    case VDC_VM_PAUSED:
    case VDC_VM_SUSPENDED:
        return "paused";
    default:
        return "shutoff";
    }
}

static json_t *derived_disks(const GPtrArray *disks)
{
    json_t *a = json_array();
    for (guint i = 0; disks && i < disks->len; i++) {
        const struct hv_disk *d = g_ptr_array_index(disks, i);
        json_t *o = NULL;
        if (d->source == HV_DISK_VOLUME && d->pool && d->volume)
            o = json_pack("{s:o, s:o, s:o}", "target", vdc_json_text(d->target), "pool",
                          vdc_json_text(d->pool), "volume", vdc_json_text(d->volume));
        else if ((d->source == HV_DISK_FILE || d->source == HV_DISK_BLOCK) && d->path)
            o = json_pack("{s:o, s:o}", "target", vdc_json_text(d->target), "file",
                          vdc_json_text(d->path));
        /* CD-ROMs without media and network disks of arrays vdcfs does not
         * know have no spec form; they are left out. */
        if (o)
            json_array_append_new(a, o);
    }
    return a;
}

static json_t *derived_interfaces(const GPtrArray *ifaces)
{
    json_t *a = json_array();
    for (guint i = 0; ifaces && i < ifaces->len; i++) {
        const struct hv_iface *f = g_ptr_array_index(ifaces, i);
        if (!f->network && !f->bridge)
            continue;
        json_t *o = json_object();
        if (f->network)
            json_object_set_new(o, "network", vdc_json_text(f->network));
        else
            json_object_set_new(o, "bridge", vdc_json_text(f->bridge));
        json_object_set_new(o, "mac", vdc_json_text(f->mac));
        json_array_append_new(a, o);
    }
    return a;
}

GBytes *vdc_vm_derived_spec(const struct vdc_vm *vm)
{
    g_autoptr(GBytes) xml = vdc_ztext_unpack(vm->domain_xml);
    g_autofree char *text = g_strndup(g_bytes_get_data(xml, NULL), g_bytes_get_size(xml));
    struct hv_vm *f = hv_vm_new();
    g_autofree char *err = NULL;
    json_t *doc;
    if (hv_parse_domain_xml(text, f, &err) < 0) {
        doc = json_pack("{s:o}", "error", vdc_json_text(err));
    } else {
        doc = json_object();
        json_object_set_new(doc, "host", vdc_json_text(vm->host->name));
        json_object_set_new(doc, "vcpus", json_integer(f->vcpus));
        json_object_set_new(doc, "memory_mib", json_integer((json_int_t)(f->memory_kib / 1024)));
        json_object_set_new(doc, "state", json_string(spec_state_word(vm->last_seen)));
        json_object_set_new(doc, "autostart", json_boolean(vm->autostart));
        json_object_set_new(doc, "disks", derived_disks(f->disks));
        json_object_set_new(doc, "interfaces", derived_interfaces(f->interfaces));
        json_object_set_new(doc, "description", vdc_json_text(f->description));
    }
    hv_vm_free(f);
    return vdc_json_file(doc);
}
