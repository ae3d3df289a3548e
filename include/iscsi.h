/* iscsi.h — vdcfs as an iSCSI initiator (libiscsi).
 *
 * Everything vdcfs knows about a LUN's data and its SCSI facts it learns
 * here, over the wire, as any initiator would: REPORT LUNS, INQUIRY and
 * its VPD pages, READ CAPACITY(16), GET LBA STATUS, READ(16).  The array
 * driver (array.h) is only the management side.
 *
 * Two ways in:
 *  - struct vdc_iscsi, a synchronous session for the array runner thread
 *    (inventory and facts).  Every call gives up after the session's
 *    timeout and then returns an error; the session is then dead (close
 *    it and log in again).
 *  - struct vdc_iscsi_reader, an asynchronous reader for the FUSE layer:
 *    its own thread and session; reads and hole lookups are queued from
 *    any thread and answered through a callback, with many commands in
 *    flight, so that streaming an image fills the link and no FUSE thread
 *    ever waits on the array.
 *
 * Ownership: out-parameters belong to the caller (vdc_lun_facts_free,
 * g_array_unref).  Error strings (*err) are g_malloc'd, one line, and never
 * contain the CHAP password.
 */
#ifndef VDCFS_ISCSI_H
#define VDCFS_ISCSI_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where a target is and how to log in.  Strings are copied by the
 * functions that take this struct. */
struct vdc_iscsi_target {
    const char *portal;        /* "host:port" or "host" (3260) */
    const char *iqn;           /* target name */
    const char *chap_user;     /* NULL: no CHAP */
    const char *chap_password;
    const char *initiator;     /* our IQN; NULL: a fixed vdcfs default */
};

enum vdc_media { VDC_MEDIA_UNKNOWN = 0, VDC_MEDIA_SSD, VDC_MEDIA_HDD };
const char *vdc_media_word(enum vdc_media m); /* "unknown", "ssd", "hdd" */

/* The facts of one LUN, as the LUN itself reports them. */
struct vdc_lun_facts {
    unsigned lun;
    unsigned peripheral_type;  /* INQUIRY: 0x00 direct access, 0x0c controller ... */
    uint64_t capacity;         /* bytes: (last LBA + 1) * block_size, READ CAPACITY(16) */
    uint32_t block_size;
    char *vendor, *product, *revision; /* INQUIRY, trailing blanks removed */
    char *serial;              /* VPD 0x80, NULL when absent */
    char *wwn;                 /* VPD 0x83: the best designator ("naa.<hex>",
                                * "eui.<hex>", else "t10.<text>"), NULL when none */
    bool thin_provisioned;     /* READ CAPACITY(16) LBPME */
    enum vdc_media media;      /* VPD 0xB1 rotation rate: 1 = ssd, >1 hdd */
    bool write_protected;      /* MODE SENSE WP bit; false when unknown */
    bool allocated_known;      /* whether the target answered GET LBA STATUS */
    uint64_t allocated;        /* bytes mapped, when allocated_known */
};

void vdc_lun_facts_free(struct vdc_lun_facts *f);

/* --- synchronous session (one thread at a time) ----------------------- */

struct vdc_iscsi;

/* Connects and logs in (normal session, with CHAP when given).  Every
 * later call on the session gives up after @timeout_s.  NULL and *err on
 * failure ("connection refused", "login failed: authentication"...). */
struct vdc_iscsi *vdc_iscsi_login(const struct vdc_iscsi_target *t, unsigned timeout_s,
                                  char **err);
/* Logs out (best effort, bounded by the timeout) and frees. */
void vdc_iscsi_logout(struct vdc_iscsi *s);

/* REPORT LUNS: every LUN number of the target, ascending (a GArray of
 * unsigned).  0 or -1. */
int vdc_iscsi_report_luns(struct vdc_iscsi *s, GArray **luns, char **err);

/* All of struct vdc_lun_facts for @lun.  Facts a target does not support
 * (a VPD page, GET LBA STATUS) are left at their "unknown" values, not
 * errors.  Walking GET LBA STATUS over the LUN for "allocated" costs a
 * command per run of extents.  0 or -1. */
int vdc_iscsi_lun_facts(struct vdc_iscsi *s, unsigned lun, struct vdc_lun_facts **out, char **err);

/* Reads @len bytes at byte @offset (both multiples of the block size)
 * into @buf.  0 or -1.  For tests and tools; the FUSE layer uses the
 * reader below. */
int vdc_iscsi_read(struct vdc_iscsi *s, unsigned lun, uint64_t offset, void *buf, size_t len,
                   char **err);

/* --- asynchronous reader ---------------------------------------------- */

struct vdc_iscsi_reader;

/* Starts a reader thread for target @t; it logs in lazily, on the first
 * request, and again after a failure.  Requests that cannot be answered
 * within @timeout_s fail with -EIO. */
struct vdc_iscsi_reader *vdc_iscsi_reader_start(const struct vdc_iscsi_target *t,
                                                unsigned timeout_s);
/* Fails every pending request with -ESHUTDOWN (callbacks run before this
 * returns), stops the thread, logs out and frees. */
void vdc_iscsi_reader_stop(struct vdc_iscsi_reader *r);

/* Called exactly once per request, on the reader's thread.  @err is 0 or
 * a negative errno (-EIO: the array failed or timed out, -EINVAL: bad
 * request).  @data/@len are valid only during the call.  A read that
 * starts at or past the end of the LUN completes with err 0, len 0; one
 * that runs past it is cut short. */
typedef void (*vdc_iscsi_read_cb)(void *ctx, int err, const void *data, size_t len);

/* Queues a read of @len bytes (any size; split into commands as needed,
 * several in flight) at any byte @offset of LUN @lun.  Never blocks on
 * the array. */
void vdc_iscsi_reader_read(struct vdc_iscsi_reader *r, unsigned lun, uint64_t offset, size_t len,
                           vdc_iscsi_read_cb cb, void *ctx);

/* Called exactly once per request on the reader's thread, with @err 0 and
 * the answer in @result, or a negative errno: -ENXIO when there is no data
 * (SEEK_DATA) at or after the offset, or the offset is at/past the end. */
typedef void (*vdc_iscsi_seek_cb)(void *ctx, int err, uint64_t result);

/* lseek(2)'s SEEK_DATA / SEEK_HOLE (@whence) on LUN @lun from byte
 * @offset, answered from GET LBA STATUS.  A target without GET LBA STATUS
 * is all data: SEEK_DATA returns @offset, SEEK_HOLE the LUN's size. */
void vdc_iscsi_reader_seek(struct vdc_iscsi_reader *r, unsigned lun, uint64_t offset, int whence,
                           vdc_iscsi_seek_cb cb, void *ctx);

#endif
