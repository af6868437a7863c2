/* SPDX-License-Identifier: MIT */
/* Datagrams of NUL-separated fields, with optional fds (SCM_RIGHTS): the shim's protocol as the
 * library speaks it (docs/design/shim-protocol.md). */
#pragma once

#include <stddef.h>

#include "error.h"

#define BL_MSG_MAX 65536
#define BL_MSG_MAX_FIELDS 1024
#define BL_MSG_MAX_FDS 4

struct bl_msg {
    char buf[BL_MSG_MAX + 1];
    size_t len;
    const char *field[BL_MSG_MAX_FIELDS];
    size_t n;
    int fds[BL_MSG_MAX_FDS]; /* received (O_CLOEXEC), owned until taken with TAKE_FD */
    size_t n_fds;
};

/* A message buffer with no fds; NULL on OOM. Free with bl_msg_free (closes fds it holds). */
struct bl_msg *bl_msg_new(void);
void bl_msg_free(struct bl_msg *m);
BL_DEFINE_CLEANUP_FUNC(struct bl_msg *, bl_msg_free)
/* Close the fds the last received message carried (bl_msg_recv does it before receiving). */
void bl_msg_close_fds(struct bl_msg *m);

/* Send fields as one datagram with fds attached (nfds may be 0). */
int bl_msg_send(int sock, const char *const *fields, size_t n, const int *fds, int nfds);
/* Receive one datagram and the fds sent with it; 0 on success, -ECONNRESET on EOF. */
int bl_msg_recv(int sock, struct bl_msg *m);
/* One request on a new connection to the box's shim.sock, one reply (fds kept in *reply). */
int bl_msg_call(int dir_fd, const char *const *fields, size_t n, struct bl_msg *reply,
                bl_error **err);
/* Connect to <dir_fd>/<name> (a SOCK_SEQPACKET socket) through /proc/self/fd, whatever the
 * length of the directory's path. */
int bl_msg_connect(int dir_fd, const char *name, bl_error **err);
