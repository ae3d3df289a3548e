/* spec.c — a VM's desired state: parse, check, render, see spec.h. */
#include "spec.h"

#include <libxml/tree.h>
#include <string.h>

#include "jsoncheck.h"
#include "names.h"

/* --- errors ----------------------------------------------------------- */

/* Every check returns false after setting *err to "WHERE: message". */
#define REFUSE(where, ...)                                                     \
    do {                                                                       \
        g_autofree char *msg_ = g_strdup_printf(__VA_ARGS__);                  \
        if (*(where))                                                          \
            g_set_error(err, VDC_SPEC_ERROR, 1, "%s: %s", (where), msg_);      \
        else                                                                   \
            g_set_error(err, VDC_SPEC_ERROR, 1, "%s", msg_);                   \
        return false;                                                          \
    } while (0)

static bool check_keys(json_t *obj, const char *where, const char *const *allowed, GError **err)
{
    g_autofree char *unknown = vdc_json_unknown_key(obj, allowed);
    if (unknown)
        REFUSE(where, "unknown key \"%s\"", unknown);
    return true;
}

/* How get_string() takes a key. */
enum {
    NULLABLE = 1, /* null is the same as absent (the canonical form writes it) */
    MAY_BE_EMPTY = 2,
};

/* An optional string: *out is NULL when absent. */
static bool get_string(json_t *obj, const char *key, const char *where, size_t max, int how,
                       const char **out, GError **err)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || ((how & NULLABLE) && json_is_null(v)))
        return true;
    if (!json_is_string(v) || (json_string_length(v) == 0 && !(how & MAY_BE_EMPTY)))
        REFUSE(where, "\"%s\" must be a non-empty string", key);
    if (strlen(json_string_value(v)) != json_string_length(v))
        REFUSE(where, "\"%s\" contains a NUL byte", key);
    if (json_string_length(v) > max)
        REFUSE(where, "\"%s\" is longer than %zu bytes", key, max);
    *out = json_string_value(v);
    return true;
}

/* An optional integer in [min, max]: *present tells whether it was there. */
static bool get_int(json_t *obj, const char *key, const char *where, json_int_t min,
                    json_int_t max, json_int_t *out, bool *present, GError **err)
{
    json_t *v = json_object_get(obj, key);
    *present = v != NULL;
    if (!v)
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        REFUSE(where, "\"%s\" must be an integer from %" JSON_INTEGER_FORMAT " to %"
                      JSON_INTEGER_FORMAT, key, min, max);
    *out = json_integer_value(v);
    return true;
}

static bool no_slash(const char *s, const char *key, const char *where, GError **err)
{
    if (s && strchr(s, '/'))
        REFUSE(where, "\"%s\" must not contain '/'", key);
    return true;
}

/* --- disks ------------------------------------------------------------ */

static bool target_valid(const char *t)
{
    static const char *const prefixes[] = {"xvd", "vd", "sd", "hd"};
    for (size_t i = 0; i < G_N_ELEMENTS(prefixes); i++) {
        size_t p = strlen(prefixes[i]);
        if (strncmp(t, prefixes[i], p) != 0)
            continue;
        size_t n = strlen(t + p);
        if (n < 1 || n > 3)
            return false;
        for (size_t j = 0; j < n; j++)
            if (t[p + j] < 'a' || t[p + j] > 'z')
                return false;
        return true;
    }
    return false;
}

static bool path_valid(const char *path)
{
    if (path[0] != '/')
        return false;
    g_auto(GStrv) parts = g_strsplit(path, "/", -1);
    for (char **p = parts; *p; p++)
        if (strcmp(*p, "..") == 0)
            return false;
    return true;
}

static void disk_free(struct vdc_spec_disk *d)
{
    g_free(d->target);
    g_free(d->pool);
    g_free(d->volume);
    g_free(d->file);
    g_free(d->array);
    g_free(d);
}

static bool parse_disk(json_t *j, const char *where, struct vdc_spec_disk *d, GError **err)
{
    static const char *const keys[] = {"target", "pool",  "volume", "capacity_gib",
                                       "file",   "array", "lun",    NULL};
    const char *target, *pool, *volume, *file, *array;
    json_int_t capacity = 0, lun = 0;
    bool has_capacity, has_lun;
    if (!json_is_object(j))
        REFUSE(where, "must be an object");
    if (!check_keys(j, where, keys, err) ||
        !get_string(j, "target", where, 16, 0, &target, err) ||
        !get_string(j, "pool", where, 255, 0, &pool, err) ||
        !get_string(j, "volume", where, 255, 0, &volume, err) ||
        !get_string(j, "file", where, 4096, 0, &file, err) ||
        !get_string(j, "array", where, 64, 0, &array, err) ||
        !get_int(j, "capacity_gib", where, 1, VDC_SPEC_MAX_CAPACITY_GIB, &capacity,
                 &has_capacity, err) ||
        !get_int(j, "lun", where, 0, 16383, &lun, &has_lun, err) ||
        !no_slash(pool, "pool", where, err) || !no_slash(volume, "volume", where, err) ||
        !no_slash(array, "array", where, err))
        return false;
    if (!target)
        REFUSE(where, "missing key \"target\"");
    if (!target_valid(target)) {
        g_autofree char *shown = g_strescape(target, NULL);
        REFUSE(where, "target \"%s\" is not a disk name like vda, sdb or hdc", shown);
    }
    int kinds = (pool || volume) + !!file + (array || has_lun);
    if (kinds != 1)
        REFUSE(where, "give exactly one of \"pool\" + \"volume\", \"file\", or \"array\" + \"lun\"");
    if ((pool || volume) && !(pool && volume))
        REFUSE(where, "\"pool\" and \"volume\" go together");
    if ((array || has_lun) && !(array && has_lun))
        REFUSE(where, "\"array\" and \"lun\" go together");
    if (has_capacity && !pool)
        REFUSE(where, "\"capacity_gib\" is only for pool volumes");
    if (file && !path_valid(file))
        REFUSE(where, "\"file\" must be an absolute path without \"..\"");
    d->target = g_strdup(target);
    d->kind = pool ? VDC_SPEC_DISK_VOLUME : file ? VDC_SPEC_DISK_FILE : VDC_SPEC_DISK_LUN;
    d->pool = g_strdup(pool);
    d->volume = g_strdup(volume);
    d->capacity_gib = (unsigned)capacity;
    d->file = g_strdup(file);
    d->array = g_strdup(array);
    d->lun = (unsigned)lun;
    return true;
}

/* --- interfaces ------------------------------------------------------- */

static bool mac_valid(const char *mac)
{
    if (strlen(mac) != 17)
        return false;
    for (int i = 0; i < 17; i++) {
        if (i % 3 == 2 ? mac[i] != ':' : !g_ascii_isxdigit(mac[i]))
            return false;
    }
    return (g_ascii_xdigit_value(mac[1]) & 1) == 0; /* unicast */
}

static void iface_free(struct vdc_spec_iface *f)
{
    g_free(f->network);
    g_free(f->bridge);
    g_free(f->mac);
    g_free(f);
}

static bool parse_iface(json_t *j, const char *where, struct vdc_spec_iface *f, GError **err)
{
    static const char *const keys[] = {"network", "bridge", "mac", NULL};
    const char *network, *bridge, *mac;
    if (!json_is_object(j))
        REFUSE(where, "must be an object");
    if (!check_keys(j, where, keys, err) ||
        !get_string(j, "network", where, 255, 0, &network, err) ||
        !get_string(j, "bridge", where, 255, 0, &bridge, err) ||
        !get_string(j, "mac", where, 17, NULLABLE, &mac, err))
        return false;
    if (!!network == !!bridge)
        REFUSE(where, "give exactly one of \"network\" and \"bridge\"");
    if (mac && !mac_valid(mac))
        REFUSE(where, "\"mac\" must be a unicast address like 52:54:00:12:34:56");
    f->network = g_strdup(network);
    f->bridge = g_strdup(bridge);
    f->mac = mac ? g_ascii_strdown(mac, -1) : NULL;
    return true;
}

/* --- the document ----------------------------------------------------- */

static bool parse_state(json_t *root, struct vdc_spec *s, GError **err)
{
    const char *word;
    if (!get_string(root, "state", "", 16, 0, &word, err))
        return false;
    if (!word || strcmp(word, "running") == 0)
        s->state = VDC_VM_RUNNING;
    else if (strcmp(word, "paused") == 0)
        s->state = VDC_VM_PAUSED;
    else if (strcmp(word, "shutoff") == 0)
        s->state = VDC_VM_SHUTOFF;
    else
        REFUSE("", "\"state\" must be \"running\", \"paused\" or \"shutoff\"");
    return true;
}

static bool parse_array(json_t *root, const char *key, size_t max, GError **err,
                        json_t **out)
{
    *out = json_object_get(root, key);
    if (!*out)
        return true;
    if (!json_is_array(*out))
        REFUSE("", "\"%s\" must be an array", key);
    if (json_array_size(*out) > max)
        REFUSE("", "\"%s\" has more than %zu entries", key, max);
    return true;
}

static bool parse_devices(json_t *root, struct vdc_spec *s, GError **err)
{
    json_t *disks, *ifaces, *v;
    size_t i;
    if (!parse_array(root, "disks", VDC_SPEC_MAX_DISKS, err, &disks) ||
        !parse_array(root, "interfaces", VDC_SPEC_MAX_INTERFACES, err, &ifaces))
        return false;
    json_array_foreach(disks, i, v) {
        g_autofree char *where = g_strdup_printf("disks[%zu]", i);
        struct vdc_spec_disk *d = g_new0(struct vdc_spec_disk, 1);
        g_ptr_array_add(s->disks, d);
        if (!parse_disk(v, where, d, err))
            return false;
        for (guint j = 0; j + 1 < s->disks->len; j++)
            if (strcmp(((struct vdc_spec_disk *)g_ptr_array_index(s->disks, j))->target,
                       d->target) == 0)
                REFUSE(where, "target \"%s\" appears twice", d->target);
    }
    json_array_foreach(ifaces, i, v) {
        g_autofree char *where = g_strdup_printf("interfaces[%zu]", i);
        struct vdc_spec_iface *f = g_new0(struct vdc_spec_iface, 1);
        g_ptr_array_add(s->interfaces, f);
        if (!parse_iface(v, where, f, err))
            return false;
        for (guint j = 0; f->mac && j + 1 < s->interfaces->len; j++)
            if (g_strcmp0(((struct vdc_spec_iface *)g_ptr_array_index(s->interfaces, j))->mac,
                          f->mac) == 0)
                REFUSE(where, "mac %s appears twice", f->mac);
    }
    return true;
}

static bool parse_root(json_t *root, struct vdc_spec *s, GError **err)
{
    static const char *const keys[] = {"host",  "vcpus",      "memory_mib", "state", "autostart",
                                       "disks", "interfaces", "description", NULL};
    const char *host, *description;
    json_int_t vcpus = 0, memory = 0;
    bool has_vcpus, has_memory;
    if (!json_is_object(root))
        REFUSE("", "a spec must be a JSON object");
    if (!check_keys(root, "", keys, err) ||
        !get_string(root, "host", "", 64, NULLABLE, &host, err) ||
        !get_string(root, "description", "", VDC_SPEC_MAX_DESCRIPTION, NULLABLE | MAY_BE_EMPTY,
                    &description, err) ||
        !get_int(root, "vcpus", "", 1, VDC_SPEC_MAX_VCPUS, &vcpus, &has_vcpus, err) ||
        !get_int(root, "memory_mib", "", 1, (json_int_t)VDC_SPEC_MAX_MEMORY_MIB, &memory,
                 &has_memory, err) ||
        !parse_state(root, s, err))
        return false;
    if (!has_vcpus)
        REFUSE("", "missing key \"vcpus\"");
    if (!has_memory)
        REFUSE("", "missing key \"memory_mib\"");
    if (host && !vdc_host_name_valid(host))
        REFUSE("", "\"host\" is not a host name (1-64 of A-Z a-z 0-9 . _ -)");
    json_t *autostart = json_object_get(root, "autostart");
    if (autostart && !json_is_boolean(autostart))
        REFUSE("", "\"autostart\" must be true or false");
    s->host = g_strdup(host);
    s->description = g_strdup(description);
    s->vcpus = (unsigned)vcpus;
    s->memory_mib = (uint64_t)memory;
    s->autostart = autostart && json_is_true(autostart);
    return parse_devices(root, s, err);
}

struct vdc_spec *vdc_spec_parse(const char *text, size_t len, GError **err)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        g_set_error(err, VDC_SPEC_ERROR, 1, "line %d: %s", jerr.line, jerr.text);
        return NULL;
    }
    struct vdc_spec *s = g_new0(struct vdc_spec, 1);
    s->disks = g_ptr_array_new_with_free_func((GDestroyNotify)disk_free);
    s->interfaces = g_ptr_array_new_with_free_func((GDestroyNotify)iface_free);
    bool ok = parse_root(root, s, err);
    json_decref(root);
    if (!ok) {
        vdc_spec_free(s);
        return NULL;
    }
    return s;
}

void vdc_spec_free(struct vdc_spec *s)
{
    if (!s)
        return;
    g_free(s->host);
    g_free(s->description);
    g_ptr_array_free(s->disks, TRUE);
    g_ptr_array_free(s->interfaces, TRUE);
    g_free(s);
}

/* --- canonical JSON ----------------------------------------------------- */

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *vdc_spec_to_json(const struct vdc_spec *s)
{
    json_t *o = json_object(), *disks = json_array(), *ifaces = json_array();
    json_object_set_new(o, "host", str_or_null(s->host));
    json_object_set_new(o, "vcpus", json_integer(s->vcpus));
    json_object_set_new(o, "memory_mib", json_integer((json_int_t)s->memory_mib));
    json_object_set_new(o, "state", json_string(vdc_vm_state_word(s->state)));
    json_object_set_new(o, "autostart", json_boolean(s->autostart));
    for (guint i = 0; i < s->disks->len; i++) {
        const struct vdc_spec_disk *d = g_ptr_array_index(s->disks, i);
        json_t *j = json_object();
        json_object_set_new(j, "target", json_string(d->target));
        if (d->kind == VDC_SPEC_DISK_VOLUME) {
            json_object_set_new(j, "pool", json_string(d->pool));
            json_object_set_new(j, "volume", json_string(d->volume));
            if (d->capacity_gib)
                json_object_set_new(j, "capacity_gib", json_integer(d->capacity_gib));
        } else if (d->kind == VDC_SPEC_DISK_FILE) {
            json_object_set_new(j, "file", json_string(d->file));
        } else {
            json_object_set_new(j, "array", json_string(d->array));
            json_object_set_new(j, "lun", json_integer(d->lun));
        }
        json_array_append_new(disks, j);
    }
    for (guint i = 0; i < s->interfaces->len; i++) {
        const struct vdc_spec_iface *f = g_ptr_array_index(s->interfaces, i);
        json_t *j = json_object();
        if (f->network)
            json_object_set_new(j, "network", json_string(f->network));
        else
            json_object_set_new(j, "bridge", json_string(f->bridge));
        json_object_set_new(j, "mac", str_or_null(f->mac));
        json_array_append_new(ifaces, j);
    }
    json_object_set_new(o, "disks", disks);
    json_object_set_new(o, "interfaces", ifaces);
    json_object_set_new(o, "description", str_or_null(s->description));
    return o;
}

/* --- domain XML ----------------------------------------------------------- */

/* libxml2 escapes text and attribute values it writes: no value can add
 * markup.  (xmlNewTextChild escapes; xmlNewChild would not.) */
static xmlNodePtr add(xmlNodePtr parent, const char *name, const char *text)
{
    return xmlNewTextChild(parent, NULL, (const xmlChar *)name, (const xmlChar *)text);
}

static void attr(xmlNodePtr n, const char *name, const char *value)
{
    xmlNewProp(n, (const xmlChar *)name, (const xmlChar *)value);
}

static bool add_disk(xmlNodePtr devices, const struct vdc_spec_disk *d,
                     vdc_spec_array_lookup arrays, void *data, GError **err)
{
    xmlNodePtr disk = add(devices, "disk", NULL);
    attr(disk, "device", "disk");
    xmlNodePtr source = NULL;
    if (d->kind == VDC_SPEC_DISK_VOLUME) {
        attr(disk, "type", "volume");
        source = add(disk, "source", NULL);
        attr(source, "pool", d->pool);
        attr(source, "volume", d->volume);
    } else if (d->kind == VDC_SPEC_DISK_FILE) {
        attr(disk, "type", "file");
        source = add(disk, "source", NULL);
        attr(source, "file", d->file);
    } else {
        g_autofree char *host = NULL, *iqn = NULL, *chap_user = NULL;
        int port = 0;
        if (!arrays || !arrays(d->array, &host, &port, &iqn, &chap_user, data)) {
            g_autofree char *shown = g_strescape(d->array, NULL);
            g_set_error(err, VDC_SPEC_ERROR, 1, "disk %s: no array \"%s\" is configured",
                        d->target, shown);
            return false;
        }
        attr(disk, "type", "network");
        source = add(disk, "source", NULL);
        attr(source, "protocol", "iscsi");
        g_autofree char *name = g_strdup_printf("%s/%u", iqn, d->lun);
        attr(source, "name", name);
        xmlNodePtr h = add(source, "host", NULL);
        attr(h, "name", host);
        g_autofree char *port_text = g_strdup_printf("%d", port);
        attr(h, "port", port_text);
        if (chap_user) {
            /* libvirt takes the password from the secret of that usage,
             * defined on the host by the administrator. */
            xmlNodePtr auth = add(source, "auth", NULL);
            attr(auth, "username", chap_user);
            xmlNodePtr secret = add(auth, "secret", NULL);
            attr(secret, "type", "iscsi");
            g_autofree char *usage = g_strdup_printf("vdcfs-%s", d->array);
            attr(secret, "usage", usage);
        }
    }
    xmlNodePtr target = add(disk, "target", NULL);
    attr(target, "dev", d->target);
    attr(target, "bus", g_str_has_prefix(d->target, "vd")    ? "virtio"
                        : g_str_has_prefix(d->target, "sd")  ? "scsi"
                        : g_str_has_prefix(d->target, "xvd") ? "xen"
                                                             : "ide");
    return true;
}

static void add_iface(xmlNodePtr devices, const struct vdc_spec_iface *f)
{
    xmlNodePtr iface = add(devices, "interface", NULL);
    attr(iface, "type", f->network ? "network" : "bridge");
    if (f->mac)
        attr(add(iface, "mac", NULL), "address", f->mac);
    xmlNodePtr source = add(iface, "source", NULL);
    attr(source, f->network ? "network" : "bridge", f->network ? f->network : f->bridge);
    attr(add(iface, "model", NULL), "type", "virtio");
}

char *vdc_spec_domain_xml(const struct vdc_spec *s, const char *name, const char *uuid,
                          const char *domain_type, vdc_spec_array_lookup arrays, void *data,
                          GError **err)
{
    xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
    xmlNodePtr dom = xmlNewNode(NULL, (const xmlChar *)"domain");
    xmlDocSetRootElement(doc, dom);
    attr(dom, "type", domain_type ? domain_type : "kvm");
    add(dom, "name", name);
    if (uuid)
        add(dom, "uuid", uuid);
    if (s->description)
        add(dom, "description", s->description);
    g_autofree char *mem = g_strdup_printf("%" G_GUINT64_FORMAT, s->memory_mib);
    attr(add(dom, "memory", mem), "unit", "MiB");
    g_autofree char *vcpus = g_strdup_printf("%u", s->vcpus);
    add(dom, "vcpu", vcpus);
    xmlNodePtr os = add(dom, "os", NULL);
    add(os, "type", "hvm");
    xmlNodePtr devices = add(dom, "devices", NULL);
    bool ok = true;
    for (guint i = 0; ok && i < s->disks->len; i++)
        ok = add_disk(devices, g_ptr_array_index(s->disks, i), arrays, data, err);
    for (guint i = 0; ok && i < s->interfaces->len; i++)
        add_iface(devices, g_ptr_array_index(s->interfaces, i));
    char *out = NULL;
    if (ok) {
        xmlChar *buf = NULL;
        int n = 0;
        xmlDocDumpFormatMemoryEnc(doc, &buf, &n, "UTF-8", 1);
        out = g_strndup((const char *)buf, (gsize)n);
        xmlFree(buf);
    }
    xmlFreeDoc(doc);
    return out;
}
