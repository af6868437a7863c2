/* SPDX-License-Identifier: MIT */
/* boxlite stats [--format F] [-s] BOX: a box's resource usage, once or every second. */
#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "cli.h"
#include "output.h"
#include "signals.h"

enum stats_opt_id {
    STATS_OPT_FORMAT,
    STATS_OPT_STREAM,
};

const struct cli_option cli_stats_options[] = {
    {STATS_OPT_FORMAT, "format", 0, "FORMAT", "table, json or yaml [default: table]"},
    {STATS_OPT_STREAM, "stream", 's', NULL, "Refresh every second until Ctrl-C"},
    CLI_OPTIONS_END,
};

struct stats_opts {
    int stream;
    const char *format;
};

static int parse_opt(int id, const char *arg, void *userdata)
{
    struct stats_opts *o = userdata;
    switch ((enum stats_opt_id) id) {
    case STATS_OPT_FORMAT:
        o->format = arg;
        return 0;
    case STATS_OPT_STREAM:
        o->stream = 1;
        return 0;
    }
    return EXIT_USAGE;
}

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
static void print_stats(const boxlite_box_stats *a, const boxlite_box_stats *b, enum out_format fmt)
{
    static const char *const th[] = {"METRIC", "VALUE"};
    static const char *const oh[] = {"Metric", "Value"};
    char v[STAT_ROWS][48];
    const char *cells[STAT_ROWS * 2];
    static const char *const names[STAT_ROWS] = {
        "CPU",        "Memory",      "Memory Limit",    "PIDs",       "PIDs Limit",
        "Block Read", "Block Write", "Commands",        "Errors",     "Boot Time",
        "Net Sent",   "Net Recv",    "TCP Connections", "TCP Errors", "IP Address"};
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
    struct out_table t = {
        .headers = fmt == OUT_TABLE ? th : oh, .cols = 2, .cells = cells, .rows = STAT_ROWS};
    out_print(stdout, fmt, &t);
    fflush(stdout);
}

/* Sleep ms unless a stop signal comes first; 1 if stopped. */
static int nap(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        if (signals_stopped())
            return 1;
    return signals_stopped();
}

int cmd_stats(const struct cli_command *cmd, int argc, char **argv)
{
    struct stats_opts o = {0};
    int rc = 0;
    int ind = cli_parse(cmd, argc, argv, parse_opt, &o, &rc);
    if (ind < 0)
        return rc;
    if (ind >= argc)
        return cli_usage_missing(cmd, "<BOX>");
    if (argc - ind > 1)
        return cli_usage_error(cmd, "unexpected argument '%s' found", argv[ind + 1]);
    enum out_format fmt = OUT_TABLE;
    if (o.format && out_format_parse(o.format, &fmt) < 0)
        return EXIT_ERROR;
    _cleanup_(boxlite_runtime_freep) boxlite_runtime *rt = NULL;
    if ((rc = cli_open_runtime(&rt)) != 0)
        return rc;
    _cleanup_(boxlite_box_freep) boxlite_box *box = NULL;
    _cleanup_(boxlite_error_freep) boxlite_error *err = NULL;
    if (boxlite_box_lookup(rt, argv[ind], &box, &err) < 0)
        return cli_errorf("%s", boxlite_error_message(err));
    if (signals_catch_stop() < 0)
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
        if (o.stream)
            fputs("\033[2J\033[1;1H", stdout);
        print_stats(&prev, &cur, fmt);
        if (!o.stream)
            return EXIT_OK;
        prev = cur;
        if (nap(1000))
            return EXIT_OK;
    }
}
