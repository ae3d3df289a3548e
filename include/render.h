/* render.h — the JSON documents of the tree, built with jansson.
 *
 * Each function returns a new GBytes (caller owns it) holding one JSON
 * document, pretty-printed, ending in a newline.  They only read their
 * arguments; callers hold the model lock.
 */
#ifndef VDCFS_RENDER_H
#define VDCFS_RENDER_H

#include <glib.h>
#include <jansson.h>

#include "model.h"

/* A JSON string for @s; JSON null for NULL.  Names come from hypervisors
 * and may be any bytes: invalid UTF-8 is replaced (U+FFFD) rather than
 * the key silently dropped, as jansson would do. */
json_t *vdc_json_text(const char *s);

/* @doc (reference stolen) as the content of a file: indented, one
 * trailing newline. */
GBytes *vdc_json_file(json_t *doc);

GBytes *vdc_render_host_info(const struct vdc_host *h);
/* status.json of a VM on @host, in @state, from the facts the host gave. */
GBytes *vdc_render_vm_status(const struct hv_vm *facts, const char *host,
                             enum vdc_vm_state state);
/* @status (a status.json) with its "state" replaced: for state changes
 * that come without new facts (the host went away). */
GBytes *vdc_render_vm_status_state(GBytes *status, enum vdc_vm_state state);
GBytes *vdc_render_hpool_info(const struct vdc_hpool *p);
GBytes *vdc_render_volume(const struct hv_volume *v);
/* The cluster view of the pool named @raw_name across all hosts. */
GBytes *vdc_render_cpool_info(const char *raw_name, GPtrArray *hosts);

#endif
