/* model.h — the in-memory datacenter that every FUSE read is served from.
 *
 * Only the host runners (backends/) change the model, through the
 * vdc_model_* update functions below; each takes the write lock, bumps the
 * changed objects, re-renders their files, records events and tells the
 * FUSE layer exactly which entries and inodes to invalidate.  The FUSE
 * layer reads the model under the read lock and never waits on a backend.
 *
 * Objects have ids that are never reused; an inode number is an object id
 * and a small "sub" number for the file of that object (VDC_INO), so no
 * inode table is needed and a stale inode simply resolves to ENOENT.
 *
 * Ownership: the model owns every object.  Pointers to objects are valid
 * only while the caller holds the read lock; to keep file contents past
 * the lock, take a reference on the GBytes (g_bytes_ref).
 */
#ifndef VDCFS_MODEL_H
#define VDCFS_MODEL_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "hv.h"

#define VDC_INO(id, sub) ((((uint64_t)(id)) << 4) | (uint64_t)(sub))
#define VDC_INO_ID(ino) ((ino) >> 4)
#define VDC_INO_SUB(ino) ((unsigned)((ino)&15u))

/* Static nodes: object id 0.  VDC_INO(0, 1) == FUSE_ROOT_ID. */
enum { VDC_STATIC_ROOT = 1, VDC_STATIC_HOSTS, VDC_STATIC_VMS, VDC_STATIC_POOLS, VDC_STATIC_EVENTS,
       VDC_STATIC_ARRAYS };

enum vdc_obj_type {
    VDC_OBJ_HOST = 1, VDC_OBJ_VM, VDC_OBJ_HPOOL, VDC_OBJ_VOLUME, VDC_OBJ_CPOOL,
    VDC_OBJ_DESIRED, /* a VM directory of the desired state (desired.h) */
    VDC_OBJ_SCRATCH, /* a temporary file in a VM directory (scratch.h) */
    VDC_OBJ_ARRAY,   /* an iSCSI array (array_model.h) */
    VDC_OBJ_LUN,     /* one LUN of an array, a disk or a snapshot (array_model.h) */
    VDC_OBJ_VMSNAP,  /* a VM snapshot (snapshot_model.h) */
    VDC_OBJ_SNAPDISK, /* a disk image of a VM snapshot (snapshot_model.h) */
    VDC_OBJ_VMDISK,   /* a disk of a VM: vms/<vm>/disks/<target>/ (vmdisk_model.h) */
};

/* The files of each object type ("sub" in VDC_INO). */
enum { VDC_HOST_DIR = 0, VDC_HOST_INFO, VDC_HOST_VMS, VDC_HOST_POOLS };
/* A VM directory's files; a desired entry (desired.h) uses the same
 * numbers for the same files. */
enum { VDC_VM_DIR = 0, VDC_VM_STATE, VDC_VM_STATUS, VDC_VM_DOMXML, VDC_VM_HOSTLINK, VDC_VM_SPEC,
       VDC_VM_POWER, VDC_VM_SNAPS, VDC_VM_REVERT, VDC_VM_DISKS };
enum { VDC_VMDISK_DIR = 0, VDC_VMDISK_INFO };
enum { VDC_SNAP_DIR = 0, VDC_SNAP_INFO, VDC_SNAP_DOMXML, VDC_SNAP_DISKS };
enum { VDC_SNAPDISK_IMG = 0 };
enum { VDC_HPOOL_DIR = 0, VDC_HPOOL_INFO, VDC_HPOOL_VOLS };
enum { VDC_VOLUME_FILE = 0 };
enum { VDC_CPOOL_DIR = 0, VDC_CPOOL_INFO };
enum { VDC_ARRAY_DIR = 0, VDC_ARRAY_INFO, VDC_ARRAY_LUNS };
enum { VDC_LUN_DIR = 0, VDC_LUN_INFO, VDC_LUN_SNAPSHOTS };

struct vdc_desired;
struct vdc_vmdisk;

struct vdc_obj {
    uint64_t id;
    enum vdc_obj_type type;
    struct timespec mtime; /* last change of anything this object shows */
};

struct vdc_host {
    struct vdc_obj o;
    unsigned index; /* position in the config */
    char *name, *uri;
    bool connected;
    bool ever_connected;
    char *error;                /* last connection error, NULL if none */
    struct hv_host_info *info;  /* last known, NULL before first connect */
    GBytes *info_json;
    GHashTable *vms;            /* vm->uuid -> struct vdc_vm*, owns the VMs */
    GHashTable *vms_by_fname;   /* vm->fname -> struct vdc_vm* (borrowed keys) */
    GHashTable *pools;          /* encoded name -> struct vdc_hpool*, owns */
};

struct vdc_vm {
    struct vdc_obj o;
    struct vdc_host *host;
    char *name;     /* as the hypervisor has it */
    char uuid[37];
    char *fname;    /* encoded name, unique within the host */
    char *display;  /* name in vms/: fname, or fname@host when shared */
    enum vdc_vm_state state;
    enum vdc_vm_state last_seen; /* last state the host reported */
    bool autostart, persistent;
    struct vdc_desired *managed; /* the desired entry bound to this VM, or NULL */
    /* What the files show.  The parsed facts are not kept (10,000 VMs must
     * fit in little memory): status.json is rendered when they arrive,
     * state and the host symlink are derived from the fields above, and
     * both documents are kept packed (ztext.h). */
    GBytes *domain_xml, *status_json;
    /* Its iSCSI disks as "<iqn>/<lun>", or NULL when it has none: what
     * an array LUN's used_by is made of (array_model.h). */
    GStrv iscsi_disks;
    /* vms/<vm>/disks/: one small object per disk (each directory needs an
     * inode), NULL-terminated, owned; NULL when it has none.  What a disk
     * shows is read from status.json when asked (vmdisk_model.h). */
    struct vdc_vmdisk **disks;
};

/* The content of vms/<vm>/state for @state: shared, never freed. */
GBytes *vdc_vm_state_bytes(enum vdc_vm_state state);

struct vdc_hpool {
    struct vdc_obj o;
    struct vdc_host *host;
    char *fname;
    struct hv_pool *facts; /* facts->volumes moved into volumes */
    GBytes *info_json;
    GHashTable *volumes; /* "<encoded name>.json" -> struct vdc_volume*, owns */
};

struct vdc_volume {
    struct vdc_obj o;
    struct vdc_hpool *pool;
    char *fname; /* "<encoded name>.json" */
    GBytes *json;
};

/* A pool as the cluster sees it: every host's pool of that name. */
struct vdc_cpool {
    struct vdc_obj o;
    char *fname;
    GBytes *info_json;
};

struct vdc_model {
    GRWLock lock;
    GPtrArray *hosts;           /* of struct vdc_host*, owned, config order */
    GHashTable *host_by_name;   /* name -> host */
    GHashTable *vms_by_display; /* vm->display -> vm (borrowed keys) */
    GHashTable *vms_by_name;    /* raw name -> GPtrArray of vm (not owned) */
    GHashTable *cpools;         /* fname -> struct vdc_cpool*, owned */
    GHashTable *objs;           /* id (uint64 key) -> struct vdc_obj* */
    GHashTable *desired;        /* fname -> struct vdc_desired*, owned (desired.h) */
    GHashTable *desired_by_uuid; /* uuid -> struct vdc_desired* (borrowed keys) */
    GHashTable *scratch;        /* "dirid/name" -> struct vdc_scratch*, owned (scratch.h) */
    GPtrArray *arrays;          /* of struct vdc_array*, owned, config order (array_model.h) */
    GHashTable *array_by_name;  /* name -> struct vdc_array* */
    uint64_t next_id;
    struct timespec start_time;
};

extern struct vdc_model vdc_model;

void vdc_model_init(void);
void vdc_model_free(void);

void vdc_model_read_lock(void);
void vdc_model_read_unlock(void);

/* Finds an object by id; NULL if gone.  Read lock held. */
struct vdc_obj *vdc_model_find(uint64_t id);

/* --- updates (take the write lock themselves) ------------------------- */

/* At start-up, before any runner: adds a configured host. */
unsigned vdc_model_add_host(const char *name, const char *uri);

/* The host answered: records @info (consumed). */
void vdc_model_host_connected(unsigned host, struct hv_host_info *info);

/* The host is gone (or never came): marks it disconnected with @error and
 * every VM of it "unknown" (their last facts stay).  Emits "disconnected"
 * when the host was connected or the error is a new one, so a host that
 * stays down does not flood the log. */
void vdc_model_host_disconnected(unsigned host, const char *error);

/* Replaces the host's VMs with @vms (consumed; of struct hv_vm*): new ones
 * appear, changed ones update, missing ones go.  For a backend that hands
 * over whole lists; the host runner fetches VM by VM (vdc_model_vm_update,
 * vdc_model_host_prune_vms) so that memory does not grow with a host. */
void vdc_model_host_sync_vms(unsigned host, GPtrArray *vms);

/* True when the model already shows the VM of @brief as the brief says
 * (same state, autostart and persistence): the runner need not fetch it. */
bool vdc_model_vm_matches(unsigned host, const struct hv_vm_brief *brief);

/* Removes the host's VMs whose uuid is not in @alive (a set of uuids). */
void vdc_model_host_prune_vms(unsigned host, GHashTable *alive);

/* One VM changed (@vm consumed) or disappeared. */
void vdc_model_vm_update(unsigned host, struct hv_vm *vm);
void vdc_model_vm_gone(unsigned host, const char *uuid);

/* Replaces the host's pools with @pools (consumed; of struct hv_pool*). */
void vdc_model_host_sync_pools(unsigned host, GPtrArray *pools);

#endif
