package record

import "github.com/disagg-supervisor/disagg-supervisor/logscan"

// CheckResult is one pre-flight step's verdict in summary.json's "checks".
type CheckResult struct {
	Name  string `json:"name"`  // the step: GEN_PRECHECK_0, PREFLIGHT_disk
	Check string `json:"check"` // the instance: gen_0, disk
	Kind  string `json:"kind"`  // precheck or preflight
	// Passed: it ended with 0 within its timeout.
	Passed bool `json:"passed"`
	// Verdict is the first line of its status file when it wrote one, else what ended it:
	// "exit code 3", "timed out after 900s", "stopped before it ended"; "running" or "not run" while
	// it has none.
	Verdict  string `json:"verdict"`
	ExitCode *int   `json:"exit_code,omitempty"`
	TimedOut bool   `json:"timed_out,omitempty"`
	// Stopped: the supervisor (or Slurm) stopped it because of something else, a signal or another
	// failure, before it had ended by itself; its verdict is not its own.
	Stopped bool `json:"stopped,omitempty"`
	// Skipped: its phase was not applicable: every instance ended with 0 and none wrote a status file
	// (the precheck found nothing to check in this config, as today's gate's "SKIPPED: not
	// applicable for this config"). It does not fail the run; its verdict says "skipped: not applicable".
	Skipped bool `json:"skipped,omitempty"`
	// DurationSeconds is from its launch to its end (or to its timeout).
	DurationSeconds float64 `json:"duration_seconds,omitempty"`
	Log             string  `json:"log"`
	StatusFile      string  `json:"status_file,omitempty"`
	// FirstErrors and LogTail are those of a failed step's log (this attempt's part).
	FirstErrors []logscan.Line `json:"first_errors,omitempty"`
	LogTail     []string       `json:"log_tail,omitempty"`
}

// RedFlag is a UCX red-flag line (sw-emul, UCX ERROR, UCX WARN) of a pre-flight step's log.
type RedFlag struct {
	Log  string `json:"log"`
	Line int    `json:"line"`
	Text string `json:"text"`
}
