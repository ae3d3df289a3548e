/* dircache.h — directory listings, cached between readdir calls.
 *
 * vdcfs answers OPENDIR with ENOSYS, so the kernel opens directories
 * without asking (and caches their listings itself): a crawl of 10,000
 * VM directories costs no OPENDIR/RELEASEDIR round trips.  Readdir then
 * has no per-open state: each call asks for the entries from an offset.
 * This cache keeps the sorted listing of recently read directories so
 * that paging through a large one (vms/ with 10,000 entries) does not
 * rebuild it for every page.  A listing is dropped whenever the model
 * invalidates its directory (inval.h), so it is never staler than the
 * kernel's own cache.
 */
#ifndef VDCFS_DIRCACHE_H
#define VDCFS_DIRCACHE_H

#include <glib.h>
#include <stdint.h>

struct vdc_listing {
    GArray *ents; /* of struct vdc_dirent (tree.h), sorted by name */
};

/* Returns the listing of directory @ino, a new reference (free with
 * vdc_listing_unref), or NULL with *err = ENOENT or ENOTDIR.  Takes the
 * model read lock itself. */
struct vdc_listing *vdc_dircache_get(uint64_t ino, int *err);
void vdc_listing_unref(struct vdc_listing *l);

/* Forgets the listing of @ino (called for every inode invalidation). */
void vdc_dircache_drop(uint64_t ino);
/* Forgets everything (shutdown). */
void vdc_dircache_clear(void);

#endif
