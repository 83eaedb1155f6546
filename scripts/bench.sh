#!/usr/bin/env bash
# scripts/bench.sh - the benchmark suite: launch latency, failure-detection latency, overhead, scale and
# throughput, each a median of N runs next to a reference measured in the same run. Writes
# bench/results.json, bench/gobench.txt and BENCHMARKS.md (generated from results.json). Run on demand,
# not in CI; about 10 minutes.
#
#   scripts/bench.sh [--runs N] [--skip-cluster] [--keep] [--only GROUP,...]
#
# --only measures those groups of disagg-bench (disagg-bench --help lists them) and keeps the other
# figures of bench/results.json, each noted with the run that measured it.
#
# It builds the binaries with CGO_ENABLED=0, starts the Slurm dev cluster (scripts/slurm-dev-cluster.sh
# up, needs root) unless --skip-cluster is given, runs the go test benchmarks of item 5, then
# cmd/disagg-bench for everything else. Without a cluster the cluster figures say "not measured" and why.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

runs=5
skip_cluster=0
only=
args=("$@")
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift ;;
    --runs=*) runs=${1#--runs=} ;;
    --skip-cluster) skip_cluster=1 ;;
    --keep) ;;
    --only) only=$2; shift ;;
    --only=*) only=${1#--only=} ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

work=$(mktemp -d "${TMPDIR:-/tmp}/disagg-bench-bin.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "== build (CGO_ENABLED=0)" >&2
CGO_ENABLED=0 go build -o "$work/disagg-supervisor" ./cmd/disagg-supervisor
CGO_ENABLED=0 go build -o "$work/disagg-bench" ./cmd/disagg-bench
# The dev cluster's nodes run on this machine and see its file system; the binary must be readable there.
chmod 0755 "$work"

if [ "$skip_cluster" = 0 ]; then
  echo "== slurm dev cluster" >&2
  if line=$(scripts/slurm-dev-cluster.sh up | tail -n 1); then
    eval "$line"
  else
    echo "bench.sh: the dev cluster did not come up; the cluster figures will say why they are missing" >&2
  fi
fi

if [ -n "$only" ] && [[ ",$only," != *,local,* ]]; then
  echo "== go test benchmarks skipped (--only $only)" >&2
else
echo "== go test benchmarks (item 5), -count $runs" >&2
mkdir -p bench
# A failing benchmark leaves its figure "not measured" (disagg-bench says so); the suite goes on.
{
  go test -run '^$' -bench '^BenchmarkBuild$' -count "$runs" ./roles/ || true
  go test -run '^$' -bench '^Benchmark(Expand|Compress)Hostlist$' -count "$runs" ./slurm/ || true
  go test -run '^$' -bench '^BenchmarkReferenceSortNames$' -count "$runs" ./integration/ || true
  # One op launches 512 processes: one op per count.
  go test -run '^$' -bench '^Benchmark(Local512|Local512NoBarrier|ReferenceSpawn512)$' -benchtime 1x -count "$runs" ./integration/ || true
} > bench/gobench.txt 2>&1
grep -E '^(Benchmark|ok|FAIL|---)' bench/gobench.txt >&2 || true
fi

echo "== disagg-bench" >&2
"$work/disagg-bench" --bin "$work/disagg-supervisor" --gobench bench/gobench.txt \
  --json bench/results.json --md BENCHMARKS.md --command "scripts/bench.sh${args[*]:+ ${args[*]}}" "${args[@]}"
echo "== wrote bench/results.json and BENCHMARKS.md" >&2
