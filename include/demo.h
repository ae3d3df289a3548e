/* demo.h — the shipped demo datacenter (the XML files in backends/demo).
 *
 * Three hosts of libvirt's test driver, embedded in the binary; --demo
 * writes them to a private temporary directory and connects to each with
 * a test:/// URI, in process.
 */
#ifndef VDCFS_DEMO_H
#define VDCFS_DEMO_H

#include <stddef.h>

#include "config.h"

struct vdc_demo_host {
    const char *name; /* host name, from the file name */
    const char *xml;  /* NUL-terminated */
    size_t len;
};

/* Terminated by an entry with name == NULL. */
extern const struct vdc_demo_host vdc_demo_hosts[];

/* Writes the demo hosts into a new temporary directory and adds them to
 * @cfg.  Returns the directory (caller frees it and later removes it with
 * vdc_demo_cleanup), or NULL with *err set. */
char *vdc_demo_prepare(struct vdc_config *cfg, GError **err);
void vdc_demo_cleanup(const char *dir);

#endif
