#!/usr/bin/env bash
# How far a newcomer must read, and how many commands they try, to get a first correct `plan` of a
# layout, following the README of an older commit (default: main) and the README of this tree.
#
#   scripts/walkthrough.sh [--old REF]     (REF: a commit whose README has no plan example; main until
#                                          the docs split is merged, 2310f1f after)
#
# Two layouts, each on a node list of 6 nodes of 4 GPUs:
#   A: 2 GEN servers x 2 nodes, 1 CTX server x 1 node (the layout of the README's plan example);
#   B: 1 GEN server x 4 nodes, 2 CTX servers x 1 node (one the README does not show).
# A plan is correct when its ROLE / NODES / TASKS columns are exactly the layout's.
#
# The newcomer is modelled, not timed, so that the figures are the same on every run:
# - With a README that shows no plan command (main's), they read from the top to the `plan` row of the
#   command table, run `plan`, and then, each try, fix every input the error names (looked up in the
#   README's input table, read from the top down to its row), or, when the plan succeeds but is wrong,
#   the missing CTX servers. Bytes read: the furthest point of the README reached.
# - With a README that has a plan example, they read down to the end of that example and run it (for B,
#   after reading the example config it names and editing a copy). Bytes read: that part of the README
#   plus, for B, the example config.
# - With this tree's docs but without the example, they run `plan` and fix what its errors name, looked
#   up in docs/inputs.md (a third line: what `plan` naming every missing input at once saves).
# Every command tried is printed. Each README runs against the binary of its own commit (built from
# REF with `git archive`), so the old path counts the tries of the old one-input-at-a-time errors.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

old_ref=main
while [ $# -gt 0 ]; do
  case $1 in
    --old) old_ref=$2; shift 2 ;;
    *) echo "usage: $0 [--old REF]" >&2; exit 2 ;;
  esac
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
CGO_ENABLED=0 go build -o "$tmp/new/bin/disagg-supervisor" ./cmd/disagg-supervisor
mkdir -p "$tmp/oldsrc"
git archive "$old_ref" | tar -x -C "$tmp/oldsrc"
(cd "$tmp/oldsrc" && CGO_ENABLED=0 go build -o "$tmp/old/bin/disagg-supervisor" ./cmd/disagg-supervisor)
git show "$old_ref:README.md" >"$tmp/old.md"
cp README.md "$tmp/new.md"
cp docs/inputs.md "$tmp/inputs.md"
bin=$tmp/new/bin
ws=$tmp/ws
nodelist='gpu[01-06]'
command='trtllm-llmapi-launch pytest perf/test_perf_sanity.py::test_e2e[disagg_upload-e2e-my_config]'

# plan_in_clean_env ARGS...: `disagg-supervisor plan ARGS` as a newcomer on a login node runs it,
# without SLURM_* or the generator's exports.
plan_in_clean_env() {
  env -i PATH="$bin:/usr/bin:/bin" HOME="$tmp" disagg-supervisor plan "$@"
}

# layout_of: the ROLE NODES TASKS columns of a plan table.
layout_of() { awk '/^ROLE /{on=1; next} on && NF && !/^ / {print $1, $2, $3}'; }

want_a=$'GEN_0 gpu[01-02] 8\nGEN_1 gpu[03-04] 8\nCTX_0 gpu05 4\nDISAGG_SERVER gpu01 1\nBENCHMARK gpu01 1'
want_b=$'GEN_0 gpu[01-04] 16\nCTX_0 gpu05 4\nCTX_1 gpu06 4\nDISAGG_SERVER gpu01 1\nBENCHMARK gpu01 1'

# end_of_line FILE LINE: bytes from the start of FILE to the end of line LINE.
end_of_line() { head -n "$2" "$1" | wc -c; }

# row_end FILE FLAG: bytes read down to the end of the first line of FILE that holds `FLAG` as a
# table row of its own (the input table), else its first mention in backquotes.
row_end() {
  local n
  n=$(grep -n -F -m1 -- "| \`$2\`" "$1" | cut -d: -f1 || true)
  [ -n "$n" ] || n=$(grep -n -F -m1 -- "\`$2" "$1" | cut -d: -f1 || true)
  [ -n "$n" ] || { echo "walkthrough: $2 is not in $1" >&2; exit 1; }
  end_of_line "$1" "$n"
}

tries=0
bytes=0
report=()

# try ARGS...: one command of the newcomer; sets out, err, rc.
try() {
  tries=$((tries + 1))
  printf '    try %d: disagg-supervisor plan' "$tries"
  [ $# -eq 0 ] || printf ' %q' "$@"
  echo
  rc=0
  out=$(plan_in_clean_env "$@" 2>"$tmp/err") || rc=$?
  err=$(cat "$tmp/err")
  if [ $rc -ne 0 ]; then echo "      -> exit $rc: $err"; fi
}

# error_driven README LAYOUT_NAME WANT GEN_NODES CTX_COUNT: the newcomer of a README without a plan
# example.
error_driven() {
  local readme=$1 name=$2 want=$3 num_gen=$4 gen_nodes=$5 num_ctx=$6
  tries=0
  local n
  n=$(grep -n -F -m1 '| `plan' "$readme" | cut -d: -f1 || true)
  bytes=0
  [ -z "$n" ] || bytes=$(end_of_line "$readme" "$n")
  local args=()
  local fixes fixed at
  for _ in $(seq 1 20); do
    try "${args[@]}"
    fixes=()
    if [ $rc -eq 0 ]; then
      if [ "$(layout_of <<<"$out")" = "$want" ]; then
        report+=("$(printf '%-7s %-9s %2d tries  %7d bytes of docs' "$name" "$(basename "$readme" .md)" "$tries" "$bytes")")
        return
      fi
      # A plan, but not the layout: the CTX servers are missing (numCtxServers defaults to 0).
      echo "      -> a plan without the CTX servers"
      fixes=(--num-ctx)
    else
      # Every input the error names is fixed in the next try: a plan that reports all missing inputs
      # at once takes fewer tries.
      # Both wordings: the old binary's (one input at a time) and this tree's ("missing input: ...").
      [[ $err == *"no node list"* || $err == *"missing input: node list"* ]] && fixes+=(--nodelist)
      [[ $err == *"describe neither test"* || $err == *"missing input: test mode"* ]] && fixes+=(--num-gen)
      [[ $err == *"gpusPerNode / --gpus-per-node"* || $err == *"missing input: GPUs per node"* ]] && fixes+=(--gpus-per-node)
      [[ $err == *"nodesPerGenServer / --nodes-per-gen"* || $err == *"missing input: nodes per GEN server"* ]] && fixes+=(--nodes-per-gen)
      [[ $err == *"nodesPerCtxServer / --nodes-per-ctx"* || $err == *"missing input: nodes per CTX server"* ]] && fixes+=(--nodes-per-ctx)
      [[ $err == *"no workspace"* || $err == *"missing input: workspace"* ]] && fixes+=(--workspace)
      [[ $err == *"no base command"* || $err == *"missing input: base command"* ]] && fixes+=(--command)
      [ ${#fixes[@]} -gt 0 ] || { echo "walkthrough: no newcomer's fix for: $err" >&2; exit 1; }
    fi
    for fixed in "${fixes[@]}"; do
      at=$(row_end "$readme" "$fixed")
      [ "$at" -gt "$bytes" ] && bytes=$at
      case $fixed in
        --nodelist) args+=(--nodelist "$nodelist") ;;
        --num-gen) args+=(--num-gen "$num_gen") ;;
        --gpus-per-node) args+=(--gpus-per-node 4) ;;
        --nodes-per-gen) args+=(--nodes-per-gen "$gen_nodes") ;;
        --num-ctx) args+=(--num-ctx "$num_ctx") ;;
        --nodes-per-ctx) args+=(--nodes-per-ctx 1) ;;
        --workspace) args+=(--workspace "$ws") ;;
        --command) args+=(--command "$command") ;;
      esac
    done
  done
  echo "walkthrough: no correct plan after 20 tries" >&2
  exit 1
}

# from_example README LAYOUT_NAME WANT [CONFIG_EDIT]: the newcomer of a README with a plan example: read
# down to its end, run it (after editing a copy of its config with the sed script CONFIG_EDIT).
from_example() {
  local readme=$1 name=$2 want=$3 edit=${4:-}
  tries=0
  local start open end
  start=$(grep -n -m1 '^Check a layout before submitting' "$readme" | cut -d: -f1)
  [ -n "$start" ] || { echo "walkthrough: $readme has no plan example" >&2; exit 1; }
  open=$(awk -v s="$start" 'NR > s && /^```/ {print NR; exit}' "$readme")
  end=$(awk -v s="$open" 'NR > s && /^```$/ {print NR; exit}' "$readme")
  bytes=$(end_of_line "$readme" "$end")
  local example
  example=$(sed -n "$((open + 1)),$((end - 1))p" "$readme")
  if [ -n "$edit" ]; then
    local config
    config=$(grep -o -- '--config [^ ]*' <<<"$example" | cut -d' ' -f2)
    bytes=$((bytes + $(wc -c <"$config")))
    sed -e "$edit" "$config" >"$tmp/my.yaml"
    example=${example/--config $config/--config $tmp/my.yaml}
  fi
  # The example as shell words, the way a reader pastes it.
  local words
  eval "words=(${example//\\$'\n'/ })"
  [ "${words[0]} ${words[1]}" = "disagg-supervisor plan" ] || { echo "walkthrough: the example is not a plan command: $example" >&2; exit 1; }
  try "${words[@]:2}"
  if [ $rc -ne 0 ] || [ "$(layout_of <<<"$out")" != "$want" ]; then
    echo "walkthrough: the README's example does not plan layout $name:" >&2
    echo "$out" >&2
    exit 1
  fi
  report+=("$(printf '%-7s %-9s %2d tries  %7d bytes of docs' "$name" "$(basename "$readme" .md)" "$tries" "$bytes")")
}

layout_b_edit='s/num_gen_servers: 2/num_gen_servers: 1/; s/num_ctx_servers: 1/num_ctx_servers: 2/; s/pipeline_parallel_size: 2/pipeline_parallel_size: 4/'

for readme in "$tmp/old.md" "$tmp/new.md"; do
  bin=$([ "$readme" = "$tmp/old.md" ] && echo "$tmp/old/bin" || echo "$tmp/new/bin")
  label=$([ "$readme" = "$tmp/old.md" ] && echo "README.md of $old_ref" || echo "README.md of this tree")
  echo "== $label ($(wc -c <"$readme") bytes)"
  if grep -q '^Check a layout before submitting' "$readme"; then
    echo "  layout A"
    from_example "$readme" A "$want_a"
    echo "  layout B"
    from_example "$readme" B "$want_b" "$layout_b_edit"
  else
    echo "  layout A"
    error_driven "$readme" A "$want_a" 2 2 1
    echo "  layout B"
    error_driven "$readme" B "$want_b" 1 4 2
  fi
done
# This tree's binary without the README's example: the errors name every missing input at once.
bin=$tmp/new/bin
echo "== docs/inputs.md of this tree, no example ($(wc -c <"$tmp/inputs.md") bytes)"
echo "  layout A"
error_driven "$tmp/inputs.md" A "$want_a" 2 2 1
echo "  layout B"
error_driven "$tmp/inputs.md" B "$want_b" 1 4 2
echo
echo "layout  README    tries to a correct plan, bytes read"
printf '%s\n' "${report[@]}" | sed -e "s/ old / $old_ref /" -e 's/ new / this /'
# For scale: a newcomer who reads the old README's whole input table before the first try.
n=$(grep -n -m1 '^### Readiness probes' "$tmp/old.md" | cut -d: -f1 || true)
if [ -n "$n" ]; then
  echo "(the input table of $old_ref's README ends at byte $(end_of_line "$tmp/old.md" $((n - 1))): reading all of it first)"
fi
