/* tgt_fixture.c — see tgt_fixture.h. */
#include "tgt_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* A TCP port nobody listens on now (bound to 0, then released). */
static unsigned free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    unsigned port = 0;
    if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(s, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (s >= 0)
        close(s);
    return port;
}

static int run_argv(char **argv)
{
    int status = 0;
    GError *e = NULL;
    if (!g_spawn_sync(NULL, argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL,
                      NULL, NULL, NULL, &status, &e)) {
        fprintf(stderr, "tgt_fixture: %s: %s\n", argv[0], e->message);
        g_error_free(e);
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int tgt_fixture_tgtadm(const struct tgt_fixture *f, ...)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(argv, g_strdup("tgtadm"));
    g_ptr_array_add(argv, g_strdup("-C"));
    g_ptr_array_add(argv, g_strdup_printf("%u", f->control_port));
    va_list ap;
    va_start(ap, f);
    for (const char *a; (a = va_arg(ap, const char *));)
        g_ptr_array_add(argv, g_strdup(a));
    va_end(ap);
    g_ptr_array_add(argv, NULL);
    return run_argv((char **)argv->pdata);
}

static bool tgtd_ready(const struct tgt_fixture *f)
{
    return tgt_fixture_tgtadm(f, "--mode", "sys", "--op", "show", NULL) == 0;
}

static int make_lun(struct tgt_fixture *f, unsigned i, uint64_t size)
{
    g_autofree char *path = g_strdup_printf("%s/lun%u.img", f->backing_dir, i);
    g_autofree char *lun = g_strdup_printf("%u", i);
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
        fprintf(stderr, "tgt_fixture: %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    if (tgt_fixture_tgtadm(f, "--lld", "iscsi", "--mode", "logicalunit", "--op", "new", "--tid",
                           "1", "--lun", lun, "-b", path, NULL) != 0 ||
        tgt_fixture_tgtadm(f, "--lld", "iscsi", "--mode", "logicalunit", "--op", "update",
                           "--tid", "1", "--lun", lun, "--params", "thin_provisioning=1",
                           NULL) != 0)
        return -1;
    return 0;
}

int tgt_fixture_start(struct tgt_fixture *f, const char *iqn, const char *backing_dir,
                      const uint64_t *sizes, unsigned n)
{
    memset(f, 0, sizeof(*f));
    f->dir = g_dir_make_tmp("vdcfs-tgt-XXXXXX", NULL);
    if (!f->dir)
        return -1;
    f->backing_dir = backing_dir ? g_strdup(backing_dir) : g_build_filename(f->dir, "luns", NULL);
    g_mkdir_with_parents(f->backing_dir, 0700);
    f->iqn = g_strdup(iqn);
    unsigned port = free_port();
    /* Control ports are unix sockets /var/run/tgtd/socket.N: pick an N
     * that no other tgtd uses. */
    for (f->control_port = 1000 + (unsigned)(getpid() % 20000);; f->control_port++) {
        g_autofree char *sock = g_strdup_printf("/var/run/tgtd/socket.%u", f->control_port);
        if (!g_file_test(sock, G_FILE_TEST_EXISTS))
            break;
    }
    snprintf(f->portal, sizeof(f->portal), "127.0.0.1:%u", port);

    g_autofree char *portal_arg = g_strdup_printf("portal=%s", f->portal);
    g_autofree char *ctl = g_strdup_printf("%u", f->control_port);
    g_autofree char *log = g_build_filename(f->dir, "tgtd.log", NULL);
    char *argv[] = {"tgtd", "-f", "--iscsi", portal_arg, "-C", ctl, NULL};
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(log, O_CREAT | O_WRONLY | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        setsid();
        execvp("tgtd", argv);
        _exit(127);
    }
    f->pid = pid;
    for (int i = 0; i < 100 && !tgtd_ready(f); i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            f->pid = 0;
            fprintf(stderr, "tgt_fixture: tgtd exited (see %s)\n", log);
            return -1;
        }
        g_usleep(50000);
    }
    if (tgt_fixture_tgtadm(f, "--lld", "iscsi", "--mode", "target", "--op", "new", "--tid", "1",
                           "-T", iqn, NULL) != 0 ||
        tgt_fixture_tgtadm(f, "--lld", "iscsi", "--mode", "target", "--op", "bind", "--tid", "1",
                           "-I", "ALL", NULL) != 0)
        return -1;
    for (unsigned i = 1; i <= n; i++)
        if (make_lun(f, i, sizes[i - 1]) < 0)
            return -1;
    return 0;
}

void tgt_fixture_kill(struct tgt_fixture *f)
{
    if (f->pid > 0) {
        kill(f->pid, SIGKILL);
        waitpid(f->pid, NULL, 0);
        f->pid = 0;
        g_autofree char *sock = g_strdup_printf("/var/run/tgtd/socket.%u", f->control_port);
        g_autofree char *lock = g_strdup_printf("%s.lock", sock);
        g_unlink(sock);
        g_unlink(lock);
    }
}

static void remove_tree(const char *path)
{
    char *argv[] = {"rm", "-rf", "--one-file-system", (char *)path, NULL};
    run_argv(argv);
}

void tgt_fixture_stop(struct tgt_fixture *f)
{
    tgt_fixture_kill(f);
    if (f->dir)
        remove_tree(f->dir);
    g_free(f->dir);
    g_free(f->backing_dir);
    g_free(f->iqn);
    memset(f, 0, sizeof(*f));
}
