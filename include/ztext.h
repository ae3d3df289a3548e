/* ztext.h — compressed text for documents the model keeps but rarely serves.
 *
 * Every VM's domain XML and status.json must stay in memory (reads never
 * wait on a host), and at 10,000 VMs they are the largest things the
 * daemon holds.  They are kept deflated with a preset dictionary of
 * libvirt domain XML and of our status.json (3-4x smaller) and inflated
 * when read; a read is a page-cache miss, so that is rare.
 *
 * A packed text is a GBytes: its uncompressed length (4 bytes) then the
 * deflate stream.  Packing is deterministic, so two packed texts are equal
 * exactly when the texts are (g_bytes_equal works for change detection).
 */
#ifndef VDCFS_ZTEXT_H
#define VDCFS_ZTEXT_H

#include <glib.h>

/* Packs @len (< 4 GiB) bytes of @text. */
GBytes *vdc_ztext_pack(const char *text, size_t len);
/* The text again, a new GBytes; an empty one if @packed is damaged. */
GBytes *vdc_ztext_unpack(GBytes *packed);
/* The length of the text, without unpacking it. */
size_t vdc_ztext_size(GBytes *packed);

#endif
