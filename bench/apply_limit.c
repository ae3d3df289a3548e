/* apply_limit.c — the limit for bench/apply.sh: define and start N small
 * test-driver domains through the libvirt API, over one connection, as
 * fast as one client can (two RPCs per VM: virDomainDefineXML then
 * virDomainCreate), and print how long that took.
 *
 *   cc -O2 -o apply_limit apply_limit.c $(pkg-config --cflags --libs libvirt)
 *   ./apply_limit URI N [PREFIX]      # e.g. test+tcp://127.0.0.1:PORT/default 1000 bench
 *
 * Names are PREFIX-1 .. PREFIX-N (default prefix "bench"); the XML is made
 * with snprintf, which is safe only because the program makes the names
 * itself and refuses a prefix with anything but [A-Za-z0-9_.-].
 *
 * Prints one line on stdout: the seconds the loop took (connecting is not
 * counted).  Exits 1 on the first error, with libvirt's message on stderr.
 */
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(const char *what, const char *name)
{
    const char *msg = virGetLastErrorMessage();
    fprintf(stderr, "apply_limit: %s %s: %s\n", what, name ? name : "", msg ? msg : "?");
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s URI N [PREFIX]\n", argv[0]);
        return 2;
    }
    const char *uri = argv[1];
    char *end;
    long n = strtol(argv[2], &end, 10);
    if (*end || n < 1 || n > 1000000) {
        fprintf(stderr, "apply_limit: N must be 1..1000000\n");
        return 2;
    }
    const char *prefix = argc == 4 ? argv[3] : "bench";
    if (!*prefix || strlen(prefix) > 64 ||
        strspn(prefix, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") !=
            strlen(prefix)) {
        fprintf(stderr, "apply_limit: PREFIX must be 1-64 of [A-Za-z0-9_.-]\n");
        return 2;
    }

    virConnectPtr conn = virConnectOpen(uri);
    if (!conn)
        return fail("connect", uri);

    char name[96], xml[512];
    double t0 = now();
    for (long i = 1; i <= n; i++) {
        snprintf(name, sizeof name, "%s-%ld", prefix, i);
        int len = snprintf(xml, sizeof xml,
                           "<domain type='test'>"
                           "<name>%s</name>"
                           "<memory unit='MiB'>128</memory>"
                           "<vcpu>1</vcpu>"
                           "<os><type>hvm</type></os>"
                           "</domain>",
                           name);
        if (len < 0 || (size_t)len >= sizeof xml) {
            fprintf(stderr, "apply_limit: XML too long for %s\n", name);
            return 1;
        }
        virDomainPtr dom = virDomainDefineXML(conn, xml);
        if (!dom)
            return fail("define", name);
        if (virDomainCreate(dom) < 0)
            return fail("start", name);
        virDomainFree(dom);
    }
    double t1 = now();
    printf("%.6f\n", t1 - t0);
    virConnectClose(conn);
    return 0;
}
