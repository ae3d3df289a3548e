/* array_common.c — what every array driver shares (array.h): the id rule,
 * the driver table and the destructor of struct array_lun. */
#include <string.h>

#include "array.h"

#define ARRAY_ID_MAX 64

bool array_id_valid(const char *id)
{
    if (!id || !*id)
        return false;
    size_t n = 0;
    for (const char *p = id; *p; p++, n++) {
        /* ASCII only, spelled out: g_ascii_isalnum does not depend on the
         * locale, and ids end up in file names and on command lines. */
        if (n >= ARRAY_ID_MAX || !(g_ascii_isalnum(*p) || *p == '_' || *p == '-'))
            return false;
    }
    return true;
}

static const struct array_ops *const drivers[] = {&array_tgt_ops};

const struct array_ops *array_driver(const char *name)
{
    for (size_t i = 0; name && i < G_N_ELEMENTS(drivers); i++)
        if (strcmp(drivers[i]->driver, name) == 0)
            return drivers[i];
    return NULL;
}

void array_lun_free(struct array_lun *l)
{
    if (!l)
        return;
    g_free(l->backing);
    g_free(l->id);
    g_free(l);
}
