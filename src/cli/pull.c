/* SPDX-License-Identifier: MIT */
/*
 * boxlite pull [-q] [--platform os/arch[/variant]] IMAGE
 *
 * Prints "Pulled: IMAGE" (as typed), "Digest: <config digest>", "Layers: <n>"; -q only the
 * digest. On a terminal (and without -q) a live display shows each layer's state, bytes and
 * rate while it downloads; it is absent when stdout is not a terminal.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

enum pull_opt_id {
    PULL_OPT_QUIET,
    PULL_OPT_PLATFORM,
};

const struct cli_option cli_pull_options[] = {
    {PULL_OPT_QUIET, "quiet", 'q', NULL, "Print only the image's config digest"},
    {PULL_OPT_PLATFORM, "platform", 0, "PLATFORM",
     "os/arch[/variant] to take from a multi-platform image\n[default: the host's]"},
    CLI_OPTIONS_END,
};

struct pull_opts {
    int quiet;
    const char *platform;
};

static int parse_opt(int id, const char *arg, void *userdata)
{
    struct pull_opts *o = userdata;
    switch ((enum pull_opt_id) id) {
    case PULL_OPT_QUIET:
        o->quiet = 1;
        return 0;
    case PULL_OPT_PLATFORM:
        o->platform = arg;
        return 0;
    }
    return EXIT_USAGE;
}

/* ---- the live display ---- */

struct line {
    char id[13];
    int state;
    uint64_t done, total;
    double t0; /* when it started downloading */
    double rate;
};

struct display {
    struct line *lines;
    size_t n;
    size_t drawn; /* lines on screen */
    double last;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void human(uint64_t b, char *buf, size_t size)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double) b;
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024;
        u++;
    }
    snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static void draw(struct display *d)
{
    if (d->drawn)
        printf("\033[%zuA", d->drawn);
    for (size_t i = 0; i < d->n; i++) {
        struct line *l = &d->lines[i];
        char done[32], total[32], rate[32];
        human(l->done, done, sizeof(done));
        human(l->total, total, sizeof(total));
        human((uint64_t) l->rate, rate, sizeof(rate));
        printf("\r\033[2K%s: ", l->id);
        switch (l->state) {
        case BOXLITE_PULL_LAYER_WAITING:
            printf("Waiting");
            break;
        case BOXLITE_PULL_LAYER_DOWNLOADING:
            printf("Downloading  %s / %s  %s/s", done, total, rate);
            break;
        case BOXLITE_PULL_LAYER_DOWNLOADED:
            printf("Download complete  %s", total);
            break;
        case BOXLITE_PULL_LAYER_EXTRACTING:
            printf("Extracting  %s", total);
            break;
        case BOXLITE_PULL_LAYER_DONE:
            printf("Pull complete  %s", total);
            break;
        case BOXLITE_PULL_LAYER_CACHED:
            printf("Already exists");
            break;
        default:
            break;
        }
        printf("\n");
    }
    d->drawn = d->n;
    d->last = now_s();
    fflush(stdout);
}

static void on_progress(const boxlite_pull_progress *p, void *userdata)
{
    struct display *d = userdata;
    if (!d->lines) {
        d->lines = calloc(p->n_layers ? p->n_layers : 1, sizeof(*d->lines));
        if (!d->lines)
            return;
        d->n = p->n_layers;
        for (size_t i = 0; i < d->n; i++)
            d->lines[i].state = -1;
    }
    if (p->layer >= d->n)
        return;
    struct line *l = &d->lines[p->layer];
    double t = now_s();
    int changed = l->state != p->state;
    if (changed && p->state == BOXLITE_PULL_LAYER_DOWNLOADING)
        l->t0 = t;
    snprintf(l->id, sizeof(l->id), "%.12s", p->digest + (strncmp(p->digest, "sha256:", 7) ? 0 : 7));
    l->state = p->state;
    l->done = p->done;
    l->total = p->total;
    if (t > l->t0 + 0.05)
        l->rate = (double) l->done / (t - l->t0);
    if (changed || t - d->last >= 0.1)
        draw(d);
}

int cmd_pull(const struct cli_command *cmd, int argc, char **argv)
{
    struct pull_opts po = {0};
    int rc = 0;
    int ind = cli_parse(cmd, argc, argv, parse_opt, &po, &rc);
    if (ind < 0)
        return rc;
    if (ind >= argc)
        return cli_usage_missing(cmd, "<IMAGE>");
    if (ind + 1 < argc)
        return cli_usage_error(cmd, "unexpected argument '%s' found", argv[ind + 1]);
    const char *image = argv[ind];
    _cleanup_(boxlite_runtime_freep) boxlite_runtime *rt = NULL;
    if ((rc = cli_open_runtime(&rt)) != 0)
        return rc;
    struct display d = {0};
    boxlite_pull_opts o;
    boxlite_pull_opts_init(&o);
    o.platform = po.platform;
    if (!po.quiet && isatty(STDOUT_FILENO)) {
        o.progress = on_progress;
        o.userdata = &d;
    }
    _cleanup_(boxlite_image_freep) boxlite_image *img = NULL;
    boxlite_error *err = NULL;
    int r = boxlite_image_pull(rt, image, &o, &img, &err);
    if (d.lines && r == 0)
        draw(&d);
    free(d.lines);
    if (r < 0)
        return cli_error(err);
    if (po.quiet) {
        printf("%s\n", boxlite_image_config_digest(img));
        return EXIT_OK;
    }
    printf("Pulled: %s\nDigest: %s\nLayers: %zu\n", image, boxlite_image_config_digest(img),
           boxlite_image_layer_count(img));
    return EXIT_OK;
}
