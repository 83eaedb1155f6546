package supervisor

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestLoopHangDecisions plays hang scenarios against the run loop with fake steps, a fake clock and
// fake liveness checks: when a liveness failure, a stall or a deadline ends the run, and when it
// must not.
func TestLoopHangDecisions(t *testing.T) {
	errUnavailable := errors.New("status 503 Service Unavailable (want 200-299)")
	// every advances the clock by d, n times, letting the loop settle after each.
	every := func(h *harness, d time.Duration, n int) {
		for range n {
			h.advance(d)
		}
	}
	runLoopCases(t, []loopCase{
		{
			name: "liveness: three failed checks in a row fail the run with 6, naming the role and its answers",
			opts: options{liveness: []string{"DISAGG_SERVER=tcp:{node}:1@1s/3"}},
			play: func(t *testing.T, h *harness) {
				h.up()
				every(h, time.Second, 5)
				h.setSick("DISAGG_SERVER", errUnavailable)
				every(h, time.Second, 2)
				if s := h.summary(); s.State != record.RunRunning {
					t.Fatalf("decided (%s) after two failed checks, want three", s.State)
				}
				h.advance(time.Second)
				f := h.summary().Failure
				if f == nil || f.Check != "tcp node1:1 every 1s, 3 failures in a row" || len(f.Answers) != 3 ||
					!strings.Contains(f.Answers[2], "503 Service Unavailable") {
					t.Errorf("failure %+v; want the check and its three answers", f)
				}
			},
			want: outcome{state: record.RunFailed, code: verdict.ExitHung, role: "DISAGG_SERVER", reason: "liveness check failed 3 times in a row",
				roles: map[string]record.StepState{"DISAGG_SERVER": record.StepStopped, "GEN_0": record.StepStopped, "BENCHMARK": record.StepStopped}},
		},
		{
			name: "liveness: a good answer resets the count",
			opts: options{liveness: []string{"DISAGG_SERVER=tcp:{node}:1@1s/3"}},
			play: func(t *testing.T, h *harness) {
				h.up()
				for range 3 {
					h.setSick("DISAGG_SERVER", errUnavailable)
					every(h, time.Second, 2)
					h.setSick("DISAGG_SERVER", nil)
					h.advance(time.Second)
				}
				h.announceEnd()
				h.exit("BENCHMARK", 0)
			},
			want: outcome{state: record.RunSucceeded, code: 0},
		},
		{
			name: "liveness: checks start at readiness, not at launch",
			opts: options{liveness: []string{"GEN_0=tcp:{node}:1@1s/2"}},
			play: func(t *testing.T, h *harness) {
				h.setSick("GEN_0", errUnavailable)
				every(h, time.Second, 10)
				if s := h.summary(); s.State != record.RunRunning {
					t.Fatalf("decided (%s) before GEN_0 was ready", s.State)
				}
				h.ready("GEN_0", nil)
				every(h, time.Second, 2)
			},
			want: outcome{state: record.RunFailed, code: verdict.ExitHung, role: "GEN_0", reason: "failed 2 times in a row"},
		},
		{
			name: "liveness: failing after the benchmark announced its end is a warning",
			opts: options{liveness: []string{"DISAGG_SERVER=tcp:{node}:1@1s/2"}},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.announceEnd()
				h.setSick("DISAGG_SERVER", errUnavailable)
				every(h, time.Second, 3)
				h.exit("DISAGG_SERVER", 0)
				h.exit("BENCHMARK", 0)
			},
			want: outcome{state: record.RunSucceeded, code: 0, warning: "liveness check failed after the benchmark announced its end (ignored)"},
		},
		{
			name: "liveness: a crash first keeps its own code; the checks stop with the teardown",
			opts: options{liveness: []string{"DISAGG_SERVER=tcp:{node}:1@1s/2"}, ignoreTerm: []string{"DISAGG_SERVER"}},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.exit("GEN_1", 9)
				h.setSick("DISAGG_SERVER", errUnavailable)
				every(h, time.Second, 10)
			},
			want: outcome{state: record.RunFailed, code: 9, role: "GEN_1", ignored: []string{"DISAGG_SERVER"}},
		},
		{
			name: "stall: no log and no output file grew for the stall timeout",
			opts: options{hang: HangSettings{StallTimeout: 5 * time.Second}},
			play: func(t *testing.T, h *harness) {
				h.up()
				every(h, 500*time.Millisecond, 4)
				h.writeLog("BENCHMARK", "requests 100/200\n")
				h.writeLog("GEN_0", "iteration 12\n")
				h.advance(500 * time.Millisecond) // the look that sees them grow
				every(h, 500*time.Millisecond, 9) // 4.5 s of quiet
				if s := h.summary(); s.State != record.RunRunning {
					t.Fatalf("decided (%s) after 4.5 s of quiet, want 5 s", s.State)
				}
				h.advance(500 * time.Millisecond)
				f := h.summary().Failure
				if f == nil || !strings.Contains(f.Reason, "logs by last growth: GEN_1 not since the benchmark's launch 7.5s ago, CTX_0 not since") ||
					!strings.Contains(f.Reason, "GEN_0 5s ago, BENCHMARK 5s ago") {
					t.Errorf("failure %+v; want the logs that stopped first named first", f)
				}
				// A hung benchmark reports nothing itself: the supervisor's JUnit fails its case.
				junit, err := os.ReadFile(filepath.Join(h.plan.Workspace, record.JUnitFile))
				if err != nil || !strings.Contains(string(junit), `<testcase name="supervisor"`) || !strings.Contains(string(junit), `<error message="hang: role BENCHMARK`) {
					t.Errorf("JUnit (%v) does not fail the supervisor case with an error of class hang:\n%s", err, junit)
				}
			},
			want: outcome{state: record.RunFailed, code: verdict.ExitHung, role: "BENCHMARK", reason: "no role's log and no file under",
				roles: map[string]record.StepState{"BENCHMARK": record.StepStopped, "GEN_0": record.StepStopped}},
		},
		{
			name: "stall: a file growing under the output directory is progress",
			opts: options{hang: HangSettings{StallTimeout: 5 * time.Second}},
			play: func(t *testing.T, h *harness) {
				h.up()
				results := filepath.Join(h.plan.OutputDir, "results", "raw.jsonl")
				if err := os.MkdirAll(filepath.Dir(results), 0o755); err != nil {
					t.Fatal(err)
				}
				for i := range 8 {
					if err := os.WriteFile(results, []byte(strings.Repeat("x", i+1)), 0o644); err != nil {
						t.Fatal(err)
					}
					every(h, 500*time.Millisecond, 6)
				}
				if s := h.summary(); s.State != record.RunRunning {
					t.Fatalf("decided (%s) while a result file grew every 3 s", s.State)
				}
				every(h, 500*time.Millisecond, 10)
			},
			want: outcome{state: record.RunFailed, code: verdict.ExitHung, role: "BENCHMARK", reason: "--stall-timeout 5s"},
		},
		{
			name: "stall: a role's own bound names it while the others write",
			opts: options{hang: HangSettings{StallRoles: map[string]time.Duration{"GEN_0": 3 * time.Second}}},
			play: func(t *testing.T, h *harness) {
				h.up()
				for range 5 {
					h.writeLog("GEN_1", "iteration\n")
					h.writeLog("BENCHMARK", "progress\n")
					every(h, 500*time.Millisecond, 1)
				}
				if s := h.summary(); s.State != record.RunRunning {
					t.Fatalf("decided (%s) after 2.5 s, want GEN_0's 3 s", s.State)
				}
				h.advance(500 * time.Millisecond)
			},
			want: outcome{state: record.RunFailed, code: verdict.ExitHung, role: "GEN_0", reason: "has not grown for 3s while the benchmark ran (--stall GEN_0=3s)"},
		},
		{
			name: "stall: the dump signal goes to every live step, SIGTERM after the dump wait",
			opts: options{hang: HangSettings{StallTimeout: 2 * time.Second, DumpSignal: syscall.SIGUSR1, DumpWait: 3 * time.Second}},
			play: func(t *testing.T, h *harness) {
				h.up()
				every(h, 200*time.Millisecond, 10)
				if s := h.summary(); s.State != record.RunFailed {
					t.Fatalf("state %s after 2 s of quiet, want failed", s.State)
				}
				want := []string{"BENCHMARK SIGUSR1", "CTX_0 SIGUSR1", "DISAGG_SERVER SIGUSR1", "GEN_0 SIGUSR1", "GEN_1 SIGUSR1"}
				if got := h.calls("signal"); !cmp.Equal(got, want) {
					t.Errorf("signals %v, want %v", got, want)
				}
				h.advance(3*time.Second - time.Millisecond)
				if got := h.calls("stop"); len(got) != 0 {
					t.Errorf("stopped %v before the dump wait was over", got)
				}
				h.advance(time.Millisecond)
				if got := h.calls("stop"); len(got) != 5 {
					t.Errorf("stopped %v after the dump wait, want every step", got)
				}
			},
			want: outcome{state: record.RunFailed, code: verdict.ExitHung, role: "BENCHMARK"},
		},
		{
			name: "stall: a signal during the dump wait starts the teardown at once",
			opts: options{hang: HangSettings{StallTimeout: 2 * time.Second, DumpSignal: syscall.SIGUSR1, DumpWait: time.Minute}},
			play: func(t *testing.T, h *harness) {
				h.up()
				every(h, 200*time.Millisecond, 10)
				h.signal(syscall.SIGTERM)
				if got := h.calls("stop"); len(got) != 5 {
					t.Errorf("stopped %v after the signal, want every step", got)
				}
			},
			want: outcome{state: record.RunFailed, code: verdict.ExitHung, role: "BENCHMARK"},
		},
		{
			name: "stall: a step's end held for Slurm's word is decided by that word, not by the stall",
			opts: options{slurm: true, hang: HangSettings{StallTimeout: 2 * time.Second}},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.exit("GEN_0", 143)
				every(h, 200*time.Millisecond, 12)
				if s := h.summary(); s.State != record.RunRunning {
					t.Fatalf("decided (%s: %+v) while the end of GEN_0 waited for Slurm", s.State, s.Failure)
				}
				h.answer("CANCELLED", nil)
			},
			want: outcome{state: record.RunInterrupted, code: 143},
		},
		{
			name: "benchmark timeout: from the benchmark's launch, naming what still runs",
			opts: options{hang: HangSettings{BenchmarkTimeout: 30 * time.Second}},
			play: func(t *testing.T, h *harness) {
				h.advance(time.Minute) // loading counts for nothing
				h.up()
				h.advance(30*time.Second - time.Millisecond)
				if s := h.summary(); s.State != record.RunRunning {
					t.Fatalf("decided (%s) before the benchmark timeout", s.State)
				}
				h.advance(time.Millisecond)
			},
			want: outcome{state: record.RunFailed, code: verdict.ExitHung, role: "BENCHMARK",
				reason: "still running 30s after its launch (--benchmark-timeout 30s); still running: GEN_0 on node1 (ready for 30s), GEN_1 on node2"},
		},
		{
			name: "a readiness deadline names what was pending",
			play: func(t *testing.T, h *harness) {
				h.ready("GEN_0", nil)
				h.advance(20 * time.Minute)
				h.ready("CTX_0", errors.New("readiness probe timed out after 20m0s: file x: not there"))
			},
			want: outcome{state: record.RunFailed, code: verdict.ExitNotReady, role: "CTX_0",
				reason: "not there; not ready: GEN_1 (launched 20m0s ago), CTX_0 (launched 20m0s ago); not launched: DISAGG_SERVER, BENCHMARK"},
		},
		{
			name: "drain before the time limit names what was still running",
			play: func(t *testing.T, h *harness) {
				h.up()
				h.advance(90 * time.Second)
				h.signal(syscall.SIGUSR1)
				if m := h.messages(record.EventSignal); !contains(m, "draining before the time limit; still running: GEN_0 on node1 (ready for 1m30s)") ||
					!contains(m, "BENCHMARK on node1 (running for 1m30s)") {
					t.Errorf("signal events %q; want the steps still running named", m)
				}
			},
			want: outcome{state: record.RunInterrupted, code: 138},
		},
	})
}

// TestLoopLedger checks the GPU-time ledger of a run whose every instant the test sets: each step's
// phases, the totals and the allocation's parts.
func TestLoopLedger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, options{ignoreTerm: []string{"CTX_0"}, hang: HangSettings{
			JobEnd: newFakeClock().Now().Add(time.Hour)}})
		defer h.drain()
		h.advance(10 * time.Second)
		for _, name := range []string{"GEN_0", "GEN_1", "CTX_0"} {
			h.ready(name, nil)
		}
		h.advance(5 * time.Second)
		h.ready("DISAGG_SERVER", nil)
		h.advance(20 * time.Second)
		h.exit("BENCHMARK", 4) // decided at 35 s; CTX_0 ignores SIGTERM
		h.advance(10 * time.Second)
		h.result()
		l := h.summary().Ledger
		if l == nil {
			t.Fatal("summary has no gpu_ledger")
		}
		row := func(name string, gpus int, loading, waiting, serving, teardown float64) record.StepGPUTime {
			return record.StepGPUTime{Name: name, GPUs: gpus, GPUSecondsByPhase: record.GPUSecondsByPhase{
				Loading: loading, Waiting: waiting, Serving: serving, Teardown: teardown, Total: loading + waiting + serving + teardown}}
		}
		want := []record.StepGPUTime{
			row("GEN_0", 2, 20, 10, 40, 0),
			row("GEN_1", 2, 20, 10, 40, 0),
			row("CTX_0", 2, 20, 10, 40, 20),
			row("DISAGG_SERVER", 1, 5, 0, 20, 0),
			row("BENCHMARK", 1, 0, 0, 20, 0),
		}
		approx := cmpopts.EquateApprox(0, 1e-9)
		if diff := cmp.Diff(want, l.Steps, approx); diff != "" {
			t.Errorf("steps (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(record.GPUSecondsByPhase{Loading: 65, Waiting: 30, Serving: 160, Teardown: 20, Total: 275}, l.Total, approx); diff != "" {
			t.Errorf("total (-want +got):\n%s", diff)
		}
		// 4 nodes x 2 GPUs, 45 s held, the last 10 s after the decision; the run failed 55 min
		// before the job's time limit.
		if l.AllocationGPUs != 8 || l.Held != 360 || l.BeforeFirstLaunch != 0 || l.AfterDecision != 80 || l.Saved == nil || *l.Saved != 8*3555 {
			t.Errorf("allocation %d, held %v, before %v, after %v, saved %v; want 8, 360, 0, 80, %d",
				l.AllocationGPUs, l.Held, l.BeforeFirstLaunch, l.AfterDecision, l.Saved, 8*3555)
		}
	})
}
