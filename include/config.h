/* config.h — the daemon's configuration file (JSON, read with jansson).
 *
 *   {"state_dir": "/var/lib/vdcfs",
 *    "refresh_seconds": 30,
 *    "prune": false,          // rmdir (rsync --delete) may remove running VMs
 *    "admin_group": "vdcadm", // with -o allow_other: this group may write too
 *    "hosts": [{"name": "alpha", "uri": "test:///srv/dc/alpha.xml"}, ...],
 *    "snapshot_timeout_seconds": 60,   // deadline of mkdir in snapshots/
 *    "arrays": [{"name": "array1", "driver": "tgt", "portal": "127.0.0.1:3260",
 *                "target": "iqn.2026-11.org.example:array1",
 *                "backing_dir": "/srv/array1",
 *                "chap": {"user": "u", "password": "p"},  // optional
 *                "control_port": 0}]}                      // tgtadm -C, default 0
 *
 * Unknown keys anywhere are an error that names the key; so are missing
 * required keys, wrong types, duplicate or invalid host and array names,
 * an unknown array driver, a portal that vdc_portal_split() refuses, a
 * relative backing_dir and an empty host list.
 */
#ifndef VDCFS_CONFIG_H
#define VDCFS_CONFIG_H

#include <glib.h>
#include <stdbool.h>

struct vdc_host_config {
    char *name; /* validated with vdc_host_name_valid() */
    char *uri;  /* libvirt connection URI, passed to the backend as is */
};

/* One iSCSI storage array.  The CHAP password is a secret: nothing may
 * render it into the tree, the events or a message. */
struct vdc_array_config {
    char *name;          /* validated with vdc_host_name_valid() */
    char *driver;        /* "tgt" (the only driver so far) */
    char *portal;        /* "host:port", port optional (3260) */
    char *target;        /* the target's IQN */
    char *backing_dir;   /* tgt: absolute directory of the LUNs' backing files */
    char *chap_user;     /* NULL when the target needs no CHAP */
    char *chap_password; /* set exactly when chap_user is */
    unsigned control_port; /* tgt: tgtadm's -C (tgtd's control port) */
};

struct vdc_config {
    char *state_dir;          /* may be NULL: nothing persisted yet */
    unsigned refresh_seconds; /* full refresh period, the safety net for missed events */
    bool prune;               /* removing a running VM's directory removes the VM */
    char *admin_group;        /* NULL: only the mounting user may write */
    GPtrArray *hosts;         /* of struct vdc_host_config*, owned */
    GPtrArray *arrays;        /* of struct vdc_array_config*, owned; may be empty */
    unsigned snapshot_timeout_seconds; /* deadline of taking a snapshot */
};

#define VDC_DEFAULT_REFRESH_SECONDS 30
#define VDC_DEFAULT_SNAPSHOT_TIMEOUT_SECONDS 60

/* Parses @text.  @origin names the source in messages (a file name).
 * Returns a config owned by the caller (free with vdc_config_free), or
 * NULL with *@err set to one line that names the problem. */
struct vdc_config *vdc_config_parse(const char *text, const char *origin, GError **err);

/* Reads and parses the file at @path; same contract as vdc_config_parse(). */
struct vdc_config *vdc_config_load(const char *path, GError **err);

/* Splits an array's portal "host:port", "host", "[v6]:port" or "[v6]"
 * (a bare IPv6 address has no port) into *host (g_malloc'd, without
 * brackets) and *port (3260 when none is given).  Returns false, setting
 * nothing, for a portal with an empty host or a port that is not 1-65535
 * (the configuration refuses those). */
bool vdc_portal_split(const char *portal, char **host, int *port);

/* Adds a host; takes copies of both strings.  Used by --demo. */
void vdc_config_add_host(struct vdc_config *cfg, const char *name, const char *uri);

struct vdc_config *vdc_config_new(void);
void vdc_config_free(struct vdc_config *cfg);
typedef struct vdc_config vdc_config;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(vdc_config, vdc_config_free)

#define VDC_CONFIG_ERROR (g_quark_from_static_string("vdc-config"))

#endif
