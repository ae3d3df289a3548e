/* unit_util.h — helpers shared by the model and runner tests: walking the
 * tree by path the way the FUSE layer would, and reading the events log. */
#ifndef VDCFS_UNIT_UTIL_H
#define VDCFS_UNIT_UTIL_H

#include <glib.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "tree.h"

/* Resolves "/vms/web-1/state" (or "vms/web-1/state") from the root.  Model
 * read lock held by the caller.  Returns 0 or a negative errno. */
int tu_walk_locked(const char *path, struct vdc_node *out);

/* The same, taking the read lock; *ino gets the node's inode number. */
int tu_ino(const char *path, uint64_t *ino);

/* File type (S_IFDIR, S_IFREG, S_IFLNK) of @path, or 0 when not found. */
mode_t tu_type(const char *path);

/* Content of a file or symlink (NUL-terminated copy), NULL if not found. */
char *tu_read(const char *path);

/* Content of @path parsed as JSON, NULL if absent or not JSON. */
json_t *tu_read_json(const char *path);

/* Names in directory @path, sorted, NULL-terminated; NULL if not found. */
char **tu_list(const char *path);

/* "a,b,c": the listing of @path joined with commas ("" when empty,
 * "(none)" when the directory does not exist). */
char *tu_list_joined(const char *path);

/* Events log: every event appended since *@off (moved forward), parsed,
 * as a JSON array (new reference). */
json_t *tu_events_since(uint64_t *off);

/* First event of @evs with these fields (NULL fields match anything). */
json_t *tu_event_find(json_t *evs, const char *kind, const char *name, const char *host,
                      const char *event);
/* Number of such events. */
size_t tu_event_count(json_t *evs, const char *kind, const char *name, const char *host,
                      const char *event);

/* Polls @cond (an expression) every 2 ms for up to 10 s; evaluates to its
 * final truth value. */
#define TU_WAIT_FOR(cond)                                                              \
    ({                                                                                 \
        gint64 tu_deadline_ = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;            \
        bool tu_ok_;                                                                   \
        while (!(tu_ok_ = (cond)) && g_get_monotonic_time() < tu_deadline_)            \
            g_usleep(2000);                                                            \
        tu_ok_;                                                                        \
    })

#endif
