/* vm_ctl.c — the controller: what writes to vms/ do, see vm_ctl.h. */
#include "vm_ctl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "array_model.h"
#include "desired.h"
#include "events.h"
#include "fuse_ll.h"
#include "host_runner.h"
#include "inval.h"
#include "reconcile.h"
#include "render.h"
#include "scratch.h"
#include "tree.h"

enum job_kind {
    JOB_COMMIT = 1, JOB_MKDIR, JOB_RMDIR, JOB_UNLINK, JOB_POWER, JOB_PLACE, JOB_DELETED, JOB_STOP
};

struct job {
    enum job_kind kind;
    fuse_req_t req;
    struct vdc_ctl_target t;
    GBytes *text;
    uint64_t scratch_ino;
    enum hv_power_action action;
    size_t size;
};

static GAsyncQueue *queue; /* of struct job*, to the controller thread */
static GThread *thread;
static struct vdc_store *store;
static bool prune;

/* Group commit.  Specs closed and directories made while the controller
 * was busy are handled together: each is validated and staged in @txn in
 * turn, then one sync makes all of them durable, and only then does each
 * reach the model and get its reply.  Two flushes to the disk per group
 * instead of two per spec.  Controller thread only. */
struct staged {
    struct job *j;
    struct vdc_want *w;
};
static struct vdc_store_txn *txn;
static GPtrArray *staged;         /* of struct staged*, in arrival order */
static GHashTable *staged_fnames; /* their entries: one change per entry per group */
#define MAX_GROUP 256             /* bounds the open directory fds of a group */

void vdc_ctl_target_clear(struct vdc_ctl_target *t)
{
    g_clear_pointer(&t->fname, g_free);
    g_clear_pointer(&t->vm_host, g_free);
}

/* --- replies and messages --------------------------------------------- */

static void event(const struct vdc_want *w, const char *what, const char *k1, json_t *v1,
                  const char *k2, json_t *v2)
{
    vdc_events_emitf("vm", w->name, w->host, what, k1, v1, k2, v2, NULL);
}

/* A spec that is not taken: the message goes to status.json and /events,
 * the previous spec stays. */
static int refuse_spec(const struct vdc_want *w, const struct vdc_ctl_target *t, int errnum,
                       const char *message)
{
    vdc_desired_refuse(w->fname, t->vm_host ? t->uuid : NULL, t->vm_host, message);
    vdc_events_emitf("vm", w->name, w->host ? w->host : t->vm_host, "spec-refused", "error",
                     vdc_json_text(message), NULL);
    return errnum;
}

static int store_error(const struct vdc_want *w, GError *e)
{
    vdc_events_emitf("vm", w->name, w->host, "store-failed", "error", vdc_json_text(e->message),
                     NULL);
    g_error_free(e);
    return EIO;
}

/* --- placement and identity -------------------------------------------- */

static bool mac_staged(const char *mac)
{
    for (guint i = 0; staged && i < staged->len; i++) {
        const struct staged *g = g_ptr_array_index(staged, i);
        for (guint k = 0; k < g->w->macs->len; k++)
            if (g_strcmp0(g_ptr_array_index(g->w->macs, k), mac) == 0)
                return true;
    }
    return false;
}

static bool mac_taken(const char *mac)
{
    if (mac_staged(mac))
        return true;
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, vdc_model.desired);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        const struct vdc_desired *d = v;
        for (guint i = 0; i < d->macs->len; i++)
            if (g_strcmp0(g_ptr_array_index(d->macs, i), mac) == 0)
                return true;
    }
    return false;
}

static char *new_mac(void)
{
    for (;;) {
        /* 52:54:00 is the prefix libvirt and QEMU use for generated MACs. */
        char *mac = g_strdup_printf("52:54:00:%02x:%02x:%02x", g_random_int_range(0, 256),
                                    g_random_int_range(0, 256), g_random_int_range(0, 256));
        vdc_model_read_lock();
        bool taken = mac_taken(mac);
        vdc_model_read_unlock();
        if (!taken)
            return mac;
        g_free(mac);
    }
}

/* The MAC the VM already has on interface @i (adopting it), or NULL. */
static char *observed_mac(const struct vdc_vm *vm, guint i)
{
    if (!vm)
        return NULL;
    g_autoptr(GBytes) status = vdc_vmdir_status(vm, NULL);
    json_t *doc = json_loadb(g_bytes_get_data(status, NULL), g_bytes_get_size(status), 0, NULL);
    json_t *mac = json_object_get(json_array_get(json_object_get(doc, "interfaces"), i), "mac");
    char *out = json_is_string(mac) ? g_strdup(json_string_value(mac)) : NULL;
    json_decref(doc);
    return out;
}

/* Gives every interface without a MAC in the spec the one it had, the
 * one the VM has, or a new one: assigned once, then kept. */
static void assign_macs(struct vdc_want *w, const struct vdc_spec *spec, const char *host,
                        const char *uuid)
{
    GPtrArray *macs = g_ptr_array_new_with_free_func(g_free);
    vdc_model_read_lock();
    struct vdc_host *h = host ? g_hash_table_lookup(vdc_model.host_by_name, host) : NULL;
    struct vdc_vm *vm = h ? g_hash_table_lookup(h->vms, uuid) : NULL;
    GPtrArray *seen = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < spec->interfaces->len; i++)
        g_ptr_array_add(seen, observed_mac(vm, i));
    vdc_model_read_unlock();
    for (guint i = 0; i < spec->interfaces->len; i++) {
        const struct vdc_spec_iface *f = g_ptr_array_index(spec->interfaces, i);
        const char *kept = i < w->macs->len ? g_ptr_array_index(w->macs, i) : NULL;
        const char *has = g_ptr_array_index(seen, i);
        char *mac = f->mac ? NULL : kept ? g_strdup(kept) : has ? g_strdup(has) : new_mac();
        g_ptr_array_add(macs, mac);
    }
    g_ptr_array_unref(seen);
    g_ptr_array_unref(w->macs);
    w->macs = macs;
}

/* Decides host and uuid for @w's new @spec.  Returns 0 or an errno with
 * *why set. */
static int place(struct vdc_want *w, const struct vdc_spec *spec,
                 const struct vdc_ctl_target *t, char **why)
{
    vdc_model_read_lock();
    const struct vdc_desired *d = vdc_desired_find(w->fname);
    g_autofree char *on = g_strdup(d && d->vm ? d->vm->host->name : (!d ? t->vm_host : NULL));
    g_autofree char *on_uuid = g_strdup(d && d->vm ? d->vm->uuid : (!d ? t->uuid : NULL));
    if (spec->host && !g_hash_table_contains(vdc_model.host_by_name, spec->host)) {
        *why = g_strdup_printf("host: \"%s\" is not a configured host", spec->host);
        vdc_model_read_unlock();
        return EINVAL;
    }
    vdc_model_read_unlock();
    if (on && on_uuid && *on_uuid) {
        if (spec->host && strcmp(spec->host, on) != 0) {
            *why = g_strdup_printf("host: the VM is defined on \"%s\"; vdcfs does not move VMs "
                                   "between hosts (remove it there first)", on);
            return EINVAL;
        }
        g_free(w->host);
        w->host = g_strdup(on);
        g_strlcpy(w->uuid, on_uuid, sizeof w->uuid);
        return 0;
    }
    if (spec->host) {
        g_free(w->host);
        w->host = g_strdup(spec->host);
    } else if (!w->host) {
        vdc_model_read_lock();
        w->host = vdc_desired_pick_host(); /* NULL: placed when a host comes */
        vdc_model_read_unlock();
    }
    if (!w->uuid[0] || !on) {
        /* A VM of that name already on the host is this one: define
         * nothing twice. */
        vdc_model_read_lock();
        struct vdc_host *h = w->host ? g_hash_table_lookup(vdc_model.host_by_name, w->host) : NULL;
        struct vdc_vm *same = h ? g_hash_table_lookup(h->vms_by_fname, w->fname) : NULL;
        if (same)
            g_strlcpy(w->uuid, same->uuid, sizeof w->uuid);
        vdc_model_read_unlock();
    }
    if (!w->uuid[0]) {
        g_autofree char *uuid = g_uuid_string_random();
        g_strlcpy(w->uuid, uuid, sizeof w->uuid);
    }
    return 0;
}

static json_t *meta_of(const struct vdc_want *w)
{
    json_t *macs = json_array();
    for (guint i = 0; i < w->macs->len; i++)
        json_array_append_new(macs, vdc_json_text(g_ptr_array_index(w->macs, i)));
    return json_pack("{s:I, s:s, s:o, s:o, s:b}", "generation", (json_int_t)w->generation,
                     "uuid", w->uuid, "host", vdc_json_text(w->host), "macs", macs, "deleting",
                     w->deleting);
}

/* Stages @w's files (the spec too with @with_spec) in @tx. */
static bool stage(struct vdc_store_txn *tx, const struct vdc_want *w, bool with_spec,
                  GError **err)
{
    json_t *meta = meta_of(w);
    bool spec = with_spec && w->spec_text;
    bool ok = vdc_store_txn_put_vm(tx, w->fname, spec ? g_bytes_get_data(w->spec_text, NULL) : NULL,
                                   spec ? g_bytes_get_size(w->spec_text) : 0, meta, err);
    json_decref(meta);
    return ok;
}

static bool persist(const struct vdc_want *w, bool with_spec, GError **err)
{
    struct vdc_store_txn *tx = vdc_store_txn_begin(store);
    bool ok = stage(tx, w, with_spec, err) && vdc_store_txn_commit(tx, err);
    vdc_store_txn_free(tx);
    return ok;
}

static void kick(const struct vdc_want *w)
{
    if (w->host)
        vdc_runner_kick(w->host, w->fname);
}

static int by_number(const void *a, const void *b)
{
    guint64 x = g_ascii_strtoull(*(char *const *)a, NULL, 10);
    guint64 y = g_ascii_strtoull(*(char *const *)b, NULL, 10);
    return x < y ? -1 : x > y;
}

/* Read lock held.  The disk LUNs of @a in one line: "1 2 3", or "none". */
static char *disk_luns(const struct vdc_array *a)
{
    g_autofree gpointer *keys = g_hash_table_get_keys_as_array(a->luns, NULL);
    guint n = g_hash_table_size(a->luns);
    if (!n)
        return g_strdup("none");
    qsort(keys, n, sizeof *keys, by_number);
    return g_strjoinv(" ", (char **)keys);
}

/* The LUN disks of @spec: NULL when they are fine, or why not.  The array
 * must be configured.  While it answers (its LUN list is the array's
 * own), the LUN must be one of its disk LUNs; when it does not answer,
 * or has not yet, the spec is taken: desired state may come first. */
static char *check_luns(const struct vdc_spec *spec)
{
    char *why = NULL;
    vdc_model_read_lock();
    for (guint i = 0; !why && i < spec->disks->len; i++) {
        const struct vdc_spec_disk *d = g_ptr_array_index(spec->disks, i);
        if (d->kind != VDC_SPEC_DISK_LUN)
            continue;
        const struct vdc_array *a = vdc_array_find(d->array);
        if (!a) {
            why = g_strdup_printf("disks[%u]: array \"%s\" is not a configured array", i,
                                  d->array);
            break;
        }
        if (!a->connected)
            continue;
        g_autofree char *lun = g_strdup_printf("%u", d->lun);
        if (g_hash_table_contains(a->luns, lun))
            continue;
        const struct vdc_lun *snap = g_hash_table_lookup(a->snapshots, lun);
        g_autofree char *have = disk_luns(a);
        if (snap)
            why = g_strdup_printf("disks[%u] (%s): LUN %u of array \"%s\" is a %s, not a disk "
                                  "LUN (its disk LUNs: %s)", i, d->target, d->lun, d->array,
                                  snap->mgmt && snap->mgmt->role == ARRAY_LUN_CLONE ? "clone"
                                                                                   : "snapshot",
                                  have);
        else
            why = g_strdup_printf("disks[%u] (%s): array \"%s\" has no disk LUN %u (its disk "
                                  "LUNs: %s)", i, d->target, d->array, d->lun, have);
    }
    vdc_model_read_unlock();
    return why;
}

/* --- the jobs ------------------------------------------------------------ */

/* Validates @text as the new spec of @t, decides what vdcfs decides for
 * it and stages it in @tx.  Returns 0 with *out set (the entry to put in
 * the model once @tx is committed), 0 with *out NULL when there is
 * nothing to do, or an errno (nothing staged). */
static int commit_stage(struct vdc_store_txn *tx, const struct vdc_ctl_target *t, GBytes *text,
                        struct vdc_want **out)
{
    *out = NULL;
    g_autoptr(vdc_want) w = vdc_desired_get(t->fname);
    if (!store)
        return refuse_spec(w, t, EROFS, "no state_dir is configured: specs cannot be kept");
    if (w->deleting)
        return EBUSY;
    GError *e = NULL;
    g_autoptr(vdc_spec) spec =
        vdc_spec_parse(g_bytes_get_data(text, NULL), g_bytes_get_size(text), &e);
    if (!spec) {
        int rc = refuse_spec(w, t, EINVAL, e->message);
        g_error_free(e);
        return rc;
    }
    g_autofree char *lun_why = check_luns(spec);
    if (lun_why)
        return refuse_spec(w, t, EINVAL, lun_why);
    if (w->spec_text && g_bytes_equal(w->spec_text, text))
        return 0; /* the same spec again (rsync, a GitOps loop): nothing to do */
    g_autofree char *why = NULL;
    int rc = place(w, spec, t, &why);
    if (rc)
        return refuse_spec(w, t, rc, why);
    assign_macs(w, spec, w->host, w->uuid);
    if (w->spec_text)
        g_bytes_unref(w->spec_text);
    w->spec_text = g_bytes_ref(text);
    w->generation++;
    w->in_store = true;
    if (!stage(tx, w, true, &e))
        return store_error(w, e);
    *out = g_steal_pointer(&w);
    return 0;
}

/* A staged spec is on disk: it is the desired state now. */
static void commit_accepted(struct vdc_want *w)
{
    vdc_desired_put(w);
    event(w, "spec-accepted", "generation", json_integer((json_int_t)w->generation), "placement",
          vdc_json_text(w->host));
    kick(w);
}

/* Validates @text as the new spec of @t and makes it so, alone (not in a
 * group).  Returns 0 or an errno. */
static int commit(const struct vdc_ctl_target *t, GBytes *text)
{
    struct vdc_store_txn *tx = store ? vdc_store_txn_begin(store) : NULL;
    g_autoptr(vdc_want) w = NULL;
    GError *e = NULL;
    int rc = commit_stage(tx, t, text, &w);
    if (rc == 0 && w) {
        if (vdc_store_txn_commit(tx, &e))
            commit_accepted(w);
        else
            rc = store_error(w, e);
    }
    vdc_store_txn_free(tx);
    return rc;
}

/* Replies to a spec's close (or rename) with @rc. */
static void commit_reply(struct job *j, int rc)
{
    if (j->scratch_ino && rc == 0) {
        vdc_model_read_lock();
        const struct vdc_desired *d = vdc_desired_find(j->t.fname);
        uint64_t spec_ino = d ? VDC_INO(d->o.id, VDC_VM_SPEC) : 0;
        vdc_model_read_unlock();
        vdc_scratch_renamed_over(j->scratch_ino, spec_ino);
    }
    /* The kernel's pages hold what was written; what counts is now in
     * the model (the new spec, or the old one after a refusal). */
    vdc_inval_entry(j->t.dir_ino, "spec.json");
    vdc_inval_inode(VDC_INO(VDC_INO_ID(j->t.dir_ino), VDC_VM_SPEC));
    fuse_reply_err(j->req, rc);
}

static void add_to_group(struct job *j, struct vdc_want *w)
{
    struct staged *g = g_new(struct staged, 1);
    g->j = j;
    g->w = w;
    g_ptr_array_add(staged, g);
    g_hash_table_add(staged_fnames, w->fname);
}

/* Returns true when @j waits in the group (it is replied to and freed
 * when the group is committed). */
static bool do_commit(struct job *j)
{
    struct vdc_want *w = NULL;
    int rc = commit_stage(txn, &j->t, j->text, &w);
    if (rc == 0 && w) {
        add_to_group(j, w);
        return true;
    }
    commit_reply(j, rc);
    return false;
}

/* Returns true when @j waits in the group. */
static bool do_mkdir(struct job *j)
{
    g_autoptr(vdc_want) w = vdc_desired_get(j->t.fname);
    GError *e = NULL;
    int rc = !store ? EROFS : w->deleting ? EBUSY : w->exists ? EEXIST : 0;
    if (rc == 0 && !vdc_store_txn_put_dir(txn, w->fname, &e))
        rc = store_error(w, e);
    if (rc) {
        fuse_reply_err(j->req, rc);
        return false;
    }
    w->in_store = true;
    add_to_group(j, g_steal_pointer(&w));
    return true;
}

/* A staged directory is on disk: it is there now. */
static void mkdir_done(struct job *j, struct vdc_want *w)
{
    vdc_desired_put(w);
    event(w, "created", "message", json_string("an empty VM directory: write spec.json"), NULL,
          NULL);
    vdc_model_read_lock();
    const struct vdc_desired *d = vdc_desired_find(w->fname);
    uint64_t ino = d ? VDC_INO(d->o.id, VDC_VM_DIR) : 0;
    vdc_model_read_unlock();
    vdc_fuse_reply_entry(j->req, ino);
}

/* Forgets entry @fname everywhere. */
static void forget_entry(const struct vdc_want *w)
{
    GError *e = NULL;
    if (w->in_store && !vdc_store_remove(store, w->fname, &e))
        store_error(w, e);
    vdc_model_read_lock();
    const struct vdc_desired *d = vdc_desired_find(w->fname);
    uint64_t dir = d ? d->o.id : 0;
    vdc_model_read_unlock();
    if (dir)
        vdc_scratch_drop_dir(dir);
    vdc_desired_remove(w->fname);
}

static bool state_is_on(enum vdc_vm_state s)
{
    return s != VDC_VM_SHUTOFF && s != VDC_VM_CRASHED;
}

static int rmdir_entry(const struct vdc_ctl_target *t)
{
    g_autoptr(vdc_want) w = vdc_desired_get(t->fname);
    if (w->deleting)
        return ENOENT;
    vdc_model_read_lock();
    const struct vdc_desired *d = vdc_desired_find(t->fname);
    uint64_t dir = d ? d->o.id : t->dir_ino >> 4;
    bool busy_files = false;
    GArray *probe = g_array_new(FALSE, FALSE, sizeof(struct vdc_dirent));
    vdc_scratch_list(dir, probe);
    busy_files = probe->len > 0;
    vdc_dirents_free(probe);
    struct vdc_host *h = NULL;
    const struct vdc_vm *vm = d ? d->vm : NULL;
    if (!d && t->vm_host) {
        h = g_hash_table_lookup(vdc_model.host_by_name, t->vm_host);
        vm = h ? g_hash_table_lookup(h->vms, t->uuid) : NULL;
    }
    bool exists = vm != NULL;
    bool on = vm && state_is_on(vm->state);
    const char *host_now = d ? d->host : t->vm_host;
    struct vdc_host *placed = host_now ? g_hash_table_lookup(vdc_model.host_by_name, host_now)
                                       : NULL;
    /* Not seen, but its host is away: it may well be defined there. */
    bool maybe = !exists && placed && !placed->connected && w->generation > 0;
    vdc_model_read_unlock();
    if (busy_files)
        return ENOTEMPTY;
    /* A VM without a spec goes only with prune: that is what rsync
     * --delete (which removes spec.json first) does to the directories
     * of VMs that are not in the repository.  ENOTEMPTY: rsync reports
     * the directory as kept, not as an error. */
    if ((exists || maybe) && !w->spec_text && !prune) {
        vdc_events_emitf("vm", w->name, host_now, "warning", "message",
                         json_string("not removed: the VM has no spec and prune is off (write "
                                     "its spec.json first, or set \"prune\": true)"),
                         NULL);
        return ENOTEMPTY;
    }
    if (on && !prune) {
        vdc_events_emitf("vm", w->name, host_now, "warning", "message",
                         json_string("not removed: the VM is running (shut it down first, or "
                                     "set \"prune\": true in the config)"),
                         NULL);
        return EBUSY;
    }
    if (!store)
        return EROFS;
    if (!exists && !maybe) {
        forget_entry(w);
        event(w, "removed", NULL, NULL, NULL, NULL);
        return 0;
    }
    /* Defined on a host: the reconciler undefines it, then forgets it. */
    if (!w->exists) {
        g_free(w->host);
        w->host = g_strdup(t->vm_host);
        g_strlcpy(w->uuid, t->uuid, sizeof w->uuid);
    }
    w->deleting = true;
    w->in_store = true;
    GError *e = NULL;
    if (!persist(w, false, &e))
        return store_error(w, e);
    vdc_desired_put(w);
    event(w, "removing", "uuid", json_string(w->uuid), NULL, NULL);
    kick(w);
    return 0;
}

static int unlink_spec(const struct vdc_ctl_target *t)
{
    g_autoptr(vdc_want) w = vdc_desired_get(t->fname);
    if (!w->exists || !w->spec_text)
        return 0; /* a VM's own spec.json describes it: nothing to stop */
    if (!store)
        return EROFS;
    vdc_model_read_lock();
    const struct vdc_desired *d = vdc_desired_find(t->fname);
    bool on_host = d && d->vm;
    vdc_model_read_unlock();
    GError *e = NULL;
    if (on_host) {
        forget_entry(w);
        event(w, "unmanaged", "message", json_string("spec removed: the VM stays as it is"), NULL,
              NULL);
        return 0;
    }
    if (!vdc_store_remove_spec(store, w->fname, &e))
        return store_error(w, e);
    if (!vdc_store_put_dir(store, w->fname, &e))
        return store_error(w, e);
    g_clear_pointer(&w->spec_text, g_bytes_unref);
    vdc_desired_put(w);
    event(w, "unmanaged", "message", json_string("spec removed"), NULL, NULL);
    return 0;
}

/* The spec state a power action leaves the VM in; 0 for none. */
static const char *state_after(enum hv_power_action a)
{
    switch (a) {
    case HV_POWER_START:
    case HV_POWER_RESUME:
        return "running";
    case HV_POWER_SHUTDOWN:
    case HV_POWER_DESTROY:
        return "shutoff";
    case HV_POWER_SUSPEND:
        return "paused";
    default:
        return NULL;
    }
}

/* @spec_text with "state" set to @state, in the user's key order. */
static GBytes *spec_with_state(GBytes *spec_text, const char *state)
{
    json_t *doc = json_loadb(g_bytes_get_data(spec_text, NULL), g_bytes_get_size(spec_text),
                             JSON_PRESERVE_ORDER, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return NULL;
    }
    json_object_set_new(doc, "state", json_string(state));
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    GString *s = g_string_new(text);
    free(text);
    g_string_append_c(s, '\n');
    return g_string_free_to_bytes(s);
}

static int power(const struct vdc_ctl_target *t, enum hv_power_action a)
{
    g_autoptr(vdc_want) w = vdc_desired_get(t->fname);
    if (w->exists && w->spec_text) {
        const char *state = state_after(a);
        if (state && w->spec && (w->spec->state != (state[0] == 'r'   ? VDC_VM_RUNNING
                                                    : state[0] == 'p' ? VDC_VM_PAUSED
                                                                      : VDC_VM_SHUTOFF))) {
            g_autoptr(GBytes) next = spec_with_state(w->spec_text, state);
            int rc = next ? commit(t, next) : EINVAL;
            if (rc)
                return rc;
        }
        g_autoptr(vdc_want) now = vdc_desired_get(t->fname);
        event(now, "power", "action", json_string(hv_power_word(a)), NULL, NULL);
        vdc_model_read_lock();
        const struct vdc_desired *d = vdc_desired_find(t->fname);
        bool defined = d && d->vm;
        vdc_model_read_unlock();
        if (defined)
            vdc_runner_power(now->host, now->uuid, a);
        kick(now);
        return 0;
    }
    if (!t->vm_host)
        return ENOENT;
    vdc_model_read_lock();
    struct vdc_host *h = g_hash_table_lookup(vdc_model.host_by_name, t->vm_host);
    bool up = h && h->connected;
    vdc_model_read_unlock();
    if (!up)
        return EHOSTDOWN;
    vdc_events_emitf("vm", w->name, t->vm_host, "power", "action", json_string(hv_power_word(a)),
                     NULL);
    vdc_runner_power(t->vm_host, t->uuid, a);
    return 0;
}

/* Entries waiting for a host get one, now that a host is there. */
static void place_pending(void)
{
    g_autoptr(GPtrArray) waiting = vdc_desired_list(NULL);
    for (guint i = 0; i < waiting->len; i++) {
        g_autoptr(vdc_want) w = vdc_desired_get(g_ptr_array_index(waiting, i));
        if (!w->spec || w->host)
            continue;
        vdc_model_read_lock();
        w->host = vdc_desired_pick_host();
        vdc_model_read_unlock();
        if (!w->host)
            return;
        GError *e = NULL;
        if (!persist(w, false, &e)) {
            store_error(w, e);
            continue;
        }
        vdc_desired_put(w);
        event(w, "placed", "placement", json_string(w->host), NULL, NULL);
        kick(w);
    }
}

static void job_free(struct job *j)
{
    vdc_ctl_target_clear(&j->t);
    if (j->text)
        g_bytes_unref(j->text);
    g_free(j);
}

/* Commits the group: one sync for all of it, then each change reaches
 * the model and its writer gets the answer, in arrival order. */
static void flush_group(void)
{
    if (!txn || (staged->len == 0 && vdc_store_txn_empty(txn)))
        return;
    GError *e = NULL;
    bool ok = vdc_store_txn_commit(txn, &e);
    for (guint i = 0; i < staged->len; i++) {
        struct staged *g = g_ptr_array_index(staged, i);
        int rc = ok ? 0 : store_error(g->w, g_error_copy(e));
        if (g->j->kind == JOB_COMMIT) {
            if (rc == 0)
                commit_accepted(g->w);
            commit_reply(g->j, rc);
        } else if (rc == 0) {
            mkdir_done(g->j, g->w);
        } else {
            fuse_reply_err(g->j->req, rc);
        }
        vdc_want_free(g->w);
        job_free(g->j);
        g_free(g);
    }
    if (e)
        g_error_free(e);
    g_ptr_array_set_size(staged, 0);
    g_hash_table_remove_all(staged_fnames);
}

/* Handles @j.  Returns true when it waits in the group. */
static bool run_job(struct job *j)
{
    /* Only new specs and new directories join a group, each entry once;
     * everything else sees the group committed first. */
    bool groups = j->kind == JOB_COMMIT || j->kind == JOB_MKDIR;
    if (!groups || g_hash_table_contains(staged_fnames, j->t.fname) || staged->len >= MAX_GROUP)
        flush_group();
    switch (j->kind) {
    case JOB_COMMIT:
        if (store)
            return do_commit(j);
        commit_reply(j, commit(&j->t, j->text));
        break;
    case JOB_MKDIR:
        return do_mkdir(j);
    case JOB_RMDIR:
        fuse_reply_err(j->req, rmdir_entry(&j->t));
        break;
    case JOB_UNLINK:
        fuse_reply_err(j->req, unlink_spec(&j->t));
        break;
    case JOB_POWER: {
        int rc = power(&j->t, j->action);
        if (rc)
            fuse_reply_err(j->req, rc);
        else
            fuse_reply_write(j->req, j->size);
        break;
    }
    case JOB_PLACE:
        place_pending();
        break;
    case JOB_DELETED: {
        g_autoptr(vdc_want) w = vdc_desired_get(j->t.fname);
        if (w->exists && w->deleting)
            forget_entry(w);
        break;
    }
    case JOB_STOP:
        break;
    }
    return false;
}

/* The controller thread: takes requests in arrival order; while more are
 * queued it keeps gathering the group, and commits it when the queue
 * runs dry (so a lone writer waits for no one). */
static gpointer controller_main(gpointer unused)
{
    (void)unused;
    for (;;) {
        bool gathering = staged->len > 0 || (txn && !vdc_store_txn_empty(txn));
        struct job *j = gathering ? g_async_queue_try_pop(queue) : g_async_queue_pop(queue);
        if (!j) {
            flush_group();
            continue;
        }
        if (j->kind == JOB_STOP) {
            flush_group();
            job_free(j);
            return NULL;
        }
        if (!run_job(j))
            job_free(j);
    }
}

static void push(struct job *j)
{
    g_async_queue_push(queue, j);
}

static void submit(enum job_kind kind, fuse_req_t req, struct vdc_ctl_target *t)
{
    struct job *j = g_new0(struct job, 1);
    j->kind = kind;
    j->req = req;
    if (t) {
        j->t = *t;
        memset(t, 0, sizeof *t); /* taken */
    }
    push(j);
}

static void on_host_connected(void)
{
    submit(JOB_PLACE, NULL, NULL);
}

static void on_deleted(const char *fname)
{
    struct vdc_ctl_target t = {.fname = g_strdup(fname)};
    submit(JOB_DELETED, NULL, &t);
}

void vdc_ctl_start(struct vdc_store *st, bool prune_running)
{
    store = st;
    prune = prune_running;
    vdc_runner_set_prune(prune_running);
    txn = store ? vdc_store_txn_begin(store) : NULL;
    staged = g_ptr_array_new();
    staged_fnames = g_hash_table_new(g_str_hash, g_str_equal);
    /* One thread: requests are handled in the order they came. */
    queue = g_async_queue_new();
    thread = g_thread_new("vdc-ctl", controller_main, NULL);
    vdc_runner_connected_hook = on_host_connected;
    vdc_reconcile_deleted_hook = on_deleted;
}

void vdc_ctl_stop(void)
{
    if (!thread)
        return;
    vdc_runner_connected_hook = NULL;
    vdc_reconcile_deleted_hook = NULL;
    submit(JOB_STOP, NULL, NULL);
    g_thread_join(thread);
    thread = NULL;
    g_async_queue_unref(queue);
    queue = NULL;
    vdc_store_txn_free(txn);
    txn = NULL;
    g_ptr_array_unref(staged);
    g_hash_table_destroy(staged_fnames);
}

void vdc_ctl_commit_spec(fuse_req_t req, struct vdc_ctl_target *t, GBytes *text,
                         uint64_t scratch_ino)
{
    struct job *j = g_new0(struct job, 1);
    j->kind = JOB_COMMIT;
    j->req = req;
    j->t = *t;
    memset(t, 0, sizeof *t);
    j->text = text;
    j->scratch_ino = scratch_ino;
    push(j);
}

void vdc_ctl_mkdir(fuse_req_t req, struct vdc_ctl_target *t)
{
    submit(JOB_MKDIR, req, t);
}

void vdc_ctl_rmdir(fuse_req_t req, struct vdc_ctl_target *t)
{
    submit(JOB_RMDIR, req, t);
}

void vdc_ctl_unlink_spec(fuse_req_t req, struct vdc_ctl_target *t)
{
    submit(JOB_UNLINK, req, t);
}

void vdc_ctl_power(fuse_req_t req, struct vdc_ctl_target *t, enum hv_power_action a,
                   size_t size)
{
    struct job *j = g_new0(struct job, 1);
    j->kind = JOB_POWER;
    j->req = req;
    j->t = *t;
    memset(t, 0, sizeof *t);
    j->action = a;
    j->size = size;
    push(j);
}

/* --- start-up ------------------------------------------------------------ */

static void load_one(const struct vdc_stored_vm *v)
{
    g_autoptr(vdc_want) w = vdc_desired_get(v->fname);
    w->in_store = true;
    if (v->spec)
        w->spec_text = g_bytes_ref(v->spec);
    json_t *m = v->meta;
    w->generation = (uint64_t)json_integer_value(json_object_get(m, "generation"));
    const char *uuid = json_string_value(json_object_get(m, "uuid"));
    if (uuid && g_uuid_string_is_valid(uuid))
        g_strlcpy(w->uuid, uuid, sizeof w->uuid);
    const char *host = json_string_value(json_object_get(m, "host"));
    g_free(w->host);
    w->host = g_strdup(host);
    size_t i;
    json_t *mac;
    json_array_foreach(json_object_get(m, "macs"), i, mac)
        g_ptr_array_add(w->macs, g_strdup(json_string_value(mac)));
    w->deleting = json_is_true(json_object_get(m, "deleting"));
    if (w->spec_text && w->generation == 0)
        w->generation = 1; /* a spec put there by hand */
    vdc_desired_put(w);
    GError *e = NULL;
    if (w->spec_text) {
        g_autoptr(vdc_spec) spec = vdc_spec_parse(g_bytes_get_data(w->spec_text, NULL),
                                                  g_bytes_get_size(w->spec_text), &e);
        if (!spec) {
            g_autofree char *msg = g_strdup_printf("in the state directory: %s", e->message);
            vdc_desired_refuse(w->fname, NULL, NULL, msg);
            g_error_free(e);
        }
    }
}

bool vdc_ctl_load(struct vdc_store *st, GError **err)
{
    GPtrArray *all = vdc_store_load(st, err);
    if (!all)
        return false;
    for (guint i = 0; i < all->len; i++)
        load_one(g_ptr_array_index(all, i));
    g_ptr_array_unref(all);
    return true;
}
