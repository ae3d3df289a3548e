/* fuse_ll.h — the FUSE low-level operations of vdcfs.
 *
 * The low-level API lets us hand the kernel stable inode numbers, cache
 * entries, attributes, listings and pages for a long time, and invalidate
 * exactly what changed (inval.h).  Every operation is answered from the
 * model under its read lock; none waits on a host.
 *
 * OPEN and OPENDIR are answered with ENOSYS: the kernel then opens files
 * and directories without asking us, so a warm crawl of the tree costs
 * no round trip at all (the difference between ~2x and ~1.1x of tmpfs,
 * docs/PERFORMANCE.md).  The price: no per-open state.  Reads serve the
 * current content; the kernel's page cache keeps it until we invalidate.
 */
#ifndef VDCFS_FUSE_LL_H
#define VDCFS_FUSE_LL_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

/* How long the kernel may keep what we tell it without asking again.
 * Changes are pushed with invalidations, so this is long. */
#define VDC_CACHE_SECONDS 86400.0

extern const struct fuse_lowlevel_ops vdc_fuse_ops;

/* Files that change the datacenter become writable by group @gid too
 * (the config's admin_group, with -o allow_other).  Before mounting. */
void vdc_fuse_set_admin_gid(gid_t gid);

/* Replies to @req with the entry of inode @ino (ENOENT when it is gone).
 * Any thread. */
void vdc_fuse_reply_entry(fuse_req_t req, uint64_t ino);

/* The events file (events_file.c); stateless, like every file here. */
void vdc_events_file_init(struct fuse_session *se);
void vdc_events_file_shutdown(void);
void vdc_events_file_read(fuse_req_t req, size_t size, off_t off);
void vdc_events_file_poll(fuse_req_t req, struct fuse_pollhandle *ph);

#endif
