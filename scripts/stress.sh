#!/usr/bin/env bash
# scripts/stress.sh - the failure scenarios under load: runs the Slurm integration scenarios and the
# local failure scenarios N times each while K busy loops keep every core busy, prints each
# scenario's pass count (e.g. "TestScancel 20/20") and the first failure message of every failing
# run, writes bench/stress.json and renders BENCHMARKS.md again (its "Under load" section comes from
# bench/stress.json; the benchmark figures stay as bench/results.json has them). Exits 1 if any
# scenario failed any run. Run on demand, not in CI; with the default N, well over an hour.
#
#   scripts/stress.sh [-n N] [--only local|slurm] [--load K]
#
#   -n N          runs of each scenario (default 20)
#   --only local  only the local scenarios: no cluster needed
#   --only slurm  only the Slurm scenarios
#   --load K      busy loops (`yes > /dev/null`) during the runs (default: nproc; 0: none)
#
# Everything is built once, before the load starts: the disagg-supervisor binary (CGO_ENABLED=0) and
# the test binaries of ./supervisor and ./integration (go test -c; the integration binary still builds
# its own disagg-supervisor once in TestMain). Local part: the local process-level scenarios named below,
# from integration/local_*_test.go (the fake srun, no cluster; -test.count N), then
# `disagg-supervisor demo --fail SPEC` N times for each SPEC, judged by its exit code and summary.json.
# Loop part (with the local part): the supervisor package's decision tables named below (-test.count N).
# Slurm part: every other Test* of integration/ (-test.count N) against the dev cluster, which it starts
# (scripts/slurm-dev-cluster.sh up, needs root); without a cluster those scenarios fail. The logs are
# kept, and their directory printed, when anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

n=20
only=""
load=$(nproc)
args=("$@")
while [ $# -gt 0 ]; do
  case $1 in
    -n) n=${2:?-n needs a number}; shift ;;
    -n*) n=${1#-n} ;;
    --only) only=${2:?--only needs local or slurm}; shift ;;
    --only=*) only=${1#--only=} ;;
    --load) load=${2:?--load needs a number}; shift ;;
    --load=*) load=${1#--load=} ;;
    -h|--help) usage; exit 0 ;;
    *) echo "stress.sh: unknown argument $1 (see -h)" >&2; exit 2 ;;
  esac
  shift
done
case $n in '' | *[!0-9]* | 0) echo "stress.sh: -n wants a positive number, not $n" >&2; exit 2 ;; esac
case $load in '' | *[!0-9]*) echo "stress.sh: --load wants a number, not $load" >&2; exit 2 ;; esac
case $only in '' | local | slurm) ;; *) echo "stress.sh: --only wants local or slurm, not $only" >&2; exit 2 ;; esac

# The local process-level scenarios of integration/local_*_test.go (real processes, the fake srun, no
# cluster); a name this tree does not have yet simply does not run.
local_tests=(TestFailures TestSignals TestIgnoredSIGTERMIsReported TestLocalKillWaitBoundsTeardown
  TestRecordSurvivesSIGKILLAfterDecision)
# The pre-flight phase's real steps with the toy precheck; hangs and sick servers (exit 85 within each
# detector's bound); the aggregated test's real steps with the toy's SERVER.
local_tests+=(TestPrecheckProcesses TestHangsEndTheRun TestAggregatedProcesses)
# The supervisor package's decision tables with fake steps (the main loop's, the pre-flight phase's, the
# hang detectors', the aggregated test's); a name this tree does not have yet simply does not run.
loop_tests=(TestLoopDecisions TestPrecheckFailure TestPrecheckTimeout TestLoopHangDecisions TestLoopAggregated)
# The demo runs: --fail SPEC ("-" for none), the exit code it must end with, and what summary.json must
# say (failure.role, or state for the run without a failure).
demo_runs=(
  "GEN_0:1:3 3 role=GEN_0"
  "CTX_0:1:kill 137 role=CTX_0"
  "DISAGG_SERVER:0:0 84 role=DISAGG_SERVER"
  "BENCHMARK:0:7 7 role=BENCHMARK"
  "- 0 state=succeeded"
)
# The demo's router has a liveness check: a hung or sick router ends the run with exit 85.
demo_runs+=(
  "DISAGG_SERVER:0:hang 85 role=DISAGG_SERVER"
  "DISAGG_SERVER:0:noworkers 85 role=DISAGG_SERVER"
)
# A demo run takes seconds; one still running after this long is a failure (timeout's exit 124).
demo_limit=300

work=$(mktemp -d "${TMPDIR:-/tmp}/disagg-stress.XXXXXX")
raw="$work/raw"
mkdir -p "$raw" "$work/demo"
load_pids=()

stop_load() {
  if [ "${#load_pids[@]}" -gt 0 ]; then
    kill "${load_pids[@]}" 2>/dev/null || true
    wait "${load_pids[@]}" 2>/dev/null || true
    load_pids=()
  fi
}
keep_work=0
child=""
# shellcheck disable=SC2317 # called by the EXIT trap, which shellcheck does not follow
cleanup() {
  # A test binary still running when the script is stopped goes too (its TestMain removes nothing then).
  if [ -n "$child" ]; then kill "$child" 2>/dev/null || true; fi
  stop_load
  if [ "$keep_work" = 1 ]; then
    echo "stress.sh: logs kept in $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
# An interrupted run keeps its logs; the EXIT trap then stops the load.
trap 'keep_work=1; exit 130' INT
trap 'keep_work=1; exit 143' TERM

echo "== build" >&2
CGO_ENABLED=0 go build -o "$work/disagg-supervisor" ./cmd/disagg-supervisor
CGO_ENABLED=0 go build -o "$work/disagg-bench" ./cmd/disagg-bench
if [ "$only" != slurm ]; then go test -c -o "$work/supervisor.test" ./supervisor; fi
go test -c -o "$work/integration.test" ./integration

if [ "$only" != local ]; then
  echo "== slurm dev cluster" >&2
  if line=$(scripts/slurm-dev-cluster.sh up | tail -n 1); then
    eval "$line"
  else
    echo "stress.sh: the dev cluster did not come up; the Slurm scenarios will fail" >&2
  fi
  # A missing cluster is a failure of every scenario here, never a skip.
  export DISAGG_REQUIRE_SLURM=1
  unset DISAGG_SKIP_SLURM
fi

if [ "$load" -gt 0 ]; then
  echo "== load: $load busy loops (yes > /dev/null)" >&2
  for ((i = 0; i < load; i++)); do
    yes > /dev/null &
    load_pids+=("$!")
  done
fi

# gotest PART DIR BINARY ARGS...: runs a test binary from its package directory (tests read
# testdata/ and build ../cmd/...), keeps its output in $raw/PART.log and its status in PART.exit,
# and shows each test's result as it comes. The binary runs in the background and the script waits
# for it, so that a TERM reaches the trap at once instead of after the last of N runs.
gotest() {
  local part=$1 dir=$2 bin=$3 status=0 progress
  shift 3
  (cd "$dir" && pwd) > "$raw/$part.src"
  # The log exists before tail looks for it.
  : > "$raw/$part.log"
  (cd "$dir" && exec "$bin" -test.v -test.count "$n" "$@") > "$raw/$part.log" 2>&1 &
  child=$!
  # tail ends within a second of the binary.
  tail -n +1 -f --pid="$child" "$raw/$part.log" | grep --line-buffered -E '^(--- |    --- FAIL|panic: )' >&2 &
  progress=$!
  wait "$child" || status=$?
  child=""
  wait "$progress" || true
  echo "$status" > "$raw/$part.exit"
}

if [ "$only" = slurm ]; then
  echo "--only slurm" > "$raw/local.skipped"
  echo "--only slurm" > "$raw/loop.skipped"
else
  echo "== loop: supervisor decision tables, $n runs" >&2
  start=$SECONDS
  printf '%s\n' "${loop_tests[@]}" > "$raw/loop.optional"
  regex=$(IFS='|'; echo "^(${loop_tests[*]})\$")
  gotest loop supervisor "$work/supervisor.test" -test.run "$regex" -test.timeout "$((n + 10))m"
  echo "$((SECONDS - start))" > "$raw/loop.seconds"

  echo "== local: process-level scenarios (integration/local_*_test.go), $n runs" >&2
  start=$SECONDS
  printf '%s\n' "${local_tests[@]}" > "$raw/local.optional"
  regex=$(IFS='|'; echo "^(${local_tests[*]})\$")
  gotest local integration "$work/integration.test" -test.run "$regex" -test.timeout "$((n * 10 + 10))m"

  echo "== local: disagg-supervisor demo, $n runs of each" >&2
  for ((i = 1; i <= n; i++)); do
    for entry in "${demo_runs[@]}"; do
      read -r spec code want <<< "$entry"
      name="demo"
      fail=()
      if [ "$spec" != - ]; then
        name="demo --fail $spec"
        fail=(--fail "$spec")
      fi
      ws="$work/demo/$i-${spec//:/_}"
      set +e
      timeout -k 10 "$demo_limit" "$work/disagg-supervisor" demo --workspace "$ws" "${fail[@]}" > "$ws.out" 2>&1
      status=$?
      set -e
      "$work/disagg-bench" stress-check --name "$name" --workspace "$ws" --exit "$status" --want-exit "$code" \
        "--want-${want%%=*}" "${want#*=}" --out "$raw/local.demo" >&2
      # Passing runs' workspaces go at once: N runs of five demos add up.
      if tail -n 1 "$raw/local.demo" | grep -q '"passed":true'; then rm -rf "$ws" "$ws.out"; fi
    done
  done
  echo "$((SECONDS - start))" > "$raw/local.seconds"
fi

if [ "$only" = local ]; then
  echo "== slurm: skipped (--only local)" >&2
  echo "--only local" > "$raw/slurm.skipped"
else
  echo "== slurm: integration scenarios, $n runs" >&2
  start=$SECONDS
  # Every Test* of integration/ but the local scenarios, which the local part runs.
  mapfile -t slurm_tests < <(for f in integration/*_test.go; do case $f in integration/local_*) ;; *) cat "$f" ;; esac; done |
    grep -h '^func Test' | sed -E 's/^func (Test[A-Za-z0-9_]*).*/\1/' | grep -vx TestMain)
  printf '%s\n' "${slurm_tests[@]}" > "$raw/slurm.expect"
  regex=$(IFS='|'; echo "^(${slurm_tests[*]})\$")
  gotest slurm integration "$work/integration.test" -test.run "$regex" -test.timeout "$((n * 20 + 10))m"
  echo "$((SECONDS - start))" > "$raw/slurm.seconds"
fi

stop_load
echo "== report" >&2
set +e
"$work/disagg-bench" stress-report --in "$raw" --n "$n" --load "$load" \
  --command "scripts/stress.sh${args[*]:+ ${args[*]}}" --stress-json bench/stress.json --json bench/results.json --md BENCHMARKS.md
status=$?
set -e
if [ "$status" != 0 ]; then keep_work=1; fi
echo "== wrote bench/stress.json and BENCHMARKS.md" >&2
exit "$status"
