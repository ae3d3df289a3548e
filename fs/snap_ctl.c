/* snap_ctl.c — taking, deleting and reverting VM snapshots, see snap_ctl.h.
 *
 * Every step that touches a host or an array is a call (call.h) queued
 * on that host's or array's runner; the worker waits for it with the
 * request's deadline.  Steps that change something have an undo that the
 * runner applies by itself when the worker gave up waiting, so a late
 * success never leaves a half-made snapshot or a frozen VM behind. */
#include "snap_ctl.h"

#include <errno.h>
#include <string.h>

#include "array.h"
#include "array_model.h"
#include "array_runner.h"
#include "call.h"
#include "desired.h"
#include "events.h"
#include "fuse_priv.h"
#include "host_runner.h"
#include "hv.h"
#include "render.h"
#include "snap_store.h"
#include "snapshot_model.h"

/* How long cleanup steps may still take once the deadline has passed
 * (thaw, resume, deleting what was made): they are not abandoned, only
 * no longer waited for. */
#define GRACE_US (5 * G_USEC_PER_SEC)
/* A VM that could not be thawed or resumed is tried again this often,
 * this many times, after the request was answered. */
#define RESUME_RETRY_US (2 * G_USEC_PER_SEC)
#define RESUME_RETRIES 150

static char *state_dir;
static unsigned timeout_s = VDC_DEFAULT_SNAPSHOT_TIMEOUT_SECONDS;
static GThreadPool *workers;
static gint stopping; /* retries give up: the daemon is stopping */

enum job_kind { JOB_MKDIR, JOB_RMDIR, JOB_REVERT, JOB_RECOVER, JOB_LUN_MKDIR, JOB_LUN_RMDIR };

struct job {
    enum job_kind kind;
    fuse_req_t req;
    char *uuid, *host, *vm_name, *name;
    uint64_t dir_ino;
    size_t size;
    json_t *record; /* JOB_RECOVER: the intent record */
    gint64 deadline;
    unsigned array, lun; /* JOB_LUN_*: name is the snapshot id */
};

static void job_free(struct job *j)
{
    g_free(j->uuid);
    g_free(j->host);
    g_free(j->vm_name);
    g_free(j->name);
    json_decref(j->record);
    g_free(j);
}

/* --- waiting for calls -------------------------------------------------- */

/* Waits for @c, queued (or not: @queued false) on the runner of @where.
 * Returns its rc; -1 with *err when it failed, was not queued or the
 * deadline passed (then it is abandoned: the runner undoes it). */
static int wait_call(struct vdc_call *c, bool queued, const char *where, gint64 deadline,
                     char **err)
{
    if (!queued) {
        *err = g_strdup_printf("%s has no runner", where);
        return -1;
    }
    if (!vdc_call_wait(c, deadline)) {
        *err = g_strdup_printf("%s did not answer within the deadline (%u s)", where, timeout_s);
        return -1;
    }
    const char *e = NULL;
    int rc = vdc_call_result(c, &e);
    if (rc < 0)
        *err = g_strdup(e ? e : "failed");
    return rc;
}

static int host_call(const char *host, vdc_call_fn run, vdc_call_fn undo, void *data,
                     GDestroyNotify free_data, gint64 deadline, char **err)
{
    g_autoptr(vdc_call) c = vdc_call_new(run, undo, data, free_data);
    g_autofree char *where = g_strdup_printf("host %s", host);
    return wait_call(c, vdc_runner_call(host, c), where, deadline, err);
}

static int array_call(unsigned array, const char *name, vdc_call_fn run, vdc_call_fn undo,
                      void *data, GDestroyNotify free_data, gint64 deadline, char **err)
{
    g_autoptr(vdc_call) c = vdc_call_new(run, undo, data, free_data);
    g_autofree char *where = g_strdup_printf("array %s", name);
    return wait_call(c, vdc_array_runner_call(array, c), where, deadline, err);
}

static gint64 grace(gint64 deadline)
{
    return MAX(deadline, g_get_monotonic_time() + GRACE_US);
}

static int down(char **err, const char *what)
{
    *err = g_strdup_printf("the %s is not connected", what);
    return -1;
}

/* --- host steps (run on the host's runner) ------------------------------ */

struct vm_call {
    char uuid[37];
    enum hv_power_action action; /* power */
    char *text;                  /* define: the XML; libvirt snapshots: the name */
    /* look: what it found */
    struct hv_vm *vm;
    char *config_xml;
    /* quiesce: what it did */
    enum { Q_NONE, Q_FROZEN, Q_SUSPENDED } did;
    const char *consistency;
};

static struct vm_call *vm_call_new(const char *uuid)
{
    struct vm_call *v = g_new0(struct vm_call, 1);
    g_strlcpy(v->uuid, uuid, sizeof v->uuid);
    return v;
}

static void vm_call_free(struct vm_call *v)
{
    hv_vm_free(v->vm);
    g_free(v->config_xml);
    g_free(v->text);
    g_free(v);
}

/* The VM as it is now, and its persistent definition. */
static int run_look(const void *ops_, void *conn, void *data, char **err)
{
    const struct hv_ops *ops = ops_;
    struct vm_call *v = data;
    if (!conn)
        return down(err, "host");
    int rc = ops->get_vm(conn, v->uuid, NULL, &v->vm, err);
    if (rc == 1)
        *err = g_strdup("the VM no longer exists");
    if (rc != 0)
        return -1;
    struct hv_vm *config = NULL;
    g_autofree char *ignored = NULL;
    if (v->vm->persistent && ops->get_vm_config(conn, v->uuid, &config, &ignored) == 0) {
        v->config_xml = g_strdup(config->domain_xml);
        hv_vm_free(config);
    }
    return 0;
}

/* Brings a running VM to a consistent point: frozen by its guest agent,
 * else suspended.  Never fails: at worst the snapshot is crash-consistent. */
static int run_quiesce(const void *ops_, void *conn, void *data, char **err)
{
    const struct hv_ops *ops = ops_;
    struct vm_call *v = data;
    if (!conn)
        return down(err, "host");
    v->did = Q_NONE;
    v->consistency = "crash";
    switch (v->vm->state) {
    case VDC_VM_RUNNING:
    case VDC_VM_BLOCKED: {
        g_autofree char *e1 = NULL, *e2 = NULL;
        if (ops->fs_freeze && ops->fs_freeze(conn, v->uuid, &e1) == 0) {
            v->did = Q_FROZEN;
            v->consistency = "frozen";
        } else if (ops->power(conn, v->uuid, HV_POWER_SUSPEND, &e2) == 0) {
            v->did = Q_SUSPENDED;
            v->consistency = "suspended";
        }
        return 0;
    }
    case VDC_VM_PAUSED:
    case VDC_VM_SUSPENDED:
        v->consistency = "suspended"; /* already still; it stays as it was */
        return 0;
    default:
        return 0;
    }
}

static int run_unquiesce(const void *ops_, void *conn, void *data, char **err)
{
    const struct hv_ops *ops = ops_;
    struct vm_call *v = data;
    if (!conn)
        return down(err, "host");
    if (v->did == Q_FROZEN)
        return ops->fs_thaw(conn, v->uuid, err);
    if (v->did == Q_SUSPENDED)
        return ops->power(conn, v->uuid, HV_POWER_RESUME, err);
    return 0;
}

static int run_power(const void *ops_, void *conn, void *data, char **err)
{
    const struct hv_ops *ops = ops_;
    struct vm_call *v = data;
    if (!conn)
        return down(err, "host");
    return ops->power(conn, v->uuid, v->action, err);
}

static int run_define(const void *ops_, void *conn, void *data, char **err)
{
    const struct hv_ops *ops = ops_;
    struct vm_call *v = data;
    if (!conn)
        return down(err, "host");
    return ops->define_vm(conn, v->text, err);
}

static int run_libvirt_snapshot(const void *ops_, void *conn, void *data, char **err)
{
    const struct hv_ops *ops = ops_;
    struct vm_call *v = data;
    if (!conn)
        return down(err, "host");
    g_autofree char *xml = NULL;
    return ops->snapshot_create(conn, v->uuid, v->text, false, &xml, err);
}

static int run_libvirt_delete(const void *ops_, void *conn, void *data, char **err)
{
    const struct hv_ops *ops = ops_;
    struct vm_call *v = data;
    if (!conn)
        return down(err, "host");
    return ops->snapshot_delete(conn, v->uuid, v->text, err) < 0 ? -1 : 0;
}

static int run_libvirt_revert(const void *ops_, void *conn, void *data, char **err)
{
    const struct hv_ops *ops = ops_;
    struct vm_call *v = data;
    if (!conn)
        return down(err, "host");
    return ops->snapshot_revert(conn, v->uuid, v->text, err);
}

/* --- array steps (run on the array's runner) ---------------------------- */

/* The LUNs of one array that a request is about. */
struct lun_call {
    GArray *luns;  /* of unsigned: the disk LUNs */
    GPtrArray *ids; /* snapshot ids, one per LUN (g_malloc'd) */
    GPtrArray *made; /* snapshot: struct array_lun* made so far */
};

static struct lun_call *lun_call_new(void)
{
    struct lun_call *l = g_new0(struct lun_call, 1);
    l->luns = g_array_new(FALSE, FALSE, sizeof(unsigned));
    l->ids = g_ptr_array_new_with_free_func(g_free);
    l->made = g_ptr_array_new_with_free_func((GDestroyNotify)array_lun_free);
    return l;
}

static void lun_call_free(struct lun_call *l)
{
    g_array_free(l->luns, TRUE);
    g_ptr_array_unref(l->ids);
    g_ptr_array_unref(l->made);
    g_free(l);
}

static void delete_made(const struct array_ops *ops, void *conn, struct lun_call *l)
{
    for (guint i = l->made->len; i-- > 0;) {
        const struct array_lun *m = g_ptr_array_index(l->made, i);
        g_autofree char *e = NULL;
        if (ops->delete_snapshot(conn, m->lun, &e) < 0)
            g_warning("deleting snapshot LUN %u: %s", m->lun, e ? e : "failed");
    }
    g_ptr_array_set_size(l->made, 0);
}

/* Snapshots every LUN; all of them or none. */
static int run_lun_snapshots(const void *ops_, void *conn, void *data, char **err)
{
    const struct array_ops *ops = ops_;
    struct lun_call *l = data;
    if (!conn)
        return down(err, "array");
    for (guint i = 0; i < l->luns->len; i++) {
        struct array_lun *out = NULL;
        unsigned lun = g_array_index(l->luns, unsigned, i);
        if (ops->snapshot(conn, lun, g_ptr_array_index(l->ids, i), &out, err) < 0) {
            g_autofree char *why = *err;
            *err = g_strdup_printf("LUN %u: %s", lun, why ? why : "snapshot failed");
            delete_made(ops, conn, l);
            return -1;
        }
        g_ptr_array_add(l->made, out);
    }
    return 0;
}

static int undo_lun_snapshots(const void *ops_, void *conn, void *data, char **err)
{
    (void)err;
    if (conn)
        delete_made(ops_, conn, data);
    return 0;
}

/* The LUN that holds snapshot @id in @all, or NULL. */
static const struct array_lun *by_id(GPtrArray *all, const char *id)
{
    for (guint i = 0; i < all->len; i++) {
        const struct array_lun *m = g_ptr_array_index(all, i);
        if (m->role == ARRAY_LUN_SNAPSHOT && g_strcmp0(m->id, id) == 0)
            return m;
    }
    return NULL;
}

/* Deletes the snapshots of the given ids that the array has. */
static int run_delete_ids(const void *ops_, void *conn, void *data, char **err)
{
    const struct array_ops *ops = ops_;
    struct lun_call *l = data;
    if (!conn)
        return down(err, "array");
    g_autoptr(GPtrArray) all = NULL;
    if (ops->list_luns(conn, &all, err) < 0)
        return -1;
    for (guint i = 0; i < l->ids->len; i++) {
        const struct array_lun *m = by_id(all, g_ptr_array_index(l->ids, i));
        if (m && ops->delete_snapshot(conn, m->lun, err) < 0)
            return -1;
    }
    return 0;
}

/* Returns every LUN to its snapshot; refuses before changing anything
 * when one of the snapshots is gone. */
static int run_lun_reverts(const void *ops_, void *conn, void *data, char **err)
{
    const struct array_ops *ops = ops_;
    struct lun_call *l = data;
    if (!conn)
        return down(err, "array");
    g_autoptr(GPtrArray) all = NULL;
    if (ops->list_luns(conn, &all, err) < 0)
        return -1;
    for (guint i = 0; i < l->ids->len; i++) {
        if (!by_id(all, g_ptr_array_index(l->ids, i))) {
            *err = g_strdup_printf("the snapshot of LUN %u is no longer on the array",
                                   g_array_index(l->luns, unsigned, i));
            return -1;
        }
    }
    for (guint i = 0; i < l->ids->len; i++) {
        unsigned lun = g_array_index(l->luns, unsigned, i);
        const struct array_lun *m = by_id(all, g_ptr_array_index(l->ids, i));
        if (ops->revert(conn, lun, m->lun, err) < 0) {
            g_autofree char *why = *err;
            *err = g_strdup_printf("LUN %u: %s", lun, why ? why : "revert failed");
            return -1;
        }
    }
    return 0;
}

/* --- which disks are where ------------------------------------------------ */

struct array_disks {
    unsigned array;
    char *name;
    bool connected;
    char *error;
    struct lun_call *call; /* luns and ids; handed to the call */
    GPtrArray *targets;    /* per LUN: the disk's target (g_malloc'd) */
};

static void array_disks_free(struct array_disks *a)
{
    g_free(a->name);
    g_free(a->error);
    if (a->call)
        lun_call_free(a->call);
    g_ptr_array_unref(a->targets);
    g_free(a);
}

/* Read lock held.  The entry of array @a in @out, added when missing. */
static struct array_disks *array_disks_for(GPtrArray *out, const struct vdc_array *a)
{
    for (guint k = 0; k < out->len; k++) {
        struct array_disks *ad = g_ptr_array_index(out, k);
        if (ad->array == a->index)
            return ad;
    }
    struct array_disks *ad = g_new0(struct array_disks, 1);
    ad->array = a->index;
    ad->name = g_strdup(a->name);
    ad->connected = a->connected;
    ad->error = g_strdup(a->error);
    ad->call = lun_call_new();
    ad->targets = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(out, ad);
    return ad;
}

static char *new_snapshot_id(const char *uuid)
{
    return g_strdup_printf("vdcfs-%.8s-%08x%04x", uuid, g_random_int(),
                           g_random_int() & 0xffffu);
}

/* Sorts @vm's disks by array.  Returns the arrays (of struct
 * array_disks*), or NULL with *err when some disks are on arrays and
 * some are not.  No disk on an array: an empty array (libvirt's own
 * snapshots then). */
static GPtrArray *disks_by_array(const struct hv_vm *vm, char **err)
{
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)array_disks_free);
    g_autoptr(GString) elsewhere = g_string_new(NULL);
    vdc_model_read_lock();
    for (guint i = 0; i < vm->disks->len; i++) {
        const struct hv_disk *d = g_ptr_array_index(vm->disks, i);
        if (g_strcmp0(d->device, "disk") != 0 || d->source == HV_DISK_NONE)
            continue; /* CD-ROMs and empty drives are not the VM's data */
        const char *slash = d->name ? strrchr(d->name, '/') : NULL;
        struct vdc_array *a = NULL;
        if (d->source == HV_DISK_NETWORK && g_strcmp0(d->protocol, "iscsi") == 0 && slash) {
            g_autofree char *iqn = g_strndup(d->name, (gsize)(slash - d->name));
            for (guint k = 0; !a && k < vdc_model.arrays->len; k++) {
                struct vdc_array *c = g_ptr_array_index(vdc_model.arrays, k);
                if (g_strcmp0(c->target, iqn) == 0)
                    a = c;
            }
        }
        if (!a) {
            g_string_append_printf(elsewhere, "%s%s", elsewhere->len ? ", " : "",
                                   d->target ? d->target : "?");
            continue;
        }
        struct array_disks *ad = array_disks_for(out, a);
        unsigned lun = (unsigned)g_ascii_strtoull(slash + 1, NULL, 10);
        g_array_append_val(ad->call->luns, lun);
        g_ptr_array_add(ad->call->ids, new_snapshot_id(vm->uuid));
        g_ptr_array_add(ad->targets, g_strdup(d->target));
    }
    vdc_model_read_unlock();
    if (out->len && elsewhere->len) {
        *err = g_strdup_printf("disks %s are not on a configured array while others are: "
                               "one snapshot cannot be taken by both the array and libvirt",
                               elsewhere->str);
        g_ptr_array_unref(out);
        return NULL;
    }
    return out;
}

/* --- records and outcomes ------------------------------------------------- */

static char *now_text(void)
{
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    return g_date_time_format(now, "%Y-%m-%dT%H:%M:%S.%fZ");
}

static void fail_event(const struct job *j, const char *op, const char *event, const char *msg)
{
    vdc_model_snapshot_outcome(j->uuid, op, j->name, msg);
    vdc_events_emitf("vm", j->vm_name, j->host, event, "snapshot", vdc_json_text(j->name),
                     "error", vdc_json_text(msg), NULL);
}

/* Thaws or resumes the VM; if its host cannot now, tries again later
 * (the request has been answered by then). */
static void unquiesce(const struct job *j, struct vm_call *q, gint64 deadline)
{
    if (q->did == Q_NONE)
        return;
    for (int attempt = 0;; attempt++) {
        struct vm_call *v = vm_call_new(j->uuid);
        v->did = q->did;
        g_autofree char *err = NULL;
        if (host_call(j->host, run_unquiesce, NULL, v, (GDestroyNotify)vm_call_free,
                      attempt ? g_get_monotonic_time() + GRACE_US : grace(deadline), &err) == 0)
            return;
        if (attempt == 0)
            vdc_events_emitf("vm", j->vm_name, j->host, "resume-failed", "snapshot",
                             vdc_json_text(j->name), "error", vdc_json_text(err), NULL);
        if (attempt >= RESUME_RETRIES || g_atomic_int_get(&stopping))
            return;
        g_usleep(RESUME_RETRY_US);
    }
}

static void reply_entry(fuse_req_t req, const char *uuid, const char *name)
{
    uint64_t ino = 0;
    vdc_model_read_lock();
    struct vdc_vmsnap *s = vdc_snapshot_find(uuid, name);
    if (s)
        ino = VDC_INO(s->o.id, VDC_SNAP_DIR);
    vdc_model_read_unlock();
    struct fuse_entry_param e;
    if (ino && vdc_fuse_entry_of(ino, &e) == 0)
        fuse_reply_entry(req, &e);
    else
        fuse_reply_err(req, EIO);
}

/* --- mkdir ---------------------------------------------------------------- */

/* The intent record: what a restart must undo if this snapshot is
 * never finished. */
static json_t *intent_record(const struct job *j, GPtrArray *arrays, bool may_quiesce,
                             const char *libvirt_id)
{
    json_t *r = json_object();
    json_object_set_new(r, "name", json_string(j->name));
    json_object_set_new(r, "vm", vdc_json_text(j->vm_name));
    json_object_set_new(r, "uuid", json_string(j->uuid));
    json_object_set_new(r, "host", json_string(j->host));
    json_object_set_new(r, "pending", json_true());
    json_object_set_new(r, "may_have_quiesced", json_boolean(may_quiesce));
    json_t *disks = json_array();
    for (guint i = 0; i < arrays->len; i++) {
        const struct array_disks *a = g_ptr_array_index(arrays, i);
        for (guint k = 0; k < a->call->luns->len; k++) {
            json_t *d = json_object();
            json_object_set_new(d, "target", vdc_json_text(g_ptr_array_index(a->targets, k)));
            json_object_set_new(d, "array", json_string(a->name));
            json_object_set_new(d, "source_lun",
                                json_integer(g_array_index(a->call->luns, unsigned, k)));
            json_object_set_new(d, "snapshot_id", json_string(g_ptr_array_index(a->call->ids, k)));
            json_array_append_new(disks, d);
        }
    }
    json_object_set_new(r, "disks", disks);
    json_object_set_new(r, "libvirt_snapshot", vdc_json_text(libvirt_id));
    return r;
}

/* Deletes the LUN snapshots of @arrays[0..@n) that were made. */
static void delete_made_snapshots(GPtrArray *arrays, guint n, gint64 deadline)
{
    for (guint i = 0; i < n; i++) {
        struct array_disks *a = g_ptr_array_index(arrays, i);
        struct lun_call *l = lun_call_new();
        for (guint k = 0; k < a->call->ids->len; k++)
            g_ptr_array_add(l->ids, g_strdup(g_ptr_array_index(a->call->ids, k)));
        g_autofree char *err = NULL;
        if (array_call(a->array, a->name, run_delete_ids, NULL, l, (GDestroyNotify)lun_call_free,
                       grace(deadline), &err) < 0)
            g_warning("array %s: deleting a failed snapshot's LUNs: %s", a->name, err);
    }
}

/* Takes the LUN snapshots, array by array.  Returns 0, or -1 with *err
 * after deleting those already made. */
static int snapshot_arrays(GPtrArray *arrays, gint64 deadline, char **err)
{
    for (guint i = 0; i < arrays->len; i++) {
        struct array_disks *a = g_ptr_array_index(arrays, i);
        struct lun_call *l = a->call;
        /* The call owns it now; a keeps a pointer to read the result. */
        g_autoptr(vdc_call) c = vdc_call_new(run_lun_snapshots, undo_lun_snapshots, l,
                                             (GDestroyNotify)lun_call_free);
        a->call = NULL;
        g_autofree char *where = g_strdup_printf("array %s", a->name);
        int rc = wait_call(c, vdc_array_runner_call(a->array, c), where, deadline, err);
        if (rc == 0) {
            /* Keep what was made for the record: copy out of the call. */
            a->call = lun_call_new();
            for (guint k = 0; k < l->luns->len; k++) {
                g_array_append_val(a->call->luns, g_array_index(l->luns, unsigned, k));
                g_ptr_array_add(a->call->ids, g_strdup(g_ptr_array_index(l->ids, k)));
                const struct array_lun *m = g_ptr_array_index(l->made, k);
                struct array_lun *copy = g_new0(struct array_lun, 1);
                *copy = *m;
                copy->backing = g_strdup(m->backing);
                copy->id = g_strdup(m->id);
                g_ptr_array_add(a->call->made, copy);
            }
            continue;
        }
        g_autofree char *why = *err;
        *err = g_strdup_printf("array %s: %s", a->name, why);
        /* This array's call undid itself (or will); the earlier ones did not. */
        a->call = lun_call_new();
        for (guint k = 0; k < l->ids->len; k++)
            g_ptr_array_add(a->call->ids, g_strdup(g_ptr_array_index(l->ids, k)));
        delete_made_snapshots(arrays, i, deadline);
        return -1;
    }
    return 0;
}

static json_t *final_record(const struct job *j, const struct vm_call *look, GPtrArray *arrays,
                            const char *consistency, const char *libvirt_id)
{
    json_t *r = json_object();
    g_autofree char *time = now_text();
    json_object_set_new(r, "name", json_string(j->name));
    json_object_set_new(r, "vm", vdc_json_text(j->vm_name));
    json_object_set_new(r, "uuid", json_string(j->uuid));
    json_object_set_new(r, "host", json_string(j->host));
    json_object_set_new(r, "time", json_string(time));
    json_object_set_new(r, "consistency", json_string(consistency));
    json_object_set_new(r, "mechanism", json_string(libvirt_id ? "libvirt" : "array"));
    json_object_set_new(r, "state", json_string(vdc_vm_state_word(look->vm->state)));
    vdc_model_read_lock();
    struct vdc_vmsnap *parent = vdc_snapshot_latest(j->uuid);
    json_object_set_new(r, "parent", vdc_json_text(parent ? parent->name : NULL));
    vdc_model_read_unlock();
    json_t *disks = json_array();
    for (guint i = 0; arrays && i < arrays->len; i++) {
        const struct array_disks *a = g_ptr_array_index(arrays, i);
        for (guint k = 0; k < a->call->made->len; k++) {
            const struct array_lun *m = g_ptr_array_index(a->call->made, k);
            json_t *d = json_object();
            json_object_set_new(d, "target", vdc_json_text(g_ptr_array_index(a->targets, k)));
            json_object_set_new(d, "array", json_string(a->name));
            json_object_set_new(d, "source_lun", json_integer(m->source_lun));
            json_object_set_new(d, "snapshot_id", json_string(m->id));
            json_object_set_new(d, "size", json_integer((json_int_t)m->size));
            json_object_set_new(d, "cow", json_boolean(m->cow));
            json_array_append_new(disks, d);
        }
    }
    json_object_set_new(r, "disks", disks);
    json_object_set_new(r, "libvirt_snapshot", vdc_json_text(libvirt_id));
    json_object_set_new(r, "domain_xml",
                        vdc_json_text(look->config_xml ? look->config_xml : look->vm->domain_xml));
    return r;
}

static int take_snapshot(struct job *j, char **err)
{
    struct vm_call *look = vm_call_new(j->uuid);
    g_autoptr(vdc_call) lc = vdc_call_new(run_look, NULL, look, (GDestroyNotify)vm_call_free);
    g_autofree char *where = g_strdup_printf("host %s", j->host);
    if (wait_call(lc, vdc_runner_call(j->host, lc), where, j->deadline, err) < 0)
        return -1;
    g_autoptr(GPtrArray) arrays = disks_by_array(look->vm, err);
    if (!arrays)
        return -1;
    for (guint i = 0; i < arrays->len; i++) {
        const struct array_disks *a = g_ptr_array_index(arrays, i);
        if (!a->connected) { /* fail fast: the VM is not even quiesced */
            *err = g_strdup_printf("array %s is not connected: %s", a->name,
                                   a->error ? a->error : "not reached yet");
            return -1;
        }
    }
    g_autofree char *libvirt_id = arrays->len ? NULL : new_snapshot_id(j->uuid);
    bool running = look->vm->state == VDC_VM_RUNNING || look->vm->state == VDC_VM_BLOCKED;
    GError *ge = NULL;
    json_t *intent = intent_record(j, arrays, running, libvirt_id);
    bool ok = vdc_snap_store_put(state_dir, intent, &ge);
    json_decref(intent);
    if (!ok) {
        *err = g_strdup_printf("cannot record the snapshot: %s", ge->message);
        g_error_free(ge);
        return -1;
    }

    /* Quiesce: the quiesce call's undo thaws or resumes if we stop waiting. */
    struct vm_call *q = vm_call_new(j->uuid);
    q->vm = look->vm;
    look->vm = NULL; /* moved */
    g_autoptr(vdc_call) qc = vdc_call_new(run_quiesce, run_unquiesce, q,
                                          (GDestroyNotify)vm_call_free);
    int rc = wait_call(qc, vdc_runner_call(j->host, qc), where, j->deadline, err);
    if (rc == 0) {
        if (libvirt_id) {
            struct vm_call *s = vm_call_new(j->uuid);
            s->text = g_strdup(libvirt_id);
            rc = host_call(j->host, run_libvirt_snapshot, run_libvirt_delete, s,
                           (GDestroyNotify)vm_call_free, j->deadline, err);
        } else {
            rc = snapshot_arrays(arrays, j->deadline, err);
        }
        unquiesce(j, q, j->deadline); /* on every path */
    }
    if (rc == 0) {
        look->vm = q->vm;
        q->vm = NULL;
        json_t *rec = final_record(j, look, arrays, q->consistency, libvirt_id);
        ok = vdc_snap_store_put(state_dir, rec, &ge);
        if (ok) {
            vdc_model_snapshot_put(rec);
            return 0;
        }
        json_decref(rec);
        *err = g_strdup_printf("cannot record the snapshot: %s", ge->message);
        g_error_free(ge);
        if (libvirt_id) {
            struct vm_call *s = vm_call_new(j->uuid);
            s->text = g_strdup(libvirt_id);
            g_autofree char *e2 = NULL;
            host_call(j->host, run_libvirt_delete, NULL, s, (GDestroyNotify)vm_call_free,
                      grace(j->deadline), &e2);
        } else {
            delete_made_snapshots(arrays, arrays->len, j->deadline);
        }
    }
    g_autoptr(GError) rm = NULL;
    if (!vdc_snap_store_remove(state_dir, j->uuid, j->name, &rm))
        g_warning("%s", rm->message);
    return -1;
}

/* Holds the VM against the reconciler (snapshot_model.h). */
static void hold(const struct job *j)
{
    vdc_model_snapshot_hold(j->uuid, true);
}

/* Lets go, and has the VM reconciled if it has a spec: what the
 * reconciler skipped meanwhile is done now. */
static void release(const struct job *j)
{
    vdc_model_snapshot_hold(j->uuid, false);
    vdc_model_read_lock();
    struct vdc_desired *d = g_hash_table_lookup(vdc_model.desired_by_uuid, j->uuid);
    g_autofree char *fname = d && d->spec_text ? g_strdup(d->fname) : NULL;
    g_autofree char *host = d && d->host ? g_strdup(d->host) : NULL;
    vdc_model_read_unlock();
    if (fname)
        vdc_runner_kick(host, fname);
}

static uint64_t wait_for_model(unsigned array, const char *id, bool present, gint64 deadline);

/* Waits (at most until @deadline) until the array runners show every LUN
 * of snapshot @name, so that its images read at once after mkdir. */
static void wait_for_images(const char *uuid, const char *name, gint64 deadline)
{
    g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GArray) arrays = g_array_new(FALSE, FALSE, sizeof(unsigned));
    vdc_model_read_lock();
    struct vdc_vmsnap *s = vdc_snapshot_find(uuid, name);
    GHashTableIter it;
    gpointer v;
    if (s) {
        g_hash_table_iter_init(&it, s->disks);
        while (g_hash_table_iter_next(&it, NULL, &v)) {
            const struct vdc_snapdisk *d = v;
            struct vdc_array *a = vdc_array_find(d->array);
            if (!a)
                continue;
            g_ptr_array_add(ids, g_strdup(d->snapshot_id));
            g_array_append_val(arrays, a->index);
        }
    }
    vdc_model_read_unlock();
    for (guint i = 0; i < ids->len; i++)
        wait_for_model(g_array_index(arrays, unsigned, i), g_ptr_array_index(ids, i), true,
                       deadline);
}

static void do_mkdir(struct job *j)
{
    g_autofree char *err = NULL;
    hold(j);
    int rc = take_snapshot(j, &err);
    release(j);
    vdc_model_snapshot_pending(j->uuid, j->name, false);
    if (rc < 0) {
        fail_event(j, "snapshot", "snapshot-failed", err);
        fuse_reply_err(j->req, EIO);
        return;
    }
    vdc_model_snapshot_outcome(j->uuid, "snapshot", j->name, NULL);
    vdc_events_emitf("vm", j->vm_name, j->host, "snapshot-created", "snapshot",
                     vdc_json_text(j->name), NULL);
    wait_for_images(j->uuid, j->name, grace(j->deadline));
    reply_entry(j->req, j->uuid, j->name);
}

/* --- rmdir ---------------------------------------------------------------- */

/* A copy of snapshot @name's record, or NULL. */
static json_t *record_of(const char *uuid, const char *name)
{
    vdc_model_read_lock();
    struct vdc_vmsnap *s = vdc_snapshot_find(uuid, name);
    json_t *r = s ? json_deep_copy(s->record) : NULL;
    vdc_model_read_unlock();
    return r;
}

/* The disks of @record grouped by array, as calls with ids (and LUNs). */
static GPtrArray *record_arrays(json_t *record, char **err)
{
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)array_disks_free);
    size_t i;
    json_t *d;
    vdc_model_read_lock();
    json_array_foreach(json_object_get(record, "disks"), i, d) {
        const char *name = json_string_value(json_object_get(d, "array"));
        struct vdc_array *a = name ? vdc_array_find(name) : NULL;
        if (!a) {
            *err = g_strdup_printf("array %s is no longer configured", name ? name : "?");
            vdc_model_read_unlock();
            g_ptr_array_unref(out);
            return NULL;
        }
        struct array_disks *ad = array_disks_for(out, a);
        unsigned lun = (unsigned)json_integer_value(json_object_get(d, "source_lun"));
        g_array_append_val(ad->call->luns, lun);
        g_ptr_array_add(ad->call->ids,
                        g_strdup(json_string_value(json_object_get(d, "snapshot_id"))));
        g_ptr_array_add(ad->targets,
                        g_strdup(json_string_value(json_object_get(d, "target"))));
    }
    vdc_model_read_unlock();
    return out;
}

/* Moves the snapshots whose parent was @gone to @gone's parent. */
static void reparent_children(const char *uuid, const char *gone, json_t *new_parent)
{
    g_autoptr(GPtrArray) children = g_ptr_array_new_with_free_func((GDestroyNotify)json_decref);
    vdc_model_read_lock();
    GHashTable *m = vdc_snapshots_of(uuid);
    GHashTableIter it;
    gpointer v;
    if (m) {
        g_hash_table_iter_init(&it, m);
        while (g_hash_table_iter_next(&it, NULL, &v)) {
            struct vdc_vmsnap *s = v;
            if (g_strcmp0(json_string_value(json_object_get(s->record, "parent")), gone) == 0)
                g_ptr_array_add(children, json_deep_copy(s->record));
        }
    }
    vdc_model_read_unlock();
    for (guint i = 0; i < children->len; i++) {
        json_t *r = g_ptr_array_index(children, i);
        json_object_set(r, "parent", new_parent ? new_parent : json_null());
        g_autoptr(GError) e = NULL;
        if (vdc_snap_store_put(state_dir, r, &e))
            vdc_model_snapshot_put(json_incref(r));
        else
            g_warning("%s", e->message);
    }
}

static int delete_snapshot(struct job *j, json_t *record, char **err)
{
    const char *libvirt_id = json_string_value(json_object_get(record, "libvirt_snapshot"));
    if (libvirt_id) {
        struct vm_call *s = vm_call_new(j->uuid);
        s->text = g_strdup(libvirt_id);
        if (host_call(j->host, run_libvirt_delete, NULL, s, (GDestroyNotify)vm_call_free,
                      j->deadline, err) < 0)
            return -1;
    } else {
        g_autoptr(GPtrArray) arrays = record_arrays(record, err);
        if (!arrays)
            return -1;
        for (guint i = 0; i < arrays->len; i++) {
            struct array_disks *a = g_ptr_array_index(arrays, i);
            struct lun_call *l = a->call;
            a->call = NULL;
            if (array_call(a->array, a->name, run_delete_ids, NULL, l,
                           (GDestroyNotify)lun_call_free, j->deadline, err) < 0) {
                g_autofree char *why = *err;
                *err = g_strdup_printf("array %s: %s", a->name, why);
                return -1;
            }
        }
    }
    GError *ge = NULL;
    if (!vdc_snap_store_remove(state_dir, j->uuid, j->name, &ge)) {
        *err = g_strdup(ge->message);
        g_error_free(ge);
        return -1;
    }
    vdc_model_snapshot_remove(j->uuid, j->name);
    reparent_children(j->uuid, j->name, json_object_get(record, "parent"));
    return 0;
}

static void do_rmdir(struct job *j)
{
    json_t *record = record_of(j->uuid, j->name);
    if (!record) {
        vdc_model_snapshot_pending(j->uuid, j->name, false);
        fuse_reply_err(j->req, ENOENT);
        return;
    }
    g_autofree char *err = NULL;
    int rc = delete_snapshot(j, record, &err);
    json_decref(record);
    vdc_model_snapshot_pending(j->uuid, j->name, false);
    if (rc < 0) {
        fail_event(j, "delete", "snapshot-delete-failed", err);
        fuse_reply_err(j->req, EIO);
        return;
    }
    vdc_model_snapshot_outcome(j->uuid, "delete", j->name, NULL);
    vdc_events_emitf("vm", j->vm_name, j->host, "snapshot-deleted", "snapshot",
                     vdc_json_text(j->name), NULL);
    for (guint i = 0; i < vdc_model.arrays->len; i++)
        vdc_array_runner_kick_index(i);
    fuse_reply_err(j->req, 0);
}

/* --- revert --------------------------------------------------------------- */

static int vm_power(const struct job *j, enum hv_power_action a, char **err)
{
    struct vm_call *v = vm_call_new(j->uuid);
    v->action = a;
    return host_call(j->host, run_power, NULL, v, (GDestroyNotify)vm_call_free, j->deadline, err);
}

static bool managed(const char *uuid)
{
    vdc_model_read_lock();
    struct vdc_desired *d = g_hash_table_lookup(vdc_model.desired_by_uuid, uuid);
    bool m = d && d->spec_text;
    vdc_model_read_unlock();
    return m;
}

static int revert_to(struct job *j, json_t *record, char **err)
{
    const char *libvirt_id = json_string_value(json_object_get(record, "libvirt_snapshot"));
    if (libvirt_id) { /* libvirt restores disks, definition and state at once */
        struct vm_call *s = vm_call_new(j->uuid);
        s->text = g_strdup(libvirt_id);
        return host_call(j->host, run_libvirt_revert, NULL, s, (GDestroyNotify)vm_call_free,
                         j->deadline, err);
    }
    g_autoptr(GPtrArray) arrays = record_arrays(record, err);
    if (!arrays)
        return -1;
    for (guint i = 0; i < arrays->len; i++) {
        const struct array_disks *a = g_ptr_array_index(arrays, i);
        if (!a->connected) {
            *err = g_strdup_printf("array %s is not connected: %s", a->name,
                                   a->error ? a->error : "not reached yet");
            return -1;
        }
    }
    struct vm_call *look = vm_call_new(j->uuid);
    g_autoptr(vdc_call) lc = vdc_call_new(run_look, NULL, look, (GDestroyNotify)vm_call_free);
    g_autofree char *where = g_strdup_printf("host %s", j->host);
    if (wait_call(lc, vdc_runner_call(j->host, lc), where, j->deadline, err) < 0)
        return -1;
    /* No writer may be left on the LUNs: the VM is stopped (its memory
     * would not match the old disks anyway). */
    if (look->vm->state != VDC_VM_SHUTOFF && look->vm->state != VDC_VM_CRASHED &&
        vm_power(j, HV_POWER_DESTROY, err) < 0)
        return -1;
    for (guint i = 0; i < arrays->len; i++) {
        struct array_disks *a = g_ptr_array_index(arrays, i);
        struct lun_call *l = a->call;
        a->call = NULL;
        if (array_call(a->array, a->name, run_lun_reverts, NULL, l, (GDestroyNotify)lun_call_free,
                       j->deadline, err) < 0) {
            g_autofree char *why = *err;
            *err = g_strdup_printf("array %s: %s", a->name, why);
            return -1;
        }
    }
    /* The definition of then, unless a spec says what the VM should be:
     * then the reconciler applies the spec (the spec wins). */
    const char *xml = json_string_value(json_object_get(record, "domain_xml"));
    if (xml && !managed(j->uuid)) {
        struct vm_call *v = vm_call_new(j->uuid);
        v->text = g_strdup(xml);
        if (host_call(j->host, run_define, NULL, v, (GDestroyNotify)vm_call_free, j->deadline,
                      err) < 0)
            return -1;
    }
    const char *state = json_string_value(json_object_get(record, "state"));
    if (g_strcmp0(state, "running") == 0 || g_strcmp0(state, "blocked") == 0)
        return vm_power(j, HV_POWER_START, err);
    if (g_strcmp0(state, "paused") == 0)
        return vm_power(j, HV_POWER_START_PAUSED, err);
    return 0;
}

static void do_revert(struct job *j)
{
    json_t *record = record_of(j->uuid, j->name);
    g_autofree char *err = NULL;
    hold(j);
    int rc = record ? revert_to(j, record, &err) : -1;
    release(j);
    json_decref(record);
    vdc_model_snapshot_pending(j->uuid, j->name, false);
    if (rc < 0) {
        fail_event(j, "revert", "revert-failed", err ? err : "no such snapshot");
        fuse_reply_err(j->req, record ? EIO : EINVAL);
        return;
    }
    vdc_model_snapshot_outcome(j->uuid, "revert", j->name, NULL);
    vdc_events_emitf("vm", j->vm_name, j->host, "reverted", "snapshot", vdc_json_text(j->name),
                     NULL);
    fuse_reply_write(j->req, j->size);
}

/* --- recovery of what a crash interrupted -------------------------------- */

static void do_recover(struct job *j)
{
    /* The runners may still be connecting: try for a while. */
    for (int attempt = 0; attempt < 60 && !g_atomic_int_get(&stopping); attempt++) {
        j->deadline = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;
        g_autofree char *err = NULL;
        int rc = 0;
        const char *libvirt_id = json_string_value(json_object_get(j->record, "libvirt_snapshot"));
        if (libvirt_id) {
            struct vm_call *s = vm_call_new(j->uuid);
            s->text = g_strdup(libvirt_id);
            rc = host_call(j->host, run_libvirt_delete, NULL, s, (GDestroyNotify)vm_call_free,
                           j->deadline, &err);
        } else {
            g_autoptr(GPtrArray) arrays = record_arrays(j->record, &err);
            for (guint i = 0; rc == 0 && arrays && i < arrays->len; i++) {
                struct array_disks *a = g_ptr_array_index(arrays, i);
                struct lun_call *l = a->call;
                a->call = NULL;
                rc = array_call(a->array, a->name, run_delete_ids, NULL, l,
                                (GDestroyNotify)lun_call_free, j->deadline, &err);
            }
            if (!arrays)
                rc = 0; /* an array no longer configured: nothing we can delete */
        }
        if (rc == 0 && json_is_true(json_object_get(j->record, "may_have_quiesced"))) {
            /* Thaw (harmless when not frozen) and resume if it was left paused. */
            struct vm_call *look = vm_call_new(j->uuid);
            g_autoptr(vdc_call) lc =
                vdc_call_new(run_look, NULL, look, (GDestroyNotify)vm_call_free);
            g_autofree char *where = g_strdup_printf("host %s", j->host);
            rc = wait_call(lc, vdc_runner_call(j->host, lc), where, j->deadline, &err);
            if (rc == 0) {
                struct vm_call *t = vm_call_new(j->uuid);
                t->did = Q_FROZEN;
                g_autofree char *ignored = NULL;
                host_call(j->host, run_unquiesce, NULL, t, (GDestroyNotify)vm_call_free,
                          j->deadline, &ignored);
                if (look->vm->state == VDC_VM_PAUSED)
                    rc = vm_power(j, HV_POWER_RESUME, &err);
            } else if (err && strstr(err, "no longer exists")) {
                rc = 0;
            }
        }
        if (rc == 0) {
            g_autoptr(GError) e = NULL;
            if (!vdc_snap_store_remove(state_dir, j->uuid, j->name, &e))
                g_warning("%s", e->message);
            vdc_events_emitf("vm", j->vm_name, j->host, "snapshot-abandoned", "snapshot",
                             vdc_json_text(j->name), NULL);
            vdc_model_snapshot_pending(j->uuid, j->name, false);
            return;
        }
        g_usleep(RESUME_RETRY_US);
    }
    g_warning("snapshot %s of %s: could not clean up what a crash left; will retry at the "
              "next start", j->name, j->uuid);
}

/* --- LUN snapshots: arrays/<array>/luns/<lun>/snapshots/<id> -------------- */

/* Read lock held.  The snapshot LUN of array @array with id @id, or NULL. */
static struct vdc_lun *lun_snapshot(unsigned array, const char *id)
{
    return array < vdc_model.arrays->len
               ? vdc_array_snapshot_lun(g_ptr_array_index(vdc_model.arrays, array), id)
               : NULL;
}

/* Waits until the array's runner has read the array again and the model
 * shows (@present) or no longer shows snapshot @id.  Returns its node's
 * inode (0 when gone or not seen by @deadline). */
static uint64_t wait_for_model(unsigned array, const char *id, bool present, gint64 deadline)
{
    vdc_array_runner_kick_index(array);
    for (;;) {
        vdc_model_read_lock();
        struct vdc_lun *l = lun_snapshot(array, id);
        uint64_t ino = l ? VDC_INO(l->o.id, VDC_LUN_DIR) : 0;
        vdc_model_read_unlock();
        if ((ino != 0) == present || g_get_monotonic_time() >= deadline)
            return ino;
        g_usleep(20 * 1000);
    }
}

static void do_lun_mkdir(struct job *j)
{
    struct lun_call *l = lun_call_new();
    g_array_append_val(l->luns, j->lun);
    g_ptr_array_add(l->ids, g_strdup(j->name));
    g_autofree char *err = NULL;
    if (array_call(j->array, j->vm_name, run_lun_snapshots, undo_lun_snapshots, l,
                   (GDestroyNotify)lun_call_free, j->deadline, &err) < 0) {
        vdc_events_emitf("array", j->vm_name, NULL, "snapshot-failed", "lun", json_integer(j->lun),
                         "snapshot", vdc_json_text(j->name), "error", vdc_json_text(err), NULL);
        fuse_reply_err(j->req, EIO);
        return;
    }
    vdc_events_emitf("array", j->vm_name, NULL, "snapshot-created", "lun", json_integer(j->lun),
                     "snapshot", vdc_json_text(j->name), NULL);
    uint64_t ino = wait_for_model(j->array, j->name, true, grace(j->deadline));
    struct fuse_entry_param e;
    if (ino && vdc_fuse_entry_of(ino, &e) == 0)
        fuse_reply_entry(j->req, &e);
    else
        fuse_reply_err(j->req, EIO); /* made, but the array does not show it */
}

static void do_lun_rmdir(struct job *j)
{
    struct lun_call *l = lun_call_new();
    g_ptr_array_add(l->ids, g_strdup(j->name));
    g_autofree char *err = NULL;
    if (array_call(j->array, j->vm_name, run_delete_ids, NULL, l, (GDestroyNotify)lun_call_free,
                   j->deadline, &err) < 0) {
        vdc_events_emitf("array", j->vm_name, NULL, "snapshot-delete-failed", "lun",
                         json_integer(j->lun), "snapshot", vdc_json_text(j->name), "error",
                         vdc_json_text(err), NULL);
        fuse_reply_err(j->req, EIO);
        return;
    }
    vdc_events_emitf("array", j->vm_name, NULL, "snapshot-deleted", "lun", json_integer(j->lun),
                     "snapshot", vdc_json_text(j->name), NULL);
    wait_for_model(j->array, j->name, false, grace(j->deadline));
    fuse_reply_err(j->req, 0);
}

/* --- the workers ---------------------------------------------------------- */

static void run_job(gpointer data, gpointer user)
{
    (void)user;
    struct job *j = data;
    switch (j->kind) {
    case JOB_MKDIR:
        do_mkdir(j);
        break;
    case JOB_RMDIR:
        do_rmdir(j);
        break;
    case JOB_REVERT:
        do_revert(j);
        break;
    case JOB_RECOVER:
        do_recover(j);
        break;
    case JOB_LUN_MKDIR:
        do_lun_mkdir(j);
        break;
    case JOB_LUN_RMDIR:
        do_lun_rmdir(j);
        break;
    }
    job_free(j);
}

static void load_records(void)
{
    g_autoptr(GError) e = NULL;
    g_autoptr(GPtrArray) all = vdc_snap_store_list(state_dir, &e);
    if (!all) {
        g_warning("snapshots: %s", e->message);
        return;
    }
    for (guint i = 0; i < all->len; i++) {
        json_t *r = g_ptr_array_index(all, i);
        if (json_is_true(json_object_get(r, "pending"))) {
            struct job *j = g_new0(struct job, 1);
            j->kind = JOB_RECOVER;
            j->uuid = g_strdup(json_string_value(json_object_get(r, "uuid")));
            j->name = g_strdup(json_string_value(json_object_get(r, "name")));
            j->host = g_strdup(json_string_value(json_object_get(r, "host")));
            j->vm_name = g_strdup(json_string_value(json_object_get(r, "vm")));
            j->record = json_incref(r);
            vdc_model_snapshot_pending(j->uuid, j->name, true);
            g_thread_pool_push(workers, j, NULL);
        } else {
            vdc_model_snapshot_put(json_incref(r));
        }
    }
}

void vdc_snap_ctl_start(const struct vdc_config *cfg, const char *dir)
{
    state_dir = g_strdup(dir);
    timeout_s = cfg->snapshot_timeout_seconds ? cfg->snapshot_timeout_seconds
                                              : VDC_DEFAULT_SNAPSHOT_TIMEOUT_SECONDS;
    /* A few at once: each waits mostly on a host or an array. */
    workers = g_thread_pool_new(run_job, NULL, 4, FALSE, NULL);
    if (state_dir)
        load_records();
}

void vdc_snap_ctl_stop(void)
{
    g_atomic_int_set(&stopping, 1);
    if (workers)
        g_thread_pool_free(workers, FALSE, TRUE);
    workers = NULL;
    g_clear_pointer(&state_dir, g_free);
}

static void push(fuse_req_t req, enum job_kind kind, const struct vdc_snap_target *t,
                 const char *name, size_t size)
{
    if (!state_dir) {
        vdc_events_emitf("vm", t->vm_name, t->host, "snapshot-failed", "snapshot",
                         vdc_json_text(name), "error",
                         json_string("no state_dir is configured: snapshots cannot be kept"),
                         NULL);
        fuse_reply_err(req, EROFS);
        return;
    }
    struct job *j = g_new0(struct job, 1);
    j->kind = kind;
    j->req = req;
    j->uuid = g_strdup(t->uuid);
    j->host = g_strdup(t->host);
    j->vm_name = g_strdup(t->vm_name);
    j->name = g_strdup(name);
    j->dir_ino = t->dir_ino;
    j->size = size;
    j->deadline = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;
    vdc_model_snapshot_pending(j->uuid, j->name, true);
    g_thread_pool_push(workers, j, NULL);
}

void vdc_snap_mkdir(fuse_req_t req, const struct vdc_snap_target *t, const char *name)
{
    push(req, JOB_MKDIR, t, name, 0);
}

void vdc_snap_rmdir(fuse_req_t req, const struct vdc_snap_target *t, const char *name)
{
    push(req, JOB_RMDIR, t, name, 0);
}

void vdc_snap_revert(fuse_req_t req, const struct vdc_snap_target *t, const char *name,
                     size_t size)
{
    push(req, JOB_REVERT, t, name, size);
}

void vdc_snap_lun_op(fuse_req_t req, unsigned array, unsigned lun, const char *id, bool make)
{
    int rc = 0;
    g_autofree char *array_name = NULL;
    g_autofree char *user = NULL;
    vdc_model_read_lock();
    struct vdc_array *a = array < vdc_model.arrays->len ? g_ptr_array_index(vdc_model.arrays, array)
                                                        : NULL;
    struct vdc_lun *have = lun_snapshot(array, id);
    struct vdc_vmsnap *owner = a && have ? vdc_snapshot_with_disk(a->name, id) : NULL;
    if (!a)
        rc = ENOENT;
    else if (make && (!array_id_valid(id) || g_str_has_prefix(id, "vdcfs-")))
        rc = EINVAL;
    else if (make && have)
        rc = EEXIST;
    else if (!make && (!have || have->mgmt->source_lun != lun))
        rc = ENOENT;
    else if (!make && owner)
        rc = EBUSY;
    else if (!a->connected)
        rc = EIO;
    if (a)
        array_name = g_strdup(a->name);
    if (owner)
        user = g_strdup_printf("it is part of snapshot \"%s\" of VM %s: rmdir that one instead",
                               owner->name,
                               json_string_value(json_object_get(owner->record, "vm")));
    vdc_model_read_unlock();
    if (rc == EINVAL || rc == EBUSY || rc == EIO) {
        g_autofree char *shown = g_strescape(id, NULL);
        const char *why = rc == EINVAL ? "a LUN snapshot's name is 1 to 64 of A-Z a-z 0-9 _ -, "
                                         "not starting with \"vdcfs-\" (kept for VM snapshots)"
                          : rc == EBUSY ? user
                                        : "the array is not connected";
        vdc_events_emitf("array", array_name, NULL, make ? "snapshot-refused" : "snapshot-delete-refused",
                         "lun", json_integer(lun), "snapshot", json_string(shown), "error",
                         json_string(why), NULL);
    }
    if (rc) {
        fuse_reply_err(req, rc);
        return;
    }
    struct job *j = g_new0(struct job, 1);
    j->kind = make ? JOB_LUN_MKDIR : JOB_LUN_RMDIR;
    j->req = req;
    j->vm_name = g_steal_pointer(&array_name); /* the array's name, for messages */
    j->name = g_strdup(id);
    j->array = array;
    j->lun = lun;
    j->deadline = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;
    g_thread_pool_push(workers, j, NULL);
}
