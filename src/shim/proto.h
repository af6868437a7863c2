/* SPDX-License-Identifier: MIT */
/* The datagrams of src/basic/wire.h as the shim sends them: never blocking, never SIGPIPE. */
#pragma once

#include <stddef.h>
#include <sys/socket.h>

#include "wire.h"

/* Receive one queued datagram (bl_wire_recv with MSG_DONTWAIT): 0, -EPIPE at the end, -EAGAIN
 * if nothing is queued, -EMSGSIZE for one that does not fit. */
static inline int proto_recv(int fd, struct bl_msg *m)
{
    return bl_wire_recv(fd, m, MSG_DONTWAIT);
}
/* Send one datagram of n fields (bl_wire_send with MSG_DONTWAIT). Never raises SIGPIPE. */
int proto_send(int fd, size_t n, ...);
/* Same with one fd attached (SCM_RIGHTS; fd < 0: none). */
int proto_send_fd(int sock, int fd, size_t n, ...);
/* The same with up to BL_WIRE_MAX_FDS fds. */
int proto_send_fds(int sock, const int *fds, size_t nfds, size_t n, ...);
int proto_send_int(int fd, const char *verb, int value);
int proto_send_error(int fd, int status, const char *msg);
