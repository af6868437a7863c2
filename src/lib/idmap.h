/* SPDX-License-Identifier: MIT */
/*
 * Without root, each box is root of its own user namespace. Its ids come from one of two maps:
 *  - single: the user's uid/gid is the box's 0 and its only id (image files of other owners are
 *    the user's, hence root's, in the box);
 *  - range: 0 is still the user, and 1..N are the subordinate ids /etc/subuid and /etc/subgid
 *    grant the user, written by Debian's setuid newuidmap/newgidmap. Files of an image keep
 *    their owners: a layer's non-root owners are applied, after it is unpacked, by the shim in a
 *    namespace with that map (`boxlite-shim --userns chown`), and trees holding such files are
 *    removed there too (`--userns rm`), since the user alone may not.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

struct bl_idmap {
    bool userns; /* not root: boxes get a user namespace */
    bool range;  /* ... mapped with a subordinate range (else: single id) */
    uint32_t uid, gid;
    uint32_t sub_uid, n_uid, sub_gid, n_gid;
    char *newuidmap, *newgidmap; /* absolute paths (range only) */
    char *note;                  /* why there is no range although one was asked for, or NULL */
    char *desc;                  /* bl_idmap_describe() */
};

/* What this process gets: root, a range (both files grant one and the helpers exist) or one id. */
int bl_idmap_detect(struct bl_idmap *m, bl_error **err);
void bl_idmap_done(struct bl_idmap *m);

/*
 * The first "NAME:START:COUNT" or "ID:START:COUNT" line of an /etc/subuid-style text for the
 * user name or numeric id. Returns 1 and the range, 0 if none, -EINVAL on a bad line of ours.
 */
int bl_subid_find(const char *text, const char *name, uint32_t id, uint32_t *ret_start,
                  uint32_t *ret_count);

/* "UID:SUB:N:GID:SUB:N", as the shim reads it (conf key `idmap`, --userns argument). */
char *bl_idmap_spec(const struct bl_idmap *m);

/* One line for `info`: how box ids relate to the host's. Caller frees. */
char *bl_idmap_describe(const struct bl_idmap *m);

/*
 * Run `SHIM --userns OP SPEC NEWUIDMAP NEWGIDMAP [NAME]` (the shim's helper mode: "chown" the
 * tree at dir_fd from the owner records on in_fd, or "rm" dir_fd/name) in a namespace with the
 * range, and wait for it; its stderr becomes the message of a failure (-EIO). The runtime's
 * bl_idmap_chown() and bl_rm_tree() (runtime.h) call it.
 */
int bl_idmap_run(const struct bl_idmap *m, const char *shim, const char *op, int in_fd, int dir_fd,
                 const char *name, bl_error **err);
