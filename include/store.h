/* store.h — the state directory: what should be, kept on disk.
 *
 * The spec files users write are the source of truth for what should be;
 * this module keeps them so that no crash, power loss or bad write can
 * lose an accepted one.  The layout mirrors the mount, so that a person
 * can read it and put it in git:
 *
 *   <state_dir>/vms/<fname>/              a VM directory (mkdir'd, maybe no spec yet)
 *   <state_dir>/vms/<fname>/spec.json     the accepted spec, byte for byte as written
 *   <state_dir>/vms/<fname>/vdcfs.json    what vdcfs decided for it (see below)
 *
 * <fname> is the VM's name as vdc_name_encode() gives it (never contains
 * '/', never "." or ".."); the store refuses anything else.
 *
 * vdcfs.json is a JSON object the caller composes (generation, uuid, host,
 * MACs...); the store only keeps it.
 *
 * Every change is atomic: the new content goes to a temporary file in the
 * same directory, which is synced, renamed over the old one, and the
 * rename synced; a directory made or removed has its parent synced.
 * After a crash at any instant each file holds either its old or its new
 * content.  Temporary files left by a crash are removed by vdc_store_open().
 *
 * Thread safety: calls on one store may come from several threads at once
 * (each VM's files are independent); two calls for the same <fname> at
 * once must be serialised by the caller.
 *
 * Ownership: everything returned belongs to the caller.
 */
#ifndef VDCFS_STORE_H
#define VDCFS_STORE_H

#include <glib.h>
#include <jansson.h>
#include <stdbool.h>

struct vdc_store;

struct vdc_stored_vm {
    char *fname;   /* directory name under vms/ */
    GBytes *spec;  /* spec.json's bytes, NULL when there is none */
    json_t *meta;  /* vdcfs.json, NULL when absent or not a JSON object */
};

#define VDC_STORE_ERROR (g_quark_from_static_string("vdc-store"))

/* Opens (creating <dir> and <dir>/vms if missing, mode 0700) the state
 * directory and removes temporary files a crash left behind.  Returns
 * NULL with *err (a message naming the path and the reason) when the
 * directory cannot be made, read or written. */
struct vdc_store *vdc_store_open(const char *dir, GError **err);
void vdc_store_close(struct vdc_store *st);

/* Everything kept, sorted by fname: a GPtrArray of struct
 * vdc_stored_vm* that frees its elements.  Entries under vms/ that are
 * not directories, or whose name is not a valid fname, are skipped with a
 * g_warning. */
GPtrArray *vdc_store_load(struct vdc_store *st, GError **err);
void vdc_stored_vm_free(struct vdc_stored_vm *v);

/* Each returns true, or false with *err (errno's message and the path). */
bool vdc_store_put_dir(struct vdc_store *st, const char *fname, GError **err);
/* Creates the VM directory if needed. */
bool vdc_store_put_spec(struct vdc_store *st, const char *fname, const void *data, size_t len,
                        GError **err);
bool vdc_store_put_meta(struct vdc_store *st, const char *fname, json_t *meta, GError **err);
/* Replaces spec.json with @spec (@spec_len bytes; NULL: keep it) and
 * vdcfs.json with @meta (NULL: keep it) together, each atomically, with
 * two flushes to the disk in all instead of two per file. */
bool vdc_store_put_vm(struct vdc_store *st, const char *fname, const void *spec, size_t spec_len,
                      json_t *meta, GError **err);

/* Group commit: changes of many VMs made durable together, with two
 * flushes to the disk for the whole group (see vdc_store_txn_commit).
 * The put functions make the VM directory and write the new content to
 * temporary files, nothing visible yet; each returns false with *err and
 * stages nothing of that VM when it fails.  One VM at most once per
 * transaction (the caller commits before staging it again).  A
 * transaction is used by one thread. */
struct vdc_store_txn;
struct vdc_store_txn *vdc_store_txn_begin(struct vdc_store *st);
bool vdc_store_txn_put_dir(struct vdc_store_txn *t, const char *fname, GError **err);
bool vdc_store_txn_put_vm(struct vdc_store_txn *t, const char *fname, const void *spec,
                          size_t spec_len, json_t *meta, GError **err);
/* True when nothing is staged. */
bool vdc_store_txn_empty(const struct vdc_store_txn *t);
/* Makes everything staged durable and visible: every temporary is synced,
 * renamed over its file in the order staged, and the renames synced.
 * Returns true when all of it is on disk; false with *err when some or
 * all of it may not be (each file then holds its old or its new content).
 * The transaction is empty again afterwards either way. */
bool vdc_store_txn_commit(struct vdc_store_txn *t, GError **err);
/* Frees; whatever is still staged is dropped (its temporaries removed). */
void vdc_store_txn_free(struct vdc_store_txn *t);
/* Removes spec.json and vdcfs.json, keeps the directory.  No error when
 * they are already gone. */
bool vdc_store_remove_spec(struct vdc_store *st, const char *fname, GError **err);
/* Removes the VM directory and everything in it.  No error when gone. */
bool vdc_store_remove(struct vdc_store *st, const char *fname, GError **err);

/* The absolute path of the state directory (owned by the store). */
const char *vdc_store_path(const struct vdc_store *st);

#endif
