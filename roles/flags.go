package roles

import (
	"strconv"
	"strings"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/mode"
	"github.com/disagg-supervisor/disagg-supervisor/taskopts"
)

// Flags are the command-line inputs of a plan. The CLI binds them with kong, hence the struct tags.
// Every duration and count must be positive; a `zero` tag says what 0 means where 0 is allowed
// (the CLI checks every such flag by that one rule before anything else).
//
// A zero field means "not given": Build then falls back to the environment, then to the config
// file, then to the default named in the help text. Pointers mark the fields whose zero value is
// also a meaningful choice (0 CTX servers, --no-gen-only, an empty unset list), so that the layers
// below can still fill them when the flag is absent. Defaults that kong shows with `default:` tags
// are the same ones Build applies to a zero field, so a Flags built in Go behaves like the CLI.
type Flags struct {
	// Topology overrides.

	Nodelist     string `name:"nodelist" placeholder:"HOSTLIST" group:"Topology" help:"Nodes of the allocation as a Slurm hostlist, e.g. gpu[01-04] (default: SLURM_JOB_NODELIST)."`
	GPUsPerNode  *int   `name:"gpus-per-node" placeholder:"N" group:"Topology" help:"GPUs on each node (default: SLURM_GPUS_ON_NODE, SLURM_GPUS_PER_NODE, gpusPerNode, then the config's hardware.gpus_per_node)."`
	JobID        string `name:"job-id" placeholder:"ID" group:"Topology" help:"Job id for the run token and coordination directory (default: SLURM_JOB_ID, else nojob)."`
	RestartCount *int   `name:"restart-count" zero:"the first attempt" placeholder:"N" group:"Topology" help:"Restart count for the run token, 0 for the first attempt (default: SLURM_RESTART_COUNT, else 0)."`

	// Layout.

	NumGen            *int  `name:"num-gen" placeholder:"N" group:"Layout" help:"Number of GEN servers (env numGenServers, config hardware.num_gen_servers)."`
	NumCtx            *int  `name:"num-ctx" zero:"no CTX servers" placeholder:"N" group:"Layout" help:"Number of CTX servers, 0 allowed (env numCtxServers, config hardware.num_ctx_servers; default 0)."`
	NodesPerGen       *int  `name:"nodes-per-gen" placeholder:"N" group:"Layout" help:"Nodes of each GEN server (env nodesPerGenServer; else derived from gpusPerGenServer or the config)."`
	NodesPerCtx       *int  `name:"nodes-per-ctx" placeholder:"N" group:"Layout" help:"Nodes of each CTX server (env nodesPerCtxServer; else derived from gpusPerCtxServer or the config)."`
	GPUsPerNodePerGen *int  `name:"gpus-per-node-per-gen" placeholder:"N" group:"Layout" help:"Ranks (GPUs) per node of each GEN server (env gpusPerNodePerGenServer; else derived)."`
	GPUsPerNodePerCtx *int  `name:"gpus-per-node-per-ctx" placeholder:"N" group:"Layout" help:"Ranks (GPUs) per node of each CTX server (env gpusPerNodePerCtxServer; else derived)."`
	GenOnly           *bool `name:"gen-only" negatable:"" group:"Layout" help:"Gen-only without context servers (gen_only_no_context): no CTX servers, TRTLLM_DISAGG_BENCHMARK_GEN_ONLY=1 for every role (env TRTLLM_DISAGG_BENCHMARK_GEN_ONLY, config benchmark.mode containing gen_only_no_context)."`
	// BenchmarkMode is text rather than a BenchmarkMode so that Build, not the flag parser, rejects a
	// bad value: its message names the input like every other bad input, and "not given" stays
	// distinct from e2e so that the environment and the test id can decide.
	BenchmarkMode string `name:"benchmark-mode" placeholder:"MODE" group:"Layout" help:"Benchmark mode, e2e or gen_only; gen_only keeps the CTX servers and gives the derived GEN command TRTLLM_DISABLE_KV_CACHE_TRANSFER_OVERLAP=1 TLLM_BENCHMARK_REQ_QUEUES_SIZE=<largest concurrency> (env DISAGG_BENCHMARK_MODE; else the MODE of the test id MODULE::FUNCTION[PREFIX-MODE[-MODIFIER]-CONFIG] in the base command; else gen_only with --gen-only, else e2e)."`

	// The test mode and the aggregated layout.
	AggregatedFlags

	// Commands.

	Config           string  `name:"config" placeholder:"FILE" group:"Commands" help:"TensorRT-LLM disaggregated test config YAML: hardware, worker_config, environment and benchmark keys fill what flags and environment leave open; an aggregated test's config (server_configs) plans one SERVER."`
	Command          string  `name:"command" placeholder:"CMD" group:"Commands" help:"Base test command, role commands are derived from it (env pytestCommand)."`
	GenCommand       string  `name:"gen-command" placeholder:"CMD" group:"Commands" help:"GEN worker command, used as given (env pytestCommandGENWorker, then pytestCommandWorker)."`
	CtxCommand       string  `name:"ctx-command" placeholder:"CMD" group:"Commands" help:"CTX worker command, used as given (env pytestCommandCTXWorker, then pytestCommandWorker)."`
	ServerCommand    string  `name:"server-command" placeholder:"CMD" group:"Commands" help:"DISAGG_SERVER command, used as given (env pytestCommandDisaggServer)."`
	BenchmarkCommand string  `name:"benchmark-command" placeholder:"CMD" group:"Commands" help:"BENCHMARK command, used as given (env pytestCommandBenchmark)."`
	WorkerEnv        string  `name:"worker-env" placeholder:"ENV" group:"Commands" help:"Assignments put before derived worker commands (config environment.worker_env_var)."`
	GenEnv           string  `name:"gen-env" placeholder:"ENV" group:"Commands" help:"Assignments for the derived GEN command instead of --worker-env (config environment.gen_worker_env_var)."`
	CtxEnv           string  `name:"ctx-env" placeholder:"ENV" group:"Commands" help:"Assignments for the derived CTX command instead of --worker-env (config environment.ctx_worker_env_var)."`
	ServerEnv        string  `name:"server-env" placeholder:"ENV" group:"Commands" help:"Assignments put before the derived DISAGG_SERVER command (config environment.server_env_var)."`
	BenchmarkEnv     string  `name:"benchmark-env" placeholder:"ENV" group:"Commands" help:"Assignments put before the derived BENCHMARK command (config environment.benchmark_env_var)."`
	Unset            *string `name:"unset" placeholder:"NAMES" group:"Commands" help:"Variables that derived worker commands unset first, separated by spaces; empty for none (default: UCX_TLS UCX_NET_DEVICES UCX_CUDA_IPC_ENABLE_MNNVL)."`
	Wrapper          string  `name:"wrapper" placeholder:"NAME" group:"Commands" help:"Launcher that workers keep and the derived DISAGG_SERVER and BENCHMARK commands drop (default: trtllm-llmapi-launch)."`

	// srun.

	SrunArgsFile        string    `name:"srun-args-file" placeholder:"FILE" group:"srun" help:"File of extra srun arguments as shell words, as printf '%q\\n' writes them; quoting only, no expansions."`
	SrunArgs            []string  `name:"srun-arg" sep:"none" placeholder:"ARG" group:"srun" help:"One extra srun argument, after those of --srun-args-file; repeatable; write --srun-arg=--container-image=X."`
	MPI                 string    `name:"mpi" default:"pmix" placeholder:"TYPE" group:"srun" help:"srun --mpi type of the worker steps; none leaves --mpi out (default: ${default})."`
	PinNode             string    `name:"pin-node" placeholder:"NODE" group:"srun" help:"Node of the DISAGG_SERVER and BENCHMARK steps (default: the first node)."`
	ForwardContainerEnv mode.Mode `name:"forward-container-env" default:"auto" enum:"auto,always,never" group:"srun" help:"Pass the plan's variables with --container-env: always, never, or auto (when the srun arguments have a --container- option)."`

	// Paths.

	Workspace      string `name:"workspace" placeholder:"DIR" group:"Paths" help:"Job workspace, an absolute path (env jobWorkspace); required."`
	OutputDir      string `name:"output-dir" placeholder:"DIR" group:"Paths" help:"Directory of the role logs (env testOutputDir; default: the workspace)."`
	InstallScript  string `name:"install-script" placeholder:"CMD" group:"Paths" help:"Install step run before the roles by every task of the job, as srun runs it without node or task options (env installScript)."`
	InstallPerNode bool   `name:"install-per-node" group:"Paths" help:"Run the install script on one task per node of the plan instead of on every task of the job."`
	LLMSrc         string `name:"llm-src" placeholder:"DIR" group:"Paths" help:"TensorRT-LLM source tree on the nodes (env llmSrcNode)."`
	ImexChannels   string `name:"imex-channels" placeholder:"LIST" group:"Paths" help:"NVIDIA_IMEX_CHANNELS for every role (env NVIDIA_IMEX_CHANNELS; default 0)."`
	VisibleDevices string `name:"visible-devices" placeholder:"LIST" group:"Paths" help:"NVIDIA_VISIBLE_DEVICES for every role (env NVIDIA_VISIBLE_DEVICES; default 0,...,GPUs per node - 1)."`

	// Readiness.

	Probes       []string      `name:"probe" sep:"none" placeholder:"ROLE=TYPE:TARGET[@TIMEOUT]" group:"Readiness" help:"Readiness probe of the roles matching ROLE (a name or a glob such as GEN_*); TYPE is http, tcp, file or log; TARGET may use {role} {node} {out} {workspace} {job} {token} (the run token). Repeatable; env DISAGG_PROBES holds more, separated by ';' or lines."`
	Liveness     []string      `name:"liveness" sep:"none" placeholder:"ROLE=TYPE:TARGET[@PERIOD[/FAILURES]]" group:"Readiness" help:"Liveness check of the roles matching ROLE, from their readiness until they end: TYPE and TARGET as in --probe (log: a new matching line each period); an http TARGET may add status=CODE or status=LOW-HIGH and body=REGEXP after the URL, separated by spaces. FAILURES failed checks in a row (default 3, every PERIOD, default 10s) fail the run with exit code 85. Repeatable; env DISAGG_LIVENESS holds more, separated by ';' or lines."`
	ProbeTimeout time.Duration `name:"probe-timeout" default:"30m" placeholder:"DURATION" group:"Readiness" help:"Timeout of probes that give none; positive (default: ${default})."`

	// Node watch: the tasks' heartbeats, and the supervisor's bound on their silence.

	NodeTimeout *time.Duration `name:"node-timeout" zero:"off" placeholder:"DURATION" group:"Readiness" help:"A node whose heartbeat (a file in the coordination directory that the tasks on it rewrite every sixth of this) has not changed for this long while steps run on it has failed: exit code 87 (infrastructure), naming the node and its roles, long before Slurm's SlurmdTimeout notices; 0: off (env DISAGG_NODE_TIMEOUT; default ${node_timeout})."`

	// Pre-flight phase.

	Precheck           *bool         `name:"precheck" negatable:"" group:"Pre-flight" help:"Run the cache-transceiver precheck before any server: one step per GEN and CTX server, on its nodes and with its srun shape, all at once; every one must end with 0 (env ctPrecheckEnabled=1; skipped in gen-only-no-context)."`
	PrecheckGenCommand string        `name:"precheck-gen-command" placeholder:"CMD" group:"Pre-flight" help:"Command of GEN_PRECHECK_<i>, to which ' --server-idx <i>' is appended (env pytestCommandGENPrecheck)."`
	PrecheckCtxCommand string        `name:"precheck-ctx-command" placeholder:"CMD" group:"Pre-flight" help:"Command of CTX_PRECHECK_<i>, to which ' --server-idx <i>' is appended (env pytestCommandCTXPrecheck)."`
	PrecheckTimeout    time.Duration `name:"precheck-timeout" placeholder:"DURATION" group:"Pre-flight" help:"Bound of each precheck and --preflight step: one still running then is stopped and fails the run with exit code 82 (env ctPrecheckTimeout, in seconds; default 900s)."`
	Preflight          []string      `name:"preflight" sep:"none" placeholder:"NAME=COMMAND" group:"Pre-flight" help:"A check run before anything else as one task on every node of the allocation, e.g. --preflight 'disk=test $(df --output=avail -k . | tail -1) -gt 1000000'; a non-zero exit fails the run: exit code 87, infrastructure, naming the node srun names (82 when it names none). Repeatable; env DISAGG_PREFLIGHT holds more, one per line."`

	// Task runner options: rendered into every role's srun argv, read by "disagg-supervisor task".

	TaskInstall        string        `name:"task-install" placeholder:"CMD" group:"Task" help:"Install command that one task per node runs before the role, the others wait for it."`
	TaskInstallTimeout time.Duration `name:"task-install-timeout" default:"${task_install_timeout}" placeholder:"DURATION" group:"Task" help:"How long tasks wait for the per-node install (default: ${default})."`
	TaskBarrier        *bool         `name:"task-barrier" negatable:"" group:"Task" help:"In every step of more than one task, make all ranks wait for each other after install, setup and rank 0's preparation, so that they start the command together (default ${task_barrier}; --no-task-barrier or --task-barrier=false: off)."`
	TaskBarrierTimeout time.Duration `name:"task-barrier-timeout" default:"${task_barrier_timeout}" placeholder:"DURATION" group:"Task" help:"How long tasks wait at the barrier and for rank 0's preparation; keep it longer than --task-install-timeout (default: ${default})."`
	TaskSetup          string        `name:"task-setup" placeholder:"FILE[:FUNCTION]" group:"Task" help:"Bash file every rank sources (and function it then calls) before the environment dump and the command, which see the environment it builds; its failure fails the rank before the barrier (env DISAGG_TASK_SETUP)."`
	TaskRank0          string        `name:"task-rank0" placeholder:"CMD" group:"Task" help:"Command rank 0 of every step runs before the barrier; the other ranks wait for it to finish (no fixed sleep), and its failure fails them all with its message and code."`
	TaskAfter          []string      `name:"task-after" sep:"none" placeholder:"CMD" group:"Task" help:"Command every rank runs after the role command, also after a failure or the teardown's SIGTERM; best effort, bounded, output in the role log, skipped on a second signal; repeatable. DISAGG_TASK_EXIT_CODE holds the command's exit code."`
	TaskAfterRank0     []string      `name:"task-after-rank0" sep:"none" placeholder:"CMD" group:"Task" help:"Like --task-after, for rank 0 only (e.g. a perf check), after the --task-after commands; repeatable."`
	TaskAfterTimeout   time.Duration `name:"task-after-timeout" default:"${task_after_timeout}" placeholder:"DURATION" group:"Task" help:"Bound of each after command (default: ${default})."`
	TaskAfterDecides   bool          `name:"task-after-decides" group:"Task" help:"When the role command passed, the first failing after command's exit code becomes the rank's (today's rank-0 perf check); without it after commands never change the exit code."`
	UnsetSlurm         mode.Mode     `name:"task-unset-slurm" default:"${task_unset_slurm}" enum:"${task_unset_slurm_modes}" group:"Task" help:"Unset PMI*, PMIX*, MPI*, OMPI*, SLURM* (but SLURM_PROCID) before the command: always, never, or auto (DISAGG_SERVER, BENCHMARK and single-node jobs)."`
	EnvDump            *bool         `name:"task-env-dump" negatable:"" group:"Task" help:"Print the sorted, redacted environment before the command (default ${task_env_dump})."`
	LLMSrcSetup        *bool         `name:"task-llmsrc-setup" negatable:"" group:"Task" help:"Make the wrapper in llmSrcNode executable and cd to its tests/integration/defs (default ${task_llmsrc_setup})."`
	LDLibraryPath      *bool         `name:"task-ld-library-path" negatable:"" group:"Task" help:"When llmSrcNode is set, prepend the installed tensorrt_llm/libs to LD_LIBRARY_PATH (default ${task_ld_library_path})."`
}

// Sources is where a plan's inputs come from. Precedence: flags > environment > config file.
type Sources struct {
	Flags Flags
	// Getenv reads the environment (os.Getenv in production); nil means an empty environment.
	Getenv func(string) string
	// ReadFile reads the config and srun-args files (os.ReadFile in production).
	ReadFile func(string) ([]byte, error)
	// Unique is the last part of the run token, unique among attempts of one job on one restart
	// count; the supervisor's pid, as today's launch script uses. Empty means "0".
	Unique string
}

// Defaults that Build applies to zero fields.
const (
	DefaultWrapper      = "trtllm-llmapi-launch"
	DefaultUnset        = "UCX_TLS UCX_NET_DEVICES UCX_CUDA_IPC_ENABLE_MNNVL"
	DefaultMPI          = "pmix"
	DefaultJobID        = "nojob"
	DefaultProbeTimeout = 30 * time.Minute
)

// FlagVars are the kong variables that the tags of Flags interpolate (kong.Vars(FlagVars())): the task
// runner's defaults, so that the help text, kong's defaults and the task's own parser all take them
// from taskopts and a changed default cannot leave a stale one behind.
func FlagVars() map[string]string {
	d := taskopts.Defaults()
	return map[string]string{
		"task_install_timeout":   ShortDuration(d.InstallTimeout),
		"task_barrier_timeout":   ShortDuration(d.BarrierTimeout),
		"task_barrier":           strconv.FormatBool(d.Barrier),
		"task_after_timeout":     ShortDuration(d.AfterTimeout),
		"task_unset_slurm":       string(d.UnsetSlurm),
		"task_unset_slurm_modes": taskopts.UnsetModes,
		"task_env_dump":          strconv.FormatBool(d.EnvDump),
		"task_llmsrc_setup":      strconv.FormatBool(d.LLMSrcSetup),
		"task_ld_library_path":   strconv.FormatBool(d.LDLibraryPath),
		"node_timeout":           ShortDuration(taskopts.DefaultNodeTimeout),
	}
}

// ShortDuration writes 30m rather than time.Duration's 30m0s, as people write durations in flags and
// help texts.
func ShortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
