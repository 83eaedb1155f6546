#!/usr/bin/env bash
# config-switch.sh - supervision overhead per server-configuration switch: from the moment the
# benchmark writes benchmark_status.<k-1>.txt (the file's modification time) to the supervisor's
# "server configuration k started" event, when the next configuration's checks are armed.
#
#   scripts/config-switch.sh [-n RUNS]     (default 5 runs of `demo --server-configs 3`)
#
# Prints every switch's delay, then the median over all switches of all runs. Local mode, no Slurm.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

runs=5
while [ $# -gt 0 ]; do
  case $1 in
    -n) runs=$2; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "config-switch.sh: unknown argument $1 (see -h)" >&2; exit 2 ;;
  esac
done
case $runs in '' | *[!0-9]* | 0) echo "config-switch.sh: -n wants a positive number, not $runs" >&2; exit 2 ;; esac

work=$(mktemp -d "${TMPDIR:-/tmp}/config-switch.XXXXXX")
trap 'rm -rf "$work"' EXIT
CGO_ENABLED=0 go build -o "$work/disagg-supervisor" ./cmd/disagg-supervisor

delays=()
for ((r = 1; r <= runs; r++)); do
  ws="$work/run$r"
  "$work/disagg-supervisor" demo --workspace "$ws" --requests 50 --server-configs 3 >/dev/null 2>&1 ||
    { echo "config-switch.sh: run $r failed; see $ws" >&2; trap - EXIT; exit 1; }
  for k in 1 2; do
    marker="$ws/benchmark_status.$((k - 1)).txt"
    written=$(stat -c '%.9Y' "$marker")
    line=$(grep -F "\"message\":\"server configuration $k started\"" "$ws/supervisor.events.jsonl")
    at=$(sed -E 's/.*"time":"([^"]+)".*/\1/' <<<"$line")
    armed=$(date -d "$at" +%s.%N)
    delay=$(awk -v a="$armed" -v w="$written" 'BEGIN { printf "%.3f", a - w }')
    echo "run $r: configuration $k armed ${delay}s after benchmark_status.$((k - 1)).txt"
    delays+=("$delay")
  done
done
printf '%s\n' "${delays[@]}" | sort -n | awk '{ v[NR] = $1 } END {
  m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
  printf "median over %d switches: %.3fs (min %.3fs, max %.3fs)\n", NR, m, v[1], v[NR] }'
