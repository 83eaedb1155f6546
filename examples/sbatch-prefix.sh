#!/bin/bash
# An sbatch script for one disaggregated test with disagg-supervisor: the prefix today's generator writes
# (the CI's #SBATCH lines and exports, the generator's layout exports and the srunArgs array; values are
# made up, the shape, names and quoting are the pipeline's), ending in the one line that hands the job to
# the supervisor. That line replaces today's launch draft and the per-rank run script; the generator can
# append it from examples/launch-draft.sh.
#
# Use: keep your generated prefix as it is and add the two lines marked "Added:" below, then
# end it with the exec line; the binary must be on the batch script's PATH (see README.md, "Using it from
# sbatch"). To check the layout first, run `disagg-supervisor plan` with the same exports, anywhere.
# examples/examples_test.go runs this file with a stand-in for the binary and checks the plan it gets:
# GEN_0 and GEN_1 on 2 nodes x 4 GPUs each, CTX_0 on the fifth node, router and benchmark on the first.
#
#SBATCH --output=/lustre/ws/perf-run/slurm_%j.log
#SBATCH --nodes=5
#SBATCH --ntasks=20
#SBATCH --ntasks-per-node=4
#SBATCH --gpus-per-node=4
#SBATCH --partition=gb200
#SBATCH --account=llm-perf
#SBATCH --job-name=disagg_perf_test
#SBATCH --time=04:00:00
# Added: USR1 to the batch shell (B:), which is the supervisor after the exec, 300 s before the time limit:
# it stops every step, writes summary.json and the JUnit file, and exits 138 before Slurm kills the job.
#SBATCH --signal=B:USR1@300

set -xEeuo pipefail
trap 'rc=$?; echo "Error in file ${BASH_SOURCE[0]} on line $LINENO: $BASH_COMMAND (exit $rc)"; exit $rc' ERR
# Added: until the exec, an early USR1 (a time limit shorter than the @300 margin) must not kill the
# shell with no record. The supervisor still receives USR1: Go installs its own handler at start.
trap '' USR1

echo "Starting Slurm job $SLURM_JOB_ID on $SLURM_NODELIST"
export jobWorkspace=/lustre/ws/perf-run/disagg_workspace
export llmSrcNode=/lustre/src/TensorRT-LLM
export stageName="disagg_perf_test_deepseek-r1-fp4_1k1k_ctx1_gen2_tep8"
export perfMode=true
export resourcePathNode=/lustre/src/TensorRT-LLM
export pytestCommand="trtllm-llmapi-launch pytest perf/test_perf_sanity.py::test_e2e[disagg_upload-e2e-deepseek-r1-fp4_1k1k_ctx1_gen2_tep8] -vv --junit-xml=/lustre/ws/perf-run/results.xml"
export coverageConfigFile=/lustre/ws/perf-run/coverage_config.json
export NVIDIA_IMEX_CHANNELS=${NVIDIA_IMEX_CHANNELS:-0}
export NVIDIA_VISIBLE_DEVICES=${NVIDIA_VISIBLE_DEVICES:-$(seq -s, 0 $(($(nvidia-smi --query-gpu=count -i 0 --format=csv,noheader)-1)))}
export pytestCommandNoLLMAPILaunch="pytest perf/test_perf_sanity.py::test_e2e[disagg_upload-e2e-deepseek-r1-fp4_1k1k_ctx1_gen2_tep8] -vv --junit-xml=/lustre/ws/perf-run/results.xml"
export pytestCommandGENWorker="unset UCX_TLS UCX_NET_DEVICES UCX_CUDA_IPC_ENABLE_MNNVL && TLLM_LOG_LEVEL=INFO FLASHINFER_JIT_DIR=/tmp/flashinfer_jit_cache_\${SLURM_LOCALID} HF_HOME=/tmp/hf_home $pytestCommand"
export pytestCommandCTXWorker="unset UCX_TLS UCX_NET_DEVICES UCX_CUDA_IPC_ENABLE_MNNVL && TLLM_LOG_LEVEL=INFO FLASHINFER_JIT_DIR=/tmp/flashinfer_jit_cache_\${SLURM_LOCALID} HF_HOME=/tmp/hf_home $pytestCommand"
export pytestCommandDisaggServer="TLLM_LOG_LEVEL=INFO $pytestCommandNoLLMAPILaunch"
export pytestCommandBenchmark="$pytestCommandNoLLMAPILaunch"
export runScript=/lustre/src/TensorRT-LLM/jenkins/scripts/perf/disaggregated/slurm_run.sh
export installScript=/lustre/src/TensorRT-LLM/jenkins/scripts/perf/disaggregated/install.sh
export testOutputDir=/lustre/ws/perf-run/disagg_workspace/deepseek-r1-fp4_1k1k_ctx1_gen2_tep8
export numCtxServers=1
export numGenServers=2
export gpusPerNode=4
export gpusPerCtxServer=4
export gpusPerGenServer=8
export nodesPerCtxServer=1
export nodesPerGenServer=2
export gpusPerNodePerCtxServer=4
export gpusPerNodePerGenServer=4
export totalNodes=5
export totalGpus=20
srunArgs=(
  "--container-image=urm.example/sw-tensorrt-llm/release:gb200"
  "--container-workdir=/lustre/src/TensorRT-LLM/tests/integration/defs"
  "--container-mounts=/lustre:/lustre"
  "--container-env=NVIDIA_IMEX_CHANNELS"
  "--container-env=DISAGG_SERVING_TYPE"
  "--container-env=pytestCommand"
)
# The hand-over: the supervisor becomes the batch shell (scancel and USR1 reach it, its exit code is the
# job's) and reads srunArgs as shell words, quoted once by printf '%q', without any expansion.
exec disagg-supervisor run --srun-args-file <(printf '%q\n' "${srunArgs[@]}")
