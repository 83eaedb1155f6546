package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/supervisor"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

// TestStatusExitCodes: status exits with what the summary says about the run, as its help's table
// says: the run's own code once decided (0 for a pass), 88 while its supervisor runs, 89 once it is
// gone without a decision.
func TestStatusExitCodes(t *testing.T) {
	started := time.Now().Add(-time.Hour).UTC()
	code := func(c int) *int { return &c }
	at := func(d time.Duration) *time.Time { t := time.Now().Add(d).UTC(); return &t }
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		summary supervisor.Summary
		want    int
		line    string
	}{
		{name: "passed", want: verdict.ExitOK,
			summary: supervisor.Summary{State: supervisor.RunSucceeded, ExitCode: code(0), EndedAt: at(0)}},
		{name: "failed with a role's code", want: 3,
			summary: supervisor.Summary{State: supervisor.RunFailed, ExitCode: code(3), EndedAt: at(0)}},
		{name: "failed with a verdict of the supervisor's", want: verdict.ExitHung,
			summary: supervisor.Summary{State: supervisor.RunFailed, ExitCode: code(verdict.ExitHung), EndedAt: at(0)}},
		{name: "interrupted", want: 143,
			summary: supervisor.Summary{State: supervisor.RunInterrupted, ExitCode: code(143), EndedAt: at(0)}},
		// This process is the supervisor, on this host and boot: it runs. Its heartbeat lies a
		// minute ahead, as a clock running ahead would put it, so that no delay of a loaded machine
		// can make it stale before status looks.
		{name: "running", want: verdict.ExitStatusRunning, line: "supervisor running (pid ",
			summary: supervisor.Summary{State: supervisor.RunRunning, UpdatedAt: at(time.Minute),
				Supervisor: &supervisor.SupervisorInfo{Host: host, BootID: supervisor.BootID(), PID: os.Getpid(), StartedAt: started}}},
		// The supervisor ran on another host and has not written its heartbeat for an hour.
		{name: "gone", want: verdict.ExitStatusGone, line: "supervisor gone (last heard ",
			summary: supervisor.Summary{State: supervisor.RunRunning, UpdatedAt: at(-time.Hour),
				Supervisor: &supervisor.SupervisorInfo{Host: "elsewhere-" + host, BootID: "another", PID: 4242, StartedAt: started}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.summary.JobID, tt.summary.RunToken, tt.summary.StartedAt = "4242", "4242.0.1", started
			data, err := json.Marshal(tt.summary)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, supervisor.SummaryFile), data, 0o644); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr strings.Builder
			got := run([]string{"disagg-supervisor", "status", dir}, &stdout, &stderr)
			if got != tt.want || stderr.String() != "" {
				t.Errorf("status = %d, stderr %q; want %d and nothing", got, stderr.String(), tt.want)
			}
			if want := "job 4242, run token 4242.0.1, state " + string(tt.summary.State); !strings.HasPrefix(stdout.String(), want) {
				t.Errorf("stdout does not start with %q:\n%s", want, stdout.String())
			}
			if tt.line != "" && !strings.Contains(stdout.String(), "\n"+tt.line) {
				t.Errorf("stdout lacks a line starting %q:\n%s", tt.line, stdout.String())
			}
		})
	}
}

// TestStatusHelpHasTheExitCodes: status --help tells every exit code status can end with.
func TestStatusHelpHasTheExitCodes(t *testing.T) {
	var stdout, stderr strings.Builder
	if got := run([]string{"disagg-supervisor", "status", "--help"}, &stdout, &stderr); got != 0 || stderr.String() != "" {
		t.Fatalf("status --help = %d, stderr %q", got, stderr.String())
	}
	for _, want := range []string{"\n    0      the run succeeded\n", "\n    1-255  ", "\n    80-87  80 internal, 81 bad input",
		"87 infrastructure\n", "\n    88     not decided yet, its supervisor running", "\n    89     not decided, its supervisor gone",
		"\n    81     also when DIR holds no readable summary.json\n"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("status --help lacks %q:\n%s", want, stdout.String())
		}
	}
}
