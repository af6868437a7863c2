/* SPDX-License-Identifier: MIT */
/*
 * The DNS filter of a box whose allow-list has `*.DOMAIN` entries (docs/design/networking.md).
 *
 * The box's resolv.conf names 127.0.0.53, where the shim listens (a UDP socket made inside the
 * box's network namespace). A query for a name under an allowed domain goes to the host's
 * resolver (the first nameserver of the host's /etc/resolv.conf) from the shim's own namespace;
 * the addresses in the answer are added to the box's nftables allow sets before the answer
 * reaches the box, so that its connect() right after the lookup passes. Any other query is
 * answered REFUSED without leaving the box.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "alloc-util.h"
#include "dns.h"
#include "fs-util.h"

#define DNS_LISTEN "127.0.0.53"
#define MAX_PENDING 256
#define PENDING_TTL_S 10
#define MAX_KNOWN 4096

/* The first IPv4 nameserver of the host's resolv.conf. */
static void find_upstream(struct dns *d)
{
    _cleanup_free_ char *txt = NULL;
    if (bl_read_file_at(AT_FDCWD, "/etc/resolv.conf", 64 * 1024, &txt, NULL, NULL) < 0)
        return;
    char *save = NULL;
    for (char *line = strtok_r(txt, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char ip[64];
        if (sscanf(line, " nameserver %63s", ip) != 1)
            continue;
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(53)};
        if (inet_pton(AF_INET, ip, &a.sin_addr) == 1) {
            d->upstream = a;
            d->have_upstream = true;
            return;
        }
    }
}

void dns_init(struct dns *d)
{
    *d = (struct dns){.box_ev = {EV_NET}, .up_ev = {EV_NET}, .box_fd = -1, .up_fd = -1, .epfd = -1};
}

int dns_start(struct dns *d, int box_fd, const struct shim_conf *conf, int epfd, dns_allow_fn allow,
              void *userdata, bl_error **err)
{
    d->box_fd = box_fd;
    d->conf = conf;
    d->epfd = epfd;
    d->allow = allow;
    d->userdata = userdata;
    d->pending = bl_calloc(MAX_PENDING, sizeof(*d->pending));
    d->known = bl_calloc(MAX_KNOWN, sizeof(*d->known));
    if (!d->pending || !d->known)
        return bl_oom(err);
    find_upstream(d);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(53)};
    (void) inet_pton(AF_INET, DNS_LISTEN, &a.sin_addr);
    if (bind(d->box_fd, (struct sockaddr *) &a, sizeof(a)) < 0)
        return bl_err_errno(err, "network: cannot bind the box's DNS filter");
    d->up_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (d->up_fd < 0)
        return bl_err_errno(err, "network: cannot create the DNS socket");
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &d->box_ev};
    if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->box_fd, &ev) < 0)
        return bl_err_errno(err, "network: cannot watch the DNS socket");
    ev.data.ptr = &d->up_ev;
    if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->up_fd, &ev) < 0)
        return bl_err_errno(err, "network: cannot watch the DNS socket");
    return 0;
}

/* A byte a host name may hold. Anything else (a NUL above all: "a.allowed.test\0.evil.test"
 * is one label to a resolver and two names to strcmp) makes the query malformed to us. */
static bool name_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* The question's name (lowercase, no trailing dot); the offset after the question, or -1. */
static int question(const unsigned char *m, size_t len, char *name, size_t namesz)
{
    if (len < 12 || (m[4] << 8 | m[5]) != 1)
        return -1;
    size_t off = 12, n = 0;
    while (off < len && m[off]) {
        size_t l = m[off];
        if ((l & 0xc0) || off + 1 + l > len || n + l + 2 > namesz)
            return -1;
        if (n)
            name[n++] = '.';
        for (size_t i = 0; i < l; i++) {
            if (!name_byte(m[off + 1 + i]))
                return -1;
            char c = (char) m[off + 1 + i];
            name[n++] = c >= 'A' && c <= 'Z' ? (char) (c - 'A' + 'a') : c;
        }
        off += 1 + l;
    }
    name[n] = 0;
    if (off + 5 > len)
        return -1;
    return (int) off + 5;
}

/* The allow_dns entries covering name: their ports, -1 when none. */
static int match_ports(const struct shim_conf *c, const char *name, unsigned short *ports,
                       size_t max)
{
    int n = 0;
    size_t nl = strlen(name);
    for (size_t i = 0; i < c->n_allow_dns && (size_t) n < max; i++) {
        const char *e = c->allow_dns[i];
        const char *sp = strchr(e, ' ');
        size_t dl = (size_t) (sp - e);
        bool under = nl > dl + 1 && name[nl - dl - 1] == '.' && !strncasecmp(name + nl - dl, e, dl);
        if (!under)
            continue;
        int p = 0;
        (void) parse_int(sp + 1, 0, 65535, &p);
        ports[n++] = (unsigned short) p;
    }
    return n ? n : -1;
}

static void reply_rcode(const struct dns *d, const unsigned char *q, size_t qlen,
                        const struct sockaddr_in *to, int rcode)
{
    unsigned char r[512];
    if (qlen > sizeof(r))
        return;
    memcpy(r, q, qlen);
    r[2] = (unsigned char) (0x80 | (q[2] & 0x01)); /* QR, RD copied */
    r[3] = (unsigned char) (0x80 | rcode);         /* RA */
    memset(r + 6, 0, 6);                           /* no answer, authority, additional */
    (void) sendto(d->box_fd, r, qlen, 0, (const struct sockaddr *) to, sizeof(*to));
}

static void on_query(struct dns *d)
{
    for (;;) {
        unsigned char m[1500];
        struct sockaddr_in from;
        socklen_t fl = sizeof(from);
        ssize_t n = recvfrom(d->box_fd, m, sizeof(m), 0, (struct sockaddr *) &from, &fl);
        if (n < 0)
            return;
        char name[256];
        int qend = question(m, (size_t) n, name, sizeof(name));
        if (qend < 0)
            continue;
        unsigned short ports[8];
        if (match_ports(d->conf, name, ports, 8) < 0 || !d->have_upstream) {
            shim_log("dns: refused %s", name);
            reply_rcode(d, m, (size_t) qend, &from, 5 /* REFUSED */);
            continue;
        }
        /* a slot, by a fresh random id */
        time_t now = time(NULL);
        struct dns_pending *p = NULL;
        for (size_t i = 0; i < MAX_PENDING; i++) {
            if (!d->pending[i].used || now - d->pending[i].when > PENDING_TTL_S) {
                p = &d->pending[i];
                break;
            }
        }
        if (!p) {
            reply_rcode(d, m, (size_t) qend, &from, 2 /* SERVFAIL */);
            continue;
        }
        uint16_t id;
        if (getrandom(&id, sizeof(id), 0) != sizeof(id))
            id = (uint16_t) (now ^ (time_t) (p - d->pending));
        *p = (struct dns_pending){.used = true,
                                  .id = id,
                                  .client_id = (uint16_t) (m[0] << 8 | m[1]),
                                  .client = from,
                                  .when = now};
        (void) snprintf(p->name, sizeof(p->name), "%s", name);
        m[0] = (unsigned char) (id >> 8);
        m[1] = (unsigned char) id;
        if (sendto(d->up_fd, m, (size_t) n, 0, (struct sockaddr *) &d->upstream,
                   sizeof(d->upstream)) < 0) {
            p->used = false;
            reply_rcode(d, m, (size_t) qend, &from, 2);
        }
    }
}

/* Skip a (possibly compressed) name; the offset after it, or 0. */
static size_t skip_name(const unsigned char *m, size_t len, size_t off)
{
    while (off < len) {
        unsigned l = m[off];
        if (l == 0)
            return off + 1;
        if ((l & 0xc0) == 0xc0)
            return off + 2 <= len ? off + 2 : 0;
        off += 1 + l;
    }
    return 0;
}

static bool known(const struct dns *d, uint32_t addr, uint16_t port)
{
    for (size_t i = 0; i < d->n_known; i++)
        if (d->known[i].addr == addr && d->known[i].port == port)
            return true;
    return false;
}

/* Addresses an answer never opens: this host and its networks, slirp's (10.0.2.0/24: the host
 * alias and the unfiltered resolver), link-local (cloud metadata), multicast, broadcast and
 * the private ranges. An allow-list that wants one names it as an IP or CIDR. */
static bool special(uint32_t addr_be)
{
    uint32_t a = ntohl(addr_be);
    static const struct {
        uint32_t net, mask;
    } nets[] = {
        {0x00000000, 0xff000000}, /* 0/8 */
        {0x0a000000, 0xff000000}, /* 10/8 (and slirp's 10.0.2.0/24) */
        {0x64400000, 0xffc00000}, /* 100.64/10, carrier-grade NAT */
        {0x7f000000, 0xff000000}, /* 127/8 */
        {0xa9fe0000, 0xffff0000}, /* 169.254/16 */
        {0xac100000, 0xfff00000}, /* 172.16/12 */
        {0xc0a80000, 0xffff0000}, /* 192.168/16 */
        {0xe0000000, 0xe0000000}, /* 224/3: multicast, reserved, broadcast */
    };
    for (size_t i = 0; i < ELEMENTSOF(nets); i++)
        if ((a & nets[i].mask) == nets[i].net)
            return true;
    return false;
}

#define MAX_OPEN_PER_ANSWER 32

static void allow_answers(struct dns *d, const unsigned char *m, size_t len, const char *name)
{
    unsigned short ports[8];
    int np = match_ports(d->conf, name, ports, 8);
    if (np < 0 || len < 12)
        return;
    struct in_addr found[MAX_OPEN_PER_ANSWER];
    size_t n_found = 0;
    size_t an = (size_t) (m[6] << 8 | m[7]);
    size_t off = skip_name(m, len, 12);
    if (!off || off + 4 > len)
        return;
    off += 4;
    for (size_t i = 0; i < an && n_found < MAX_OPEN_PER_ANSWER; i++) {
        off = skip_name(m, len, off);
        if (!off || off + 10 > len)
            break;
        unsigned type = (unsigned) (m[off] << 8 | m[off + 1]);
        size_t rdlen = (size_t) (m[off + 8] << 8 | m[off + 9]);
        off += 10;
        if (off + rdlen > len)
            break;
        if (type == 1 && rdlen == 4) {
            uint32_t addr;
            memcpy(&addr, m + off, 4);
            if (special(addr))
                shim_log("dns: %s answered a special address: not opened", name);
            else
                found[n_found++].s_addr = addr;
        }
        off += rdlen;
    }
    for (int k = 0; k < np; k++) {
        struct in_addr fresh[MAX_OPEN_PER_ANSWER];
        size_t n_fresh = 0;
        for (size_t i = 0; i < n_found; i++)
            if (!known(d, found[i].s_addr, ports[k]))
                fresh[n_fresh++] = found[i];
        if (!n_fresh)
            continue;
        int r = d->allow(d->userdata, fresh, n_fresh, ports[k]);
        if (r < 0) {
            shim_log("dns: cannot open the addresses of %s: %s", name, strerror(-r));
            continue;
        }
        for (size_t i = 0; i < n_fresh && d->n_known < MAX_KNOWN; i++) {
            d->known[d->n_known].addr = fresh[i].s_addr;
            d->known[d->n_known].port = ports[k];
            d->n_known++;
        }
    }
}

static void on_answer(struct dns *d)
{
    for (;;) {
        static unsigned char m[65536]; /* a whole datagram: a cut answer would be malformed */
        struct sockaddr_in from;
        socklen_t fl = sizeof(from);
        ssize_t n = recvfrom(d->up_fd, m, sizeof(m), 0, (struct sockaddr *) &from, &fl);
        if (n < 0)
            return;
        if (n < 12 || from.sin_addr.s_addr != d->upstream.sin_addr.s_addr ||
            from.sin_port != d->upstream.sin_port)
            continue;
        uint16_t id = (uint16_t) (m[0] << 8 | m[1]);
        struct dns_pending *p = NULL;
        for (size_t i = 0; i < MAX_PENDING && !p; i++)
            if (d->pending[i].used && d->pending[i].id == id)
                p = &d->pending[i];
        if (!p)
            continue;
        char name[256];
        if (question(m, (size_t) n, name, sizeof(name)) < 0 || strcmp(name, p->name)) {
            continue; /* not the answer to what was asked */
        }
        allow_answers(d, m, (size_t) n, name);
        m[0] = (unsigned char) (p->client_id >> 8);
        m[1] = (unsigned char) p->client_id;
        (void) sendto(d->box_fd, m, (size_t) n, 0, (struct sockaddr *) &p->client,
                      sizeof(p->client));
        p->used = false;
    }
}

bool dns_on_event(struct dns *d, struct ev *ev)
{
    if (ev == &d->box_ev) {
        on_query(d);
        return true;
    }
    if (ev == &d->up_ev) {
        on_answer(d);
        return true;
    }
    return false;
}

void dns_done(struct dns *d)
{
    int *fds[] = {&d->box_fd, &d->up_fd};
    for (size_t i = 0; i < ELEMENTSOF(fds); i++) {
        if (*fds[i] >= 0)
            (void) epoll_ctl(d->epfd, EPOLL_CTL_DEL, *fds[i], NULL);
        *fds[i] = bl_close(*fds[i]);
    }
    free(d->pending);
    free(d->known);
    d->pending = NULL;
    d->known = NULL;
    d->n_known = 0;
}
