/* desired.h — the desired half of the model: VM directories as users
 * made them (mkdir, spec.json), and how far each has been applied.
 *
 * A desired entry exists for every name in vms/ that has a spec, was made
 * with mkdir, or had a spec refused; it is the directory vms/<fname>
 * (same file numbers as a VM's, model.h).  It is bound to the observed VM
 * whose uuid it names on the host it is placed on, and its files show
 * that VM's facts together with the spec and the conditions.  VMs without
 * an entry show as before, with spec.json describing them as they are.
 *
 * Who changes what: the controller (vm_ctl.c, one thread) creates,
 * changes and removes entries after it has persisted them (store.h); the
 * reconciler (reconcile.h, the host runners' threads) only reports
 * conditions.  Every function takes the model lock itself, except those
 * marked "lock held" (read lock is enough).
 *
 * Ownership: entries belong to the model.  struct vdc_want is a copy the
 * caller owns (vdc_want_free).
 */
#ifndef VDCFS_DESIRED_H
#define VDCFS_DESIRED_H

#include <glib.h>
#include <jansson.h>

#include "model.h"
#include "spec.h"

/* Kubernetes-style conditions of status.json. */
enum vdc_cond_type { VDC_COND_SPEC_VALID, VDC_COND_APPLIED, VDC_COND_IN_SYNC, VDC_COND_COUNT };
enum vdc_cond_status { VDC_COND_UNKNOWN = 0, VDC_COND_TRUE, VDC_COND_FALSE };

struct vdc_cond {
    enum vdc_cond_status status;
    char *reason, *message;
    struct timespec since; /* last transition of status */
};

struct vdc_desired {
    struct vdc_obj o;
    char *fname;               /* name in vms/ */
    char *name;                /* the VM's name (fname decoded) */
    GBytes *spec_text;         /* the accepted spec, as written; NULL: none */
    uint64_t generation;       /* spec_generation: +1 per accepted spec */
    uint64_t observed_generation;
    char uuid[37];             /* "" until assigned */
    char *host;                /* placement, NULL until placed */
    GPtrArray *macs;           /* per interface: assigned MAC (g_malloc'd) or NULL */
    bool in_store;             /* has a directory in the state dir */
    bool deleting;             /* rmdir accepted: being undefined, hidden */
    struct vdc_cond cond[VDC_COND_COUNT];
    struct vdc_vm *vm;         /* the bound VM, NULL when not (yet) on its host */
};

/* What the controller and the reconciler work on: a copy of an entry. */
struct vdc_want {
    char *fname, *name;
    GBytes *spec_text;         /* NULL: no spec */
    struct vdc_spec *spec;     /* spec_text parsed; NULL when none or invalid */
    uint64_t generation;
    char uuid[37];
    char *host;
    GPtrArray *macs;           /* of g_malloc'd char* or NULL, owned */
    bool in_store, deleting;
    bool exists;               /* an entry was there when copied */
};

void vdc_want_free(struct vdc_want *w);
typedef struct vdc_want vdc_want;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(vdc_want, vdc_want_free)

/* A copy of entry @fname, or a fresh want (exists = false, generation 0)
 * when there is none. */
struct vdc_want *vdc_desired_get(const char *fname);

/* Creates or replaces entry @w->fname with @w's spec, generation,
 * placement and flags; binds it; SpecValid becomes True when it has a
 * spec.  Emits nothing: the controller says what happened. */
void vdc_desired_put(const struct vdc_want *w);

/* Records a refused spec on entry @fname (making a bare entry bound to
 * @uuid on @host when there is none and @host is given; both may be NULL):
 * SpecValid False with @message. */
void vdc_desired_refuse(const char *fname, const char *uuid, const char *host,
                        const char *message);

/* Removes entry @fname (its VM, if any, shows as unmanaged again). */
void vdc_desired_remove(const char *fname);

/* Sets condition @type of entry @fname if it still has @generation (a
 * report about an older spec is dropped).  @observed: also record that
 * @generation has been applied.  Returns true when the condition's
 * status, reason or message changed. */
bool vdc_desired_report(const char *fname, uint64_t generation, enum vdc_cond_type type,
                        enum vdc_cond_status status, const char *reason, const char *message,
                        bool observed);

/* fnames (g_malloc'd) of the entries placed on @host with a spec or being
 * deleted; with @host NULL, the entries with a spec not placed yet. */
GPtrArray *vdc_desired_list(const char *host);

/* The connected host with the most free memory once the VMs placed on it
 * but not defined yet are counted; NULL when none is connected.
 * g_malloc'd.  Lock held. */
char *vdc_desired_pick_host(void);

/* Lock held. */
struct vdc_desired *vdc_desired_find(const char *fname);
/* The entry that manages @vm's directory (vm->managed) or NULL. */
struct vdc_desired *vdc_desired_of_vm(const struct vdc_vm *vm);

/* Lock held: status.json of a VM directory: the VM's facts (when @vm)
 * and, when @d, the spec's generations, placement and conditions. */
GBytes *vdc_vmdir_status(const struct vdc_vm *vm, const struct vdc_desired *d);
/* Lock held: spec.json of a VM without a spec: the spec that describes
 * it as it is (from its domain XML). */
GBytes *vdc_vm_derived_spec(const struct vdc_vm *vm);

#endif
