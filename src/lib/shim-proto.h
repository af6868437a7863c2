/* SPDX-License-Identifier: MIT */
/* The shim's protocol as the library speaks it (docs/design/shim-protocol.md): the codec of
 * src/basic/wire.h, blocking, plus connecting to a box's shim.sock. */
#pragma once

#include <stddef.h>

#include "error.h"
#include "wire.h"

/* A heap message with no fds; NULL on OOM. Free with bl_msg_free (closes fds it holds). */
struct bl_msg *bl_msg_new(void);
void bl_msg_free(struct bl_msg *m);
BL_DEFINE_CLEANUP_FUNC(struct bl_msg *, bl_msg_free)

/* Send fields as one datagram with nfds fds attached (nfds may be 0); blocks. */
static inline int bl_msg_send(int sock, const char *const *fields, size_t n, const int *fds,
                              int nfds)
{
    return bl_wire_send(sock, fields, n, fds, nfds > 0 ? (size_t) nfds : 0, /* flags= */ 0);
}
/* Receive one datagram (blocking) and the fds sent with it, as bl_wire_recv: 0, -EPIPE at the
 * end, -EMSGSIZE for one that does not fit. */
static inline int bl_msg_recv(int sock, struct bl_msg *m)
{
    return bl_wire_recv(sock, m, /* flags= */ 0);
}
/* One request on a new connection to the box's shim.sock, one reply (fds kept in *reply). */
int bl_msg_call(int dir_fd, const char *const *fields, size_t n, struct bl_msg *reply,
                bl_error **err);
/* Connect to <dir_fd>/<name> (a SOCK_SEQPACKET socket) through /proc/self/fd, whatever the
 * length of the directory's path. */
int bl_msg_connect(int dir_fd, const char *name, bl_error **err);
