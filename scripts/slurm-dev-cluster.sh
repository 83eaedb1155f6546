#!/usr/bin/env bash
# slurm-dev-cluster.sh - a private four-node Slurm 22.05 cluster on this one machine,
# for the integration tests of disagg-supervisor.
#
#   scripts/slurm-dev-cluster.sh up      install what is missing, start or repair the cluster,
#                                        print "export SLURM_CONF=..." as the last stdout line
#   scripts/slurm-dev-cluster.sh down    stop exactly the processes this script started
#   scripts/slurm-dev-cluster.sh status  show our daemons and sinfo; exit 0 only when healthy
#   scripts/slurm-dev-cluster.sh env     print the "export SLURM_CONF=..." line
#   scripts/slurm-dev-cluster.sh crash NODE   crash a node: SIGKILL its slurmd, slurmstepds and tasks (`up` repairs)
#   scripts/slurm-dev-cluster.sh ctld-down    a controller outage: stop slurmctld, its state saved (`up` starts it again)
#
# Typical use:  eval "$(scripts/slurm-dev-cluster.sh up)"; srun -N4 hostname
#
# What it builds (everything lives in $DISAGG_SLURM_DIR, default /var/tmp/disagg-slurm-dev):
#   - one munged with its own key and socket (a system munge, if any, is left alone),
#   - one slurmctld on port 16817 and four slurmd "nodes" node1..node4 on ports 17001-17004,
#     all on 127.0.0.1, each with 8 CPUs and 4 fake GPUs (character devices, major 195),
#   - PMIx that works across the four nodes although they share one host (see launch_slurmd).
# Nothing is written to /etc/slurm or /etc/munge, so a system Slurm keeps working untouched.
#
# Needs root: it installs packages, runs the daemons as SlurmUser=root, creates device nodes
# and gives every slurmd its own mount namespace (unshare -m, needs CAP_SYS_ADMIN).
#
# Environment:
#   DISAGG_SLURM_DIR            state directory (absolute path)       [/var/tmp/disagg-slurm-dev]
#   DISAGG_SLURM_READY_TIMEOUT  seconds to wait for the nodes in `up`  [60]
#   DISAGG_SLURM_MIN_JOB_AGE    seconds a finished job stays visible to scontrol [60]
#   DISAGG_SLURM_CRED_EXPIRE    step credential lifetime = delay before a requeued job
#                               may start again (Slurm's default is 120) [10]

set -euo pipefail

# CI shells and sudo often lack the sbin directories, where munged, slurmctld and slurmd live.
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

STATE_DIR="${DISAGG_SLURM_DIR:-/var/tmp/disagg-slurm-dev}"
READY_TIMEOUT="${DISAGG_SLURM_READY_TIMEOUT:-60}"
MIN_JOB_AGE="${DISAGG_SLURM_MIN_JOB_AGE:-60}"
CRED_EXPIRE="${DISAGG_SLURM_CRED_EXPIRE:-10}"

NODES=(node1 node2 node3 node4)
CTLD_PORT=16817
SLURMD_PORTS="17001-17004"        # one per node, in NODES order
CPUS_PER_NODE=8
GPUS_PER_NODE=4
STOP_GRACE=5                      # seconds between SIGTERM and SIGKILL in `down`

ETC="$STATE_DIR/etc"
CONF="$ETC/slurm.conf"
RUN="$STATE_DIR/run"              # pid files and recorded mount namespaces
LOG="$STATE_DIR/log"
CTLD_STATE="$STATE_DIR/state"     # StateSaveLocation
SPOOL="$STATE_DIR/spool"          # SlurmdSpoolDir, one subdirectory per node
DEV="$STATE_DIR/dev"              # fake GPU device nodes
PMIX="$STATE_DIR/pmix"            # per-node PMIx client dirs and the shared mount point
PMIX_MNT="$PMIX/cli"
MUNGE_DIR="$STATE_DIR/munge"
MUNGE_KEY="$MUNGE_DIR/munge.key"
MUNGE_SOCK="$MUNGE_DIR/munge.socket"
PACKAGES=(slurm-wlm munge libpmix2 libpmix-dev)

log() { printf '[slurm-dev-cluster] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

require_root() {
  [[ $(id -u) -eq 0 ]] || die "must run as root (installs packages, runs daemons as root, uses mount namespaces)"
}

check_state_dir() {
  # rm -rf runs below this directory on a cold start, so refuse anything vague.
  [[ $STATE_DIR == /* ]] || die "DISAGG_SLURM_DIR must be an absolute path (got '$STATE_DIR')"
  [[ $STATE_DIR != / && $STATE_DIR != *[[:space:]]* ]] || die "unsuitable DISAGG_SLURM_DIR '$STATE_DIR'"
}

# A caller running inside some other Slurm job must not leak that job into our clients
# (srun would try to create a step in a job id our controller has never seen).
scrub_slurm_env() {
  local v
  while read -r v; do unset "$v"; done < <(compgen -e | grep -E '^(SLURM|SALLOC|SBATCH|SRUN)_' || true)
  export SLURM_CONF="$CONF"
}

# One `up` or `down` at a time: CI may start several test packages that each call `up`.
take_lock() {
  mkdir -p "$STATE_DIR"
  exec 9>"$STATE_DIR/.lock"
  flock -w 300 9 || die "another slurm-dev-cluster.sh holds $STATE_DIR/.lock"
}

env_line() { printf 'export SLURM_CONF=%s\n' "$CONF"; }

# ---------------------------------------------------------------------------------------------
# Packages

packages_present() {
  local p b
  for p in "${PACKAGES[@]}"; do
    [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) == installed ]] || return 1
  done
  for b in munged munge unmunge slurmctld slurmd srun sbatch sinfo scontrol squeue scancel; do
    command -v "$b" >/dev/null || return 1
  done
  # Slurm's PMIx plugin dlopen()s the unversioned library, which only libpmix-dev ships.
  compgen -G '/usr/lib/*/pmix2/lib/libpmix.so' >/dev/null || return 1
}

install_packages() {
  if packages_present; then
    return 0
  fi
  local t0=$SECONDS
  log "installing ${PACKAGES[*]} (apt-get)"
  command -v apt-get >/dev/null || die "apt-get not found; this script expects Debian 12"
  # The packages' maintainer scripts would start system-wide munge/slurmd/slurmctld services
  # (which would fail or collide with ours). policy-rc.d exit 101 forbids that, for the
  # duration of the install only, and only if the machine does not already have a policy.
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [[ ! -e $policy ]]; then
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 0755 "$policy"
    created_policy=1
  fi
  local rc=0
  {
    export DEBIAN_FRONTEND=noninteractive
    # Lock::Timeout: wait for a concurrent apt (unattended-upgrades, another job) instead of failing.
    local apt_opts=(-q -y -o DPkg::Lock::Timeout=600
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    apt-get "${apt_opts[@]}" update &&
      apt-get "${apt_opts[@]}" install "${PACKAGES[@]}"
  } </dev/null >&2 || rc=$?
  if [[ $created_policy == 1 ]]; then
    rm -f "$policy"
    trap - EXIT
  fi
  [[ $rc == 0 ]] || die "apt-get failed (exit $rc)"
  packages_present || die "packages installed but binaries or libpmix.so still missing"
  log "packages installed in $((SECONDS - t0))s"
}

# ---------------------------------------------------------------------------------------------
# Configuration

# Writes the full configuration into directory $1.
render_config() {
  local out=$1 host
  # slurmctld only runs as primary on a host whose short name matches SlurmctldHost.
  host=$(hostname -s 2>/dev/null || hostname)
  cat >"$out/slurm.conf" <<EOF
# Private dev cluster written by scripts/slurm-dev-cluster.sh; rewritten by every "up".
ClusterName=disaggdev
SlurmctldHost=${host}(127.0.0.1)
# Non-default ports, so a system Slurm on this machine never sees our daemons or clients.
SlurmctldPort=${CTLD_PORT}
SlurmUser=root
SlurmdUser=root
MailProg=/bin/true

# Our own munged, so the system's /etc/munge key and /run/munge are never touched.
# cred_expire also delays a requeued job: it becomes eligible again only cred_expire seconds
# after the requeue (default 120).
AuthType=auth/munge
AuthInfo=socket=${MUNGE_SOCK},cred_expire=${CRED_EXPIRE}
CredType=cred/munge

StateSaveLocation=${CTLD_STATE}
SlurmdSpoolDir=${SPOOL}/%n
SlurmctldPidFile=${RUN}/slurmctld.pid
SlurmdPidFile=${RUN}/slurmd-%n.pid
SlurmctldLogFile=${LOG}/slurmctld.log
SlurmdLogFile=${LOG}/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info

# No systemd or delegated cgroups here: track processes through /proc, bind nothing.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
MpiDefault=none

AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none

# A node that was down comes back by itself as soon as its slurmd registers again.
ReturnToService=2
# The nodes claim more CPUs than the machine has; without this they register as INVAL.
SlurmdParameters=config_overrides

# Quick turnaround for tests: short SIGTERM->SIGKILL wait, finished jobs purged after
# MinJobAge seconds, no grace minutes after a time limit, batch jobs requeueable
# (sbatch --requeue and scontrol requeue).
KillWait=5
MinJobAge=${MIN_JOB_AGE}
OverTimeLimit=0
JobRequeue=1
# slurmctld checks time limits (and sends --signal warnings) from a compiled-in 30 s timer,
# so a TIMEOUT lands 0-30 s after the limit and a warning up to 30 s early.
# An allocation whose srun was killed (-9) never ends by itself when InactiveLimit=0;
# with 30 the controller cancels it once srun stops answering its pings (batch jobs exempt).
InactiveLimit=30
SlurmdTimeout=30
MessageTimeout=10
# Pending jobs that become eligible by time (a requeued job) are only started by the
# periodic scheduler passes, every 60 s (main) and 30 s (backfill) by default.
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=2

NodeName=node[1-4] NodeHostname=localhost NodeAddr=127.0.0.1 Port=[${SLURMD_PORTS}] CPUs=${CPUS_PER_NODE} Boards=1 SocketsPerBoard=1 CoresPerSocket=${CPUS_PER_NODE} ThreadsPerCore=1 RealMemory=8192 Gres=gpu:${GPUS_PER_NODE} State=UNKNOWN
PartitionName=debug Nodes=node[1-4] Default=YES MaxTime=INFINITE State=UP
EOF

  # Device nodes (not plain files) are what makes Slurm set CUDA_VISIBLE_DEVICES.
  cat >"$out/gres.conf" <<EOF
# Fake GPUs: character devices with the NVIDIA major number, shared by all four nodes.
AutoDetect=off
NodeName=node[1-4] Name=gpu File=${DEV}/nvidia[0-$((GPUS_PER_NODE - 1))]
EOF

  # Slurm looks for mpi.conf next to the slurm.conf it was started with. Four slurmd on one
  # host would all create spmix_appdir_<uid>_<job>.<step> in the same directory; mpi.conf
  # cannot say %n, so every slurmd sees its own directory at this one path (launch_slurmd).
  cat >"$out/mpi.conf" <<EOF
PMIxCliTmpDirBase=${PMIX_MNT}
EOF
}

# Installs the rendered configuration; returns 0 when it differs from what was there before.
update_config() {
  local tmp changed=1 f
  tmp=$(mktemp -d "$STATE_DIR/.etc.XXXXXX")
  render_config "$tmp"
  mkdir -p "$ETC"
  for f in "$tmp"/*; do
    if ! cmp -s "$f" "$ETC/${f##*/}"; then
      changed=0
      install -m 0644 "$f" "$ETC/${f##*/}"
    fi
  done
  rm -rf "$tmp"
  return "$changed"
}

prepare_dirs() {
  # 0755: non-root test users must reach the munge socket and read the configuration.
  mkdir -p "$ETC" "$RUN" "$LOG" "$CTLD_STATE" "$DEV" "$PMIX_MNT" "$MUNGE_DIR"
  chmod 0755 "$STATE_DIR" "$ETC" "$RUN" "$LOG" "$DEV" "$PMIX" "$PMIX_MNT" "$MUNGE_DIR"
  local node i
  for node in "${NODES[@]}"; do
    mkdir -p "$SPOOL/$node" "$PMIX/$node"
    chmod 0755 "$PMIX/$node"
  done
  for ((i = 0; i < GPUS_PER_NODE; i++)); do
    local d="$DEV/nvidia$i"
    [[ -c $d ]] && continue
    rm -f "$d"
    if ! mknod -m 0666 "$d" c 195 "$i" 2>/dev/null; then
      # Without CAP_MKNOD the GPU count still works, only CUDA_VISIBLE_DEVICES is not set.
      log "warning: mknod $d failed; using a plain file (no CUDA_VISIBLE_DEVICES in jobs)"
      : >"$d"
    fi
  done
  if [[ ! -s $MUNGE_KEY ]]; then
    log "creating munge key $MUNGE_KEY"
    (umask 077 && dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none)
  fi
  chmod 0400 "$MUNGE_KEY"
}

# ---------------------------------------------------------------------------------------------
# Our processes. Each is identified by its pid file plus a check that the pid still runs the
# expected program with our private socket/config on its command line, so a recycled pid or
# a system daemon of the same name is never mistaken for ours.

# live_pid PIDFILE COMM MARKER... : prints the pid when alive and ours.
live_pid() {
  local pidfile=$1 comm=$2 pid m args
  shift 2
  [[ -r $pidfile ]] || return 1
  pid=$(tr -dc '0-9' <"$pidfile")
  [[ -n $pid && -r /proc/$pid/cmdline ]] || return 1
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$comm" ]] || return 1
  # A zombie still has a /proc entry but is not running anything.
  [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]] || return 1
  args=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  for m in "$@"; do
    grep -qxF -- "$m" <<<"$args" || return 1
  done
  echo "$pid"
}

munged_pid() { live_pid "$RUN/munged.pid" munged "--socket=$MUNGE_SOCK"; }
slurmctld_pid() { live_pid "$RUN/slurmctld.pid" slurmctld "$CONF"; }
slurmd_pid() { live_pid "$RUN/slurmd-$1.pid" slurmd "$CONF" "$1"; }

munge_works() {
  munge -n -S "$MUNGE_SOCK" 2>/dev/null | unmunge -S "$MUNGE_SOCK" >/dev/null 2>&1
}

start_munged() {
  log "starting munged"
  rm -f "$RUN/munged.pid"
  # --force: munged refuses to run as root otherwise. It forks only once the socket is up.
  env -i PATH="$PATH" munged --force \
    --socket="$MUNGE_SOCK" --key-file="$MUNGE_KEY" --pid-file="$RUN/munged.pid" \
    --log-file="$LOG/munged.log" --seed-file="$MUNGE_DIR/munged.seed" \
    >>"$LOG/start-munged.log" 2>&1 </dev/null 3>&- 9>&- ||
    fail "munged did not start" "$LOG/start-munged.log" "$LOG/munged.log"
  local i
  for ((i = 0; i < 50; i++)); do
    munge_works && return 0
    sleep 0.1
  done
  fail "munged started but munge -n | unmunge fails" "$LOG/start-munged.log" "$LOG/munged.log"
}

# The launchers below return once the daemon has forked; `up` runs them side by side and
# then waits for the pid files (start_daemons), which saves seconds on a loaded machine.

launch_slurmctld() {
  log "starting slurmctld (port $CTLD_PORT)"
  rm -f "$RUN/slurmctld.pid"
  env -i PATH="$PATH" SLURM_CONF="$CONF" slurmctld -f "$CONF" \
    >>"$LOG/start-slurmctld.log" 2>&1 </dev/null 3>&- 9>&-
}

# Removes the PMIx client directories (spmix_appdir_<uid>_<job>.<step>) of NODE that no running
# slurmstepd holds. A slurmstepd killed with its node (crash) leaves its directory behind, and once job
# ids start again from 1 (a cold start forgets old jobs) a new step of the same id cannot create its
# own: "pmixp_mkdir: Cannot create directory ...: File exists", and the step's tasks on that node fail
# to launch ("task N launch failed: Unspecified error").
clear_stale_pmix() {
  local node=$1 dir step
  for dir in "$PMIX/$node"/spmix_appdir_*; do
    [[ -e $dir ]] || continue
    step=${dir##*_}
    # slurmstepd names itself "slurmstepd: [JOB.STEP]": a live one of that step keeps the directory.
    if ! pgrep -f "^slurmstepd: \[${step//./\\.}[] ]" >/dev/null; then
      rm -rf -- "$dir"
    fi
  done
}

# Every slurmd gets a private mount namespace in which its own directory $PMIX/<node> is
# bind-mounted over $PMIX_MNT (the PMIxCliTmpDirBase of mpi.conf). slurmstepd and the tasks
# inherit the namespace, so the PMIx temp dirs of the four nodes never collide, and the mount
# disappears by itself with the last process of the namespace: nothing to unmount on the host.
launch_slurmd() {
  local node=$1
  log "starting slurmd $node (port $(slurmd_port "$node"))"
  rm -f "$RUN/slurmd-$node.pid" "$RUN/slurmd-$node.mntns"
  # shellcheck disable=SC2016 # $1..$4 are for the inner sh, passed as arguments below.
  env -i PATH="$PATH" SLURM_CONF="$CONF" \
    unshare --mount --propagation private -- \
    sh -c 'mount --bind "$1" "$2" && exec slurmd -f "$3" -N "$4"' \
    sh "$PMIX/$node" "$PMIX_MNT" "$CONF" "$node" \
    >>"$LOG/start-slurmd-$node.log" 2>&1 </dev/null 3>&- 9>&-
}

slurmd_port() {
  local i
  for i in "${!NODES[@]}"; do
    if [[ ${NODES[$i]} == "$1" ]]; then echo $((${SLURMD_PORTS%-*} + i)); fi
  done
}

# Starts slurmctld and every slurmd that is not running, then waits for their pid files.
start_daemons() {
  local node launchers=() names=() i pid
  if ! slurmctld_pid >/dev/null; then
    launch_slurmctld &
    launchers+=($!) names+=(slurmctld)
  fi
  for node in "${NODES[@]}"; do
    if ! slurmd_pid "$node" >/dev/null; then
      launch_slurmd "$node" &
      launchers+=($!) names+=("$node")
    fi
  done
  for i in "${!launchers[@]}"; do
    wait "${launchers[$i]}" || fail "${names[$i]} did not start"
  done
  for i in "${!names[@]}"; do
    if [[ ${names[$i]} == slurmctld ]]; then
      wait_for_pid slurmctld slurmctld_pid "$LOG/start-slurmctld.log" "$LOG/slurmctld.log"
      continue
    fi
    node=${names[$i]}
    wait_for_pid "slurmd $node" "slurmd_pid $node" "$LOG/start-slurmd-$node.log" "$LOG/slurmd-$node.log"
    pid=$(slurmd_pid "$node")
    # Remember the namespace: `down` uses it to find this node's slurmstepd and job
    # processes, which outlive slurmd.
    readlink "/proc/$pid/ns/mnt" >"$RUN/slurmd-$node.mntns"
  done
}

# wait_for_pid WHAT PIDFUNC LOG... : the daemons fork before writing their pid file.
wait_for_pid() {
  local what=$1 fn=$2 i
  shift 2
  for ((i = 0; i < 300; i++)); do
    $fn >/dev/null && return 0
    sleep 0.1
  done
  fail "$what exited right after start" "$@"
}

# Processes in the recorded mount namespace of a node (slurmd, slurmstepd, job tasks).
namespace_members() {
  local nsfile="$RUN/slurmd-$1.mntns" ns p
  [[ -s $nsfile ]] || return 0
  ns=$(<"$nsfile")
  # Never match the host's own namespace: that would select every process on the machine.
  [[ -n $ns && $ns != "$(readlink /proc/self/ns/mnt)" && $ns != "$(readlink /proc/1/ns/mnt)" ]] || return 0
  for p in /proc/[0-9]*; do
    if [[ $(readlink "$p/ns/mnt" 2>/dev/null) == "$ns" ]]; then
      echo "${p#/proc/}"
    fi
  done
}

# terminate WHAT PID... : SIGTERM, then SIGKILL whatever is left after STOP_GRACE seconds.
terminate() {
  local what=$1 i p left
  shift
  [[ $# -gt 0 ]] || return 0
  log "stopping $what (pid $*)"
  kill -TERM "$@" 2>/dev/null || true
  for ((i = 0; i < STOP_GRACE * 10; i++)); do
    left=()
    for p in "$@"; do
      if [[ -d /proc/$p && $(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) != Z ]]; then left+=("$p"); fi
    done
    [[ ${#left[@]} -eq 0 ]] && return 0
    sleep 0.1
  done
  log "sending SIGKILL to $what (pid ${left[*]})"
  kill -KILL "${left[@]}" 2>/dev/null || true
  sleep 0.2
}

# Pids of a node's slurmd and of everything in its mount namespace.
node_pids() {
  local node=$1 pids=() pid
  if pid=$(slurmd_pid "$node"); then pids+=("$pid"); fi
  while read -r pid; do
    if [[ -n $pid && " ${pids[*]} " != *" $pid "* ]]; then pids+=("$pid"); fi
  done < <(namespace_members "$node")
  if [[ ${#pids[@]} -gt 0 ]]; then echo "${pids[*]}"; fi
}

stop_all() {
  local node pid pids=() node_list
  # All nodes at once, so tasks that ignore SIGTERM cost one grace period, not four.
  for node in "${NODES[@]}"; do
    read -ra node_list <<<"$(node_pids "$node")"
    pids+=("${node_list[@]}")
  done
  terminate "slurmd node1-4 and their steps" "${pids[@]}"
  for node in "${NODES[@]}"; do rm -f "$RUN/slurmd-$node.pid" "$RUN/slurmd-$node.mntns"; done
  if pid=$(slurmctld_pid); then terminate slurmctld "$pid"; fi
  rm -f "$RUN/slurmctld.pid"
  if pid=$(munged_pid); then terminate munged "$pid"; fi
  rm -f "$RUN/munged.pid"
  # Bind mounts only ever exist inside the slurmd namespaces; clean up one that leaked to the
  # host anyway (e.g. a hand-run experiment) so the state directory can be removed.
  if findmnt -rn --mountpoint "$PMIX_MNT" >/dev/null 2>&1; then
    log "unmounting $PMIX_MNT"
    umount "$PMIX_MNT" || umount -l "$PMIX_MNT"
  fi
}

any_alive() {
  local node
  munged_pid >/dev/null && return 0
  slurmctld_pid >/dev/null && return 0
  for node in "${NODES[@]}"; do slurmd_pid "$node" >/dev/null && return 0; done
  return 1
}

all_alive() {
  local node
  munged_pid >/dev/null || return 1
  slurmctld_pid >/dev/null || return 1
  for node in "${NODES[@]}"; do slurmd_pid "$node" >/dev/null || return 1; done
}

# ---------------------------------------------------------------------------------------------
# Health

# "node state" lines from the controller, one per node.
node_states() {
  timeout 10 sinfo -h -N -o '%N %T' 2>/dev/null | sort -u
}

# All four nodes respond and can run jobs. Busy nodes count: tests may be running.
nodes_usable() {
  local states=$1 node state n=0
  while read -r node state; do
    [[ -z $node ]] && continue
    case $state in
      idle | mixed | allocated | completing) n=$((n + 1)) ;;
      *) return 1 ;;
    esac
  done <<<"$states"
  [[ $n -eq ${#NODES[@]} ]]
}

healthy() {
  all_alive && munge_works && nodes_usable "$(node_states)"
}

tail_logs() {
  local f
  for f in "$@"; do
    [[ -s $f ]] || continue
    printf '%s\n' "----- tail $f" >&2
    tail -n 25 "$f" >&2
  done
}

# fail MESSAGE [LOG...] : error with the relevant log tails (all daemon logs when none given).
fail() {
  local msg=$1
  shift
  if [[ $# -eq 0 ]]; then
    set -- "$LOG/slurmctld.log" "$LOG"/slurmd-node*.log "$LOG"/start-*.log "$LOG/munged.log"
  fi
  tail_logs "$@"
  die "$msg (state and logs in $STATE_DIR)"
}

# wait_usable SECONDS : polls sinfo until all nodes can run jobs; 1 on timeout.
wait_usable() {
  local deadline=$((SECONDS + $1)) states
  while :; do
    states=$(node_states || true)
    nodes_usable "$states" && return 0
    if ((SECONDS >= deadline)); then
      log "node states: $(tr '\n' ' ' <<<"$states")"
      return 1
    fi
    sleep 0.5
  done
}

wait_ready() {
  log "waiting up to ${READY_TIMEOUT}s for ${#NODES[@]} nodes to become idle"
  if ! wait_usable "$READY_TIMEOUT"; then
    timeout 10 sinfo -R >&2 2>&1 || true
    fail "nodes not ready after ${READY_TIMEOUT}s"
  fi
}

# Nodes that are down or drained although their slurmd runs (e.g. it missed SlurmdTimeout on
# a loaded machine) get back into service without restarting anything.
resume_nodes() {
  local node state
  while read -r node state; do
    case $state in
      down* | drain* | fail*)
        log "resuming $node (was $state)"
        timeout 10 scontrol update NodeName="$node" State=RESUME >&2 2>&1 || true
        ;;
    esac
  done <<<"$(node_states || true)"
}

# check NAME CMD... : a job must really run, not just be accepted by the controller.
check() {
  local name=$1 out
  shift
  log "check: $name"
  if ! out=$(timeout 90 "$@" 2>&1); then
    printf '%s\n' "$out" >&2
    fail "check failed: $name"
  fi
}

# ---------------------------------------------------------------------------------------------
# Commands

cmd_up() {
  require_root
  check_state_dir
  scrub_slurm_env
  # Only the final export line goes to stdout, so `eval "$(... up)"` works. The daemons get
  # neither fd 3 nor the lock's fd 9: holding the caller's pipe open would hang "$(...)",
  # holding the lock would block every later up/down.
  exec 3>&1 1>&2
  local t0=$SECONDS
  take_lock
  install_packages

  if update_config && any_alive; then
    log "configuration changed: restarting the cluster"
    stop_all
  fi
  prepare_dirs
  local n
  for n in "${NODES[@]}"; do clear_stale_pmix "$n"; done

  if healthy; then
    log "already up and healthy"
    env_line >&3
    return 0
  fi

  local node
  if ! any_alive; then
    # Cold start: also ends step/job processes a crashed slurmd left behind, and forgets
    # old jobs so every fresh cluster starts empty.
    stop_all
    rm -rf "${CTLD_STATE:?}"/* "${SPOOL:?}"/*/*
    for node in "${NODES[@]}"; do mkdir -p "$SPOOL/$node"; clear_stale_pmix "$node"; done
  elif all_alive; then
    # Everything runs, yet a node is not usable: first try the gentle way, as tests may be
    # running; restart only if that does not help (a wedged daemon).
    log "daemons alive but the cluster is not healthy; waiting briefly"
    resume_nodes
    if munge_works && wait_usable 15; then
      log "healthy again"
      env_line >&3
      return 0
    fi
    log "still not healthy: restarting the cluster"
    stop_all
  else
    log "partially up: starting what is missing"
  fi

  munged_pid >/dev/null || start_munged
  munge_works || fail "munge -n | unmunge fails against $MUNGE_SOCK" "$LOG/munged.log"
  start_daemons

  wait_ready
  # --immediate: fail instead of queueing forever should the nodes be busy or broken.
  check "srun -N4 true" srun --immediate=30 -J slurm-dev-check -N4 true
  check "srun -N2 --mpi=pmix true" srun --immediate=30 -J slurm-dev-check -N2 --mpi=pmix true
  log "cluster up in $((SECONDS - t0))s; state in $STATE_DIR"
  env_line >&3
}

cmd_down() {
  require_root
  check_state_dir
  if [[ ! -d $STATE_DIR ]]; then
    log "nothing to stop ($STATE_DIR does not exist)"
    return 0
  fi
  take_lock
  stop_all
  any_alive && die "some of our daemons survived SIGKILL"
  log "down; state and logs kept in $STATE_DIR"
}

cmd_status() {
  check_state_dir
  scrub_slurm_env
  local ok=0 pid node
  report() { # NAME PID-OR-EMPTY
    if [[ -n $2 ]]; then printf '%-16s running  pid %s\n' "$1" "$2"; else printf '%-16s stopped\n' "$1"; ok=1; fi
  }
  report munged "$(munged_pid || true)"
  report slurmctld "$(slurmctld_pid || true)"
  for node in "${NODES[@]}"; do report "slurmd $node" "$(slurmd_pid "$node" || true)"; done
  if munged_pid >/dev/null && ! munge_works; then
    echo "munge: credential round trip FAILS"
    ok=1
  fi
  echo "SLURM_CONF=$CONF"
  if slurmctld_pid >/dev/null; then
    timeout 10 sinfo 2>&1 || ok=1
    nodes_usable "$(node_states || true)" || ok=1
  fi
  if [[ $ok == 0 ]]; then echo "healthy"; else echo "NOT healthy"; fi
  return "$ok"
}

# cmd_crash NODE: what a node crash looks like to Slurm and to a job: SIGKILL to the node's slurmd, its
# slurmstepds and every task it runs (the processes of its mount namespace), and to nothing else.
# Slurm then finds the node silent after SlurmdTimeout; `up` starts its slurmd again.
cmd_crash() {
  local node=$1 pids
  require_root
  check_state_dir
  [[ " ${NODES[*]} " == *" $node "* ]] || die "crash: no node $node (nodes: ${NODES[*]})"
  mapfile -t pids < <(namespace_members "$node")
  [[ ${#pids[@]} -gt 0 ]] || die "crash: no process of $node runs"
  log "crashing $node: SIGKILL to ${#pids[@]} processes (${pids[*]})"
  kill -KILL "${pids[@]}" 2>/dev/null || true
}

# cmd_ctld_down: a controller outage as the steps see it: slurmctld is gone, slurmd and the running
# steps stay. SIGTERM, so that it saves its state as in a restart: a SIGKILL seconds after a job
# started loses the job's start, and the controller then finds the job's steps on a node where it
# thinks none run, and drains the node. `up` starts it again from its saved state.
cmd_ctld_down() {
  local pid i
  require_root
  check_state_dir
  pid=$(slurmctld_pid) || die "ctld-down: slurmctld is not running"
  log "controller outage: stopping slurmctld (pid $pid)"
  kill -TERM "$pid"
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  die "ctld-down: slurmctld (pid $pid) still runs 30 s after SIGTERM"
}

main() {
  if [[ ${1:-} == crash && $# -eq 2 ]]; then
    cmd_crash "$2"
    return
  fi
  [[ $# -eq 1 ]] || usage
  case $1 in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    env) check_state_dir && env_line ;;
    ctld-down) cmd_ctld_down ;;
    -h | --help | help) usage ;;
    *) usage ;;
  esac
}

main "$@"
