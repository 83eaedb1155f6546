package record

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
	"github.com/disagg-supervisor/disagg-supervisor/logscan"
	"github.com/disagg-supervisor/disagg-supervisor/slurm"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

func intPtr(v int) *int { return &v }

// SupervisorInfo names the supervisor process that writes a summary: where it runs and since when.
type SupervisorInfo struct {
	Host string `json:"host"`
	PID  int    `json:"pid"`
	// BootID is the kernel's /proc/sys/kernel/random/boot_id: a pid names a process only within one
	// boot of one host.
	BootID    string    `json:"boot_id,omitempty"`
	StartedAt time.Time `json:"started_at"`
}

// Leftover is a process of a role's step that was still running when the role command and the after
// commands of its task had ended (a daemon that escaped the command, a worker whose parent died), and
// that the task stopped. summary.json lists them under roles[i].leftovers, and the event log has a
// leftover event for each one.
type Leftover struct {
	// Name is the process's command name as the kernel keeps it (at most 15 bytes).
	Name string `json:"name"`
	PID  int    `json:"pid"`
	Node string `json:"node"`
	Rank int    `json:"rank"`
	// Step is Slurm's id of the step, when the task knew it.
	Step string `json:"step,omitempty"`
	// RanSeconds is how long it had run when its task found it; 0 when unknown.
	RanSeconds float64   `json:"ran_seconds"`
	FoundAt    time.Time `json:"found_at"`
}

// Failure is the root cause of a failed run: which role, where, what code, and the end of its log.
// It is an error so that it can head the run's list of errors.
type Failure struct {
	Role  string   `json:"role,omitempty"`
	Kind  string   `json:"kind,omitempty"`
	Nodes []string `json:"nodes,omitempty"`
	// Node and Ranks come from srun's "srun: error: NODE: task(s) RANKS: ..." line, when it printed one.
	Node     string `json:"node,omitempty"`
	Ranks    []int  `json:"ranks,omitempty"`
	Code     int    `json:"code"`
	Reason   string `json:"reason"`
	SrunLine string `json:"srun_line,omitempty"`
	Log      string `json:"log,omitempty"`
	// FirstErrors are the first error-shaped lines of this attempt's part of the log, with their
	// line numbers in the file: the tail of a crashed MPI job is mostly shutdown noise.
	FirstErrors []logscan.Line `json:"first_errors,omitempty"`
	LogTail     []string       `json:"log_tail,omitempty"`
	// Hung is set when the role was found unhealthy or hung rather than failing by itself (exit
	// code 85); Check and Answers are the liveness check it failed and its last answers.
	Hung    bool     `json:"hung,omitempty"`
	Check   string   `json:"check,omitempty"`
	Answers []string `json:"answers,omitempty"`
	// Class says what CI should make of the failure (test, infrastructure, hang, setup, cancelled,
	// invalid); Origin whose code Code is (a role's own, or the supervisor's verdict); Evidence the
	// lines that decided the class.
	Class    verdict.Class  `json:"class"`
	Origin   verdict.Origin `json:"origin"`
	Evidence []string       `json:"evidence,omitempty"`
}

// Error describes the failure in one line.
func (f *Failure) Error() string {
	return fmt.Sprintf("%s (exit code %d)", f.Where(), f.Code)
}

// Where names the role, node and rank of the failure, and its reason.
func (f *Failure) Where() string {
	var b strings.Builder
	if f.Role != "" {
		fmt.Fprintf(&b, "role %s", f.Role)
		if f.Node != "" {
			fmt.Fprintf(&b, " on node %s", f.Node)
		} else if len(f.Nodes) > 0 {
			fmt.Fprintf(&b, " on nodes %s", slurm.CompressHostlist(f.Nodes))
		}
		if len(f.Ranks) > 0 {
			fmt.Fprintf(&b, " rank %s", slurm.CompressRanks(f.Ranks))
		}
		b.WriteString(": ")
	}
	b.WriteString(f.Reason)
	return b.String()
}

// Summary is summary.json: the whole run at a glance, rewritten at every change so that `status` can
// show a run in progress. Its schema is documented in docs/outputs.md.
type Summary struct {
	JobID     string `json:"job_id"`
	RunToken  string `json:"run_token"`
	Workspace string `json:"workspace"`
	OutputDir string `json:"output_dir"`
	// State is running until the result is decided, then final at once (succeeded, failed,
	// interrupted), while the teardown may still go on; EndedAt is set when every step has ended.
	State           RunState      `json:"state"`
	ExitCode        *int          `json:"exit_code"`
	StartedAt       time.Time     `json:"started_at"`
	DecidedAt       *time.Time    `json:"decided_at,omitempty"`
	EndedAt         *time.Time    `json:"ended_at,omitempty"`
	DurationSeconds float64       `json:"duration_seconds"`
	Roles           []RoleSummary `json:"roles"`
	Failure         *Failure      `json:"failure,omitempty"`
	IgnoredSIGTERM  []string      `json:"ignored_sigterm,omitempty"`
	// NotSignalled are the steps still running at the grace period's end whose stop command had
	// failed: they are not said to have ignored SIGTERM, which they may never have received.
	NotSignalled []NotSignalled `json:"not_signalled,omitempty"`
	// Warnings are what did not change the result but deserves a look, e.g. a server that ended
	// with a non-zero code after the benchmark had announced its end.
	Warnings []string `json:"warnings,omitempty"`
	Errors   []string `json:"errors,omitempty"`
	// Checks are the pre-flight phase's verdicts, UCXRedFlags the red-flag lines of their logs.
	Checks      []CheckResult `json:"checks,omitempty"`
	UCXRedFlags []RedFlag     `json:"ucx_red_flags,omitempty"`
	// Ledger is where the GPU time went, by step and phase.
	Ledger *Ledger `json:"gpu_ledger,omitempty"`
	// Measurement is the window from the benchmark's launch to its end marker, and its result rules.
	Measurement *Measurement `json:"measurement,omitempty"`
	// ServerConfigs are the server configurations the benchmark runs one after another, from its
	// launch: each one's times, status, disturbances and verdict.
	ServerConfigs []ServerConfig `json:"server_configs,omitempty"`
	// BadNodes are the nodes an infrastructure failure named, also in BadNodesFile.
	BadNodes []string `json:"bad_nodes,omitempty"`
	// SlurmCalls is how many times each Slurm command ran (slurm.CallShowJob, ...), retries included,
	// and SlurmRetries how many of them were retries after the controller did not answer; absent in
	// local mode.
	SlurmCalls   map[string]int `json:"slurm_calls,omitempty"`
	SlurmRetries map[string]int `json:"slurm_retries,omitempty"`

	// Supervisor is the process that writes this summary; UpdatedAt its last write, at least every
	// HeartbeatPeriod while it runs, so that status can tell a live run from an orphaned record.
	Supervisor *SupervisorInfo `json:"supervisor,omitempty"`
	UpdatedAt  *time.Time      `json:"updated_at,omitempty"`
}

// RoleSummary is one step in summary.json.
type RoleSummary struct {
	Name       string     `json:"name"`
	Kind       string     `json:"kind"`
	Nodes      []string   `json:"nodes"`
	NTasks     int        `json:"ntasks"`
	State      StepState  `json:"state"`
	PID        int        `json:"pid,omitempty"`
	LaunchedAt *time.Time `json:"launched_at,omitempty"`
	RunningAt  *time.Time `json:"running_at,omitempty"`
	ReadyAt    *time.Time `json:"ready_at,omitempty"`
	EndedAt    *time.Time `json:"ended_at,omitempty"`
	// ExitCode is the root cause's code: the first failing task's own status when srun named one,
	// else srun's status. SrunStatus is what srun itself returned.
	ExitCode   *int   `json:"exit_code,omitempty"`
	SrunStatus *int   `json:"srun_status,omitempty"`
	Signal     string `json:"signal,omitempty"`
	Log        string `json:"log"`
	// Leftovers are the processes that outlived the role command in its tasks, which stopped them.
	Leftovers []Leftover `json:"leftovers,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// writeJSONFile writes v atomically: a reader never sees half a file.
func WriteJSONFile(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return coord.WriteFileAtomic(path, append(data, '\n'))
}

// ReadSummary reads the summary.json of a run directory (finished or in progress).
func ReadSummary(dir string) (Summary, error) {
	var s Summary
	data, err := os.ReadFile(filepath.Join(dir, SummaryFile))
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("%s: %w", filepath.Join(dir, SummaryFile), err)
	}
	return s, nil
}

// NotSignalled is a step the teardown could not signal: still running at the end of the grace
// period after its stop command failed, with why.
type NotSignalled struct {
	Role string `json:"role"`
	// Error is the stop command's error (e.g. scancel's), or that it had not answered.
	Error string `json:"error"`
}
