/* scratch.c — temporary files in VM directories, see scratch.h. */
#include "scratch.h"

#include <errno.h>
#include <string.h>

#include "inval.h"
#include "model_priv.h"
#include "tree.h"

static char *key_of(uint64_t dir, const char *name)
{
    return g_strdup_printf("%" G_GUINT64_FORMAT "/%s", dir, name);
}

struct vdc_scratch *vdc_scratch_find(uint64_t dir, const char *name)
{
    g_autofree char *key = key_of(dir, name);
    return g_hash_table_lookup(vdc_model.scratch, key);
}

/* Lock held: the scratch object of inode @ino, named or not. */
static struct vdc_scratch *scratch_at(uint64_t ino)
{
    if (VDC_INO_SUB(ino) != 0)
        return NULL;
    struct vdc_obj *o = vdc_model_find(VDC_INO_ID(ino));
    return o && o->type == VDC_OBJ_SCRATCH ? (struct vdc_scratch *)o : NULL;
}

void vdc_scratch_list(uint64_t dir, GArray *out)
{
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, vdc_model.scratch);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        struct vdc_scratch *s = v;
        if (s->dir == dir)
            vdc_dirents_add(out, s->name, vdc_node_of(VDC_N_SCRATCH, &s->o, 0));
    }
}

GBytes *vdc_scratch_content(const struct vdc_scratch *s)
{
    return g_bytes_new(s->data->data, s->data->len);
}

static unsigned count_in(uint64_t dir)
{
    unsigned n = 0;
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, vdc_model.scratch);
    while (g_hash_table_iter_next(&it, NULL, &v))
        n += ((struct vdc_scratch *)v)->dir == dir;
    return n;
}

static void dir_changed(uint64_t dir, const char *name)
{
    vdc_inval_entry(VDC_INO(dir, 0), name);
    vdc_inval_inode(VDC_INO(dir, 0));
    struct vdc_obj *o = vdc_model_find(dir);
    if (o)
        obj_touch(o);
}

int vdc_scratch_create(uint64_t dir, const char *name, mode_t mode, uint64_t *ino)
{
    if (strlen(name) > 255)
        return -ENAMETOOLONG;
    write_lock();
    int rc = 0;
    if (vdc_scratch_find(dir, name))
        rc = -EEXIST;
    else if (count_in(dir) >= VDC_SCRATCH_MAX_PER_DIR)
        rc = -ENOSPC;
    if (rc == 0) {
        struct vdc_scratch *s = g_new0(struct vdc_scratch, 1);
        obj_register(&s->o, VDC_OBJ_SCRATCH);
        s->dir = dir;
        s->name = g_strdup(name);
        s->key = key_of(dir, name);
        s->data = g_byte_array_new();
        s->mode = mode & 07777;
        g_hash_table_insert(vdc_model.scratch, s->key, s);
        *ino = VDC_INO(s->o.id, 0);
        dir_changed(dir, name);
    }
    write_unlock();
    return rc;
}

/* Frees @s once it has no name and the kernel holds no reference. */
static void maybe_free(struct vdc_scratch *s)
{
    if (s->name || s->nlookup > 0)
        return;
    obj_unregister(&s->o);
    g_byte_array_unref(s->data);
    g_free(s->key);
    g_free(s);
}

/* Takes @s's name away (unlinked, renamed over another file, dir gone). */
static void unname(struct vdc_scratch *s)
{
    g_hash_table_remove(vdc_model.scratch, s->key);
    dir_changed(s->dir, s->name);
    g_clear_pointer(&s->name, g_free);
    maybe_free(s);
}

int vdc_scratch_write(uint64_t ino, const char *buf, size_t size, off_t off)
{
    if (off < 0 || (uint64_t)off + size > VDC_SCRATCH_MAX_BYTES)
        return -EFBIG;
    write_lock();
    struct vdc_scratch *s = scratch_at(ino);
    int rc = -ENOENT;
    if (s && !s->alias) {
        guint old = s->data->len;
        if (old < (size_t)off + size) {
            g_byte_array_set_size(s->data, (guint)(off + size));
            if ((guint)off > old) /* a write past the end leaves a hole of zeros */
                memset(s->data->data + old, 0, (guint)off - old);
        }
        memcpy(s->data->data + off, buf, size);
        obj_touch(&s->o);
        rc = (int)size;
    }
    write_unlock();
    return rc;
}

int vdc_scratch_truncate(uint64_t ino, off_t size)
{
    if (size < 0 || (uint64_t)size > VDC_SCRATCH_MAX_BYTES)
        return -EFBIG;
    write_lock();
    struct vdc_scratch *s = scratch_at(ino);
    int rc = -ENOENT;
    if (s && !s->alias) {
        guint old = s->data->len;
        g_byte_array_set_size(s->data, (guint)size);
        if ((guint)size > old)
            memset(s->data->data + old, 0, (guint)size - old);
        obj_touch(&s->o);
        rc = 0;
    }
    write_unlock();
    return rc;
}

int vdc_scratch_chmod(uint64_t ino, mode_t mode)
{
    write_lock();
    struct vdc_scratch *s = scratch_at(ino);
    if (s)
        s->mode = mode & 07777;
    write_unlock();
    return s ? 0 : -ENOENT;
}

GBytes *vdc_scratch_take(uint64_t dir, const char *name, uint64_t *ino)
{
    vdc_model_read_lock();
    struct vdc_scratch *s = vdc_scratch_find(dir, name);
    GBytes *b = s ? vdc_scratch_content(s) : NULL;
    if (s && ino)
        *ino = VDC_INO(s->o.id, 0);
    vdc_model_read_unlock();
    return b;
}

int vdc_scratch_unlink(uint64_t dir, const char *name)
{
    write_lock();
    struct vdc_scratch *s = vdc_scratch_find(dir, name);
    if (s)
        unname(s);
    write_unlock();
    return s ? 0 : -ENOENT;
}

int vdc_scratch_rename(uint64_t dir, const char *from, const char *to)
{
    if (strlen(to) > 255)
        return -ENAMETOOLONG;
    write_lock();
    struct vdc_scratch *s = vdc_scratch_find(dir, from);
    int rc = s ? 0 : -ENOENT;
    if (s && strcmp(from, to) != 0) {
        struct vdc_scratch *old = vdc_scratch_find(dir, to);
        if (old)
            unname(old);
        g_hash_table_remove(vdc_model.scratch, s->key);
        dir_changed(dir, from);
        g_free(s->name);
        g_free(s->key);
        s->name = g_strdup(to);
        s->key = key_of(dir, to);
        g_hash_table_insert(vdc_model.scratch, s->key, s);
        dir_changed(dir, to);
    }
    write_unlock();
    return rc;
}

void vdc_scratch_renamed_over(uint64_t ino, uint64_t target)
{
    write_lock();
    struct vdc_scratch *s = scratch_at(ino);
    if (s) {
        s->alias = target;
        g_byte_array_set_size(s->data, 0);
        if (s->name) {
            /* The kernel now has the target's name pointing at this
             * inode; make it look the target up again. */
            unname(s);
        }
    }
    write_unlock();
}

void vdc_scratch_drop_dir(uint64_t dir)
{
    write_lock();
    GPtrArray *gone = g_ptr_array_new();
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, vdc_model.scratch);
    while (g_hash_table_iter_next(&it, NULL, &v))
        if (((struct vdc_scratch *)v)->dir == dir)
            g_ptr_array_add(gone, v);
    for (guint i = 0; i < gone->len; i++)
        unname(g_ptr_array_index(gone, i));
    g_ptr_array_free(gone, TRUE);
    write_unlock();
}

void vdc_scratch_ref(uint64_t ino)
{
    write_lock();
    struct vdc_scratch *s = scratch_at(ino);
    if (s)
        s->nlookup++;
    write_unlock();
}

void vdc_scratch_forget(uint64_t ino, uint64_t n)
{
    if (VDC_INO_SUB(ino) != 0)
        return;
    write_lock();
    struct vdc_scratch *s = scratch_at(ino);
    if (s) {
        s->nlookup = n > s->nlookup ? 0 : s->nlookup - n;
        maybe_free(s);
    }
    write_unlock();
}

void scratch_free_all(void)
{
    GHashTableIter it;
    gpointer v;
    GPtrArray *all = g_ptr_array_new();
    g_hash_table_iter_init(&it, vdc_model.objs);
    while (g_hash_table_iter_next(&it, NULL, &v))
        if (((struct vdc_obj *)v)->type == VDC_OBJ_SCRATCH)
            g_ptr_array_add(all, v);
    g_hash_table_remove_all(vdc_model.scratch);
    for (guint i = 0; i < all->len; i++) {
        struct vdc_scratch *s = g_ptr_array_index(all, i);
        g_clear_pointer(&s->name, g_free);
        s->nlookup = 0;
        maybe_free(s);
    }
    g_ptr_array_free(all, TRUE);
}
