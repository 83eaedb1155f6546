#!/usr/bin/env bash
# The project's one test command (CI runs it through .ci/run): installs what the tests need, starts the
# real Slurm dev cluster, then checks formatting, vets, and runs every test with the race detector.
#
# DISAGG_SKIP_SLURM=1 skips the cluster (for a developer machine that cannot run one); the tests that
# need Slurm then fail or skip and say why. CI never sets it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
start=$(date +%s)

echo "== go modules" >&2
go mod download

if [ "${DISAGG_SKIP_SLURM:-}" != 1 ]; then
  echo "== slurm dev cluster" >&2
  eval "$(scripts/slurm-dev-cluster.sh up | tail -n 1)"
  export DISAGG_REQUIRE_SLURM=1
fi

echo "== gofmt" >&2
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change: $unformatted" >&2
  exit 1
fi

echo "== go vet" >&2
go vet ./...

echo "== go test -race" >&2
go test -race -count=1 -timeout 30m ./...

echo "== done in $(( $(date +%s) - start ))s" >&2
