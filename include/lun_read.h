/* lun_read.h — reading snapshot images: FUSE reads and lseek(SEEK_DATA /
 * SEEK_HOLE) of vms/<vm>/snapshots/<snap>/disks/<target>.img answered
 * by the array over iSCSI, as an initiator reads it.
 *
 * One asynchronous reader (iscsi.h) per configured array, started with
 * the daemon; it logs in on the first read.  Requests are queued and
 * answered from the reader's thread, so the FUSE thread never waits on
 * an array; a dead array fails them with EIO after the array timeout.
 * CHAP credentials stay inside the readers.
 */
#ifndef VDCFS_LUN_READ_H
#define VDCFS_LUN_READ_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <stdint.h>

#include "config.h"

void vdc_lun_read_start(const struct vdc_config *cfg);
/* Fails what is pending, stops the readers. */
void vdc_lun_read_stop(void);

/* Replies to @req with up to @size bytes at @off of LUN @lun of array
 * @array (its model index); @file_size bounds the read (the image's
 * size as shown). */
void vdc_lun_read(fuse_req_t req, unsigned array, unsigned lun, size_t size, off_t off,
                  uint64_t file_size);
/* Replies to @req with the offset lseek(@off, @whence) gives. */
void vdc_lun_lseek(fuse_req_t req, unsigned array, unsigned lun, off_t off, int whence,
                   uint64_t file_size);

#endif
