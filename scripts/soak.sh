#!/usr/bin/env bash
# Soak test (issue 8, section 3): scripts/soak.sh [MINUTES]   (default 10; CI runs it with 2)
#
# Runs three mesh_node processes (n1, n2, n3; capability "game") on 127.0.0.1 with ephemeral
# ports, each running a steady background load (`load start`). Every minute runs one planned
# change cycle:
#   +10 s  a 4th node (n4) joins through one of the base nodes; every node must see 4 nodes and a
#          call from n4 must succeed;
#   +25 s  n4 leaves gracefully (SIGTERM): it must exit 0 and every node must see 3 nodes;
#   +40 s  n3 is killed with kill -9 and restarted with the same name (port 0, seeded by n1 and
#          n2); the survivors must notice, every node must see 3 nodes again, and calls must stop
#          failing within SOAK_RECOVER_SECONDS of the kill.
# At the end of every minute it prints, for every node process, its RSS (/proc/PID/status), open
# file descriptors (/proc/PID/fd) and threads (/proc/PID/task) (fds and threads: the least of 5
# readings over 2 s; threads without the actor pool's "mesh-extra" workers, which it adds while
# the machine is too busy and retires when idle; those are shown as "+ N extra"), and checks them
# against the node's baseline (minute 0, after a short warm-up; n4: its first incarnation):
#   RSS      <= max(baseline * SOAK_RSS_FACTOR_PERCENT / 100, baseline + SOAK_RSS_SLACK_KB)
#   fds      <= baseline + SOAK_FD_SLACK
#   threads  <= baseline + SOAK_THREAD_SLACK
# n1 and n2 live through the whole soak; n3 and n4 are new processes every minute.
#
# It fails (exit 1, "soak: FAILED: reason") when a node outgrows those limits, a node dies or stops
# answering, a planned change (join, graceful leave, restart) does not complete in time, any load
# call fails outside a kill -9 window, or calls keep failing after the kill -9 (no recovery).
# Load calls that fail in a kill -9 window (they were in flight to, or routed to, the killed node)
# are counted and reported, not failed on. Exit 0 and a summary table on success.
#
# Environment (defaults in brackets):
#   SOAK_MINUTE_SECONDS [60]     length of a "minute" (>= 20), for quick local runs
#   SOAK_RSS_FACTOR_PERCENT [200]  SOAK_RSS_SLACK_KB [65536]  SOAK_FD_SLACK [2]  SOAK_THREAD_SLACK [2]
#   SOAK_RECOVER_SECONDS [5]     calls must stop failing this long after a kill -9
#   SOAK_QUIET_SECONDS [2]       ...and stay free of failures this long to count as recovered
#   SOAK_CHANGE_TIMEOUT_SECONDS [10]  bound for every join / leave / restart step
#   SOAK_HEARTBEAT_MS [100]      SOAK_FAILURE_TIMEOUT_MS [1000]   SOAK_LOAD_ACTORS [64]
#   SOAK_WARMUP_SECONDS [5]      load time before the baseline figures are taken
#   SOAK_BINARY                  the mesh_node to run [$MESH_BUILD_DIR/tools/mesh_node, built if
#                                missing]; it is copied to the state directory first
#   SOAK_NODE_LOG [quiet]        the nodes' log level: quiet (--quiet), info, or verbose (--verbose);
#                                node logs are files in the state directory, shown on failure
#   SOAK_TRANSIENT_THREADS [mesh-extra]  thread names (a glob) not counted as threads; "" counts all
#   SOAK_KEEP_STATE=1            keep the state directory (node logs) instead of deleting it
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

minutes=${1:-10}
L=${SOAK_MINUTE_SECONDS:-60}
RSS_SLACK_KB=${SOAK_RSS_SLACK_KB:-65536}
RSS_FACTOR_PCT=${SOAK_RSS_FACTOR_PERCENT:-200}
FD_SLACK=${SOAK_FD_SLACK:-2}
THREAD_SLACK=${SOAK_THREAD_SLACK:-2}
RECOVER_S=${SOAK_RECOVER_SECONDS:-5}
QUIET_S=${SOAK_QUIET_SECONDS:-2}
CHANGE_S=${SOAK_CHANGE_TIMEOUT_SECONDS:-10}
HEARTBEAT_MS=${SOAK_HEARTBEAT_MS:-100}
FAILURE_MS=${SOAK_FAILURE_TIMEOUT_MS:-1000}
ACTORS=${SOAK_LOAD_ACTORS:-64}
WARMUP_S=${SOAK_WARMUP_SECONDS:-5}
NODE_LOG=${SOAK_NODE_LOG:-quiet}
TRANSIENT_THREADS=${SOAK_TRANSIENT_THREADS-mesh-extra}

usage() { echo "usage: scripts/soak.sh [MINUTES]   (see the comment at the top)" >&2; exit 2; }
for v in minutes L RSS_SLACK_KB RSS_FACTOR_PCT FD_SLACK THREAD_SLACK RECOVER_S QUIET_S CHANGE_S HEARTBEAT_MS \
         FAILURE_MS ACTORS WARMUP_S; do
  [[ ${!v} =~ ^[0-9]+$ ]] || { echo "soak: $v must be a whole number, not '${!v}'" >&2; usage; }
done
(( minutes >= 1 )) || usage
(( L >= 20 )) || { echo "soak: SOAK_MINUTE_SECONDS must be at least 20" >&2; exit 2; }

BASE=(n1 n2 n3)
VICTIM=n3
SLOTS=(n1 n2 n3 n4)

# ---------------------------------------------------------------- state
declare -A PID=() IN=() OUT=() LISTEN=() INC=() LOGF=()
declare -A LC=() LF=()                       # load counters of the current incarnation
declare -A CALLS=() KILLFAIL=()            # totals over all incarnations
declare -A MINCALLS=() PROGRESS=()          # calls this minute / since the last progress check
declare -A B_RSS=() B_FDS=() B_THR=() M_RSS=() M_FDS=() M_THR=() L_RSS=() L_FDS=() L_THR=()
declare -A X_THR=()                          # the most extra (transient) workers seen
declare -A UNREAPED=()  # processes this script started and has not reaped (only these are signalled)
OPEN_FDS=()          # our ends of the nodes' pipes (closed in every node we start)
IN_KILL_WINDOW=0
LAST_FAIL_MS=0
MIN_ROWS=()          # per-minute summary rows
FAILED=""
NAP_PID=""
work=""
T_START=${EPOCHREALTIME/[.,]/}

now() { local t=${EPOCHREALTIME/[.,]/}; NOW=$(( t / 1000 )); }     # milliseconds, into NOW
secs() { printf '%d.%02d' $(( $1 / 1000 )) $(( ($1 % 1000) / 10 )); }  # ms -> "1.23"
say() { printf '%s\n' "$*"; }

cleanup() {
  local p
  [[ -n $NAP_PID ]] && { kill "$NAP_PID"; wait "$NAP_PID"; } 2>/dev/null
  for p in "${!UNREAPED[@]}"; do { kill -KILL "$p"; wait "$p"; } 2>/dev/null; done
  if [[ -n $work && -d $work ]]; then
    if [[ ${SOAK_KEEP_STATE:-0} == 1 || -n $FAILED ]]; then
      say "soak: state and node logs kept in $work"
    else
      rm -rf "$work"
    fi
  fi
}
trap cleanup EXIT
trap 'FAILED="interrupted"; say "soak: interrupted"; exit 130' INT TERM HUP

# alive PID: running (not exited, not a zombie waiting to be reaped)
alive() {
  local st
  [[ -r /proc/$1/stat ]] && read -r st 2>/dev/null </proc/"$1"/stat || return 1
  st=${st##*) }
  [[ ${st:0:1} != Z && ${st:0:1} != X ]]
}

log_tails() {
  local s f
  for s in "${SLOTS[@]}"; do
    f=${LOGF[$s]:-}
    [[ -n $f && -s $f ]] || continue
    say "---- last lines of $s's log ($f):"
    tail -n 15 "$f" | sed 's/^/    /'
  done
}

die() {
  [[ -n $FAILED ]] && exit 1
  FAILED="$*"
  say ""
  say "soak: FAILED: $*"
  log_tails
  summary
  say "soak: FAILED: $*"
  exit 1
}

# ---------------------------------------------------------------- the binary
build_dir=${MESH_BUILD_DIR:-build}
src=${SOAK_BINARY:-$build_dir/tools/mesh_node}
if [[ ! -x $src && -z ${SOAK_BINARY:-} ]]; then
  [[ -f $build_dir/CMakeCache.txt ]] ||
    { echo "soak: $src is missing and $build_dir is not configured; run scripts/build.sh" >&2; exit 2; }
  say "soak: building mesh_node_program"
  cmake --build "$build_dir" --target mesh_node_program >/dev/null || { echo "soak: build failed" >&2; exit 2; }
fi
[[ -x $src ]] || { echo "soak: no node program at $src" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/mesh-soak.XXXXXX") || exit 2
bin=$work/mesh_node
cp "$src" "$bin" || die "cannot copy $src"
"$bin" --help >/dev/null 2>&1 || die "$bin does not run"
cookie="soak-$$-$RANDOM$RANDOM"

# ---------------------------------------------------------------- talking to nodes
# ask SLOT COMMAND [TIMEOUT_S]: one command line, one answer line (into ANSWER)
ask() {
  local s=$1 t=${3:-10}
  alive "${PID[$s]}" || die "$s (pid ${PID[$s]}) died unexpectedly (before '$2')"
  printf '%s\n' "$2" >&"${IN[$s]}" || die "cannot write to $s"
  if ! IFS= read -r -t "$t" -u "${OUT[$s]}" ANSWER; then
    alive "${PID[$s]}" || die "$s (pid ${PID[$s]}) died unexpectedly (during '$2')"
    die "$s did not answer '$2' within $t s"
  fi
}

# start_node SLOT SEED_SLOT...: starts SLOT (port 0) and reads its "ready NAME LISTEN"
start_node() {
  local s=$1; shift
  local n=$(( ${INC[$s]:-0} + 1 ))
  INC[$s]=$n
  local dir=$work/$s.$n
  if ! { mkdir "$dir" && mkfifo "$dir/in" "$dir/out"; }; then die "cannot make the pipes for $s"; fi
  LOGF[$s]=$dir/log
  local args=(--commands --name "$s" --listen 127.0.0.1:0 --cookie "$cookie" --capabilities game
              --heartbeat-ms "$HEARTBEAT_MS" --failure-timeout-ms "$FAILURE_MS")
  case $NODE_LOG in
    quiet) args+=(--quiet) ;;
    verbose) args+=(--verbose) ;;
  esac
  local seed
  for seed in "$@"; do args+=(--seed "${LISTEN[$seed]}"); done
  (
    for f in "${OPEN_FDS[@]}"; do exec {f}>&-; done   # the node must not hold other nodes' pipes
    exec "$bin" "${args[@]}" <"$dir/in" >"$dir/out" 2>"$dir/log"
  ) &
  PID[$s]=$!
  UNREAPED[$!]=1
  local fd_in fd_out
  exec {fd_in}<>"$dir/in" {fd_out}<>"$dir/out"   # read-write opens never block
  IN[$s]=$fd_in OUT[$s]=$fd_out
  OPEN_FDS+=("$fd_in" "$fd_out")
  LC[$s]=0 LF[$s]=0
  local line
  if ! IFS= read -r -t "$CHANGE_S" -u "$fd_out" line; then
    die "$s did not print 'ready' within $CHANGE_S s$(alive "${PID[$s]}" || echo ' (it exited)')"
  fi
  local words
  read -r -a words <<<"$line"
  [[ ${words[0]:-} == ready && ${words[1]:-} == "$s" && ${words[2]:-} == 127.0.0.1:* ]] ||
    die "$s started with '$line' (expected 'ready $s 127.0.0.1:PORT')"
  LISTEN[$s]=${words[2]}
}

# forget SLOT: closes our pipe ends of a node that has been reaped
forget() {
  local s=$1 fd_in=${IN[$1]} fd_out=${OUT[$1]} keep=() f
  exec {fd_in}>&- {fd_out}>&-
  for f in "${OPEN_FDS[@]}"; do [[ $f == "$fd_in" || $f == "$fd_out" ]] || keep+=("$f"); done
  OPEN_FDS=("${keep[@]}")
  PID[$s]=""
}

# wait_exit PID TIMEOUT_S: reaps PID once it exits (status into EXIT_STATUS); 1 on timeout
wait_exit() {
  local p=$1 i
  for (( i = 0; i < $2 * 20; i++ )); do
    if ! alive "$p"; then wait "$p" 2>/dev/null; EXIT_STATUS=$?; unset "UNREAPED[$p]"; return 0; fi
    sleep 0.05
  done
  return 1
}

# wait_nodes N TIMEOUT_S WHAT SLOT...: every SLOT must see N nodes with "game"
wait_nodes() {
  local n=$1 t=$2 what=$3 s; shift 3
  for s in "$@"; do
    ask "$s" "wait-nodes game $n $(( t * 1000 ))" $(( t + 5 ))
    [[ $ANSWER == ok ]] || die "$what: $s does not see $n nodes after $t s: $ANSWER"
  done
}

# poll_load SLOT PHASE: reads SLOT's load counters; failed calls are allowed only in a kill window
poll_load() {
  local s=$1 c f
  ask "$s" load
  [[ $ANSWER =~ \"calls\":([0-9]+) ]] || die "$s answered '$ANSWER' to 'load'"
  c=${BASH_REMATCH[1]}
  [[ $ANSWER =~ \"failures\":([0-9]+) ]] || die "$s answered '$ANSWER' to 'load'"
  f=${BASH_REMATCH[1]}
  local dc=$(( c - LC[$s] )) df=$(( f - LF[$s] ))
  LC[$s]=$c LF[$s]=$f
  CALLS[$s]=$(( ${CALLS[$s]:-0} + dc ))
  MINCALLS[$s]=$(( ${MINCALLS[$s]:-0} + dc ))
  PROGRESS[$s]=$(( ${PROGRESS[$s]:-0} + dc ))
  if (( df > 0 )); then
    if (( IN_KILL_WINDOW )); then
      KILLFAIL[$s]=$(( ${KILLFAIL[$s]:-0} + df ))
      now; LAST_FAIL_MS=$NOW
    else
      die "$df call(s) of $s's load failed $2 (outside a kill -9 window)"
    fi
  fi
}
poll_all() { local s; for s in "${BASE[@]}"; do poll_load "$s" "$1"; done; }

# ---------------------------------------------------------------- /proc figures
# sample SLOT...: each SLOT's RSS kB (the last reading), open fds and threads (the least) over
# SAMPLES readings SAMPLE_GAP s apart, into R_RSS R_FDS R_THR (by SLOT). Threads named
# $TRANSIENT_THREADS (the actor pool's extra workers, which it adds while the machine is too
# busy to drain its queues and retires after an idle second) are not counted in R_THR but in
# R_EXTRA (the most seen). The least, because a leaked fd or thread shows in every reading.
SAMPLES=5 SAMPLE_GAP=0.5 SAMPLE_MS=2500
declare -A R_RSS=() R_FDS=() R_THR=() R_EXTRA=()
sample() {
  local s p line i rss t comm extra
  for s in "$@"; do R_FDS[$s]="" R_THR[$s]="" R_EXTRA[$s]=0; done
  for (( i = 0; i < SAMPLES; i++ )); do
    (( i > 0 )) && nap "$SAMPLE_GAP"
    for s in "$@"; do
      p=${PID[$s]}
      alive "$p" || die "$s (pid $p) died unexpectedly"
      rss=""
      while read -r line; do
        [[ $line == VmRSS:* ]] && { line=${line#VmRSS:}; line=${line% kB}; rss=$(( line )); }
      done </proc/"$p"/status
      [[ -n $rss ]] || die "cannot read /proc/$p/status of $s"
      R_RSS[$s]=$rss
      local fd_list=(/proc/"$p"/fd/*) task_list=(/proc/"$p"/task/*)
      extra=0
      for t in "${task_list[@]}"; do
        comm=""; read -r comm 2>/dev/null <"$t/comm"
        # shellcheck disable=SC2053  # TRANSIENT_THREADS is a glob
        [[ -n $TRANSIENT_THREADS && $comm == $TRANSIENT_THREADS ]] && (( extra += 1 ))
      done
      (( extra > R_EXTRA[$s] )) && R_EXTRA[$s]=$extra
      [[ -z ${R_FDS[$s]} ]] || (( ${#fd_list[@]} < R_FDS[$s] )) && R_FDS[$s]=${#fd_list[@]}
      [[ -z ${R_THR[$s]} ]] || (( ${#task_list[@]} - extra < R_THR[$s] )) &&
        R_THR[$s]=$(( ${#task_list[@]} - extra ))
    done
  done
}
# thread_names SLOT: "3 mesh_node, 2 mesh-worker, ..." (for failure messages)
thread_names() {
  local p=${PID[$1]}
  cat /proc/"$p"/task/*/comm 2>/dev/null | sort | uniq -c | sort -rn |
    while read -r n name; do printf '%s %s, ' "$n" "$name"; done | sed 's/, $//'
}

# check SLOT LABEL EXTRA: prints one line for SLOT's figures (from sample) and checks them
# against its baseline
check() {
  local s=$1 label=$2 note=${3:-}
  local rss=${R_RSS[$s]} fds=${R_FDS[$s]} thr=${R_THR[$s]} extra=${R_EXTRA[$s]}
  if [[ -z ${B_RSS[$s]:-} ]]; then
    B_RSS[$s]=$rss B_FDS[$s]=$fds B_THR[$s]=$thr
    M_RSS[$s]=$rss M_FDS[$s]=$fds M_THR[$s]=$thr
  fi
  (( rss > M_RSS[$s] )) && M_RSS[$s]=$rss
  (( fds > M_FDS[$s] )) && M_FDS[$s]=$fds
  (( thr > M_THR[$s] )) && M_THR[$s]=$thr
  (( extra > ${X_THR[$s]:-0} )) && X_THR[$s]=$extra
  L_RSS[$s]=$rss L_FDS[$s]=$fds L_THR[$s]=$thr
  printf '  %-3s pid %-7s rss %7d kB  fds %3d  threads %3d + %d extra%s\n' "$s" "${PID[$s]}" \
    "$rss" "$fds" "$thr" "$extra" "$note"
  local rss_limit=$(( B_RSS[$s] * RSS_FACTOR_PCT / 100 )) fd_limit=$(( B_FDS[$s] + FD_SLACK ))
  local thr_limit=$(( B_THR[$s] + THREAD_SLACK ))
  (( B_RSS[$s] + RSS_SLACK_KB > rss_limit )) && rss_limit=$(( B_RSS[$s] + RSS_SLACK_KB ))
  (( rss <= rss_limit )) ||
    die "$s's RSS grew to $rss kB $label (baseline ${B_RSS[$s]} kB; limit max(baseline x $RSS_FACTOR_PCT%, baseline + $RSS_SLACK_KB kB) = $rss_limit kB)"
  (( fds <= fd_limit )) ||
    die "$s has $fds open fds $label (baseline ${B_FDS[$s]}; limit baseline + $FD_SLACK = $fd_limit)"
  (( thr <= thr_limit )) ||
    die "$s has $thr threads $label (baseline ${B_THR[$s]}; limit baseline + $THREAD_SLACK = $thr_limit; now: $(thread_names "$s"))"
}

# ---------------------------------------------------------------- summary
summary() {
  local s t=${EPOCHREALTIME/[.,]/} row kfcol cols
  say ""
  say "summary: $minutes minute(s) of $L s, ran $(( (t - T_START) / 1000000 )) s"
  printf '  %-4s %-5s %-26s %-17s %-17s %5s %11s %10s\n' node procs "rss kB base/max/last" \
    "fds base/max/last" "thr base/max/last" extra calls "kill-fails"
  for s in "${SLOTS[@]}"; do
    [[ -n ${B_RSS[$s]:-} ]] || continue
    kfcol=${KILLFAIL[$s]:-0}; [[ $s == n4 ]] && kfcol=-
    printf '  %-4s %-5s %-26s %-17s %-17s %5s %11s %10s\n' "$s" "${INC[$s]:-0}" \
      "${B_RSS[$s]}/${M_RSS[$s]}/${L_RSS[$s]}" "${B_FDS[$s]}/${M_FDS[$s]}/${L_FDS[$s]}" \
      "${B_THR[$s]}/${M_THR[$s]}/${L_THR[$s]}" "${X_THR[$s]:-0}" "${CALLS[$s]:--}" "$kfcol"
  done
  if (( ${#MIN_ROWS[@]} )); then
    printf '  %-6s %7s %8s %14s %12s %15s %11s\n' minute "join s" "leave s" "kill: detect s" \
      "restart s" "last failure s" "kill-fails"
    for row in "${MIN_ROWS[@]}"; do
      read -r -a cols <<<"$row"
      printf '  %-6s %7s %8s %14s %12s %15s %11s\n' "${cols[@]}"
    done
  fi
}

# ---------------------------------------------------------------- the soak
# nap SECONDS: a sleep that a trapped signal (TERM from a CI timeout) interrupts at once
nap() { sleep "$1" & NAP_PID=$!; wait "$NAP_PID"; NAP_PID=""; }
sleep_until() {   # sleep_until MS (absolute, as from now)
  now
  (( $1 > NOW )) && nap "$(secs $(( $1 - NOW )))"
  return 0
}
# at MS: prints the "[+12.34s] " prefix of an event that started at MS (offset in the minute)
at() { printf '  [+%5ss] ' "$(secs $(( $1 - M0 )))"; }

say "soak: $minutes minute(s) of $L s; nodes n1 n2 n3 on 127.0.0.1 (ephemeral ports), load of $ACTORS GameActors from each"
say "soak: each minute: n4 joins at +$(( L * 10 / 60 ))s, leaves (SIGTERM) at +$(( L * 25 / 60 ))s; kill -9 and restart of $VICTIM at +$(( L * 40 / 60 ))s"
say "soak: limits: rss <= max(base x $RSS_FACTOR_PCT%, base + $RSS_SLACK_KB kB), fds <= base + $FD_SLACK, threads <= base + $THREAD_SLACK; recovery within $RECOVER_S s of a kill -9"
say "soak: binary $src (run from $work), heartbeat $HEARTBEAT_MS ms, failure timeout $FAILURE_MS ms"

now; M0=$NOW
start_node n1
start_node n2 n1
start_node n3 n1
wait_nodes 3 "$CHANGE_S" "forming the cluster" "${BASE[@]}"
for s in "${BASE[@]}"; do
  ask "$s" "load start soak-$s- $ACTORS"
  [[ $ANSWER == ok ]] || die "load start on $s: $ANSWER"
done
now; at "$NOW"; say "cluster up: n1 ${LISTEN[n1]}, n2 ${LISTEN[n2]}, n3 ${LISTEN[n3]}; load running"
nap "$WARMUP_S"
poll_all "while warming up"
say "minute 0 (baseline, after ${WARMUP_S}s of load)"
sample "${BASE[@]}"
for s in "${BASE[@]}"; do check "$s" "at the baseline" "  calls ${MINCALLS[$s]}"; MINCALLS[$s]=0; done

for (( m = 1; m <= minutes; m++ )); do
  now; M0=$NOW
  say "minute $m"
  kf0=0; for s in "${BASE[@]}"; do kf0=$(( kf0 + ${KILLFAIL[$s]:-0} )); done

  # join: n4 through a base node (rotating), seen by every node, and able to call
  sleep_until $(( M0 + L * 1000 * 10 / 60 ))
  poll_all "before n4 joined"
  seed=${BASE[$(( (m - 1) % 3 ))]}
  now; t0=$NOW
  start_node n4 "$seed"
  wait_nodes 4 "$CHANGE_S" "n4 joining" n1 n2 n3 n4
  now; join_ms=$(( NOW - t0 ))
  ask n4 "call GameActor soak-probe-$m game {\"action\":\"increment_score\"}"
  [[ $ANSWER == ok\ * ]] || die "n4 joining: a call from n4 failed: $ANSWER"
  probe=${ANSWER#ok }
  poll_all "while n4 joined"
  at "$t0"; say "join: n4 (pid ${PID[n4]}, seed $seed) seen by all 4 nodes after $(secs $join_ms)s; a call from n4: $probe"

  # graceful leave of n4
  sleep_until $(( M0 + L * 1000 * 25 / 60 - SAMPLE_MS ))
  sample n4
  check n4 "while a member" "  (joined minute $m)"
  sleep_until $(( M0 + L * 1000 * 25 / 60 ))
  poll_all "while n4 was a member"
  now; t0=$NOW
  kill -TERM "${PID[n4]}"
  wait_exit "${PID[n4]}" "$CHANGE_S" || die "n4's graceful leave: still running $CHANGE_S s after SIGTERM"
  (( EXIT_STATUS == 0 )) || die "n4's graceful leave: it exited with status $EXIT_STATUS"
  forget n4
  wait_nodes 3 "$CHANGE_S" "n4 leaving" "${BASE[@]}"
  now; leave_ms=$(( NOW - t0 ))
  poll_all "while n4 left gracefully"
  at "$t0"; say "leave: n4 SIGTERM -> exit 0; 3 nodes everywhere after $(secs $leave_ms)s"

  # kill -9 of n3, restart with the same name; calls may fail only until the cluster recovers
  sleep_until $(( M0 + L * 1000 * 40 / 60 ))
  poll_all "before $VICTIM was killed"
  victim_pid=${PID[$VICTIM]}
  IN_KILL_WINDOW=1
  now; KILL_MS=$NOW LAST_FAIL_MS=0
  { kill -KILL "$victim_pid"; wait "$victim_pid"; } 2>/dev/null
  unset "UNREAPED[$victim_pid]"
  forget "$VICTIM"
  survivors=(); for s in "${BASE[@]}"; do [[ $s == "$VICTIM" ]] || survivors+=("$s"); done
  wait_nodes 2 "$RECOVER_S" "after kill -9 of $VICTIM" "${survivors[@]}"
  now; detect_ms=$(( NOW - KILL_MS ))
  for s in "${survivors[@]}"; do poll_load "$s" "after the kill -9 of $VICTIM"; done
  start_node "$VICTIM" "${survivors[@]}"
  wait_nodes 3 "$CHANGE_S" "restarting $VICTIM" "${BASE[@]}"
  ask "$VICTIM" "load start soak-$VICTIM- $ACTORS"
  [[ $ANSWER == ok ]] || die "load start on the restarted $VICTIM: $ANSWER"
  now; BACK_MS=$NOW rejoin_ms=$(( NOW - KILL_MS ))
  for s in "${BASE[@]}"; do PROGRESS[$s]=0; done
  # recovered: every node back, and no failed call for QUIET_S s while every node made calls
  while :; do
    poll_all "after the kill -9 of $VICTIM"
    now
    (( LAST_FAIL_MS > 0 && LAST_FAIL_MS - KILL_MS > RECOVER_S * 1000 )) &&
      die "the cluster did not recover: calls still failed $(secs $(( LAST_FAIL_MS - KILL_MS )))s after the kill -9 of $VICTIM (limit $RECOVER_S s)"
    quiet_from=$(( LAST_FAIL_MS > BACK_MS ? LAST_FAIL_MS : BACK_MS ))
    if (( NOW - quiet_from >= QUIET_S * 1000 )); then
      ok=1; for s in "${BASE[@]}"; do (( PROGRESS[$s] > 0 )) || ok=0; done
      (( ok )) && break
    fi
    (( NOW - KILL_MS > (RECOVER_S + QUIET_S + CHANGE_S) * 1000 )) &&
      die "the cluster did not recover within $(( RECOVER_S + QUIET_S + CHANGE_S )) s of the kill -9 of $VICTIM (calls are not progressing)"
    nap 0.25
  done
  IN_KILL_WINDOW=0
  kf=0; for s in "${BASE[@]}"; do kf=$(( kf + ${KILLFAIL[$s]:-0} )); done
  kf=$(( kf - kf0 ))
  last_fail="no call failed"
  (( LAST_FAIL_MS > 0 )) && last_fail="$kf call(s) failed, the last seen $(secs $(( LAST_FAIL_MS - KILL_MS )))s after the kill"
  at "$KILL_MS"; say "kill -9: $VICTIM (pid $victim_pid) seen dead by the others after $(secs $detect_ms)s; restarted (pid ${PID[$VICTIM]}) and back in every view after $(secs $rejoin_ms)s; $last_fail"
  ask "$VICTIM" "call GameActor soak-probe-$m game {\"action\":\"increment_score\"}"
  [[ $ANSWER == ok\ * ]] || die "a call from the restarted $VICTIM failed: $ANSWER"

  # end of the minute: steady state, figures
  for s in "${BASE[@]}"; do PROGRESS[$s]=0; done
  sleep_until $(( M0 + L * 1000 - SAMPLE_MS ))
  poll_all "in steady state after the cycle"
  sample "${BASE[@]}"
  wait_nodes 3 2 "end of minute $m" "${BASE[@]}"
  for s in "${BASE[@]}"; do
    (( PROGRESS[$s] > 0 )) || die "$s's load made no calls since the cluster recovered in minute $m"
    check "$s" "after minute $m" "  calls +${MINCALLS[$s]}"
    MINCALLS[$s]=0
  done
  lf=-; (( LAST_FAIL_MS > 0 )) && lf=$(secs $(( LAST_FAIL_MS - KILL_MS )))
  MIN_ROWS+=("$m $(secs $join_ms) $(secs $leave_ms) $(secs $detect_ms) $(secs $rejoin_ms) $lf $kf")
done

# stop: the load first (a node must not be destroyed under its load thread), then SIGTERM
for s in "${BASE[@]}"; do
  ask "$s" "load stop" 30
  [[ $ANSWER =~ \"calls\":([0-9]+) ]] || die "load stop on $s: ${ANSWER:0:200}"
  CALLS[$s]=$(( ${CALLS[$s]:-0} + BASH_REMATCH[1] - LC[$s] ))
done
for s in "${BASE[@]}"; do kill -TERM "${PID[$s]}"; done
for s in "${BASE[@]}"; do
  wait_exit "${PID[$s]}" "$CHANGE_S" || die "$s still running $CHANGE_S s after SIGTERM"
  (( EXIT_STATUS == 0 )) || die "$s exited with status $EXIT_STATUS on SIGTERM"
done
summary
say "soak: PASSED"
