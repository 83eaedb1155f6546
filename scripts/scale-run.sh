#!/usr/bin/env bash
# scripts/scale-run.sh - a wide run on one machine: `disagg-supervisor run --local` with GEN and CTX
# servers of one node x RANKS ranks each (default 64 + 64 x 8 = 1,024 task processes, each with its
# command: `sleep`), a DISAGG_SERVER and a BENCHMARK that sleep too; every task started, a steady
# window, then one rank's command killed (SIGKILL, from outside), which the supervisor must find and
# answer with a teardown of everything. Prints, as medians over the runs:
#   launch       the first step's launch to the last step with all its tasks started (supervisor events)
#   detect       the kill to the supervisor's result event
#   teardown     the result to the done event (every step ended)
#   total        the supervisor's start to its exit
#   cpu          the supervisor's own CPU time (user+sys, without its children) over the whole run,
#                and its share of a core in the steady window
#   rss          the supervisor's peak resident set (VmHWM)
# and, from one more run per --fsops under `strace -f --seccomp-bpf -e trace=%file,getdents64` (which
# slows the file calls, so its times are not reported), file-system calls under the workspace (the job's
# shared file system: coordination directory, logs, summary) per second in each phase.
# KEEP=1 keeps the work directory (traces, workspaces). The supervisor's /proc/PID/stat and status
# are sampled every 0.1 s; its CPU and peak RSS are the last sample's, up to 0.1 s before its exit.
#
#   scripts/scale-run.sh [--runs N] [--fsops N] [--gen N] [--ctx N] [--ranks N] [--steady SECONDS] [REV|worktree]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
runs=5 fsops=1 gen=64 ctx=64 ranks=8 steady=5 rev=worktree
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift ;;
    --fsops) fsops=$2; shift ;;
    --gen) gen=$2; shift ;;
    --ctx) ctx=$2; shift ;;
    --ranks) ranks=$2; shift ;;
    --steady) steady=$2; shift ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "scale-run.sh: unknown option $1" >&2; exit 2 ;;
    *) rev=$1 ;;
  esac
  shift
done
if [ "$fsops" -gt 0 ] && ! command -v strace >/dev/null; then
  echo "scale-run.sh: --fsops needs strace (apt-get install strace)" >&2; exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/scale-run.XXXXXX")
sup=
cleanup() {
  [ -n "$sup" ] && kill -TERM "$sup" 2>/dev/null && wait "$sup" 2>/dev/null
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "scale-run.sh: a command failed at line $LINENO" >&2' ERR

bin=$work/disagg-supervisor
if [ "$rev" = worktree ]; then
  CGO_ENABLED=0 go build -o "$bin" ./cmd/disagg-supervisor
else
  mkdir -p "$work/src"
  git archive "$rev" | tar -x -C "$work/src"
  (cd "$work/src" && CGO_ENABLED=0 go build -o "$bin" ./cmd/disagg-supervisor)
fi

servers=$((gen + ctx))
tasks=$((servers * ranks))
steps=$((servers + 2))
victim=GEN_$((gen / 2))
victimRank=$((ranks / 2))
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
now() { date +%s.%N; }
# event TYPE FILE [last]: the time (epoch seconds) of the first (or last) event of TYPE.
event() {
  local t
  t=$(grep "\"event\":\"$1\"" "$2" | { if [ "${3:-}" = last ]; then tail -n 1; else head -n 1; fi; } |
    sed 's/.*"time":"\([^"]*\)".*/\1/') || true
  [ -n "$t" ] || { echo "scale-run.sh: no $1 event in $2" >&2; return 1; }
  date -d "$t" +%s.%N
}

# one N [strace]: one run; appends "launch detect teardown total cpu steadycpu rss" to $work/times,
# or, under strace, "launch steady teardown" file calls per second to $work/fsops.
one() {
  local n=$1 traced=${2:-} ws=$work/ws.$1 samples=$work/samples.$1
  mkdir -p "$ws"
  local cmd=("$bin" run --local --nodes "$servers" --gpus-per-node "$ranks"
    --num-gen "$gen" --num-ctx "$ctx" --nodes-per-gen 1 --nodes-per-ctx 1
    --gpus-per-node-per-gen "$ranks" --gpus-per-node-per-ctx "$ranks"
    --gen-command 'sleep 600' --ctx-command 'sleep 600' --server-command 'sleep 600'
    --benchmark-command 'sleep 600' --workspace "$ws" --launch-gate never --grace 5s
    --no-task-ld-library-path)
  local t0 pid
  t0=$(now)
  if [ -n "$traced" ]; then
    strace -f --seccomp-bpf -qq -ttt -e trace=%file,getdents64 -o "$work/trace.$n" "${cmd[@]}" > "$ws/console" 2>&1 &
    sup=$!
    until pid=$(pgrep -P "$sup" -x disagg-supervis); do sleep 0.01; done
  else
    "${cmd[@]}" > "$ws/console" 2>&1 &
    sup=$! pid=$!
  fi
  : > "$samples"
  (
    while [ -r "/proc/$pid/stat" ]; do
      # time utime stime (clock ticks) VmHWM VmRSS (kB)
      s=$(cut -d' ' -f14,15 "/proc/$pid/stat" 2>/dev/null) || break
      m=$(awk '/^VmHWM|^VmRSS/ {printf "%s ", $2}' "/proc/$pid/status" 2>/dev/null) || break
      echo "$(now) $s $m" >> "$samples"
      sleep 0.1
    done
  ) &
  local sampler=$!
  local events=$ws/supervisor.events.jsonl
  until [ -f "$events" ] && [ "$(grep -c '"event":"running"' "$events")" -ge "$steps" ]; do
    if ! kill -0 "$pid" 2>/dev/null; then echo "scale-run.sh: run $n ended before every task started:" >&2; tail -n 20 "$ws/console" >&2; exit 1; fi
    sleep 0.1
  done
  local s0 s1
  s0=$(now)
  sleep "$steady"
  s1=$(now)
  local task child
  task=$(grep -o 'pid=[0-9]*' "$ws"/.disagg-supervisor/runs/*/started/"$victim"/"$victimRank" | cut -d= -f2) ||
    { echo "scale-run.sh: run $n: no start marker of $victim rank $victimRank" >&2; exit 1; }
  child=$(pgrep -P "$task" | head -n 1) || true
  [ -n "$child" ] || { echo "scale-run.sh: run $n: task $task ($victim rank $victimRank) has no command running" >&2; exit 1; }
  local tfail
  tfail=$(now)
  kill -KILL "$child"
  local code=0
  wait "$sup" || code=$?
  sup=
  wait "$sampler" || true
  local tend
  tend=$(now)
  # A run through a failure ends with the role's failure code (3), not 0.
  if [ "$code" -eq 0 ] || ! grep -q "$victim" "$ws/summary.json"; then
    echo "scale-run.sh: run $n ended $code without naming $victim:" >&2; tail -n 20 "$ws/console" >&2; exit 1
  fi
  local launch running result done
  launch=$(event launch "$events") && running=$(event running "$events" last) &&
    result=$(event result "$events") && done=$(event done "$events") || exit 1
  if [ -n "$traced" ]; then
    # Calls on paths under the workspace, and directory reads (all of them the workspace's here), per
    # second of each phase; strace -f writes an interrupted call as two lines, counted once.
    awk -v ws="$ws" -v l0="$launch" -v l1="$running" -v s0="$s0" -v s1="$s1" -v t0="$tfail" -v t1="$done" '
      !/resumed>/ && !/^[0-9]+ +[0-9.]+ ---/ && (index($0, ws) || /getdents64/) {
        t = $2 + 0
        if (t >= l0 && t < l1) l++
        if (t >= s0 && t < s1) s++
        if (t >= t0 && t < t1) d++ }
      END { printf "%.0f %.0f %.0f %d %d %d %.3f %.3f\n", l / (l1 - l0), s / (s1 - s0), d / (t1 - t0), l, s, d, l1 - l0, t1 - t0 }' \
      "$work/trace.$n" >> "$work/fsops"
    return
  fi
  awk -v hz=100 -v s0="$s0" -v s1="$s1" '
    # A sample taken as the process exits can lack the memory fields: the peak is the highest seen.
    { t[NR] = $1; cpu[NR] = ($2 + $3) / hz; if ($4 + 0 > hwm) hwm = $4 + 0 }
    $1 <= s0 { a = NR } $1 <= s1 { b = NR }
    END { printf "%.3f %.1f %d\n", cpu[NR], 100 * (cpu[b] - cpu[a]) / (t[b] - t[a]), hwm / 1024 }' "$samples" > "$work/cpu.$n"
  echo "$(awk -v a="$launch" -v b="$running" -v f="$tfail" -v r="$result" -v d="$done" -v s="$t0" -v e="$tend" \
    'BEGIN { printf "%.3f %.3f %.3f %.3f", b - a, r - f, d - r, e - s }') $(cat "$work/cpu.$n")" >> "$work/times"
}

for n in $(seq "$runs"); do
  one "$n"
  echo "run $n: $(tail -n 1 "$work/times")" >&2
  [ -n "${KEEP:-}" ] || rm -rf "$work/ws.$n"
done
for n in $(seq "$fsops"); do
  one "f$n" traced
  echo "traced run $n: $(tail -n 1 "$work/fsops")" >&2
  [ -n "${KEEP:-}" ] || rm -rf "$work/ws.f$n" "$work/trace.f$n"
done

col() { cut -d' ' -f"$1" "$work/$2" | median; }
all() { cut -d' ' -f"$1" "$work/$2" | paste -sd, -; }
printf '%s: %d servers (%d GEN, %d CTX) x %d ranks = %d task processes (+ %d commands), %d steps; median of %d runs\n' \
  "$rev" "$servers" "$gen" "$ctx" "$ranks" "$tasks" "$tasks" "$steps" "$runs"
printf '  launch (first launch to every task started): %s s (%s)\n' "$(col 1 times)" "$(all 1 times)"
printf '  failure found (SIGKILL of %s rank %d to the result): %s s (%s)\n' "$victim" "$victimRank" "$(col 2 times)" "$(all 2 times)"
printf '  teardown (result to every step ended): %s s (%s)\n' "$(col 3 times)" "$(all 3 times)"
printf '  total (supervisor start to exit, with %s s steady): %s s (%s)\n' "$steady" "$(col 4 times)" "$(all 4 times)"
printf '  supervisor CPU, whole run: %s s (%s); in the steady window: %s%% of a core (%s)\n' \
  "$(col 5 times)" "$(all 5 times)" "$(col 6 times)" "$(all 6 times)"
printf '  supervisor peak RSS: %s MiB (%s)\n' "$(col 7 times)" "$(all 7 times)"
if [ "$fsops" -gt 0 ]; then
  printf '  file-system calls under the workspace per second, under strace (%d runs): launch %s (%s), steady %s (%s), failure to end %s (%s)\n' \
    "$fsops" "$(col 1 fsops)" "$(all 1 fsops)" "$(col 2 fsops)" "$(all 2 fsops)" "$(col 3 fsops)" "$(all 3 fsops)"
  printf '  file-system calls in all: launch %s (%s per task; in %s s under strace), steady %s in %s s, failure to end %s (%s per task; in %s s under strace)\n' \
    "$(col 4 fsops)" "$(col 4 fsops | awk -v t="$tasks" '{printf "%.1f", $1 / t}')" "$(col 7 fsops)" \
    "$(col 5 fsops)" "$steady" "$(col 6 fsops)" "$(col 6 fsops | awk -v t="$tasks" '{printf "%.1f", $1 / t}')" "$(col 8 fsops)"
fi
