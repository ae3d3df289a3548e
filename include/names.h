/* names.h — turning datacenter object names into file names and back.
 *
 * Hypervisors allow names that cannot be file names ("." , "..", names
 * with '/').  vdcfs never drops such an object: it shows it with the
 * offending bytes percent-encoded.  To keep the mapping one-to-one, '%'
 * itself is encoded, and so is '@', which the vms/ directory uses to
 * tell apart VMs of the same name on different hosts ("db-1@alpha").
 */
#ifndef VDCFS_NAMES_H
#define VDCFS_NAMES_H

#include <stdbool.h>

/* Returns a newly allocated file name for @raw (free with g_free).
 * Never fails.  '/', '%' and '@' become %2F, %25 and %40; a name that is
 * exactly "." or ".." has its dots encoded (%2E); the empty name (which
 * no hypervisor we know allows) becomes "%00". */
char *vdc_name_encode(const char *raw);

/* Inverse of vdc_name_encode().  Returns a newly allocated raw name, or
 * NULL when @enc is not something vdc_name_encode() could have produced. */
char *vdc_name_decode(const char *enc);

/* True when @name is acceptable as a configured host name: 1..64 bytes of
 * [A-Za-z0-9._-], not starting with '.'.  Host names are ours (from the
 * config file), so they are validated instead of encoded. */
bool vdc_host_name_valid(const char *name);

#endif
