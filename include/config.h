/* config.h — the daemon's configuration file (JSON, read with jansson).
 *
 *   {"state_dir": "/var/lib/vdcfs",
 *    "refresh_seconds": 30,
 *    "prune": false,          // rmdir (rsync --delete) may remove running VMs
 *    "admin_group": "vdcadm", // with -o allow_other: this group may write too
 *    "hosts": [{"name": "alpha", "uri": "test:///srv/dc/alpha.xml"}, ...]}
 *
 * Unknown keys anywhere are an error that names the key; so are missing
 * required keys, wrong types, duplicate or invalid host names and an empty
 * host list.
 */
#ifndef VDCFS_CONFIG_H
#define VDCFS_CONFIG_H

#include <glib.h>
#include <stdbool.h>

struct vdc_host_config {
    char *name; /* validated with vdc_host_name_valid() */
    char *uri;  /* libvirt connection URI, passed to the backend as is */
};

struct vdc_config {
    char *state_dir;          /* may be NULL: nothing persisted yet */
    unsigned refresh_seconds; /* full refresh period, the safety net for missed events */
    bool prune;               /* removing a running VM's directory removes the VM */
    char *admin_group;        /* NULL: only the mounting user may write */
    GPtrArray *hosts;         /* of struct vdc_host_config*, owned */
};

#define VDC_DEFAULT_REFRESH_SECONDS 30

/* Parses @text.  @origin names the source in messages (a file name).
 * Returns a config owned by the caller (free with vdc_config_free), or
 * NULL with *@err set to one line that names the problem. */
struct vdc_config *vdc_config_parse(const char *text, const char *origin, GError **err);

/* Reads and parses the file at @path; same contract as vdc_config_parse(). */
struct vdc_config *vdc_config_load(const char *path, GError **err);

/* Adds a host; takes copies of both strings.  Used by --demo. */
void vdc_config_add_host(struct vdc_config *cfg, const char *name, const char *uri);

struct vdc_config *vdc_config_new(void);
void vdc_config_free(struct vdc_config *cfg);
typedef struct vdc_config vdc_config;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(vdc_config, vdc_config_free)

#define VDC_CONFIG_ERROR (g_quark_from_static_string("vdc-config"))

#endif
