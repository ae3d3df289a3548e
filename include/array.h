/* array.h — the storage-array backend contract (the management side).
 *
 * An array driver is an ops table, like the hypervisor backend (hv.h).
 * It does what an array's own management interface does: list which LUNs
 * the target exports and what backs them, take a LUN snapshot, delete one,
 * revert a LUN to a snapshot, clone a LUN.  It never reads LUN data or
 * SCSI facts: those come over iSCSI through libiscsi (iscsi.h), as an
 * initiator sees them.  The reference driver, "tgt", manages a Linux tgtd:
 * LUNs are files in backing_dir; a snapshot is a copy-on-write clone of
 * the LUN's file (FICLONE; a sparse-aware copy where the filesystem has no
 * reflink) exported read-only as a new LUN with tgtadm.  A driver for a
 * commercial array's management API must fit the same table.
 *
 * Threading: one array runner thread owns a struct array_conn and is the
 * only caller of its ops; every op may block (tgtadm, copying) but must
 * give up after the timeout it was opened with.
 *
 * The array is the source of truth for what snapshots exist: list_luns
 * tells, for every LUN, whether it is a snapshot, of which LUN and with
 * which id, so that vdcfs rebuilds its view from the array after a restart.
 *
 * Ownership: structs returned through out-parameters belong to the caller
 * (array_lun_free; a GPtrArray from list_luns frees its elements itself).
 * Error strings (*err) are g_malloc'd, one line, never contain the CHAP
 * password.
 */
#ifndef VDCFS_ARRAY_H
#define VDCFS_ARRAY_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"

/* Snapshot and clone ids are chosen by vdcfs, never taken from users:
 * 1..64 bytes of [A-Za-z0-9_-].  Drivers refuse anything else (EINVAL). */
bool array_id_valid(const char *id);

enum array_lun_role {
    ARRAY_LUN_DISK = 0,    /* an ordinary LUN */
    ARRAY_LUN_SNAPSHOT,    /* a read-only point-in-time image of source_lun */
    ARRAY_LUN_CLONE,       /* a writable copy of source_lun */
    ARRAY_LUN_CONTROLLER,  /* the target's controller LUN (tgt: LUN 0) */
};

/* What the array's management side says about one exported LUN. */
struct array_lun {
    unsigned lun;
    enum array_lun_role role;
    char *backing;        /* tgt: the backing file's path; NULL for the controller */
    bool readonly;
    uint64_t size;        /* bytes, as the management side knows it */
    unsigned source_lun;  /* SNAPSHOT, CLONE: the LUN it was taken from */
    char *id;             /* SNAPSHOT, CLONE: the id given when it was made */
    bool cow;             /* SNAPSHOT, CLONE: made copy-on-write (no data copied) */
};

struct array_conn; /* a driver's handle on one array, opaque */

struct array_ops {
    const char *driver; /* the config's "driver" */

    /* Checks that the array answers and that the target exists; recovers
     * what a crash may have left (tgt: snapshot files that are not
     * exported are exported again read-only; half-written temporaries
     * are removed).  @timeout_s bounds every later call too.  Returns NULL
     * with *err on failure. */
    struct array_conn *(*open)(const struct vdc_array_config *cfg, unsigned timeout_s,
                               char **err);
    void (*close)(struct array_conn *c);

    /* Every LUN the target exports, by LUN number.  0 or -1. */
    int (*list_luns)(struct array_conn *c, GPtrArray **out /* of struct array_lun* */,
                     char **err);
    /* The array's raw space: *capacity and *allocation in bytes
     * (tgt: the backing_dir filesystem's size and what its files use). */
    int (*space)(struct array_conn *c, uint64_t *capacity, uint64_t *allocation, char **err);

    /* Takes a snapshot of @lun with id @id and exports it read-only as a
     * new LUN (*out describes it).  The snapshot is consistent as of the
     * call: data written to @lun later does not change it.  On failure
     * nothing of it remains.  0 or -1. */
    int (*snapshot)(struct array_conn *c, unsigned lun, const char *id, struct array_lun **out,
                    char **err);
    /* Unexports and deletes snapshot (or clone) LUN @snap_lun.  A LUN that
     * is not a snapshot or clone is refused.  0 or -1. */
    int (*delete_snapshot)(struct array_conn *c, unsigned snap_lun, char **err);
    /* Makes @lun's content that of its snapshot @snap_lun again, in place
     * (the LUN keeps its number and identity).  The caller has stopped
     * every writer of @lun.  0 or -1. */
    int (*revert)(struct array_conn *c, unsigned lun, unsigned snap_lun, char **err);
    /* A writable copy of @lun (copy-on-write where possible) with id @id,
     * exported as a new LUN.  0 or -1. */
    int (*clone)(struct array_conn *c, unsigned lun, const char *id, struct array_lun **out,
                 char **err);
};

extern const struct array_ops array_tgt_ops;

/* The driver called @name ("tgt"), or NULL. */
const struct array_ops *array_driver(const char *name);

void array_lun_free(struct array_lun *l);

#endif
