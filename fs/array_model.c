/* array_model.c — arrays and their LUNs in the model, see array_model.h. */
#include "array_model.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "inval.h"
#include "model_priv.h"
#include "render.h"

static json_t *bytes_or_null(bool known, uint64_t v)
{
    return known && v <= INT64_MAX ? json_integer((json_int_t)v) : json_null();
}

static void array_render(struct vdc_array *a)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", vdc_json_text(a->name));
    json_object_set_new(o, "driver", vdc_json_text(a->driver));
    json_object_set_new(o, "portal", vdc_json_text(a->portal));
    json_object_set_new(o, "target", vdc_json_text(a->target));
    json_object_set_new(o, "connected", json_boolean(a->connected));
    json_object_set_new(o, "error", vdc_json_text(a->error));
    json_object_set_new(o, "luns", a->ever_connected ? json_integer(g_hash_table_size(a->luns))
                                                     : json_null());
    json_object_set_new(o, "snapshots", a->ever_connected
                                            ? json_integer(g_hash_table_size(a->snapshots))
                                            : json_null());
    json_object_set_new(o, "capacity", bytes_or_null(a->ever_connected, a->capacity));
    json_object_set_new(o, "allocation", bytes_or_null(a->ever_connected, a->allocation));
    if (set_content(&a->info_json, vdc_json_file(o), VDC_INO(a->o.id, VDC_ARRAY_INFO)))
        obj_touch(&a->o);
}

static const char *role_word(enum array_lun_role r)
{
    switch (r) {
    case ARRAY_LUN_DISK:
        return "disk";
    case ARRAY_LUN_SNAPSHOT:
        return "snapshot";
    case ARRAY_LUN_CLONE:
        return "clone";
    case ARRAY_LUN_CONTROLLER:
        return "controller";
    }
    return "unknown";
}

/* Everything of a LUN's info.json but used_by, which changes with the
 * VMs, not with the array. */
static json_t *lun_json(const struct vdc_lun *l)
{
    const struct vdc_lun_facts *f = l->facts;
    const struct array_lun *m = l->mgmt;
    json_t *o = json_object();
    json_object_set_new(o, "lun", json_integer(m->lun));
    json_object_set_new(o, "role", json_string(role_word(m->role)));
    json_object_set_new(o, "capacity", bytes_or_null(f, f ? f->capacity : 0));
    json_object_set_new(o, "block_size", f ? json_integer(f->block_size) : json_null());
    json_object_set_new(o, "vendor", vdc_json_text(f ? f->vendor : NULL));
    json_object_set_new(o, "product", vdc_json_text(f ? f->product : NULL));
    json_object_set_new(o, "revision", vdc_json_text(f ? f->revision : NULL));
    json_object_set_new(o, "serial", vdc_json_text(f ? f->serial : NULL));
    json_object_set_new(o, "wwn", vdc_json_text(f ? f->wwn : NULL));
    json_object_set_new(o, "thin_provisioned", f ? json_boolean(f->thin_provisioned) : json_null());
    json_object_set_new(o, "media", f ? json_string(vdc_media_word(f->media)) : json_null());
    json_object_set_new(o, "readonly", json_boolean(m->readonly || (f && f->write_protected)));
    json_object_set_new(o, "allocated", bytes_or_null(f && f->allocated_known,
                                                      f ? f->allocated : 0));
    if (m->role == ARRAY_LUN_SNAPSHOT || m->role == ARRAY_LUN_CLONE) {
        json_object_set_new(o, "source_lun", m->source_lun ? json_integer(m->source_lun)
                                                           : json_null());
        json_object_set_new(o, "id", vdc_json_text(m->id));
        json_object_set_new(o, "cow", json_boolean(m->cow));
    }
    return o;
}

/* Whether used_by changed since the LUN was last rendered (a VM gained
 * or lost a disk on it); invalidates the kernel's copy of info.json if
 * so.  The array's every sync looks: the safety net that bounds how long
 * a stale used_by can be read to refresh_seconds. */
static bool used_by_changed(struct vdc_lun *l)
{
    json_t *used = vdc_lun_used_by(l->array->target, l->mgmt->lun);
    char *text = json_dumps(used, JSON_COMPACT);
    json_decref(used);
    bool changed = l->used_by_seen && g_strcmp0(text, l->used_by_seen) != 0;
    if (!l->used_by_seen || changed) {
        g_free(l->used_by_seen);
        l->used_by_seen = g_strdup(text);
    }
    free(text);
    if (changed)
        vdc_inval_inode(VDC_INO(l->o.id, VDC_LUN_INFO));
    return changed;
}

/* Returns whether what the LUN shows changed. */
static bool lun_render(struct vdc_lun *l)
{
    bool changed =
        set_content(&l->info_json, vdc_json_file(lun_json(l)), VDC_INO(l->o.id, VDC_LUN_INFO));
    changed |= used_by_changed(l);
    if (changed)
        obj_touch(&l->o);
    return changed;
}

static void lun_free(struct vdc_lun *l)
{
    obj_unregister(&l->o);
    g_free(l->fname);
    g_free(l->used_by_seen);
    array_lun_free(l->mgmt);
    vdc_lun_facts_free(l->facts);
    g_clear_pointer(&l->info_json, g_bytes_unref);
    g_free(l);
}

unsigned vdc_model_add_array(const struct vdc_array_config *cfg)
{
    struct vdc_array *a = g_new0(struct vdc_array, 1);
    a->name = g_strdup(cfg->name);
    a->driver = g_strdup(cfg->driver);
    a->portal = g_strdup(cfg->portal);
    a->target = g_strdup(cfg->target);
    a->chap_user = g_strdup(cfg->chap_user);
    a->luns = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)lun_free);
    a->snapshots = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)lun_free);
    write_lock();
    obj_register(&a->o, VDC_OBJ_ARRAY);
    a->index = vdc_model.arrays->len;
    g_ptr_array_add(vdc_model.arrays, a);
    g_hash_table_insert(vdc_model.array_by_name, a->name, a);
    array_render(a);
    write_unlock();
    return a->index;
}

static struct vdc_lun_facts *take_facts(GPtrArray *facts, unsigned lun)
{
    for (guint i = 0; facts && i < facts->len; i++) {
        struct vdc_lun_facts *f = g_ptr_array_index(facts, i);
        if (f && f->lun == lun)
            return g_ptr_array_steal_index_fast(facts, i);
    }
    return NULL;
}

/* Puts @m (consumed) with its facts into @map, reusing the object of the
 * same LUN number so that its inode stays.  Returns whether the listing
 * changed; appends the LUN's number to @changed when what it shows did. */
static bool lun_upsert(struct vdc_array *a, GHashTable *map, struct array_lun *m,
                       struct vdc_lun_facts *f, GArray *changed)
{
    g_autofree char *fname = g_strdup_printf("%u", m->lun);
    struct vdc_lun *l = g_hash_table_lookup(map, fname);
    bool added = false;
    if (!l) {
        l = g_new0(struct vdc_lun, 1);
        l->array = a;
        l->fname = g_steal_pointer(&fname);
        obj_register(&l->o, VDC_OBJ_LUN);
        g_hash_table_insert(map, l->fname, l);
        added = true;
    }
    array_lun_free(l->mgmt);
    vdc_lun_facts_free(l->facts);
    l->mgmt = m;
    l->facts = f;
    if (lun_render(l))
        g_array_append_val(changed, m->lun);
    return added;
}

/* Drops the LUNs of @map that are not in @seen; returns whether any
 * went.  @parent: the directory they are listed in, 0 when several. */
static bool luns_prune(GHashTable *map, GHashTable *seen, uint64_t parent)
{
    bool gone = false;
    GHashTableIter it;
    gpointer k;
    g_hash_table_iter_init(&it, map);
    while (g_hash_table_iter_next(&it, &k, NULL))
        if (!g_hash_table_contains(seen, k)) {
            if (parent)
                vdc_inval_entry(parent, k);
            g_hash_table_iter_remove(&it);
            gone = true;
        }
    return gone;
}

static void array_connected(struct vdc_array *a)
{
    bool news = !a->connected;
    a->connected = true;
    a->ever_connected = true;
    g_clear_pointer(&a->error, g_free);
    if (news)
        vdc_events_emitf("array", a->name, NULL, "connected", NULL);
}

void vdc_model_array_sync(unsigned index, GPtrArray *mgmt, GPtrArray *facts, uint64_t capacity,
                          uint64_t allocation)
{
    write_lock();
    struct vdc_array *a = g_ptr_array_index(vdc_model.arrays, index);
    bool was_connected = a->connected;
    array_connected(a);
    a->capacity = capacity;
    a->allocation = allocation;
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GArray) facts_changed = g_array_new(FALSE, FALSE, sizeof(unsigned));
    bool luns_changed = false, snaps_changed = false;
    for (guint i = 0; i < mgmt->len; i++) {
        struct array_lun *m = g_ptr_array_index(mgmt, i);
        g_ptr_array_index(mgmt, i) = NULL;
        if (m->role == ARRAY_LUN_CONTROLLER) {
            array_lun_free(m);
            continue;
        }
        g_hash_table_add(seen, g_strdup_printf("%u", m->lun));
        bool disk = m->role == ARRAY_LUN_DISK;
        bool added = lun_upsert(a, disk ? a->luns : a->snapshots, m, take_facts(facts, m->lun),
                                facts_changed);
        if (disk)
            luns_changed |= added;
        else
            snaps_changed |= added;
    }
    bool luns_gone = luns_prune(a->luns, seen, VDC_INO(a->o.id, VDC_ARRAY_LUNS));
    bool snaps_gone = luns_prune(a->snapshots, seen, 0);
    luns_changed |= luns_gone;
    snaps_changed |= snaps_gone;
    if (luns_changed)
        vdc_inval_inode(VDC_INO(a->o.id, VDC_ARRAY_LUNS));
    if (luns_changed || snaps_changed) {
        /* Any LUN's snapshots/ listing may have changed. */
        GHashTableIter it;
        gpointer v;
        g_hash_table_iter_init(&it, a->luns);
        while (g_hash_table_iter_next(&it, NULL, &v))
            vdc_inval_inode(VDC_INO(((struct vdc_lun *)v)->o.id, VDC_LUN_SNAPSHOTS));
    }
    array_render(a);
    /* The VM disks on this array show its LUNs' facts and whether it
     * answers: all of them when that or the set of LUNs changed. */
    vmdisks_array_changed(a, !was_connected || luns_gone || snaps_gone ? NULL : facts_changed);
    write_unlock();
    g_ptr_array_free(mgmt, TRUE);
    if (facts) {
        for (guint i = 0; i < facts->len; i++)
            vdc_lun_facts_free(g_ptr_array_index(facts, i));
        g_ptr_array_free(facts, TRUE);
    }
}

void vdc_model_array_down(unsigned index, const char *error)
{
    write_lock();
    struct vdc_array *a = g_ptr_array_index(vdc_model.arrays, index);
    bool news = a->connected || g_strcmp0(a->error, error) != 0;
    a->connected = false;
    g_free(a->error);
    a->error = g_strdup(error);
    array_render(a);
    if (news)
        vmdisks_array_changed(a, NULL);
    write_unlock();
    if (news)
        vdc_events_emitf("array", a->name, NULL, "disconnected", "error", vdc_json_text(error),
                         NULL);
}

struct vdc_array *vdc_array_find(const char *name)
{
    return g_hash_table_lookup(vdc_model.array_by_name, name);
}

bool vdc_array_lookup(const char *name, char **host, int *port, char **iqn, char **chap_user,
                      void *data)
{
    (void)data;
    const struct vdc_array *a = name ? vdc_array_find(name) : NULL;
    if (!a || !vdc_portal_split(a->portal, host, port))
        return false;
    *iqn = g_strdup(a->target);
    *chap_user = g_strdup(a->chap_user);
    return true;
}

json_t *vdc_lun_used_by(const char *iqn, unsigned lun)
{
    g_autofree char *want = g_strdup_printf("%s/%u", iqn, lun);
    json_t *names = json_array();
    for (guint h = 0; h < vdc_model.hosts->len; h++) {
        struct vdc_host *host = g_ptr_array_index(vdc_model.hosts, h);
        GHashTableIter it;
        gpointer v;
        g_hash_table_iter_init(&it, host->vms);
        while (g_hash_table_iter_next(&it, NULL, &v)) {
            const struct vdc_vm *vm = v;
            if (vm->iscsi_disks && g_strv_contains((const char *const *)vm->iscsi_disks, want))
                json_array_append_new(names, vdc_json_text(vm->display ? vm->display : vm->fname));
        }
    }
    return names;
}

json_t *vdc_lun_info_json(const struct vdc_lun *l)
{
    json_t *o = lun_json(l);
    json_object_set_new(o, "used_by", vdc_lun_used_by(l->array->target, l->mgmt->lun));
    return o;
}

GBytes *vdc_lun_info(const struct vdc_lun *l)
{
    return vdc_json_file(vdc_lun_info_json(l));
}

static void array_free(struct vdc_array *a)
{
    g_hash_table_destroy(a->luns);
    g_hash_table_destroy(a->snapshots);
    obj_unregister(&a->o);
    g_free(a->name);
    g_free(a->driver);
    g_free(a->portal);
    g_free(a->target);
    g_free(a->chap_user);
    g_free(a->error);
    g_clear_pointer(&a->info_json, g_bytes_unref);
    g_free(a);
}

void arrays_free_all(void)
{
    for (guint i = 0; i < vdc_model.arrays->len; i++)
        array_free(g_ptr_array_index(vdc_model.arrays, i));
    g_ptr_array_free(vdc_model.arrays, TRUE);
    g_hash_table_destroy(vdc_model.array_by_name);
}
