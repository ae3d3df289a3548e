/* scratch.h — temporary files in VM directories.
 *
 * Editors and rsync save by writing a temporary file next to the target
 * and renaming it over the target (vim's 4913 probe, sed -i's "sedXXXXXX",
 * rsync's ".spec.json.XXXXXX").  vdcfs keeps such files in memory, as
 * plain files that can be created, written, chmod'ed, renamed and
 * removed; they are never taken for specs until renamed to spec.json,
 * and they do not survive a restart (nothing accepted is in them).
 *
 * A scratch file is a model object (its inode is VDC_INO(id, 0)).  Its
 * inode outlives its name: after unlink, or after being renamed over
 * spec.json (then it stands for the spec: "alias"), it stays resolvable
 * until the kernel forgets it, as FUSE requires; lookups are counted for
 * that.
 *
 * Functions marked "lock held" need the model's read lock; the others
 * take the write lock themselves.  Errors are negative errno values.
 */
#ifndef VDCFS_SCRATCH_H
#define VDCFS_SCRATCH_H

#include <glib.h>
#include <sys/types.h>

#include "model.h"

/* Limits: a spec is small; these are far beyond any. */
#define VDC_SCRATCH_MAX_BYTES (1u << 20)
#define VDC_SCRATCH_MAX_PER_DIR 64

struct vdc_scratch {
    struct vdc_obj o;
    uint64_t dir;      /* object id of the VM directory */
    char *name;        /* NULL once unlinked or renamed away */
    char *key;         /* "dir/name" in vdc_model.scratch */
    GByteArray *data;
    mode_t mode;       /* permission bits */
    uint64_t nlookup;  /* the kernel's references */
    uint64_t alias;    /* inode it stands for since renamed over it, or 0 */
};

/* Lock held. */
struct vdc_scratch *vdc_scratch_find(uint64_t dir, const char *name);
/* Lock held: appends struct vdc_dirent of @dir's scratch files. */
void vdc_scratch_list(uint64_t dir, GArray *out);
/* Lock held: the content, a new reference. */
GBytes *vdc_scratch_content(const struct vdc_scratch *s);

/* Creates an empty file @name in @dir; *ino is its inode. */
int vdc_scratch_create(uint64_t dir, const char *name, mode_t mode, uint64_t *ino);
int vdc_scratch_write(uint64_t ino, const char *buf, size_t size, off_t off);
int vdc_scratch_truncate(uint64_t ino, off_t size);
int vdc_scratch_chmod(uint64_t ino, mode_t mode);
/* A copy of the content, or NULL when the inode is not a live scratch file. */
GBytes *vdc_scratch_take(uint64_t dir, const char *name, uint64_t *ino);
int vdc_scratch_unlink(uint64_t dir, const char *name);
/* Renames within @dir, replacing a scratch file called @to. */
int vdc_scratch_rename(uint64_t dir, const char *from, const char *to);
/* The scratch file @ino was renamed over the file @target: its name goes,
 * its inode stands for @target from now on. */
void vdc_scratch_renamed_over(uint64_t ino, uint64_t target);
/* Every scratch file of @dir goes (the directory was removed). */
void vdc_scratch_drop_dir(uint64_t dir);

/* Lookup counting: the kernel got / forgot references to @ino.  No-ops
 * for inodes that are not scratch files. */
void vdc_scratch_ref(uint64_t ino);
void vdc_scratch_forget(uint64_t ino, uint64_t n);

#endif
