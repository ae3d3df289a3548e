/* fuse_ll.h — the FUSE low-level operations of vdcfs.
 *
 * The low-level API lets us hand the kernel stable inode numbers, cache
 * entries, attributes, listings and pages for a long time, and invalidate
 * exactly what changed (inval.h).  Every operation is answered from the
 * model under its read lock; none waits on a host.
 */
#ifndef VDCFS_FUSE_LL_H
#define VDCFS_FUSE_LL_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

/* How long the kernel may keep what we tell it without asking again.
 * Changes are pushed with invalidations, so this is long. */
#define VDC_CACHE_SECONDS 86400.0

extern const struct fuse_lowlevel_ops vdc_fuse_ops;

/* Fills @st for @node.  Model read lock held. */
struct vdc_node;
void vdc_fuse_fill_attr(const struct vdc_node *node, struct stat *st);

/* The events file (events_file.c). */
void vdc_events_file_init(struct fuse_session *se);
void vdc_events_file_open(fuse_req_t req, struct fuse_file_info *fi);
void vdc_events_file_read(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi);
void vdc_events_file_poll(fuse_req_t req, struct fuse_file_info *fi, struct fuse_pollhandle *ph);
void vdc_events_file_release(fuse_req_t req, struct fuse_file_info *fi);

#endif
