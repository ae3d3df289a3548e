/* tree_vms.c — vms/<vm>/{spec.json, power, state, status.json, domain.xml}
 * (disks/ is tree_vmdisks.c's, snapshots/ tree_snapshots.c's)
 *
 * A directory in vms/ is either a desired entry (desired.h: made with
 * mkdir, or with a spec) or, for a VM nobody wrote a spec for, the VM
 * itself.  Both kinds of directory use the same file numbers and the same
 * code: each file looks at the VM (when there is one) and the entry (when
 * there is one).  Temporary files of editors live beside them (scratch.h).
 */
#include <string.h>
#include <sys/stat.h>

#include "desired.h"
#include "render.h"
#include "scratch.h"
#include "snapshot_model.h"
#include "tree.h"
#include "ztext.h"

/* The VM a node of a VM directory shows, or NULL. */
static struct vdc_vm *vm_of(const struct vdc_node *n)
{
    if (n->obj->type == VDC_OBJ_VM)
        return (struct vdc_vm *)n->obj;
    return ((struct vdc_desired *)n->obj)->vm;
}

/* The desired entry a node of a VM directory shows, or NULL. */
static struct vdc_desired *desired_of(const struct vdc_node *n)
{
    if (n->obj->type == VDC_OBJ_DESIRED)
        return (struct vdc_desired *)n->obj;
    return vdc_desired_of_vm((struct vdc_vm *)n->obj);
}

/* --- vms/ ------------------------------------------------------------- */

static int vms_lookup(const struct vdc_node *dir, const char *name, struct vdc_node *out)
{
    (void)dir;
    struct vdc_desired *d = vdc_desired_find(name);
    if (d && !d->deleting) {
        *out = vdc_node_of(VDC_N_VM, &d->o, VDC_VM_DIR);
        return 0;
    }
    return vdc_map_lookup(vdc_model.vms_by_display, VDC_N_VM, VDC_VM_DIR, name, out);
}

static void vms_list(const struct vdc_node *dir, GArray *out)
{
    (void)dir;
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, vdc_model.desired);
    while (g_hash_table_iter_next(&it, &k, &v))
        if (!((struct vdc_desired *)v)->deleting)
            vdc_dirents_add(out, k, vdc_node_of(VDC_N_VM, v, VDC_VM_DIR));
    g_hash_table_iter_init(&it, vdc_model.vms_by_display);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        struct vdc_desired *d = vdc_desired_find(k);
        if (!d || d->deleting)
            vdc_dirents_add(out, k, vdc_node_of(VDC_N_VM, v, VDC_VM_DIR));
    }
}

/* --- vms/<vm>/ -------------------------------------------------------- */

static const struct vdc_fixed_child vm_files[] = {
    {"disks", VDC_N_VM_DISKS, VDC_VM_DISKS},
    {"domain.xml", VDC_N_VM_DOMXML, VDC_VM_DOMXML},
    {"power", VDC_N_VM_POWER, VDC_VM_POWER},
    {"revert", VDC_N_VM_REVERT, VDC_VM_REVERT},
    {"snapshots", VDC_N_VM_SNAPS, VDC_VM_SNAPS},
    {"spec.json", VDC_N_VM_SPEC, VDC_VM_SPEC},
    {"state", VDC_N_VM_STATE, VDC_VM_STATE},
    {"status.json", VDC_N_VM_STATUS, VDC_VM_STATUS},
};

struct vdc_vm *vdc_vmdir_vm(const struct vdc_node *n)
{
    return vm_of(n);
}

const char *vdc_vmdir_uuid(const struct vdc_node *n)
{
    const struct vdc_vm *vm = vm_of(n);
    if (vm)
        return vm->uuid;
    const struct vdc_desired *d = desired_of(n);
    return d && d->uuid[0] ? d->uuid : NULL;
}

/* Which files a VM directory has: all of them with a VM; without one,
 * domain.xml, revert and disks/ are not there, snapshots/ only when it
 * has some (its host is away), and a directory made with mkdir has no spec.json
 * (nor power) until a spec is written into it. */
static bool vm_has_file(const struct vdc_node *dir, enum vdc_node_kind kind)
{
    if (vm_of(dir))
        return true;
    const struct vdc_desired *d = desired_of(dir);
    switch (kind) {
    case VDC_N_VM_DOMXML:
    case VDC_N_VM_REVERT:
    case VDC_N_VM_DISKS:
        return false;
    case VDC_N_VM_SNAPS:
        return d && d->uuid[0] && vdc_snapshot_count(d->uuid) > 0;
    case VDC_N_VM_SPEC:
    case VDC_N_VM_POWER:
        return d && d->spec_text;
    default:
        return true;
    }
}

static int vm_lookup(const struct vdc_node *dir, const char *name, struct vdc_node *out)
{
    for (size_t i = 0; i < G_N_ELEMENTS(vm_files); i++) {
        if (strcmp(vm_files[i].name, name) != 0)
            continue;
        if (!vm_has_file(dir, vm_files[i].kind))
            return -ENOENT;
        *out = vdc_node_of(vm_files[i].kind, dir->obj, vm_files[i].sub);
        return 0;
    }
    struct vdc_scratch *s = vdc_scratch_find(dir->obj->id, name);
    if (!s)
        return -ENOENT;
    *out = vdc_node_of(VDC_N_SCRATCH, &s->o, 0);
    return 0;
}

static void vm_list(const struct vdc_node *dir, GArray *out)
{
    for (size_t i = 0; i < G_N_ELEMENTS(vm_files); i++)
        if (vm_has_file(dir, vm_files[i].kind))
            vdc_dirents_add(out, vm_files[i].name,
                            vdc_node_of(vm_files[i].kind, dir->obj, vm_files[i].sub));
    vdc_scratch_list(dir->obj->id, out);
}

/* The later of the VM's and the entry's last change. */
static const struct timespec *vm_mtime(const struct vdc_node *n)
{
    const struct vdc_vm *vm = vm_of(n);
    const struct vdc_desired *d = desired_of(n);
    const struct timespec *a = vm ? &vm->o.mtime : NULL;
    const struct timespec *b = d ? &d->o.mtime : NULL;
    if (!a || !b)
        return a ? a : b;
    return (a->tv_sec > b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec > b->tv_nsec)) ? a
                                                                                          : b;
}

static GBytes *vm_state_content(const struct vdc_node *n)
{
    const struct vdc_vm *vm = vm_of(n);
    if (vm)
        return g_bytes_ref(vdc_vm_state_bytes(vm->state));
    return g_bytes_new_static("undefined\n", 10);
}

/* status.json, with the VM's snapshots when it has had any. */
static GBytes *vm_status_content(const struct vdc_node *n)
{
    GBytes *doc = vdc_vmdir_status(vm_of(n), desired_of(n));
    const char *uuid = vdc_vmdir_uuid(n);
    json_t *snaps = uuid ? vdc_snapshot_status(uuid) : NULL;
    if (!snaps)
        return doc;
    gsize len;
    const char *p = g_bytes_get_data(doc, &len);
    json_t *o = json_loadb(p, len, JSON_PRESERVE_ORDER, NULL);
    g_bytes_unref(doc);
    if (!json_is_object(o)) {
        json_decref(o);
        o = json_object();
    }
    json_object_set_new(o, "snapshots", snaps);
    return vdc_json_file(o);
}

static size_t vm_status_size(const struct vdc_node *n)
{
    const struct vdc_vm *vm = vm_of(n);
    if (vm && !desired_of(n) && !vdc_snapshots_of(vm->uuid))
        return vdc_ztext_size(vm->status_json);
    g_autoptr(GBytes) b = vm_status_content(n);
    return g_bytes_get_size(b);
}

static GBytes *vm_domxml_content(const struct vdc_node *n)
{
    const struct vdc_vm *vm = vm_of(n);
    return vm ? vdc_ztext_unpack(vm->domain_xml) : NULL;
}

static size_t vm_domxml_size(const struct vdc_node *n)
{
    const struct vdc_vm *vm = vm_of(n);
    return vm ? vdc_ztext_size(vm->domain_xml) : 0;
}

static GBytes *vm_spec_content(const struct vdc_node *n)
{
    const struct vdc_desired *d = desired_of(n);
    if (d && d->spec_text)
        return g_bytes_ref(d->spec_text);
    const struct vdc_vm *vm = vm_of(n);
    return vm ? vdc_vm_derived_spec(vm) : NULL;
}

/* power and revert are write-only; reading them gives nothing. */
static GBytes *vm_power_content(const struct vdc_node *n)
{
    (void)n;
    return NULL;
}

static GBytes *scratch_content(const struct vdc_node *n)
{
    return vdc_scratch_content((const struct vdc_scratch *)n->obj);
}

static mode_t scratch_perm(const struct vdc_node *n)
{
    return ((const struct vdc_scratch *)n->obj)->mode | 0200;
}

void vdc_tree_vms_register(struct vdc_node_ops *ops)
{
    ops[VDC_N_VMS] = VDC_DIR_OPS(vms_lookup, vms_list);
    ops[VDC_N_VMS].perm = 0755;
    ops[VDC_N_VM] = VDC_DIR_OPS(vm_lookup, vm_list);
    ops[VDC_N_VM].perm = 0755;
    ops[VDC_N_VM].mtime = vm_mtime;
    ops[VDC_N_VM_STATE] = VDC_FILE_OPS(vm_state_content);
    ops[VDC_N_VM_STATE].mtime = vm_mtime;
    ops[VDC_N_VM_STATUS] = VDC_FILE_OPS(vm_status_content);
    ops[VDC_N_VM_STATUS].size = vm_status_size;
    ops[VDC_N_VM_STATUS].mtime = vm_mtime;
    ops[VDC_N_VM_DOMXML] = VDC_FILE_OPS(vm_domxml_content);
    ops[VDC_N_VM_DOMXML].size = vm_domxml_size;
    ops[VDC_N_VM_DOMXML].mtime = vm_mtime;
    ops[VDC_N_VM_SPEC] = VDC_FILE_OPS(vm_spec_content);
    ops[VDC_N_VM_SPEC].perm = 0644;
    ops[VDC_N_VM_SPEC].mtime = vm_mtime;
    ops[VDC_N_VM_POWER] = VDC_FILE_OPS(vm_power_content);
    ops[VDC_N_VM_POWER].perm = 0644;
    ops[VDC_N_VM_POWER].mtime = vm_mtime;
    ops[VDC_N_VM_REVERT] = VDC_FILE_OPS(vm_power_content);
    ops[VDC_N_VM_REVERT].perm = 0644;
    ops[VDC_N_VM_REVERT].mtime = vm_mtime;
    ops[VDC_N_SCRATCH] = VDC_FILE_OPS(scratch_content);
    ops[VDC_N_SCRATCH].perm_of = scratch_perm;
}
