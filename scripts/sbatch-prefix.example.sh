#!/bin/bash
# The sbatch script of one disaggregated test with disagg-supervisor: today's generated prefix
# (#SBATCH lines, exports, srunArgs) followed by one exec line, which replaces the launch script and
# the per-rank run script. Values are examples; integration/testdata/job.sh.tmpl is the same shape
# with the toy stack, run against a real Slurm cluster by `go test ./integration`.
#
#SBATCH --job-name=disagg_perf_test
#SBATCH --output=/lustre/ws/perf-run/slurm_%j.log
# Nodes: numGenServers*nodesPerGenServer + numCtxServers*nodesPerCtxServer (here 2*1 + 1*1).
#SBATCH --nodes=3
# Steps get their CPUs from the job: without enough tasks per node a worker step fails with
# "More processors requested than permitted". One task per GPU.
#SBATCH --ntasks-per-node=4
#SBATCH --gpus-per-node=4
#SBATCH --time=04:00:00
# USR1 to the batch shell (B:), which is the supervisor after exec, 300 s before the time limit: it
# stops every step, writes summary.json and the JUnit file, and exits 138 before Slurm kills the job.
#SBATCH --signal=B:USR1@300

set -euo pipefail

# Until the exec below, the batch shell ignores the drain signal: with bash's default action an early
# USR1 (a time limit shorter than the @300 margin, or Slurm sending it early) would kill the shell
# before the supervisor runs, with no record of why. An ignored signal stays ignored across exec, but
# that does not blind the supervisor: the Go runtime installs its own handler for USR1 at start,
# whatever it inherited (only SIGHUP and SIGINT keep an inherited SIG_IGN, until signal.Notify), and
# the supervisor asks for it with signal.Notify; its steps start with the default action again.
# cmd/disagg-supervisor/drain_test.go checks that a supervisor exec'd from such a shell drains on USR1.
trap '' USR1

# The env contract, as the generator writes it (see docs/inputs.md).
export jobWorkspace=/lustre/ws/perf-run/disagg_workspace
export testOutputDir=/lustre/ws/perf-run/disagg_workspace/deepseek-r1-fp4_1k1k_ctx1_gen2_tep4
export llmSrcNode=/lustre/src/TensorRT-LLM
export pytestCommand="trtllm-llmapi-launch pytest perf/test_perf_sanity.py::test_e2e[disagg_upload-e2e-deepseek-r1-fp4_1k1k_ctx1_gen2_tep4] -vv --junit-xml=/lustre/ws/perf-run/results.xml"
# Optional: left out, the supervisor derives the worker, server and benchmark commands from
# pytestCommand (workers keep trtllm-llmapi-launch, the server and the benchmark drop it).
export pytestCommandGENWorker="unset UCX_TLS UCX_NET_DEVICES UCX_CUDA_IPC_ENABLE_MNNVL && TLLM_LOG_LEVEL=INFO $pytestCommand"
export numGenServers=2
export numCtxServers=1
export gpusPerNode=4
export gpusPerGenServer=4
export gpusPerCtxServer=4
export nodesPerGenServer=1
export nodesPerCtxServer=1
export gpusPerNodePerGenServer=4
export gpusPerNodePerCtxServer=4
export totalNodes=3
export totalGpus=12
export installScript=/lustre/src/TensorRT-LLM/jenkins/scripts/perf/disaggregated/install.sh
export NVIDIA_IMEX_CHANNELS=${NVIDIA_IMEX_CHANNELS:-0}
# An aggregated test exports its own layout instead of the counts above (and no numGenServers); the
# same exec line then runs one SERVER step of world_size ranks over the first totalNodes nodes:
#   export gpusPerNodePerServer=4 totalNodes=2 world_size=8

# Extra srun arguments of every step. No --container-env=NAME needed: with container options the
# supervisor forwards every variable it sets. An empty array is fine: printf '%q\n' then prints
# '', which the supervisor reads as no arguments.
srunArgs=(
  "--container-image=urm.example/sw-tensorrt-llm/release:gb200"
  "--container-workdir=/lustre/src/TensorRT-LLM/tests/integration/defs"
  "--container-mounts=/lustre:/lustre"
)

# exec: the supervisor becomes the batch shell, so scancel's SIGTERM and the USR1 above reach it,
# and its exit code (0, the failing rank's own code, 128+signal; see the README's exit codes) is the job's.
# <(printf '%q\n' ...): the array as shell words, quoted once, read without any expansion.
exec disagg-supervisor run --srun-args-file <(printf '%q\n' "${srunArgs[@]}")
