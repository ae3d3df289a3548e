/* vmdisk_model.c — a VM's disks in the model, see vmdisk_model.h. */
#include "vmdisk_model.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "array_model.h"
#include "desired.h"
#include "inval.h"
#include "model_priv.h"
#include "names.h"
#include "render.h"
#include "ztext.h"

static bool is_iscsi(const struct hv_disk *d)
{
    return d->source == HV_DISK_NETWORK && g_strcmp0(d->protocol, "iscsi") == 0 && d->name;
}

/* FNV-1a over every field info.json shows of the disk's definition, so
 * that a change of one disk invalidates that disk's file only, and a
 * change of the VM's state none. */
static uint32_t fnv(uint32_t h, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)(s ? s : "\x1e"); *p; p++)
        h = (h ^ *p) * 16777619u;
    return (h ^ 0x1f) * 16777619u; /* a separator: "ab","c" is not "a","bc" */
}

static uint32_t disk_digest(const struct hv_disk *d)
{
    char nums[32];
    g_snprintf(nums, sizeof nums, "%d:%d", (int)d->source, d->port);
    const char *fields[] = {nums, d->bus, d->device, d->path, d->pool,
                            d->volume, d->protocol, d->name, d->host};
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < G_N_ELEMENTS(fields); i++)
        h = fnv(h, fields[i]);
    return h;
}

static struct vdc_vmdisk *vmdisk_new(struct vdc_vm *vm, const char *fname)
{
    size_t n = strlen(fname) + 1;
    struct vdc_vmdisk *d = g_malloc0(sizeof *d + n);
    memcpy(d->fname, fname, n);
    d->vm = vm;
    obj_register(&d->o, VDC_OBJ_VMDISK);
    return d;
}

static void vmdisk_free(struct vdc_vmdisk *d)
{
    obj_unregister(&d->o);
    g_free(d);
}

/* The directories that show @vm's disks/: the VM's own and, when a
 * desired entry is bound to it, the entry's. */
static void inval_disks_dir(struct vdc_vm *vm, const char *entry)
{
    uint64_t dirs[2] = {VDC_INO(vm->o.id, VDC_VM_DISKS),
                        vm->managed ? VDC_INO(vm->managed->o.id, VDC_VM_DISKS) : 0};
    for (size_t i = 0; i < G_N_ELEMENTS(dirs) && dirs[i]; i++) {
        if (entry)
            vdc_inval_entry(dirs[i], entry);
        else
            vdc_inval_inode(dirs[i]);
    }
}

/* Takes the disk called @fname out of @old (its slot becomes NULL). */
static struct vdc_vmdisk *take_old(struct vdc_vmdisk **old, size_t n, const char *fname)
{
    for (size_t i = 0; i < n; i++) {
        if (old[i] && strcmp(old[i]->fname, fname) == 0) {
            struct vdc_vmdisk *d = old[i];
            old[i] = NULL;
            return d;
        }
    }
    return NULL;
}

static bool have_fname(GPtrArray *disks, const char *fname)
{
    for (guint i = 0; i < disks->len; i++)
        if (strcmp(((struct vdc_vmdisk *)g_ptr_array_index(disks, i))->fname, fname) == 0)
            return true;
    return false;
}

void vmdisks_sync(struct vdc_vm *vm, const struct hv_vm *facts)
{
    /* The iSCSI names first: the disks point into them. */
    g_autoptr(GStrvBuilder) b = g_strv_builder_new();
    bool any_iscsi = false;
    for (guint i = 0; facts->disks && i < facts->disks->len; i++) {
        const struct hv_disk *hd = g_ptr_array_index(facts->disks, i);
        if (is_iscsi(hd)) {
            g_strv_builder_add(b, hd->name);
            any_iscsi = true;
        }
    }
    GStrv iscsi = any_iscsi ? g_strv_builder_end(b) : NULL;

    size_t n_old = 0;
    while (vm->disks && vm->disks[n_old])
        n_old++;
    GPtrArray *fresh = g_ptr_array_new();
    bool listing_changed = false;
    guint k = 0; /* the next of iscsi */
    for (guint i = 0; facts->disks && i < facts->disks->len; i++) {
        const struct hv_disk *hd = g_ptr_array_index(facts->disks, i);
        const char *iname = is_iscsi(hd) ? iscsi[k++] : NULL;
        if (!hd->target)
            continue;
        g_autofree char *fname = vdc_name_encode(hd->target);
        if (have_fname(fresh, fname))
            continue; /* a target twice: libvirt refuses that; show the first */
        uint32_t digest = disk_digest(hd);
        struct vdc_vmdisk *d = take_old(vm->disks, n_old, fname);
        if (!d) {
            d = vmdisk_new(vm, fname);
            inval_disks_dir(vm, fname);
            listing_changed = true;
        } else if (d->digest != digest) {
            vdc_inval_inode(VDC_INO(d->o.id, VDC_VMDISK_INFO));
            obj_touch(&d->o);
        }
        d->digest = digest;
        d->iscsi = iname;
        g_ptr_array_add(fresh, d);
    }
    for (size_t i = 0; i < n_old; i++) {
        if (!vm->disks[i])
            continue;
        inval_disks_dir(vm, vm->disks[i]->fname);
        vmdisk_free(vm->disks[i]);
        listing_changed = true;
    }
    g_free(vm->disks);
    if (fresh->len) {
        g_ptr_array_add(fresh, NULL);
        vm->disks = (struct vdc_vmdisk **)g_ptr_array_free(fresh, FALSE);
    } else {
        vm->disks = NULL;
        g_ptr_array_free(fresh, TRUE);
    }
    g_strfreev(vm->iscsi_disks);
    vm->iscsi_disks = iscsi;
    if (listing_changed)
        inval_disks_dir(vm, NULL);
}

void vmdisks_free(struct vdc_vm *vm)
{
    for (size_t i = 0; vm->disks && vm->disks[i]; i++)
        vmdisk_free(vm->disks[i]);
    g_clear_pointer(&vm->disks, g_free);
}

/* Splits "<iqn>/<lun>": the IQN's length and the LUN number.  False when
 * @name is not of that shape. */
static bool split_iscsi(const char *name, size_t *iqn_len, unsigned *lun)
{
    const char *slash = strrchr(name, '/');
    if (!slash || slash == name || !g_ascii_isdigit(slash[1]))
        return false;
    char *end;
    guint64 v = g_ascii_strtoull(slash + 1, &end, 10);
    if (*end || v > G_MAXUINT)
        return false;
    *iqn_len = (size_t)(slash - name);
    *lun = (unsigned)v;
    return true;
}

static bool lun_listed(const GArray *luns, unsigned lun)
{
    for (guint i = 0; i < luns->len; i++)
        if (g_array_index(luns, unsigned, i) == lun)
            return true;
    return false;
}

void vmdisks_array_changed(const struct vdc_array *a, const GArray *luns)
{
    if (luns && luns->len == 0)
        return;
    size_t tlen = strlen(a->target);
    for (guint h = 0; h < vdc_model.hosts->len; h++) {
        GHashTableIter it;
        gpointer v;
        g_hash_table_iter_init(&it, host_at(h)->vms);
        while (g_hash_table_iter_next(&it, NULL, &v)) {
            struct vdc_vm *vm = v;
            if (!vm->iscsi_disks)
                continue; /* most VMs: one pointer looked at */
            for (size_t i = 0; vm->disks && vm->disks[i]; i++) {
                struct vdc_vmdisk *d = vm->disks[i];
                size_t iqn_len;
                unsigned lun;
                if (!d->iscsi || !split_iscsi(d->iscsi, &iqn_len, &lun) || iqn_len != tlen ||
                    strncmp(d->iscsi, a->target, tlen) != 0 || (luns && !lun_listed(luns, lun)))
                    continue;
                vdc_inval_inode(VDC_INO(d->o.id, VDC_VMDISK_INFO));
                obj_touch(&d->o);
            }
        }
    }
}

struct vdc_vmdisk *vdc_vmdisk_find(const struct vdc_vm *vm, const char *fname)
{
    for (size_t i = 0; vm->disks && vm->disks[i]; i++)
        if (strcmp(vm->disks[i]->fname, fname) == 0)
            return vm->disks[i];
    return NULL;
}

/* --- info.json ------------------------------------------------------- */

/* The disk as the VM's status.json shows it (a new reference), or NULL. */
static json_t *disk_in_status(const struct vdc_vmdisk *d)
{
    GBytes *text = vdc_ztext_unpack(d->vm->status_json);
    gsize len;
    const char *p = g_bytes_get_data(text, &len);
    json_t *status = json_loadb(p, len, 0, NULL);
    g_bytes_unref(text);
    json_t *found = NULL, *disk;
    size_t i;
    json_array_foreach(json_object_get(status, "disks"), i, disk) {
        const char *target = json_string_value(json_object_get(disk, "target"));
        g_autofree char *fname = target ? vdc_name_encode(target) : NULL;
        if (fname && strcmp(fname, d->fname) == 0) {
            found = json_incref(disk);
            break;
        }
    }
    json_decref(status);
    return found;
}

/* status.json's source of a disk with its type first (JSON null stays). */
static json_t *typed_source(json_t *src)
{
    if (!json_is_object(src))
        return json_null();
    const char *type = json_object_get(src, "file")       ? "file"
                       : json_object_get(src, "dev")      ? "block"
                       : json_object_get(src, "pool")     ? "volume"
                       : json_object_get(src, "protocol") ? "network"
                                                          : NULL;
    json_t *o = json_object();
    json_object_set_new(o, "type", vdc_json_text(type));
    json_object_update(o, src);
    return o;
}

static struct vdc_array *array_with_target(const char *iqn, size_t len)
{
    for (guint i = 0; i < vdc_model.arrays->len; i++) {
        struct vdc_array *a = g_ptr_array_index(vdc_model.arrays, i);
        if (strlen(a->target) == len && strncmp(a->target, iqn, len) == 0)
            return a;
    }
    return NULL;
}

static struct vdc_lun *lun_of(struct vdc_array *a, unsigned lun)
{
    char key[16];
    g_snprintf(key, sizeof key, "%u", lun);
    struct vdc_lun *l = g_hash_table_lookup(a->luns, key);
    return l ? l : g_hash_table_lookup(a->snapshots, key); /* a clone can be a disk */
}

/* The physical side: the array, the LUN and its facts, read now. */
static void add_array_part(json_t *o, const struct vdc_vmdisk *d)
{
    size_t iqn_len = 0;
    unsigned lun = 0;
    struct vdc_array *a = d->iscsi && split_iscsi(d->iscsi, &iqn_len, &lun)
                              ? array_with_target(d->iscsi, iqn_len)
                              : NULL;
    struct vdc_lun *l = a && a->ever_connected ? lun_of(a, lun) : NULL;
    json_object_set_new(o, "array", a ? vdc_json_text(a->name) : json_null());
    json_object_set_new(o, "lun", a ? json_integer(lun) : json_null());
    json_object_set_new(o, "lun_info", l ? vdc_lun_info_json(l) : json_null());
    json_object_set_new(o, "array_connected", a ? json_boolean(a->connected) : json_null());
    json_object_set_new(o, "array_error", a ? vdc_json_text(a->error) : json_null());
}

/* @key of @o (a new reference), JSON null when absent. */
static json_t *field_of(json_t *o, const char *key)
{
    json_t *v = o ? json_object_get(o, key) : NULL;
    return v ? json_incref(v) : json_null();
}

GBytes *vdc_vmdisk_info(const struct vdc_vmdisk *d)
{
    json_t *shown = disk_in_status(d);
    json_t *o = json_object();
    g_autofree char *target = vdc_name_decode(d->fname);
    json_object_set_new(o, "target", vdc_json_text(target ? target : d->fname));
    json_object_set_new(o, "bus", field_of(shown, "bus"));
    json_object_set_new(o, "device", field_of(shown, "device"));
    json_object_set_new(o, "source", typed_source(shown ? json_object_get(shown, "source") : NULL));
    json_decref(shown);
    add_array_part(o, d);
    return vdc_json_file(o);
}
