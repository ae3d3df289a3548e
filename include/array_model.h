/* array_model.h — the storage arrays in the model: arrays/<array>/.
 *
 *   arrays/<array>/info.json                 the array: where, whether it answers
 *   arrays/<array>/luns/<lun>/info.json      a disk LUN, as it reports itself over iSCSI
 *   arrays/<array>/luns/<lun>/snapshots/<id>/info.json
 *                                            the array's snapshots of that LUN
 *
 * Only the array runner (array_runner.h) updates these, with what it read
 * from the array: the LUN facts over iSCSI (iscsi.h) and which LUN is a
 * snapshot of which from the array's management side (array.h).  The
 * array's CHAP secret never reaches the model (its user name does: a LUN
 * disk's domain XML names it, see spec.h).
 *
 * Ownership: as model.h; the update functions take ownership of what
 * they are given.
 */
#ifndef VDCFS_ARRAY_MODEL_H
#define VDCFS_ARRAY_MODEL_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "array.h"
#include "config.h"
#include "iscsi.h"
#include "model.h"

struct vdc_lun;

struct vdc_array {
    struct vdc_obj o;
    unsigned index;               /* position in the config */
    char *name, *driver, *portal, *target;
    char *chap_user;              /* NULL without CHAP; the password is not here */
    bool connected;
    bool ever_connected;
    char *error;                  /* why it does not answer, NULL when it does */
    uint64_t capacity, allocation; /* the array's raw space, bytes */
    GBytes *info_json;
    GHashTable *luns;             /* "<lun>" -> struct vdc_lun*, owned: disk LUNs */
    GHashTable *snapshots;        /* "<lun>" -> struct vdc_lun*, owned: snapshot and clone LUNs */
};

struct vdc_lun {
    struct vdc_obj o;
    struct vdc_array *array;
    char *fname;                 /* the LUN number, as a file name */
    struct array_lun *mgmt;      /* the management side's view, owned */
    struct vdc_lun_facts *facts; /* over iSCSI, owned; NULL when not read */
    GBytes *info_json;           /* without used_by (that is computed when read) */
    char *used_by_seen;          /* used_by at the last sync (compact JSON), to notice changes */
};

/* At start-up, before the runners: adds a configured array.  Returns its
 * index. */
unsigned vdc_model_add_array(const struct vdc_array_config *cfg);

/* The array answered: replaces its LUNs with @mgmt (of struct array_lun*)
 * and @facts (of struct vdc_lun_facts*, by LUN number; a LUN without
 * facts is shown with nulls), both consumed. */
void vdc_model_array_sync(unsigned index, GPtrArray *mgmt, GPtrArray *facts, uint64_t capacity,
                          uint64_t allocation);

/* The array does not answer: marks it so with @error; its LUNs stay as
 * last seen.  Emits "disconnected" when that is news. */
void vdc_model_array_down(unsigned index, const char *error);

/* Read lock held.  The array called @name, or NULL. */
struct vdc_array *vdc_array_find(const char *name);

/* Read lock held.  A vdc_spec_array_lookup (spec.h) over the configured
 * arrays (@data unused): where array @name is, from its configuration,
 * whether or not it answers. */
bool vdc_array_lookup(const char *name, char **host, int *port, char **iqn, char **chap_user,
                      void *data);

/* Read lock held.  The VMs whose disks are on LUN @lun of the array with
 * target IQN @iqn: a JSON array of names in vms/ (a new reference). */
struct json_t;
struct json_t *vdc_lun_used_by(const char *iqn, unsigned lun);

/* For the tree: info.json of a LUN with used_by filled in (new ref). */
GBytes *vdc_lun_info(const struct vdc_lun *l);
/* Read lock held.  The same document as a JSON object (a new reference):
 * what a VM disk's info.json shows of its LUN (vmdisk_model.h). */
struct json_t *vdc_lun_info_json(const struct vdc_lun *l);

#endif
