/* domxml.c — reading libvirt domain and pool XML with libxml2. */
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <stdlib.h>
#include <string.h>

#include "hv.h"

/* libxml2 strings are xmlChar*; we keep g_malloc'd char*. */
static char *prop(xmlNodePtr n, const char *name)
{
    if (!n)
        return NULL;
    xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
    if (!v)
        return NULL;
    char *s = g_strdup((const char *)v);
    xmlFree(v);
    return s;
}

/* The text as written, unlike text_of: a description's own spaces and
 * line breaks are part of it. */
static char *raw_text_of(xmlNodePtr n)
{
    if (!n)
        return NULL;
    xmlChar *v = xmlNodeGetContent(n);
    if (!v)
        return NULL;
    char *s = g_strdup((const char *)v);
    xmlFree(v);
    return s;
}

/* The text without surrounding blanks, for values such as names. */
static char *text_of(xmlNodePtr n)
{
    char *s = raw_text_of(n);
    return s ? g_strstrip(s) : NULL;
}

static xmlNodePtr child(xmlNodePtr parent, const char *name)
{
    for (xmlNodePtr c = parent ? parent->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, name) == 0)
            return c;
    return NULL;
}

/* libvirt's scaled integers (docs: formatdomain "memory"): the unit is
 * case-insensitive for the binary ones; KB, MB... are powers of 1000.
 * An unknown unit gives 0 rather than a guess. */
static uint64_t to_kib(const char *value, const char *unit)
{
    static const struct {
        const char *unit;
        uint64_t bytes;
    } units[] = {
        {"b", 1},
        {"bytes", 1},
        {"KB", 1000ULL},
        {"k", 1024ULL},
        {"KiB", 1024ULL},
        {"MB", 1000000ULL},
        {"M", 1ULL << 20},
        {"MiB", 1ULL << 20},
        {"GB", 1000000000ULL},
        {"G", 1ULL << 30},
        {"GiB", 1ULL << 30},
        {"TB", 1000000000000ULL},
        {"T", 1ULL << 40},
        {"TiB", 1ULL << 40},
        {"PB", 1000000000000000ULL},
        {"P", 1ULL << 50},
        {"PiB", 1ULL << 50},
        {"EB", 1000000000000000000ULL},
        {"E", 1ULL << 60},
        {"EiB", 1ULL << 60},
    };
    if (!value)
        return 0;
    uint64_t v = g_ascii_strtoull(value, NULL, 10);
    if (!unit || !*unit)
        return v; /* KiB */
    for (size_t i = 0; i < G_N_ELEMENTS(units); i++) {
        /* "KB", "MB"... are decimal and case-sensitive; the rest are not. */
        bool decimal = strlen(units[i].unit) == 2 && units[i].unit[1] == 'B';
        bool same = decimal ? strcmp(unit, units[i].unit) == 0
                            : g_ascii_strcasecmp(unit, units[i].unit) == 0;
        if (same) {
            long double kib = (long double)v * units[i].bytes / 1024.0L;
            return kib > (long double)UINT64_MAX ? UINT64_MAX : (uint64_t)kib;
        }
    }
    return 0;
}

/* A memory element (<memory>, <currentMemory>): its text in its unit=
 * (KiB when none), in KiB; 0 when @n is NULL. */
static uint64_t memory_of(xmlNodePtr n)
{
    g_autofree char *text = text_of(n);
    g_autofree char *unit = prop(n, "unit");
    return to_kib(text, unit);
}

static struct hv_disk *parse_disk(xmlNodePtr d)
{
    struct hv_disk *disk = g_new0(struct hv_disk, 1);
    g_autofree char *type = prop(d, "type");
    xmlNodePtr target = child(d, "target"), source = child(d, "source");
    disk->target = prop(target, "dev");
    disk->bus = prop(target, "bus");
    disk->device = prop(d, "device");
    if (!disk->device)
        disk->device = g_strdup("disk");
    if (!source)
        disk->source = HV_DISK_NONE;
    else if (g_strcmp0(type, "file") == 0) {
        disk->source = HV_DISK_FILE;
        disk->path = prop(source, "file");
    } else if (g_strcmp0(type, "block") == 0) {
        disk->source = HV_DISK_BLOCK;
        disk->path = prop(source, "dev");
    } else if (g_strcmp0(type, "volume") == 0) {
        disk->source = HV_DISK_VOLUME;
        disk->pool = prop(source, "pool");
        disk->volume = prop(source, "volume");
    } else if (g_strcmp0(type, "network") == 0) {
        disk->source = HV_DISK_NETWORK;
        disk->protocol = prop(source, "protocol");
        disk->name = prop(source, "name");
        xmlNodePtr host = child(source, "host");
        disk->host = prop(host, "name");
        g_autofree char *port = prop(host, "port");
        disk->port = port ? atoi(port) : 0;
    }
    return disk;
}

static struct hv_iface *parse_iface(xmlNodePtr i)
{
    struct hv_iface *f = g_new0(struct hv_iface, 1);
    g_autofree char *type = prop(i, "type");
    f->mac = prop(child(i, "mac"), "address");
    xmlNodePtr source = child(i, "source");
    if (g_strcmp0(type, "network") == 0)
        f->network = prop(source, "network");
    else if (g_strcmp0(type, "bridge") == 0)
        f->bridge = prop(source, "bridge");
    return f;
}

static xmlDocPtr read_doc(const char *xml)
{
    /* NONET: never fetch anything; no entity expansion beyond the built-ins. */
    return xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
                         XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

int hv_parse_domain_xml(const char *xml, struct hv_vm *vm, char **err)
{
    xmlDocPtr doc = read_doc(xml);
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!root || strcmp((const char *)root->name, "domain") != 0) {
        *err = g_strdup("domain XML does not parse");
        if (doc)
            xmlFreeDoc(doc);
        return -1;
    }
    g_free(vm->name);
    vm->name = text_of(child(root, "name"));
    g_autofree char *uuid = text_of(child(root, "uuid"));
    if (uuid)
        g_strlcpy(vm->uuid, uuid, sizeof vm->uuid);
    xmlNodePtr vcpu = child(root, "vcpu");
    g_autofree char *vcpu_current = prop(vcpu, "current");
    g_autofree char *vcpu_text = text_of(vcpu);
    const char *vc = vcpu_current ? vcpu_current : vcpu_text;
    vm->vcpus = vc ? (unsigned)atoi(vc) : 0;
    vm->max_vcpus = vcpu_text ? (unsigned)atoi(vcpu_text) : 0;
    vm->memory_kib = memory_of(child(root, "memory"));
    /* Absent (0): libvirt takes <memory> for it. */
    vm->current_memory_kib = memory_of(child(root, "currentMemory"));
    g_free(vm->description);
    vm->description = raw_text_of(child(root, "description"));

    for (xmlNodePtr c = child(root, "devices") ? child(root, "devices")->children : NULL; c;
         c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (strcmp((const char *)c->name, "disk") == 0)
            g_ptr_array_add(vm->disks, parse_disk(c));
        else if (strcmp((const char *)c->name, "interface") == 0)
            g_ptr_array_add(vm->interfaces, parse_iface(c));
    }
    g_free(vm->domain_xml);
    vm->domain_xml = g_strdup(xml);
    xmlFreeDoc(doc);
    if (!vm->name) {
        *err = g_strdup("domain XML has no name");
        return -1;
    }
    return 0;
}

char *hv_parse_pool_type(const char *xml)
{
    xmlDocPtr doc = read_doc(xml);
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    char *type = root ? prop(root, "type") : NULL;
    if (doc)
        xmlFreeDoc(doc);
    return type;
}
