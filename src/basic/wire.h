/* SPDX-License-Identifier: MIT */
/*
 * The shim's wire formats, one codec for the library and the shim (libc only: the static shim
 * links it). docs/design/shim-protocol.md is the contract.
 *
 * Datagrams: one SOCK_SEQPACKET datagram is one message of NUL-terminated fields, first field
 * the verb, with at most BL_WIRE_MAX_FDS fds attached (SCM_RIGHTS). The sender terminates every
 * field, the last one included; the receiver drops one trailing NUL, so an empty last field
 * survives and a peer that leaves the last NUL out is understood too. A message is at most
 * BL_WIRE_MAX_MSG bytes; one that is longer, or that carries more fds than that, is an error
 * for the receiver (-EMSGSIZE; the datagram is consumed and its fds closed), never cut short.
 * The end of the stream (or a zero-length datagram, which the protocol never sends) is -EPIPE.
 *
 * shim.conf: `key\0value\0` records; repeated keys form lists, in order. BL_SHIM_CONF_KEYS is
 * the one table of keys: the library's encoder can only write keys of it (bl_conf_put), and
 * the shim's decoder switches over its enum (-Wswitch-enum: every key is handled).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define BL_WIRE_MAX_MSG (1024 * 1024)
#define BL_WIRE_MAX_FDS 8

struct bl_msg {
    char *buf;    /* owned: the datagram, NUL-terminated */
    size_t len;   /* bytes received */
    char **field; /* owned: n pointers into buf, then NULL */
    size_t n;
    int fds[BL_WIRE_MAX_FDS]; /* received O_CLOEXEC; owned until taken (TAKE_FD); -1 unused */
    size_t n_fds;
};
#define BL_MSG_NULL                                                                                \
    {                                                                                              \
        .buf = NULL, .field = NULL, .len = 0, .n = 0, .fds = {-1, -1, -1, -1, -1, -1, -1, -1},     \
        .n_fds = 0                                                                                 \
    }

/* Release what m holds (memory and fds not taken) and make it BL_MSG_NULL again. */
void bl_msg_done(struct bl_msg *m);

/* Split len bytes of data (a datagram's payload) into *m, as bl_wire_recv does; m is released
 * first. 0, -EPIPE for len 0, -EMSGSIZE past BL_WIRE_MAX_MSG, or -ENOMEM. */
int bl_wire_decode(const void *data, size_t len, struct bl_msg *m);

/* Receive one datagram into *m (released first; fds of the previous message are closed).
 * flags: 0 (block) or MSG_DONTWAIT. Returns 0; -EPIPE at the end of the stream (also when the
 * peer reset it); -EMSGSIZE for a datagram or fd list that does not fit (consumed, its fds
 * closed); -EAGAIN with MSG_DONTWAIT and nothing queued; -ENOMEM; another -errno. On failure
 * *m holds nothing. */
int bl_wire_recv(int sock, struct bl_msg *m, int flags);

/* Send n (>= 1) fields as one datagram, each NUL-terminated, with nfds fds attached (borrowed).
 * flags: 0 or MSG_DONTWAIT; never raises SIGPIPE. 0, -E2BIG past BL_WIRE_MAX_MSG, -EINVAL for
 * no field or too many fds, -ENOMEM, or the -errno of sendmsg. */
int bl_wire_send(int sock, const char *const *fields, size_t n, const int *fds, size_t nfds,
                 int flags);

/* ---- shim.conf -------------------------------------------------------------------------- */

/* X(name, kind). Kinds: STRING (one value; given again, the last wins), LIST (repeated, in
 * order), INT (a number: decimal, hexadecimal for `caps`, a limit may start with `~`), FLAG
 * (`1` or `0`; `net` also `~1`). `volume_target` and `volume_ro` describe the `volume` before
 * them. */
#define BL_SHIM_CONF_KEYS(X)                                                                       \
    X(id, STRING)                                                                                  \
    X(hostname, STRING)                                                                            \
    X(layer, LIST)                                                                                 \
    X(upper, STRING)                                                                               \
    X(work, STRING)                                                                                \
    X(merged, STRING)                                                                              \
    X(arg, LIST)                                                                                   \
    X(env, LIST)                                                                                   \
    X(cwd, STRING)                                                                                 \
    X(user, STRING)                                                                                \
    X(caps, INT)                                                                                   \
    X(seccomp, STRING)                                                                             \
    X(init, FLAG)                                                                                  \
    X(detach, FLAG)                                                                                \
    X(cgroup, STRING)                                                                              \
    X(memory, INT)                                                                                 \
    X(cpus, INT)                                                                                   \
    X(pids, INT)                                                                                   \
    X(volume, LIST)                                                                                \
    X(volume_target, STRING)                                                                       \
    X(volume_ro, FLAG)                                                                             \
    X(tty, FLAG)                                                                                   \
    X(tty_rows, INT)                                                                               \
    X(tty_cols, INT)                                                                               \
    X(log_max, INT)                                                                                \
    X(idmap, STRING)                                                                               \
    X(newuidmap, STRING)                                                                           \
    X(newgidmap, STRING)                                                                           \
    X(net, FLAG)                                                                                   \
    X(slirp, STRING)                                                                               \
    X(nft, STRING)                                                                                 \
    X(port, LIST)                                                                                  \
    X(allow, LIST)                                                                                 \
    X(allow_host, LIST)                                                                            \
    X(allow_hostlo, LIST)                                                                          \
    X(allow_dns, LIST)

enum bl_conf_kind { BL_CONF_STRING, BL_CONF_LIST, BL_CONF_INT, BL_CONF_FLAG };

#define BL_CONF_ENUM_(name, kind) BL_CONF_##name,
enum bl_conf_key { BL_SHIM_CONF_KEYS(BL_CONF_ENUM_) BL_CONF__N /* the number of keys */ };
#undef BL_CONF_ENUM_

/* The key's name and kind; NULL name for a key out of range. */
const char *bl_conf_key_name(enum bl_conf_key k);
enum bl_conf_kind bl_conf_key_kind(enum bl_conf_key k);
/* The key called name, or -1 when the table has none. */
int bl_conf_key_lookup(const char *name);

/* A shim.conf being written. err: the first error of a put (later puts do nothing). */
struct bl_conf_buf {
    char *data; /* owned */
    size_t len, cap;
    int err;
};
#define BL_CONF_BUF_NULL                                                                           \
    {                                                                                              \
        .data = NULL, .len = 0, .cap = 0, .err = 0                                                 \
    }
void bl_conf_buf_done(struct bl_conf_buf *c);

/* Append the record `key\0value\0`. A NULL value, or one that is not of the key's kind, sets
 * c->err to -EINVAL; out of memory, -ENOMEM. */
void bl_conf_put(struct bl_conf_buf *c, enum bl_conf_key key, const char *value);
/* The same by name: a name not in the table sets -EINVAL. */
void bl_conf_put_name(struct bl_conf_buf *c, const char *name, const char *value);

/* The record at *off of a shim.conf image buf[0..len) (with buf[len] == 0: the last value may
 * lack its NUL). Returns 1 with *ret_key, *ret_value pointing into buf and *off advanced, 0 at
 * the end, -EINVAL for a key without its NUL. */
int bl_conf_next(char *buf, size_t len, size_t *off, char **ret_key, char **ret_value);
