/* jsoncheck.c — see jsoncheck.h. */
#include "jsoncheck.h"

#include <glib.h>
#include <stdbool.h>
#include <string.h>

char *vdc_json_unknown_key(json_t *obj, const char *const *allowed)
{
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val) {
        bool known = false;
        for (const char *const *a = allowed; *a && !known; a++)
            known = strcmp(*a, key) == 0;
        if (!known)
            return g_strescape(key, NULL); /* a key may hold any byte */
    }
    return NULL;
}
