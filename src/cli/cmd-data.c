/* SPDX-License-Identifier: MIT */
/* Commands about a box's data and usage: cp, logs, stats, and the runtime-wide info. */
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "macro.h"
#include "output.h"

BL_DEFINE_CLEANUP_FUNC(boxlite_runtime *, boxlite_runtime_free)
BL_DEFINE_CLEANUP_FUNC(boxlite_box *, boxlite_box_free)
BL_DEFINE_CLEANUP_FUNC(boxlite_error *, boxlite_error_free)

enum {
    OPT_FOLLOW_SYMLINKS = 3000,
    OPT_NO_OVERWRITE,
    OPT_INCLUDE_PARENT,
    OPT_FORMAT,
};

static struct {
    int follow_symlinks, no_overwrite, follow, timestamps, stream;
    long long tail;
    const char *format;
} d = {.tail = -1};

/* Ctrl-C while following: a byte in this pipe ends the wait. */
static int stop_pipe[2] = {-1, -1};
static void on_stop_signal(int sig)
{
    int saved = errno;
    (void) !write(stop_pipe[1], &sig, 1);
    errno = saved;
}

static int catch_stop_signals(void)
{
    if (pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return -1;
    struct sigaction sa = {.sa_handler = on_stop_signal, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    (void) sigaction(SIGINT, &sa, NULL);
    (void) sigaction(SIGTERM, &sa, NULL);
    return 0;
}

static int stopped(void)
{
    char c;
    return read(stop_pipe[0], &c, 1) == 1;
}

static int data_opt(int c, const char *arg)
{
    switch (c) {
    case OPT_FOLLOW_SYMLINKS:
    case 'L':
        d.follow_symlinks = 1;
        return 0;
    case OPT_NO_OVERWRITE:
        d.no_overwrite = 1;
        return 0;
    case OPT_INCLUDE_PARENT: /* always on (spec/cli.md §4.11) */
        return 0;
    case 'f':
        d.follow = 1;
        return 0;
    case 't':
        d.timestamps = 1;
        return 0;
    case 's':
        d.stream = 1;
        return 0;
    case OPT_FORMAT:
        d.format = arg;
        return 0;
    case 'n': {
        if (!strcmp(arg, "all")) {
            d.tail = -1;
            return 0;
        }
        char *end;
        errno = 0;
        long long v = strtoll(arg, &end, 10); /* NOLINT: checked below */
        if (!*arg || *end || errno || v < 0)
            return cli_usage_error(NULL, "invalid value '%s' for '--tail <TAIL>': invalid digit "
                                         "found in string", arg);
        d.tail = v == 0 ? -1 : v; /* 0 = all (upstream) */
        return 0;
    }
    default:
        return EXIT_USAGE;
    }
}

/* ---- cp -------------------------------------------------------------------------------------- */

/* "BOX:PATH" or a host path. A path that starts with '/' or '.' is the host's, whatever ':' it
 * holds (docker's rule); otherwise the first ':' separates a box from its path. */
static int endpoint(char *arg, char **ret_box, char **ret_path)
{
    char *colon = strchr(arg, ':');
    if (arg[0] == '/' || arg[0] == '.' || !colon || colon == arg) {
        *ret_box = NULL;
        *ret_path = arg;
        return 0;
    }
    *colon = 0;
    *ret_box = arg;
    *ret_path = colon + 1;
    return 1;
}

CMD(cp)
{
    static const struct option longopts[] = {
        {"follow-symlinks", no_argument, NULL, OPT_FOLLOW_SYMLINKS},
        {"no-overwrite", no_argument, NULL, OPT_NO_OVERWRITE},
        {"include-parent", no_argument, NULL, OPT_INCLUDE_PARENT},
        CLI_GLOBAL_LONGOPTS,
        {0}};
    int rc = 0;
    int ind = cli_parse(cmd, argc, argv, "L", longopts, data_opt, &rc);
    if (ind < 0)
        return rc;
    if (argc - ind < 2)
        return cli_usage_missing(cmd, "<SRC>\n  <DST>");
    if (argc - ind > 2)
        return cli_usage_error(cmd, "unexpected argument '%s' found", argv[ind + 2]);
    char *src_box, *src_path, *dst_box, *dst_path;
    int in_src = endpoint(argv[ind], &src_box, &src_path);
    int in_dst = endpoint(argv[ind + 1], &dst_box, &dst_path);
    if (in_src && in_dst)
        return cli_errorf("copy between boxes is not supported (both SRC and DST reference a "
                          "box)");
    if (!in_src && !in_dst)
        return cli_errorf("at least one of SRC or DST must reference a box (format BOX:PATH)");
    if (!*src_path)
        return cli_errorf("source path cannot be empty");
    if (!*dst_path)
        return cli_errorf("destination path cannot be empty");
    _cleanup_(boxlite_runtime_freep) boxlite_runtime *rt = NULL;
    if ((rc = cli_open_runtime(&rt)) != 0)
        return rc;
    const char *name = in_src ? src_box : dst_box;
    _cleanup_(boxlite_box_freep) boxlite_box *box = NULL;
    _cleanup_(boxlite_error_freep) boxlite_error *err = NULL;
    if (boxlite_box_lookup(rt, name, &box, &err) < 0) {
        if (boxlite_error_code(err) == -ENOENT)
            return cli_errorf("box '%s' not found", name);
        return cli_errorf("%s", boxlite_error_message(err));
    }
    int flags = (d.follow_symlinks ? BOXLITE_COPY_FOLLOW_SYMLINKS : 0) |
                (d.no_overwrite ? BOXLITE_COPY_NO_OVERWRITE : 0);
    int r = in_src ? boxlite_box_copy_out(rt, box, src_path, dst_path, flags, &err)
                   : boxlite_box_copy_in(rt, box, src_path, dst_path, flags, &err);
    if (r < 0)
        return cli_errorf("%s", boxlite_error_message(err));
    return EXIT_OK;
}

/* ---- logs ------------------------------------------------------------------------------------ */

CMD(logs)
{
    static const struct option longopts[] = {{"tail", required_argument, NULL, 'n'},
                                             {"follow", no_argument, NULL, 'f'},
                                             {"timestamps", no_argument, NULL, 't'},
                                             CLI_GLOBAL_LONGOPTS,
                                             {0}};
    int rc = 0;
    int ind = cli_parse(cmd, argc, argv, "n:ft", longopts, data_opt, &rc);
    if (ind < 0)
        return rc;
    if (ind >= argc)
        return cli_usage_missing(cmd, "<BOX>");
    if (argc - ind > 1)
        return cli_usage_error(cmd, "unexpected argument '%s' found", argv[ind + 1]);
    const char *target = argv[ind];
    _cleanup_(boxlite_runtime_freep) boxlite_runtime *rt = NULL;
    if ((rc = cli_open_runtime(&rt)) != 0)
        return rc;
    _cleanup_(boxlite_box_freep) boxlite_box *box = NULL;
    _cleanup_(boxlite_error_freep) boxlite_error *err = NULL;
    if (boxlite_box_lookup(rt, target, &box, &err) < 0)
        return cli_errorf("%s", boxlite_error_message(err));
    boxlite_logs_opts lo;
    boxlite_logs_opts_init(&lo);
    lo.tail = d.tail;
    lo.timestamps = d.timestamps;
    int running = !strcmp(boxlite_box_status(box), "running");
    if (d.follow && running) {
        if (catch_stop_signals() < 0)
            return cli_errorf("cannot catch signals");
        lo.follow = 1;
        lo.stop_fd = stop_pipe[0];
    }
    if (lo.follow)
        lo.follow_notice = "\nFollowing log output (Ctrl+C to stop)...\n";
    int r = boxlite_box_logs(rt, box, &lo, STDOUT_FILENO, STDERR_FILENO, &err);
    if (r == -ENOENT) {
        fprintf(stderr, "No log file found for box '%s'\nThe box may not have been started yet.\n"
                        "Log path: %s\n",
                target, boxlite_box_log_path(rt, box));
        return EXIT_OK;
    }
    if (r < 0)
        return cli_errorf("%s", boxlite_error_message(err));
    if (lo.follow && stopped())
        fprintf(stderr, "\nStopped following logs.\n");
    return EXIT_OK;
}

/* ---- stats ----------------------------------------------------------------------------------- */

static void fmt_bytes(char *buf, size_t n, int64_t v)
{
    if (v < 0)
        snprintf(buf, n, "N/A");
    else if (v < 1024)
        snprintf(buf, n, "%lld B", (long long) v);
    else if (v < 1024LL * 1024)
        snprintf(buf, n, "%.1f KiB", (double) v / 1024);
    else if (v < 1024LL * 1024 * 1024)
        snprintf(buf, n, "%.1f MiB", (double) v / (1024 * 1024));
    else
        snprintf(buf, n, "%.1f GiB", (double) v / (1024.0 * 1024 * 1024));
}

static void fmt_count(char *buf, size_t n, int64_t v)
{
    if (v < 0)
        snprintf(buf, n, "N/A");
    else
        snprintf(buf, n, "%lld", (long long) v);
}

#define STAT_ROWS 15

/* One frame: CPU from the two samples. */
static void print_stats(const boxlite_box_stats *a, const boxlite_box_stats *b,
                        enum out_format fmt)
{
    static const char *const th[] = {"METRIC", "VALUE"};
    static const char *const oh[] = {"Metric", "Value"};
    char v[STAT_ROWS][48];
    const char *cells[STAT_ROWS * 2];
    static const char *const names[STAT_ROWS] = {
        "CPU",        "Memory",   "Memory Limit", "PIDs",     "PIDs Limit",
        "Block Read", "Block Write", "Commands",  "Errors",   "Boot Time",
        "Net Sent",   "Net Recv", "TCP Connections", "TCP Errors", "IP Address"};
    if (a->cpu_ns >= 0 && b->cpu_ns >= a->cpu_ns && b->time_ns > a->time_ns)
        snprintf(v[0], sizeof(v[0]), "%.1f%%",
                 (double) (b->cpu_ns - a->cpu_ns) * 100.0 / (double) (b->time_ns - a->time_ns));
    else
        snprintf(v[0], sizeof(v[0]), "N/A");
    fmt_bytes(v[1], sizeof(v[1]), b->memory_bytes);
    if (b->memory_limit < 0)
        snprintf(v[2], sizeof(v[2]), "unlimited");
    else
        fmt_bytes(v[2], sizeof(v[2]), b->memory_limit);
    fmt_count(v[3], sizeof(v[3]), b->pids);
    if (b->pids_limit < 0)
        snprintf(v[4], sizeof(v[4]), "unlimited");
    else
        fmt_count(v[4], sizeof(v[4]), b->pids_limit);
    fmt_bytes(v[5], sizeof(v[5]), b->block_read_bytes);
    fmt_bytes(v[6], sizeof(v[6]), b->block_write_bytes);
    fmt_count(v[7], sizeof(v[7]), b->execs);
    fmt_count(v[8], sizeof(v[8]), b->exec_errors);
    if (b->boot_ms < 0)
        snprintf(v[9], sizeof(v[9]), "N/A");
    else
        snprintf(v[9], sizeof(v[9]), "%lld ms", (long long) b->boot_ms);
    fmt_bytes(v[10], sizeof(v[10]), b->net_tx_bytes);
    fmt_bytes(v[11], sizeof(v[11]), b->net_rx_bytes);
    fmt_count(v[12], sizeof(v[12]), b->tcp_connections);
    fmt_count(v[13], sizeof(v[13]), b->tcp_errors);
    snprintf(v[14], sizeof(v[14]), "%s", b->ip_address[0] ? b->ip_address : "N/A");
    for (int i = 0; i < STAT_ROWS; i++) {
        cells[2 * i] = names[i];
        cells[2 * i + 1] = v[i];
    }
    struct out_table t = {.headers = fmt == OUT_TABLE ? th : oh, .cols = 2, .cells = cells,
                          .rows = STAT_ROWS};
    out_print(stdout, fmt, &t);
    fflush(stdout);
}

/* Sleep ms unless a stop signal comes first; 1 if stopped. */
static int nap(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        if (stopped())
            return 1;
    return stopped();
}

CMD(stats)
{
    static const struct option longopts[] = {{"format", required_argument, NULL, OPT_FORMAT},
                                             {"stream", no_argument, NULL, 's'},
                                             CLI_GLOBAL_LONGOPTS,
                                             {0}};
    int rc = 0;
    int ind = cli_parse(cmd, argc, argv, "s", longopts, data_opt, &rc);
    if (ind < 0)
        return rc;
    if (ind >= argc)
        return cli_usage_missing(cmd, "<BOX>");
    if (argc - ind > 1)
        return cli_usage_error(cmd, "unexpected argument '%s' found", argv[ind + 1]);
    enum out_format fmt = OUT_TABLE;
    if (d.format && out_format_parse(d.format, &fmt) < 0)
        return EXIT_ERROR;
    _cleanup_(boxlite_runtime_freep) boxlite_runtime *rt = NULL;
    if ((rc = cli_open_runtime(&rt)) != 0)
        return rc;
    _cleanup_(boxlite_box_freep) boxlite_box *box = NULL;
    _cleanup_(boxlite_error_freep) boxlite_error *err = NULL;
    if (boxlite_box_lookup(rt, argv[ind], &box, &err) < 0)
        return cli_errorf("%s", boxlite_error_message(err));
    if (catch_stop_signals() < 0)
        return cli_errorf("cannot catch signals");
    boxlite_box_stats prev, cur;
    if (boxlite_box_stats_get(rt, box, &prev, &err) < 0)
        return cli_errorf("%s", boxlite_error_message(err));
    /* CPU is a rate: a first short interval, then the stream's own */
    if (nap(200))
        return EXIT_OK;
    for (int frame = 0;; frame++) {
        if (boxlite_box_stats_get(rt, box, &cur, &err) < 0) {
            if (frame > 0 && boxlite_error_code(err) == -ESRCH)
                return EXIT_OK; /* the box stopped while we watched */
            return cli_errorf("%s", boxlite_error_message(err));
        }
        if (d.stream)
            fputs("\033[2J\033[1;1H", stdout);
        print_stats(&prev, &cur, fmt);
        if (!d.stream)
            return EXIT_OK;
        prev = cur;
        if (nap(1000))
            return EXIT_OK;
    }
}

/* ---- info ------------------------------------------------------------------------------------ */

static const char *cgroup_mode(void)
{
    if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0)
        return "v2";
    if (access("/sys/fs/cgroup/unified/cgroup.controllers", F_OK) == 0)
        return "hybrid (v1 controllers, v2 at /sys/fs/cgroup/unified)";
    return "v1";
}

CMD(info)
{
    static const struct option longopts[] = {{"format", required_argument, NULL, OPT_FORMAT},
                                             CLI_GLOBAL_LONGOPTS,
                                             {0}};
    int rc = 0;
    int ind = cli_parse(cmd, argc, argv, "", longopts, data_opt, &rc);
    if (ind < 0)
        return rc;
    if (ind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s' found", argv[ind]);
    const char *f = d.format ? d.format : "yaml";
    int json = !strcmp(f, "json");
    if (!json && strcmp(f, "yaml") != 0)
        return cli_usage_invalid(cmd, f, "--format <FORMAT>", "yaml, json");
    _cleanup_(boxlite_runtime_freep) boxlite_runtime *rt = NULL;
    if ((rc = cli_open_runtime(&rt)) != 0)
        return rc;
    boxlite_box **boxes = NULL;
    size_t n = 0;
    _cleanup_(boxlite_error_freep) boxlite_error *err = NULL;
    if (boxlite_box_list(rt, 1, &boxes, &n, &err) < 0)
        return cli_errorf("%s", boxlite_error_message(err));
    long long running = 0, stopped_n = 0, configured = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = boxlite_box_status(boxes[i]);
        running += !strcmp(s, "running") || !strcmp(s, "paused");
        stopped_n += !strcmp(s, "stopped");
        configured += !strcmp(s, "configured");
    }
    boxlite_box_list_free(boxes, n);
    boxlite_image **images = NULL;
    size_t n_images = 0;
    if (boxlite_image_list(rt, &images, &n_images, &err) < 0)
        return cli_errorf("%s", boxlite_error_message(err));
    boxlite_image_list_free(images, n_images);
    char virt[128];
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm >= 0) {
        (void) close(kvm);
        snprintf(virt, sizeof(virt), "available");
    } else {
        snprintf(virt, sizeof(virt), "unavailable: /dev/kvm: %s", strerror(errno));
    }
    struct utsname u;
    if (uname(&u) < 0)
        snprintf(u.machine, sizeof(u.machine), "unknown");
    /* how the box's ids relate to the host's (without root: one user namespace per box) */
    const char *idmap = boxlite_runtime_id_mapping(rt);
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:s,s:s,s:s}", "version",
                          boxlite_version(), "homeDir", boxlite_runtime_home(rt),
                          "virtualization", virt, "os", "linux", "arch", u.machine, "boxesTotal",
                          (json_int_t) n, "boxesRunning", (json_int_t) running, "boxesStopped",
                          (json_int_t) stopped_n, "boxesConfigured", (json_int_t) configured,
                          "imagesCount", (json_int_t) n_images, "engine",
                          "ns (namespaces and cgroups; no virtualization needed)", "cgroups",
                          cgroup_mode(), "idMapping", idmap);
    if (!o)
        return cli_errorf("out of memory");
    if (json) {
        char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", s ? s : "{}");
        free(s);
    } else {
        out_print_yaml_value(stdout, o);
    }
    json_decref(o);
    return EXIT_OK;
}
