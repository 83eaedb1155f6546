package roles

import (
	"strconv"

	"github.com/disagg-supervisor/disagg-supervisor/slurm"
	"github.com/disagg-supervisor/disagg-supervisor/taskopts"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

// Input is one input of a plan: where it can be given and what it means. Inputs lists them all,
// and both the messages about a missing input and the generated reference (docs/inputs.md) are
// made from that list, so that the two cannot disagree.
type Input struct {
	// Name is what the input is, as a message about it names it ("GPUs per node").
	Name string
	// Flag is the command-line flag that gives it; empty when only the environment or the config does.
	Flag string
	// Env are the environment variables that give it, in the order they are read.
	Env []string
	// Config is the key of the --config file that gives it, or how the config gives it.
	Config string
	// Default is what applies when no source gives it; "required" when the plan cannot do without it.
	Default string
	// Meaning says what the input does.
	Meaning string
}

// Names of the inputs that a message looks up in Inputs.
const (
	inNodelist      = "node list"
	inGPUsPerNode   = "GPUs per node"
	inTestMode      = "test mode"
	inNumGen        = "GEN servers"
	inNodesPerGen   = "nodes per GEN server"
	inNodesPerCtx   = "nodes per CTX server"
	inGPUsPerGen    = "GPUs per GEN server"
	inGPUsPerCtx    = "GPUs per CTX server"
	inWorkspace     = "workspace"
	inBaseCommand   = "base command"
	inServerPerNode = "ranks per node of the SERVER"
)

// Inputs returns every input of a plan, in the order of the reference: the allocation, the layout,
// the commands, srun, the paths, the pre-flight phase, readiness and the task runner. Each flag of
// Flags is the Flag of one of them (TestInputsCoverFlags).
func Inputs() []Input {
	d := taskopts.Defaults()
	onOff := func(on bool) string {
		if on {
			return "on"
		}
		return "off"
	}
	return []Input{
		// The allocation.
		{Name: inNodelist, Flag: "--nodelist", Env: []string{slurm.VarJobNodelist, slurm.VarNodelist},
			Default: "required", Meaning: "nodes of the allocation, a Slurm hostlist such as `gpu[01-04]`"},
		{Name: "node count", Env: []string{slurm.VarJobNumNodes},
			Meaning: "checked against the node list"},
		{Name: inGPUsPerNode, Flag: "--gpus-per-node", Env: []string{slurm.VarGPUsOnNode, slurm.VarGPUsPerNode, slurm.VarLaunchGPUsPerNode},
			Config: "hardware.gpus_per_node", Default: "required",
			Meaning: "GPUs on each node; Slurm's forms `4`, `gpu:4`, `h100:4` are read"},
		{Name: "job id", Flag: "--job-id", Env: []string{slurm.VarJobID}, Default: "`" + DefaultJobID + "`",
			Meaning: "names the run token and the coordination directory"},
		{Name: "restart count", Flag: "--restart-count", Env: []string{slurm.VarRestartCount}, Default: "0",
			Meaning: "how often Slurm requeued the job, part of the run token; 0 is the first attempt"},
		{Name: "job task count", Env: []string{slurm.VarNTasks, slurm.VarNProcs, slurm.VarNTasksPerNode}, Default: "0 (unknown)",
			Meaning: "tasks of the job-wide install step, shown in the plan (`install.ntasks`): SLURM_NTASKS (SLURM_NPROCS on old setups), else SLURM_NTASKS_PER_NODE x SLURM_JOB_NUM_NODES"},

		// The layout.
		{Name: inTestMode, Flag: "--mode", Config: "server_configs (aggregated)", Default: "`auto`",
			Meaning: "`disaggregated`, `aggregated`, or `auto`: aggregated when `gpusPerNodePerServer` and `totalNodes` are exported without `numGenServers`, when an aggregated flag is given, or when `--config` has `server_configs`; disaggregated when `numGenServers`, `--num-gen`, a disaggregated flag or `hardware.num_gen_servers` is given; inputs of both tests, or of neither, are an error"},
		{Name: inNumGen, Flag: "--num-gen", Env: []string{"numGenServers"}, Config: "hardware.num_gen_servers",
			Default: "required in a disaggregated test", Meaning: "GEN servers, at least 1"},
		{Name: "CTX servers", Flag: "--num-ctx", Env: []string{"numCtxServers"}, Config: "hardware.num_ctx_servers", Default: "0",
			Meaning: "CTX servers; gen-only-no-context drops them unless the count comes from a higher layer than the mode (then the count wins and the mode is off); `--gen-only --num-ctx N` with N > 0 is an error"},
		{Name: inGPUsPerGen, Env: []string{"gpusPerGenServer"}, Config: "worker_config.gen.{tensor,pipeline,context}_parallel_size",
			Meaning: "GPUs of each GEN server (from the config: the product of the parallel sizes, a missing factor being 1), from which its nodes and ranks per node are derived; when given it must equal nodes x ranks per node, unless a flag gives either"},
		{Name: inGPUsPerCtx, Env: []string{"gpusPerCtxServer"}, Config: "worker_config.ctx.{tensor,pipeline,context}_parallel_size",
			Meaning: "GPUs of each CTX server, as for GEN"},
		{Name: inNodesPerGen, Flag: "--nodes-per-gen", Env: []string{"nodesPerGenServer"},
			Default: "ceil(GPUs per server / ranks per node)", Meaning: "nodes of each GEN server"},
		{Name: inNodesPerCtx, Flag: "--nodes-per-ctx", Env: []string{"nodesPerCtxServer"},
			Default: "ceil(GPUs per server / ranks per node)", Meaning: "nodes of each CTX server"},
		{Name: "ranks per node of a GEN server", Flag: "--gpus-per-node-per-gen", Env: []string{"gpusPerNodePerGenServer", "gpusPerfNodePerfGenServer"},
			Default: "min(GPUs per server, GPUs per node)", Meaning: "tasks (GPUs) on each node of each GEN server; the second variable is a spelling one generator version wrote"},
		{Name: "ranks per node of a CTX server", Flag: "--gpus-per-node-per-ctx", Env: []string{"gpusPerNodePerCtxServer", "gpusPerfNodePerfCtxServer"},
			Default: "min(GPUs per server, GPUs per node)", Meaning: "tasks (GPUs) on each node of each CTX server"},
		{Name: "gen-only-no-context", Flag: "--gen-only", Env: []string{genOnlyVar}, Config: "benchmark.mode containing `gen_only_no_context`", Default: "off",
			Meaning: "gen-only without context servers (the older generator's gen-only): no CTX servers, and `TRTLLM_DISAGG_BENCHMARK_GEN_ONLY=1` before the derived GEN and DISAGG_SERVER commands and in every role's environment (`0` there when a flag turns it off while the job exports it); a config mode of plain `gen_only` keeps the CTX servers, as the newest generator does"},
		{Name: "benchmark mode", Flag: "--benchmark-mode", Env: []string{benchmarkModeVar}, Config: "none: `benchmark.mode` is not read for it",
			Default: "the MODE of the test id `MODULE::FUNCTION[PREFIX-MODE[-MODIFIER]-CONFIG[-SERVER_CONFIG]]` in the base command (MODIFIER `time_breakdown` is read past); else `gen_only` in gen-only-no-context; else `e2e`",
			Meaning: "`e2e` or `gen_only`; `gen_only` keeps the CTX servers and puts `TRTLLM_DISABLE_KV_CACHE_TRANSFER_OVERLAP=1 TLLM_BENCHMARK_REQ_QUEUES_SIZE=<largest concurrency>` before the derived GEN command, after its `unset`"},
		{Name: "total nodes", Flag: "--total-nodes", Env: []string{aggNodesVar}, Config: "derived from `server_configs`", Default: "the whole allocation",
			Meaning: "aggregated: nodes of the `SERVER`, the first of the allocation; in a disaggregated test `totalNodes` is only checked against the layout"},
		{Name: inServerPerNode, Flag: "--gpus-per-node-per-server", Env: []string{aggGPUsPerNodeVar},
			Default: "from `server_configs` in --config (min(GPUs, GPUs per node)), else GPUs per node",
			Meaning: "aggregated: ranks on each node of the `SERVER`; also GPUs per node when Slurm, `gpusPerNode` and the config name none"},
		{Name: "world size", Flag: "--world-size", Env: []string{aggWorldSizeVar}, Config: "the largest `server_configs[].world_size`, else tensor x pipeline x context parallel size",
			Default: "nodes x ranks per node", Meaning: "aggregated: ranks of the `SERVER`; at least one per node, at most nodes x ranks per node"},
		{Name: "total GPUs", Env: []string{"totalGpus"},
			Meaning: "checked against the layout (nodes x GPUs per node), as `totalNodes` is, unless a layout flag changes the layout on purpose"},

		// The commands.
		{Name: "config file", Flag: "--config",
			Meaning: "the TensorRT-LLM test config YAML; other tools' sections and settings are left alone, but wrong types, a key given twice and near misses of the keys read are errors (see \"What the config may hold\")"},
		{Name: inBaseCommand, Flag: "--command", Env: []string{"pytestCommand"},
			Default: "required, unless every role command is given",
			Meaning: "base test command the role commands are derived from; an aggregated test's `SERVER` runs it"},
		{Name: "base command without the wrapper", Env: []string{"pytestCommandNoLLMAPILaunch"}, Default: "the base command without the wrapper",
			Meaning: "base of the derived DISAGG_SERVER and BENCHMARK commands; stale, hence not read, when --command or --wrapper is given"},
		{Name: "GEN command", Flag: "--gen-command", Env: []string{"pytestCommandGENWorker", "pytestCommandWorker"}, Default: "derived",
			Meaning: "command of the GEN workers, used as given"},
		{Name: "CTX command", Flag: "--ctx-command", Env: []string{"pytestCommandCTXWorker", "pytestCommandWorker"}, Default: "derived",
			Meaning: "command of the CTX workers, used as given"},
		{Name: "DISAGG_SERVER command", Flag: "--server-command", Env: []string{"pytestCommandDisaggServer"}, Default: "derived",
			Meaning: "command of the router, used as given"},
		{Name: "BENCHMARK command", Flag: "--benchmark-command", Env: []string{"pytestCommandBenchmark"}, Default: "derived",
			Meaning: "command of the benchmark, used as given"},
		{Name: "worker assignments", Flag: "--worker-env", Config: "environment.worker_env_var", Default: "empty",
			Meaning: "`NAME=VALUE` words (only those, as in every assignment string below) put before the derived worker commands; the flag also beats the config's per-kind keys"},
		{Name: "GEN assignments", Flag: "--gen-env", Config: "environment.gen_worker_env_var", Default: "the worker assignments",
			Meaning: "assignments of the derived GEN command: `--gen-env` > `--worker-env` > `gen_worker_env_var` > `worker_env_var`; a blank value counts as not given"},
		{Name: "CTX assignments", Flag: "--ctx-env", Config: "environment.ctx_worker_env_var", Default: "the worker assignments",
			Meaning: "assignments of the derived CTX command, as for GEN"},
		{Name: "DISAGG_SERVER assignments", Flag: "--server-env", Config: "environment.server_env_var", Default: "empty",
			Meaning: "assignments put before the derived DISAGG_SERVER command"},
		{Name: "BENCHMARK assignments", Flag: "--benchmark-env", Config: "environment.benchmark_env_var", Default: "empty",
			Meaning: "assignments put before the derived BENCHMARK command"},
		{Name: "concurrency", Config: "benchmark.concurrency_list (a list, a number or a space-separated string)", Default: "1",
			Meaning: "the `gen_only` queue size is its largest value; left out without --config"},
		{Name: "unset list", Flag: "--unset", Default: "`" + DefaultUnset + "`",
			Meaning: "variables the derived worker commands unset first (`\"\"` for none)"},
		{Name: "wrapper", Flag: "--wrapper", Default: "`" + DefaultWrapper + "`",
			Meaning: "launcher that workers keep and the derived DISAGG_SERVER and BENCHMARK commands drop, as a shell word in command position, whatever its directory or quoting"},

		// srun.
		{Name: "srun arguments file", Flag: "--srun-args-file",
			Meaning: "extra srun arguments as shell words, as `printf '%q\\n'` writes them: quoting only, no expansions"},
		{Name: "srun argument", Flag: "--srun-arg",
			Meaning: "one more srun argument (repeatable), e.g. `--srun-arg=--container-image=X`; the options the plan sets (`-N`, `-w`, `--ntasks`, `--ntasks-per-node`, `--mpi`, `--kill-on-bad-exit`) are refused here and in the file, since srun would take the plan's copy"},
		{Name: "MPI type", Flag: "--mpi", Default: "`" + DefaultMPI + "`",
			Meaning: "`--mpi` of the worker steps; `none` leaves it out"},
		{Name: "pinned node", Flag: "--pin-node", Default: "the first node",
			Meaning: "node of the DISAGG_SERVER and BENCHMARK steps"},
		{Name: "container environment", Flag: "--forward-container-env", Default: "`auto`",
			Meaning: "add `--container-env=NAME` for every variable the plan sets: `always`, `never`, or `auto` (when the srun arguments hold a `--container-` option; plain Slurm without pyxis rejects it)"},

		// Paths.
		{Name: inWorkspace, Flag: "--workspace", Env: []string{"jobWorkspace"}, Default: "required",
			Meaning: "job workspace, an absolute path (a relative flag is made absolute)"},
		{Name: "output directory", Flag: "--output-dir", Env: []string{"testOutputDir"}, Default: "the workspace",
			Meaning: "directory of the role logs"},
		{Name: "install script", Flag: "--install-script", Env: []string{"installScript"}, Default: "none",
			Meaning: "install step before any role: `srun <srun args> SCRIPT` with no node or task options, so every task of the job runs it, as today's launch draft does; log `$jobWorkspace/install.log`"},
		{Name: "install per node", Flag: "--install-per-node", Default: "off",
			Meaning: "run the install script on one task per node of the plan instead (`-N <nodes> -w <list> --ntasks=<nodes> --ntasks-per-node=1`)"},
		{Name: "TensorRT-LLM tree", Flag: "--llm-src", Env: []string{taskopts.LLMSrcVar},
			Meaning: "the TensorRT-LLM source tree on the nodes: the task's working directory and the wrapper it makes executable"},
		{Name: "IMEX channels", Flag: "--imex-channels", Env: []string{"NVIDIA_IMEX_CHANNELS"}, Default: "`0`",
			Meaning: "`NVIDIA_IMEX_CHANNELS` of every role"},
		{Name: "visible devices", Flag: "--visible-devices", Env: []string{"NVIDIA_VISIBLE_DEVICES"}, Default: "`0,...,GPUs per node - 1`",
			Meaning: "`NVIDIA_VISIBLE_DEVICES` of every role"},

		// The pre-flight phase.
		{Name: "precheck", Flag: "--precheck", Env: []string{precheckEnabledVar}, Default: "off",
			Meaning: "the cache-transceiver precheck before any server: one step per GEN and CTX server, on its nodes and with its srun shape, all at once; skipped in gen-only-no-context"},
		{Name: "GEN precheck command", Flag: "--precheck-gen-command", Env: []string{precheckGenVar}, Default: "required with the precheck",
			Meaning: "command of `GEN_PRECHECK_<i>`, to which ` --server-idx <i>` is appended"},
		{Name: "CTX precheck command", Flag: "--precheck-ctx-command", Env: []string{precheckCtxVar}, Default: "required with the precheck and CTX servers",
			Meaning: "command of `CTX_PRECHECK_<i>`, to which ` --server-idx <i>` is appended"},
		{Name: "precheck timeout", Flag: "--precheck-timeout", Env: []string{precheckTimeoutVar}, Default: "`" + ShortDuration(DefaultPrecheckTimeout) + "`",
			Meaning: "bound of each precheck and --preflight step (the variable in seconds); one still running then is stopped and fails the run (exit 82)"},
		{Name: "pre-flight checks", Flag: "--preflight", Env: []string{preflightVar}, Default: "none",
			Meaning: "`NAME=COMMAND` checks (repeatable; the variable holds one per line) run before anything else, install included, as one task on every node; a non-zero exit fails the run (exit 87, infrastructure, naming the node srun names; 82 when it names none)"},

		// Readiness and liveness.
		{Name: "readiness probes", Flag: "--probe", Env: []string{"DISAGG_PROBES"}, Default: "none",
			Meaning: "`ROLE=TYPE:TARGET[@TIMEOUT]` (repeatable; the variable holds more, separated by `;` or lines): dependents wait until the probe passes"},
		{Name: "probe timeout", Flag: "--probe-timeout", Default: "`" + ShortDuration(DefaultProbeTimeout) + "`",
			Meaning: "timeout of probes that give none"},
		{Name: "liveness checks", Flag: "--liveness", Env: []string{"DISAGG_LIVENESS"}, Default: "none",
			Meaning: "`ROLE=TYPE:TARGET[@PERIOD[/FAILURES]]` (repeatable; the variable holds more): checked from the role's readiness until it ends; failing checks in a row fail the run (exit 85)"},
		{Name: "node timeout", Flag: "--node-timeout", Env: []string{nodeTimeoutVar}, Default: "`" + ShortDuration(taskopts.DefaultNodeTimeout) + "`",
			Meaning: "a node whose heartbeat has not changed for this long while steps run on it has failed (exit 87); `0`: off; the variable is a duration or seconds; the tasks refresh the heartbeat every sixth of it"},

		// The task runner.
		{Name: "task install", Flag: "--task-install", Default: "none",
			Meaning: "install command one task per node runs before the role; the other tasks wait for it"},
		{Name: "task install timeout", Flag: "--task-install-timeout", Default: "`" + ShortDuration(d.InstallTimeout) + "`",
			Meaning: "how long the other tasks wait for the per-node install"},
		{Name: "task barrier", Flag: "--task-barrier", Default: onOff(d.Barrier),
			Meaning: "in every step of more than one task, all ranks wait for each other after install, setup and rank 0's preparation, then start the command together"},
		{Name: "task barrier timeout", Flag: "--task-barrier-timeout", Default: "`" + ShortDuration(d.BarrierTimeout) + "`",
			Meaning: "bound of the barrier and of the wait for rank 0's preparation; keep it longer than the install timeout, since a rank may wait there for another node's whole install"},
		{Name: "task setup", Flag: "--task-setup", Env: []string{"DISAGG_TASK_SETUP"}, Default: "none",
			Meaning: "`FILE[:FUNCTION]`: a bash file every rank sources (then calls FUNCTION) before the barrier, the environment dump and the command, which see the environment it builds; its failure fails the rank with its own code"},
		{Name: "task rank 0 preparation", Flag: "--task-rank0", Default: "none",
			Meaning: "rank 0 of every step runs it before the barrier; the other ranks wait for it (no fixed sleep), and its failure fails every rank of the step with rank 0's code and message"},
		{Name: "task after commands", Flag: "--task-after", Default: "none",
			Meaning: "run by every rank after the command, also after a failure and after the teardown's SIGTERM (repeatable); best effort, output in the role log; `DISAGG_TASK_EXIT_CODE` holds the command's exit code"},
		{Name: "task rank 0 after commands", Flag: "--task-after-rank0", Default: "none",
			Meaning: "the same on rank 0 only, after the `--task-after` ones (today's perf check)"},
		{Name: "task after timeout", Flag: "--task-after-timeout", Default: "`" + ShortDuration(d.AfterTimeout) + "`",
			Meaning: "bound of each after command (then SIGKILL, exit code " + strconv.Itoa(verdict.ExitTimedOut) + " for it)"},
		{Name: "task after decides", Flag: "--task-after-decides", Default: "off",
			Meaning: "when the command passed, the first failing after command's exit code becomes the rank's; otherwise after commands never change it"},
		{Name: "task unset Slurm", Flag: "--task-unset-slurm", Default: "`" + string(d.UnsetSlurm) + "`",
			Meaning: "unset `PMI* PMIX* MPI* OMPI* SLURM*` (but `SLURM_PROCID`) before the command: `always`, `never`, or `auto` (DISAGG_SERVER, BENCHMARK and single-node jobs)"},
		{Name: "task environment dump", Flag: "--task-env-dump", Default: onOff(d.EnvDump),
			Meaning: "print the sorted, redacted environment before the command"},
		{Name: "task llmSrcNode setup", Flag: "--task-llmsrc-setup", Default: onOff(d.LLMSrcSetup),
			Meaning: "make the wrapper in `llmSrcNode` executable and work in its `tests/integration/defs`"},
		{Name: "task library path", Flag: "--task-ld-library-path", Default: onOff(d.LDLibraryPath),
			Meaning: "prepend the installed `tensorrt_llm/libs` to `LD_LIBRARY_PATH`, only when `llmSrcNode` is set (it starts python3 in every task)"},
	}
}

// lookupInput returns the input called name. Every name it is asked for is a constant of this
// package, which TestInputNames checks, so a miss is a programming error.
func lookupInput(name string) Input {
	for _, in := range Inputs() {
		if in.Name == name {
			return in
		}
	}
	panic("roles: no input called " + name)
}

// sources lists where the input can be given: its flag, its environment variables and its config
// key, e.g. "--gpus-per-node, SLURM_GPUS_ON_NODE, SLURM_GPUS_PER_NODE, gpusPerNode or
// hardware.gpus_per_node".
func (in Input) sources() string {
	var list []string
	if in.Flag != "" {
		list = append(list, in.Flag)
	}
	list = append(list, in.Env...)
	if in.Config != "" {
		list = append(list, in.Config)
	}
	return orList(list)
}

// missing is the error of a required input that no source gives; more, when not empty, follows the
// list of sources (another way to give it, or what needs it).
func missing(name, more string) *InputError {
	return &InputError{Input: name, Problem: lookupInput(name).sources() + more, Missing: true}
}
