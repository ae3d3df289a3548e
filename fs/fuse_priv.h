/* fuse_priv.h — what fuse_ll.c (reads) and fuse_write.c (writes) share. */
#ifndef VDCFS_FUSE_PRIV_H
#define VDCFS_FUSE_PRIV_H

#include <sys/stat.h>

#include "fuse_ll.h"
#include "tree.h"

/* Model read lock held. */
void fill_attr(const struct vdc_node *node, struct stat *st);
void fill_entry(const struct vdc_node *n, struct fuse_entry_param *e);
/* The entry of inode @ino, counted as a reference the kernel holds (the
 * caller must reply with it).  Takes the read lock.  0 or -ENOENT. */
int vdc_fuse_entry_of(uint64_t ino, struct fuse_entry_param *e);

void vdc_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                 struct fuse_file_info *fi);
void vdc_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev);
void vdc_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void vdc_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void vdc_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void vdc_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name);
void vdc_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                const char *newname, unsigned int flags);
void vdc_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname);
void vdc_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                struct fuse_file_info *fi);
void vdc_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
               struct fuse_file_info *fi);
void vdc_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void vdc_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);

#endif
