/* names.c — object names to file names, see names.h. */
#include "names.h"

#include <glib.h>
#include <string.h>

static bool byte_needs_escape(unsigned char c)
{
    return c == '/' || c == '%' || c == '@';
}

char *vdc_name_encode(const char *raw)
{
    if (raw[0] == '\0')
        return g_strdup("%00");
    if (strcmp(raw, ".") == 0)
        return g_strdup("%2E");
    if (strcmp(raw, "..") == 0)
        return g_strdup("%2E%2E");

    GString *s = g_string_sized_new(strlen(raw) + 8);
    for (const unsigned char *p = (const unsigned char *)raw; *p; p++) {
        if (byte_needs_escape(*p))
            g_string_append_printf(s, "%%%02X", *p);
        else
            g_string_append_c(s, (char)*p);
    }
    return g_string_free(s, FALSE);
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *vdc_name_decode(const char *enc)
{
    if (strcmp(enc, "%00") == 0)
        return g_strdup("");
    GString *s = g_string_sized_new(strlen(enc));
    for (const char *p = enc; *p; p++) {
        if (*p != '%') {
            if (byte_needs_escape((unsigned char)*p))
                goto invalid;
            g_string_append_c(s, *p);
            continue;
        }
        int hi = hex_value(p[1]), lo = hi < 0 ? -1 : hex_value(p[2]);
        if (hi < 0 || lo < 0)
            goto invalid;
        g_string_append_c(s, (char)(hi * 16 + lo));
        p += 2;
    }
    /* Only the canonical encoding decodes: re-encoding must give @enc back,
     * so that one object never answers to two file names. */
    char *raw = g_string_free(s, FALSE);
    char *again = vdc_name_encode(raw);
    bool canonical = strcmp(again, enc) == 0;
    g_free(again);
    if (!canonical) {
        g_free(raw);
        return NULL;
    }
    return raw;
invalid:
    g_string_free(s, TRUE);
    return NULL;
}

bool vdc_host_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64 || name[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!g_ascii_isalnum(c) && c != '.' && c != '_' && c != '-')
            return false;
    }
    return true;
}
