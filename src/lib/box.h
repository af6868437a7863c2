/* SPDX-License-Identifier: MIT */
/* Boxes inside the library: the handle, the recovery pass, and the shim's location. */
#pragma once

#include <jansson.h>

#include "boxlite/box.h"
#include "proc-util.h"
#include "runtime.h"

struct boxlite_box {
    char *id;
    char *name;   /* NULL if none */
    char *status; /* configured | running | stopped */
    int64_t created_ns;
    int pid;
    int exit_code;
    json_t *config;
    int dir_fd;  /* boxes/<id> */
    int lock_fd; /* flock on boxes/<id>/lock while this handle owns the box's lifecycle */
    struct bl_proc shim; /* attached start: our child */
    int chan_fd;         /* attached start: the spawn channel */
    int tty_master;      /* attached start of a tty box: PID 1's pty */
    int io_in, io_out;   /* attached tty start: the caller's fds (borrowed) */
    char *log_path;      /* boxlite_box_log_path() */
};

void bl_box_free(struct boxlite_box *b);
BL_DEFINE_CLEANUP_FUNC(struct boxlite_box *, bl_box_free)

/* box.c helpers shared with the other box-*.c files */
/* Refuse (or do) an implicit start for `op`, as spec/cli.md §3 says. */
int bl_box_start_on_demand(struct boxlite_runtime *rt, struct boxlite_box *b, const char *op,
                           bl_error **err);
/* 1 if a process holds the flock on dir/name, 0 if not (or the file is missing). */
int bl_lock_held(int dir_fd, const char *name);
/* Write BOX_DIR/shim.conf for a start (stdio: the attached start's fds, else NULL). */
int bl_box_write_shim_conf(struct boxlite_runtime *rt, struct boxlite_box *b, const int *stdio,
                           bl_error **err);
/* The boxlite-shim binary to run. */
int bl_shim_path(char **ret, bl_error **err);
/* Run `boxlite-shim [MODE] BOX_DIR` with `stdio` (borrowed, NULL = /dev/null) and the spawn
 * channel as fd 3. On success *ret_proc owns the child (none with BL_SPAWN_DETACH) and
 * *ret_chan our end of the channel. */
int bl_shim_spawn(struct boxlite_runtime *rt, struct boxlite_box *b, const char *mode,
                  const int *stdio, int flags, struct bl_proc *ret_proc, int *ret_chan,
                  bl_error **err);

/* box-volume.c */
struct bl_volume {
    char *source; /* canonical host path; NULL for an anonymous volume until it is made */
    char *target; /* absolute path in the box */
    int ro, anonymous;
};
void bl_volume_done(struct bl_volume *v);
/* Parse a `-v` spec (messages of spec/cli.md §4.1); a host path is canonicalized and must
 * exist. */
int bl_volume_parse(const char *spec, struct bl_volume *ret, bl_error **err);
/* Make <home>/volumes/anonymous/<ULID>; *ret_path is owned by the caller. */
int bl_volume_make_anonymous(struct boxlite_runtime *rt, char **ret_path, bl_error **err);
/* Remove one (only a path under <home>/volumes/anonymous/). */
void bl_volume_remove_anonymous(struct boxlite_runtime *rt, const char *path);

/* Repair what dead processes left: boxes marked running whose shim is gone become stopped with
 * their recorded exit code; stale auto-remove and half-created boxes are deleted. Cheap. */
void bl_box_recover(struct boxlite_runtime *rt);
