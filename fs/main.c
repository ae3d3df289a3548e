/* main.c — the vdcfs command: options, start-up, mount, serve, clean exit.
 *
 * Start-up order matters: we fork (when not -f) before any thread exists,
 * load every host (bounded wait) before mounting, and the parent exits
 * only once the mount is ready, so `vdcfs --demo /dc && ls /dc/vms` works.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <glib/gstdio.h>
#include <libvirt/libvirt.h>
#include <grp.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "array_model.h"
#include "array_runner.h"
#include "config.h"
#include "demo.h"
#include "events.h"
#include "fuse_ll.h"
#include "host_runner.h"
#include "lun_read.h"
#include "snap_ctl.h"
#include "inval.h"
#include "model.h"
#include "store.h"
#include "tree.h"
#include "vm_ctl.h"

#ifndef VDCFS_VERSION
#define VDCFS_VERSION "0.0.0"
#endif

/* How long start-up waits for the hosts before mounting anyway. */
#define FIRST_LOAD_SECONDS 10
/* How long shutdown waits for a host thread stuck in a call. */
#define STOP_SECONDS 3

struct options {
    const char *config_path;
    bool demo, foreground, debug;
    GPtrArray *fuse_opts; /* "-o" values */
    const char *mountpoint;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: vdcfs [--config FILE | --demo] [-f] [-d] [-o FUSE_OPTIONS] MOUNTPOINT\n"
            "\n"
            "Mounts a virtual datacenter (libvirt hosts, their VMs and pools) as files.\n"
            "\n"
            "  -c, --config FILE  the datacenter to mount (JSON; see vdcfs(1))\n"
            "      --demo         mount the shipped demo datacenter (3 in-process test hosts)\n"
            "  -f                 stay in the foreground\n"
            "  -d                 FUSE debug output (implies -f)\n"
            "  -o OPTIONS         FUSE mount options, e.g. -o allow_other\n"
            "  -h, --help         this text\n"
            "  -V, --version      version information\n");
}

static void version(void)
{
    unsigned long lv = 0;
    virGetVersion(&lv, NULL, NULL);
    printf("vdcfs %s (libvirt %lu.%lu.%lu, libfuse %s)\n", VDCFS_VERSION, lv / 1000000,
           (lv / 1000) % 1000, lv % 1000, fuse_pkgversion());
}

/* Returns 0 to go on, or an exit status (for --help/--version or errors). */
static int parse_options(int argc, char **argv, struct options *o, int *exit_status)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"demo", no_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},         {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "c:fdo:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->config_path = optarg;
            break;
        case 'D':
            o->demo = true;
            break;
        case 'f':
            o->foreground = true;
            break;
        case 'd':
            o->debug = o->foreground = true;
            break;
        case 'o':
            g_ptr_array_add(o->fuse_opts, optarg);
            break;
        case 'h':
            usage(stdout);
            *exit_status = 0;
            return 1;
        case 'V':
            version();
            *exit_status = 0;
            return 1;
        default:
            usage(stderr);
            *exit_status = 2;
            return 1;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "vdcfs: %s\n",
                optind >= argc ? "missing MOUNTPOINT" : "too many arguments");
        usage(stderr);
        *exit_status = 2;
        return 1;
    }
    if (!!o->config_path == o->demo) {
        fprintf(stderr, "vdcfs: give exactly one of --config FILE and --demo\n");
        *exit_status = 2;
        return 1;
    }
    o->mountpoint = argv[optind];
    return 0;
}

/* One clear line when the mount point cannot be used. */
static bool check_mountpoint(const char *path)
{
    struct stat st, parent;
    if (stat(path, &st) < 0) {
        if (errno == ENOTCONN)
            fprintf(stderr, "vdcfs: mount point %s is in use by a dead FUSE mount "
                            "(unmount it with fusermount3 -u)\n", path);
        else
            fprintf(stderr, "vdcfs: mount point %s: %s\n", path, g_strerror(errno));
        return false;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "vdcfs: mount point %s is not a directory\n", path);
        return false;
    }
    g_autofree char *up = g_build_filename(path, "..", NULL);
    if (stat(up, &parent) == 0 &&
        (st.st_dev != parent.st_dev || st.st_ino == parent.st_ino)) {
        fprintf(stderr, "vdcfs: mount point %s is in use: something is already mounted "
                        "there\n", path);
        return false;
    }
    return true;
}

/* Forks; the parent waits for the child's word that the mount is ready
 * and exits with its status.  Returns the fd to report on (child). */
static int detach(void)
{
    int fds[2];
    if (pipe(fds) < 0) {
        perror("vdcfs: pipe");
        exit(1);
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("vdcfs: fork");
        exit(1);
    }
    if (pid > 0) {
        char ok = 0;
        close(fds[1]);
        ssize_t n = read(fds[0], &ok, 1);
        _exit(n == 1 && ok == 'K' ? 0 : 1);
    }
    close(fds[0]);
    setsid();
    return fds[1];
}

static void report_ready(int fd)
{
    if (fd < 0)
        return;
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        if (null > STDERR_FILENO)
            close(null);
    }
    if (chdir("/") < 0) {
        /* nothing useful to do: we only leave the caller's directory */
    }
    char ok = 'K';
    if (write(fd, &ok, 1) != 1) {
        /* the parent is gone; we serve anyway */
    }
    close(fd);
}

static bool fuse_said_something;

/* libfuse's messages, as lines of ours.  libfuse may write one line in
 * several calls: the prefix goes only where a line starts. */
static void fuse_log_line(enum fuse_log_level level, const char *fmt, va_list ap)
{
    static bool at_line_start = true;
    (void)level;
    g_autofree char *text = g_strdup_vprintf(fmt, ap);
    if (!*text)
        return;
    fuse_said_something = true;
    fprintf(stderr, "%s%s", at_line_start ? "vdcfs: " : "", text);
    at_line_start = text[strlen(text) - 1] == '\n';
}

static struct fuse_session *make_session(const struct options *o)
{
    fuse_set_log_func(fuse_log_line);
    struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
    fuse_opt_add_arg(&args, "vdcfs");
    fuse_opt_add_arg(&args, "-o");
    /* The kernel checks every access against the mode bits we report
     * (owner-writable where writing changes the datacenter); root, whom
     * mode bits do not stop, is checked again by the write handlers. */
    fuse_opt_add_arg(&args, "default_permissions,fsname=vdcfs,subtype=vdcfs");
    for (guint i = 0; i < o->fuse_opts->len; i++) {
        fuse_opt_add_arg(&args, "-o");
        fuse_opt_add_arg(&args, g_ptr_array_index(o->fuse_opts, i));
    }
    if (o->debug)
        fuse_opt_add_arg(&args, "-d");
    struct fuse_session *se = fuse_session_new(&args, &vdc_fuse_ops, sizeof vdc_fuse_ops, NULL);
    fuse_opt_free_args(&args);
    return se;
}

/* libfuse only catches signals that are not ignored, and a shell starts
 * background jobs with SIGINT ignored: SIGINT and SIGTERM must unmount
 * however we were started. */
static void reset_stop_signals(void)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
}

static void add_hosts(const struct vdc_config *cfg)
{
    for (guint i = 0; i < cfg->hosts->len; i++) {
        const struct vdc_host_config *h = g_ptr_array_index(cfg->hosts, i);
        vdc_model_add_host(h->name, h->uri);
    }
    for (guint i = 0; i < cfg->arrays->len; i++)
        vdc_model_add_array(g_ptr_array_index(cfg->arrays, i));
}

/* Array runners, started after the host runners: an array that does not
 * answer must not hold up the mount either. */
static GPtrArray *start_array_runners(const struct vdc_config *cfg)
{
    GPtrArray *runners = g_ptr_array_new();
    for (guint i = 0; i < cfg->arrays->len; i++) {
        const struct vdc_array_config *a = g_ptr_array_index(cfg->arrays, i);
        g_ptr_array_add(runners, vdc_array_runner_start(array_driver(a->driver), i, a,
                                                        cfg->refresh_seconds));
    }
    gint64 deadline = g_get_monotonic_time() + FIRST_LOAD_SECONDS * G_USEC_PER_SEC;
    for (guint i = 0; i < runners->len; i++)
        vdc_array_runner_wait_first(g_ptr_array_index(runners, i), deadline);
    return runners;
}

static bool stop_array_runners(GPtrArray *runners)
{
    bool all = true;
    gint64 deadline = g_get_monotonic_time() + STOP_SECONDS * G_USEC_PER_SEC;
    for (guint i = 0; i < runners->len; i++)
        all &= vdc_array_runner_stop(g_ptr_array_index(runners, i), deadline);
    g_ptr_array_free(runners, TRUE);
    return all;
}

static GPtrArray *start_runners(const struct vdc_config *cfg)
{
    GPtrArray *runners = g_ptr_array_new();
    for (guint i = 0; i < cfg->hosts->len; i++) {
        const struct vdc_host_config *h = g_ptr_array_index(cfg->hosts, i);
        g_ptr_array_add(runners,
                        vdc_runner_start(&hv_libvirt_ops, i, h->uri, cfg->refresh_seconds));
    }
    gint64 deadline = g_get_monotonic_time() + FIRST_LOAD_SECONDS * G_USEC_PER_SEC;
    for (guint i = 0; i < runners->len; i++)
        vdc_runner_wait_first(g_ptr_array_index(runners, i), deadline);
    return runners;
}

/* Returns true if every runner stopped (so the model may be freed). */
static bool stop_runners(GPtrArray *runners)
{
    bool all = true;
    gint64 deadline = g_get_monotonic_time() + STOP_SECONDS * G_USEC_PER_SEC;
    for (guint i = 0; i < runners->len; i++)
        all &= vdc_runner_stop(g_ptr_array_index(runners, i), deadline);
    g_ptr_array_free(runners, TRUE);
    return all;
}

static int serve(const struct options *o, const struct vdc_config *cfg, int ready_fd)
{
    /* Options first: a usage error must not wait for the hosts. */
    struct fuse_session *se = make_session(o);
    if (!se) {
        if (!fuse_said_something)
            fprintf(stderr, "vdcfs: bad FUSE options\n");
        return 2;
    }
    char *err = NULL;
    if (hv_libvirt_ops.global_init(&err) < 0) {
        fprintf(stderr, "vdcfs: %s\n", err);
        g_free(err);
        fuse_session_destroy(se);
        return 1;
    }
    struct vdc_store *store = NULL;
    if (cfg->state_dir) {
        GError *gerr = NULL;
        store = vdc_store_open(cfg->state_dir, &gerr);
        if (!store) {
            fprintf(stderr, "vdcfs: %s\n", gerr->message);
            g_error_free(gerr);
            fuse_session_destroy(se);
            return 1;
        }
    }
    if (cfg->admin_group) {
        struct group *g = getgrnam(cfg->admin_group);
        if (!g) {
            fprintf(stderr, "vdcfs: admin_group \"%s\" is not a group on this machine\n",
                    cfg->admin_group);
            vdc_store_close(store);
            fuse_session_destroy(se);
            return 1;
        }
        vdc_fuse_set_admin_gid(g->gr_gid);
    }
    vdc_model_init();
    vdc_events_init();
    vdc_tree_init();
    add_hosts(cfg);
    if (store) {
        GError *gerr = NULL;
        if (!vdc_ctl_load(store, &gerr)) {
            fprintf(stderr, "vdcfs: %s\n", gerr->message);
            g_error_free(gerr);
        }
    }
    vdc_ctl_start(store, cfg->prune);
    vdc_snap_ctl_start(cfg, store ? vdc_store_path(store) : NULL);
    vdc_lun_read_start(cfg);
    GPtrArray *runners = start_runners(cfg);
    GPtrArray *array_runners = start_array_runners(cfg);

    int status = 1;
    reset_stop_signals();
    if (fuse_set_signal_handlers(se) != 0) {
        fprintf(stderr, "vdcfs: cannot install signal handlers\n");
    } else if (fuse_session_mount(se, o->mountpoint) != 0) {
        fprintf(stderr, "vdcfs: cannot mount on %s\n", o->mountpoint);
        fuse_remove_signal_handlers(se);
    } else {
        vdc_events_file_init(se);
        vdc_inval_start(se);
        vdc_events_emitf("vdcfs", NULL, NULL, "mounted", "mountpoint",
                         json_string(o->mountpoint), NULL);
        report_ready(ready_fd);
        ready_fd = -1;
        /* One thread serves every request: no handler ever waits (reads
         * come from the model, nothing blocks on a host), and one thread
         * costs less per request than handing requests between several. */
        int rc = abs(fuse_session_loop(se));
        /* Ended by a stop signal, the loop returns that signal: a clean exit. */
        status = rc == 0 || rc == SIGINT || rc == SIGTERM || rc == SIGHUP ? 0 : 1;
        fuse_session_unmount(se);
        fuse_remove_signal_handlers(se);
    }
    vdc_ctl_stop();
    vdc_snap_ctl_stop();
    vdc_lun_read_stop();
    bool stopped = stop_runners(runners);
    stopped &= stop_array_runners(array_runners);
    vdc_events_file_shutdown();
    vdc_events_shutdown();
    vdc_inval_stop();
    fuse_session_destroy(se);
    if (stopped)
        vdc_model_free();
    if (store)
        vdc_store_close(store);
    if (ready_fd >= 0)
        close(ready_fd); /* the parent reads EOF: failure */
    return status;
}

int main(int argc, char **argv)
{
    struct options o = {.fuse_opts = g_ptr_array_new()};
    int status = 0;
    if (parse_options(argc, argv, &o, &status)) {
        g_ptr_array_free(o.fuse_opts, TRUE);
        return status;
    }

    GError *err = NULL;
    g_autofree char *demo_dir = NULL;
    struct vdc_config *cfg = NULL;
    if (o.demo) {
        cfg = vdc_config_new();
        demo_dir = vdc_demo_prepare(cfg, &err);
        /* The demo's specs live as long as its hosts: in its directory. */
        if (demo_dir && !cfg->state_dir)
            cfg->state_dir = g_build_filename(demo_dir, "state", NULL);
    } else {
        cfg = vdc_config_load(o.config_path, &err);
    }
    if (err) {
        fprintf(stderr, "vdcfs: %s\n", err->message);
        g_error_free(err);
        vdc_config_free(cfg);
        g_ptr_array_free(o.fuse_opts, TRUE);
        return 2;
    }

    /* glibc gives every thread that allocates an arena of its own; with a
     * FUSE thread pool and a thread per host that is megabytes of
     * fragmentation for a daemon whose data is small.  Two is plenty. */
    mallopt(M_ARENA_MAX, 2);

    status = 1;
    if (check_mountpoint(o.mountpoint)) {
        int ready_fd = o.foreground ? -1 : detach();
        status = serve(&o, cfg, ready_fd);
    }
    if (demo_dir)
        vdc_demo_cleanup(demo_dir);
    vdc_config_free(cfg);
    g_ptr_array_free(o.fuse_opts, TRUE);
    return status;
}
