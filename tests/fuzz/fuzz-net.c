/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the network option parsers of box-net.c: `-p` (bl_port_parse),
 * `--allow-net` (bl_allow_parse), `--network` (bl_net_mode_parse), and the whole create-time
 * validation (bl_box_net_config). Properties: a failure is a negative errno with a message and
 * an untouched output; a success is in range, and its canonical form parses back to itself.
 *
 * Input: the whole input is tried as one spec with each parser; then, line by line, the first
 * line is the mode ("" for none), lines starting "p " are published ports, the others allow-net
 * entries, for bl_box_net_config.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>

#include "box-net.h"
#include "fuzz-util.h"
#include "strv.h"

static void check_failure(int r, const bl_error *err, const void *out, size_t n, const char *in)
{
    unsigned char pristine[512];
    memset(pristine, 0xa5, sizeof(pristine));
    FUZZ_CHECK(r == -EINVAL, "'%s': %d", in, r);
    FUZZ_CHECK(err && err->code == r && err->msg && *err->msg, "'%s': no message", in);
    FUZZ_CHECK(n <= sizeof(pristine) && memcmp(out, pristine, n) == 0, "'%s': output touched", in);
}

static void check_port(const char *in)
{
    _cleanup_(bl_error_freep) bl_error *err = NULL;
    struct bl_port p;
    memset(&p, 0xa5, sizeof(p));
    int r = bl_port_parse(in, &p, &err);
    if (r < 0) {
        check_failure(r, err, &p, sizeof(p), in);
        return;
    }
    struct in_addr a;
    FUZZ_CHECK(!err, "'%s': error on success", in);
    FUZZ_CHECK(memchr(p.host_ip, 0, sizeof(p.host_ip)) && inet_pton(AF_INET, p.host_ip, &a) == 1,
               "'%s': bad host_ip", in);
    FUZZ_CHECK(p.host_port <= 65535 && p.box_port >= 1 && p.box_port <= 65535, "'%s': range", in);

    /* the canonical form is a fixed point */
    _cleanup_free_ char *canon = bl_asprintf("%s:%u:%u/tcp", p.host_ip, p.host_port, p.box_port);
    struct bl_port q;
    FUZZ_CHECK(canon && bl_port_parse(canon, &q, NULL) == 0, "'%s': '%s' does not parse", in,
               canon ? canon : "");
    FUZZ_CHECK(!strcmp(p.host_ip, q.host_ip) && p.host_port == q.host_port &&
                   p.box_port == q.box_port,
               "'%s': '%s' parses differently", in, canon);
}

static void check_allow(const char *in)
{
    _cleanup_(bl_error_freep) bl_error *err = NULL;
    struct bl_allow a;
    memset(&a, 0xa5, sizeof(a));
    int r = bl_allow_parse(in, &a, &err);
    if (r < 0) {
        check_failure(r, err, &a, sizeof(a), in);
        return;
    }
    FUZZ_CHECK(!err, "'%s': error on success", in);
    FUZZ_CHECK(memchr(a.host, 0, sizeof(a.host)) && a.host[0], "'%s': host", in);
    FUZZ_CHECK(a.port <= 65535, "'%s': port %u", in, a.port);
    _cleanup_free_ char *canon = NULL;
    switch (a.kind) {
    case BL_ALLOW_CIDR: {
        struct in_addr addr;
        FUZZ_CHECK(a.prefix <= 32, "'%s': prefix %u", in, a.prefix);
        FUZZ_CHECK(inet_pton(AF_INET, a.host, &addr) == 1, "'%s': network '%s'", in, a.host);
        uint32_t host_bits = a.prefix == 32 ? 0 : ~(uint32_t) 0 >> a.prefix;
        FUZZ_CHECK((ntohl(addr.s_addr) & host_bits) == 0, "'%s': host bits in '%s/%u'", in, a.host,
                   a.prefix);
        canon = bl_asprintf("%s/%u", a.host, a.prefix);
        break;
    }
    case BL_ALLOW_HOST:
    case BL_ALLOW_HOSTLO:
        canon = bl_strdup(a.host);
        break;
    case BL_ALLOW_WILDCARD:
        canon = bl_asprintf("*.%s", a.host);
        break;
    default:
        FUZZ_CHECK(0, "'%s': kind %d", in, (int) a.kind);
    }
    for (const char *c = a.host; *c; c++)
        FUZZ_CHECK(*c < 'A' || *c > 'Z', "'%s': '%s' is not lowercase", in, a.host);
    FUZZ_CHECK(canon, "oom");
    if (a.port) {
        char *with = bl_asprintf("%s:%u", canon, a.port);
        FUZZ_CHECK(with, "oom");
        free(canon);
        canon = with;
    }
    struct bl_allow b;
    FUZZ_CHECK(bl_allow_parse(canon, &b, NULL) == 0, "'%s': '%s' does not parse", in, canon);
    FUZZ_CHECK(b.kind == a.kind && !strcmp(b.host, a.host) && b.port == a.port &&
                   (a.kind != BL_ALLOW_CIDR || b.prefix == a.prefix),
               "'%s': '%s' parses differently", in, canon);
}

static void check_mode(const char *in)
{
    _cleanup_(bl_error_freep) bl_error *err = NULL;
    int enabled = 42;
    int r = bl_net_mode_parse(in, &enabled, &err);
    if (r < 0)
        FUZZ_CHECK(r == -EINVAL && err && enabled == 42, "'%s': failure", in);
    else
        FUZZ_CHECK(!err && (enabled == 0 || enabled == 1), "'%s': success", in);
}

static void check_config(char *in)
{
    _cleanup_strv_free_ char **allow = NULL, **publish = NULL;
    const char *mode = NULL;
    int first = 1;
    for (char *line = in, *nl; line; line = nl, first = 0) {
        nl = strchr(line, '\n');
        if (nl)
            *nl++ = 0;
        if (first) {
            mode = *line ? line : NULL;
            continue;
        }
        if (!strncmp(line, "p ", 2))
            FUZZ_CHECK(bl_strv_push(&publish, line + 2) >= 0, "oom");
        else
            FUZZ_CHECK(bl_strv_push(&allow, line) >= 0, "oom");
    }
    json_t *cfg = json_object();
    _cleanup_(bl_error_freep) bl_error *err = NULL;
    FUZZ_CHECK(cfg, "oom");
    int r = bl_box_net_config(mode, (const char *const *) allow, (const char *const *) publish, cfg,
                              &err);
    if (r < 0) {
        FUZZ_CHECK(err && err->code == r, "failure without a message");
    } else {
        FUZZ_CHECK(!err, "error on success");
        json_t *net = json_object_get(cfg, "network");
        FUZZ_CHECK(json_is_object(net) && json_is_array(json_object_get(cfg, "ports")),
                   "no network or ports");
        FUZZ_CHECK(json_array_size(json_object_get(net, "allow_net")) == bl_strv_length(allow),
                   "allow_net");
        FUZZ_CHECK(json_array_size(json_object_get(cfg, "ports")) == bl_strv_length(publish),
                   "ports");
    }
    json_decref(cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    _cleanup_free_ char *in = fuzz_cstr(data, size);
    if (!in)
        return 0;
    check_port(in);
    check_allow(in);
    check_mode(in);
    check_config(in);
    return 0;
}
