/* tgt_fixture.h — a private tgtd for unit tests: a real iSCSI array on a
 * loopback portal with its own control port, one target, and LUNs backed
 * by sparse files.  Needs root (tgtd).  Stopped with SIGKILL (tgtd ignores
 * SIGTERM while it has targets) and its files removed. */
#ifndef VDCFS_TGT_FIXTURE_H
#define VDCFS_TGT_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct tgt_fixture {
    char *dir;          /* private temporary directory */
    char *backing_dir;  /* where the LUN files are (dir/luns unless given) */
    char portal[32];    /* "127.0.0.1:PORT" */
    unsigned control_port;
    char *iqn;
    pid_t pid;
};

/* Starts tgtd and creates target tid 1 named @iqn, open to every
 * initiator, with LUNs 1..@n backed by sparse files
 * <backing_dir>/lun<i>.img of @sizes[i-1] bytes (thin provisioning on).
 * @backing_dir NULL: a directory under the fixture's own.  Returns 0, or
 * -1 with a message on stderr (tgtd missing: the caller may skip). */
int tgt_fixture_start(struct tgt_fixture *f, const char *iqn, const char *backing_dir,
                      const uint64_t *sizes, unsigned n);

/* Runs tgtadm with this fixture's control port and the NULL-terminated
 * arguments that follow (no shell).  Returns its exit status, or -1. */
int tgt_fixture_tgtadm(const struct tgt_fixture *f, ...) __attribute__((sentinel));

/* Kills tgtd (SIGKILL) and waits for it; the files stay until stop. */
void tgt_fixture_kill(struct tgt_fixture *f);

/* Kills tgtd if running and removes the fixture's directory. */
void tgt_fixture_stop(struct tgt_fixture *f);

#endif
