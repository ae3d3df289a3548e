/* jsoncheck.h — checks shared by the documents users write (the config
 * file, spec.json): each caller words its own message around them. */
#ifndef VDCFS_JSONCHECK_H
#define VDCFS_JSONCHECK_H

#include <jansson.h>

/* The first key of @obj not in the NULL-terminated @allowed, escaped for a
 * one-line message (g_malloc'd; free with g_free), or NULL if all are. */
char *vdc_json_unknown_key(json_t *obj, const char *const *allowed);

#endif
