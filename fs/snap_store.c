/* snap_store.c — VM snapshot records on disk, see snap_store.h. */
#include "snap_store.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "names.h"

#define SNAPS_DIR "snapshots"

static bool uuid_like(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (const char *p = s; *p; p++)
        if (!g_ascii_isxdigit(*p) && *p != '-')
            return false;
    return true;
}

static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc;
    do
        rc = fsync(fd);
    while (rc < 0 && errno == EINTR);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

static bool fail(GError **err, const char *path)
{
    int e = errno;
    g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(e), "%s: %s", path, g_strerror(e));
    return false;
}

/* Makes @path (mode 0700) unless there, and syncs its parent when made. */
static bool make_dir(const char *path, GError **err)
{
    if (mkdir(path, 0700) == 0) {
        g_autofree char *parent = g_path_get_dirname(path);
        return fsync_path(parent) == 0 || fail(err, parent);
    }
    return errno == EEXIST || fail(err, path);
}

static char *record_path(const char *state_dir, const char *uuid, const char *name)
{
    g_autofree char *enc = vdc_name_encode(name);
    g_autofree char *leaf = g_strdup_printf("%s.json", enc);
    return g_build_filename(state_dir, SNAPS_DIR, uuid, leaf, NULL);
}

bool vdc_snap_store_put(const char *state_dir, json_t *record, GError **err)
{
    const char *uuid = json_string_value(json_object_get(record, "uuid"));
    const char *name = json_string_value(json_object_get(record, "name"));
    if (!uuid_like(uuid) || !name) {
        g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL, "snapshot record without uuid or name");
        return false;
    }
    g_autofree char *top = g_build_filename(state_dir, SNAPS_DIR, NULL);
    g_autofree char *dir = g_build_filename(top, uuid, NULL);
    if (!make_dir(top, err) || !make_dir(dir, err))
        return false;
    g_autofree char *path = record_path(state_dir, uuid, name);
    char *text = json_dumps(record, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (!text) {
        g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_NOMEM, "%s: cannot encode the record", path);
        return false;
    }
    bool ok = g_file_set_contents_full(path, text, (gssize)strlen(text),
                                       G_FILE_SET_CONTENTS_CONSISTENT |
                                           G_FILE_SET_CONTENTS_DURABLE,
                                       0600, err);
    free(text);
    /* The rename is durable once the directory is. */
    return ok && (fsync_path(dir) == 0 || fail(err, dir));
}

bool vdc_snap_store_remove(const char *state_dir, const char *uuid, const char *name,
                           GError **err)
{
    if (!uuid_like(uuid))
        return true;
    g_autofree char *path = record_path(state_dir, uuid, name);
    if (unlink(path) < 0)
        return errno == ENOENT || fail(err, path);
    g_autofree char *dir = g_path_get_dirname(path);
    if (fsync_path(dir) < 0)
        return fail(err, dir);
    if (rmdir(dir) == 0) { /* its last snapshot: the directory goes too */
        g_autofree char *top = g_path_get_dirname(dir);
        fsync_path(top);
    }
    return true;
}

static void load_vm_dir(const char *dir, const char *uuid, GPtrArray *out)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *leaf;
    while (d && (leaf = g_dir_read_name(d))) {
        g_autofree char *path = g_build_filename(dir, leaf, NULL);
        if (!g_str_has_suffix(leaf, ".json")) {
            if (unlink(path) < 0) /* a replace a crash interrupted */
                g_warning("state dir %s: %s", path, g_strerror(errno));
            continue;
        }
        json_error_t je;
        json_t *r = json_load_file(path, 0, &je);
        const char *ruuid = json_string_value(json_object_get(r, "uuid"));
        if (!json_is_object(r) || g_strcmp0(ruuid, uuid) != 0 ||
            !json_is_string(json_object_get(r, "name"))) {
            g_warning("state dir %s: not a snapshot record (%s), ignored", path,
                      r ? "wrong uuid or no name" : je.text);
            json_decref(r);
            continue;
        }
        g_ptr_array_add(out, r);
    }
}

GPtrArray *vdc_snap_store_list(const char *state_dir, GError **err)
{
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)json_decref);
    g_autofree char *top = g_build_filename(state_dir, SNAPS_DIR, NULL);
    GError *e = NULL;
    g_autoptr(GDir) d = g_dir_open(top, 0, &e);
    if (!d) {
        if (g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
            g_error_free(e);
            return out;
        }
        g_propagate_error(err, e);
        g_ptr_array_unref(out);
        return NULL;
    }
    const char *uuid;
    while ((uuid = g_dir_read_name(d))) {
        if (!uuid_like(uuid))
            continue;
        g_autofree char *dir = g_build_filename(top, uuid, NULL);
        load_vm_dir(dir, uuid, out);
    }
    return out;
}
