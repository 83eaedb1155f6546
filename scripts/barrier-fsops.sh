#!/usr/bin/env bash
# scripts/barrier-fsops.sh - what the task runner's barrier asks of the file system: one fake srun step
# of 64 ranks on 8 fake nodes (`disagg-supervisor srun -N8 -n64 ... disagg-supervisor task`), the last
# rank 3 s late (its --task-setup sleeps), every other rank waiting at the barrier, under
# `strace -f -e trace=%file,getdents64`. Prints, for each git revision given (default: main and the
# working tree), the median over the runs of: calls on the coordination directory per waiting rank per second in
# the 1.4 s before the late rank arrives (every other rank is waiting then), the release delay
# (the last arrival to the first command start) and the spread of command starts. The revisions' runs
# alternate, so that a load that comes and goes weighs on each alike. --no-strace measures the delays
# without strace, which slows every call of the 64 ranks (the calls are then not counted).
#
#   scripts/barrier-fsops.sh [--runs N] [--no-strace] [REV|worktree ...]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
runs=3
trace=1
revs=()
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift ;;
    --no-strace) trace=0 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) revs+=("$1") ;;
  esac
  shift
done
[ ${#revs[@]} -gt 0 ] || revs=(main worktree)
[ "$trace" = 0 ] || command -v strace >/dev/null || { echo "barrier-fsops.sh: needs strace (apt-get install strace)" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/barrier-fsops.XXXXXX")
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

for i in "${!revs[@]}"; do
  rev=${revs[$i]}
  bin=$work/$i.bin
  if [ "$rev" = worktree ]; then
    CGO_ENABLED=0 go build -o "$bin" ./cmd/disagg-supervisor
  else
    src=$work/$i.src
    mkdir -p "$src"
    git archive "$rev" | tar -x -C "$src"
    (cd "$src" && CGO_ENABLED=0 go build -o "$bin" ./cmd/disagg-supervisor)
  fi
done
for run in $(seq "$runs"); do
  for i in "${!revs[@]}"; do
    rev=${revs[$i]}
    bin=$work/$i.bin
    tracer=()
    [ "$trace" = 0 ] || tracer=(strace -f -qq -ttt -e trace=%file,getdents64 -o "$work/$i.$run/trace")
    d=$work/$i.$run
    mkdir -p "$d/out" "$d/coord" "$d/slurm"
    printf 'if [ "$SLURM_PROCID" = 63 ]; then sleep 3; date +%%s.%%N > %s/late; fi\n' "$d/out" > "$d/setup.sh"
    env -i PATH="$PATH" HOME="$HOME" SLURM_JOB_ID=$((700 + run)) SLURM_JOB_NODELIST='node[1-8]' \
      DISAGG_FAKE_SLURM_DIR="$d/slurm" pytestCommand="date +%s.%N > $d/out/rank\$SLURM_PROCID" \
      "${tracer[@]}" "$bin" srun -N8 -n64 --ntasks-per-node=8 "$bin" task --role=GEN_0 --coord-dir="$d/coord" \
      --env-dump=false --ld-library-path=false --setup "$d/setup.sh" > "$d/log" 2>&1 || {
        echo "barrier-fsops.sh: $rev run $run failed:" >&2; tail -n 20 "$d/log" >&2; exit 1; }
    late=$(cat "$d/out/late")
    cat "$d/out"/rank* | sort -g | awk -v late="$late" 'NR == 1 { first = $1 } { last = $1 }
      END { printf "%.0f %.0f\n", (first - late) * 1000, (last - first) * 1000 }' >> "$work/$i.times"
    [ "$trace" = 1 ] || continue
    # The calls on the coordination directory (the job's shared file system: paths under it, and the
    # directory reads, all of which are of it here) in the 1.4 s before the late rank's arrival, when
    # every other rank waits; strace -f writes an interrupted call as two lines, counted once.
    awk -v late="$late" -v coord="$d/coord" -v waiting=63 '
      !/resumed>/ && !/^[0-9]+ +[0-9.]+ ---/ && (index($0, coord) || /getdents64/) {
        t = $2 + 0; if (t >= late - 1.5 && t < late - 0.1) n++ }
      END { printf "%.2f\n", n / waiting / 1.4 }' "$d/trace" >> "$work/$i.ops"
  done
done
for i in "${!revs[@]}"; do
  calls="not counted (--no-strace)"
  if [ "$trace" = 1 ]; then
    calls="$(median < "$work/$i.ops") fs calls per waiting rank per second (samples: $(paste -sd, "$work/$i.ops"))"
  fi
  delay=$(cut -d' ' -f1 "$work/$i.times" | median)
  spread=$(cut -d' ' -f2 "$work/$i.times" | median)
  printf '%-10s runs %d: %s; release %s ms after the last arrival (%s); command starts spread over %s ms\n' \
    "${revs[$i]}" "$runs" "$calls" "$delay" "$(cut -d' ' -f1 "$work/$i.times" | paste -sd, -)" "$spread"
done
