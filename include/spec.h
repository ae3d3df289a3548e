/* spec.h — a VM's desired state (vms/<vm>/spec.json): parsing, checking,
 * canonical JSON and the libvirt domain XML it stands for.
 *
 * The contract is the one of the desired-state issue (issue 4):
 *
 *   {"host": "beta", "vcpus": 2, "memory_mib": 2048, "state": "running",
 *    "autostart": false, "description": "...",
 *    "disks": [{"target": "vda", "pool": "default", "volume": "web-3.img",
 *               "capacity_gib": 20},
 *              {"target": "vdb", "file": "/srv/images/x.img"},
 *              {"target": "vdc", "array": "array1", "lun": 3}],
 *    "interfaces": [{"network": "default"}, {"bridge": "br0", "mac": "52:54:00:12:34:56"}]}
 *
 * Everything but vcpus and memory_mib is optional.  Unknown keys are
 * refused with a message that names them.  This module only knows the
 * document: whether the host exists, the pool has room or the array has
 * that LUN is for the reconciler to find out.
 *
 * Ownership: a struct vdc_spec and everything in it belongs to whoever
 * got it from vdc_spec_parse(); free it with vdc_spec_free().
 */
#ifndef VDCFS_SPEC_H
#define VDCFS_SPEC_H

#include <glib.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "hv.h"

enum vdc_spec_disk_kind { VDC_SPEC_DISK_VOLUME = 1, VDC_SPEC_DISK_FILE, VDC_SPEC_DISK_LUN };

struct vdc_spec_disk {
    char *target;                 /* vda, sdb, ... */
    enum vdc_spec_disk_kind kind;
    char *pool, *volume;          /* VOLUME */
    unsigned capacity_gib;        /* VOLUME: 0 = do not create */
    char *file;                   /* FILE: an absolute path */
    char *array;                  /* LUN */
    unsigned lun;                 /* LUN */
};

struct vdc_spec_iface {
    char *network, *bridge; /* exactly one */
    char *mac;              /* NULL: to be assigned once and kept */
};

struct vdc_spec {
    char *host;               /* NULL: vdcfs places the VM */
    unsigned vcpus;
    uint64_t memory_mib;
    enum vdc_vm_state state;  /* RUNNING (default), PAUSED or SHUTOFF */
    bool autostart;
    char *description;        /* may be NULL */
    GPtrArray *disks;         /* of struct vdc_spec_disk*, owned */
    GPtrArray *interfaces;    /* of struct vdc_spec_iface*, owned */
};

/* Limits, refused beyond. */
#define VDC_SPEC_MAX_VCPUS 4096
#define VDC_SPEC_MAX_MEMORY_MIB (16ULL * 1024 * 1024) /* 16 TiB */
#define VDC_SPEC_MAX_DISKS 64
#define VDC_SPEC_MAX_INTERFACES 32
#define VDC_SPEC_MAX_CAPACITY_GIB 65536
#define VDC_SPEC_MAX_DESCRIPTION 4096

#define VDC_SPEC_ERROR (g_quark_from_static_string("vdc-spec"))

/* Parses and checks @len bytes of JSON.  Returns a spec, or NULL with
 * *err set to one line that names the problem and where it is, e.g.
 * 'disks[1]: unknown key "size"' or 'line 3: ...' for bad JSON. */
struct vdc_spec *vdc_spec_parse(const char *text, size_t len, GError **err);

/* The canonical JSON of @spec (keys in contract order, defaults
 * written out): what spec.json reads back and what the state directory
 * keeps.  A new reference. */
json_t *vdc_spec_to_json(const struct vdc_spec *spec);

/* Where a configured array is: fills *host (the portal's host), *port
 * (the portal's port, 3260 when the portal names none), *iqn (the
 * target's IQN) and *chap_user (the CHAP user name, left NULL when the
 * target needs no CHAP) and returns true; or returns false, filling
 * nothing, for an unknown array.  The strings are g_malloc'd and belong
 * to the caller.  The CHAP password is never asked for: it must not reach
 * the domain XML (libvirt reads it from a secret of usage
 * "vdcfs-<array>" defined on each host). */
typedef bool (*vdc_spec_array_lookup)(const char *array, char **host, int *port, char **iqn,
                                      char **chap_user, void *data);

/* The libvirt domain XML for VM @name (and @uuid, NULL to let libvirt
 * choose) as @spec describes it, for a host that runs @domain_type
 * domains (hv_host_info.domain_type; NULL means "kvm"), built with libxml2 so that no name or
 * value can inject XML.  Interfaces without a MAC get none: the caller
 * assigns MACs before defining.  LUN disks are resolved with @arrays
 * (called with @data; may be NULL when the spec has none) into iSCSI
 * network disks "IQN/LUN" on the array's portal; an array with CHAP gets
 * <auth username='USER'><secret type='iscsi' usage='vdcfs-ARRAY'/></auth>
 * in the disk's <source> (the password stays out of the XML).  Returns a
 * g_malloc'd string, or NULL with *err set (an unknown array). */
char *vdc_spec_domain_xml(const struct vdc_spec *spec, const char *name, const char *uuid,
                          const char *domain_type, vdc_spec_array_lookup arrays, void *data,
                          GError **err);

void vdc_spec_free(struct vdc_spec *spec);
typedef struct vdc_spec vdc_spec;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(vdc_spec, vdc_spec_free)

#endif
