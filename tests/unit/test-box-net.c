/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for box-net.c: the `-p` parser against PublishFlags of spec/cli.md §4.1 and the
 * cases pinned in §10 (with one deliberate difference: a host port of 0 is chosen at start);
 * --network and --allow-net (NetworkFlags, every message); what the record stores; the
 * shim.conf keys of a start (helpers found or missing, allow entries by kind, host names
 * resolved); the ports shown by inspect and list while a box runs and while it does not; and
 * (in fault-injection builds) clean failure at every allocation.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "../lib/tap.h"
#include "alloc-util.h"
#include "box-internal.h"
#include "box-net.h"
#include "boxlite/boxlite.h"
#include "fs-util.h"
#include "helpers.h"
#include "json-util.h"

/* ---- -p ---- */

static void port_ok(const char *spec, const char *ip, unsigned host_port, unsigned box_port)
{
    struct bl_port p;
    ASSERT_OK(bl_port_parse(spec, &p, &tap_last_err));
    ASSERT_STREQ(p.host_ip, ip);
    ASSERT_EQ(p.host_port, host_port);
    ASSERT_EQ(p.box_port, box_port);
}

static void port_err(const char *spec, const char *msg)
{
    struct bl_port p = {.host_ip = "sentinel", .host_port = 7, .box_port = 7};
    _cleanup_(bl_error_freep) bl_error *e = NULL;
    ASSERT_ERR(bl_port_parse(spec, &p, &e), -EINVAL);
    ASSERT_NOT_NULL(e);
    ASSERT_STREQ(bl_error_msg(e), msg);
    ASSERT_STREQ(p.host_ip, "sentinel");
    ASSERT_TRUE(p.host_port == 7 && p.box_port == 7);
}

TEST(publish_forms)
{
    /* §10 */
    port_ok("18789:18789", "127.0.0.1", 18789, 18789);
    port_ok("8080:80/tcp", "127.0.0.1", 8080, 80);
    port_ok("80", "127.0.0.1", 0, 80);
    /* the other forms */
    port_ok("80/tcp", "127.0.0.1", 0, 80);
    port_ok("80/TCP", "127.0.0.1", 0, 80);
    port_ok("10.1.2.3:8080:80", "10.1.2.3", 8080, 80);
    port_ok("0.0.0.0:8080:80/tcp", "0.0.0.0", 8080, 80);
    port_ok("10.1.2.3::80", "10.1.2.3", 0, 80);
    port_ok(":8080:80", "127.0.0.1", 8080, 80);
    port_ok(":80", "127.0.0.1", 0, 80);
    port_ok(" 8080:80 ", "127.0.0.1", 8080, 80);
    port_ok("65535:1", "127.0.0.1", 65535, 1);
    port_ok("008080:080", "127.0.0.1", 8080, 80);
    /* differs from upstream on purpose: host port 0 = chosen by the OS at start */
    port_ok("0:80", "127.0.0.1", 0, 80);
}

TEST(publish_errors)
{
    port_err("", "empty port spec");
    port_err("  ", "empty port spec");
    port_err("53:53/udp", "UDP port forwarding is not implemented; use TCP");
    port_err("53/UDP", "UDP port forwarding is not implemented; use TCP");
    port_err("80:80/sctp", "invalid protocol \"sctp\"; use tcp");
    port_err("80/", "invalid protocol \"\"; use tcp");
    port_err("80/tcp/tcp", "invalid port number \"80/tcp\"");
    port_err("99999:80", "invalid port number \"99999\"");
    port_err("80:99999", "invalid port number \"99999\"");
    port_err("65536", "invalid port number \"65536\"");
    port_err("http", "invalid port number \"http\"");
    port_err("-1:80", "invalid port number \"-1\"");
    port_err("80:", "invalid port number \"\"");
    port_err("8080:+80", "invalid port number \"+80\"");
    port_err("80:0", "port must be 1-65535");
    port_err("0", "port must be 1-65535");
    port_err("0:0", "port must be 1-65535");
    port_err("1.2.3:80:80", "invalid host IP \"1.2.3\"");
    port_err("localhost:80:80", "invalid host IP \"localhost\"");
    port_err("::1:80:80", "invalid host IP \"::1\"");
    port_err("[::1]:80:80", "invalid host IP \"[::1]\"");
    port_err("256.0.0.1::80", "invalid host IP \"256.0.0.1\"");
}

/* ---- --network and the record ---- */

TEST(network_mode)
{
    int on = -1;
    ASSERT_OK(bl_net_mode_parse(NULL, &on, &tap_last_err));
    ASSERT_EQ(on, 1);
    ASSERT_OK(bl_net_mode_parse("disabled", &on, &tap_last_err));
    ASSERT_EQ(on, 0);
    ASSERT_OK(bl_net_mode_parse("ENABLED", &on, &tap_last_err));
    ASSERT_EQ(on, 1);
    ASSERT_OK(bl_net_mode_parse("Disabled", &on, &tap_last_err));
    ASSERT_EQ(on, 0);
    static const char *const bad[] = {"bridge", "", "none", "enabled ", "on"};
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        _cleanup_(bl_error_freep) bl_error *e = NULL;
        on = 7;
        ASSERT_ERR(bl_net_mode_parse(bad[i], &on, &e), -EINVAL);
        ASSERT_EQ(on, 7);
        char want[128];
        snprintf(want, sizeof(want),
                 "configuration error: invalid network.mode \"%s\". Expected \"enabled\" or "
                 "\"disabled\".",
                 bad[i]);
        ASSERT_STREQ(bl_error_msg(e), want);
    }
}

/* bl_box_net_config into a fresh cfg; the stored JSON compactly, sorted. */
static char *config_json(const char *mode, const char *const *allow, const char *const *publish)
{
    _cleanup_json_ json_t *cfg = json_object();
    ASSERT_NOT_NULL(cfg);
    ASSERT_OK(bl_box_net_config(mode, allow, publish, cfg, &tap_last_err));
    char *s = json_dumps(cfg, JSON_COMPACT | JSON_SORT_KEYS);
    ASSERT_NOT_NULL(s);
    return s;
}

static void config_err(const char *mode, const char *const *allow, const char *const *publish,
                       const char *msg)
{
    _cleanup_json_ json_t *cfg = json_object();
    _cleanup_(bl_error_freep) bl_error *e = NULL;
    ASSERT_ERR(bl_box_net_config(mode, allow, publish, cfg, &e), -EINVAL);
    ASSERT_STREQ(bl_error_msg(e), msg);
}

TEST(network_config)
{
    static const char *const none[] = {NULL};
    static const char *const allow[] = {"example.com", "10.0.0.0/8:443", NULL};
    static const char *const publish[] = {"8080:80", "10.1.2.3::81/tcp", NULL};
    /* §10: none -> enabled by default (not explicit); disabled; allow-net -> enabled */
    _cleanup_free_ char *a = config_json(NULL, NULL, NULL);
    ASSERT_STREQ(a, "{\"network\":{\"allow_net\":[],\"mode\":\"enabled\"},\"network_asked\":false,"
                    "\"network_explicit\":false,\"ports\":[]}");
    _cleanup_free_ char *b = config_json(NULL, none, none);
    ASSERT_STREQ(b, a);
    _cleanup_free_ char *c = config_json("DISABLED", NULL, NULL);
    ASSERT_STREQ(c, "{\"network\":{\"allow_net\":[],\"mode\":\"disabled\"},\"network_asked\":true,"
                    "\"network_explicit\":true,\"ports\":[]}");
    _cleanup_free_ char *d = config_json("enabled", NULL, NULL);
    ASSERT_STREQ(d, "{\"network\":{\"allow_net\":[],\"mode\":\"enabled\"},\"network_asked\":true,"
                    "\"network_explicit\":true,\"ports\":[]}");
    _cleanup_free_ char *e = config_json(NULL, allow, NULL);
    ASSERT_STREQ(e, "{\"network\":{\"allow_net\":[\"example.com\",\"10.0.0.0/8:443\"],\"mode\":"
                    "\"enabled\"},\"network_asked\":true,\"network_explicit\":true,\"ports\":[]}");
    _cleanup_free_ char *f = config_json(NULL, NULL, publish);
    /* ports make the choice explicit, but ask for no network: without one they still work */
    ASSERT_STREQ(f, "{\"network\":{\"allow_net\":[],\"mode\":\"enabled\"},\"network_asked\":false,"
                    "\"network_explicit\":true,\"ports\":[{\"box_port\":80,\"host_ip\":\"127.0.0."
                    "1\",\"host_port\":8080,"
                    "\"proto\":\"tcp\"},{\"box_port\":81,\"host_ip\":\"10.1.2.3\",\"host_port\":0,"
                    "\"proto\":\"tcp\"}]}");
    /* §10: disabled + allow-net names allow_net; bridge names network.mode */
    config_err("disabled", allow, NULL,
               "configuration error: allow_net requires network.mode=\"enabled\"");
    config_err("disabled", NULL, publish,
               "configuration error: ports require network.mode=\"enabled\"");
    config_err("bridge", NULL, NULL,
               "configuration error: invalid network.mode \"bridge\". Expected \"enabled\" or "
               "\"disabled\".");
    static const char *const bad_port[] = {"53:53/udp", NULL};
    config_err(NULL, NULL, bad_port, "UDP port forwarding is not implemented; use TCP");
    static const char *const bad_allow[] = {"ok.example", "no_such", NULL};
    config_err(NULL, bad_allow, NULL, "invalid argument: invalid allow_net entry \"no_such\"");
}

/* ---- --allow-net ---- */

static void allow_ok(const char *entry, enum bl_allow_kind kind, const char *host, unsigned prefix,
                     unsigned port)
{
    struct bl_allow a;
    ASSERT_OK(bl_allow_parse(entry, &a, &tap_last_err));
    ASSERT_EQ(a.kind, kind);
    ASSERT_STREQ(a.host, host);
    if (kind == BL_ALLOW_CIDR)
        ASSERT_EQ(a.prefix, prefix);
    ASSERT_EQ(a.port, port);
}

static void allow_err(const char *entry, int ipv6)
{
    struct bl_allow a = {.kind = BL_ALLOW_HOSTLO, .host = "sentinel"};
    _cleanup_(bl_error_freep) bl_error *e = NULL;
    ASSERT_ERR(bl_allow_parse(entry, &a, &e), -EINVAL);
    char want[512];
    if (ipv6)
        snprintf(want, sizeof(want),
                 "invalid argument: allow_net entry \"%s\": IPv6 is not supported (boxes have "
                 "IPv4 only)",
                 entry);
    else
        snprintf(want, sizeof(want), "invalid argument: invalid allow_net entry \"%s\"", entry);
    ASSERT_STREQ(bl_error_msg(e), want);
    ASSERT_TRUE(a.kind == BL_ALLOW_HOSTLO && !strcmp(a.host, "sentinel"));
}

TEST(allow_kinds)
{
    allow_ok("10.0.0.0/8", BL_ALLOW_CIDR, "10.0.0.0", 8, 0);
    allow_ok("10.1.2.3/8:443", BL_ALLOW_CIDR, "10.0.0.0", 8, 443); /* host bits cleared */
    allow_ok("192.168.7.9/23", BL_ALLOW_CIDR, "192.168.6.0", 23, 0);
    allow_ok("0.0.0.0/0", BL_ALLOW_CIDR, "0.0.0.0", 0, 0);
    allow_ok("1.2.3.4/32", BL_ALLOW_CIDR, "1.2.3.4", 32, 0);
    allow_ok("1.2.3.4", BL_ALLOW_CIDR, "1.2.3.4", 32, 0);
    allow_ok("1.2.3.4:53", BL_ALLOW_CIDR, "1.2.3.4", 32, 53);
    allow_ok("example.com", BL_ALLOW_HOST, "example.com", 0, 0);
    allow_ok("API.Example.COM:443", BL_ALLOW_HOST, "api.example.com", 0, 443);
    allow_ok("localhost", BL_ALLOW_HOST, "localhost", 0, 0);
    allow_ok("a-b.c0", BL_ALLOW_HOST, "a-b.c0", 0, 0);
    allow_ok("3com.com", BL_ALLOW_HOST, "3com.com", 0, 0);
    allow_ok("*.example.com", BL_ALLOW_WILDCARD, "example.com", 0, 0);
    allow_ok("*.Example.com:8443", BL_ALLOW_WILDCARD, "example.com", 0, 8443);
    allow_ok("*.internal", BL_ALLOW_WILDCARD, "internal", 0, 0);
    allow_ok("host.boxlite.internal", BL_ALLOW_HOSTLO, "host.boxlite.internal", 0, 0);
    allow_ok("Host.BoxLite.Internal:8000", BL_ALLOW_HOSTLO, "host.boxlite.internal", 0, 8000);
    /* labels of 63 and names of 253 */
    char name[300];
    memset(name, 'a', 63);
    strcpy(name + 63, ".com"); /* NOLINT: test data */
    allow_ok(name, BL_ALLOW_HOST, name, 0, 0);
    for (size_t i = 0; i < 253; i++)
        name[i] = i % 2 ? '.' : 'x';
    name[253] = 0;
    allow_ok(name, BL_ALLOW_HOST, name, 0, 0);
}

TEST(allow_errors)
{
    allow_err("::1", 1);
    allow_err("2001:db8::/32", 1);
    allow_err("fe80::1", 1);
    allow_err("[::1]", 1);
    allow_err("[2001:db8::1]:443", 1);
    allow_err("2001:db8::1:443", 1);
    allow_err("::ffff:1.2.3.4", 1);
    allow_err("", 0);
    allow_err("*", 0);
    allow_err("*.", 0);
    allow_err("**.example.com", 0);
    allow_err("a.*.example.com", 0);
    allow_err("a..b", 0);
    allow_err(".example.com", 0);
    allow_err("example.com.", 0);
    allow_err("-a.com", 0);
    allow_err("a-.com", 0);
    allow_err("a_b.com", 0);
    allow_err("ex ample.com", 0);
    allow_err("1.2.3", 0);
    allow_err("300.1.1.1", 0);
    allow_err("1:2", 0);
    allow_err("10.0.0.0/33", 0);
    allow_err("10.0.0.0/", 0);
    allow_err("10.0.0.0/x", 0);
    allow_err("10.0.0.0/008", 0);
    allow_err("example.com/8", 0);
    allow_err("example.com:0", 0);
    allow_err("example.com:70000", 0);
    allow_err("example.com:", 0);
    allow_err("example.com:http", 0);
    allow_err("[::1", 0);
    allow_err("[nonsense]:1:2", 0);
    allow_err("a:b:c", 0);
    char name[300];
    memset(name, 'a', 64);
    strcpy(name + 64, ".com"); /* NOLINT: test data */
    allow_err(name, 0);
    for (size_t i = 0; i < 255; i++)
        name[i] = i % 2 ? '.' : 'x';
    name[255] = 0;
    allow_err(name, 0);
}

/* ---- shim.conf ---- */

struct collected {
    char buf[4096];
    size_t len;
};

static void collect(void *userdata, const char *k, const char *v)
{
    struct collected *c = userdata;
    int n = snprintf(c->buf + c->len, sizeof(c->buf) - c->len, "%s=%s\n", k, v);
    ASSERT_TRUE(n > 0 && (size_t) n < sizeof(c->buf) - c->len);
    c->len += (size_t) n;
}

/* An executable file under the test's directory; its path in *ret (static storage). */
static const char *make_exe(const char *name, mode_t mode)
{
    static char paths[4][4096];
    static int next;
    char *p = paths[next++ % 4];
    snprintf(p, 4096, "%s/%s", tap_tmpdir(), name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    ASSERT_TRUE(fd >= 0);
    close(fd);
    ASSERT_OK(chmod(p, mode));
    char real[4096];
    ASSERT_NOT_NULL(realpath(p, real));
    snprintf(p, 4096, "%s", real); /* what the library reports */
    return p;
}

static void conf_ok(json_t *cfg, const char *want)
{
    struct collected c = {.len = 0};
    ASSERT_OK(bl_box_net_shim_conf(cfg, collect, &c, &tap_last_err));
    ASSERT_STREQ(c.buf, want);
}

static void conf_err(json_t *cfg, int code, const char *msg_prefix)
{
    struct collected c = {.len = 0};
    _cleanup_(bl_error_freep) bl_error *e = NULL;
    ASSERT_ERR(bl_box_net_shim_conf(cfg, collect, &c, &e), code);
    ASSERT_NOT_NULL(e);
    ASSERT_TRUE(!strncmp(bl_error_msg(e), msg_prefix, strlen(msg_prefix)));
    ASSERT_EQ(c.len, 0); /* nothing put */
}

static json_t *cfg_of(const char *mode, const char *const *allow, const char *const *publish)
{
    json_t *cfg = json_object();
    ASSERT_NOT_NULL(cfg);
    ASSERT_OK(bl_box_net_config(mode, allow, publish, cfg, &tap_last_err));
    return cfg;
}

TEST(shim_conf)
{
    const char *slirp = make_exe("slirp", 0755), *nft = make_exe("nft-helper", 0755);
    char want[2048];
    ASSERT_OK(setenv("BOXLITE_SLIRP4NETNS", slirp, 1));
    ASSERT_OK(setenv("BOXLITE_NFT", nft, 1));
    /* a record made before networking: enabled by default */
    _cleanup_json_ json_t *old = json_object();
    snprintf(want, sizeof(want), "net=~1\nslirp=%s\n", slirp);
    conf_ok(old, want);
    _cleanup_json_ json_t *dflt = cfg_of(NULL, NULL, NULL);
    conf_ok(dflt, want);
    _cleanup_json_ json_t *off = cfg_of("disabled", NULL, NULL);
    conf_ok(off, "");
    static const char *const publish[] = {"8080:80", "10.1.2.3::81", "80", NULL};
    /* ports alone: a default network ("~1"), so that without one they still work */
    _cleanup_json_ json_t *ports = cfg_of(NULL, NULL, publish);
    snprintf(want, sizeof(want),
             "net=~1\nslirp=%s\nport=127.0.0.1 8080 80\nport=10.1.2.3 0 81\nport=127.0.0.1 0 80\n",
             slirp);
    conf_ok(ports, want);
    _cleanup_json_ json_t *ports_on = cfg_of("enabled", NULL, publish);
    snprintf(want, sizeof(want),
             "net=1\nslirp=%s\nport=127.0.0.1 8080 80\nport=10.1.2.3 0 81\nport=127.0.0.1 0 80\n",
             slirp);
    conf_ok(ports_on, want);
    static const char *const allow[] = {"10.1.2.3/8:443",
                                        "1.2.3.4",
                                        "*.Example.com",
                                        "host.boxlite.internal",
                                        "host.boxlite.internal:8000",
                                        "LocalHost:8080",
                                        NULL};
    _cleanup_json_ json_t *al = cfg_of(NULL, allow, NULL);
    snprintf(want, sizeof(want),
             "net=1\nslirp=%s\nnft=%s\nallow=10.0.0.0/8 443\nallow=1.2.3.4/32 0\n"
             "allow_dns=example.com 0\nallow_hostlo=0\nallow_hostlo=8000\n"
             "allow=127.0.0.1/32 8080\nallow_host=localhost 127.0.0.1\n",
             slirp, nft);
    conf_ok(al, want);
    /* explicit network without slirp4netns fails; the default goes on without it */
    ASSERT_OK(setenv("BOXLITE_SLIRP4NETNS", "/nonexistent/slirp4netns", 1));
    conf_ok(dflt, "net=~1\n");
    /* ports alone go on too (loopback and the published ports: the shim relays into it) */
    conf_ok(ports, "net=~1\nport=127.0.0.1 8080 80\nport=10.1.2.3 0 81\nport=127.0.0.1 0 80\n");
    conf_err(ports_on, -ENOENT,
             "network: slirp4netns not found; install Debian's slirp4netns package, or use "
             "--network disabled");
    _cleanup_json_ json_t *on = cfg_of("enabled", NULL, NULL);
    conf_err(on, -ENOENT, "network: slirp4netns not found");
    ASSERT_OK(setenv("BOXLITE_SLIRP4NETNS", slirp, 1));
    ASSERT_OK(setenv("BOXLITE_NFT", make_exe("not-executable", 0644), 1));
    conf_err(al, -ENOENT, "network: nft not found; --allow-net needs Debian's nftables package");
    ASSERT_OK(setenv("BOXLITE_NFT", nft, 1));
    /* names are resolved at start; one that does not resolve stops the start */
    static const char *const unknown[] = {"1.2.3.4", "no-such-host.invalid", NULL};
    _cleanup_json_ json_t *un = cfg_of(NULL, unknown, NULL);
    conf_err(un, -ENOENT, "network: cannot resolve allow_net host \"no-such-host.invalid\": ");
}

TEST(find_helper)
{
    char dir[4096], bin[4200];
    snprintf(dir, sizeof(dir), "%s/bin", tap_tmpdir());
    ASSERT_OK(mkdir(dir, 0755));
    snprintf(bin, sizeof(bin), "%s/tool", dir);
    int fd = open(bin, O_WRONLY | O_CREAT | O_CLOEXEC, 0755);
    ASSERT_TRUE(fd >= 0);
    close(fd);
    char path[8192];
    /* relative and empty entries are skipped; the search goes on in PATH's order */
    snprintf(path, sizeof(path), "bin::%s:%s:/nonexistent", tap_tmpdir(), dir);
    ASSERT_OK(setenv("PATH", path, 1));
    ASSERT_OK(chdir(tap_tmpdir()));
    _cleanup_free_ char *p = NULL;
    ASSERT_OK(bl_net_find_helper("tool", NULL, &p, &tap_last_err));
    ASSERT_STREQ(p, bin);
    /* a directory of that name is not a helper; the system directories come last */
    _cleanup_free_ char *sh = NULL;
    ASSERT_OK(bl_net_find_helper("sh", NULL, &sh, &tap_last_err));
    ASSERT_TRUE(sh[0] == '/');
    _cleanup_free_ char *none = NULL;
    ASSERT_ERR(bl_net_find_helper("bin", NULL, &none, NULL), -ENOENT);
    ASSERT_NULL(none);
    /* the environment variable: a path, or a name to search */
    ASSERT_OK(setenv("BL_TEST_HELPER", "tool", 1));
    _cleanup_free_ char *q = NULL;
    ASSERT_OK(bl_net_find_helper("other", "BL_TEST_HELPER", &q, &tap_last_err));
    ASSERT_STREQ(q, bin);
    ASSERT_OK(setenv("BL_TEST_HELPER", "/nonexistent/tool", 1));
    ASSERT_ERR(bl_net_find_helper("sh", "BL_TEST_HELPER", &none, NULL), -ENOENT);
    ASSERT_OK(setenv("BL_TEST_HELPER", "", 1));
    _cleanup_free_ char *r = NULL;
    ASSERT_OK(bl_net_find_helper("tool", "BL_TEST_HELPER", &r, &tap_last_err));
    ASSERT_STREQ(r, bin);
}

/* ---- inspect and list ---- */

static void write_file(const char *dir, const char *name, const char *text)
{
    char p[4096];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *f = fopen(p, "we");
    ASSERT_NOT_NULL(f);
    fputs(text, f);
    ASSERT_OK(fclose(f));
}

static char *net_settings(struct boxlite_box *b)
{
    _cleanup_json_ json_t *o = NULL;
    ASSERT_OK(bl_box_net_inspect(b, &o, &tap_last_err));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    ASSERT_NOT_NULL(s);
    return s;
}

static char *ports_of(struct boxlite_box *b)
{
    char *s = NULL;
    ASSERT_OK(boxlite_box_ports(b, &s, &tap_last_err));
    return s;
}

TEST(inspect_and_list)
{
    static const char *const publish[] = {"8080:80", "10.1.2.3::80", "81", NULL};
    static const char *const allow[] = {"example.com", NULL};
    _cleanup_json_ json_t *cfg = cfg_of(NULL, allow, publish);
    int dfd = open(tap_tmpdir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_TRUE(dfd >= 0);
    struct boxlite_box b = {.config = cfg, .dir_fd = dfd};
    /* not running: the configured ports */
    _cleanup_free_ char *s1 = net_settings(&b);
    ASSERT_STREQ(s1, "{\"Mode\":\"enabled\",\"IPAddress\":\"\",\"Gateway\":\"\",\"HostAlias\":"
                     "\"host.boxlite.internal\",\"Ports\":{\"80/tcp\":[{\"HostIp\":\"127.0.0.1\","
                     "\"HostPort\":\"8080\"},{\"HostIp\":\"10.1.2.3\",\"HostPort\":\"\"}],"
                     "\"81/tcp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"\"}]},\"AllowNet\":"
                     "[\"example.com\"]}");
    _cleanup_free_ char *p1 = ports_of(&b);
    ASSERT_STREQ(p1, "127.0.0.1:8080->80/tcp, 10.1.2.3:0->80/tcp, 127.0.0.1:0->81/tcp");
    /* the ports file of a stopped box is stale: ignored */
    write_file(tap_tmpdir(), "ports", "127.0.0.1 8080 80\n10.1.2.3 40001 80\n127.0.0.1 40002 81\n");
    _cleanup_free_ char *p2 = ports_of(&b);
    ASSERT_STREQ(p2, p1);
    /* running (the shim's lock is held): what the shim bound */
    char lp[4096];
    snprintf(lp, sizeof(lp), "%s/shim.lock", tap_tmpdir());
    int lock = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_TRUE(lock >= 0);
    ASSERT_OK(bl_ofd_lock(lock, F_WRLCK, false));
    _cleanup_free_ char *s3 = net_settings(&b);
    ASSERT_STREQ(s3, "{\"Mode\":\"enabled\",\"IPAddress\":\"10.0.2.100\",\"Gateway\":\"10.0.2.2\","
                     "\"HostAlias\":\"host.boxlite.internal\",\"Ports\":{\"80/tcp\":[{\"HostIp\":"
                     "\"127.0.0.1\",\"HostPort\":\"8080\"},{\"HostIp\":\"10.1.2.3\",\"HostPort\":"
                     "\"40001\"}],\"81/tcp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"40002\"}]},"
                     "\"AllowNet\":[\"example.com\"]}");
    _cleanup_free_ char *p3 = ports_of(&b);
    ASSERT_STREQ(p3, "127.0.0.1:8080->80/tcp, 10.1.2.3:40001->80/tcp, 127.0.0.1:40002->81/tcp");
    /* a missing or malformed file (the shim has not written it yet): the configured ports */
    static const char *const bad[] = {"", "127.0.0.1 8080\n", "localhost 1 2\n", "1.2.3.4 1 x\n"};
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        write_file(tap_tmpdir(), "ports", bad[i]);
        _cleanup_free_ char *p = ports_of(&b);
        ASSERT_STREQ(p, p1);
    }
    ASSERT_OK(unlinkat(dfd, "ports", 0));
    _cleanup_free_ char *p4 = ports_of(&b);
    ASSERT_STREQ(p4, p1);
    /* no ports: "", and an empty Ports object; disabled: no addresses even while running */
    _cleanup_json_ json_t *off = cfg_of("disabled", NULL, NULL);
    b.config = off;
    _cleanup_free_ char *p5 = ports_of(&b);
    ASSERT_STREQ(p5, "");
    _cleanup_free_ char *s5 = net_settings(&b);
    ASSERT_STREQ(s5, "{\"Mode\":\"disabled\",\"IPAddress\":\"\",\"Gateway\":\"\",\"HostAlias\":"
                     "\"\",\"Ports\":{},\"AllowNet\":[]}");
    /* a record from before networking: enabled, nothing published or allowed */
    _cleanup_json_ json_t *old = json_object();
    b.config = old;
    _cleanup_free_ char *s6 = net_settings(&b);
    ASSERT_STREQ(s6, "{\"Mode\":\"enabled\",\"IPAddress\":\"10.0.2.100\",\"Gateway\":"
                     "\"10.0.2.2\",\"HostAlias\":\"host.boxlite.internal\",\"Ports\":{},"
                     "\"AllowNet\":[]}");
    close(lock);
    close(dfd);
}

/* In a child with BL_FAULT=n: the ports and a helper's path, or a clean -ENOMEM. */
static int oom_run(unsigned long n, void *userdata)
{
    static const char *const publish[] = {"8080:80", "81", NULL};
    (void) n;
    (void) userdata;
    (void) setenv("PATH", "/nonexistent:/bin", 1); /* a bounded number of fault points */
    json_t *cfg = json_object();
    if (!cfg || bl_box_net_config(NULL, NULL, publish, cfg, NULL) < 0)
        return TAP_RUN_BUG;
    int dfd = open(tap_tmpdir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct boxlite_box b = {.config = cfg, .dir_fd = dfd};
    char *s = (char *) &b, *h = (char *) &b;
    bl_error *e = NULL;
    int res = TAP_RUN_OK;
    if (boxlite_box_ports(&b, &s, &e) < 0)
        res = e && e->code == -ENOMEM && s == (char *) &b ? TAP_RUN_FAILED : TAP_RUN_BUG;
    else if (bl_net_find_helper("sh", NULL, &h, &e) < 0)
        res = e && e->code == -ENOMEM && h == (char *) &b ? TAP_RUN_FAILED : TAP_RUN_BUG;
    if (s != (char *) &b)
        free(s);
    if (h != (char *) &b)
        free(h);
    bl_error_free(e);
    json_decref(cfg);
    close(dfd);
    return res;
}

TEST(oom_torture)
{
    tap_torture(
        &(struct tap_torture){.name = "ports and helper", .run = oom_run, .max_faults = 50});
}

TAP_MAIN(T(publish_forms), T(publish_errors), T(network_mode), T(network_config), T(allow_kinds),
         T(allow_errors), T(shim_conf), T(find_helper), T(inspect_and_list), T(oom_torture))
