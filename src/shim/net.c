/* SPDX-License-Identifier: MIT */
/*
 * The box's network (docs/design/networking.md).
 *
 * - slirp4netns, a child of the shim in the host's namespaces, gives the box's network namespace
 *   a tap device with 10.0.2.100/24, a default route through 10.0.2.2 and a DNS forwarder at
 *   10.0.2.3, all in user space: the box never sees or touches the host's interfaces. Its
 *   10.0.2.2 reaches the host's loopback only when the allow-list names the host alias.
 * - An allow-list (--allow-net) is an nftables table in the box's namespace, loaded before the
 *   box's first instruction; the box has neither CAP_NET_ADMIN nor CAP_NET_RAW to undo it.
 * - A published port is a listening socket of the shim on the host; each connection is relayed
 *   to a socket the shim makes inside the box's namespace (to 10.0.2.100:PORT), so that the
 *   traffic never passes through slirp.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alloc-util.h"
#include "fs-util.h"
#include "net.h"
#include "process.h"
#include "proto.h"

#define BOX_ADDR NET_BOX_ADDR
#define GW_ADDR "10.0.2.2"
#define DNS_ADDR "10.0.2.3"
#define HOST_ALIAS "host.boxlite.internal"
#define RELAY_BUF (64 * 1024)
#define MAX_RELAYS 1024
#define READY_TIMEOUT_MS 10000

struct net_listener {
    struct ev ev; /* EV_NET; first member */
    int fd;
    char host_ip[INET_ADDRSTRLEN];
    unsigned short host_port, box_port;
    bool full_logged;
};

struct relay;
struct relay_end {
    struct ev ev; /* EV_NET; first member */
    struct relay *r;
    int fd;
    uint32_t mask; /* what epoll watches now */
    bool eof;      /* read side saw EOF */
    bool hup;      /* shut both ways: only what it still holds can be read */
    bool parked;   /* hup and nothing to do now: out of epoll (which would report it again) */
};

struct relay {
    struct relay *next;
    struct relay_end a, b; /* a: the host's client; b: our socket in the box */
    char *buf[2];          /* [0]: a -> b; [1]: b -> a */
    size_t len[2], off[2];
    bool connecting, dead;
};

void net_init(struct net *net)
{
    *net = (struct net){.netns_fd = -1,
                        .host_netns_fd = -1,
                        .userns_fd = -1,
                        .slirp_pidfd = -1,
                        .slirp_exit_w = -1,
                        .slirp_ready_r = -1,
                        .nft_pidfd = -1,
                        .nft_err_r = -1,
                        .box = {.boxfd = -1, .epfd = -1}};
    dns_init(&net->dns);
}

bool net_address(const struct net *net)
{
    return net->up;
}

void net_relayed(const struct net *net, uint64_t *in, uint64_t *out)
{
    *in = net->relayed[0];
    *out = net->relayed[1];
}

/* ---- configuration --------------------------------------------------------------------- */

static bool valid_port(const char *s, bool zero_ok, unsigned short *ret)
{
    int v;
    if (parse_int(s, zero_ok ? 0 : 1, 65535, &v) < 0)
        return false;
    *ret = (unsigned short) v;
    return true;
}

/* "A.B.C.D/N PORT" */
static bool valid_allow(const char *s)
{
    char ip[INET_ADDRSTRLEN + 8];
    const char *sp = strchr(s, ' ');
    const char *slash = strchr(s, '/');
    if (!sp || !slash || slash > sp || (size_t) (slash - s) >= INET_ADDRSTRLEN)
        return false;
    memcpy(ip, s, (size_t) (slash - s));
    ip[slash - s] = 0;
    struct in_addr a;
    char pfx[4];
    size_t pl = (size_t) (sp - slash - 1);
    if (inet_pton(AF_INET, ip, &a) != 1 || pl == 0 || pl > 2)
        return false;
    memcpy(pfx, slash + 1, pl);
    pfx[pl] = 0;
    int n;
    unsigned short port;
    return parse_int(pfx, 0, 32, &n) == 0 && valid_port(sp + 1, true, &port);
}

static bool valid_name(const char *s, size_t n)
{
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.'))
            return false;
    }
    return true;
}

/* "NAME A.B.C.D" or "DOMAIN PORT" */
static bool valid_pair(const char *s, bool second_is_ip)
{
    const char *sp = strchr(s, ' ');
    if (!sp || !valid_name(s, (size_t) (sp - s)))
        return false;
    struct in_addr a;
    unsigned short port;
    return second_is_ip ? inet_pton(AF_INET, sp + 1, &a) == 1 : valid_port(sp + 1, true, &port);
}

/* Check what the library wrote; everything here ends up in an nft script or /etc/hosts. */
static int check_conf(const struct shim_conf *c, bl_error **err)
{
    for (size_t i = 0; i < c->n_ports; i++) {
        char ip[INET_ADDRSTRLEN + 1];
        int hp, bp;
        struct in_addr a;
        if (sscanf(c->ports[i], "%16s %d %d", ip, &hp, &bp) != 3 ||
            inet_pton(AF_INET, ip, &a) != 1 || hp < 0 || hp > 65535 || bp < 1 || bp > 65535)
            return bl_err(err, -EINVAL, "shim.conf: bad port '%s'", c->ports[i]);
    }
    for (size_t i = 0; i < c->n_allow; i++)
        if (!valid_allow(c->allow[i]))
            return bl_err(err, -EINVAL, "shim.conf: bad allow '%s'", c->allow[i]);
    for (size_t i = 0; i < c->n_allow_host; i++)
        if (!valid_pair(c->allow_host[i], true))
            return bl_err(err, -EINVAL, "shim.conf: bad allow_host '%s'", c->allow_host[i]);
    for (size_t i = 0; i < c->n_allow_dns; i++)
        if (!valid_pair(c->allow_dns[i], false))
            return bl_err(err, -EINVAL, "shim.conf: bad allow_dns '%s'", c->allow_dns[i]);
    for (size_t i = 0; i < c->n_allow_hostlo; i++) {
        unsigned short port;
        if (!valid_port(c->allow_hostlo[i], true, &port))
            return bl_err(err, -EINVAL, "shim.conf: bad allow_hostlo '%s'", c->allow_hostlo[i]);
    }
    return 0;
}

int net_prepare(struct net *net, const struct net_box *box, bl_error **err)
{
    net->box = *box;
    struct shim_conf *c = net->box.conf;
    if (!c->net)
        return 0;
    int r = check_conf(c, err);
    if (r < 0)
        return r;
    if (geteuid() != 0 && access("/dev/net/tun", R_OK | W_OK) < 0) {
        /* Without root, slirp4netns (in the box's user namespace) opens /dev/net/tun itself:
         * it must be open to users, as Debian's udev makes it (0666). */
        if (!c->net_soft)
            return bl_err(err, -EOPNOTSUPP,
                          "network: without root, a box's network needs /dev/net/tun open to "
                          "users (mode 0666, as Debian's udev sets it; here it is not); use "
                          "--network disabled");
        shim_log("not root and /dev/net/tun is not open to us: the box has only loopback");
        c->net = false;
    } else if (!c->slirp || c->slirp[0] != '/' || access(c->slirp, X_OK) < 0) {
        if (!c->net_soft)
            return bl_err(err, -ENOENT,
                          "network: slirp4netns not found; install Debian's "
                          "slirp4netns package, or use --network disabled");
        shim_log("slirp4netns not available ('%s'): the box has only loopback",
                 c->slirp ? c->slirp : "");
        c->net = false;
    }
    if (!c->net) {
        /* a default network (never an allow-list: that is asked for) falls back to loopback;
         * published ports still work, relayed to the box's loopback */
        if (c->n_ports == 0)
            return 0;
        net->ports_only = true;
    }
    if (conf_net_filtered(c) && (!c->nft || c->nft[0] != '/' || access(c->nft, X_OK) < 0))
        return bl_err(err, -ENOENT,
                      "network: nft not found; --allow-net needs Debian's nftables "
                      "package");
    if (conf_net_filtered(c)) {
        /* A filtered box must not undo its filter (NET_ADMIN) nor go around it with packet
         * sockets (NET_RAW). */
        c->caps &= ~((UINT64_C(1) << 12) | (UINT64_C(1) << 13));
    }
    /* Published ports: bound now, so that a port in use fails the start before the box runs. */
    net->listeners = bl_calloc(c->n_ports + 1, sizeof(*net->listeners));
    if (!net->listeners)
        return bl_oom(err);
    for (size_t i = 0; i < c->n_ports; i++) {
        struct net_listener *l = &net->listeners[i];
        int hp = 0, bp = 0;
        *l = (struct net_listener){.ev = {EV_NET}, .fd = -1};
        (void) sscanf(c->ports[i], "%15s %d %d", l->host_ip, &hp, &bp);
        l->host_port = (unsigned short) hp;
        l->box_port = (unsigned short) bp;
        net->n_listeners++;
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(l->host_port)};
        (void) inet_pton(AF_INET, l->host_ip, &sa.sin_addr);
        l->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        int one = 1;
        if (l->fd < 0 || setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(l->fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(l->fd, 128) < 0) {
            int e = errno;
            /* upstream's words: its port forwarder answers on this path */
            return bl_err(err, -e,
                          "cannot publish %s:%u -> %u: /services/forwarder/expose: listen tcp "
                          "%s:%u: bind: %s",
                          l->host_ip, l->host_port, l->box_port, l->host_ip, l->host_port,
                          e == EADDRINUSE ? "address already in use"
                          : e == EACCES   ? "permission denied"
                                          : strerror(e));
        }
        socklen_t len = sizeof(sa);
        if (getsockname(l->fd, (struct sockaddr *) &sa, &len) == 0)
            l->host_port = ntohs(sa.sin_port);
    }
    return 0;
}

/* The box's /etc/hosts lines beyond localhost and its hostname. */
int net_hosts_lines(const struct net *net, char **ret)
{
    const struct shim_conf *c = net->box.conf;
    size_t cap = 64 + c->n_allow_host * 300;
    _cleanup_free_ char *buf = bl_malloc(cap);
    if (!buf)
        return -ENOMEM;
    size_t n = 0;
    buf[0] = 0;
    if (c->net)
        n += (size_t) snprintf(buf + n, cap - n, "%s\t%s\n", GW_ADDR, HOST_ALIAS);
    for (size_t i = 0; c->net && i < c->n_allow_host; i++) {
        const char *sp = strchr(c->allow_host[i], ' ');
        n += (size_t) snprintf(buf + n, cap - n, "%s\t%.*s\n", sp + 1,
                               (int) (sp - c->allow_host[i]), c->allow_host[i]);
    }
    *ret = TAKE_PTR(buf);
    return 0;
}

const char *net_resolv_conf(const struct net *net)
{
    if (!net->box.conf->net)
        return NULL;
    /* an allow-list with domains: our filter (dns.c); else slirp's forwarder */
    return net->box.conf->n_allow_dns ? "nameserver 127.0.0.53\n" : "nameserver " DNS_ADDR "\n";
}

/* ---- helpers: slirp4netns and nft ------------------------------------------------------ */

/* In a forked child: put fds[i] at i + 3 (not CLOEXEC), close the rest, stdio from /dev/null
 * (stderr: err_fd when >= 0). */
static void child_fds(int *fds, size_t n, int err_fd)
{
    for (size_t i = 0; i < n; i++)
        fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 64);
    if (err_fd >= 0)
        err_fd = fcntl(err_fd, F_DUPFD_CLOEXEC, 64);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0 || dup3(null, 0, 0) < 0 || dup3(null, 1, 0) < 0 ||
        dup3(err_fd >= 0 ? err_fd : null, 2, 0) < 0)
        _exit(127);
    for (size_t i = 0; i < n; i++)
        if (fds[i] < 0 || dup3(fds[i], (int) i + 3, 0) < 0)
            _exit(127);
    (void) close_range((unsigned) n + 3, ~0U, 0);
}

static int spawn_slirp(struct net *net)
{
    const struct shim_conf *c = net->box.conf;
    int ex[2], rd[2];
    if (pipe2(ex, O_CLOEXEC) < 0)
        return -errno;
    _cleanup_close_ int ex_r = ex[0], ex_w = ex[1];
    if (pipe2(rd, O_CLOEXEC) < 0)
        return -errno;
    _cleanup_close_ int rd_r = rd[0], rd_w = rd[1];
    _cleanup_close_ int log = openat(net->box.boxfd, "net.log",
                                     O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    bool hostlo = c->n_allow_hostlo > 0;
    const char *argv[16];
    size_t k = 0;
    argv[k++] = c->slirp;
    argv[k++] = "--configure";
    argv[k++] = "--mtu=65520";
    if (!hostlo)
        argv[k++] = "--disable-host-loopback";
    argv[k++] = "--exit-fd=3";
    argv[k++] = "--ready-fd=4";
    argv[k++] = "--enable-sandbox";
    argv[k++] = "--enable-seccomp";
    char pid1[16];
    if (net->userns_fd < 0) {
        argv[k++] = "--netns-type=path";
        argv[k++] = "/proc/self/fd/5"; /* the box's namespace: no race with an early end of PID 1 */
    } else {
        /* Without root slirp4netns must join the box's user namespace before its network
         * namespace, and its sandboxed parent finds that namespace only from a pid (1.2 ignores
         * --userns-path there). PID 1 is our child, unreaped until we are done: not reusable. */
        (void) snprintf(pid1, sizeof(pid1), "%d", (int) net->box.pid1->pid);
        argv[k++] = pid1;
    }
    argv[k++] = "tap0";
    argv[k] = NULL;
    pid_t p = fork();
    if (p < 0)
        return -errno;
    if (p == 0) {
        /* dies with the shim; its exit fd reads EOF then too */
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        child_reset_signals();
        int fds[3] = {ex_r, rd_w, net->netns_fd};
        child_fds(fds, 3, log);
        execv(c->slirp, (char *const *) argv);
        _exit(127);
    }
    net->slirp_pid = p;
    net->slirp_pidfd = (int) pidfd_open(p, 0);
    net->slirp_exit_w = TAKE_FD(ex_w);
    net->slirp_ready_r = TAKE_FD(rd_r);
    return 0;
}

static void put(char **buf, size_t *len, size_t *cap, const char *fmt, ...) _printf_(4, 5);
static void put(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
    if (!*buf)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            free(*buf);
            *buf = NULL;
            return;
        }
        if ((size_t) n < *cap - *len) {
            *len += (size_t) n;
            return;
        }
        char *nb = bl_realloc(*buf, *cap * 2 + (size_t) n);
        if (!nb) {
            free(*buf);
            *buf = NULL;
            return;
        }
        *buf = nb;
        *cap = *cap * 2 + (size_t) n;
    }
}

/* The allow-list as an nft script: loopback and the listed destinations pass; TCP to anything
 * else is reset (connect() fails at once with ECONNREFUSED), other packets dropped (send()
 * fails at once with EPERM). The host alias reaches the host only on its listed ports. */
static char *nft_script(const struct shim_conf *c)
{
    size_t cap = 1024, len = 0;
    char *b = bl_malloc(cap);
    put(&b, &len, &cap,
        "table inet boxlite {\n"
        " set dyn { type ipv4_addr . inet_service; }\n"
        " set dyn_any { type ipv4_addr; }\n"
        " chain refuse {\n"
        "  meta l4proto tcp reject with tcp reset\n"
        "  drop\n"
        " }\n"
        " chain out {\n"
        "  type filter hook output priority 0; policy drop;\n"
        "  oif \"lo\" accept\n");
    for (size_t i = 0; i < c->n_allow_hostlo; i++) {
        if (!strcmp(c->allow_hostlo[i], "0"))
            put(&b, &len, &cap, "  ip daddr %s accept\n", GW_ADDR);
        else
            put(&b, &len, &cap, "  ip daddr %s meta l4proto { tcp, udp } th dport %s accept\n",
                GW_ADDR, c->allow_hostlo[i]);
    }
    put(&b, &len, &cap, "  ip daddr %s jump refuse\n", GW_ADDR);
    /* the rest of slirp's network (its resolver, say) is never a destination of its own */
    put(&b, &len, &cap, "  ip daddr 10.0.2.0/24 jump refuse\n");
    if (c->n_allow_dns) /* filled by dns.c with the answers for allowed names */
        put(&b, &len, &cap,
            "  ip daddr @dyn_any accept\n"
            "  meta l4proto { tcp, udp } ip daddr . th dport @dyn accept\n");
    for (size_t i = 0; i < c->n_allow; i++) {
        const char *sp = strchr(c->allow[i], ' ');
        if (!strcmp(sp + 1, "0"))
            put(&b, &len, &cap, "  ip daddr %.*s accept\n", (int) (sp - c->allow[i]), c->allow[i]);
        else
            put(&b, &len, &cap, "  ip daddr %.*s meta l4proto { tcp, udp } th dport %s accept\n",
                (int) (sp - c->allow[i]), c->allow[i], sp + 1);
    }
    put(&b, &len, &cap, "  jump refuse\n }\n}\n");
    return b;
}

#define NFT_TIMEOUT_MS 3000

/* Fork a helper in the host's pid namespace (never in the box's: the box's root could see,
 * stop or trace a privileged helper there). Returns like fork(); *ret_pidfd gets a pidfd. */
static pid_t fork_outside(struct net *net, int *ret_pidfd)
{
    bool back = net->box.pid1->pidns_joined && net->box.pid1->orig_pidns_fd >= 0;
    if (back && setns(net->box.pid1->orig_pidns_fd, CLONE_NEWPID) < 0)
        return -errno;
    bool in_cgroup;
    pid_t p = shim_clone(0, -1, ret_pidfd, &in_cgroup);
    if (p == 0)
        proc_oom_restore(); /* a network helper serves the box: no OOM protection of ours */
    if (p != 0 && back && setns(net->box.pid1->pidfd, CLONE_NEWPID) < 0) {
        shim_log("cannot join the box's pid namespace again: %s (exec disabled)", strerror(errno));
        net->box.pid1->pidns_joined = false;
    }
    return p;
}

/* Wait (bounded) for a helper of ours; a slow one is killed. True if it exited with 0. */
static bool wait_helper(pid_t pid, int pidfd, int timeout_ms)
{
    struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
    int r;
    do
        r = poll(&pfd, 1, timeout_ms);
    while (r < 0 && errno == EINTR);
    if (r == 0) {
        shim_log("nft (pid %d) did not finish in %d ms: killed", (int) pid, timeout_ms);
        (void) pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
    }
    int st = 0;
    pid_t w;
    do
        w = waitpid(pid, &st, 0);
    while (w < 0 && errno == EINTR);
    return r > 0 && w == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* In a helper child: nft in the box's network namespace, with fds[i] at i + 3. */
static _noreturn_ void nft_child(const struct net *net, const char *const *argv, int *fds, size_t n,
                                 int err_fd)
{
    (void) prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    child_reset_signals();
    if ((net->userns_fd >= 0 && setns(net->userns_fd, CLONE_NEWUSER) < 0) ||
        setns(net->netns_fd, CLONE_NEWNET) < 0)
        _exit(126);
    child_fds(fds, n, err_fd);
    execv(argv[0], (char *const *) argv);
    _exit(127);
}

static int spawn_nft(struct net *net)
{
    _cleanup_free_ char *script = nft_script(net->box.conf);
    if (!script)
        return -ENOMEM;
    _cleanup_close_ int mfd = memfd_create("boxlite-nft", MFD_CLOEXEC);
    if (mfd < 0)
        return -errno;
    int r = bl_write_all(mfd, script, strlen(script));
    if (r < 0)
        return r;
    if (lseek(mfd, 0, SEEK_SET) < 0)
        return -errno;
    int ep[2];
    if (pipe2(ep, O_CLOEXEC) < 0)
        return -errno;
    _cleanup_close_ int err_r = ep[0], err_w = ep[1];
    int pidfd = -1;
    pid_t p = fork_outside(net, &pidfd);
    if (p < 0)
        return p;
    if (p == 0) {
        int fds[1] = {mfd};
        const char *argv[] = {net->box.conf->nft, "-f", "/proc/self/fd/3", NULL};
        nft_child(net, argv, fds, 1, err_w);
    }
    net->nft_pid = p;
    net->nft_pidfd = pidfd;
    net->nft_err_r = TAKE_FD(err_r);
    return 0;
}

/*
 * Run fn(arg) in the box's network namespace. As root the shim enters it and comes back;
 * without root the kernel lets no one in but a process of the box's user namespace, so a child
 * joins that first, runs fn there, and sends its result back (with it an fd when want_fd:
 * fn's non-negative result).
 */
static int in_box_netns(const struct net *net, int (*fn)(void *arg), void *arg, bool want_fd)
{
    if (net->userns_fd < 0) {
        if (setns(net->netns_fd, CLONE_NEWNET) < 0)
            return -errno;
        int r = fn(arg);
        if (setns(net->host_netns_fd, CLONE_NEWNET) < 0) {
            /* stuck in the box's namespace: never bind anything again */
            shim_log("cannot return to the host's network namespace: %s", strerror(errno));
            abort();
        }
        return r;
    }
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
        return -errno;
    _cleanup_close_ int mine = sp[0], theirs = sp[1];
    pid_t p = fork();
    if (p < 0)
        return -errno;
    if (p == 0) {
        int r = setns(net->userns_fd, CLONE_NEWUSER) < 0 || setns(net->netns_fd, CLONE_NEWNET) < 0
                    ? -errno
                    : fn(arg);
        if (r >= 0 && want_fd)
            (void) proto_send_fd(theirs, r, 1, "fd");
        else
            (void) proto_send_int(theirs, "r", r);
        _exit(0);
    }
    theirs = bl_close(theirs);
    /* the child sends, then exits: its message (and fd) waits in the socket */
    int st;
    while (waitpid(p, &st, 0) < 0 && errno == EINTR)
        ;
    _cleanup_(bl_msg_done) struct bl_msg m = BL_MSG_NULL;
    int q = proto_recv(mine, &m);
    if (q < 0 || m.n < 1)
        return q < 0 ? q : -EIO;
    if (!strcmp(m.field[0], "fd") && m.n_fds == 1) {
        int fd = m.fds[0];
        m.fds[0] = -1;
        m.n_fds = 0;
        return fd;
    }
    int v = -EIO;
    if (!strcmp(m.field[0], "r") && m.n > 1 && parse_int(m.field[1], -4095, 0x7fffffff, &v) < 0)
        v = -EIO;
    return v;
}

/* tap0 in the box's namespace, persistent: slirp4netns attaches to it. Its end then costs
 * nothing: the device goes with the namespace, in the kernel's own time, where unregistering a
 * non-persistent tap on the last close (slirp's exit) takes ~20 ms of RCU waits. */
static int make_tap_here(void *arg)
{
    (void) arg;
    int r = 0;
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    struct ifreq ifr = {.ifr_name = "tap0", .ifr_flags = IFF_TAP | IFF_NO_PI};
    if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETPERSIST, 1) < 0)
        r = -errno;
    if (fd >= 0)
        (void) close(fd);
    /* slirp serves IPv4 only: no IPv6 chatter (MLD, neighbour discovery) once it is up */
    _cleanup_close_ int sysctl =
        r < 0 ? -1 : open("/proc/sys/net/ipv6/conf/tap0/disable_ipv6", O_WRONLY | O_CLOEXEC);
    if (sysctl >= 0)
        (void) write_str(sysctl, "1");
    return r;
}

static int make_tap(const struct net *net)
{
    return in_box_netns(net, make_tap_here, NULL, false);
}

static int start_dns(struct net *net, bl_error **err);

int net_start(struct net *net, bl_error **err)
{
    if (!net->box.conf->net && !net->ports_only)
        return 0;
    char path[64];
    (void) snprintf(path, sizeof(path), "/proc/%d/ns/net", (int) net->box.pid1->pid);
    net->netns_fd = open(path, O_RDONLY | O_CLOEXEC);
    net->host_netns_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (net->netns_fd < 0 || net->host_netns_fd < 0)
        return bl_err_errno(err, "network: cannot open the box's network namespace");
    if (net->box.userns) {
        (void) snprintf(path, sizeof(path), "/proc/%d/ns/user", (int) net->box.pid1->pid);
        net->userns_fd = open(path, O_RDONLY | O_CLOEXEC);
        if (net->userns_fd < 0)
            return bl_err_errno(err, "network: cannot open the box's user namespace");
    }
    if (net->ports_only)
        return 0;
    int r = make_tap(net);
    if (r < 0)
        return bl_err_code(err, r, "network: cannot create the box's tap device");
    r = spawn_slirp(net);
    if (r < 0)
        return bl_err_code(err, r, "network: cannot start slirp4netns");
    if (conf_net_filtered(net->box.conf)) {
        r = spawn_nft(net);
        if (r < 0)
            return bl_err_code(err, r, "network: cannot start nft");
    }
    if (net->box.conf->n_allow_dns)
        return start_dns(net, err);
    return 0;
}

/* Let the box reach addresses a[0..n) (port 0: any port) through its allow-list, now (one nft
 * run, in the host's pid namespace, bounded in time): the DNS filter's dns_allow_fn. */
static int allow_addrs(void *userdata, const struct in_addr *a, size_t n, unsigned short port)
{
    /* one `nft add element` for the whole answer */
    char elems[64 * 40];
    size_t len = 0;
    len += (size_t) snprintf(elems + len, sizeof(elems) - len, "{ ");
    for (size_t i = 0; i < n && len < sizeof(elems) - 40; i++) {
        char ip[INET_ADDRSTRLEN];
        (void) inet_ntop(AF_INET, &a[i], ip, sizeof(ip));
        if (port)
            len += (size_t) snprintf(elems + len, sizeof(elems) - len, "%s%s . %u", i ? ", " : "",
                                     ip, port);
        else
            len += (size_t) snprintf(elems + len, sizeof(elems) - len, "%s%s", i ? ", " : "", ip);
    }
    (void) snprintf(elems + len, sizeof(elems) - len, " }");
    struct net *net = userdata;
    _cleanup_close_ int pidfd = -1;
    pid_t p = fork_outside(net, &pidfd);
    if (p < 0)
        return p;
    if (p == 0) {
        const char *argv[] = {net->box.conf->nft,       "add", "element", "inet", "boxlite",
                              port ? "dyn" : "dyn_any", elems, NULL};
        nft_child(net, argv, NULL, 0, -1);
    }
    return wait_helper(p, pidfd, NFT_TIMEOUT_MS) ? 0 : -EIO;
}

static int net_ports_up(struct net *net, bl_error **err);

/* Wait for the allow-list and for slirp4netns to have configured the box's interface. */
int net_wait_ready(struct net *net, bl_error **err)
{
    if (!net->box.conf->net && !net->ports_only)
        return 0;
    if (net->ports_only)
        return net_ports_up(net, err);
    if (net->nft_pid > 0) {
        bool ok = wait_helper(net->nft_pid, net->nft_pidfd, NFT_TIMEOUT_MS);
        net->nft_pid = 0;
        net->nft_pidfd = bl_close(net->nft_pidfd);
        char msg[512];
        ssize_t n = read(net->nft_err_r, msg, sizeof(msg) - 1);
        msg[n > 0 ? n : 0] = 0;
        msg[strcspn(msg, "\n")] = 0;
        net->nft_err_r = bl_close(net->nft_err_r);
        if (!ok)
            return bl_err(err, -EIO, "network: cannot load the allow-list (nft: %s)",
                          *msg ? msg : "failed");
    }
    struct pollfd pfd = {.fd = net->slirp_ready_r, .events = POLLIN};
    int r;
    do
        r = poll(&pfd, 1, READY_TIMEOUT_MS);
    while (r < 0 && errno == EINTR);
    char c = 0;
    ssize_t n = r > 0 ? read(net->slirp_ready_r, &c, 1) : 0;
    net->slirp_ready_r = bl_close(net->slirp_ready_r);
    if (n != 1) {
        _cleanup_free_ char *log = NULL;
        size_t len = 0;
        (void) bl_read_file_at(net->box.boxfd, "net.log", 64 * 1024, &log, &len, NULL);
        /* its last line says why */
        char *last = log;
        while (log && len && log[len - 1] == '\n')
            log[--len] = 0;
        for (char *q = log; q && *q; q++)
            if (*q == '\n' && q[1])
                last = q + 1;
        return bl_err(err, -EIO, "network: slirp4netns %s%s%s",
                      r == 0 ? "did not come up in time" : "failed", last && *last ? ": " : "",
                      last && *last ? last : "");
    }
    net->up = true;
    return net_ports_up(net, err);
}

/* The published ports' listeners go live; their actual bindings go to BOX_DIR/ports. */
static int net_ports_up(struct net *net, bl_error **err)
{
    int r;
    /* (PID 1 exists by now and keeps the limit it was given; the exec zygote restores it) */
    /* Two fds per relayed connection: as many as our fd limit allows, keeping a reserve for
     * the shim's own work (execs, clients). The hard limit is ours to take. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void) setrlimit(RLIMIT_NOFILE, &rl);
    }
    rlim_t nofile = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 1024;
    net->max_relays = nofile > 256 ? (size_t) MIN((nofile - 128) / 2, MAX_RELAYS) : 64;
    /* the actual bindings, for inspect and list */
    char buf[64 * 1024];
    size_t len = 0;
    for (size_t i = 0; i < net->n_listeners; i++) {
        struct net_listener *l = &net->listeners[i];
        if (len < sizeof(buf) - 64)
            len += (size_t) snprintf(buf + len, sizeof(buf) - len, "%s %u %u\n", l->host_ip,
                                     l->host_port, l->box_port);
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = &l->ev};
        if (epoll_ctl(net->box.epfd, EPOLL_CTL_ADD, l->fd, &e) < 0)
            return bl_err_errno(err, "network: cannot watch a published port");
    }
    if (net->n_listeners) {
        r = bl_write_file_atomic_at(net->box.boxfd, "ports", buf, len, 0644, NULL);
        if (r < 0)
            return bl_err_code(err, r, "cannot write %s/ports", net->box.box_dir);
    }
    shim_log("%s%s (%zu published ports)", net->up ? "network up" : "loopback only",
             conf_net_filtered(net->box.conf) ? ", allow-list loaded" : "", net->n_listeners);
    return 0;
}

/* ---- published ports: relays ----------------------------------------------------------- */

static void end_watch(struct net *net, struct relay_end *e, uint32_t mask)
{
    if (e->fd < 0)
        return;
    if (e->hup && mask == 0) { /* EPOLLHUP ignores the mask: a busy loop otherwise */
        if (!e->parked && epoll_ctl(net->box.epfd, EPOLL_CTL_DEL, e->fd, NULL) == 0)
            e->parked = true;
        return;
    }
    if (e->parked) {
        struct epoll_event ev = {.events = mask, .data.ptr = &e->ev};
        if (epoll_ctl(net->box.epfd, EPOLL_CTL_ADD, e->fd, &ev) == 0) {
            e->parked = false;
            e->mask = mask;
        }
        return;
    }
    if (e->mask == mask)
        return;
    struct epoll_event ev = {.events = mask, .data.ptr = &e->ev};
    if (epoll_ctl(net->box.epfd, EPOLL_CTL_MOD, e->fd, &ev) == 0)
        e->mask = mask;
}

static void relay_kill(struct net *net, struct relay *r, bool reset)
{
    if (r->dead)
        return;
    struct relay_end *ends[] = {&r->a, &r->b};
    for (size_t i = 0; i < 2; i++) {
        if (ends[i]->fd < 0)
            continue;
        if (reset) {
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            (void) setsockopt(ends[i]->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        }
        if (!ends[i]->parked)
            (void) epoll_ctl(net->box.epfd, EPOLL_CTL_DEL, ends[i]->fd, NULL);
        ends[i]->fd = bl_close(ends[i]->fd);
    }
    free(r->buf[0]);
    free(r->buf[1]);
    r->buf[0] = r->buf[1] = NULL;
    r->dead = true;
    net->n_relays--;
}

/* Move what can move, both ways; half-close follows EOF. */
static void relay_pump(struct net *net, struct relay *r)
{
    struct relay_end *src[2] = {&r->a, &r->b}, *dst[2] = {&r->b, &r->a};
    for (int i = 0; i < 2; i++) {
        /* a bulk stream yields after a while; level-triggered epoll brings it back */
        size_t budget = 16 * RELAY_BUF;
        for (;;) {
            if (r->len[i] > r->off[i]) {
                ssize_t n =
                    send(dst[i]->fd, r->buf[i] + r->off[i], r->len[i] - r->off[i], MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR)
                    continue;
                if (n < 0 && errno == EAGAIN)
                    break;
                if (n < 0) {
                    relay_kill(net, r, true);
                    return;
                }
                r->off[i] += (size_t) n;
                net->relayed[i] += (uint64_t) n;
                if (r->off[i] == r->len[i])
                    r->off[i] = r->len[i] = 0;
                continue;
            }
            if (src[i]->eof || budget == 0)
                break;
            ssize_t n = recv(src[i]->fd, r->buf[i], RELAY_BUF, 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && errno == EAGAIN)
                break;
            if (n < 0) {
                relay_kill(net, r, true);
                return;
            }
            if (n == 0) {
                src[i]->eof = true;
                (void) shutdown(dst[i]->fd, SHUT_WR);
                break;
            }
            r->len[i] = (size_t) n;
            budget = budget > (size_t) n ? budget - (size_t) n : 0;
        }
    }
    if (r->a.eof && r->b.eof && !r->len[0] && !r->len[1]) {
        relay_kill(net, r, false);
        return;
    }
    end_watch(net, &r->a, (r->a.eof || r->len[0] ? 0 : EPOLLIN) | (r->len[1] ? EPOLLOUT : 0));
    end_watch(net, &r->b, (r->b.eof || r->len[1] ? 0 : EPOLLIN) | (r->len[0] ? EPOLLOUT : 0));
}

static int stream_socket_here(void *arg)
{
    (void) arg;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    return fd < 0 ? -errno : fd;
}

/* A socket in the box's network namespace. */
static int box_socket(const struct net *net)
{
    return in_box_netns(net, stream_socket_here, NULL, true);
}

static int dns_socket_here(void *arg)
{
    (void) arg;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    /* lo up now (PID 1 does it too, maybe later): bound to a local address, the socket
     * answers from it */
    struct ifreq ifr = {.ifr_name = "lo"};
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
        ifr.ifr_flags |= IFF_UP;
        (void) ioctl(fd, SIOCSIFFLAGS, &ifr);
    }
    return fd;
}

/* The DNS filter of an allow-list with domains, on a socket in the box. */
static int start_dns(struct net *net, bl_error **err)
{
    int fd = in_box_netns(net, dns_socket_here, NULL, true);
    if (fd < 0)
        return bl_err_code(err, fd, "network: cannot create the DNS socket");
    return dns_start(&net->dns, fd, net->box.conf, net->box.epfd, allow_addrs, net, err);
}

static void on_accept(struct net *net, struct net_listener *l)
{
    for (;;) {
        _cleanup_close_ int cfd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (cfd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN)
                shim_log("accept on %s:%u: %s", l->host_ip, l->host_port, strerror(errno));
            return;
        }
        if (net->n_relays >= net->max_relays) {
            if (!l->full_logged)
                shim_log("port %u: %zu connections at once: refusing more", l->host_port,
                         net->n_relays);
            l->full_logged = true;
            continue;
        }
        l->full_logged = false;
        _cleanup_close_ int bfd = box_socket(net);
        if (bfd < 0) {
            shim_log("port %u: cannot make a socket in the box: %s", l->host_port, strerror(-bfd));
            continue;
        }
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(l->box_port)};
        /* without a network, the box's loopback (its only interface) */
        (void) inet_pton(AF_INET, net->ports_only ? "127.0.0.1" : BOX_ADDR, &sa.sin_addr);
        int cr = connect(bfd, (struct sockaddr *) &sa, sizeof(sa));
        if (cr < 0 && errno != EINPROGRESS) {
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            (void) setsockopt(cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
            continue;
        }
        _cleanup_free_ struct relay *r = bl_calloc(1, sizeof(*r));
        char *b0 = bl_malloc(RELAY_BUF), *b1 = bl_malloc(RELAY_BUF);
        if (!r || !b0 || !b1) {
            free(b0);
            free(b1);
            continue;
        }
        r->buf[0] = b0;
        r->buf[1] = b1;
        r->a = (struct relay_end){.ev = {EV_NET}, .r = r, .fd = cfd, .mask = 0};
        r->b = (struct relay_end){.ev = {EV_NET}, .r = r, .fd = bfd, .mask = EPOLLOUT};
        r->connecting = true;
        struct epoll_event ea = {.events = r->a.mask, .data.ptr = &r->a.ev};
        struct epoll_event eb = {.events = r->b.mask, .data.ptr = &r->b.ev};
        if (epoll_ctl(net->box.epfd, EPOLL_CTL_ADD, cfd, &ea) < 0) {
            free(b0);
            free(b1);
            continue;
        }
        if (epoll_ctl(net->box.epfd, EPOLL_CTL_ADD, bfd, &eb) < 0) {
            (void) epoll_ctl(net->box.epfd, EPOLL_CTL_DEL, cfd, NULL);
            free(b0);
            free(b1);
            continue;
        }
        TAKE_FD(cfd);
        TAKE_FD(bfd);
        net->n_relays++;
        r->next = net->relays;
        net->relays = TAKE_PTR(r);
    }
}

static void on_relay(struct net *net, struct relay_end *e, uint32_t events)
{
    struct relay *r = e->r;
    if (r->dead)
        return;
    if (!r->connecting && (events & EPOLLERR)) { /* a reset: nothing more will flow */
        relay_kill(net, r, true);
        return;
    }
    if (r->connecting) {
        if (e != &r->b && !(events & (EPOLLERR | EPOLLHUP)))
            return;
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        if (e != &r->b || getsockopt(r->b.fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 || soerr) {
            /* nothing listens in the box (or the client left): the client sees a reset */
            relay_kill(net, r, true);
            return;
        }
        r->connecting = false;
    }
    if (events & EPOLLHUP)
        e->hup = true;
    relay_pump(net, r);
    /* Shut both ways and drained, with all it said passed on: nothing can reach it any more,
     * the relay is done. (Not drained yet: the pump parks or watches it.) */
    size_t out_of_e = e == &r->a ? 0 : 1;
    if (!r->dead && e->hup && e->eof && r->len[out_of_e] == 0)
        relay_kill(net, r, false);
}

void net_on_event(struct net *net, struct ev *ev, uint32_t events)
{
    if (dns_on_event(&net->dns, ev))
        return;
    for (size_t i = 0; i < net->n_listeners; i++)
        if (ev == &net->listeners[i].ev) {
            on_accept(net, &net->listeners[i]);
            return;
        }
    on_relay(net, (struct relay_end *) ev, events);
}

/* Free the relays that died in the last batch of events. */
void net_sweep(struct net *net)
{
    struct relay **pp = &net->relays;
    while (*pp) {
        struct relay *r = *pp;
        if (r->dead) {
            *pp = r->next;
            free(r);
        } else {
            pp = &r->next;
        }
    }
}

bool net_reaped(struct net *net, pid_t pid)
{
    if (pid > 0 && pid == net->nft_pid) { /* reaped by the loop before net_wait_ready() */
        net->nft_pid = 0;
        return true;
    }
    if (pid <= 0 || pid != net->slirp_pid)
        return false;
    net->slirp_pid = 0;
    if (net->up)
        shim_log("slirp4netns exited: the box has lost its network");
    net->up = false;
    return true;
}

/* Teardown: no listener, relay or helper is left. Idempotent. */
void net_done(struct net *net)
{
    for (size_t i = 0; i < net->n_listeners; i++) {
        if (net->listeners[i].fd >= 0)
            (void) epoll_ctl(net->box.epfd, EPOLL_CTL_DEL, net->listeners[i].fd, NULL);
        net->listeners[i].fd = bl_close(net->listeners[i].fd);
    }
    for (struct relay *r = net->relays; r; r = r->next)
        relay_kill(net, r, false);
    net_sweep(net);
    dns_done(&net->dns);
    if (net->n_listeners)
        (void) unlinkat(net->box.boxfd, "ports", 0);
    free(net->listeners);
    net->listeners = NULL;
    net->n_listeners = 0;
    net->slirp_exit_w = bl_close(net->slirp_exit_w);
    if (net->slirp_pid > 0) {
        if (net->slirp_pidfd >= 0)
            (void) pidfd_send_signal(net->slirp_pidfd, SIGKILL, NULL, 0);
        pid_t p;
        do
            p = waitpid(net->slirp_pid, NULL, 0);
        while (p < 0 && errno == EINTR);
        net->slirp_pid = 0;
    }
    if (net->nft_pid > 0) {
        (void) pidfd_send_signal(net->nft_pidfd, SIGKILL, NULL, 0);
        (void) waitpid(net->nft_pid, NULL, 0);
        net->nft_pid = 0;
    }
    net->nft_pidfd = bl_close(net->nft_pidfd);
    net->slirp_pidfd = bl_close(net->slirp_pidfd);
    net->slirp_ready_r = bl_close(net->slirp_ready_r);
    net->nft_err_r = bl_close(net->nft_err_r);
    net->netns_fd = bl_close(net->netns_fd);
    net->host_netns_fd = bl_close(net->host_netns_fd);
    net->userns_fd = bl_close(net->userns_fd);
    net->up = false;
}
