/* events.h — the /events log.
 *
 * An append-only log of newline-delimited JSON objects, one per change or
 * action.  Offsets are absolute: byte N of the file is byte N emitted since
 * the daemon started, so the file grows like a log and `tail -f` follows
 * it.  The daemon keeps the most recent VDC_EVENTS_KEEP bytes (whole
 * lines); a reader that falls further behind skips ahead.
 *
 * Readers that wait for the next event are the FUSE layer's business;
 * the log only tells its listener that something was appended.
 */
#ifndef VDCFS_EVENTS_H
#define VDCFS_EVENTS_H

#include <glib.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define VDC_EVENTS_KEEP (1u << 20)

void vdc_events_init(void);
/* Frees the log and tells the listener (closing = 1).  Reads after this
 * find nothing and vdc_events_is_open() is false. */
void vdc_events_shutdown(void);

/* Appends one event.  Adds "time" (RFC 3339, UTC, milliseconds) first,
 * then the keys of @fields in order.  Steals the reference to @fields. */
void vdc_events_emit(json_t *fields);

/* Convenience for the common shape: kind, name, host, event, then any
 * extra "key", value (json_t*, stolen) pairs, NULL-terminated. */
void vdc_events_emitf(const char *kind, const char *name, const char *host,
                      const char *event, ...) G_GNUC_NULL_TERMINATED;

bool vdc_events_is_open(void);

/* Total bytes emitted so far (the file's size). */
uint64_t vdc_events_size(void);

/* Copies up to @size bytes from absolute offset *@off into a new GBytes.
 * If *@off is older than what is kept, it is moved forward to the oldest
 * kept line.  Returns NULL when nothing is available at *@off yet. */
GBytes *vdc_events_read(uint64_t *off, size_t size);

/* Sets the one listener that is called, outside the log's lock, after
 * every event is appended (closing = 0) and once when the log shuts down
 * (closing = 1).  The FUSE layer uses it to answer parked reads and polls.
 * Set it before any event can be emitted. */
void vdc_events_listen(void (*fn)(int closing));

#endif
