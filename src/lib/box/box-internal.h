/* SPDX-License-Identifier: MIT */
/*
 * The box handle as every part of the box module sees it (src/lib/box/: box-records.c owns its
 * life, the others read and fill it). Only the box module includes this header.
 */
#pragma once

#include <jansson.h>
#include <string.h>

#include "boxlite/box.h"
#include "json-util.h"
#include "proc-util.h"

struct box_stdio;

struct boxlite_box {
    char *id;
    char *name;   /* NULL if none */
    char *status; /* configured | running | stopped */
    int64_t created_ns;
    int pid;
    int exit_code;
    json_t *config;
    int dir_fd;          /* boxes/<id> */
    int lock_fd;         /* flock on boxes/<id>/lock while this handle owns the box's lifecycle */
    struct bl_proc shim; /* attached start: our child */
    int chan_fd;         /* attached start: the spawn channel */
    int tty_master;      /* attached start of a tty box: PID 1's pty */
    int io_in, io_out;   /* attached tty start: the caller's fds (borrowed) */
    struct box_stdio *stdio; /* attached start: the relays of the caller's files (box-stdio.c) */
    char *log_path;          /* boxlite_box_log_path() */
};

/* Sizes (bytes of NUL-terminated strings) that every exec can carry. An exec request travels
 * as one SOCK_SEQPACKET datagram to the shim (the caller's argv, -e, cwd and user; the shim
 * adds the box's environment), then as one more, with the box's environment merged in, from
 * the shim to its exec zygote. A datagram is bounded by the sender's socket buffer (Linux:
 * net.core.wmem_default, 208 KiB unless changed), so the two budgets together stay below it:
 * a box whose environment is larger is refused at create (it could run, but no exec could
 * enter it), and so is an exec request that is. */
#define BL_BOX_ENV_MAX (128 * 1024)
#define BL_EXEC_REQUEST_MAX (64 * 1024)

/* Env with overrides: a later K=V replaces an earlier K (create's -e, exec's -e). */
static inline int bl_box_env_set(json_t *env, const char *kv)
{
    const char *eq = strchr(kv, '=');
    size_t klen = eq ? (size_t) (eq - kv) : strlen(kv);
    size_t i;
    json_t *e;
    json_array_foreach(env, i, e)
    {
        const char *s = json_string_value(e);
        if (s && !strncmp(s, kv, klen) && (s[klen] == '=' || s[klen] == 0))
            return json_array_set_new(env, i, json_string(kv));
    }
    return json_array_append_new(env, json_string(kv));
}
