/* SPDX-License-Identifier: MIT */
/* User namespaces of boxes started without root: single id or a subordinate range (idmap.h). */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc-util.h"
#include "fs-util.h"
#include "helpers.h"
#include "idmap.h"
#include "log.h"
#include "proc-util.h"

void bl_idmap_done(struct bl_idmap *m)
{
    free(m->newuidmap);
    free(m->newgidmap);
    free(m->note);
    free(m->desc);
    *m = (struct bl_idmap){0};
}

static int parse_u32(const char *s, size_t len, uint32_t *ret)
{
    if (len == 0 || len > 10)
        return -EINVAL;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        v = v * 10 + (uint64_t) (s[i] - '0');
    }
    if (v > UINT32_MAX)
        return -EINVAL;
    *ret = (uint32_t) v;
    return 0;
}

int bl_subid_find(const char *text, const char *name, uint32_t id, uint32_t *ret_start,
                  uint32_t *ret_count)
{
    char idstr[16];
    (void) snprintf(idstr, sizeof(idstr), "%u", (unsigned) id);
    for (const char *line = text; *line;) {
        size_t len = strcspn(line, "\n");
        const char *next = line + len + (line[len] == '\n');
        const char *c1 = memchr(line, ':', len);
        const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t) (line + len - c1 - 1)) : NULL;
        if (c1 && c2 && line[0] != '#') {
            size_t nlen = (size_t) (c1 - line);
            bool ours = (name && strlen(name) == nlen && !memcmp(line, name, nlen)) ||
                        (strlen(idstr) == nlen && !memcmp(line, idstr, nlen));
            uint32_t start, count;
            if (ours) {
                if (parse_u32(c1 + 1, (size_t) (c2 - c1 - 1), &start) < 0 ||
                    parse_u32(c2 + 1, (size_t) (line + len - c2 - 1), &count) < 0)
                    return -EINVAL;
                if (count > 0 && (uint64_t) start + count - 1 <= UINT32_MAX - 1) {
                    *ret_start = start;
                    *ret_count = count;
                    return 1;
                }
            }
        }
        line = next;
    }
    return 0;
}

/* The range of one file: 1, 0 (none or no file), <0 (unreadable or malformed: a note). */
static int read_subid(const char *path, const char *name, uint32_t id, uint32_t *start,
                      uint32_t *count)
{
    _cleanup_free_ char *text = NULL;
    size_t len;
    int r = bl_read_file_at(AT_FDCWD, path, 1 << 20, &text, &len, NULL);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    return bl_subid_find(text, name, id, start, count);
}

static int detect(struct bl_idmap *m, bl_error **err)
{
    *m = (struct bl_idmap){.uid = (uint32_t) geteuid(), .gid = (uint32_t) getegid()};
    if (m->uid == 0)
        return 0;
    m->userns = true;
    char buf[4096];
    struct passwd pw, *pwp = NULL;
    const char *name = NULL;
    if (getpwuid_r(m->uid, &pw, buf, sizeof(buf), &pwp) == 0 && pwp)
        name = pwp->pw_name;
    int ru = read_subid("/etc/subuid", name, m->uid, &m->sub_uid, &m->n_uid);
    int rg = read_subid("/etc/subgid", name, m->uid, &m->sub_gid, &m->n_gid);
    if (ru == 0 && rg == 0)
        return 0;
    if (ru <= 0 || rg <= 0) {
        m->note = bl_asprintf("%s has no usable range for %s",
                              ru <= 0 ? "/etc/subuid" : "/etc/subgid", name ? name : "this user");
        return m->note ? 0 : bl_oom(err);
    }
    int r1 = bl_net_find_helper("newuidmap", NULL, &m->newuidmap, err);
    int r2 = r1 < 0 ? r1 : bl_net_find_helper("newgidmap", NULL, &m->newgidmap, err);
    if (r1 == -ENOMEM || r2 == -ENOMEM)
        return -ENOMEM;
    if (r1 < 0 || r2 < 0) {
        free(m->newuidmap);
        free(m->newgidmap);
        m->newuidmap = m->newgidmap = NULL;
        m->note = bl_strdup("/etc/subuid grants a range, but newuidmap/newgidmap are missing "
                            "(Debian's uidmap package)");
        return m->note ? 0 : bl_oom(err);
    }
    m->range = true;
    return 0;
}

int bl_idmap_detect(struct bl_idmap *m, bl_error **err)
{
    int r = detect(m, err);
    if (r < 0)
        return r;
    m->desc = bl_idmap_describe(m);
    return m->desc ? 0 : bl_oom(err);
}

char *bl_idmap_spec(const struct bl_idmap *m)
{
    return bl_asprintf("%u:%u:%u:%u:%u:%u", m->uid, m->sub_uid, m->n_uid, m->gid, m->sub_gid,
                       m->n_gid);
}

char *bl_idmap_describe(const struct bl_idmap *m)
{
    if (!m->userns)
        return bl_strdup("host ids (root)");
    if (m->range)
        return bl_asprintf("subordinate range, uid %u and gid %u are each box's root, its ids "
                           "1-%u are host uids %u-%u and gids %u-%u (/etc/subuid, /etc/subgid)",
                           m->uid, m->gid, m->n_uid < m->n_gid ? m->n_uid : m->n_gid, m->sub_uid,
                           m->sub_uid + m->n_uid - 1, m->sub_gid, m->sub_gid + m->n_gid - 1);
    return bl_asprintf("single id, uid %u and gid %u are the root of each box and its only ids "
                       "(image files of other owners become yours)%s%s",
                       m->uid, m->gid, m->note ? "; " : "", m->note ? m->note : "");
}

/* boxlite-shim --userns OP SPEC NEWUIDMAP NEWGIDMAP [NAME], with fd 0 and fd 3 as given; its
 * stderr is the message of a failure. */
int bl_idmap_run(const struct bl_idmap *m, const char *shim, const char *op, int in_fd, int dir_fd,
                 const char *name, bl_error **err)
{
    _cleanup_free_ char *spec = bl_idmap_spec(m);
    if (!spec)
        return bl_oom(err);
    char *argv[] = {(char *) shim, (char *) "--userns", (char *) op,   spec,
                    m->newuidmap,  m->newgidmap,        (char *) name, NULL};
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return bl_err_errno(err, "pipe");
    _cleanup_close_ int msg_r = p[0], msg_w = p[1];
    int fds[4] = {in_fd, -1, msg_w, dir_fd};
    _cleanup_proc_ struct bl_proc proc = BL_PROC_NULL;
    int r = bl_proc_spawn(argv, fds, 4, 0, &proc, err);
    if (r < 0)
        return r;
    msg_w = bl_close(msg_w);
    _cleanup_free_ char *msg = NULL;
    size_t len = 0;
    (void) bl_read_full_fd(msg_r, 4096, &msg, &len);
    int status = bl_proc_wait(&proc);
    if (status == 0)
        return 0;
    while (msg && len > 0 && msg[len - 1] == '\n')
        msg[--len] = 0;
    return bl_err(err, -EIO, "cannot %s in the user namespace of the id range: %s",
                  !strcmp(op, "rm") ? "remove files" : "set the owners of files",
                  msg && *msg ? msg : "the helper failed");
}
