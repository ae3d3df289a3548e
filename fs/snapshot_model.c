/* snapshot_model.c — VM snapshots in the model, see snapshot_model.h. */
#include "snapshot_model.h"

#include <string.h>

#include "array_model.h"
#include "desired.h"
#include "inval.h"
#include "model_priv.h"
#include "names.h"
#include "render.h"

/* What the model knows of one VM's snapshots. */
struct vm_snaps {
    GHashTable *by_name; /* name -> struct vdc_vmsnap*, owned */
    GHashTable *pending; /* names being made (a set) */
    json_t *outcome;     /* the last operation's outcome, or NULL */
    int holds;           /* snapshot operations under way that the reconciler must not cross */
};

static GHashTable *by_uuid; /* uuid -> struct vm_snaps*, owned */

static void snapdisk_free(struct vdc_snapdisk *d)
{
    obj_unregister(&d->o);
    g_free(d->fname);
    g_free(d->array);
    g_free(d->snapshot_id);
    g_free(d);
}

static void vmsnap_free(struct vdc_vmsnap *s)
{
    obj_unregister(&s->o);
    g_hash_table_destroy(s->disks);
    json_decref(s->record);
    if (s->domain_xml)
        g_bytes_unref(s->domain_xml);
    g_free(s->name);
    g_free(s);
}

static void vm_snaps_free(struct vm_snaps *v)
{
    g_hash_table_destroy(v->by_name);
    g_hash_table_destroy(v->pending);
    json_decref(v->outcome);
    g_free(v);
}

void snapshots_free_all(void)
{
    g_clear_pointer(&by_uuid, g_hash_table_destroy);
}

static struct vm_snaps *vm_snaps_get(const char *uuid, bool create)
{
    if (!by_uuid) {
        if (!create)
            return NULL;
        by_uuid = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                        (GDestroyNotify)vm_snaps_free);
    }
    struct vm_snaps *v = g_hash_table_lookup(by_uuid, uuid);
    if (!v && create) {
        v = g_new0(struct vm_snaps, 1);
        v->by_name = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                           (GDestroyNotify)vmsnap_free);
        v->pending = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_hash_table_insert(by_uuid, g_strdup(uuid), v);
    }
    return v;
}

/* The inodes that show VM @uuid's snapshots/ directory: one per object
 * that can be the VM's directory in vms/ (the VM on its host, the desired
 * entry that names it). */
static void inval_snapshots_dirs(const char *uuid, const char *name)
{
    for (guint i = 0; i < vdc_model.hosts->len; i++) {
        struct vdc_vm *vm = g_hash_table_lookup(host_at(i)->vms, uuid);
        if (vm) {
            vdc_inval_inode(VDC_INO(vm->o.id, VDC_VM_SNAPS));
            vdc_inval_entry(VDC_INO(vm->o.id, VDC_VM_SNAPS), name);
            vdc_inval_inode(VDC_INO(vm->o.id, VDC_VM_STATUS));
            obj_touch(&vm->o);
        }
    }
    struct vdc_desired *d = g_hash_table_lookup(vdc_model.desired_by_uuid, uuid);
    if (d) {
        vdc_inval_inode(VDC_INO(d->o.id, VDC_VM_SNAPS));
        vdc_inval_entry(VDC_INO(d->o.id, VDC_VM_SNAPS), name);
        vdc_inval_inode(VDC_INO(d->o.id, VDC_VM_STATUS));
        obj_touch(&d->o);
    }
}

static struct vdc_vmsnap *vmsnap_from_record(json_t *record)
{
    struct vdc_vmsnap *s = g_new0(struct vdc_vmsnap, 1);
    obj_register(&s->o, VDC_OBJ_VMSNAP);
    g_strlcpy(s->uuid, json_string_value(json_object_get(record, "uuid")), sizeof s->uuid);
    s->name = g_strdup(json_string_value(json_object_get(record, "name")));
    s->record = record;
    const char *xml = json_string_value(json_object_get(record, "domain_xml"));
    s->domain_xml = xml ? g_bytes_new(xml, strlen(xml)) : NULL;
    s->disks = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                     (GDestroyNotify)snapdisk_free);
    size_t i;
    json_t *disk;
    json_array_foreach(json_object_get(record, "disks"), i, disk) {
        const char *target = json_string_value(json_object_get(disk, "target"));
        const char *id = json_string_value(json_object_get(disk, "snapshot_id"));
        const char *array = json_string_value(json_object_get(disk, "array"));
        if (!target || !id || !array)
            continue;
        struct vdc_snapdisk *d = g_new0(struct vdc_snapdisk, 1);
        obj_register(&d->o, VDC_OBJ_SNAPDISK);
        d->snap = s;
        g_autofree char *enc = vdc_name_encode(target);
        d->fname = g_strdup_printf("%s.img", enc);
        d->array = g_strdup(array);
        d->snapshot_id = g_strdup(id);
        d->size = (uint64_t)json_integer_value(json_object_get(disk, "size"));
        d->o.mtime = s->o.mtime;
        g_hash_table_replace(s->disks, d->fname, d);
    }
    return s;
}

void vdc_model_snapshot_put(json_t *record)
{
    const char *uuid = json_string_value(json_object_get(record, "uuid"));
    const char *name = json_string_value(json_object_get(record, "name"));
    if (!uuid || strlen(uuid) != 36 || !name) {
        json_decref(record);
        return;
    }
    write_lock();
    struct vm_snaps *v = vm_snaps_get(uuid, true);
    struct vdc_vmsnap *s = vmsnap_from_record(record);
    g_hash_table_replace(v->by_name, s->name, s);
    inval_snapshots_dirs(s->uuid, s->name);
    write_unlock();
}

void vdc_model_snapshot_remove(const char *uuid, const char *name)
{
    write_lock();
    struct vm_snaps *v = vm_snaps_get(uuid, false);
    if (v && g_hash_table_remove(v->by_name, name))
        inval_snapshots_dirs(uuid, name);
    write_unlock();
}

void vdc_model_snapshot_outcome(const char *uuid, const char *op, const char *name,
                                const char *message)
{
    write_lock();
    struct vm_snaps *v = vm_snaps_get(uuid, true);
    json_decref(v->outcome);
    v->outcome = json_object();
    json_object_set_new(v->outcome, "operation", json_string(op));
    json_object_set_new(v->outcome, "snapshot", vdc_json_text(name));
    json_object_set_new(v->outcome, "ok", json_boolean(message == NULL));
    json_object_set_new(v->outcome, "message", vdc_json_text(message));
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *t = g_date_time_format_iso8601(now);
    json_object_set_new(v->outcome, "time", json_string(t));
    inval_snapshots_dirs(uuid, name);
    write_unlock();
}

void vdc_model_snapshot_pending(const char *uuid, const char *name, bool pending)
{
    write_lock();
    struct vm_snaps *v = vm_snaps_get(uuid, true);
    if (pending)
        g_hash_table_add(v->pending, g_strdup(name));
    else
        g_hash_table_remove(v->pending, name);
    write_unlock();
}

/* --- lookups ------------------------------------------------------------ */

GHashTable *vdc_snapshots_of(const char *uuid)
{
    struct vm_snaps *v = vm_snaps_get(uuid, false);
    return v ? v->by_name : NULL;
}

struct vdc_vmsnap *vdc_snapshot_find(const char *uuid, const char *name)
{
    GHashTable *m = vdc_snapshots_of(uuid);
    return m ? g_hash_table_lookup(m, name) : NULL;
}

bool vdc_snapshot_is_pending(const char *uuid, const char *name)
{
    struct vm_snaps *v = vm_snaps_get(uuid, false);
    return v && g_hash_table_contains(v->pending, name);
}

unsigned vdc_snapshot_count(const char *uuid)
{
    GHashTable *m = vdc_snapshots_of(uuid);
    return m ? g_hash_table_size(m) : 0;
}

struct vdc_vmsnap *vdc_snapshot_latest(const char *uuid)
{
    GHashTable *m = vdc_snapshots_of(uuid);
    struct vdc_vmsnap *best = NULL;
    GHashTableIter it;
    gpointer v;
    if (!m)
        return NULL;
    g_hash_table_iter_init(&it, m);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        struct vdc_vmsnap *s = v;
        const char *t = json_string_value(json_object_get(s->record, "time"));
        const char *bt = best ? json_string_value(json_object_get(best->record, "time")) : NULL;
        if (!best || g_strcmp0(t, bt) > 0)
            best = s;
    }
    return best;
}

json_t *vdc_snapshot_status(const char *uuid)
{
    struct vm_snaps *v = vm_snaps_get(uuid, false);
    if (!v)
        return NULL;
    json_t *o = json_object();
    json_object_set_new(o, "count", json_integer(g_hash_table_size(v->by_name)));
    struct vdc_vmsnap *latest = vdc_snapshot_latest(uuid);
    json_object_set_new(o, "latest", vdc_json_text(latest ? latest->name : NULL));
    json_object_set_new(o, "last_operation", v->outcome ? json_incref(v->outcome) : json_null());
    return o;
}

struct vdc_lun *vdc_array_snapshot_lun(const struct vdc_array *a, const char *id)
{
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, a->snapshots);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        struct vdc_lun *l = v;
        if (l->mgmt->role == ARRAY_LUN_SNAPSHOT && g_strcmp0(l->mgmt->id, id) == 0)
            return l;
    }
    return NULL;
}

bool vdc_snapdisk_where(const struct vdc_snapdisk *d, unsigned *array_index, unsigned *lun)
{
    struct vdc_array *a = vdc_array_find(d->array);
    struct vdc_lun *l = a ? vdc_array_snapshot_lun(a, d->snapshot_id) : NULL;
    if (!l)
        return false;
    *array_index = a->index;
    *lun = l->mgmt->lun;
    return true;
}

GBytes *vdc_snapshot_info(const struct vdc_vmsnap *s)
{
    json_t *o = json_deep_copy(s->record);
    json_object_del(o, "domain_xml");
    size_t i;
    json_t *disk;
    json_array_foreach(json_object_get(o, "disks"), i, disk) {
        const char *array = json_string_value(json_object_get(disk, "array"));
        const char *id = json_string_value(json_object_get(disk, "snapshot_id"));
        struct vdc_array *a = array ? vdc_array_find(array) : NULL;
        struct vdc_lun *l = a && id ? vdc_array_snapshot_lun(a, id) : NULL;
        json_object_set_new(disk, "snapshot_lun", l ? json_integer(l->mgmt->lun) : json_null());
        /* An array that answers and does not have it: gone behind our back. */
        json_object_set_new(disk, "present", l ? json_true()
                                               : a && a->connected ? json_false() : json_null());
    }
    return vdc_json_file(o);
}

uint64_t vdc_snapdisk_allocated(const struct vdc_snapdisk *d)
{
    struct vdc_array *a = vdc_array_find(d->array);
    struct vdc_lun *l = a ? vdc_array_snapshot_lun(a, d->snapshot_id) : NULL;
    if (l && l->facts && l->facts->allocated_known)
        return MIN(l->facts->allocated, d->size);
    return d->size;
}

struct vdc_vmsnap *vdc_snapshot_with_disk(const char *array, const char *id)
{
    GHashTableIter vi, si;
    gpointer v, sv;
    if (!by_uuid)
        return NULL;
    g_hash_table_iter_init(&vi, by_uuid);
    while (g_hash_table_iter_next(&vi, NULL, &v)) {
        g_hash_table_iter_init(&si, ((struct vm_snaps *)v)->by_name);
        while (g_hash_table_iter_next(&si, NULL, &sv)) {
            struct vdc_vmsnap *s = sv;
            GHashTableIter di;
            gpointer dv;
            g_hash_table_iter_init(&di, s->disks);
            while (g_hash_table_iter_next(&di, NULL, &dv)) {
                const struct vdc_snapdisk *d = dv;
                if (strcmp(d->array, array) == 0 && strcmp(d->snapshot_id, id) == 0)
                    return s;
            }
        }
    }
    return NULL;
}

void vdc_model_snapshot_hold(const char *uuid, bool hold)
{
    write_lock();
    struct vm_snaps *v = vm_snaps_get(uuid, true);
    v->holds += hold ? 1 : -1;
    write_unlock();
}

bool vdc_snapshot_vm_held(const char *uuid)
{
    struct vm_snaps *v = uuid && *uuid ? vm_snaps_get(uuid, false) : NULL;
    return v && v->holds > 0;
}
