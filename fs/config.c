/* config.c — reading the configuration file, see config.h. */
#include "config.h"

#include <jansson.h>
#include <string.h>

#include "jsoncheck.h"
#include "names.h"

struct vdc_config *vdc_config_new(void)
{
    struct vdc_config *cfg = g_new0(struct vdc_config, 1);
    cfg->refresh_seconds = VDC_DEFAULT_REFRESH_SECONDS;
    cfg->snapshot_timeout_seconds = VDC_DEFAULT_SNAPSHOT_TIMEOUT_SECONDS;
    cfg->hosts = g_ptr_array_new();
    cfg->arrays = g_ptr_array_new();
    return cfg;
}

static void host_config_free(struct vdc_host_config *h)
{
    g_free(h->name);
    g_free(h->uri);
    g_free(h);
}

static void array_config_free(struct vdc_array_config *a)
{
    g_free(a->name);
    g_free(a->driver);
    g_free(a->portal);
    g_free(a->target);
    g_free(a->backing_dir);
    g_free(a->chap_user);
    if (a->chap_password)
        explicit_bzero(a->chap_password, strlen(a->chap_password));
    g_free(a->chap_password);
    g_free(a);
}

void vdc_config_free(struct vdc_config *cfg)
{
    if (!cfg)
        return;
    g_free(cfg->state_dir);
    g_free(cfg->admin_group);
    for (guint i = 0; i < cfg->hosts->len; i++)
        host_config_free(g_ptr_array_index(cfg->hosts, i));
    g_ptr_array_free(cfg->hosts, TRUE);
    for (guint i = 0; i < cfg->arrays->len; i++)
        array_config_free(g_ptr_array_index(cfg->arrays, i));
    g_ptr_array_free(cfg->arrays, TRUE);
    g_free(cfg);
}

void vdc_config_add_host(struct vdc_config *cfg, const char *name, const char *uri)
{
    struct vdc_host_config *h = g_new0(struct vdc_host_config, 1);
    h->name = g_strdup(name);
    h->uri = g_strdup(uri);
    g_ptr_array_add(cfg->hosts, h);
}

#define FAIL(...)                                                              \
    do {                                                                       \
        g_set_error(err, VDC_CONFIG_ERROR, 1, __VA_ARGS__);                    \
        return -1;                                                             \
    } while (0)

/* Refuses keys of @obj not in the NULL-terminated @allowed list. */
static int check_keys(json_t *obj, const char *where, const char *const *allowed,
                      const char *origin, GError **err)
{
    g_autofree char *unknown = vdc_json_unknown_key(obj, allowed);
    if (unknown)
        FAIL("%s: unknown key \"%s\" in %s", origin, unknown, where);
    return 0;
}

static int get_string(json_t *obj, const char *key, const char *where, bool required,
                      const char **out, const char *origin, GError **err)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v) {
        if (required)
            FAIL("%s: missing key \"%s\" in %s", origin, key, where);
        return 0;
    }
    if (!json_is_string(v) || json_string_length(v) == 0)
        FAIL("%s: \"%s\" in %s must be a non-empty string", origin, key, where);
    if (strlen(json_string_value(v)) != json_string_length(v))
        FAIL("%s: \"%s\" in %s contains a NUL byte", origin, key, where);
    *out = json_string_value(v);
    return 0;
}

static bool name_taken(GPtrArray *list, const char *name)
{
    /* Both config structs start with the name. */
    for (guint j = 0; j < list->len; j++)
        if (strcmp(*(char **)g_ptr_array_index(list, j), name) == 0)
            return true;
    return false;
}

static int parse_host(struct vdc_config *cfg, json_t *h, size_t i, const char *origin,
                      GError **err)
{
    static const char *const keys[] = {"name", "uri", NULL};
    g_autofree char *where = g_strdup_printf("hosts[%zu]", i);
    const char *name, *uri;

    if (!json_is_object(h))
        FAIL("%s: %s must be an object", origin, where);
    if (check_keys(h, where, keys, origin, err) < 0 ||
        get_string(h, "name", where, true, &name, origin, err) < 0 ||
        get_string(h, "uri", where, true, &uri, origin, err) < 0)
        return -1;
    if (!vdc_host_name_valid(name))
        FAIL("%s: host name \"%s\" in %s is not valid (1-64 of A-Z a-z 0-9 . _ -, "
             "not starting with .)", origin, name, where);
    if (name_taken(cfg->hosts, name))
        FAIL("%s: host name \"%s\" appears twice", origin, name);
    vdc_config_add_host(cfg, name, uri);
    return 0;
}

static int parse_chap(struct vdc_array_config *a, json_t *chap, const char *where,
                      const char *origin, GError **err)
{
    static const char *const keys[] = {"user", "password", NULL};
    g_autofree char *cwhere = g_strdup_printf("%s.chap", where);
    const char *user, *password;

    if (!json_is_object(chap))
        FAIL("%s: %s must be an object", origin, cwhere);
    if (check_keys(chap, cwhere, keys, origin, err) < 0 ||
        get_string(chap, "user", cwhere, true, &user, origin, err) < 0 ||
        get_string(chap, "password", cwhere, true, &password, origin, err) < 0)
        return -1;
    a->chap_user = g_strdup(user);
    a->chap_password = g_strdup(password);
    return 0;
}

bool vdc_portal_split(const char *portal, char **host, int *port)
{
    if (!portal)
        return false;
    const char *h = portal, *port_text = NULL;
    size_t hlen;
    if (portal[0] == '[') {
        const char *close = strchr(portal, ']');
        if (!close || (close[1] && close[1] != ':'))
            return false;
        h = portal + 1;
        hlen = (size_t)(close - h);
        if (close[1] == ':')
            port_text = close + 2;
    } else {
        const char *colon = strchr(portal, ':');
        if (colon && strchr(colon + 1, ':'))
            colon = NULL; /* a bare IPv6 address */
        hlen = colon ? (size_t)(colon - portal) : strlen(portal);
        if (colon)
            port_text = colon + 1;
    }
    if (hlen == 0)
        return false;
    guint64 p = 3260;
    if (port_text && !g_ascii_string_to_unsigned(port_text, 10, 1, 65535, &p, NULL))
        return false;
    *host = g_strndup(h, hlen);
    *port = (int)p;
    return true;
}

/* Fills @a from @j; @a is freed by the caller on failure. */
static int parse_array_fields(struct vdc_array_config *a, json_t *j, const char *where,
                              const char *origin, GError **err)
{
    static const char *const keys[] = {"name", "driver", "portal", "target", "backing_dir",
                                       "chap", "control_port", NULL};
    const char *name, *driver, *portal, *target, *backing_dir;

    if (!json_is_object(j))
        FAIL("%s: %s must be an object", origin, where);
    if (check_keys(j, where, keys, origin, err) < 0 ||
        get_string(j, "name", where, true, &name, origin, err) < 0 ||
        get_string(j, "driver", where, true, &driver, origin, err) < 0 ||
        get_string(j, "portal", where, true, &portal, origin, err) < 0 ||
        get_string(j, "target", where, true, &target, origin, err) < 0 ||
        get_string(j, "backing_dir", where, true, &backing_dir, origin, err) < 0)
        return -1;
    a->name = g_strdup(name);
    a->driver = g_strdup(driver);
    a->portal = g_strdup(portal);
    a->target = g_strdup(target);
    a->backing_dir = g_strdup(backing_dir);
    if (!vdc_host_name_valid(name))
        FAIL("%s: array name \"%s\" in %s is not valid (1-64 of A-Z a-z 0-9 . _ -, "
             "not starting with .)", origin, name, where);
    if (strcmp(driver, "tgt") != 0)
        FAIL("%s: unknown driver \"%s\" in %s (known: tgt)", origin, driver, where);
    if (backing_dir[0] != '/')
        FAIL("%s: \"backing_dir\" in %s must be an absolute path", origin, where);
    g_autofree char *portal_host = NULL;
    int portal_port;
    if (!vdc_portal_split(portal, &portal_host, &portal_port))
        FAIL("%s: \"portal\" in %s must be \"host\" or \"host:port\" (port 1-65535)", origin,
             where);
    json_t *chap = json_object_get(j, "chap");
    if (chap && parse_chap(a, chap, where, origin, err) < 0)
        return -1;
    json_t *port = json_object_get(j, "control_port");
    if (port) {
        if (!json_is_integer(port) || json_integer_value(port) < 0 ||
            json_integer_value(port) > 65535)
            FAIL("%s: \"control_port\" in %s must be an integer from 0 to 65535", origin, where);
        a->control_port = (unsigned)json_integer_value(port);
    }
    return 0;
}

static int parse_arrays(struct vdc_config *cfg, json_t *arrays, const char *origin, GError **err)
{
    if (!arrays)
        return 0;
    if (!json_is_array(arrays))
        FAIL("%s: \"arrays\" must be an array", origin);
    size_t i;
    json_t *j;
    json_array_foreach(arrays, i, j) {
        g_autofree char *where = g_strdup_printf("arrays[%zu]", i);
        struct vdc_array_config *a = g_new0(struct vdc_array_config, 1);
        if (parse_array_fields(a, j, where, origin, err) < 0) {
            array_config_free(a);
            return -1;
        }
        if (name_taken(cfg->arrays, a->name)) {
            g_set_error(err, VDC_CONFIG_ERROR, 1, "%s: array name \"%s\" appears twice",
                        origin, a->name);
            array_config_free(a);
            return -1;
        }
        g_ptr_array_add(cfg->arrays, a);
    }
    return 0;
}

static int parse_root(struct vdc_config *cfg, json_t *root, const char *origin, GError **err)
{
    static const char *const keys[] = {"state_dir", "hosts", "refresh_seconds", "prune",
                                       "admin_group", "arrays", "snapshot_timeout_seconds",
                                       NULL};
    const char *state_dir, *admin_group;

    if (!json_is_object(root))
        FAIL("%s: the configuration must be a JSON object", origin);
    if (check_keys(root, "the configuration", keys, origin, err) < 0 ||
        get_string(root, "state_dir", "the configuration", false, &state_dir, origin, err) < 0)
        return -1;
    cfg->state_dir = g_strdup(state_dir);
    if (get_string(root, "admin_group", "the configuration", false, &admin_group, origin, err) < 0)
        return -1;
    cfg->admin_group = g_strdup(admin_group);

    json_t *prune = json_object_get(root, "prune");
    if (prune && !json_is_boolean(prune))
        FAIL("%s: \"prune\" must be true or false", origin);
    cfg->prune = prune && json_is_true(prune);

    json_t *refresh = json_object_get(root, "refresh_seconds");
    if (refresh) {
        if (!json_is_integer(refresh) || json_integer_value(refresh) < 1 ||
            json_integer_value(refresh) > 86400)
            FAIL("%s: \"refresh_seconds\" must be an integer from 1 to 86400", origin);
        cfg->refresh_seconds = (unsigned)json_integer_value(refresh);
    }

    json_t *snap_timeout = json_object_get(root, "snapshot_timeout_seconds");
    if (snap_timeout) {
        if (!json_is_integer(snap_timeout) || json_integer_value(snap_timeout) < 1 ||
            json_integer_value(snap_timeout) > 3600)
            FAIL("%s: \"snapshot_timeout_seconds\" must be an integer from 1 to 3600", origin);
        cfg->snapshot_timeout_seconds = (unsigned)json_integer_value(snap_timeout);
    }
    if (parse_arrays(cfg, json_object_get(root, "arrays"), origin, err) < 0)
        return -1;

    json_t *hosts = json_object_get(root, "hosts");
    if (!hosts)
        FAIL("%s: missing key \"hosts\" in the configuration", origin);
    if (!json_is_array(hosts))
        FAIL("%s: \"hosts\" must be an array", origin);
    if (json_array_size(hosts) == 0)
        FAIL("%s: \"hosts\" is empty: configure at least one host", origin);
    size_t i;
    json_t *h;
    json_array_foreach(hosts, i, h) {
        if (parse_host(cfg, h, i, origin, err) < 0)
            return -1;
    }
    return 0;
}

/* Parses @len bytes: a NUL inside the text is an error, not its end. */
static struct vdc_config *parse_buffer(const char *text, size_t len, const char *origin,
                                       GError **err)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        g_set_error(err, VDC_CONFIG_ERROR, 1, "%s: line %d: %s", origin, jerr.line, jerr.text);
        return NULL;
    }
    struct vdc_config *cfg = vdc_config_new();
    int rc = parse_root(cfg, root, origin, err);
    json_decref(root);
    if (rc < 0) {
        vdc_config_free(cfg);
        return NULL;
    }
    return cfg;
}

struct vdc_config *vdc_config_parse(const char *text, const char *origin, GError **err)
{
    return parse_buffer(text, strlen(text), origin, err);
}

struct vdc_config *vdc_config_load(const char *path, GError **err)
{
    g_autofree char *text = NULL;
    gsize len = 0;
    GError *ioerr = NULL;
    if (!g_file_get_contents(path, &text, &len, &ioerr)) {
        g_set_error(err, VDC_CONFIG_ERROR, 1, "cannot read config: %s", ioerr->message);
        g_error_free(ioerr);
        return NULL;
    }
    return parse_buffer(text, len, path, err);
}
