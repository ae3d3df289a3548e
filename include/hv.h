/* hv.h — the hypervisor backend contract.
 *
 * A hypervisor backend (libvirt today; a fake in the unit tests) is an ops
 * table.  fs/ never calls a backend directly: one host runner thread per
 * configured host (backends/host_runner.c) owns the host's connection,
 * calls these ops and feeds what they return into the model.  So a slow or
 * dead host stalls only its own thread.
 *
 * Ownership: every struct hv_* returned through an out-parameter belongs to
 * the caller, who frees it with the matching hv_*_free().  Strings inside
 * are owned by the struct.  The array list_pools returns has no free
 * function: whoever takes the array frees the elements (the model keeps
 * them).
 */
#ifndef VDCFS_HV_H
#define VDCFS_HV_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

enum vdc_vm_state {
    VDC_VM_UNKNOWN = 0,
    VDC_VM_RUNNING,
    VDC_VM_BLOCKED,
    VDC_VM_PAUSED,
    VDC_VM_SHUTOFF,
    VDC_VM_CRASHED,
    VDC_VM_SUSPENDED, /* suspended to memory/disk by the guest (PM) */
};

/* The one word that vms/<vm>/state holds. */
const char *vdc_vm_state_word(enum vdc_vm_state s);

enum hv_disk_source {
    HV_DISK_NONE = 0, /* e.g. an empty CD-ROM */
    HV_DISK_FILE,
    HV_DISK_BLOCK,
    HV_DISK_VOLUME,
    HV_DISK_NETWORK,
};

struct hv_disk {
    char *target, *bus, *device;
    enum hv_disk_source source;
    char *path;             /* FILE, BLOCK */
    char *pool, *volume;    /* VOLUME */
    char *protocol, *name;  /* NETWORK, e.g. "iscsi", "IQN/LUN" */
    char *host;             /* NETWORK: first <host>, may be NULL */
    int port;               /* NETWORK: 0 when not given */
};

struct hv_iface {
    char *mac;
    char *network; /* type='network' */
    char *bridge;  /* type='bridge' */
};

/* Everything the model keeps about one VM.  Parsed from the domain XML by
 * the backend; the model renders it and keeps only what it needs. */
struct hv_vm {
    char *name;
    char uuid[37];
    enum vdc_vm_state state;
    unsigned vcpus;              /* current vcpus: <vcpu current=...>, else its text */
    unsigned max_vcpus;          /* the maximum: <vcpu>'s text; 0 when there is no
                                  * <vcpu> (then the same as vcpus) */
    uint64_t memory_kib;         /* <memory>: the maximum memory */
    uint64_t current_memory_kib; /* <currentMemory> (the balloon); 0 when absent, which
                                  * means the same as memory_kib */
    bool autostart, persistent;
    char *description;     /* <description>, NULL when absent */
    char *domain_xml;      /* exactly as the hypervisor reported it */
    GPtrArray *disks;      /* of struct hv_disk*, owned */
    GPtrArray *interfaces; /* of struct hv_iface*, owned */
};

/* What a host says about a VM in its cheap, whole-host listing: enough to
 * tell whether the VM changed since we last fetched it. */
struct hv_vm_brief {
    char uuid[37];
    enum vdc_vm_state state;
    bool autostart, persistent;
};

struct hv_volume {
    char *name, *path, *type;
    uint64_t capacity, allocation;
};

struct hv_pool {
    char *name, *type, *state; /* state: inactive, building, running, degraded, inaccessible */
    uint64_t capacity, allocation, available;
    GPtrArray *volumes; /* of struct hv_volume*, owned */
};

struct hv_host_info {
    char *hypervisor;          /* e.g. "QEMU", "TEST" */
    char *hypervisor_version;  /* "major.minor.release" */
    char *libvirt_version;
    unsigned cpus;
    uint64_t memory_kib;
    uint64_t free_kib;         /* free memory now; 0 when the host cannot say */
    char *domain_type;         /* <domain type=...> this host runs: "kvm", "qemu", "test" */
};

/* What vms/<vm>/power asks for, and the reconciler's state changes. */
enum hv_power_action {
    HV_POWER_START = 1,
    HV_POWER_START_PAUSED, /* start, but leave the CPUs paused */
    HV_POWER_SHUTDOWN,     /* ask the guest (ACPI) */
    HV_POWER_DESTROY,      /* pull the plug */
    HV_POWER_REBOOT,
    HV_POWER_SUSPEND,
    HV_POWER_RESUME,
};

/* Where a backend reports what happens on the host, between calls.  The
 * callbacks may run on any thread (libvirt's event loop); they only record
 * the news and wake the host runner, which does the fetching. */
struct hv_sink {
    void (*vm_changed)(void *ctx, const char *uuid);
    /* The VM's definition changed (defined, undefined): its persistent
     * configuration may differ now, not only its state.  NULL: reported
     * through vm_changed. */
    void (*vm_redefined)(void *ctx, const char *uuid);
    void (*pools_changed)(void *ctx);
    void (*connection_lost)(void *ctx, const char *reason);
    void *ctx;
};

struct hv_conn; /* a backend's connection to one host, opaque */

struct hv_ops {
    const char *name;
    /* Process-wide set-up (event loop).  Returns 0, or -1 with *err set. */
    int (*global_init)(char **err);
    /* Connects to @uri and subscribes @sink to its events.  @sink must
     * outlive the connection (callbacks may still be in flight while it
     * closes).  Blocks as long as the host takes.  Returns NULL with *err
     * (g_malloc'd) on failure. */
    struct hv_conn *(*connect)(const char *uri, const struct hv_sink *sink, char **err);
    /* Unsubscribes and closes; @conn is freed. */
    void (*disconnect)(struct hv_conn *conn);
    /* Each returns 0 on success or -1 with *err (g_malloc'd) set. */
    int (*host_info)(struct hv_conn *conn, struct hv_host_info **out, char **err);
    /* Every VM of the host, briefly, in a few calls for the whole host
     * (not one per VM): *out is a GArray of struct hv_vm_brief. */
    int (*list_vm_briefs)(struct hv_conn *conn, GArray **out, char **err);
    /* Everything about one VM.  @known, when given, is a brief just
     * listed: the backend may take state, autostart and persistent from it
     * instead of asking again.  Returns 0 and *out, 1 when the VM no
     * longer exists, -1 on error. */
    int (*get_vm)(struct hv_conn *conn, const char *uuid, const struct hv_vm_brief *known,
                  struct hv_vm **out, char **err);
    int (*list_pools)(struct hv_conn *conn, GPtrArray **out /* of hv_pool* */, char **err);

    /* --- writes: only the reconciler calls these, on the runner thread.
     * VMs are named by uuid.  Each returns 0, or -1 with *err (g_malloc'd,
     * one line, the hypervisor's own message). */

    /* The VM's persistent definition (inactive XML, what the next boot
     * gets), parsed; state/autostart/persistent filled in as get_vm does.
     * Returns 0 and *out, 1 when the VM does not exist, -1 on error. */
    int (*get_vm_config)(struct hv_conn *conn, const char *uuid, struct hv_vm **out, char **err);
    /* Defines (or redefines, same name and uuid) a persistent VM. */
    int (*define_vm)(struct hv_conn *conn, const char *xml, char **err);
    /* Removes the definition of a VM that is not running (with its
     * managed save and snapshot metadata, not its disks). */
    int (*undefine_vm)(struct hv_conn *conn, const char *uuid, char **err);
    int (*power)(struct hv_conn *conn, const char *uuid, enum hv_power_action action, char **err);
    int (*set_autostart)(struct hv_conn *conn, const char *uuid, bool on, char **err);
    /* Changes a running VM now.  -1 when the hypervisor cannot (beyond
     * the VM's maximum, or not supported): the persistent definition
     * still has the new value, it applies at the next boot. */
    int (*set_vcpus_live)(struct hv_conn *conn, const char *uuid, unsigned vcpus, char **err);
    int (*set_memory_live)(struct hv_conn *conn, const char *uuid, uint64_t kib, char **err);
    /* Creates volume @name of @capacity bytes in pool @pool unless a
     * volume of that name is there.  Returns 0 when it created it, 1 when
     * it existed, -1 on error (no such pool, no room...). */
    int (*ensure_volume)(struct hv_conn *conn, const char *pool, const char *name,
                         uint64_t capacity, char **err);

    /* --- snapshots: on the runner thread too, same conventions (VMs by
     * uuid; 0, or -1 with *err g_malloc'd, one line, the hypervisor's own
     * message). */

    /* Freezes all the guest's filesystems through its guest agent.
     * Returns 0 when they are frozen; 1, with *err saying why, when this
     * VM cannot be frozen here (no guest agent or it does not answer, the
     * hypervisor cannot, the VM is not running): not a failure, the caller
     * suspends the VM instead; -1 on any other error. */
    int (*fs_freeze)(struct hv_conn *conn, const char *uuid, char **err);
    /* Thaws what fs_freeze froze. */
    int (*fs_thaw)(struct hv_conn *conn, const char *uuid, char **err);
    /* The hypervisor's own snapshot @name of the VM (for VMs whose disks
     * are not on an array), its guest filesystems quiesced first when
     * @quiesce: when the VM cannot be quiesced that is -1 (no retry
     * without; the caller decides).  On success *xml_out (g_malloc'd) is
     * the new snapshot's XML as the hypervisor describes it. */
    int (*snapshot_create)(struct hv_conn *conn, const char *uuid, const char *name,
                           bool quiesce, char **xml_out, char **err);
    /* Deletes the VM's snapshot @name (not its children).  Returns 0, 1
     * when the VM has no snapshot of that name, -1 on error. */
    int (*snapshot_delete)(struct hv_conn *conn, const char *uuid, const char *name,
                           char **err);
    /* Brings the VM back to its snapshot @name (disks, and the state it
     * was in then). */
    int (*snapshot_revert)(struct hv_conn *conn, const char *uuid, const char *name,
                           char **err);
    /* The names of the VM's hypervisor snapshots: *names is a new array
     * of g_malloc'd strings that it frees itself (g_free). */
    int (*snapshot_list)(struct hv_conn *conn, const char *uuid, GPtrArray **names, char **err);
};

/* The word of a power action ("start", "shutdown", ...), and back: 0 for
 * a word that is not one of vms/<vm>/power's six (start-paused is the
 * reconciler's own). */
const char *hv_power_word(enum hv_power_action a);
enum hv_power_action hv_power_parse(const char *word);

extern const struct hv_ops hv_libvirt_ops;

void hv_disk_free(struct hv_disk *d);
void hv_iface_free(struct hv_iface *i);
void hv_vm_free(struct hv_vm *vm);
void hv_volume_free(struct hv_volume *v);
void hv_pool_free(struct hv_pool *p);
void hv_host_info_free(struct hv_host_info *h);
struct hv_vm *hv_vm_new(void);
struct hv_pool *hv_pool_new(void);

/* Parses libvirt domain XML into @vm's name, uuid, vcpus (current and
 * maximum), memory (maximum and current), description, disks and
 * interfaces (state, autostart and persistent are not in the XML).  Takes
 * a copy of @xml into vm->domain_xml.  Returns 0, or -1 with *err set. */
int hv_parse_domain_xml(const char *xml, struct hv_vm *vm, char **err);

/* Extracts the type attribute of a libvirt storage pool XML; NULL if absent. */
char *hv_parse_pool_type(const char *xml);

#endif
