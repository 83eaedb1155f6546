// Package roles turns a topology and a layout into a Plan: which role runs on which nodes, with which
// command, environment and srun argv. It is pure: no processes, no files, no clocks.
package roles

import "path"

// Kind is the kind of a role. Its string form is part of the plan JSON schema.
type Kind string

// The kinds of role, in launch order.
const (
	KindGen       Kind = "gen"
	KindCtx       Kind = "ctx"
	KindServer    Kind = "server"
	KindBenchmark Kind = "benchmark"
)

// Plan is everything the supervisor launches for one job attempt. Its JSON form is documented in the
// README and is a stable interface for users.
type Plan struct {
	JobID        string   `json:"job_id"`
	RestartCount int      `json:"restart_count"`
	RunToken     string   `json:"run_token"`
	Nodes        []string `json:"nodes"`
	GPUsPerNode  int      `json:"gpus_per_node"`
	GenOnly      bool     `json:"gen_only"`
	Workspace    string   `json:"workspace"`
	OutputDir    string   `json:"output_dir"`
	// TaskBinary is where the supervisor puts its own static binary so that `task` can run inside the
	// steps (containers included); every role's srun argv ends with it.
	TaskBinary string `json:"task_binary"`
	// CoordDir is where the steps of this attempt exchange files (addresses, barriers, status);
	// it is named by the run token so that attempts never mix.
	CoordDir string `json:"coord_dir"`
	// SrunArgs are the user's extra srun arguments, already part of every step's argv; kept so
	// that the supervisor can run further steps (a precheck) the same way.
	SrunArgs []string `json:"srun_args,omitempty"`
	// Install is the install step over the whole allocation; nil when no install script is given.
	Install *Step  `json:"install,omitempty"`
	Roles   []Role `json:"roles"`
}

// Step is a one-off srun step that is not a role (the install step).
type Step struct {
	Command string   `json:"command"`
	Srun    []string `json:"srun"`
	Log     string   `json:"log"`
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
	// Probe, when set, tells when the role is ready; dependents wait for it.
	Probe *Probe `json:"probe,omitempty"`
}

// Probe is a readiness check of a role.
type Probe struct {
	// Type is one of "http" (GET expecting 2xx), "tcp" (connect), "file" (exists), "log" (regexp
	// matches a line of the role's log).
	Type string `json:"type"`
	// Target is the URL, host:port, path or regular expression, with placeholders expanded.
	Target string `json:"target"`
	// TimeoutSeconds bounds how long the supervisor waits for the probe to pass.
	TimeoutSeconds float64 `json:"timeout_seconds"`
}

// IsWorker reports whether the role is a multi-rank GEN or CTX server.
func (r Role) IsWorker() bool { return r.Kind == KindGen || r.Kind == KindCtx }

// TaskBinaryPath is where the supervisor puts its own binary under a workspace, for `task` and for
// commands that call the binary from inside a step.
func TaskBinaryPath(workspace string) string {
	return path.Join(workspace, ".disagg-supervisor", "bin", "disagg-supervisor")
}
