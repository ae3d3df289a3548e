/* lun_read.c — snapshot images read over iSCSI, see lun_read.h. */
#include "lun_read.h"

#include <errno.h>
#include <unistd.h>

#include "array_runner.h"
#include "iscsi.h"

static GPtrArray *readers; /* of struct vdc_iscsi_reader*, by array index */

void vdc_lun_read_start(const struct vdc_config *cfg)
{
    readers = g_ptr_array_new();
    for (guint i = 0; i < cfg->arrays->len; i++) {
        const struct vdc_array_config *a = g_ptr_array_index(cfg->arrays, i);
        struct vdc_iscsi_target t = {.portal = a->portal,
                                     .iqn = a->target,
                                     .chap_user = a->chap_user,
                                     .chap_password = a->chap_password};
        g_ptr_array_add(readers, vdc_iscsi_reader_start(&t, VDC_ARRAY_TIMEOUT_SECONDS));
    }
}

void vdc_lun_read_stop(void)
{
    for (guint i = 0; readers && i < readers->len; i++)
        vdc_iscsi_reader_stop(g_ptr_array_index(readers, i));
    g_clear_pointer(&readers, g_ptr_array_unref);
}

static struct vdc_iscsi_reader *reader_of(unsigned array)
{
    return readers && array < readers->len ? g_ptr_array_index(readers, array) : NULL;
}

static void read_done(void *ctx, int err, const void *data, size_t len)
{
    fuse_req_t req = ctx;
    if (err)
        fuse_reply_err(req, -err);
    else
        fuse_reply_buf(req, data, len);
}

void vdc_lun_read(fuse_req_t req, unsigned array, unsigned lun, size_t size, off_t off,
                  uint64_t file_size)
{
    struct vdc_iscsi_reader *r = reader_of(array);
    if (!r) {
        fuse_reply_err(req, EIO);
        return;
    }
    if (off < 0 || (uint64_t)off >= file_size) {
        fuse_reply_buf(req, NULL, 0);
        return;
    }
    size = (size_t)MIN((uint64_t)size, file_size - (uint64_t)off);
    vdc_iscsi_reader_read(r, lun, (uint64_t)off, size, read_done, req);
}

static void seek_done(void *ctx, int err, uint64_t result)
{
    fuse_req_t req = ctx;
    if (err)
        fuse_reply_err(req, -err);
    else
        fuse_reply_lseek(req, (off_t)result);
}

void vdc_lun_lseek(fuse_req_t req, unsigned array, unsigned lun, off_t off, int whence,
                   uint64_t file_size)
{
    struct vdc_iscsi_reader *r = reader_of(array);
    if (whence != SEEK_DATA && whence != SEEK_HOLE) {
        fuse_reply_err(req, EINVAL); /* the kernel answers the others itself */
        return;
    }
    if (off < 0 || (uint64_t)off >= file_size) {
        fuse_reply_err(req, ENXIO);
        return;
    }
    if (!r) {
        fuse_reply_err(req, EIO);
        return;
    }
    vdc_iscsi_reader_seek(r, lun, (uint64_t)off, whence, seek_done, req);
}
