package supervisor

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/roles"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

// aggregatedFlags plan an aggregated test for the loop's harness: the install step, then one SERVER of
// 2 nodes x 2 ranks on node[1-4], with a file probe unless noProbes.
func aggregatedFlags(ws string, noProbes bool) roles.Flags {
	two := 2
	f := roles.Flags{
		Nodelist: "node[1-4]", GPUsPerNode: &two, JobID: "41",
		Command: "pytest test_aggregated.py", Workspace: ws, InstallScript: "/bin/install.sh",
		ProbeTimeout: time.Minute,
	}
	f.Mode, f.TotalNodes, f.GPUsPerNodePerServer = roles.ModeAggregated, &two, &two
	if !noProbes {
		f.Probes = []string{"SERVER=file:{out}/SERVER.ready"}
	}
	return f
}

// TestLoopAggregated plays the aggregated test against the run loop: the SERVER waits for the install
// step, its own end decides the run as the benchmark's does, and cancellations and signals are told
// from failures as in a disaggregated run.
func TestLoopAggregated(t *testing.T) {
	const cancelled = "slurmstepd: error: *** STEP 41.1 ON node2 CANCELLED AT 2026-11-30T05:20:25 ***\n"
	// installed ends the install step, which the SERVER waits for.
	installed := func(t *testing.T, h *harness) {
		t.Helper()
		if h.launched("SERVER") {
			t.Error("SERVER launched before the install step ended")
		}
		h.exit("INSTALL", 0)
		h.running("SERVER")
	}
	for _, tt := range []struct {
		name string
		opts options
		play func(t *testing.T, h *harness)
		want outcome
	}{
		{
			name: "the SERVER's status 0 is success, with no end marker",
			play: func(t *testing.T, h *harness) {
				installed(t, h)
				h.ready("SERVER", nil)
				if s := h.summary(); s.State != record.RunRunning {
					t.Errorf("state %s while the SERVER runs", s.State)
				}
				h.exit("SERVER", 0)
				junit, err := os.ReadFile(filepath.Join(h.plan.Workspace, record.JUnitFile))
				if err != nil || strings.Contains(string(junit), "<failure") {
					t.Errorf("JUnit (%v) of a passing aggregated run has a failure:\n%s", err, junit)
				}
			},
			want: outcome{state: record.RunSucceeded, code: 0, roles: map[string]record.StepState{"INSTALL": record.StepExited, "SERVER": record.StepExited}},
		},
		{
			name: "an end marker does not make the SERVER's end a server's finish",
			play: func(t *testing.T, h *harness) {
				installed(t, h)
				// A harness that writes benchmark_status files inside the SERVER: its end still
				// decides the run, rather than leaving it waiting for a benchmark there is none of.
				h.announceEnd()
				h.exit("SERVER", 0)
			},
			want: outcome{state: record.RunSucceeded, code: 0, roles: map[string]record.StepState{"SERVER": record.StepExited}},
		},
		{
			name: "a failing rank gives its own code, node and rank",
			play: func(t *testing.T, h *harness) {
				installed(t, h)
				h.writeLog("SERVER", "Traceback (most recent call last):\nRuntimeError: rank 3 lost its GPU\n"+
					"srun: error: node2: task 3: Exited with exit code 7\n")
				h.exit("SERVER", 1)
				s := h.summary()
				if f := s.Failure; f == nil || f.Node != "node2" || !slices.Equal(f.Ranks, []int{3}) || f.Kind != "aggregated" {
					t.Errorf("failure %+v, want node2 rank 3 of kind aggregated", s.Failure)
				} else if len(f.FirstErrors) == 0 || !strings.Contains(f.FirstErrors[0].Text, "Traceback") {
					t.Errorf("first errors %+v, want the traceback first", f.FirstErrors)
				}
				junit, err := os.ReadFile(filepath.Join(h.plan.Workspace, record.JUnitFile))
				if err != nil || !strings.Contains(string(junit), `<testcase name="supervisor"`) || !strings.Contains(string(junit), `<failure message="test: role SERVER`) {
					t.Errorf("JUnit (%v) does not fail the supervisor case with the SERVER as a test failure:\n%s", err, junit)
				}
			},
			want: outcome{state: record.RunFailed, code: 7, role: "SERVER", reason: "aggregated server ended with exit code 7",
				roles: map[string]record.StepState{"SERVER": record.StepExited}},
		},
		{
			name: "a --preflight check runs first; its failure with no node named by srun is exit 82, with no SERVER",
			opts: options{flags: func(f *roles.Flags) { f.Preflight = []string{"gpus=nvidia-smi -L"} }},
			play: func(t *testing.T, h *harness) {
				if h.launched("INSTALL") || h.launched("SERVER") {
					t.Errorf("launched %v before the pre-flight check ended", h.launchedNow())
				}
				h.exit("PREFLIGHT_gpus", 1)
				if h.launched("SERVER") {
					t.Error("SERVER launched after the pre-flight check failed")
				}
			},
			want: outcome{state: record.RunFailed, code: verdict.ExitPreflight, role: "PREFLIGHT_gpus", roles: map[string]record.StepState{"SERVER": record.StepPending}},
		},
		{
			name: "a passing --preflight check, then the install step, then the SERVER",
			opts: options{flags: func(f *roles.Flags) { f.Preflight = []string{"gpus=nvidia-smi -L"} }},
			play: func(t *testing.T, h *harness) {
				h.exit("PREFLIGHT_gpus", 0)
				installed(t, h)
				h.exit("SERVER", 0)
			},
			want: outcome{state: record.RunSucceeded, code: 0, roles: map[string]record.StepState{"PREFLIGHT_gpus": record.StepExited, "SERVER": record.StepExited}},
		},
		{
			name: "the install step fails: no SERVER",
			play: func(t *testing.T, h *harness) {
				h.exit("INSTALL", 2)
				if h.launched("SERVER") {
					t.Error("SERVER launched after the install step failed")
				}
			},
			want: outcome{state: record.RunFailed, code: 2, role: "INSTALL", roles: map[string]record.StepState{"SERVER": record.StepPending}},
		},
		{
			name: "SIGTERM stops the SERVER: interrupted",
			play: func(t *testing.T, h *harness) {
				installed(t, h)
				h.signal(syscall.SIGTERM)
				if got := h.calls("stop"); !slices.Equal(got, []string{"SERVER"}) {
					t.Errorf("stopped %v, want the SERVER", got)
				}
			},
			want: outcome{state: record.RunInterrupted, code: 143, roles: map[string]record.StepState{"SERVER": record.StepStopped}},
		},
		{
			name: "Slurm cancels the SERVER's step: interrupted, not the SERVER's failure",
			opts: options{slurm: true},
			play: func(t *testing.T, h *harness) {
				installed(t, h)
				h.writeLog("SERVER", cancelled)
				h.exit("SERVER", 143)
			},
			want: outcome{state: record.RunInterrupted, code: 143, roles: map[string]record.StepState{"SERVER": record.StepStopped}},
		},
		{
			name: "on a cluster a failing SERVER is blamed once Slurm says the job runs",
			opts: options{slurm: true},
			play: func(t *testing.T, h *harness) {
				installed(t, h)
				h.writeLog("SERVER", "srun: error: node1: task 1: Exited with exit code 9\n")
				h.exit("SERVER", 1)
				if s := h.summary(); s.State != record.RunRunning {
					t.Errorf("state %s before Slurm answered, want running (the end is held)", s.State)
				}
				h.answer("RUNNING", nil)
			},
			want: outcome{state: record.RunFailed, code: 9, role: "SERVER", reason: "not a cancellation: JobState=RUNNING"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				tt.opts.aggregated = true
				h := newHarness(t, tt.opts)
				defer h.drain()
				tt.play(t, h)
				checkOutcome(t, h, h.result(), tt.want)
			})
		})
	}
}
