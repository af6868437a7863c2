/* SPDX-License-Identifier: MIT */
/* Datagrams of NUL-separated fields, with optional fds (SCM_RIGHTS): the shim's protocol as the
 * library speaks it (docs/design/shim-protocol.md). */
#pragma once

#include <stddef.h>

#include "error.h"

#define BL_MSG_MAX 65536
#define BL_MSG_MAX_FIELDS 1024

struct bl_msg {
    char buf[BL_MSG_MAX + 1];
    size_t len;
    const char *field[BL_MSG_MAX_FIELDS];
    size_t n;
};

/* Send fields as one datagram with fds attached (nfds may be 0). */
int bl_msg_send(int sock, const char *const *fields, size_t n, const int *fds, int nfds);
/* Receive one datagram; 0 on success, -ECONNRESET on EOF. */
int bl_msg_recv(int sock, struct bl_msg *m);
/* Connect to <dir_fd>/<name> (a SOCK_SEQPACKET socket) through /proc/self/fd, whatever the
 * length of the directory's path. */
int bl_msg_connect(int dir_fd, const char *name, bl_error **err);
