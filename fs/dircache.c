/* dircache.c — recently read directory listings, see dircache.h. */
#include "dircache.h"

#include <errno.h>
#include <sys/stat.h>

#include "tree.h"

/* Few directories are paged through at once; a crawl touches each one
 * once.  Beyond this many, the oldest half is forgotten. */
#define DIRCACHE_MAX 64

struct entry {
    struct vdc_listing l; /* first: a listing is its entry */
    gint refs;
};

static struct {
    GMutex lock;
    GHashTable *by_ino; /* uint64 ino -> struct entry* (one reference) */
} dc;

static struct entry *entry_ref(struct entry *e)
{
    g_atomic_int_inc(&e->refs);
    return e;
}

static void entry_unref(struct entry *e)
{
    if (!g_atomic_int_dec_and_test(&e->refs))
        return;
    vdc_dirents_free(e->l.ents);
    g_free(e);
}

void vdc_listing_unref(struct vdc_listing *l)
{
    entry_unref((struct entry *)l);
}

static void table_init_locked(void)
{
    if (!dc.by_ino)
        dc.by_ino = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free,
                                          (GDestroyNotify)entry_unref);
}

static void make_room_locked(void)
{
    if (g_hash_table_size(dc.by_ino) < DIRCACHE_MAX)
        return;
    GHashTableIter it;
    guint n = 0;
    g_hash_table_iter_init(&it, dc.by_ino);
    while (g_hash_table_iter_next(&it, NULL, NULL))
        if (n++ % 2 == 0)
            g_hash_table_iter_remove(&it);
}

struct vdc_listing *vdc_dircache_get(uint64_t ino, int *err)
{
    struct entry *e = NULL;
    g_mutex_lock(&dc.lock);
    table_init_locked();
    e = g_hash_table_lookup(dc.by_ino, &ino);
    if (e)
        entry_ref(e);
    g_mutex_unlock(&dc.lock);
    if (e)
        return &e->l;

    struct vdc_node n;
    vdc_model_read_lock();
    int rc = vdc_tree_resolve(ino, &n);
    if (rc == 0 && vdc_tree_type(&n) != S_IFDIR)
        rc = -ENOTDIR;
    if (rc == 0) {
        e = g_new0(struct entry, 1);
        e->refs = 2; /* ours and the table's */
        e->l.ents = vdc_tree_list(&n);
        /* Inserted under the model lock: an invalidation (made under the
         * write lock) cannot slip in between building and caching. */
        g_mutex_lock(&dc.lock);
        make_room_locked();
        uint64_t *key = g_new(uint64_t, 1);
        *key = ino;
        g_hash_table_replace(dc.by_ino, key, e);
        g_mutex_unlock(&dc.lock);
    }
    vdc_model_read_unlock();
    if (rc < 0) {
        *err = -rc;
        return NULL;
    }
    return &e->l;
}

void vdc_dircache_drop(uint64_t ino)
{
    g_mutex_lock(&dc.lock);
    if (dc.by_ino)
        g_hash_table_remove(dc.by_ino, &ino);
    g_mutex_unlock(&dc.lock);
}

void vdc_dircache_clear(void)
{
    g_mutex_lock(&dc.lock);
    if (dc.by_ino)
        g_hash_table_destroy(dc.by_ino);
    dc.by_ino = NULL;
    g_mutex_unlock(&dc.lock);
}
