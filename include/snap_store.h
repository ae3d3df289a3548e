/* snap_store.h — VM snapshot records in the state directory.
 *
 *   <state_dir>/snapshots/<uuid>/<name>.json   one record (snapshot_model.h)
 *
 * <name> is the snapshot's name as vdc_name_encode() gives it.  A record
 * with "pending": true is an intent: written before a snapshot is made,
 * so that a restart knows what a crash interrupted (resume the VM,
 * delete what the array made).  Records are replaced atomically (GLib's
 * consistent, durable file replace, then the directory is synced), so a
 * crash leaves the old or the new record.  Files whose names do not end
 * in ".json" are leftovers of an interrupted replace and are removed when
 * listed.
 *
 * Ownership: returned records belong to the caller.  Errors name the
 * path and the reason.  Calls for different VMs may run at once.
 */
#ifndef VDCFS_SNAP_STORE_H
#define VDCFS_SNAP_STORE_H

#include <glib.h>
#include <jansson.h>
#include <stdbool.h>

/* @record must have "uuid" and "name". */
bool vdc_snap_store_put(const char *state_dir, json_t *record, GError **err);
/* No error when it is already gone. */
bool vdc_snap_store_remove(const char *state_dir, const char *uuid, const char *name,
                           GError **err);
/* Every record (a GPtrArray of json_t*, freeing them), skipping with a
 * warning files that are not records. */
GPtrArray *vdc_snap_store_list(const char *state_dir, GError **err);

#endif
