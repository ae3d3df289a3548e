/* inval.h — telling the kernel what changed.
 *
 * The FUSE layer lets the kernel cache entries, attributes, directory
 * listings and file pages for a long time; the model calls these whenever
 * it changes something, and a notifier thread sends the invalidations to
 * the kernel.  They never block: a FUSE notification may wait on kernel
 * locks held by a request that waits on the model lock, so it must not be
 * sent by a thread that holds that lock.  Before the session is set (or in
 * unit tests) they do nothing.
 */
#ifndef VDCFS_INVAL_H
#define VDCFS_INVAL_H

#include <stdint.h>

struct fuse_session;

void vdc_inval_start(struct fuse_session *se);
void vdc_inval_stop(void);

/* The directory entry @name in directory @parent (copied). */
void vdc_inval_entry(uint64_t parent, const char *name);
/* The attributes and cached content of @ino (for a directory: its listing). */
void vdc_inval_inode(uint64_t ino);

/* Number of invalidations sent (for /.vdcfs/metrics later; tests). */
uint64_t vdc_inval_sent(void);

#endif
