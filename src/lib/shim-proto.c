/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "alloc-util.h"
#include "shim-proto.h"

struct bl_msg *bl_msg_new(void)
{
    struct bl_msg *m = bl_malloc(sizeof(*m));
    if (m)
        *m = (struct bl_msg) BL_MSG_NULL;
    return m;
}

void bl_msg_free(struct bl_msg *m)
{
    if (!m)
        return;
    bl_msg_done(m);
    free(m);
}

int bl_msg_connect(int dir_fd, const char *name, bl_error **err)
{
    _cleanup_close_ int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (s < 0)
        return bl_err_errno(err, "cannot create socket");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dir_fd, name);
    if (connect(s, (struct sockaddr *) &sa, sizeof(sa)) < 0)
        return bl_err_errno(err, "cannot connect to the box's shim");
    return TAKE_FD(s);
}

int bl_msg_call(int dir_fd, const char *const *fields, size_t n, struct bl_msg *reply,
                bl_error **err)
{
    _cleanup_close_ int s = bl_msg_connect(dir_fd, "shim.sock", err);
    if (s < 0)
        return s;
    int r = bl_msg_send(s, fields, n, NULL, 0);
    if (r < 0)
        return bl_err_code(err, r, "cannot send a request to the box's shim");
    r = bl_msg_recv(s, reply);
    if (r < 0)
        return bl_err_code(err, r, "no reply from the box's shim");
    if (reply->n >= 1 && !strcmp(reply->field[0], "error")) {
        const char *why = reply->n > 2 && *reply->field[2] ? reply->field[2] : "request failed";
        return bl_err(err, -EIO, "%s", why);
    }
    return 0;
}
