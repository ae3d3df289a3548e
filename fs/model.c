/* model.c — the in-memory datacenter, see model.h.
 *
 * Every update function follows the same pattern: take the write lock,
 * change the objects, re-render what they show, and for every file whose
 * content or listing changed queue a kernel invalidation and, for changes
 * users care about, an event.  Content that did not change is not
 * invalidated, so the periodic full refresh costs the kernel nothing.
 */
#include "model.h"

#include <string.h>

#include "model_priv.h"

#include "events.h"
#include "inval.h"
#include "names.h"
#include "render.h"
#include "ztext.h"

struct vdc_model vdc_model;

/* --- objects -------------------------------------------------------- */

void obj_touch(struct vdc_obj *o)
{
    clock_gettime(CLOCK_REALTIME, &o->mtime);
}

void obj_register(struct vdc_obj *o, enum vdc_obj_type type)
{
    o->id = vdc_model.next_id++;
    o->type = type;
    obj_touch(o);
    g_hash_table_insert(vdc_model.objs, &o->id, o);
}

void obj_unregister(struct vdc_obj *o)
{
    g_hash_table_remove(vdc_model.objs, &o->id);
}

struct vdc_obj *vdc_model_find(uint64_t id)
{
    return g_hash_table_lookup(vdc_model.objs, &id);
}

/* Replaces *@slot with @fresh (stolen).  Returns true, and queues an
 * invalidation of @ino, when the content really changed. */
bool set_content(GBytes **slot, GBytes *fresh, uint64_t ino)
{
    if (*slot && g_bytes_equal(*slot, fresh)) {
        g_bytes_unref(fresh);
        return false;
    }
    if (*slot)
        g_bytes_unref(*slot);
    *slot = fresh;
    vdc_inval_inode(ino);
    return true;
}

/* --- init ----------------------------------------------------------- */

void vdc_model_init(void)
{
    g_rw_lock_init(&vdc_model.lock);
    vdc_model.hosts = g_ptr_array_new();
    vdc_model.host_by_name = g_hash_table_new(g_str_hash, g_str_equal);
    vdc_model.vms_by_display = g_hash_table_new(g_str_hash, g_str_equal);
    vdc_model.vms_by_name = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                                  (GDestroyNotify)g_ptr_array_unref);
    vdc_model.cpools = g_hash_table_new(g_str_hash, g_str_equal);
    vdc_model.objs = g_hash_table_new(g_int64_hash, g_int64_equal);
    vdc_model.desired = g_hash_table_new(g_str_hash, g_str_equal);
    vdc_model.desired_by_uuid = g_hash_table_new(g_str_hash, g_str_equal);
    vdc_model.scratch = g_hash_table_new(g_str_hash, g_str_equal);
    vdc_model.arrays = g_ptr_array_new();
    vdc_model.array_by_name = g_hash_table_new(g_str_hash, g_str_equal);
    vdc_model.next_id = 1;
    clock_gettime(CLOCK_REALTIME, &vdc_model.start_time);
}

void vdc_model_read_lock(void)
{
    g_rw_lock_reader_lock(&vdc_model.lock);
}

void vdc_model_read_unlock(void)
{
    g_rw_lock_reader_unlock(&vdc_model.lock);
}

void write_lock(void)
{
    g_rw_lock_writer_lock(&vdc_model.lock);
}

void write_unlock(void)
{
    g_rw_lock_writer_unlock(&vdc_model.lock);
}

struct vdc_host *host_at(unsigned index)
{
    g_assert(index < vdc_model.hosts->len);
    return g_ptr_array_index(vdc_model.hosts, index);
}

/* --- hosts ---------------------------------------------------------- */

static void host_render(struct vdc_host *h)
{
    if (set_content(&h->info_json, vdc_render_host_info(h), VDC_INO(h->o.id, VDC_HOST_INFO)))
        obj_touch(&h->o);
}

unsigned vdc_model_add_host(const char *name, const char *uri)
{
    struct vdc_host *h = g_new0(struct vdc_host, 1);
    write_lock();
    obj_register(&h->o, VDC_OBJ_HOST);
    h->index = vdc_model.hosts->len;
    h->name = g_strdup(name);
    h->uri = g_strdup(uri);
    h->vms = g_hash_table_new(g_str_hash, g_str_equal);
    h->vms_by_fname = g_hash_table_new(g_str_hash, g_str_equal);
    h->pools = g_hash_table_new(g_str_hash, g_str_equal);
    h->error = g_strdup("not connected yet");
    g_ptr_array_add(vdc_model.hosts, h);
    g_hash_table_insert(vdc_model.host_by_name, h->name, h);
    host_render(h);
    write_unlock();
    vdc_inval_entry(VDC_STATIC_HOSTS, name);
    vdc_inval_inode(VDC_STATIC_HOSTS);
    return h->index;
}

static void vm_render(struct vdc_vm *vm, const struct hv_vm *facts, enum vdc_vm_state before);
static void cpools_refresh(const char *raw_name);
static void host_cpools_refresh(struct vdc_host *h);

void vdc_model_host_connected(unsigned index, struct hv_host_info *info)
{
    write_lock();
    struct vdc_host *h = host_at(index);
    bool was = h->connected;
    hv_host_info_free(h->info);
    h->info = info;
    h->connected = true;
    h->ever_connected = true;
    g_clear_pointer(&h->error, g_free);
    host_render(h);
    host_cpools_refresh(h);
    write_unlock();
    if (!was)
        vdc_events_emitf("host", h->name, h->name, "connected", "uri", vdc_json_text(h->uri),
                         "vms", json_integer(g_hash_table_size(h->vms)), NULL);
}

/* Cluster pools show each host's "connected"; re-render the host's ones. */
static void host_cpools_refresh(struct vdc_host *h)
{
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, h->pools);
    while (g_hash_table_iter_next(&it, NULL, &v))
        cpools_refresh(((struct vdc_hpool *)v)->facts->name);
}

void vdc_model_host_disconnected(unsigned index, const char *error)
{
    write_lock();
    struct vdc_host *h = host_at(index);
    bool was = h->connected;
    bool changed = was || g_strcmp0(h->error, error) != 0;
    h->connected = false;
    g_free(h->error);
    h->error = g_strdup(error ? error : "disconnected");
    host_render(h);
    /* Also when it never fully connected: a load that failed half-way
     * must not leave live-looking states behind. */
    {
        GHashTableIter it;
        gpointer v;
        g_hash_table_iter_init(&it, h->vms);
        while (g_hash_table_iter_next(&it, NULL, &v)) {
            struct vdc_vm *vm = v;
            enum vdc_vm_state before = vm->state;
            vm->state = VDC_VM_UNKNOWN;
            vm_render(vm, NULL, before);
        }
        if (was)
            host_cpools_refresh(h);
    }
    g_autofree char *msg = g_strdup(h->error);
    write_unlock();
    if (changed)
        vdc_events_emitf("host", h->name, h->name, "disconnected", "error", vdc_json_text(msg),
                         NULL);
}

/* --- VMs ------------------------------------------------------------ */

/* Renders status.json from @facts, or, without facts, from the last
 * status.json with the current state; invalidates what changed. */
static void vm_render(struct vdc_vm *vm, const struct hv_vm *facts, enum vdc_vm_state before)
{
    GBytes *status;
    if (facts) {
        status = vdc_render_vm_status(facts, vm->host->name, vm->state);
        vmdisks_sync(vm, facts); /* disks/, and the iSCSI disks a LUN's used_by names */
    } else {
        GBytes *last = vdc_ztext_unpack(vm->status_json);
        status = vdc_render_vm_status_state(last, vm->state);
        g_bytes_unref(last);
    }
    gsize n;
    const char *text = g_bytes_get_data(status, &n);
    GBytes *packed = vdc_ztext_pack(text, n);
    g_bytes_unref(status);
    bool changed = set_content(&vm->status_json, packed, VDC_INO(vm->o.id, VDC_VM_STATUS));
    if (before != vm->state) {
        vdc_inval_inode(VDC_INO(vm->o.id, VDC_VM_STATE));
        changed = true;
    }
    if (changed) {
        obj_touch(&vm->o);
        desired_vm_changed(vm);
    }
}

GBytes *vdc_vm_state_bytes(enum vdc_vm_state state)
{
    static GBytes *words[VDC_VM_SUSPENDED + 1];
    static gsize once;
    if (g_once_init_enter(&once)) {
        for (int s = 0; s <= VDC_VM_SUSPENDED; s++) {
            char *line = g_strdup_printf("%s\n", vdc_vm_state_word((enum vdc_vm_state)s));
            words[s] = g_bytes_new_take(line, strlen(line));
        }
        g_once_init_leave(&once, 1);
    }
    return words[state <= VDC_VM_SUSPENDED ? state : VDC_VM_UNKNOWN];
}

static GPtrArray *vms_named(const char *raw)
{
    return g_hash_table_lookup(vdc_model.vms_by_name, raw);
}

/* The name indexes (vms_by_display, a host's vms_by_fname) borrow their
 * keys from the VM that holds the name; memory is tight at 10,000 VMs.
 * For an instant two VMs may want one name (two VMs that swap names, seen
 * one at a time): the first keeps it, and the other claims it again when
 * the first lets go (vms_reclaim).  A name is only ever inserted when
 * absent, and released before its VM renames or goes, so a key never
 * points into another VM's freed string. */
static void index_claim(GHashTable *idx, const char *name, struct vdc_vm *vm)
{
    if (!g_hash_table_contains(idx, name))
        g_hash_table_insert(idx, (char *)name, vm);
}

static void index_release(GHashTable *idx, const char *name, struct vdc_vm *vm)
{
    if (g_hash_table_lookup(idx, name) == vm)
        g_hash_table_remove(idx, name);
}

/* Every VM called @raw takes back the names it is due. */
static void vms_reclaim(const char *raw)
{
    GPtrArray *same = vms_named(raw);
    for (guint i = 0; same && i < same->len; i++) {
        struct vdc_vm *vm = g_ptr_array_index(same, i);
        index_claim(vm->host->vms_by_fname, vm->fname, vm);
        index_claim(vdc_model.vms_by_display, vm->display, vm);
    }
}

/* Gives every VM called @raw its name in vms/: plain when it is the only
 * one, "name@host" when several hosts have one. */
void displays_refresh(const char *raw)
{
    GPtrArray *same = vms_named(raw);
    if (!same)
        return;
    for (guint i = 0; i < same->len; i++) {
        struct vdc_vm *vm = g_ptr_array_index(same, i);
        /* A desired entry of that name takes the plain name for the VM
         * it is bound to; every other VM of the name is "name@host". */
        struct vdc_desired *claim = desired_claiming(vm->fname);
        bool plain = claim ? vm->managed == claim : same->len == 1;
        g_autofree char *want = plain ? g_strdup(vm->fname)
                                      : g_strdup_printf("%s@%s", vm->fname, vm->host->name);
        if (vm->display && strcmp(vm->display, want) == 0)
            continue;
        if (vm->display) {
            index_release(vdc_model.vms_by_display, vm->display, vm);
            vdc_inval_entry(VDC_STATIC_VMS, vm->display);
            g_free(vm->display);
        }
        vm->display = g_steal_pointer(&want);
        vdc_inval_entry(VDC_STATIC_VMS, vm->display);
        vdc_inval_inode(VDC_INO(vm->o.id, VDC_VM_HOSTLINK)); /* its target */
    }
    vms_reclaim(raw);
    vdc_inval_inode(VDC_STATIC_VMS);
}

static void vm_index(struct vdc_vm *vm)
{
    const char *raw = vm->name;
    GPtrArray *same = vms_named(raw);
    if (!same) {
        same = g_ptr_array_new();
        g_hash_table_insert(vdc_model.vms_by_name, g_strdup(raw), same);
    }
    g_ptr_array_add(same, vm);
    vdc_inval_entry(VDC_INO(vm->host->o.id, VDC_HOST_VMS), vm->fname);
    vdc_inval_inode(VDC_INO(vm->host->o.id, VDC_HOST_VMS));
    displays_refresh(raw);
}

/* Takes @vm out of the name indexes (its display entry included). */
static void vm_unindex(struct vdc_vm *vm)
{
    g_autofree char *raw = g_strdup(vm->name);
    GPtrArray *same = vms_named(raw);
    if (same) {
        g_ptr_array_remove(same, vm);
        if (same->len == 0)
            g_hash_table_remove(vdc_model.vms_by_name, raw);
    }
    index_release(vm->host->vms_by_fname, vm->fname, vm);
    vdc_inval_entry(VDC_INO(vm->host->o.id, VDC_HOST_VMS), vm->fname);
    vdc_inval_inode(VDC_INO(vm->host->o.id, VDC_HOST_VMS));
    if (vm->display) {
        index_release(vdc_model.vms_by_display, vm->display, vm);
        vdc_inval_entry(VDC_STATIC_VMS, vm->display);
        vdc_inval_inode(VDC_STATIC_VMS);
        g_clear_pointer(&vm->display, g_free);
    }
    displays_refresh(raw);
}

static void vm_free(struct vdc_vm *vm)
{
    g_free(vm->name);
    g_free(vm->fname);
    g_free(vm->display);
    g_clear_pointer(&vm->domain_xml, g_bytes_unref);
    g_clear_pointer(&vm->status_json, g_bytes_unref);
    vmdisks_free(vm);
    g_strfreev(vm->iscsi_disks);
    g_free(vm);
}

/* The event for a VM whose state went from @from to @to, or NULL. */
static const char *transition_event(enum vdc_vm_state from, enum vdc_vm_state to)
{
    if (from == to)
        return NULL;
    switch (to) {
    case VDC_VM_RUNNING:
        return from == VDC_VM_PAUSED || from == VDC_VM_SUSPENDED ? "resumed" : "started";
    case VDC_VM_PAUSED:
        return "suspended";
    case VDC_VM_SHUTOFF:
        return "stopped";
    case VDC_VM_CRASHED:
        return "crashed";
    case VDC_VM_SUSPENDED:
        return "pmsuspended";
    case VDC_VM_BLOCKED:
        return "blocked";
    case VDC_VM_UNKNOWN:
        return NULL;
    }
    return NULL;
}

static void emit_vm_event(struct vdc_vm *vm, const char *event)
{
    vdc_events_emitf("vm", vm->name, vm->host->name, event, "state",
                     json_string(vdc_vm_state_word(vm->state)), "uuid", json_string(vm->uuid),
                     NULL);
}

/* The domain XML of @facts, packed (ztext.h). */
static GBytes *pack_domain_xml(const struct hv_vm *facts)
{
    const char *xml = facts->domain_xml ? facts->domain_xml : "";
    return vdc_ztext_pack(xml, strlen(xml));
}

/* Both take @facts (consumed). */
static void vm_create(struct vdc_host *h, struct hv_vm *facts)
{
    struct vdc_vm *vm = g_new0(struct vdc_vm, 1);
    obj_register(&vm->o, VDC_OBJ_VM);
    vm->host = h;
    vm->name = g_strdup(facts->name);
    g_strlcpy(vm->uuid, facts->uuid, sizeof vm->uuid);
    vm->fname = vdc_name_encode(facts->name);
    vm->state = vm->last_seen = facts->state;
    vm->autostart = facts->autostart;
    vm->persistent = facts->persistent;
    vm->domain_xml = pack_domain_xml(facts);
    g_hash_table_insert(h->vms, vm->uuid, vm);
    vm_index(vm);
    desired_vm_seen(vm);
    vm_render(vm, facts, vm->state);
    hv_vm_free(facts);
    /* A host's first load is not news: its "connected" event says how
     * many VMs it has.  After that, every new VM is. */
    if (h->ever_connected)
        emit_vm_event(vm, "defined");
}

static void vm_apply(struct vdc_vm *vm, struct hv_vm *facts)
{
    enum vdc_vm_state seen_before = vm->last_seen, shown_before = vm->state;
    bool renamed = strcmp(vm->name, facts->name) != 0;
    if (renamed) {
        vm_unindex(vm);
        g_free(vm->name);
        vm->name = g_strdup(facts->name);
        g_free(vm->fname);
        vm->fname = vdc_name_encode(facts->name);
        vm_index(vm);
    }
    GBytes *xml = pack_domain_xml(facts);
    bool xml_changed = set_content(&vm->domain_xml, xml, VDC_INO(vm->o.id, VDC_VM_DOMXML));
    vm->state = vm->last_seen = facts->state;
    vm->autostart = facts->autostart;
    vm->persistent = facts->persistent;
    vm_render(vm, facts, shown_before);
    hv_vm_free(facts);
    if (xml_changed) {
        obj_touch(&vm->o);
        desired_vm_changed(vm);
    }

    const char *ev = transition_event(seen_before, vm->state);
    if (ev)
        emit_vm_event(vm, ev);
    else if (xml_changed || renamed)
        emit_vm_event(vm, renamed ? "renamed" : "changed");
}

static void vm_upsert_locked(struct vdc_host *h, struct hv_vm *facts)
{
    struct vdc_vm *vm = g_hash_table_lookup(h->vms, facts->uuid);
    if (vm)
        vm_apply(vm, facts);
    else
        vm_create(h, facts);
}

static void vm_remove_locked(struct vdc_host *h, struct vdc_vm *vm, bool announce)
{
    desired_vm_leaving(vm);
    g_hash_table_remove(h->vms, vm->uuid);
    vm_unindex(vm);
    obj_unregister(&vm->o);
    if (announce)
        vdc_events_emitf("vm", vm->name, h->name, "undefined", "uuid", json_string(vm->uuid),
                         NULL);
    vm_free(vm);
}

void vdc_model_vm_update(unsigned index, struct hv_vm *facts)
{
    write_lock();
    struct vdc_host *h = host_at(index);
    vm_upsert_locked(h, facts);
    host_render(h);
    write_unlock();
}

void vdc_model_vm_gone(unsigned index, const char *uuid)
{
    write_lock();
    struct vdc_host *h = host_at(index);
    struct vdc_vm *vm = g_hash_table_lookup(h->vms, uuid);
    if (vm)
        vm_remove_locked(h, vm, true);
    host_render(h);
    write_unlock();
}

static void prune_locked(struct vdc_host *h, GHashTable *alive)
{
    GPtrArray *gone = g_ptr_array_new();
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, h->vms);
    while (g_hash_table_iter_next(&it, &k, &v))
        if (!g_hash_table_contains(alive, k))
            g_ptr_array_add(gone, v);
    for (guint i = 0; i < gone->len; i++)
        vm_remove_locked(h, g_ptr_array_index(gone, i), true);
    g_ptr_array_free(gone, TRUE);
}

void vdc_model_host_prune_vms(unsigned index, GHashTable *alive)
{
    write_lock();
    struct vdc_host *h = host_at(index);
    prune_locked(h, alive);
    host_render(h);
    write_unlock();
}

bool vdc_model_vm_matches(unsigned index, const struct hv_vm_brief *b)
{
    vdc_model_read_lock();
    struct vdc_vm *vm = g_hash_table_lookup(host_at(index)->vms, b->uuid);
    bool same = vm && vm->last_seen == b->state && vm->state == b->state &&
                vm->autostart == b->autostart && vm->persistent == b->persistent;
    vdc_model_read_unlock();
    return same;
}

void vdc_model_host_sync_vms(unsigned index, GPtrArray *vms)
{
    write_lock();
    struct vdc_host *h = host_at(index);
    GHashTable *seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (guint i = 0; i < vms->len; i++) {
        struct hv_vm *facts = g_ptr_array_index(vms, i);
        g_hash_table_add(seen, g_strdup(facts->uuid));
        vm_upsert_locked(h, facts);
    }
    g_ptr_array_free(vms, TRUE); /* the elements were consumed */
    prune_locked(h, seen);
    g_hash_table_destroy(seen);
    host_render(h);
    write_unlock();
}

/* --- pools ---------------------------------------------------------- */

static void volume_free(struct vdc_volume *v)
{
    obj_unregister(&v->o);
    g_free(v->fname);
    g_bytes_unref(v->json);
    g_free(v);
}

/* Brings the volumes of @p in line with @vols (consumed). */
static void hpool_sync_volumes(struct vdc_hpool *p, GPtrArray *vols)
{
    uint64_t dir = VDC_INO(p->o.id, VDC_HPOOL_VOLS);
    GHashTable *seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (guint i = 0; vols && i < vols->len; i++) {
        struct hv_volume *hv = g_ptr_array_index(vols, i);
        g_autofree char *enc = vdc_name_encode(hv->name);
        char *fname = g_strdup_printf("%s.json", enc);
        g_hash_table_add(seen, g_strdup(fname));
        struct vdc_volume *v = g_hash_table_lookup(p->volumes, fname);
        if (!v) {
            v = g_new0(struct vdc_volume, 1);
            obj_register(&v->o, VDC_OBJ_VOLUME);
            v->pool = p;
            v->fname = fname;
            g_hash_table_insert(p->volumes, v->fname, v);
            vdc_inval_entry(dir, v->fname);
            vdc_inval_inode(dir);
        } else {
            g_free(fname);
        }
        if (set_content(&v->json, vdc_render_volume(hv), VDC_INO(v->o.id, VDC_VOLUME_FILE)))
            obj_touch(&v->o);
    }
    GHashTableIter it;
    gpointer k, val;
    g_hash_table_iter_init(&it, p->volumes);
    while (g_hash_table_iter_next(&it, &k, &val)) {
        if (g_hash_table_contains(seen, k))
            continue;
        vdc_inval_entry(dir, k);
        vdc_inval_inode(dir);
        g_hash_table_iter_steal(&it);
        volume_free(val);
    }
    g_hash_table_destroy(seen);
    if (vols)
        g_ptr_array_free(vols, TRUE);
}

static void hpool_free(struct vdc_hpool *p)
{
    hpool_sync_volumes(p, NULL);
    g_hash_table_destroy(p->volumes);
    obj_unregister(&p->o);
    hv_pool_free(p->facts);
    g_free(p->fname);
    g_bytes_unref(p->info_json);
    g_free(p);
}

static struct vdc_cpool *cpool_create(const char *fname)
{
    struct vdc_cpool *c = g_new0(struct vdc_cpool, 1);
    obj_register(&c->o, VDC_OBJ_CPOOL);
    c->fname = g_strdup(fname);
    g_hash_table_insert(vdc_model.cpools, c->fname, c);
    vdc_inval_entry(VDC_STATIC_POOLS, c->fname);
    vdc_inval_inode(VDC_STATIC_POOLS);
    return c;
}

static void cpool_free(struct vdc_cpool *c)
{
    obj_unregister(&c->o);
    g_free(c->fname);
    g_clear_pointer(&c->info_json, g_bytes_unref);
    g_free(c);
}

static bool any_host_has_pool(const char *fname)
{
    for (guint i = 0; i < vdc_model.hosts->len; i++)
        if (g_hash_table_contains(host_at(i)->pools, fname))
            return true;
    return false;
}

/* Creates, re-renders or removes the cluster view of the pool @raw_name. */
static void cpools_refresh(const char *raw_name)
{
    g_autofree char *fname = vdc_name_encode(raw_name);
    struct vdc_cpool *c = g_hash_table_lookup(vdc_model.cpools, fname);
    if (!any_host_has_pool(fname)) {
        if (c) {
            g_hash_table_remove(vdc_model.cpools, fname);
            vdc_inval_entry(VDC_STATIC_POOLS, fname);
            vdc_inval_inode(VDC_STATIC_POOLS);
            cpool_free(c);
        }
        return;
    }
    if (!c)
        c = cpool_create(fname);
    if (set_content(&c->info_json, vdc_render_cpool_info(raw_name, vdc_model.hosts),
                    VDC_INO(c->o.id, VDC_CPOOL_INFO)))
        obj_touch(&c->o);
}

static const char *pool_event(const struct hv_pool *before, const struct hv_pool *after)
{
    if (g_strcmp0(before->state, after->state) != 0)
        return g_strcmp0(after->state, "running") == 0 ? "started"
               : g_strcmp0(after->state, "inactive") == 0 ? "stopped"
                                                          : "changed";
    return NULL;
}

static void hpool_apply(struct vdc_host *h, struct hv_pool *facts)
{
    g_autofree char *fname = vdc_name_encode(facts->name);
    struct vdc_hpool *p = g_hash_table_lookup(h->pools, fname);
    GPtrArray *vols = g_steal_pointer(&facts->volumes);
    const char *ev = NULL;
    if (!p) {
        p = g_new0(struct vdc_hpool, 1);
        obj_register(&p->o, VDC_OBJ_HPOOL);
        p->host = h;
        p->fname = g_steal_pointer(&fname);
        p->volumes = g_hash_table_new(g_str_hash, g_str_equal);
        g_hash_table_insert(h->pools, p->fname, p);
        vdc_inval_entry(VDC_INO(h->o.id, VDC_HOST_POOLS), p->fname);
        vdc_inval_inode(VDC_INO(h->o.id, VDC_HOST_POOLS));
        ev = h->ever_connected ? "defined" : NULL;
    } else {
        ev = pool_event(p->facts, facts);
        hv_pool_free(p->facts);
    }
    p->facts = facts;
    if (set_content(&p->info_json, vdc_render_hpool_info(p), VDC_INO(p->o.id, VDC_HPOOL_INFO)))
        obj_touch(&p->o);
    hpool_sync_volumes(p, vols);
    if (ev)
        vdc_events_emitf("pool", facts->name, h->name, ev, "state", vdc_json_text(facts->state),
                         NULL);
}

void vdc_model_host_sync_pools(unsigned index, GPtrArray *pools)
{
    write_lock();
    struct vdc_host *h = host_at(index);
    GHashTable *names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    GHashTableIter it;
    gpointer k, v;

    /* Raw names of every pool before and after, to refresh their cluster view. */
    g_hash_table_iter_init(&it, h->pools);
    while (g_hash_table_iter_next(&it, NULL, &v))
        g_hash_table_add(names, g_strdup(((struct vdc_hpool *)v)->facts->name));
    GHashTable *seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (guint i = 0; i < pools->len; i++) {
        struct hv_pool *facts = g_ptr_array_index(pools, i);
        g_hash_table_add(names, g_strdup(facts->name));
        g_hash_table_add(seen, vdc_name_encode(facts->name));
        hpool_apply(h, facts);
    }
    g_ptr_array_free(pools, TRUE);

    g_hash_table_iter_init(&it, h->pools);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        if (g_hash_table_contains(seen, k))
            continue;
        struct vdc_hpool *p = v;
        vdc_inval_entry(VDC_INO(h->o.id, VDC_HOST_POOLS), p->fname);
        vdc_inval_inode(VDC_INO(h->o.id, VDC_HOST_POOLS));
        vdc_events_emitf("pool", p->facts->name, h->name, "undefined", NULL);
        g_hash_table_iter_steal(&it);
        hpool_free(p);
    }
    g_hash_table_iter_init(&it, names);
    while (g_hash_table_iter_next(&it, &k, NULL))
        cpools_refresh(k);
    g_hash_table_destroy(seen);
    g_hash_table_destroy(names);
    write_unlock();
}

/* --- teardown ------------------------------------------------------- */

static void host_free(struct vdc_host *h)
{
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, h->vms);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        struct vdc_vm *vm = v;
        obj_unregister(&vm->o);
        vm_free(vm);
    }
    g_hash_table_destroy(h->vms);
    g_hash_table_destroy(h->vms_by_fname);
    g_hash_table_iter_init(&it, h->pools);
    while (g_hash_table_iter_next(&it, NULL, &v))
        hpool_free(v);
    g_hash_table_destroy(h->pools);
    obj_unregister(&h->o);
    hv_host_info_free(h->info);
    g_bytes_unref(h->info_json);
    g_free(h->error);
    g_free(h->name);
    g_free(h->uri);
    g_free(h);
}

void vdc_model_free(void)
{
    write_lock();
    scratch_free_all();
    desired_free_all();
    g_hash_table_destroy(vdc_model.scratch);
    g_hash_table_destroy(vdc_model.desired);
    g_hash_table_destroy(vdc_model.desired_by_uuid);
    snapshots_free_all();
    arrays_free_all();
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, vdc_model.cpools);
    while (g_hash_table_iter_next(&it, NULL, &v))
        cpool_free(v);
    g_hash_table_destroy(vdc_model.cpools);
    for (guint i = 0; i < vdc_model.hosts->len; i++)
        host_free(host_at(i));
    g_ptr_array_free(vdc_model.hosts, TRUE);
    g_hash_table_destroy(vdc_model.host_by_name);
    g_hash_table_destroy(vdc_model.vms_by_display);
    g_hash_table_destroy(vdc_model.vms_by_name);
    g_hash_table_destroy(vdc_model.objs);
    write_unlock();
    g_rw_lock_clear(&vdc_model.lock);
    memset(&vdc_model, 0, sizeof vdc_model);
}
