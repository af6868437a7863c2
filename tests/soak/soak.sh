#!/usr/bin/env bash
# The soak of issue 12: SOAK_RUNS `run --rm` and SOAK_EXECS `exec`, a few at a time, mixed at
# random (seeded) with SIGKILLs of the CLI, of a box's shim, of a box's PID 1 and of exec'd
# processes, OOM kills and pids-limit hits. Afterwards nothing of the home may be left: no
# process, mount, cgroup, fd, temp dir or store record, and the store passes an integrity check
# (boxlite lists and removes everything; the image can still be listed and removed).
#
#   tests/soak/soak.sh                 500 + 500 operations, 3 at a time, a random seed
#   SOAK_SEED=42 SOAK_RUNS=50 SOAK_EXECS=50 SOAK_JOBS=2 tests/soak/soak.sh
#   BOXLITE_BIN=build/soak/boxlite tests/soak/soak.sh
#
# Prints TAP-ish lines (one per check, numbered in the order of the operations), and ends with
# "N passed, N failed, N skipped". Exit status 0 only when nothing failed. Design and the
# meaning of each operation: docs/design/soak.md.
set -u
SOAK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# tap.sh: TOP, BOXLITE_BIN (default build/${BUILD:-release}/boxlite), fixture, has_cgroups
# shellcheck source=../lib/tap.sh
. "$SOAK_DIR/../lib/tap.sh"
set +e
HELP="python3 $SOAK_DIR/soakhelp.py"

RUNS=${SOAK_RUNS:-500}
EXECS=${SOAK_EXECS:-500}
JOBS=${SOAK_JOBS:-3}
SEED=${SOAK_SEED:-$(( $(od -An -N2 -tu2 /dev/urandom) ))}
OP_TIMEOUT=${SOAK_OP_TIMEOUT:-60} # seconds any one boxlite command may take
GONE_TIMEOUT=15                   # seconds a killed box or process may take to go away
TAG=$$                            # makes each op's marker command unique on this machine

N_PASS=0 N_FAIL=0 N_SKIP=0
emit() { # emit "ok|not ok|skip" DESCRIPTION: one numbered check line, counted
    local n=$((N_PASS + N_FAIL + N_SKIP + 1))
    case $1 in
        ok) N_PASS=$((N_PASS + 1)); echo "ok $n - $2" ;;
        skip) N_SKIP=$((N_SKIP + 1)); echo "ok $n - # SKIP $2" ;;
        *) N_FAIL=$((N_FAIL + 1)); echo "not ok $n - $2" ;;
    esac
}
finish() {
    echo "1..$((N_PASS + N_FAIL + N_SKIP))"
    echo "$N_PASS passed, $N_FAIL failed, $N_SKIP skipped"
    [ "$N_FAIL" -eq 0 ]
    exit
}
[ -x "$BOXLITE_BIN" ] || { echo "not ok 1 - $BOXLITE_BIN is not built"; N_FAIL=1; finish; }
for tool in timeout flock pgrep python3; do
    command -v $tool >/dev/null || { echo "not ok 1 - $tool is missing"; N_FAIL=1; finish; }
done

# fds of this shell before anything starts (the fd-leak check compares at the end)
FDS_BEFORE=$(ls /proc/$$/fd | sort -n | tr '\n' ' ')

W=$(mktemp -d "${TMPDIR:-/tmp}/bl-soak-XXXXXX") || exit 1
H=$W/h # the home: short, sun_path is 108 bytes
mkdir -p "$H" "$W/res" "$W/lock" "$W/io"
IDS=$W/box-ids
WATCH_PID=
cleanup() {
    local p
    [ -n "$WATCH_PID" ] && kill "$WATCH_PID" 2>/dev/null
    for p in $(jobs -p); do kill -9 "$p" 2>/dev/null; done
    if [ "${SOAK_KEEP:-0}" = 1 ]; then echo "# kept $W"; return; fi
    # whatever leaked must not outlive the soak on this machine
    for p in $(pgrep -f "boxlite-shim $H/" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    grep -o " ${H}[^ ]*" /proc/self/mountinfo 2>/dev/null | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
    [ -s "$IDS" ] && $HELP cgroups "$IDS" 2>/dev/null | sed 's/^leaked cgroup //' | while read -r d; do
        rmdir "$d" 2>/dev/null
    done
    rm -rf "$W" 2>/dev/null || { chmod -R u+rwx "$W" 2>/dev/null; rm -rf "$W" 2>/dev/null; }
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A plain user has limits only with a cgroup delegated to it (tools/run-as-user's range run).
LIMITS=1
if ! has_cgroups; then
    LIMITS=0
fi

echo "# boxlite soak: seed $SEED (SOAK_SEED=$SEED to replay), $RUNS run --rm + $EXECS exec, $JOBS at a time"
echo "# binary $BOXLITE_BIN, home $H, uid $(id -u)"
RANDOM=$SEED
T0=$SECONDS

# ---- helpers used inside operations (each operation runs in its own subshell) -------------
# bl N ARGS...: run boxlite with a timeout; stdout/stderr in $W/io/N.{out,err}; sets RC.
bl() {
    local n=$1; shift
    timeout --verbose -k 5 "$OP_TIMEOUT" "$BOXLITE_BIN" --home "$H" "$@" </dev/null >"$W/io/$n.out" 2>"$W/io/$n.err"
    RC=$?
}
out() { cat "$W/io/$1.out" 2>/dev/null; }
err() { head -c 400 "$W/io/$1.err" 2>/dev/null | tr '\n' '|'; }
pass() { echo "ok - $*"; }
flunk() { echo "not ok - $*"; }
skipped() { echo "skip - $*"; }
# timed_out RC N: whether the op's command was ended by `timeout` (its --verbose note in stderr)
timed_out() { [ "$1" -eq 124 ] || grep -q '^timeout: sending signal' "$W/io/$2.err" 2>/dev/null; }
# a marker command that names the op, so that its process can be found from the host in /proc
marker() { printf '3600.%s%05d' "$TAG" "$1"; }
# pid of the process running `sleep MARKER` (PID 1 of a box, or an exec'd process), waiting
# up to 10 s for it to appear
marker_pid() {
    local end=$((SECONDS + 10)) p
    while [ $SECONDS -lt $end ]; do
        p=$(pgrep -f "^sleep $1\$" | head -n1)
        [ -n "$p" ] && { echo "$p"; return 0; }
        sleep 0.02
    done
    return 1
}
marker_gone() { # wait until no `sleep MARKER` process is left
    local end=$((SECONDS + GONE_TIMEOUT))
    while pgrep -f "^sleep $1\$" >/dev/null; do
        [ $SECONDS -lt $end ] || return 1
        sleep 0.05
    done
}
box_id() { # box_id N NAME: the id of a box, by name
    bl "$1.id" inspect -f '{{.Id}}' "$2"
    [ "$RC" -eq 0 ] && out "$1.id"
}
shim_pid() { head -n1 "$H/boxes/$1/shim.pid" 2>/dev/null; }
# state of a box by name: running, stopped, ... ("" if unknown)
box_state() { bl "$1.st" inspect -f '{{.Status}}' "$2"; [ "$RC" -eq 0 ] && out "$1.st"; }
# wait until box NAME no longer exists (recovery on open may be what removes it)
box_gone() {
    local n=$1 name=$2 end=$((SECONDS + GONE_TIMEOUT))
    while :; do
        bl "$n.g" inspect -f '{{.Id}}' "$name"
        [ "$RC" -ne 0 ] && grep -q 'no such box' "$W/io/$n.g.err" && return 0
        [ $SECONDS -lt $end ] || return 1
        sleep 0.1
    done
}
# per-box locks: execs share a long box; killing its shim or PID 1 (then restarting it) takes
# it alone, so every exec's result stays deterministic
with_lock() { # with_lock -s|-x BOX CMD...
    local mode=$1 box=$2; shift 2
    (flock "$mode" -w "$OP_TIMEOUT" 9 || { flunk "lock on $box timed out"; exit 1; }; "$@" 9>&-) 9>"$W/lock/$box"
}

# ---- run --rm operations ---------------------------------------------------------------
# exit code of a plain command, and its output
op_r_exit() { # N CODE
    bl "$1" run --rm busybox sh -c "echo soak-$1; exit $2"
    if timed_out $RC "$1"; then flunk "run --rm (exit $2): timed out"
    elif [ "$RC" -ne "$2" ] || [ "$(out "$1")" != "soak-$1" ]; then
        flunk "run --rm (exit $2): rc $RC, stdout '$(out "$1")', stderr '$(err "$1")'"
    else pass "run --rm exits $2"; fi
}
# SIGKILL of the CLI, at a random moment of its life (creating, starting or running)
op_r_kill_cli() { # N DELAY_MS
    local name=soak-r-$1 m; m=$(marker "$1")
    "$BOXLITE_BIN" --home "$H" run --rm --name "$name" busybox sleep "$m" </dev/null >/dev/null 2>"$W/io/$1.err" &
    local cli=$!
    sleep "$(printf '0.%03d' "$2")"
    kill -9 $cli 2>/dev/null
    wait $cli 2>/dev/null
    if ! marker_gone "$m"; then flunk "run --rm, CLI killed after ${2}ms: PID 1 still alive after ${GONE_TIMEOUT}s"
    elif ! box_gone "$1" "$name"; then flunk "run --rm, CLI killed after ${2}ms: box $name still there after ${GONE_TIMEOUT}s ($(err "$1.g"))"
    else pass "run --rm, CLI killed after ${2}ms: box gone"; fi
}
# SIGKILL of the box's shim (from BOXDIR/shim.pid) or of its PID 1: run returns 137
op_r_kill_box() { # N shim|pid1
    local name=soak-r-$1 m what=$2 id p victim; m=$(marker "$1")
    timeout --verbose -k 5 "$OP_TIMEOUT" "$BOXLITE_BIN" --home "$H" run --rm --name "$name" busybox sleep "$m" \
        </dev/null >/dev/null 2>"$W/io/$1.err" &
    local cli=$!
    if ! p=$(marker_pid "$m"); then
        kill -9 $cli 2>/dev/null; wait $cli
        flunk "run --rm (kill $what): PID 1 never appeared ($(err "$1"))"; return
    fi
    if [ "$what" = shim ]; then
        id=$(box_id "$1" "$name") && victim=$(shim_pid "$id")
        if [ -z "$victim" ]; then
            kill -9 $cli 2>/dev/null; wait $cli
            flunk "run --rm (kill shim): no shim.pid for box '$name' (id '$id')"; return
        fi
    else
        victim=$p
    fi
    kill -9 "$victim"
    wait $cli; RC=$?
    if timed_out $RC "$1"; then flunk "run --rm, $what killed: CLI timed out"
    elif [ "$RC" -ne 137 ]; then flunk "run --rm, $what killed: rc $RC, expected 137 ($(err "$1"))"
    elif ! marker_gone "$m"; then flunk "run --rm, $what killed: PID 1 still alive"
    elif ! box_gone "$1" "$name"; then flunk "run --rm, $what killed: box still there ($(err "$1.g"))"
    else pass "run --rm, $what killed: 137, box gone"; fi
}
# a box over its memory limit is OOM-killed: 137
op_r_oom() { # N
    bl "$1" run --rm --memory 32 busybox dd if=/dev/zero of=/dev/null bs=64M count=1
    if timed_out $RC "$1"; then flunk "run --rm --memory 32 (OOM): timed out"
    elif [ "$RC" -ne 137 ]; then flunk "run --rm --memory 32 (OOM): rc $RC, expected 137 ($(err "$1"))"
    else pass "run --rm --memory 32 allocating 64M: OOM-killed, 137"; fi
}
# a box that forks past its pids limit: the fork fails (ash exits 2), never more than 8 pids
op_r_pids() { # N
    bl "$1" run --rm --pids-limit 8 busybox sh -c 'n=0; while [ $n -lt 20 ]; do sleep 5 & n=$((n+1)); echo $n; done'
    local last; last=$(out "$1" | tail -n1)
    if timed_out $RC "$1"; then flunk "run --rm --pids-limit 8 (fork bomb): timed out"
    elif [ "$RC" -ne 2 ] || ! grep -q "can't fork" "$W/io/$1.err" || ! [ "${last:-0}" -ge 1 ] || [ "$last" -gt 7 ]; then
        flunk "run --rm --pids-limit 8 (fork bomb): rc $RC, $last children, stderr '$(err "$1")'"
    else pass "run --rm --pids-limit 8: fork $((last + 1)) fails, rc 2"; fi
}

# ---- exec operations -------------------------------------------------------------------
op_e_exit() { # N BOX CODE
    bl "$1" exec "$2" sh -c "echo soak-$1; exit $3"
    if timed_out $RC "$1"; then flunk "exec $2 (exit $3): timed out"
    elif [ "$RC" -ne "$3" ] || [ "$(out "$1")" != "soak-$1" ]; then
        flunk "exec $2 (exit $3): rc $RC, stdout '$(out "$1")', stderr '$(err "$1")'"
    else pass "exec $2 exits $3"; fi
}
# SIGKILL of an exec'd process from the host: exec returns 137
op_e_kill_proc() { # N BOX
    local m p; m=$(marker "$1")
    timeout --verbose -k 5 "$OP_TIMEOUT" "$BOXLITE_BIN" --home "$H" exec "$2" sleep "$m" </dev/null >/dev/null 2>"$W/io/$1.err" &
    local cli=$!
    if ! p=$(marker_pid "$m"); then
        kill -9 $cli 2>/dev/null; wait $cli
        flunk "exec $2 (kill process): process never appeared ($(err "$1"))"; return
    fi
    kill -9 "$p"
    wait $cli; RC=$?
    if timed_out $RC "$1"; then flunk "exec $2, process killed: CLI timed out"
    elif [ "$RC" -ne 137 ]; then flunk "exec $2, process killed: rc $RC, expected 137 ($(err "$1"))"
    else pass "exec $2, process killed from the host: 137"; fi
}
# SIGKILL of the exec CLI at a random moment: the exec'd process goes with its client
op_e_kill_cli() { # N BOX DELAY_MS
    local m; m=$(marker "$1")
    "$BOXLITE_BIN" --home "$H" exec "$2" sleep "$m" </dev/null >/dev/null 2>"$W/io/$1.err" &
    local cli=$!
    sleep "$(printf '0.%03d' "$3")"
    kill -9 $cli 2>/dev/null
    wait $cli 2>/dev/null
    if ! marker_gone "$m"; then flunk "exec $2, CLI killed after ${3}ms: exec'd process still alive after ${GONE_TIMEOUT}s"
    else pass "exec $2, CLI killed after ${3}ms: process gone"; fi
}
# exec into a box at its pids limit: a clean error, 125, at once
op_e_pids() { # N [-d]
    bl "$1" exec ${2:-} soak-p true
    if timed_out $RC "$1"; then flunk "exec ${2:+$2 }into a box at its pids limit: timed out"
    elif [ "$RC" -ne 125 ] || ! grep -q 'Resource temporarily unavailable' "$W/io/$1.err"; then
        flunk "exec ${2:+$2 }into a box at its pids limit: rc $RC, stderr '$(err "$1")'"
    else pass "exec ${2:+$2 }into a box at its pids limit: 125"; fi
}
# an exec'd process over the box's memory limit is OOM-killed, not the box
op_e_oom() { # N
    bl "$1" exec soak-m dd if=/dev/zero of=/dev/null bs=64M count=1
    if timed_out $RC "$1"; then flunk "exec (OOM) into a --memory 32 box: timed out"
    elif [ "$RC" -ne 137 ]; then flunk "exec (OOM) into a --memory 32 box: rc $RC, expected 137 ($(err "$1"))"
    else
        bl "$1.2" exec soak-m true
        if [ "$RC" -ne 0 ]; then flunk "exec after an OOM kill in soak-m: rc $RC ($(err "$1.2"))"
        else pass "exec allocating 64M in a --memory 32 box: 137, the box lives on"; fi
    fi
}
# SIGKILL of a long box's shim or PID 1: it stops (PID 1: exit code 137), and starts again
op_e_kill_box() { # N BOX shim|pid1
    local n=$1 box=$2 what=$3 id victim st end code
    id=$(box_id "$n" "$box") || { flunk "kill $what of $box: inspect failed ($(err "$n.id"))"; return; }
    if [ "$what" = shim ]; then victim=$(shim_pid "$id")
    else bl "$n.p" inspect -f '{{.State.Pid}}' "$box"; victim=$(out "$n.p"); fi
    if [ -z "$victim" ] || [ "$victim" = 0 ]; then flunk "kill $what of $box: no pid"; return; fi
    kill -9 "$victim"
    end=$((SECONDS + GONE_TIMEOUT))
    while st=$(box_state "$n" "$box"); [ "$st" != stopped ] && [ $SECONDS -lt $end ]; do sleep 0.05; done
    if [ "$st" != stopped ]; then flunk "kill $what of $box: state '$st' after ${GONE_TIMEOUT}s"; return; fi
    if [ "$what" = pid1 ]; then
        bl "$n.c" inspect -f '{{.State.ExitCode}}' "$box"; code=$(out "$n.c")
        if [ "$code" != 137 ]; then flunk "kill PID 1 of $box: exit code '$code', expected 137"; return; fi
    fi
    bl "$n.s" start "$box"
    if [ "$RC" -ne 0 ]; then flunk "kill $what of $box: start again: rc $RC ($(err "$n.s"))"; return; fi
    st=$(box_state "$n" "$box")
    if [ "$st" != running ]; then flunk "kill $what of $box: '$st' after start"; return; fi
    pass "kill $what of $box: stopped${code:+ ($code)}, started again"
}
# SIGKILL of a long box's exec zygote (the shim's child that forks exec'd processes): the next
# exec starts a new one and works
op_e_kill_zygote() { # N BOX
    local n=$1 box=$2 id shim z
    id=$(box_id "$n" "$box") || { flunk "kill the zygote of $box: inspect failed ($(err "$n.id"))"; return; }
    shim=$(shim_pid "$id")
    z=$(pgrep -P "${shim:-0}" -f "boxlite-shim $H/boxes/$id" | head -n1)
    if [ -z "$z" ]; then flunk "kill the zygote of $box: no zygote below shim '$shim'"; return; fi
    kill -9 "$z"
    # kill(2) returns before the zygote is dead: wait for it to be a zombie (or reaped), so that
    # this exec finds it gone (an exec racing with its death is another matter)
    local end=$((SECONDS + GONE_TIMEOUT))
    while [ -e "/proc/$z" ] && [ "$(awk '{print $3}' "/proc/$z/stat" 2>/dev/null)" != Z ] && [ $SECONDS -lt $end ]; do
        sleep 0.01
    done
    bl "$n" exec "$box" sh -c "echo soak-$n"
    if timed_out $RC "$n"; then flunk "exec $box after its zygote was killed: timed out"
    elif [ "$RC" -ne 0 ] || [ "$(out "$n")" != "soak-$n" ]; then
        flunk "exec $box after its zygote was killed: rc $RC, stdout '$(out "$n")' ($(err "$n"))"
    else pass "exec $box after its zygote was killed: works"; fi
}

# ---- set up ----------------------------------------------------------------------------
echo "# setting up the home and the long-running boxes"
setup_fail() { emit fail "$*"; finish; }
IMG=$(fixture busybox oci) || setup_fail "cannot build the busybox fixture"
bl s0 load -i "$IMG"
[ "$RC" -eq 0 ] || setup_fail "load $IMG: rc $RC ($(err s0))"
$HELP watch "$H/boxes" "$IDS" &
WATCH_PID=$!
disown $WATCH_PID
wait_until 10 grep -qs "^\.ready$" "$IDS" || setup_fail "the box-id watcher did not start"
LONG=(soak-l-1 soak-l-2 soak-l-3)
for b in "${LONG[@]}"; do
    bl "s-$b" run -d --name "$b" busybox sleep 1000000
    [ "$RC" -eq 0 ] || setup_fail "run -d $b: rc $RC ($(err "s-$b"))"
done
if [ $LIMITS = 1 ]; then
    # soak-p: at its pids limit (PID 1, the exec zygote and detached sleeps fill the 8)
    bl s-p run -d --name soak-p --pids-limit 8 busybox sleep 1000000
    [ "$RC" -eq 0 ] || setup_fail "run -d soak-p: rc $RC ($(err s-p))"
    for i in $(seq 12); do
        bl s-p$i exec -d soak-p sleep 1000000
        [ "$RC" -eq 0 ] || break
    done
    [ "$RC" -eq 125 ] || setup_fail "filling soak-p: exec -d $i: rc $RC ($(err "s-p$i"))"
    # soak-m: only OOM-killed execs go there
    bl s-m run -d --name soak-m --memory 32 busybox sleep 1000000
    [ "$RC" -eq 0 ] || setup_fail "run -d soak-m: rc $RC ($(err s-m))"
fi
# fds of each long box's shim now: at the end, a shim that served hundreds of execs (and failed
# execs, for soak-p) must hold no more
declare -A SHIM0 FDS0
shim_fds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
for b in "${LONG[@]}" soak-p soak-m; do
    [ $LIMITS = 1 ] || [[ $b == soak-l-* ]] || continue
    id=$(box_id "s-$b" "$b") && SHIM0[$b]=$(shim_pid "$id") && FDS0[$b]=$(shim_fds "${SHIM0[$b]}")
    echo "$id $b" >>"$W/long-ids"
done
emit ok "set up: image loaded, ${#LONG[@]} long boxes$([ $LIMITS = 1 ] && echo ", soak-p at its pids limit after $((i - 1)) execs, soak-m with 32 MiB")"

[ $LIMITS = 1 ] || emit skip "OOM kills and pids-limit hits: no cgroup delegated to $(id -un) (plain runs and execs take their turns)"

# ---- the plan: all random choices are made here, from the seed --------------------------
# run --rm:  exit 45%, kill CLI 15%, kill shim 10%, kill PID 1 10%, OOM 10%, pids 10%
# exec:      exit 41%, kill process 12%, kill CLI 12%, pids 12%, OOM 9%, kill shim 5%, kill PID 1 5%,
#            kill zygote 4%
# Without limits, the OOM and pids operations become plain ones (exit).
plan=()
r=$RUNS e=$EXECS
while [ $((r + e)) -gt 0 ]; do
    n=$(( ${#plan[@]} + 1 ))
    if [ $((RANDOM % (r + e))) -lt $r ]; then
        r=$((r - 1)); x=$((RANDOM % 100))
        if [ $x -lt 45 ]; then op="op_r_exit $n $((RANDOM % 8))"
        elif [ $x -lt 60 ]; then op="op_r_kill_cli $n $((RANDOM % 250))"
        elif [ $x -lt 70 ]; then op="op_r_kill_box $n shim"
        elif [ $x -lt 80 ]; then op="op_r_kill_box $n pid1"
        elif [ $x -lt 90 ]; then op="op_r_oom $n"
        else op="op_r_pids $n"; fi
        [ $LIMITS = 0 ] && [[ $op == op_r_oom* || $op == op_r_pids* ]] && op="op_r_exit $n $((RANDOM % 8))"
    else
        e=$((e - 1)); x=$((RANDOM % 100)); box=${LONG[RANDOM % ${#LONG[@]}]}
        if [ $x -lt 41 ]; then op="with_lock -s $box op_e_exit $n $box $((RANDOM % 8))"
        elif [ $x -lt 53 ]; then op="with_lock -s $box op_e_kill_proc $n $box"
        elif [ $x -lt 65 ]; then op="with_lock -s $box op_e_kill_cli $n $box $((RANDOM % 100))"
        elif [ $x -lt 71 ]; then op="op_e_pids $n"
        elif [ $x -lt 77 ]; then op="op_e_pids $n -d"
        elif [ $x -lt 86 ]; then op="with_lock -x soak-m op_e_oom $n"
        elif [ $x -lt 91 ]; then op="with_lock -x $box op_e_kill_box $n $box shim"
        elif [ $x -lt 96 ]; then op="with_lock -x $box op_e_kill_box $n $box pid1"
        else op="with_lock -x $box op_e_kill_zygote $n $box"; fi
        [ $LIMITS = 0 ] && [[ $op == op_e_pids* || $op == *op_e_oom* ]] && op="with_lock -s $box op_e_exit $n $box $((RANDOM % 8))"
    fi
    plan+=("$op")
done

# SOAK_ONLY=WORD keeps only the operations whose plan entry contains WORD (for minimising a
# failure: SOAK_ONLY=op_r_kill_cli SOAK_RUNS=2000 SOAK_EXECS=0)
if [ -n "${SOAK_ONLY:-}" ]; then
    kept=()
    for op in "${plan[@]}"; do
        [[ $op == *"$SOAK_ONLY"* ]] || continue
        set -- $op
        [ "$1" = with_lock ] && set -- "$1" "$2" "$3" "$4" $(( ${#kept[@]} + 1 )) "${@:6}" || set -- "$1" $(( ${#kept[@]} + 1 )) "${@:3}"
        kept+=("$*")
    done
    plan=("${kept[@]}")
    echo "# SOAK_ONLY=$SOAK_ONLY: ${#plan[@]} operations"
fi

# ---- the soak: JOBS operations at a time; results printed in plan order ----------------
printed=0
print_done() {
    local f line
    while f=$W/res/$((printed + 1)); [ -e "$f" ]; do
        printed=$((printed + 1))
        while IFS= read -r line; do
            case $line in
                "ok - "*) emit ok "${line#ok - }" ;;
                "not ok - "*) emit fail "${line#not ok - }   [op $printed: ${plan[printed - 1]}]" ;;
                "skip - "*) emit skip "${line#skip - }" ;;
                *) echo "# $line" ;;
            esac
        done <"$f"
        rm -f "$f" "$W/io/$printed".*
        [ $((printed % 100)) -eq 0 ] && echo "# progress: $printed/${#plan[@]} operations, $((SECONDS - T0))s"
    done
}
running=0
for i in "${!plan[@]}"; do
    n=$((i + 1))
    if [ $running -ge "$JOBS" ]; then wait -n; running=$((running - 1)); fi
    # shellcheck disable=SC2086 # the plan entry is a command line
    ( t0=$EPOCHREALTIME; ${plan[i]} >"$W/res/$n.tmp" 2>&1
      echo "$n $t0 $EPOCHREALTIME ${plan[i]}" >>"$W/op-times"; mv "$W/res/$n.tmp" "$W/res/$n" ) &
    running=$((running + 1))
    print_done
done
wait
print_done
[ $printed -eq ${#plan[@]} ] && emit ok "all ${#plan[@]} operations finished ($((SECONDS - T0))s)" ||
    emit fail "only $printed of ${#plan[@]} operations reported"

# ---- afterwards: list, remove, and nothing may be left ----------------------------------
echo "# after the soak: the store lists and removes every box; then nothing may be left"
bl f1 ls -a --format json
if [ "$RC" -eq 0 ]; then emit ok "ls -a works"; else emit fail "ls -a: rc $RC ($(err f1))"; fi
# one "NAME:STATUS" line per box
names=$(python3 -c 'import json,sys; [print(b["Names"] + ":" + b["Status"]) for b in json.load(sys.stdin)]' <"$W/io/f1.out" 2>/dev/null)
stray="" notrunning=""
while IFS= read -r b; do
    [ -n "$b" ] || continue
    case ${b%%:*} in soak-l-*|soak-p|soak-m) ;; *) stray+=" '$b'" ;; esac
    [ "${b#*:}" = Running ] || notrunning+=" '$b'"
done <<<"$names"
if [ -z "$stray" ]; then emit ok "no run --rm box is left in the list"
else emit fail "run --rm boxes left in the list:$stray"; fi
if [ -z "$notrunning" ]; then emit ok "the long boxes all run ($(echo $names))"
else emit fail "boxes not running:$notrunning"; fi
fdlist=""
if [ $LIMITS = 1 ]; then
    id=$(box_id f2 soak-p)
    cnt=$($HELP cgcount "$id")
    if [ -n "$cnt" ] && [ "$cnt" -le 8 ] && [ "$cnt" -ge 7 ]; then emit ok "soak-p holds $cnt processes (pids limit 8)"
    else emit fail "soak-p holds '$cnt' processes, limit 8"; fi
fi
fdgrow=""
for b in "${!SHIM0[@]}"; do
    id=$(box_id f2 "$b") && p=$(shim_pid "$id") && c=$(shim_fds "$p")
    if [ "$p" = "${SHIM0[$b]}" ]; then base=${FDS0[$b]}; else base=${FDS0[soak-l-1]}; fi # restarted
    [ "${c:-0}" -le "$base" ] || fdgrow+=" $b: $base -> $c fds (shim $p);"
    fdlist+=" $b:$c"
done
if [ -z "$fdgrow" ]; then emit ok "the long boxes' shims hold no more fds than at the start (${fdlist# })"
else emit fail "shim fd growth:$fdgrow"; fi
bl f3 ls -a -q
ids=$(out f3)
# shellcheck disable=SC2086 # one word per id
[ -n "$ids" ] && bl f4 rm -f $ids
if [ -n "$ids" ] && [ "$RC" -eq 0 ]; then emit ok "rm -f of every box ($(echo $ids | wc -w))"
else emit fail "rm -f of every box: rc $RC ($(err f4))"; fi
bl f5 ls -a -q
if [ "$RC" -eq 0 ] && [ -z "$(out f5)" ]; then emit ok "ls -a is empty"
else emit fail "ls -a after rm -f: rc $RC, '$(out f5)'"; fi

kill "$WATCH_PID" 2>/dev/null
wait_until 5 sh -c "! kill -0 $WATCH_PID 2>/dev/null"
WATCH_PID=
nids=$(grep -vc '^\.' "$IDS")
if grep -q '^\.overflow' "$IDS"; then emit fail "the box-id watcher lost events (inotify overflow)"
else emit ok "the watcher saw $nids boxes created"; fi

# processes: give the last teardowns a moment (they are asynchronous to rm -f)
wait_until 10 sh -c "! $HELP procs '$H' '$IDS' >/dev/null"
if leaks=$($HELP procs "$H" "$IDS"); then emit ok "no process of the home (cmdline, cwd, root, exe, fds, box cgroups)"
else emit fail "leaked processes:"; printf '%s\n' "$leaks" | sed 's/^/#   /'; fi
p=$(pgrep -af "boxlite-shim $H/")
for s in $(pgrep -x slirp4netns); do # its stderr is the box's net.log
    [[ $(readlink "/proc/$s/fd/2" 2>/dev/null) == "$H/"* ]] && p+=" slirp4netns $s"
done
if [ -n "$p" ]; then emit fail "shim, zygote or slirp4netns of the home: $p"
else emit ok "no boxlite-shim, zygote or slirp4netns of the home"; fi
if grep -q " $H" /proc/self/mountinfo; then
    emit fail "mounts under the home:"; grep " $H" /proc/self/mountinfo | sed 's/^/#   /'
else emit ok "no mount under the home"; fi
if leaks=$($HELP cgroups "$IDS"); then emit ok "no cgroup boxlite-<id> of the $nids boxes (v1 and v2)"
else
    emit fail "leaked cgroups:"
    printf '%s\n' "$leaks" | while read -r _ _ d; do
        id=${d##*/boxlite-}
        t=$(awk -v i="$id" '$1 == i {print $2; exit}' "$IDS")
        echo "#   $d ($(awk -v i="$id" '$1 == i {print "long box " $2}' "$W/long-ids" 2>/dev/null |
            grep . || echo "created at $t, during: $(awk -v t="$t" '$2 <= t && t <= $3 {
                $2 = $3 = ""; printf "[%s] ", $0 }' "$W/op-times")"))"
    done
fi
if [ -z "$(ls -A "$H/tmp" 2>/dev/null)" ]; then emit ok "tmp/ is empty"
else emit fail "tmp/ holds: $(ls -A "$H/tmp" | head -n 10 | tr '\n' ' ')"; fi
if [ -z "$(ls -A "$H/boxes" 2>/dev/null)" ]; then emit ok "boxes/ is empty"
else emit fail "boxes/ holds: $(ls -A "$H/boxes" | head -n 10 | tr '\n' ' ')"; fi
dbout=$($HELP db "$H" 2>&1); dbrc=$?
if [ $dbrc -eq 0 ]; then emit ok "store integrity_check and foreign_key_check: ok"
else emit fail "store: $dbout"; fi
rows=$(printf '%s\n' "$dbout" | tail -n1)
if [[ " $rows " == *" boxes=0 "* && " $rows " == *" box_layers=0 "* ]]; then emit ok "no box rows in the store ($rows)"
else emit fail "box rows left in the store: $rows"; fi
bl f6 images
if [ "$RC" -eq 0 ] && grep -q busybox "$W/io/f6.out"; then emit ok "images lists busybox"
else emit fail "images: rc $RC, '$(out f6)' ($(err f6))"; fi
bl f7 rmi busybox
if [ "$RC" -eq 0 ]; then emit ok "rmi busybox"; else emit fail "rmi busybox: rc $RC ($(err f7))"; fi
bl f8 images -q
left=$(find "$H/images/layers" "$H/images/blobs/sha256" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
if [ "$RC" -eq 0 ] && [ -z "$(out f8)" ] && [ "$left" -eq 0 ]; then emit ok "no image, layer or blob left"
else emit fail "after rmi: images '$(out f8)', $left layers and blobs left"; fi
dbout=$($HELP db "$H" 2>&1); dbrc=$?
rows=$(printf '%s\n' "$dbout" | tail -n1)
if [ $dbrc -eq 0 ] && [[ " $rows " == *" images=0 "* && " $rows " == *" layers=0 "* ]]; then emit ok "store after rmi: ok, $rows"
else emit fail "store after rmi: $dbout"; fi
FDS_AFTER=$(ls /proc/$$/fd | sort -n | tr '\n' ' ')
if [ "$FDS_AFTER" = "$FDS_BEFORE" ]; then emit ok "no fd leak in the soak itself"
else emit fail "the soak's fds: before '$FDS_BEFORE', after '$FDS_AFTER'"; fi
echo "# seed $SEED, $((SECONDS - T0))s"
finish
