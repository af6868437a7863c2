/* SPDX-License-Identifier: MIT */
/*
 * Box networking, the library's half: `--network`, `--allow-net` and `-p` parsed and validated
 * with upstream BoxLite's messages (spec/cli.md §4.1 PublishFlags, NetworkFlags), stored in the
 * box's record, handed to the shim through shim.conf at each start, and shown by inspect/list.
 *
 * The record (cfg) holds "network": {"mode": "enabled"|"disabled", "allow_net": [entries as
 * given]}, "ports": [{"host_ip", "host_port" (0 = any), "box_port", "proto": "tcp"}] and
 * "network_explicit" (the caller asked for something). A record without "network" (made before
 * networking) is enabled, not explicit. Host names of the allow list are resolved at every
 * start, never at create: a box keeps following the addresses of the names it was given.
 *
 * The shim (src/shim) owns what happens with the keys: slirp4netns, the port forwarder, the
 * nftables allow list and the box's /etc/hosts pins. While a box runs, it writes the ports it
 * bound to BOX_DIR/ports, one "HOSTIP HOSTPORT BOXPORT" line per publish.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "alloc-util.h"
#include "box-net.h"
#include "box-records.h"
#include "fs-util.h"
#include "helpers.h"
#include "log.h"

#define HOST_ALIAS "host.boxlite.internal"
#define BOX_IP "10.0.2.100" /* slirp4netns's defaults */
#define BOX_GATEWAY "10.0.2.2"
#define PORTS_FILE_MAX (64 * 1024)

BL_DEFINE_CLEANUP_FUNC(struct addrinfo *, freeaddrinfo)

/* ---- parsing ---- */

/* Decimal digits only, at most 65535; -EINVAL otherwise (an empty string too). */
static int port_number(const char *s, size_t n, unsigned *ret)
{
    unsigned v = 0;
    if (n == 0)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        v = v * 10 + (unsigned) (s[i] - '0');
        if (v > 65535)
            return -EINVAL;
    }
    *ret = v;
    return 0;
}

/* An IPv4 literal s[0..n) into out (normalised dotted quad); 0 or -EINVAL. */
static int ipv4(const char *s, size_t n, struct in_addr *addr)
{
    char buf[INET_ADDRSTRLEN];
    if (n == 0 || n >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, s, n);
    buf[n] = 0;
    return inet_pton(AF_INET, buf, addr) == 1 ? 0 : -EINVAL;
}

int bl_port_parse(const char *spec, struct bl_port *ret, bl_error **err)
{
    const char *a = spec, *e = spec + strlen(spec);
    while (a < e && isspace((unsigned char) *a))
        a++;
    while (e > a && isspace((unsigned char) e[-1]))
        e--;
    if (a == e)
        return bl_err(err, -EINVAL, "empty port spec");
    const char *slash = memrchr(a, '/', (size_t) (e - a));
    if (slash) {
        const char *proto = slash + 1;
        size_t pn = (size_t) (e - proto);
        if (pn == 3 && !strncasecmp(proto, "udp", 3))
            return bl_err(err, -EINVAL, "UDP port forwarding is not implemented; use TCP");
        if (pn != 3 || strncasecmp(proto, "tcp", 3) != 0)
            return bl_err(err, -EINVAL, "invalid protocol \"%.*s\"; use tcp", (int) pn, proto);
        e = slash;
    }
    /* from the right: BOX, then HOST_PORT, then everything before is HOST_IP */
    const char *c2 = memrchr(a, ':', (size_t) (e - a));
    const char *c1 = c2 ? memrchr(a, ':', (size_t) (c2 - a)) : NULL;
    const char *box = c2 ? c2 + 1 : a;
    struct bl_port p = {.host_ip = "127.0.0.1"};
    if (c1 && c1 > a) {
        struct in_addr addr;
        if (ipv4(a, (size_t) (c1 - a), &addr) < 0)
            return bl_err(err, -EINVAL, "invalid host IP \"%.*s\"", (int) (c1 - a), a);
        inet_ntop(AF_INET, &addr, p.host_ip, sizeof(p.host_ip));
    }
    if (c2) {
        const char *hp = c1 ? c1 + 1 : a;
        size_t hn = (size_t) (c2 - hp);
        if (hn && port_number(hp, hn, &p.host_port) < 0)
            return bl_err(err, -EINVAL, "invalid port number \"%.*s\"", (int) hn, hp);
    }
    if (port_number(box, (size_t) (e - box), &p.box_port) < 0)
        return bl_err(err, -EINVAL, "invalid port number \"%.*s\"", (int) (e - box), box);
    if (p.box_port == 0)
        return bl_err(err, -EINVAL, "port must be 1-65535");
    *ret = p;
    return 0;
}

/* A host name: letters, digits, '-' and '.'; labels of 1-63 characters that neither start nor
 * end with '-'; at most 253 in all; a last label that is not all digits (that would be an
 * address to the resolver: "1.2.3" is 1.2.0.3). */
static int valid_hostname(const char *s, size_t n)
{
    if (n == 0 || n > 253)
        return 0;
    size_t label = 0, digits = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            if (label == 0 || label > 63 || s[i - 1] == '-')
                return 0;
            if (i == n && digits == label)
                return 0;
            label = digits = 0;
            continue;
        }
        unsigned char ch = (unsigned char) s[i];
        if (!isalnum(ch) && ch != '-')
            return 0;
        if (ch == '-' && label == 0)
            return 0;
        digits += isdigit(ch) != 0;
        label++;
    }
    return 1;
}

/* s[0..n), with an optional "/PREFIX", is an IPv6 address. */
static int looks_ipv6(const char *s, size_t n)
{
    char buf[INET6_ADDRSTRLEN + 8];
    const char *slash = memchr(s, '/', n);
    if (slash)
        n = (size_t) (slash - s);
    if (n == 0 || n >= sizeof(buf))
        return 0;
    memcpy(buf, s, n);
    buf[n] = 0;
    struct in6_addr a;
    return inet_pton(AF_INET6, buf, &a) == 1;
}

static void lower_copy(char *dst, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = (char) tolower((unsigned char) s[i]);
    dst[n] = 0;
}

int bl_allow_parse(const char *entry, struct bl_allow *ret, bl_error **err)
{
    size_t n = strlen(entry);
    const char *colon = memchr(entry, ':', n);
    if (n &&
        (entry[0] == '[' || (colon && memchr(colon + 1, ':', n - (size_t) (colon - entry) - 1)))) {
        /* [ADDR], [ADDR]:PORT, ADDR, or ADDR:PORT with an unbracketed ADDR */
        const char *in = entry, *close = NULL;
        size_t in_n = n;
        if (entry[0] == '[' && (close = memchr(entry, ']', n))) {
            in = entry + 1;
            in_n = (size_t) (close - in);
        }
        const char *last = memrchr(in, ':', in_n);
        if (looks_ipv6(in, in_n) || (last && looks_ipv6(in, (size_t) (last - in))))
            return bl_err(err, -EINVAL,
                          "invalid argument: allow_net entry \"%s\": IPv6 is not supported (boxes "
                          "have IPv4 only)",
                          entry);
        return bl_err(err, -EINVAL, "invalid argument: invalid allow_net entry \"%s\"", entry);
    }
    struct bl_allow a = {.kind = BL_ALLOW_HOST};
    size_t hn = colon ? (size_t) (colon - entry) : n;
    if (colon && (port_number(colon + 1, n - hn - 1, &a.port) < 0 || a.port == 0))
        return bl_err(err, -EINVAL, "invalid argument: invalid allow_net entry \"%s\"", entry);
    const char *slash = memchr(entry, '/', hn);
    struct in_addr addr;
    if (slash) {
        size_t pn = (size_t) (entry + hn - slash - 1);
        unsigned prefix = 0;
        if (ipv4(entry, (size_t) (slash - entry), &addr) < 0 || pn == 0 || pn > 2 ||
            port_number(slash + 1, pn, &prefix) < 0 || prefix > 32)
            return bl_err(err, -EINVAL, "invalid argument: invalid allow_net entry \"%s\"", entry);
        /* the network itself: nft refuses an address with host bits set */
        uint32_t mask = prefix ? htonl(~(uint32_t) 0 << (32 - prefix)) : 0;
        addr.s_addr &= mask;
        a.kind = BL_ALLOW_CIDR;
        a.prefix = prefix;
        inet_ntop(AF_INET, &addr, a.host, sizeof(a.host));
    } else if (ipv4(entry, hn, &addr) == 0) {
        a.kind = BL_ALLOW_CIDR;
        a.prefix = 32;
        inet_ntop(AF_INET, &addr, a.host, sizeof(a.host));
    } else if (hn > 2 && entry[0] == '*' && entry[1] == '.' && valid_hostname(entry + 2, hn - 2)) {
        a.kind = BL_ALLOW_WILDCARD;
        lower_copy(a.host, entry + 2, hn - 2);
    } else if (hn == strlen(HOST_ALIAS) && !strncasecmp(entry, HOST_ALIAS, hn)) {
        a.kind = BL_ALLOW_HOSTLO;
        lower_copy(a.host, entry, hn);
    } else if (valid_hostname(entry, hn)) {
        lower_copy(a.host, entry, hn);
    } else {
        return bl_err(err, -EINVAL, "invalid argument: invalid allow_net entry \"%s\"", entry);
    }
    *ret = a;
    return 0;
}

int bl_net_mode_parse(const char *mode, int *ret_enabled, bl_error **err)
{
    if (!mode || !strcasecmp(mode, "enabled"))
        *ret_enabled = 1;
    else if (!strcasecmp(mode, "disabled"))
        *ret_enabled = 0;
    else
        return bl_err(err, -EINVAL,
                      "configuration error: invalid network.mode \"%s\". Expected \"enabled\" or "
                      "\"disabled\".",
                      mode);
    return 0;
}

int bl_box_net_config(const char *mode, const char *const *allow_net, const char *const *publish,
                      json_t *cfg, bl_error **err)
{
    int enabled = 1;
    int r = bl_net_mode_parse(mode, &enabled, err);
    if (r < 0)
        return r;
    int has_allow = allow_net && allow_net[0], has_ports = publish && publish[0];
    _cleanup_json_ json_t *ports = json_array(), *allow = json_array();
    if (!ports || !allow)
        return bl_oom(err);
    for (const char *const *s = publish; s && *s; s++) {
        struct bl_port p;
        r = bl_port_parse(*s, &p, err);
        if (r < 0)
            return r;
        if (json_array_append_new(ports, json_pack("{s:s,s:i,s:i,s:s}", "host_ip", p.host_ip,
                                                   "host_port", (int) p.host_port, "box_port",
                                                   (int) p.box_port, "proto", "tcp")) < 0)
            return bl_oom(err);
    }
    if (has_allow && !enabled)
        return bl_err(err, -EINVAL,
                      "configuration error: allow_net requires network.mode=\"enabled\"");
    for (const char *const *s = allow_net; s && *s; s++) {
        struct bl_allow a;
        r = bl_allow_parse(*s, &a, err);
        if (r < 0)
            return r;
        if (json_array_append_new(allow, json_string(*s)) < 0)
            return bl_oom(err);
    }
    if (has_ports && !enabled)
        return bl_err(err, -EINVAL, "configuration error: ports require network.mode=\"enabled\"");
    if (json_object_set_new(cfg, "network",
                            json_pack("{s:s,s:O}", "mode", enabled ? "enabled" : "disabled",
                                      "allow_net", allow)) < 0 ||
        json_object_set(cfg, "ports", ports) < 0 ||
        json_object_set_new(cfg, "network_explicit", json_boolean(mode || has_allow || has_ports)) <
            0 ||
        /* a network itself asked for: without one, published ports alone still work */
        json_object_set_new(cfg, "network_asked", json_boolean(mode || has_allow)) < 0)
        return bl_oom(err);
    return 0;
}

/* ---- at start: shim.conf ---- */

/* Append [key, value] to `pairs`; -ENOMEM. */
static int pair_add(json_t *pairs, const char *k, const char *v)
{
    return json_array_append_new(pairs, json_pack("[ss]", k, v)) < 0 ? -ENOMEM : 0;
}

/* Every IPv4 address of `name` now: "allow" IP/32 PORT and "allow_host" NAME IP for each. */
static int resolve_host(const char *name, unsigned port, json_t *pairs, bl_error **err)
{
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    _cleanup_(freeaddrinfop) struct addrinfo *res = NULL;
    int g = getaddrinfo(name, NULL, &hints, &res);
    if (g != 0) {
        int code = g == EAI_AGAIN ? -EAGAIN : g == EAI_MEMORY ? -ENOMEM : -ENOENT;
        return bl_err(err, code, "network: cannot resolve allow_net host \"%s\": %s", name,
                      g == EAI_SYSTEM ? strerror(errno) : gai_strerror(g));
    }
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET)
            continue;
        const struct in_addr *in = &((const struct sockaddr_in *) (void *) ai->ai_addr)->sin_addr;
        int dup = 0;
        for (struct addrinfo *p = res; p != ai && !dup; p = p->ai_next)
            dup = p->ai_family == AF_INET &&
                  ((const struct sockaddr_in *) (void *) p->ai_addr)->sin_addr.s_addr == in->s_addr;
        if (dup)
            continue;
        char ip[INET_ADDRSTRLEN], allow[64], host[300];
        inet_ntop(AF_INET, in, ip, sizeof(ip));
        snprintf(allow, sizeof(allow), "%s/32 %u", ip, port);
        snprintf(host, sizeof(host), "%s %s", name, ip);
        if (pair_add(pairs, "allow", allow) < 0 || pair_add(pairs, "allow_host", host) < 0)
            return bl_oom(err);
    }
    return 0;
}

int bl_box_net_shim_conf(json_t *cfg, bl_conf_put_fn put, void *userdata, bl_error **err)
{
    json_t *net = json_object_get(cfg, "network");
    const char *mode = json_string_value(json_object_get(net, "mode"));
    if (mode && !strcmp(mode, "disabled"))
        return 0;
    /* (records before "network_asked": what was explicit was asked for) */
    json_t *asked = json_object_get(cfg, "network_asked");
    int explicit = json_is_true(asked ? asked : json_object_get(cfg, "network_explicit"));
    json_t *allow = json_object_get(net, "allow_net");
    _cleanup_free_ char *slirp = NULL, *nft = NULL;
    int r = bl_net_find_helper("slirp4netns", "BOXLITE_SLIRP4NETNS", &slirp, err);
    if (r == -ENOENT && explicit)
        return bl_err(err, -ENOENT,
                      "network: slirp4netns not found; install Debian's slirp4netns package, or "
                      "use --network disabled");
    if (r < 0 && r != -ENOENT)
        return r;
    /* (without root and without /dev/net/tun open to users, loopback only anyway: shim.log) */
    if (r == -ENOENT && (geteuid() == 0 || access("/dev/net/tun", R_OK | W_OK) == 0))
        bl_warn("slirp4netns not found: the box has only loopback; install Debian's "
                "slirp4netns package, or use --network disabled");
    if (json_array_size(allow) > 0) {
        r = bl_net_find_helper("nft", "BOXLITE_NFT", &nft, err);
        if (r == -ENOENT)
            return bl_err(err, -ENOENT,
                          "network: nft not found; --allow-net needs Debian's nftables package");
        if (r < 0)
            return r;
    }
    /* everything is gathered first: a failure (an unknown host) puts nothing */
    _cleanup_json_ json_t *pairs = json_array();
    if (!pairs || pair_add(pairs, "net", explicit ? "1" : "~1") < 0 ||
        (slirp && pair_add(pairs, "slirp", slirp) < 0) || (nft && pair_add(pairs, "nft", nft) < 0))
        return bl_oom(err);
    size_t i;
    json_t *e;
    char v[300];
    json_array_foreach(json_object_get(cfg, "ports"), i, e)
    {
        const char *ip = json_string_value(json_object_get(e, "host_ip"));
        snprintf(v, sizeof(v), "%s %lld %lld", ip ? ip : "127.0.0.1",
                 (long long) json_integer_value(json_object_get(e, "host_port")),
                 (long long) json_integer_value(json_object_get(e, "box_port")));
        if (pair_add(pairs, "port", v) < 0)
            return bl_oom(err);
    }
    json_array_foreach(allow, i, e)
    {
        const char *s = json_string_value(e);
        struct bl_allow a;
        r = bl_allow_parse(s ? s : "", &a, err);
        if (r < 0)
            return r;
        switch (a.kind) {
        case BL_ALLOW_CIDR:
            snprintf(v, sizeof(v), "%s/%u %u", a.host, a.prefix, a.port);
            r = pair_add(pairs, "allow", v);
            break;
        case BL_ALLOW_HOST:
            r = resolve_host(a.host, a.port, pairs, err);
            if (r < 0)
                return r;
            break;
        case BL_ALLOW_WILDCARD:
            snprintf(v, sizeof(v), "%s %u", a.host, a.port);
            r = pair_add(pairs, "allow_dns", v);
            break;
        case BL_ALLOW_HOSTLO:
            snprintf(v, sizeof(v), "%u", a.port);
            r = pair_add(pairs, "allow_hostlo", v);
            break;
        }
        if (r < 0)
            return bl_oom(err);
    }
    json_array_foreach(pairs, i, e) put(userdata, json_string_value(json_array_get(e, 0)),
                                        json_string_value(json_array_get(e, 1)));
    return 0;
}

/* ---- inspect and list ---- */

/* BOX_DIR/ports of the running shim as [{"host_ip", "host_port", "box_port"}]; NULL when it
 * is missing or malformed (the shim has not written it yet). */
static json_t *read_ports_file(int dir_fd)
{
    _cleanup_free_ char *buf = NULL;
    if (bl_read_file_at(dir_fd, "ports", PORTS_FILE_MAX, &buf, NULL, NULL) < 0)
        return NULL;
    _cleanup_json_ json_t *list = json_array();
    if (!list)
        return NULL;
    for (char *line = buf, *next; *line; line = next) {
        size_t n = strcspn(line, "\n");
        next = line + n + (line[n] != 0);
        line[n] = 0;
        if (n == 0)
            continue;
        char *f[3];
        size_t k = 0;
        for (char *p = line; *p && k < 3;) {
            f[k++] = p;
            p += strcspn(p, " ");
            if (*p)
                *p++ = 0;
        }
        struct in_addr addr;
        unsigned hp, bp;
        if (k != 3 || ipv4(f[0], strlen(f[0]), &addr) < 0 ||
            port_number(f[1], strlen(f[1]), &hp) < 0 || port_number(f[2], strlen(f[2]), &bp) < 0)
            return NULL;
        if (json_array_append_new(list, json_pack("{s:s,s:i,s:i}", "host_ip", f[0], "host_port",
                                                  (int) hp, "box_port", (int) bp)) < 0)
            return NULL;
    }
    return json_array_size(list) ? TAKE_PTR(list) : NULL;
}

int bl_box_net_ports(struct boxlite_box *b, int running, json_t **ret, bl_error **err)
{
    json_t *configured = json_object_get(b->config, "ports");
    /* the shim's actual bindings while the box runs, else the configured ones */
    json_t *actual = running && json_array_size(configured) ? read_ports_file(b->dir_fd) : NULL;
    if (actual) {
        *ret = actual;
        return 0;
    }
    _cleanup_json_ json_t *list = json_array();
    if (!list)
        return bl_oom(err);
    size_t i;
    json_t *e;
    json_array_foreach(configured, i, e)
    {
        json_t *p =
            json_pack("{s:O,s:O,s:O}", "host_ip", json_object_get(e, "host_ip"), "host_port",
                      json_object_get(e, "host_port"), "box_port", json_object_get(e, "box_port"));
        if (!p || json_array_append_new(list, p) < 0)
            return bl_err(err, -EINVAL, "box %s: malformed port record", b->id);
    }
    *ret = TAKE_PTR(list);
    return 0;
}

static int net_enabled(json_t *cfg)
{
    const char *mode = json_string_value(json_object_get(json_object_get(cfg, "network"), "mode"));
    return !mode || strcmp(mode, "disabled") != 0;
}

int bl_box_net_inspect(struct boxlite_box *b, json_t **ret, bl_error **err)
{
    int enabled = net_enabled(b->config);
    int has_ports = json_array_size(json_object_get(b->config, "ports")) > 0;
    int running = (enabled || has_ports) && bl_shim_lock_held(b->dir_fd);
    _cleanup_json_ json_t *list = NULL;
    int r = bl_box_net_ports(b, running, &list, err);
    if (r < 0)
        return r;
    _cleanup_json_ json_t *ports = json_object();
    if (!ports)
        return bl_oom(err);
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        char key[32], hp[24] = "";
        snprintf(key, sizeof(key), "%lld/tcp",
                 (long long) json_integer_value(json_object_get(e, "box_port")));
        json_int_t host_port = json_integer_value(json_object_get(e, "host_port"));
        if (host_port > 0)
            snprintf(hp, sizeof(hp), "%lld", (long long) host_port);
        json_t *bindings = json_object_get(ports, key);
        if (!bindings) {
            bindings = json_array();
            if (json_object_set_new(ports, key, bindings) < 0)
                return bl_oom(err);
        }
        if (json_array_append_new(bindings,
                                  json_pack("{s:O,s:s}", "HostIp", json_object_get(e, "host_ip"),
                                            "HostPort", hp)) < 0)
            return bl_oom(err);
    }
    json_t *allow = json_object_get(json_object_get(b->config, "network"), "allow_net");
    json_t *o =
        json_pack("{s:s,s:s,s:s,s:s,s:O,s:o}", "Mode", enabled ? "enabled" : "disabled",
                  "IPAddress", running && enabled ? BOX_IP : "", "Gateway",
                  running && enabled ? BOX_GATEWAY : "", "HostAlias", enabled ? HOST_ALIAS : "",
                  "Ports", ports, "AllowNet", allow ? json_incref(allow) : json_array());
    if (!o)
        return bl_oom(err);
    *ret = o;
    return 0;
}

BOXLITE_API int boxlite_box_ports(boxlite_box *b, char **ret_ports, boxlite_error **err)
{
    if (!b || !ret_ports)
        return bl_err(err, -EINVAL, "invalid arguments");
    int has_ports = json_array_size(json_object_get(b->config, "ports")) > 0;
    _cleanup_json_ json_t *list = NULL;
    int r = bl_box_net_ports(b, has_ports && bl_shim_lock_held(b->dir_fd), &list, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *s = bl_strdup("");
    if (!s)
        return bl_oom(err);
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        char *n = bl_asprintf("%s%s%s:%lld->%lld/tcp", s, i ? ", " : "",
                              json_string_value(json_object_get(e, "host_ip")),
                              (long long) json_integer_value(json_object_get(e, "host_port")),
                              (long long) json_integer_value(json_object_get(e, "box_port")));
        if (!n)
            return bl_oom(err);
        free(s);
        s = n;
    }
    *ret_ports = TAKE_PTR(s);
    return 0;
}
