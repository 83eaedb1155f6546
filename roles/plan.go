// Package roles turns a topology and a layout into a Plan: which role runs on which nodes, with which
// command, environment and srun argv. It is pure: no processes, no files, no clocks.
package roles

import (
	"github.com/disagg-supervisor/disagg-supervisor/taskopts"
)

// Kind is the kind of a role: the task runner's --kind, whose type package taskopts owns. Its string
// form is part of the plan JSON schema.
type Kind = taskopts.Kind

// The kinds of role, in launch order.
const (
	KindGen       = taskopts.KindGen
	KindCtx       = taskopts.KindCtx
	KindServer    = taskopts.KindServer
	KindBenchmark = taskopts.KindBenchmark
)

// BenchmarkMode is how the benchmark drives the servers, as the test id names it
// (MODULE::FUNCTION[PREFIX-MODE[-MODIFIER]-CONFIG]). Its string form is part of the plan JSON schema.
type BenchmarkMode string

// The benchmark modes of the newest generator.
const (
	// BenchmarkE2E runs requests end to end, through CTX and GEN servers.
	BenchmarkE2E BenchmarkMode = "e2e"
	// BenchmarkGenOnly measures the GEN servers: the derived GEN command gets
	// TRTLLM_DISABLE_KV_CACHE_TRANSFER_OVERLAP=1 and TLLM_BENCHMARK_REQ_QUEUES_SIZE. The CTX servers
	// still run unless the plan is also GenOnlyNoContext.
	BenchmarkGenOnly BenchmarkMode = "gen_only"
)

// Plan is everything the supervisor launches for one job attempt. Its JSON form is documented in
// docs/outputs.md and is a stable interface for users.
type Plan struct {
	// Mode is disaggregated (GEN, CTX, DISAGG_SERVER, BENCHMARK) or aggregated (one SERVER).
	Mode          TestMode      `json:"mode"`
	JobID         string        `json:"job_id"`
	RestartCount  int           `json:"restart_count"`
	RunToken      string        `json:"run_token"`
	Nodes         []string      `json:"nodes"`
	GPUsPerNode   int           `json:"gpus_per_node"`
	BenchmarkMode BenchmarkMode `json:"benchmark_mode"`
	// GenOnlyNoContext is the variant without CTX servers (benchmark.mode gen_only_no_context, or
	// the older generator's gen-only): no CTX roles, and TRTLLM_DISAGG_BENCHMARK_GEN_ONLY=1 in every
	// role's environment and before the derived GEN and DISAGG_SERVER commands. It replaces the
	// former "gen_only" field, whose name now reads as the benchmark mode.
	GenOnlyNoContext bool   `json:"gen_only_no_context"`
	Workspace        string `json:"workspace"`
	OutputDir        string `json:"output_dir"`
	// TaskBinary is where the supervisor puts its own static binary so that `task` can run inside the
	// steps (containers included); every role's srun argv ends with it.
	TaskBinary string `json:"task_binary"`
	// CoordDir is where the steps of this attempt exchange files (addresses, barriers, status);
	// it is named by the run token so that attempts never mix.
	CoordDir string `json:"coord_dir"`
	// NodeTimeoutSeconds is the node watch's bound: a node whose heartbeat has not changed for this
	// long while steps run on it has failed; 0: no watch, and no heartbeats (see Role.Task).
	NodeTimeoutSeconds float64 `json:"node_timeout_seconds"`
	// ServerConfigs is how many server configurations the job runs one after another in the same
	// steps (the config's server_configs list); 0 when the config does not say.
	ServerConfigs int `json:"server_configs,omitempty"`
	// SrunArgs are the user's extra srun arguments, already part of every step's argv; kept so
	// that the supervisor can run further steps (a precheck) the same way.
	SrunArgs []string `json:"srun_args,omitempty"`
	// Install is the install step over the whole allocation; nil when no install script is given.
	Install *Step `json:"install,omitempty"`
	// Preflight are the generic pre-flight checks (--preflight), run before anything else;
	// Precheck the cache-transceiver precheck instances, run after the install step. No role is
	// launched before every one of them has ended with 0.
	Preflight []Check `json:"preflight,omitempty"`
	Precheck  []Check `json:"precheck,omitempty"`
	Roles     []Role  `json:"roles"`
}

// Step is a one-off srun step that is not a role (the install step).
type Step struct {
	Command string   `json:"command"`
	Srun    []string `json:"srun"`
	Log     string   `json:"log"`
	// PerNode tells how the step is spread: true runs one task on each node of the plan (-N, -w,
	// --ntasks, --ntasks-per-node=1 in Srun); false runs every task of the job, with no node or task
	// options in Srun, so that Slurm starts the job's own task count, as today's launch draft does.
	PerNode bool `json:"per_node"`
	// NTasks is how many tasks srun starts: the plan's node count when PerNode, else the job's task
	// count from SLURM_NTASKS (or SLURM_NPROCS), else SLURM_JOB_NUM_NODES x SLURM_NTASKS_PER_NODE.
	// 0 means unknown: Slurm decides (one task per node when the job sets no task count).
	NTasks int `json:"ntasks"`
}

// Role is one srun step of the plan.
type Role struct {
	Name          string            `json:"name"`
	Kind          Kind              `json:"kind"`
	Index         int               `json:"index"`
	Nodes         []string          `json:"nodes"`
	NTasks        int               `json:"ntasks"`
	NTasksPerNode int               `json:"ntasks_per_node"`
	Command       string            `json:"command"`
	Env           map[string]string `json:"env"`
	Srun          []string          `json:"srun"`
	Log           string            `json:"log"`
	// Task is what the role's `task` runs with in every rank, defaults included; its argv form is
	// in Srun.
	Task taskopts.Options `json:"task"`
	// Probe, when set, tells when the role is ready; dependents wait for it.
	Probe *Probe `json:"probe,omitempty"`
	// Liveness, when set, checks the role from its readiness until it ends or the teardown starts.
	Liveness *Liveness `json:"liveness,omitempty"`
}

// ProbeType is what a readiness probe checks; its word is the TYPE of --probe and the plan's
// probe.type.
type ProbeType string

// The probe types.
const (
	ProbeHTTP ProbeType = "http" // GET expecting 2xx
	ProbeTCP  ProbeType = "tcp"  // connect
	ProbeFile ProbeType = "file" // exists
	ProbeLog  ProbeType = "log"  // the regular expression matches a line of the role's log
)

// Valid reports whether t is one of the probe types.
func (t ProbeType) Valid() bool {
	switch t {
	case ProbeHTTP, ProbeTCP, ProbeFile, ProbeLog:
		return true
	}
	return false
}

// Probe is a readiness check of a role.
type Probe struct {
	Type ProbeType `json:"type"`
	// Target is the URL, host:port, path or regular expression, with placeholders expanded.
	Target string `json:"target"`
	// TimeoutSeconds bounds how long the supervisor waits for the probe to pass.
	TimeoutSeconds float64 `json:"timeout_seconds"`
	// ConfigTarget is the target with {idx} left for the supervisor, empty when the target does not
	// use it: such a probe is awaited again at each later server configuration's start, with {idx}
	// resolved for it (Target has it as 0, for the launch).
	ConfigTarget string `json:"config_target,omitempty"`
}

// IsWorker reports whether the role is a multi-rank GEN or CTX server.
func (r Role) IsWorker() bool { return r.Kind == KindGen || r.Kind == KindCtx }
