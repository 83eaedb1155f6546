package supervisor

import (
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

// TestLoopSrunLine plays srun outliving its failing task's line: the run is decided on the line once
// the srun exit wait has passed, and only then; a prompt srun, the teardown and the end marker keep
// their own rules.
func TestLoopSrunLine(t *testing.T) {
	const line = "srun: error: node2: task 1: Exited with exit code 3\n"
	// seen lets the step's log watch look at the log: it looks at least every srunLineIdleInterval.
	seen := func(h *harness) { h.advance(srunLineIdleInterval) }
	decidedOnLine := "srun did not end within"
	runLoopCases(t, []loopCase{
		{
			name: "srun outlives its failing task: decided on the line with the task's code, srun killed",
			play: func(t *testing.T, h *harness) {
				h.up()
				h.writeLog("GEN_1", "RuntimeError: NCCL error\n"+line)
				seen(h)
				h.advance(DefaultSrunExitWait - time.Millisecond)
				if s := h.summary(); s.State != record.RunRunning || len(h.calls("kill")) > 0 {
					t.Errorf("state %s, kills %v before the srun exit wait's end; want running, none", s.State, h.calls("kill"))
				}
				h.advance(time.Millisecond)
				if got := h.calls("kill"); !slices.Contains(got, "GEN_1") {
					t.Errorf("killed %v, want GEN_1's srun", got)
				}
				if w := h.messages(record.EventWarning); !contains(w, "GEN_1: srun did not end within 30s of its failing task's line; deciding on the line and killing srun: "+line[:len(line)-1]) {
					t.Errorf("warnings %q, want the decision on the line said", w)
				}
				f := h.summary().Failure
				if f == nil || f.Node != "node2" || !slices.Equal(f.Ranks, []int{1}) || f.SrunLine != line[:len(line)-1] ||
					f.Origin != verdict.OriginRole || len(f.FirstErrors) == 0 {
					t.Errorf("failure %+v; want node2 rank 1, srun's line, origin role, first errors", f)
				}
			},
			want: outcome{state: record.RunFailed, code: 3, role: "GEN_1", class: verdict.ClassTest,
				reason: "ended with exit code 3 before the benchmark finished (decided on srun's line: srun had not ended 30s after it)",
				roles:  map[string]record.StepState{"GEN_1": record.StepExited, "GEN_0": record.StepStopped, "BENCHMARK": record.StepStopped}},
		},
		{
			name: "srun ends within the wait: decided as ever, nothing said",
			play: func(t *testing.T, h *harness) {
				h.up()
				h.writeLog("GEN_1", line)
				seen(h)
				h.advance(10 * time.Second)
				h.exit("GEN_1", 1)
				h.advance(DefaultSrunExitWait)
				if w := h.messages(record.EventWarning); contains(w, decidedOnLine) {
					t.Errorf("warnings %q, want none about the line", w)
				}
				if got := h.calls("kill"); len(got) > 0 {
					t.Errorf("killed %v, want nothing", got)
				}
			},
			want: outcome{state: record.RunFailed, code: 3, role: "GEN_1", class: verdict.ClassTest,
				reason: "ended with exit code 3 before the benchmark finished",
				roles:  map[string]record.StepState{"GEN_1": record.StepExited, "GEN_0": record.StepStopped}},
		},
		{
			name: "on a cluster the wait is KillWait + 5s, and no question to Slurm",
			opts: options{slurm: true, killWait: 5 * time.Second},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.writeLog("BENCHMARK", "srun: error: node1: task 0: Exited with exit code 7\n")
				seen(h)
				h.advance(10*time.Second - time.Millisecond)
				if s := h.summary(); s.State != record.RunRunning {
					t.Errorf("state %s before KillWait + 5s, want running", s.State)
				}
				h.advance(time.Millisecond)
				if len(h.asked) > 0 {
					t.Error("Slurm was asked about the job: the wait outlasts any cancellation")
				}
			},
			want: outcome{state: record.RunFailed, code: 7, role: "BENCHMARK", class: verdict.ClassTest, reason: "benchmark failed with exit code 7",
				roles: map[string]record.StepState{"BENCHMARK": record.StepExited}},
		},
		{
			name: "the wait is configurable",
			opts: options{hang: HangSettings{SrunExitWait: 2 * time.Second}},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.writeLog("GEN_1", line)
				seen(h)
				h.advance(2 * time.Second)
			},
			want: outcome{state: record.RunFailed, code: 3, role: "GEN_1", reason: "srun had not ended 2s after it"},
		},
		{
			name: "a failing-task line during the teardown decides nothing",
			opts: options{grace: time.Minute, ignoreTerm: []string{"CTX_0"}},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.signal(syscall.SIGTERM)
				h.writeLog("CTX_0", "srun: error: node3: task 0: Killed\n")
				seen(h)
				h.advance(DefaultSrunExitWait)
				if w := h.messages(record.EventWarning); contains(w, decidedOnLine) {
					t.Errorf("warnings %q, want none about the line", w)
				}
				h.advance(time.Minute)
			},
			want: outcome{state: record.RunInterrupted, code: 143, reason: "received SIGTERM", ignored: []string{"CTX_0"},
				roles: map[string]record.StepState{"CTX_0": record.StepStopped}},
		},
		{
			name: "a server's failing task after the end marker: srun killed, a warning, the benchmark decides",
			play: func(t *testing.T, h *harness) {
				h.up()
				h.announceEnd()
				h.writeLog("GEN_1", line)
				seen(h)
				h.advance(DefaultSrunExitWait)
				if got := h.calls("kill"); !slices.Equal(got, []string{"GEN_1"}) {
					t.Errorf("killed %v, want [GEN_1]", got)
				}
				if s := h.summary(); s.State != record.RunRunning {
					t.Errorf("state %s, want running until the benchmark ends", s.State)
				}
				h.exit("BENCHMARK", 0)
			},
			want: outcome{state: record.RunSucceeded, code: 0, warning: "role GEN_1 ended with exit code 3 after the benchmark announced its end",
				roles: map[string]record.StepState{"GEN_1": record.StepExited}},
		},
		{
			name: "a line naming another node's tasks is not the step's",
			play: func(t *testing.T, h *harness) {
				h.up()
				h.writeLog("BENCHMARK", "srun: error: node9: task 0: Exited with exit code 2\n")
				seen(h)
				h.advance(DefaultSrunExitWait)
				if s := h.summary(); s.State != record.RunRunning || contains(h.messages(record.EventWarning), decidedOnLine) {
					t.Errorf("state %s, warnings %q; want running, none about the line", s.State, h.messages(record.EventWarning))
				}
				h.exit("BENCHMARK", 2)
			},
			want: outcome{state: record.RunFailed, code: 2, role: "BENCHMARK", reason: "benchmark failed with exit code 2"},
		},
	})
}
