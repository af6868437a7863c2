/* SPDX-License-Identifier: MIT */
/* boxlite info [--format yaml|json]: the runtime, its boxes and images, the host. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "cli.h"
#include "output.h"

enum info_opt_id {
    INFO_OPT_FORMAT,
};

const struct cli_option cli_info_options[] = {
    {INFO_OPT_FORMAT, "format", 0, "FORMAT", "yaml or json [default: yaml]"},
    CLI_OPTIONS_END,
};

struct info_opts {
    const char *format;
};

static int parse_opt(int id, const char *arg, void *userdata)
{
    struct info_opts *o = userdata;
    switch ((enum info_opt_id) id) {
    case INFO_OPT_FORMAT:
        o->format = arg;
        return 0;
    }
    return EXIT_USAGE;
}

static const char *cgroup_mode(void)
{
    if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0)
        return "v2";
    if (access("/sys/fs/cgroup/unified/cgroup.controllers", F_OK) == 0)
        return "hybrid (v1 controllers, v2 at /sys/fs/cgroup/unified)";
    return "v1";
}

int cmd_info(const struct cli_command *cmd, int argc, char **argv)
{
    struct info_opts opts = {0};
    int rc = 0;
    int ind = cli_parse(cmd, argc, argv, parse_opt, &opts, &rc);
    if (ind < 0)
        return rc;
    if (ind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s' found", argv[ind]);
    const char *f = opts.format ? opts.format : "yaml";
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
    json_t *o =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:s,s:s,s:s}", "version",
                  boxlite_version(), "homeDir", boxlite_runtime_home(rt), "virtualization", virt,
                  "os", "linux", "arch", u.machine, "boxesTotal", (json_int_t) n, "boxesRunning",
                  (json_int_t) running, "boxesStopped", (json_int_t) stopped_n, "boxesConfigured",
                  (json_int_t) configured, "imagesCount", (json_int_t) n_images, "engine",
                  "ns (namespaces and cgroups; no virtualization needed)", "cgroups", cgroup_mode(),
                  "idMapping", idmap);
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
