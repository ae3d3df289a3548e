/* reconcile.c — making a host match the desired state, see reconcile.h. */
#include "reconcile.h"

#include <string.h>

#include "array_model.h"
#include "events.h"
#include "model.h"
#include "render.h"

void (*vdc_reconcile_deleted_hook)(const char *fname);

const char *vdc_want_mac(const struct vdc_want *w, guint i)
{
    const struct vdc_spec_iface *f = g_ptr_array_index(w->spec->interfaces, i);
    if (f->mac)
        return f->mac;
    return i < w->macs->len ? g_ptr_array_index(w->macs, i) : NULL;
}

void vdc_plan_free(struct vdc_plan *p)
{
    if (!p)
        return;
    g_array_free(p->steps, TRUE);
    g_free(p->drift);
    g_free(p->blocked);
    g_free(p);
}

/* --- comparing ---------------------------------------------------------- */

/* A LUN disk of the spec against an iSCSI network disk: the name libvirt
 * gives it ("IQN/LUN") and the portal's host and port, as @arrays says the
 * array is (an unknown array matches nothing). */
static bool lun_matches(const struct vdc_spec_disk *want, const struct hv_disk *have,
                        vdc_spec_array_lookup arrays, void *data)
{
    if (have->source != HV_DISK_NETWORK || g_strcmp0(have->protocol, "iscsi") != 0 ||
        !have->name || !have->host)
        return false;
    g_autofree char *host = NULL, *iqn = NULL, *chap_user = NULL;
    int port = 0;
    if (!arrays || !arrays(want->array, &host, &port, &iqn, &chap_user, data))
        return false;
    g_autofree char *name = g_strdup_printf("%s/%u", iqn, want->lun);
    /* A <host> without a port is on iSCSI's own. */
    int have_port = have->port ? have->port : 3260;
    return strcmp(name, have->name) == 0 && g_ascii_strcasecmp(host, have->host) == 0 &&
           have_port == port;
}

static bool disk_matches(const struct vdc_spec_disk *want, const struct hv_disk *have,
                         vdc_spec_array_lookup arrays, void *data)
{
    if (g_strcmp0(want->target, have->target) != 0)
        return false;
    switch (want->kind) {
    case VDC_SPEC_DISK_VOLUME:
        return have->source == HV_DISK_VOLUME && g_strcmp0(want->pool, have->pool) == 0 &&
               g_strcmp0(want->volume, have->volume) == 0;
    case VDC_SPEC_DISK_FILE:
        return (have->source == HV_DISK_FILE || have->source == HV_DISK_BLOCK) &&
               g_strcmp0(want->file, have->path) == 0;
    case VDC_SPEC_DISK_LUN:
        return lun_matches(want, have, arrays, data);
    }
    return false;
}

static bool has_volume(const struct hv_vm *vm, const struct vdc_spec_disk *d)
{
    for (guint i = 0; vm && i < vm->disks->len; i++) {
        const struct hv_disk *h = g_ptr_array_index(vm->disks, i);
        if (h->source == HV_DISK_VOLUME && g_strcmp0(h->pool, d->pool) == 0 &&
            g_strcmp0(h->volume, d->volume) == 0)
            return true;
    }
    return false;
}

/* Appends to @drift what differs between @w and the definition @have. */
static void config_drift(const struct vdc_want *w, const struct hv_vm *have,
                         vdc_spec_array_lookup arrays, void *arrays_data, GString *drift)
{
    const struct vdc_spec *s = w->spec;
    /* The spec's vcpus are both the current and the maximum count, its
     * memory both <memory> and <currentMemory>: the XML vdcfs defines
     * (<vcpu>N</vcpu>, <memory> alone) says so.  A maximum of 0 (no
     * <vcpu>) or an absent <currentMemory> means the same as the other.
     * The maximum and the current memory are named only when they are not
     * the same as the other, already named, value. */
    if (have->vcpus != s->vcpus)
        g_string_append_printf(drift, "vcpus %u (want %u); ", have->vcpus, s->vcpus);
    if (have->max_vcpus && have->max_vcpus != s->vcpus && have->max_vcpus != have->vcpus)
        g_string_append_printf(drift, "maximum vcpus %u (want %u); ", have->max_vcpus, s->vcpus);
    uint64_t want_kib = s->memory_mib * 1024;
    if (have->memory_kib != want_kib)
        g_string_append_printf(drift, "memory %" G_GUINT64_FORMAT " MiB (want %" G_GUINT64_FORMAT
                                      " MiB); ", have->memory_kib / 1024, s->memory_mib);
    uint64_t cur = have->current_memory_kib;
    if (cur && cur != want_kib && cur != have->memory_kib) {
        if (cur % 1024 == 0)
            g_string_append_printf(drift, "current memory %" G_GUINT64_FORMAT " MiB", cur / 1024);
        else
            g_string_append_printf(drift, "current memory %" G_GUINT64_FORMAT " KiB", cur);
        g_string_append_printf(drift, " (want %" G_GUINT64_FORMAT " MiB); ", s->memory_mib);
    }
    /* libvirt drops an empty <description>: "" and none are the same. */
    const char *want_desc = s->description ? s->description : "";
    if (strcmp(have->description ? have->description : "", want_desc) != 0)
        g_string_append(drift, "description; ");
    bool disks_same = have->disks->len == s->disks->len;
    for (guint i = 0; disks_same && i < s->disks->len; i++)
        disks_same = disk_matches(g_ptr_array_index(s->disks, i),
                                  g_ptr_array_index(have->disks, i), arrays, arrays_data);
    if (!disks_same)
        g_string_append(drift, "disks; ");
    bool nics_same = have->interfaces->len == s->interfaces->len;
    for (guint i = 0; nics_same && i < s->interfaces->len; i++) {
        const struct vdc_spec_iface *f = g_ptr_array_index(s->interfaces, i);
        const struct hv_iface *h = g_ptr_array_index(have->interfaces, i);
        nics_same = g_strcmp0(f->network, h->network) == 0 &&
                    g_strcmp0(f->bridge, h->bridge) == 0 &&
                    g_ascii_strcasecmp(vdc_want_mac(w, i) ? vdc_want_mac(w, i) : "",
                                       h->mac ? h->mac : "") == 0;
    }
    if (!nics_same)
        g_string_append(drift, "interfaces; ");
}

/* Active on its host (a guest that suspended itself to RAM still is). */
static bool is_on(enum vdc_vm_state s)
{
    return s == VDC_VM_RUNNING || s == VDC_VM_BLOCKED || s == VDC_VM_PAUSED ||
           s == VDC_VM_SUSPENDED;
}

static void add_step(struct vdc_plan *p, struct vdc_step st)
{
    g_array_append_val(p->steps, st);
}

static void add_power(struct vdc_plan *p, enum hv_power_action a)
{
    add_step(p, (struct vdc_step){.kind = VDC_STEP_POWER, .power = a});
}

/* The power steps from state @have to the spec's state. */
static void plan_state(struct vdc_plan *p, enum vdc_vm_state want, enum vdc_vm_state have,
                       const struct vdc_memo *memo, gint64 now, GString *drift)
{
    bool off = !is_on(have);
    switch (want) {
    case VDC_VM_RUNNING:
        if (have == VDC_VM_PAUSED)
            add_power(p, HV_POWER_RESUME);
        else if (off)
            add_power(p, HV_POWER_START);
        break;
    case VDC_VM_PAUSED:
        if (have == VDC_VM_RUNNING || have == VDC_VM_BLOCKED)
            add_power(p, HV_POWER_SUSPEND);
        else if (off)
            add_power(p, HV_POWER_START_PAUSED);
        break;
    default: /* shutoff */
        if (!off) {
            bool overdue = memo && memo->shutdown_since &&
                           now - memo->shutdown_since >= VDC_SHUTDOWN_GRACE_US;
            /* A paused guest cannot answer ACPI: it is destroyed at once. */
            add_power(p, overdue || have == VDC_VM_PAUSED ? HV_POWER_DESTROY : HV_POWER_SHUTDOWN);
        }
        break;
    }
    if (p->steps->len && g_array_index(p->steps, struct vdc_step, p->steps->len - 1).kind ==
                             VDC_STEP_POWER)
        g_string_append_printf(drift, "state %s (want %s); ", vdc_vm_state_word(have),
                               vdc_vm_state_word(want));
}

static struct vdc_plan *plan_new(void)
{
    struct vdc_plan *p = g_new0(struct vdc_plan, 1);
    p->steps = g_array_new(FALSE, TRUE, sizeof(struct vdc_step));
    return p;
}

static struct vdc_plan *plan_delete(const struct hv_vm *config, bool prune)
{
    struct vdc_plan *p = plan_new();
    if (!config) {
        p->drift = g_strdup("");
        return p;
    }
    p->drift = g_strdup("defined (want removed)");
    if (is_on(config->state)) {
        if (!prune) {
            p->blocked = g_strdup("the VM is running and prune is off: it is left in place");
            return p;
        }
        add_power(p, HV_POWER_DESTROY);
    }
    add_step(p, (struct vdc_step){.kind = VDC_STEP_UNDEFINE});
    return p;
}

struct vdc_plan *vdc_reconcile_plan(const struct vdc_want *w, const char *xml,
                                    const struct hv_vm *config, const struct hv_vm *live,
                                    const struct vdc_memo *memo, vdc_spec_array_lookup arrays,
                                    void *arrays_data, bool prune, gint64 now)
{
    if (w->deleting)
        return plan_delete(config, prune);
    (void)xml;
    struct vdc_plan *p = plan_new();
    const struct vdc_spec *s = w->spec;
    GString *drift = g_string_new(NULL);
    for (guint i = 0; i < s->disks->len; i++) {
        const struct vdc_spec_disk *d = g_ptr_array_index(s->disks, i);
        if (d->kind == VDC_SPEC_DISK_VOLUME && d->capacity_gib && !has_volume(config, d))
            add_step(p, (struct vdc_step){.kind = VDC_STEP_ENSURE_VOLUME,
                                          .pool = d->pool,
                                          .volume = d->volume,
                                          .capacity = (uint64_t)d->capacity_gib << 30});
    }
    if (!config) {
        g_string_append(drift, "not defined; ");
        add_step(p, (struct vdc_step){.kind = VDC_STEP_DEFINE});
        if (s->autostart)
            add_step(p, (struct vdc_step){.kind = VDC_STEP_AUTOSTART, .flag = true});
        plan_state(p, s->state, VDC_VM_SHUTOFF, memo, now, drift);
    } else {
        size_t before = drift->len;
        config_drift(w, config, arrays, arrays_data, drift);
        /* Undefined while it ran (virsh undefine): libvirt keeps it
         * running, transient, and forgets it when it stops.  Defining
         * it again (same uuid) makes it persistent without a restart. */
        if (!config->persistent)
            g_string_append(drift, "not persistent; ");
        bool redefine = drift->len > before;
        if (redefine)
            add_step(p, (struct vdc_step){.kind = VDC_STEP_DEFINE});
        if (config->autostart != s->autostart) {
            g_string_append(drift, "autostart; ");
            add_step(p, (struct vdc_step){.kind = VDC_STEP_AUTOSTART, .flag = s->autostart});
        }
        /* Live changes, tried once per spec generation: what the
         * hypervisor refuses waits for the next boot. */
        const struct hv_vm *now_vm = live ? live : config;
        if (is_on(config->state) && now_vm) {
            bool tried = memo && memo->live_tried_generation == w->generation;
            bool differs = now_vm->vcpus != s->vcpus || now_vm->memory_kib != s->memory_mib * 1024;
            if (differs && !tried) {
                if (now_vm->vcpus != s->vcpus)
                    add_step(p, (struct vdc_step){.kind = VDC_STEP_SET_VCPUS, .vcpus = s->vcpus});
                if (now_vm->memory_kib != s->memory_mib * 1024)
                    add_step(p, (struct vdc_step){.kind = VDC_STEP_SET_MEMORY,
                                                  .kib = s->memory_mib * 1024});
            } else if (differs && memo->live_failed) {
                p->restart_needed = true;
            }
        }
        plan_state(p, s->state, config->state, memo, now, drift);
    }
    if (drift->len >= 2 && drift->str[drift->len - 2] == ';')
        g_string_truncate(drift, drift->len - 2);
    p->drift = g_string_free(drift, FALSE);
    return p;
}

/* --- carrying it out ---------------------------------------------------- */

static const char *step_word(const struct vdc_step *st)
{
    switch (st->kind) {
    case VDC_STEP_ENSURE_VOLUME:
        return "create-volume";
    case VDC_STEP_DEFINE:
        return "define";
    case VDC_STEP_AUTOSTART:
        return "autostart";
    case VDC_STEP_POWER:
        return st->power == HV_POWER_START_PAUSED ? "start-paused" : hv_power_word(st->power);
    case VDC_STEP_SET_VCPUS:
        return "set-vcpus";
    case VDC_STEP_SET_MEMORY:
        return "set-memory";
    case VDC_STEP_UNDEFINE:
        return "undefine";
    }
    return "?";
}

struct run {
    const struct hv_ops *ops;
    struct hv_conn *conn;
    const struct vdc_want *w;
    const char *host;
    const char *xml;
    struct vdc_memo *memo;
    unsigned host_index;
    GHashTable *arrays; /* see resolve_arrays */
};

/* Where one array of the spec is (or that it is not configured). */
struct array_where {
    bool known;
    char *host, *iqn, *chap_user;
    int port;
};

static void array_where_free(struct array_where *a)
{
    g_free(a->host);
    g_free(a->iqn);
    g_free(a->chap_user);
    g_free(a);
}

/* The arrays of @s's LUN disks, resolved once for a whole reconcile
 * (under one read lock) so that the XML and every plan of the pass see
 * the same places: array name -> struct array_where*. */
static GHashTable *resolve_arrays(const struct vdc_spec *s)
{
    GHashTable *t =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)array_where_free);
    bool locked = false;
    for (guint i = 0; s && i < s->disks->len; i++) {
        const struct vdc_spec_disk *d = g_ptr_array_index(s->disks, i);
        if (d->kind != VDC_SPEC_DISK_LUN || g_hash_table_contains(t, d->array))
            continue;
        if (!locked) {
            vdc_model_read_lock();
            locked = true;
        }
        struct array_where *a = g_new0(struct array_where, 1);
        a->known = vdc_array_lookup(d->array, &a->host, &a->port, &a->iqn, &a->chap_user, NULL);
        g_hash_table_insert(t, g_strdup(d->array), a);
    }
    if (locked)
        vdc_model_read_unlock();
    return t;
}

/* A vdc_spec_array_lookup over resolve_arrays()'s table @data. */
static bool resolved_lookup(const char *array, char **host, int *port, char **iqn,
                            char **chap_user, void *data)
{
    const struct array_where *a = g_hash_table_lookup(data, array);
    if (!a || !a->known)
        return false;
    *host = g_strdup(a->host);
    *port = a->port;
    *iqn = g_strdup(a->iqn);
    *chap_user = g_strdup(a->chap_user);
    return true;
}

/* Returns 0, or -1 with *err. */
static int run_step(struct run *r, const struct vdc_step *st, char **err)
{
    const char *uuid = r->w->uuid;
    int rc;
    switch (st->kind) {
    case VDC_STEP_ENSURE_VOLUME:
        rc = r->ops->ensure_volume(r->conn, st->pool, st->volume, st->capacity, err);
        return rc < 0 ? -1 : 0;
    case VDC_STEP_DEFINE:
        return r->ops->define_vm(r->conn, r->xml, err);
    case VDC_STEP_AUTOSTART:
        return r->ops->set_autostart(r->conn, uuid, st->flag, err);
    case VDC_STEP_POWER:
        rc = r->ops->power(r->conn, uuid, st->power, err);
        if (rc < 0 && st->power == HV_POWER_START_PAUSED) {
            /* Some hypervisors (libvirt's test driver) cannot start paused:
             * start, then pause at once. */
            g_clear_pointer(err, g_free);
            rc = r->ops->power(r->conn, uuid, HV_POWER_START, err);
            if (rc == 0)
                rc = r->ops->power(r->conn, uuid, HV_POWER_SUSPEND, err);
        }
        if (rc == 0 && st->power == HV_POWER_SHUTDOWN && !r->memo->shutdown_since)
            r->memo->shutdown_since = g_get_monotonic_time();
        return rc;
    case VDC_STEP_SET_VCPUS:
    case VDC_STEP_SET_MEMORY:
        r->memo->live_tried_generation = r->w->generation;
        rc = st->kind == VDC_STEP_SET_VCPUS
                 ? r->ops->set_vcpus_live(r->conn, uuid, st->vcpus, err)
                 : r->ops->set_memory_live(r->conn, uuid, st->kib, err);
        if (rc < 0) {
            /* Not a failure of the apply: the definition has the new
             * value, the VM gets it at its next boot. */
            r->memo->live_failed = true;
            g_clear_pointer(err, g_free);
        }
        return 0;
    case VDC_STEP_UNDEFINE:
        return r->ops->undefine_vm(r->conn, uuid, err);
    }
    return 0;
}

static void emit(const struct run *r, const char *event, const char *k1, json_t *v1,
                 const char *k2, json_t *v2)
{
    vdc_events_emitf("vm", r->w->name, r->host, event, "generation",
                     json_integer((json_int_t)r->w->generation), k1, v1, k2, v2, NULL);
}

static void report(const struct vdc_want *w, enum vdc_cond_type t, enum vdc_cond_status s,
                   const char *reason, const char *msg, bool observed)
{
    vdc_desired_report(w->fname, w->generation, t, s, reason, msg, observed);
}

/* The current facts: the definition (and the live VM when it runs). */
static int fetch(struct run *r, struct hv_vm **config, struct hv_vm **live, char **err)
{
    *config = *live = NULL;
    int rc = r->ops->get_vm_config(r->conn, r->w->uuid, config, err);
    if (rc != 0)
        return rc;
    if (is_on((*config)->state) && r->ops->get_vm(r->conn, r->w->uuid, NULL, live, err) < 0) {
        g_clear_pointer(err, g_free);
        *live = NULL;
    }
    return 0;
}

static void finish_delete(struct run *r)
{
    emit(r, "removed", "uuid", json_string(r->w->uuid), NULL, NULL);
    if (vdc_reconcile_deleted_hook)
        vdc_reconcile_deleted_hook(r->w->fname);
}

/* The definition after the steps without asking the host for it again:
 * the XML just defined, or @before (consumed) when it was not redefined,
 * with what the VM now says of its state, autostart and persistence. */
static struct hv_vm *config_after(const struct run *r, struct hv_vm *before, bool defined,
                                  const struct hv_vm *seen)
{
    struct hv_vm *c = before;
    if (defined || !c) {
        hv_vm_free(c);
        c = hv_vm_new();
        g_autofree char *err = NULL;
        if (hv_parse_domain_xml(r->xml, c, &err) < 0) {
            hv_vm_free(c);
            return NULL;
        }
    }
    c->state = seen->state;
    c->autostart = seen->autostart;
    c->persistent = seen->persistent;
    return c;
}

/* After steps: reads the VM once (which also feeds the model, so that
 * status.json never says InSync next to a state of "undefined") and plans
 * again from what it says.  Consumes @before.  Returns the plan, or NULL
 * with *err. */
static bool is_on(enum vdc_vm_state s);
static struct vdc_plan *look_again(struct run *r, struct hv_vm *before, bool defined, bool *off,
                                   char **err)
{
    struct hv_vm *seen = NULL;
    g_clear_pointer(err, g_free);
    int got = r->ops->get_vm(r->conn, r->w->uuid, NULL, &seen, err);
    if (got != 0) {
        hv_vm_free(before);
        if (got > 0)
            *err = g_strdup("the VM is gone right after it was applied");
        return NULL;
    }
    struct hv_vm *config = config_after(r, before, defined, seen);
    if (!config) {
        /* Cannot happen for XML we made; ask the host then. */
        if (r->ops->get_vm_config(r->conn, r->w->uuid, &config, err) != 0) {
            hv_vm_free(seen);
            if (!*err)
                *err = g_strdup("the VM is gone right after it was applied");
            return NULL;
        }
    }
    struct vdc_plan *p = vdc_reconcile_plan(r->w, r->xml, config, is_on(seen->state) ? seen : NULL,
                                            r->memo, resolved_lookup, r->arrays, false,
                                            g_get_monotonic_time());
    hv_vm_free(config);
    *off = !is_on(seen->state);
    vdc_model_vm_update(r->host_index, seen);
    return p;
}

void vdc_reconcile(const struct hv_ops *ops, struct hv_conn *conn, unsigned host,
                   const char *fname, GHashTable *memos, bool prune)
{
    g_autoptr(vdc_want) w = vdc_desired_get(fname);
    vdc_model_read_lock();
    struct vdc_host *h = g_ptr_array_index(vdc_model.hosts, host);
    g_autofree char *host_name = g_strdup(h->name);
    g_autofree char *domain_type = g_strdup(h->info ? h->info->domain_type : NULL);
    vdc_model_read_unlock();
    if (!w->exists || g_strcmp0(w->host, host_name) != 0 || !w->uuid[0])
        return;
    if (!w->deleting && !w->spec) {
        if (w->spec_text)
            report(w, VDC_COND_APPLIED, VDC_COND_FALSE, "InvalidSpec",
                   "the spec in the state directory does not parse", false);
        return;
    }
    struct vdc_memo *memo = g_hash_table_lookup(memos, fname);
    if (!memo) {
        memo = g_new0(struct vdc_memo, 1);
        g_hash_table_insert(memos, g_strdup(fname), memo);
    }
    /* A shutdown asked for an earlier spec does not count towards the
     * grace of a later one. */
    if (!w->deleting && w->spec->state != VDC_VM_SHUTOFF)
        memo->shutdown_since = 0;
    g_autofree char *xml = NULL;
    g_autoptr(GHashTable) arrays = resolve_arrays(w->deleting ? NULL : w->spec);
    if (!w->deleting) {
        /* MACs: the assigned ones go into the XML. */
        for (guint i = 0; i < w->spec->interfaces->len; i++) {
            struct vdc_spec_iface *f = g_ptr_array_index(w->spec->interfaces, i);
            if (!f->mac && vdc_want_mac(w, i))
                f->mac = g_strdup(vdc_want_mac(w, i));
        }
        GError *gerr = NULL;
        xml = vdc_spec_domain_xml(w->spec, w->name, w->uuid, domain_type, resolved_lookup,
                                  arrays, &gerr);
        if (!xml) {
            report(w, VDC_COND_APPLIED, VDC_COND_FALSE, "Failed", gerr->message, false);
            g_error_free(gerr);
            return;
        }
    }
    struct run r = {ops, conn, w, host_name, xml, memo, host, arrays};
    struct hv_vm *config = NULL, *live = NULL;
    g_autofree char *err = NULL;
    int got = fetch(&r, &config, &live, &err);
    if (got < 0) {
        report(w, VDC_COND_APPLIED, VDC_COND_FALSE, "HostError", err, false);
        return;
    }
    struct vdc_plan *p = vdc_reconcile_plan(w, xml, config, live, memo, resolved_lookup, arrays,
                                            prune, g_get_monotonic_time());
    hv_vm_free(live);
    if (p->blocked) {
        report(w, VDC_COND_APPLIED, VDC_COND_FALSE, "Blocked", p->blocked, false);
        emit(&r, "warning", "message", json_string(p->blocked), NULL, NULL);
        vdc_plan_free(p);
        hv_vm_free(config);
        return;
    }
    bool ok = true, defined = false;
    for (guint i = 0; ok && i < p->steps->len; i++) {
        const struct vdc_step *st = &g_array_index(p->steps, struct vdc_step, i);
        if (run_step(&r, st, &err) < 0) {
            ok = false;
            g_autofree char *msg = g_strdup_printf("%s: %s", step_word(st), err);
            report(w, VDC_COND_APPLIED, VDC_COND_FALSE, "Failed", msg, false);
            report(w, VDC_COND_IN_SYNC, VDC_COND_FALSE, "NotApplied", p->drift, false);
            emit(&r, "apply-failed", "action", json_string(step_word(st)), "error",
                 vdc_json_text(err));
        } else {
            defined |= st->kind == VDC_STEP_DEFINE;
            emit(&r, "applied", "action", json_string(step_word(st)), NULL, NULL);
        }
    }
    bool had_steps = p->steps->len > 0;
    bool off = !config || !is_on(config->state);
    if (!ok || w->deleting || !had_steps)
        hv_vm_free(config);
    if (!ok) {
        vdc_plan_free(p);
        return;
    }
    if (w->deleting) {
        vdc_plan_free(p);
        finish_delete(&r);
        /* A new entry of that name is another VM: it starts afresh. */
        g_hash_table_remove(memos, fname);
        return;
    }
    if (had_steps) {
        /* Look again: the truth after our steps, for the model and InSync. */
        vdc_plan_free(p);
        p = look_again(&r, config, defined, &off, &err);
        if (!p) {
            report(w, VDC_COND_APPLIED, VDC_COND_FALSE, "Failed", err, false);
            return;
        }
    }
    if (memo->shutdown_since && off)
        memo->shutdown_since = 0;
    g_clear_pointer(&err, g_free);
    report(w, VDC_COND_APPLIED, VDC_COND_TRUE, "Applied",
           had_steps ? "the spec was applied" : "nothing to change", true);
    if (p->restart_needed)
        report(w, VDC_COND_IN_SYNC, VDC_COND_FALSE, "RestartRequired",
               "the new vcpus/memory apply at the next boot (the hypervisor refused a live "
               "change)", true);
    else if (*p->drift)
        report(w, VDC_COND_IN_SYNC, VDC_COND_FALSE, "Converging", p->drift, true);
    else if (vdc_desired_report(w->fname, w->generation, VDC_COND_IN_SYNC, VDC_COND_TRUE,
                                "InSync", "the VM is as the spec says", true))
        emit(&r, "in-sync", NULL, NULL, NULL, NULL);
    vdc_plan_free(p);
}
