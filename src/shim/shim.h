/* SPDX-License-Identifier: MIT */
/*
 * boxlite-shim internals (docs/design/shim-protocol.md is the contract).
 *
 * Processes: the shim (supervisor, host side) creates PID 1 with clone3 into fresh namespaces.
 * Code that runs in a cloned child (PID 1 setup, exec children, the built-in init) never
 * returns: it either execs or _exits, and reports setup errors through a CLOEXEC pipe as one
 * struct child_error. The shim learns "exec succeeded" from EOF on that pipe.
 */
#pragma once

#include <linux/filter.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "error.h"
#include "macro.h"
#include "wire.h"

/* Statuses of design §6. */
#define ST_BOXLITE_FAILED 125
#define ST_CANNOT_INVOKE 126
#define ST_NOT_FOUND 127

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* ---- util.c ---------------------------------------------------------------------------- */

void shim_log_open(int dirfd);
void shim_log(const char *fmt, ...) _printf_(1, 2);
/* Parse a whole decimal string into an int in [min, max]. */
int parse_int(const char *s, int min, int max, int *ret);
/* Parse a whole decimal string into a 64-bit unsigned. */
int parse_u64(const char *s, uint64_t *ret);
/* Parse a whole string of hex digits (optional 0x) into a 64-bit mask. */
int parse_hex64(const char *s, uint64_t *ret);
/* Parse a whole decimal string as a uid/gid (0 .. 2^32-2). */
int parse_id(const char *s, uint32_t *ret);
/* Start time (field 22 of /proc/self/stat) of the calling process. */
int self_starttime(unsigned long long *ret);
/* Write a small string to an fd, ignoring errors (for cgroup files and friends). */
int write_str(int fd, const char *s);
/* "/proc/self/fd/N" for mounting onto or from an fd. */
struct fd_path {
    char s[32];
};
const char *fd_path(struct fd_path *p, int fd);
/* A user namespace of an unprivileged user (pid, or 0 for our own): uid and gid are its root
 * and its only ids, setgroups denied. 0 or -errno. */
int write_id_maps(pid_t pid, uid_t uid, gid_t gid);

/* ---- userns.c: the ids of a box without root ------------------------------------------ */

/* conf key `idmap` "UID:SUB:N:GID:SUB:N" (a subordinate range; absent: single id) and the
 * setuid helpers that may write it (`newuidmap`, `newgidmap`). */
struct conf_idmap {
    bool range;
    uint32_t uid, sub_uid, n_uid, gid, sub_gid, n_gid;
    const char *newuidmap, *newgidmap;
};
int idmap_parse(const char *spec, struct conf_idmap *m);
/* Map the user namespace of pid (a child of ours, not yet mapped): the range through the
 * helpers, else our one id. 0, or -errno with the reason in why. */
int map_userns(pid_t pid, const struct conf_idmap *m, char *why, size_t why_len);
/* boxlite-shim --userns rm|chown SPEC NEWUIDMAP NEWGIDMAP [NAME] (src/lib/idmap.h). */
int userns_main(int argc, char **argv);

/* Our argv area, so that the built-in init can rename itself (its cmdline would show host
 * paths inside the box otherwise). */
extern char *shim_argv_area;
extern size_t shim_argv_len;

/* ---- conf.c ---------------------------------------------------------------------------- */

/* A resource limit of shim.conf: absent, required, or best effort (a "~" before the value: a
 * default that is skipped, with a log line, where the cgroup controller is missing). */
struct conf_limit {
    bool set, soft;
    uint64_t value;
};

/* A bind mount of a host path into the box (`volume`, `volume_target`, `volume_ro`). */
struct conf_volume {
    const char *source; /* absolute host path */
    const char *target; /* absolute path in the box */
    bool ro;
};

struct shim_conf {
    char *buf; /* owns every string below */
    const char *id, *hostname, *upper, *work, *merged, *cwd, *user, *seccomp, *cgroup;
    char **layers; /* lowest first, NULL-terminated */
    size_t n_layers;
    char **argv; /* NULL-terminated; argc == 0: built-in idle init */
    size_t argc;
    char **env; /* NULL-terminated */
    size_t n_env;
    uint64_t caps;
    bool init, detach;
    struct conf_limit memory; /* bytes */
    struct conf_limit cpus;   /* thousandths of a CPU */
    struct conf_limit pids;   /* tasks */
    struct conf_volume *volumes;
    size_t n_volumes;
    bool tty;                        /* attached start: PID 1 gets a pty; master to the client */
    unsigned short tty_rows, tty_cols; /* its initial window size (0: unknown) */
    uint64_t log_max;                /* detached: rotate logs/console.log past this size */
    /* networking (net.c): `net` "1" (required) or "~1" (default: loopback only, with a log
     * line, where slirp4netns is missing); absent: loopback only */
    bool net, net_soft;
    const char *slirp, *nft; /* absolute paths of the helpers */
    char **ports;            /* `port`: "HOST_IP HOST_PORT BOX_PORT" (0: the OS picks) */
    size_t n_ports;
    char **allow; /* `allow`: "A.B.C.D/N PORT" (PORT 0: any); non-empty = an allow-list */
    size_t n_allow;
    char **allow_host; /* `allow_host`: "NAME A.B.C.D", pinned in the box's /etc/hosts */
    size_t n_allow_host;
    char **allow_hostlo; /* `allow_hostlo`: "PORT" of the host's loopback (0: any) */
    size_t n_allow_hostlo;
    char **allow_dns; /* `allow_dns`: "DOMAIN PORT": names under DOMAIN, through our DNS */
    size_t n_allow_dns;
    struct conf_idmap idmap; /* without root */
};

/* The box has an allow-list: every destination not on it is refused. */
static inline bool conf_net_filtered(const struct shim_conf *c)
{
    return c->n_allow + c->n_allow_host + c->n_allow_hostlo + c->n_allow_dns > 0;
}

int conf_load(int dirfd, const char *name, struct shim_conf *c, bl_error **err);
void conf_free(struct shim_conf *c);

/* ---- proto.c: the datagrams of src/basic/wire.h, never blocking --------------------------- */

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

/* ---- cgroup.c -------------------------------------------------------------------------- */

#define CG_MAX_V1 5

struct box_cgroups {
    char *v2_path; /* NULL: no cgroup2 hierarchy */
    int v2_fd;     /* O_DIRECTORY fd of v2_path, for CLONE_INTO_CGROUP */
    int v2_procs_fd;
    bool v2_pure; /* /sys/fs/cgroup itself is cgroup2: every controller lives there */
    size_t n_v1;
    char *v1_path[CG_MAX_V1];
    const char *v1_name[CG_MAX_V1]; /* controller: cpu, cpuacct, memory, pids, blkio */
    int v1_procs_fd[CG_MAX_V1];     /* O_WRONLY cgroup.procs; a child joins by writing "0" */
};
#define BOX_CGROUPS_NULL                                                                           \
    {                                                                                              \
        .v2_path = NULL, .v2_fd = -1, .v2_procs_fd = -1, .v2_pure = false, .n_v1 = 0,              \
        .v1_path = {NULL}, .v1_name = {NULL}, .v1_procs_fd = {-1, -1, -1, -1, -1}                  \
    }

int cg_create(struct box_cgroups *cg, const char *leaf, bl_error **err);
/* devices.c: attach the box's device allow-list to its cgroup2 leaf (as root). */
int devices_restrict(int cgroup_fd, char *why, size_t whysz);
/* Write the box's memory, CPU and pids limits (before anything runs in the box). A required
 * limit whose controller is missing is an error; a best-effort one is logged and skipped. */
int cg_set_limits(struct box_cgroups *cg, const struct shim_conf *c, bl_error **err);

/* cgroup v1 (kernels since 6.x) counts a group's block I/O on a disk only once the group has a
 * throttle rule there: give the box one it never reaches (1 TiB/s of writes) on the disk of
 * dev, so that `stats` has numbers. Best effort. */
void cg_account_io(const struct box_cgroups *cg, dev_t dev);

/* What `stats` reports of the cgroups; UINT64_MAX = unknown (or no limit, for limits). */
struct cg_stats {
    uint64_t cpu_ns, mem_bytes, mem_limit, pids, pids_limit, blk_read, blk_write;
};
void cg_read_stats(const struct box_cgroups *cg, struct cg_stats *st);
/* In a child: join every hierarchy by writing "0" (skip_v2: CLONE_INTO_CGROUP did it). */
int cg_join_self(const struct box_cgroups *cg, bool skip_v2);
/* Move pid into every hierarchy (skip_v2 as above). A v1 migration waits for an RCU grace
 * period (~10 ms here), so the shim does this for PID 1 while PID 1 builds its rootfs. */
int cg_attach(const struct box_cgroups *cg, pid_t pid, bool skip_v2);
/* Kill what is left, wait until empty, rmdir, close. Idempotent; tolerates removed dirs. */
void cg_destroy(struct box_cgroups *cg);

/* ---- process.c: what PID 1, execs and the init share ----------------------------------- */

struct child_error {
    int status;
    char msg[512];
};

/* Report an error to the shim through errfd and _exit(status). */
_noreturn_ void child_fail(int errfd, int status, const char *fmt, ...) _printf_(3, 4);

struct proc_spec {
    char *const *argv;
    char *const *envp;
    const char *cwd;
    const char *user;
    uint64_t caps;
    const struct sock_fprog *seccomp; /* NULL: none */
    bool tty; /* stdin is the controlling terminal: the command gets the foreground */
};

#define BOX_MAX_GROUPS 64
struct box_user {
    uid_t uid;
    gid_t gid;
    size_t n_groups;
    gid_t groups[BOX_MAX_GROUPS];
    char home[256];
};

/* Resolve "", "uid", "uid:gid", "name", "name:group" against the current root's /etc files. */
int user_resolve(const char *spec, struct box_user *u, char *msg, size_t msgsz);
/* Unblock every signal and reset every disposition to the default. */
void child_reset_signals(void);
/* Drop the bounding set, switch user, set capabilities (child only; _exits on failure). */
void proc_apply_user_caps(const struct proc_spec *s, const struct box_user *u, int errfd);
/* no_new_privs and seccomp (child only; _exits on failure). */
void proc_apply_nnp_seccomp(const struct proc_spec *s, int errfd);
/* The shim's own oom_score_adj before it made itself (and so the zygote) unkillable by the OOM
 * killer: what the box's processes get back. SHIM_OOM_UNCHANGED when the shim could not lower
 * it (no CAP_SYS_RESOURCE: then a box that OOM-kills the zygote only stops its own execs). */
#define SHIM_OOM_UNCHANGED (-10000)
extern int shim_oom_orig;
/* Make the shim's oom_score_adj -1000 if it may, remembering the old value (shim start). */
void shim_oom_protect(void);
/* In a child about to run box code: the oom_score_adj the box's processes get. */
void proc_oom_restore(void);
/* In a child about to run box code: close every fd above 2 but keep (-1: none). */
void proc_close_fds(int keep);
/* Full process setup and execve; never returns. */
_noreturn_ void proc_exec(const struct proc_spec *s, int errfd);
/* PID 1 without a command: reap forever, exit 0 on SIGTERM/SIGINT. Closes errfd when ready. */
_noreturn_ void init_idle(const struct proc_spec *s, int errfd);
/* PID 1 in front of a command: fork+exec it, forward signals, reap, exit with its status. */
_noreturn_ void init_command(const struct proc_spec *s, int errfd);

/* ---- box.c: PID 1 ---------------------------------------------------------------------- */

struct box_start {
    const struct shim_conf *conf;
    int errfd;           /* write end of the error pipe */
    int go_fd;           /* read end of the go pipe: one byte once the shim put us in every cgroup,
                          * EOF if it failed or died (this also covers a shim that died before our
                          * PR_SET_PDEATHSIG, which getppid() cannot show in a new pid namespace) */
    int stdin_fd;        /* detached: read end of the silent pipe; -1 attached */
    int stdout_fd;       /* detached: write end of the stdout log pipe; -1 attached */
    int stderr_fd;       /* detached: write end of the stderr log pipe; -1 attached */
    bool tty;            /* PID 1 gets a pty of the box's own (conf->tty, attached) */
    int tty_sock;        /* where PID 1 sends the pty master (conf->tty) and, as an init
                          * without root, its root and namespaces; -1 otherwise */
    const char *box_dir; /* BOX_DIR/{hosts,hostname,resolv.conf} are bound into /etc (by path:
                          * a bind source must be a mount of the box's own namespace) */
    const struct sock_fprog *seccomp;
    int map_fd; /* userns: read end of a pipe that gets one byte once our id maps are written;
                 * -1 otherwise */
};

_noreturn_ void box_pid1_main(const struct box_start *b);

/* Mount the box's overlay and volumes in a new mount namespace and hand its root to the client
 * on fd 3 (`boxlite-shim --mount BOX_DIR`, for `cp` on a stopped box). Returns the exit status. */
int box_mount_main(const char *box_dir);

/* Open a new pty in the devpts of the root `rootfd` (an openat2 RESOLVE_IN_ROOT lookup of
 * dev/pts/ptmx, checked to be a devpts ptmx), unlocked and sized; *ret_slave gets its slave.
 * Returns the master or -errno. */
int pty_open_in_root(int rootfd, unsigned short rows, unsigned short cols, int *ret_slave);
/* Make the pty on fd 0 our controlling terminal in a new session (child only). */
int pty_make_controlling(void);

/* Raw clone3 returning like fork(): 0 in the child. cgroup_fd < 0: no CLONE_INTO_CGROUP.
 * *ret_pidfd receives a pidfd. On ENOSYS falls back to clone(2) without a cgroup. */
pid_t shim_clone(uint64_t flags, int cgroup_fd, int *ret_pidfd, bool *ret_in_cgroup);

/* ---- console.c: logs/console.log of a detached box ----------------------------------------- */

int console_open(int boxfd, uint64_t max, bl_error **err);
/* Move what fd (non-blocking) has into the log as `stream` records; 1 at EOF, else 0. */
int console_pump(int fd, const char *stream);
void console_close(void);

/* ---- supervisor.c ---------------------------------------------------------------------- */

/* What epoll_event.data.ptr points at: the first member of each watched object. */
enum ev_kind { EV_SIGNAL, EV_SPAWN, EV_PID1_ERR, EV_LISTEN, EV_TIMER, EV_CONN, EV_EXEC_ERR, EV_LOG,
              EV_NET };
struct ev {
    enum ev_kind kind;
};

/* A pipe of PID 1's output that the shim copies into logs/console.log (detached boxes). */
struct log_stream {
    struct ev ev; /* EV_LOG; first member */
    int fd;       /* read end, non-blocking; -1 at EOF */
    const char *name;
};

struct conn;
struct exec_proc;

#define SHIM_BOX_NS 7 /* user, mnt, pid, net, uts, ipc, cgroup */
struct shim {
    const char *box_dir;
    struct shim_conf conf;
    int boxfd, lockfd, spawnfd, orig_pidns_fd;
    struct box_cgroups cg;
    struct sock_filter *filter; /* owned; seccomp.filter points here */
    struct sock_fprog seccomp;
    int stdin_wfd; /* detached: write end of PID 1's silent stdin */
    struct log_stream log_out, log_err;
    int tty_sock;   /* conf.tty: PID 1 sends the pty master here before it execs; without
                     * root, an init also sends its root and namespaces (`ns`) */
    int box_root_fd;             /* without root, an init's root directory (O_PATH); else -1 */
    int box_ns_fd[SHIM_BOX_NS];  /* and its namespaces, user first (the order of setns) */
    int tty_master; /* conf.tty: our copy of PID 1's pty master (for `resize`) */
    long long t_start_us, t_started_us; /* boot time for `stats` */
    uint64_t n_execs, n_exec_errors;

    pid_t pid1;
    int pid1fd;
    bool pidns_joined; /* our children are born in the box's pid namespace */
    int pid1_errfd;    /* read end of PID 1's error pipe, until EOF */
    struct child_error setup_err;
    size_t setup_err_got;
    bool started, pid1_exited, kill_requested, stopping, spawn_open;
    bool userns; /* not root: the box gets its own user namespace (our uid is its root) */
    struct rlimit nofile; /* RLIMIT_NOFILE as we were given it (net.c raises ours) */
    int pid1_status;

    /* the exec zygote (zygote.c): -1/0 when there is none */
    pid_t zyg_pid;
    int zyg_pidfd, zyg_fd;
    bool zyg_ready; /* it said `ready`: it is in the box's cgroups and namespaces */

    int epfd, sigfd, listenfd, timerfd;
    struct ev sig_ev, spawn_ev, pid1_err_ev, listen_ev, timer_ev;
    struct conn *conns;
    struct exec_proc *procs;
};

/* Stdio, session or terminal, and proc_exec() of an exec child forked by the zygote, already in
 * the box (child only). */
_noreturn_ void exec_child_run(const int *fds, const struct proc_spec *spec, int errfd);

/* ---- zygote.c: forks exec children already in the box's cgroups and namespaces --------- */

/* Fork the zygote (after PID 1 started); negative errno if there is none (execs then fail). */
int zygote_start(struct shim *s);
/* Wait (bounded) until the zygote is in the box; false if there is none (any more). */
bool zygote_ready(struct shim *s);
/* Have the zygote fork an exec child (a child of ours, by CLONE_PARENT). -ENOENT: there is no
 * zygote (any more), nothing was created; other errors: the exec failed (-EAGAIN: the box is at
 * its pids limit, -E2BIG: the request does not fit a datagram). */
int zygote_spawn(struct shim *s, const struct proc_spec *spec, const int *stdio, int errfd,
                 pid_t *ret_pid, int *ret_pidfd);
/* SIGKILL it; the SIGCHLD loop reaps it. */
void zygote_stop(struct shim *s);
/* pid was the zygote's (reaped): forget it. */
bool zygote_reaped(struct shim *s, pid_t pid);
/* Kill and reap it now. */
void zygote_reap(struct shim *s);

/* ---- net.c: the box's network ------------------------------------------------------------ */

/* Before PID 1: check the configuration, find the helpers, bind the published ports (a port in
 * use fails the start here). Turns a best-effort network off when slirp4netns is missing. */
int net_prepare(struct shim *s, bl_error **err);
/* Lines for the box's /etc/hosts (the host alias, pinned allow-list names); owned by the caller. */
int net_hosts_lines(const struct shim *s, char **ret);
/* The box's /etc/resolv.conf, or NULL for the host's (a box without network). */
const char *net_resolv_conf(const struct shim *s);
/* Right after PID 1 is created: start slirp4netns (and nft for an allow-list). */
int net_start(struct shim *s, pid_t pid1, bl_error **err);
/* Before "go": the allow-list is loaded and the interface is up; the ports file is written. */
int net_wait_ready(struct shim *s, bl_error **err);
void net_on_event(struct shim *s, struct ev *ev, uint32_t events);
/* Free what died in the last batch of events. */
void net_sweep(void);
/* pid was slirp4netns's (reaped): forget it. */
bool net_reaped(pid_t pid);
/* Teardown: listeners, relays and helpers gone. Idempotent. */
void net_stop(struct shim *s);
/* The box's address on its network (slirp4netns's default). */
#define NET_BOX_ADDR "10.0.2.100"
/* Whether the box has its network up (and so NET_BOX_ADDR). */
bool net_address(void);
/* Bytes relayed through published ports since the start: into the box, out of it. */
void net_relayed(uint64_t *in, uint64_t *out);
/* Let the box reach addresses a[0..n) (port 0: any port) through its allow-list, now (one nft
 * run, in the host's pid namespace, bounded in time). */
int net_allow_addrs(struct shim *s, const struct in_addr *a, size_t n, unsigned short port);

/* ---- dns.c: the DNS filter of an allow-list with domains ----------------------------------- */

int dns_start(struct shim *s, bl_error **err);
/* A UDP socket in the box's network namespace (its lo up), or -errno (net.c). */
int net_box_dns_socket(void);
/* Handles ev if it is one of ours. */
bool dns_on_event(struct shim *s, struct ev *ev);
void dns_stop(struct shim *s);

/* Runs the event loop until the box is gone and torn down; returns the shim's exit status. */
int supervisor_run(struct shim *s);
/* Tear down (idempotent) and report `error` on the spawn channel and to waiters. */
void supervisor_fail(struct shim *s, int status, const char *msg);
/* Record a setup error found by the shim itself and kill PID 1 (the first error wins). */
void supervisor_setup_error(struct shim *s, int status, const char *msg);
/* Close and free every connection and process record. */
void supervisor_free(struct shim *s);
