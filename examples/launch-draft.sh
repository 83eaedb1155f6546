# The launch draft for TensorRT-LLM's generator (submit.py) with disagg-supervisor: the generator appends
# it to the batch script after the prefix, its own exports and the srunArgs array, where today's launch
# draft goes. Its two lines replace that draft and the per-rank run script: the supervisor reads the
# layout and commands from the exports, launches one srun step per role and supervises them.
#
# Use: point the generator's launch draft at this file. The disagg-supervisor binary must be on the batch
# script's PATH (see README.md, "Using it from sbatch"); flags for the per-rank runner or hang detection
# (--task-install, --task-setup, --liveness, ...; docs/inputs.md) go on the exec line. Give the job
# `#SBATCH --signal=B:USR1@300` to have it drain before the time limit (exit 138).
# examples/examples_test.go appends it to examples/sbatch-prefix.sh and checks the plan it gets.
trap '' USR1
exec disagg-supervisor run --srun-args-file <(printf '%q\n' "${srunArgs[@]}")
