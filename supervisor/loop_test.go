package supervisor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/disagg-supervisor/disagg-supervisor/mode"
	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

// outcome is how a scenario of TestLoopDecisions must end.
type outcome struct {
	state record.RunState
	code  int
	// role is the failure's role ("" for none, or an interruption); reason a part of its reason.
	role   string
	reason string
	// roles are the final states of the roles named (the others are not checked).
	roles   map[string]record.StepState
	ignored []string
	// warning is a part of a warning the summary must hold.
	warning string
	// class is the failure's class; evidence a part of one of its evidence lines; badNodes the nodes
	// an infrastructure failure named (each checked when set).
	class    verdict.Class
	evidence string
	badNodes []string
}

// TestLoopDecisions plays scenarios against the run loop with fake steps and a fake clock: each one
// says what the steps do and when, checks what the loop decided on the way, and how the run ended.
func TestLoopDecisions(t *testing.T) {
	const cancelled = "slurmstepd: error: *** STEP 41.3 ON node3 CANCELLED AT 2026-11-30T05:20:25 ***\n"
	runLoopCases(t, []loopCase{
		{
			name: "servers finish after the end marker, the benchmark decides",
			play: func(t *testing.T, h *harness) {
				h.up()
				h.announceEnd()
				for _, name := range []string{"GEN_0", "GEN_1", "CTX_0", "DISAGG_SERVER"} {
					h.exit(name, 0)
				}
				if s := h.summary(); s.State != record.RunRunning {
					t.Errorf("state %s once the servers finished, want running until the benchmark ends", s.State)
				}
				h.exit("BENCHMARK", 0)
			},
			want: outcome{state: record.RunSucceeded, code: 0, roles: map[string]record.StepState{
				"GEN_0": record.StepFinished, "CTX_0": record.StepFinished, "DISAGG_SERVER": record.StepFinished, "BENCHMARK": record.StepExited}},
		},
		{
			name: "server ends 0 before the end marker: early exit",
			play: func(t *testing.T, h *harness) {
				h.up()
				h.exit("DISAGG_SERVER", 0)
			},
			want: outcome{state: record.RunFailed, code: verdict.ExitEarlyExit, role: "DISAGG_SERVER", reason: "before the benchmark announced its end",
				roles: map[string]record.StepState{"DISAGG_SERVER": record.StepExited, "GEN_0": record.StepStopped, "BENCHMARK": record.StepStopped}},
		},
		{
			name: "server ends 0 after the end marker: finished, the run goes on",
			play: func(t *testing.T, h *harness) {
				h.up()
				h.announceEnd()
				h.exit("DISAGG_SERVER", 0)
				if s := h.summary(); s.State != record.RunRunning || h.roleState("DISAGG_SERVER") != record.StepFinished {
					t.Errorf("state %s, DISAGG_SERVER %s; want running, finished", s.State, h.roleState("DISAGG_SERVER"))
				}
				h.exit("BENCHMARK", 0)
			},
			want: outcome{state: record.RunSucceeded, code: 0, roles: map[string]record.StepState{
				"DISAGG_SERVER": record.StepFinished, "GEN_0": record.StepStopped, "CTX_0": record.StepStopped}},
		},
		{
			name: "server fails after the end marker: a warning, the benchmark decides",
			play: func(t *testing.T, h *harness) {
				h.up()
				h.announceEnd()
				h.exit("CTX_0", 5)
				h.exit("BENCHMARK", 0)
			},
			want: outcome{state: record.RunSucceeded, code: 0, warning: "role CTX_0 ended with exit code 5 after the benchmark announced its end",
				roles: map[string]record.StepState{"CTX_0": record.StepExited}},
		},
		{
			name: "worker ends before it is ready",
			play: func(t *testing.T, h *harness) {
				h.ready("GEN_1", nil)
				h.exit("GEN_0", 1)
			},
			want: outcome{state: record.RunFailed, code: 1, role: "GEN_0", reason: "ended with exit code 1 before the benchmark finished",
				roles: map[string]record.StepState{"GEN_0": record.StepExited, "GEN_1": record.StepStopped, "CTX_0": record.StepStopped, "DISAGG_SERVER": record.StepPending}},
		},
		{
			name: "worker ends after it is ready; srun's task line gives the code",
			play: func(t *testing.T, h *harness) {
				h.up()
				h.writeLog("GEN_0", "srun: error: node1: task 1: Exited with exit code 3\n")
				h.exit("GEN_0", 1)
				s := h.summary()
				if f := s.Failure; f == nil || f.Node != "node1" || len(f.Ranks) != 1 || f.Ranks[0] != 1 {
					t.Errorf("failure %+v, want node1 rank 1", s.Failure)
				}
				for _, r := range s.Roles {
					if r.Name == "GEN_0" && (r.ReadyAt == nil || *r.SrunStatus != 1 || *r.ExitCode != 3) {
						t.Errorf("GEN_0 %+v, want ready, srun status 1, exit code 3", r)
					}
				}
			},
			want: outcome{state: record.RunFailed, code: 3, role: "GEN_0",
				roles: map[string]record.StepState{"GEN_0": record.StepExited, "DISAGG_SERVER": record.StepStopped, "BENCHMARK": record.StepStopped}},
		},
		{
			name: "probe fails",
			play: func(t *testing.T, h *harness) {
				h.ready("CTX_0", errors.New("readiness probe timed out"))
			},
			want: outcome{state: record.RunFailed, code: verdict.ExitNotReady, role: "CTX_0", reason: "timed out",
				roles: map[string]record.StepState{"CTX_0": record.StepStopped, "DISAGG_SERVER": record.StepPending}},
		},
		{
			name: "benchmark fails",
			play: func(t *testing.T, h *harness) {
				h.up()
				h.exit("BENCHMARK", 7)
				// The benchmark's failure is the test's own verdict: the job failed, so the supervisor's
				// case fails too (a crashed benchmark may leave CI no results.xml of its own).
				junit, err := os.ReadFile(filepath.Join(h.plan.Workspace, record.JUnitFile))
				if err != nil || !strings.Contains(string(junit), `<failure message="test: role BENCHMARK`) {
					t.Errorf("JUnit (%v) does not fail the supervisor case for the benchmark's failure:\n%s", err, junit)
				}
			},
			want: outcome{state: record.RunFailed, code: 7, role: "BENCHMARK", reason: "benchmark failed with exit code 7"},
		},
		{
			name: "a step that cannot be launched",
			opts: options{failStart: "DISAGG_SERVER"},
			play: func(t *testing.T, h *harness) {
				for _, name := range []string{"GEN_0", "GEN_1", "CTX_0"} {
					h.ready(name, nil)
				}
			},
			want: outcome{state: record.RunFailed, code: verdict.ExitInternal, role: "DISAGG_SERVER", reason: "no such file",
				roles: map[string]record.StepState{"DISAGG_SERVER": record.StepLaunchFailed, "GEN_0": record.StepStopped, "BENCHMARK": record.StepPending}},
		},
		{
			name: "launch gate held, then opened by the running step",
			opts: options{noProbes: true, gate: mode.Always},
			play: func(t *testing.T, h *harness) {
				// GEN_1 and CTX_0 share no node with GEN_0: launched at once. The server shares node1.
				if !h.launched("GEN_1") || !h.launched("CTX_0") || h.launched("DISAGG_SERVER") {
					t.Errorf("launched %v, want GEN_0, GEN_1, CTX_0 and not DISAGG_SERVER", h.launcher.calls)
				}
				h.running("GEN_1")
				if h.launched("DISAGG_SERVER") {
					t.Error("DISAGG_SERVER launched when GEN_1, on another node, had started")
				}
				h.running("GEN_0")
				if !h.launched("DISAGG_SERVER") || h.launched("BENCHMARK") {
					t.Errorf("launched %v, want DISAGG_SERVER once GEN_0 runs, and the benchmark held", h.launcher.calls)
				}
				h.running("DISAGG_SERVER")
				if !h.launched("BENCHMARK") {
					t.Error("BENCHMARK still held once DISAGG_SERVER runs")
				}
				h.exit("BENCHMARK", 0)
			},
			want: outcome{state: record.RunSucceeded, code: 0, roles: map[string]record.StepState{
				"GEN_0": record.StepStopped, "DISAGG_SERVER": record.StepStopped, "BENCHMARK": record.StepExited}},
		},
		{
			name: "launch gate opened by its timeout",
			opts: options{noProbes: true, gate: mode.Always},
			play: func(t *testing.T, h *harness) {
				h.advance(59 * time.Second)
				if h.launched("DISAGG_SERVER") {
					t.Error("DISAGG_SERVER launched before the gate's timeout")
				}
				h.advance(time.Second)
				if !h.launched("DISAGG_SERVER") {
					t.Error("DISAGG_SERVER still held after the gate's timeout")
				}
				if w := h.messages(record.EventWarning); !contains(w, "DISAGG_SERVER: launch gate: steps sharing its nodes did not report all tasks started within 1m0s") {
					t.Errorf("warnings %q, want the gate's timeout", w)
				}
				h.signal(syscall.SIGTERM)
			},
			want: outcome{state: record.RunInterrupted, code: 143, reason: "received SIGTERM", roles: map[string]record.StepState{
				"DISAGG_SERVER": record.StepStopped, "BENCHMARK": record.StepPending}},
		},
		{
			name: "signal stops every step",
			play: func(t *testing.T, h *harness) {
				h.up()
				h.signal(syscall.SIGUSR1)
				if got, want := h.calls("stop"), []string{"BENCHMARK", "CTX_0", "DISAGG_SERVER", "GEN_0", "GEN_1"}; !cmp.Equal(got, want) {
					t.Errorf("stopped %v, want %v", got, want)
				}
			},
			want: outcome{state: record.RunInterrupted, code: 138, roles: map[string]record.StepState{"GEN_0": record.StepStopped, "BENCHMARK": record.StepStopped}},
		},
		{
			name: "second signal during the teardown kills at once",
			opts: options{ignoreTerm: []string{"CTX_0"}},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.signal(syscall.SIGTERM)
				if h.roleState("CTX_0") != record.StepStopping || len(h.calls("kill")) > 0 {
					t.Errorf("CTX_0 %s, kills %v; want it stopping and nothing killed", h.roleState("CTX_0"), h.calls("kill"))
				}
				h.signal(syscall.SIGINT)
				if got := h.calls("kill"); !cmp.Equal(got, []string{"CTX_0"}) {
					t.Errorf("killed %v, want [CTX_0] at once", got)
				}
				if m := h.messages(record.EventSignal); !contains(m, "second signal during teardown") {
					t.Errorf("signal events %q, want the second signal's", m)
				}
			},
			// A second signal skips the grace period; the step did not outlive it.
			want: outcome{state: record.RunInterrupted, code: 143, roles: map[string]record.StepState{"CTX_0": record.StepStopped}},
		},
		{
			name: "the same signal twice within milliseconds is one signal",
			opts: options{ignoreTerm: []string{"CTX_0"}},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.signal(syscall.SIGTERM)
				h.signal(syscall.SIGTERM)
				if got := h.calls("kill"); len(got) > 0 {
					t.Errorf("killed %v at a duplicate SIGTERM, want the grace period to go on", got)
				}
				if m := h.messages(record.EventSignal); !contains(m, "SIGTERM again within 500ms: the same delivery") {
					t.Errorf("signal events %q, want the duplicate said", m)
				}
				h.advance(verdict.DuplicateSignalWindow)
				h.signal(syscall.SIGTERM)
				if got := h.calls("kill"); !cmp.Equal(got, []string{"CTX_0"}) {
					t.Errorf("killed %v, want [CTX_0] at a second SIGTERM after the window", got)
				}
			},
			want: outcome{state: record.RunInterrupted, code: 143, roles: map[string]record.StepState{"CTX_0": record.StepStopped}},
		},
		{
			name: "Slurm's SIGTERM after a step it ended decided the run is a first signal, not a second",
			opts: options{slurm: true, killWait: 5 * time.Second, ignoreTerm: []string{"GEN_0"}},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.exit("CTX_0", 143)
				h.answer("COMPLETING", nil)
				// Slurm signals the batch shell with the steps: the supervisor's first signal.
				h.signal(syscall.SIGTERM)
				if got := h.calls("kill"); len(got) > 0 {
					t.Errorf("killed %v at Slurm's SIGTERM, want the grace period to go on", got)
				}
				// The grace period was cut to half of KillWait less the margin: (5s - 1s) / 2.
				h.advance(2*time.Second - time.Millisecond)
				if got := h.calls("kill"); len(got) > 0 {
					t.Errorf("killed %v before the cut grace period ended", got)
				}
				h.advance(time.Millisecond)
				if got := h.calls("kill"); !cmp.Equal(got, []string{"GEN_0"}) {
					t.Errorf("killed %v, want [GEN_0] when the grace period ends", got)
				}
			},
			want: outcome{state: record.RunInterrupted, code: 143, reason: "Slurm is ending the job: JobState=COMPLETING",
				roles: map[string]record.StepState{"CTX_0": record.StepStopped, "GEN_0": record.StepStopped}, ignored: []string{"GEN_0"}},
		},
		{
			name: "scancel's SIGTERM during a failure's teardown cuts the grace period to KillWait",
			opts: options{slurm: true, killWait: 5 * time.Second, ignoreTerm: []string{"CTX_0"}},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.exit("GEN_0", 3)
				h.answer("RUNNING", nil)
				// The failure's teardown has the full grace period (10 s); a second later Slurm ends the job.
				h.advance(time.Second)
				h.signal(syscall.SIGTERM)
				if got := h.calls("kill"); len(got) > 0 {
					t.Errorf("killed %v at the first signal, want the grace period to go on", got)
				}
				if m := h.messages(record.EventTeardown); !contains(m, "grace cut from 9s to 2s from now") {
					t.Errorf("teardown events %q, want the grace period cut to fit KillWait", m)
				}
				h.advance(2 * time.Second)
				if got := h.calls("kill"); !cmp.Equal(got, []string{"CTX_0"}) {
					t.Errorf("killed %v, want [CTX_0] 2 s after Slurm's SIGTERM", got)
				}
			},
			want: outcome{state: record.RunFailed, code: 3, role: "GEN_0", reason: "not a cancellation: JobState=RUNNING",
				roles: map[string]record.StepState{"GEN_0": record.StepExited, "CTX_0": record.StepStopped}, ignored: []string{"CTX_0"}},
		},
		{
			name: "Slurm's cancellation: held end, the job is completing",
			opts: options{slurm: true, killWait: 30 * time.Second},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.exit("CTX_0", 143)
				if s := h.summary(); s.State != record.RunRunning || len(h.calls("stop")) > 0 {
					t.Errorf("state %s, stops %v; want the end held, nothing stopped", s.State, h.calls("stop"))
				}
				h.answer("COMPLETING", nil)
			},
			want: outcome{state: record.RunInterrupted, code: 143, reason: "Slurm is ending the job: JobState=COMPLETING",
				roles: map[string]record.StepState{"CTX_0": record.StepStopped, "GEN_0": record.StepStopped}},
		},
		{
			name: "Slurm's cancellation: held end, the job is requeued",
			opts: options{slurm: true, killWait: 30 * time.Second},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.exit("GEN_1", 0)
				h.answer("PENDING", nil)
			},
			want: outcome{state: record.RunInterrupted, code: 143, reason: "JobState=PENDING",
				roles: map[string]record.StepState{"GEN_1": record.StepStopped}},
		},
		{
			name: "Slurm's cancellation: held end, the job still runs",
			opts: options{slurm: true, killWait: 30 * time.Second},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.exit("CTX_0", 143)
				h.answer("RUNNING", nil)
			},
			want: outcome{state: record.RunFailed, code: 143, role: "CTX_0", reason: "(not a cancellation: JobState=RUNNING)",
				roles: map[string]record.StepState{"CTX_0": record.StepExited, "GEN_0": record.StepStopped}},
		},
		{
			name: "Slurm's cancellation: held end, no answer in time",
			opts: options{slurm: true, killWait: 30 * time.Second},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.exit("CTX_0", 143)
				h.advance(DefaultCancelHold - time.Millisecond)
				if s := h.summary(); s.State != record.RunRunning {
					t.Errorf("state %s before the hold's end, want running", s.State)
				}
				h.advance(time.Millisecond)
			},
			want: outcome{state: record.RunFailed, code: 143, role: "CTX_0", reason: "(not a cancellation: no word from Slurm within 3s)",
				roles: map[string]record.StepState{"CTX_0": record.StepExited}},
		},
		{
			// Slurm signals every process of the batch step, the scontrol the loop started
			// included: a failed query is asked again, and the supervisor's SIGTERM decides.
			name: "Slurm's cancellation: the query is killed by the cancellation it asks about",
			opts: options{slurm: true, killWait: 30 * time.Second},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.exit("BENCHMARK", 143)
				h.answer("", errors.New("scontrol show job 7: signal: terminated"))
				if s := h.summary(); s.State != record.RunRunning {
					t.Errorf("state %s after a failed query, want the end still held", s.State)
				}
				h.signal(syscall.SIGTERM)
			},
			want: outcome{state: record.RunInterrupted, code: 143, reason: "received SIGTERM",
				roles: map[string]record.StepState{"BENCHMARK": record.StepStopped}},
		},
		{
			name: "Slurm's cancellation: a failed query is asked again",
			opts: options{slurm: true, killWait: 30 * time.Second},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.exit("CTX_0", 143)
				h.answer("", errors.New("scontrol: Socket timed out"))
				h.advance(holdRetry)
				h.answer("RUNNING", nil)
			},
			want: outcome{state: record.RunFailed, code: 143, role: "CTX_0", reason: "(not a cancellation: JobState=RUNNING)",
				roles: map[string]record.StepState{"CTX_0": record.StepExited}},
		},
		{
			name: "Slurm's cancellation: held end, then the supervisor's SIGTERM",
			opts: options{slurm: true, killWait: 30 * time.Second},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.exit("CTX_0", 143)
				h.signal(syscall.SIGTERM)
				if m := h.messages(record.EventSignal); !contains(m, "CTX_0 ended moments before by the same cancellation") {
					t.Errorf("signal events %q, want the held end named", m)
				}
			},
			want: outcome{state: record.RunInterrupted, code: 143, reason: "received SIGTERM",
				roles: map[string]record.StepState{"CTX_0": record.StepStopped}},
		},
		{
			name: "Slurm's cancellation: slurmstepd's line needs no question",
			opts: options{slurm: true, killWait: 30 * time.Second},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.writeLog("CTX_0", cancelled+"srun: error: node3: tasks 0-1: Terminated\n")
				h.exit("CTX_0", 143)
				if len(h.asked) > 0 {
					t.Error("Slurm was asked although slurmstepd had said it cancelled the step")
				}
			},
			want: outcome{state: record.RunInterrupted, code: 143, reason: "Slurm is ending the job (scancel)", class: verdict.ClassCancelled,
				evidence: "CANCELLED AT", roles: map[string]record.StepState{"CTX_0": record.StepStopped}},
		},
		{
			name: "local mode: a 143 is the role's failure at once",
			play: func(t *testing.T, h *harness) {
				h.up()
				h.exit("CTX_0", 143)
			},
			want: outcome{state: record.RunFailed, code: 143, role: "CTX_0", roles: map[string]record.StepState{"CTX_0": record.StepExited}},
		},
		{
			name: "grace period ends: the step that ignored SIGTERM is killed and reported",
			opts: options{ignoreTerm: []string{"CTX_0"}},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.exit("GEN_0", 3)
				h.advance(10*time.Second - time.Millisecond)
				if k := h.calls("kill"); len(k) > 0 {
					t.Errorf("killed %v before the grace period's end", k)
				}
				h.advance(time.Millisecond)
				if k := h.calls("kill"); !cmp.Equal(k, []string{"CTX_0"}) {
					t.Errorf("killed %v, want [CTX_0]", k)
				}
			},
			want: outcome{state: record.RunFailed, code: 3, role: "GEN_0", ignored: []string{"CTX_0"},
				roles: map[string]record.StepState{"CTX_0": record.StepStopped}},
		},
		{
			name: "grace period cut to fit Slurm's KillWait",
			opts: options{ignoreTerm: []string{"CTX_0"}, grace: time.Minute, killWait: 3 * time.Second},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.signal(syscall.SIGTERM)
				// KillWait 3s less the 1s margin leaves 2s: half for the steps to stop.
				if m := h.messages(record.EventTeardown); !contains(m, "grace cut from 1m0s to 1s") {
					t.Errorf("teardown events %q, want the grace cut", m)
				}
				// The SIGTERM's event names the steps it went to, for readers of the event log.
				entries, err := record.ReadEvents(h.plan.Workspace)
				if err != nil {
					t.Fatal(err)
				}
				var steps []string
				for _, e := range entries {
					if e.Event == record.EventTeardown && len(e.Steps) > 0 {
						steps = e.Steps
						if want := fmt.Sprintf("SIGTERM sent to %d steps", len(steps)); !strings.HasPrefix(e.Message, want) {
							t.Errorf("teardown event %q for steps %v, want it to start %q", e.Message, steps, want)
						}
					}
				}
				if !slices.Contains(steps, "CTX_0") || !slices.Contains(steps, "BENCHMARK") {
					t.Errorf("the teardown's SIGTERM went to steps %v, want every live step, CTX_0 and BENCHMARK among them", steps)
				}
				h.advance(time.Second - time.Millisecond)
				if k := h.calls("kill"); len(k) > 0 {
					t.Errorf("killed %v before the cut grace period's end", k)
				}
				h.advance(time.Millisecond)
			},
			want: outcome{state: record.RunInterrupted, code: 143, ignored: []string{"CTX_0"}},
		},
		{
			name: "a step that outlives SIGKILL is abandoned",
			opts: options{ignoreTerm: []string{"CTX_0"}, ignoreKill: []string{"CTX_0"}},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.exit("GEN_0", 3)
				h.advance(10 * time.Second)
				h.advance(10*time.Second - time.Millisecond)
				if h.over() {
					t.Error("the run gave up on CTX_0 before the 10s bound after SIGKILL")
				}
				h.advance(time.Millisecond)
				if got := h.calls("abandon"); !cmp.Equal(got, []string{"CTX_0"}) {
					t.Errorf("abandoned %v, want [CTX_0]", got)
				}
				if s := h.summary(); !contains(s.Errors, "role CTX_0: step 1002 did not end after it was killed") {
					t.Errorf("errors %q, want CTX_0's", s.Errors)
				}
			},
			want: outcome{state: record.RunFailed, code: 3, role: "GEN_0", ignored: []string{"CTX_0"},
				roles: map[string]record.StepState{"CTX_0": record.StepAbandoned}},
		},
		{
			name: "the decision is recorded before the teardown",
			opts: options{ignoreTerm: []string{"CTX_0"}},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.exit("GEN_0", 3)
				s := h.summary()
				if s.State != record.RunFailed || s.ExitCode == nil || *s.ExitCode != 3 || s.DecidedAt == nil || s.EndedAt != nil {
					t.Errorf("summary state %s exit %v decided %v ended %v; want failed, 3, decided, not ended",
						s.State, s.ExitCode, s.DecidedAt, s.EndedAt)
				}
				if h.roleState("CTX_0") != record.StepStopping {
					t.Errorf("CTX_0 %s, want stopping", h.roleState("CTX_0"))
				}
				junit, err := os.ReadFile(filepath.Join(h.plan.Workspace, record.JUnitFile))
				if err != nil || !strings.Contains(string(junit), `<testcase name="supervisor"`) || !strings.Contains(string(junit), `<failure message="test: role GEN_0`) {
					t.Errorf("JUnit (%v) does not fail the supervisor case with GEN_0 as a test failure:\n%s", err, junit)
				}
				if r := h.messages(record.EventResult); len(r) != 1 || len(h.messages(record.EventDone)) != 0 {
					t.Errorf("result events %q, done events %q; want one result and no done yet", r, h.messages(record.EventDone))
				}
				h.advance(10 * time.Second)
			},
			want: outcome{state: record.RunFailed, code: 3, role: "GEN_0", ignored: []string{"CTX_0"}},
		},
	})
}

func checkOutcome(t *testing.T, h *harness, res Result, want outcome) {
	t.Helper()
	s := h.summary()
	if res.Code != want.code || s.State != want.state || s.ExitCode == nil || *s.ExitCode != want.code {
		t.Errorf("result %d, summary state %s exit code %v; want %d, %s", res.Code, s.State, s.ExitCode, want.code, want.state)
	}
	if s.EndedAt == nil {
		t.Error("summary has no ended_at although the run is over")
	}
	f := s.Failure
	switch {
	case want.state == record.RunSucceeded && f != nil:
		t.Errorf("failure %+v, want none", f)
	case want.state != record.RunSucceeded && f == nil:
		t.Error("summary has no failure")
	case f != nil && (f.Role != want.role || !strings.Contains(f.Reason, want.reason)):
		t.Errorf("failure of %q: %q; want %q, a reason with %q", f.Role, f.Reason, want.role, want.reason)
	}
	for _, r := range s.Roles {
		if st, ok := want.roles[r.Name]; ok && r.State != st {
			t.Errorf("%s is %s, want %s", r.Name, r.State, st)
		}
		if r.State == record.StepRunning || r.State == record.StepReady || r.State == record.StepStopping || r.State == record.StepLaunched {
			t.Errorf("%s is %s after the run", r.Name, r.State)
		}
	}
	if !cmp.Equal(s.IgnoredSIGTERM, want.ignored) {
		t.Errorf("ignored_sigterm %v, want %v", s.IgnoredSIGTERM, want.ignored)
	}
	if f != nil && (f.Class == "" || f.Origin == "") {
		t.Errorf("failure %+v has no class or origin", f)
	}
	if f != nil && want.class != "" && f.Class != want.class {
		t.Errorf("failure class %q, want %q", f.Class, want.class)
	}
	if f != nil && want.evidence != "" && !contains(f.Evidence, want.evidence) {
		t.Errorf("failure evidence %q, want a line with %q", f.Evidence, want.evidence)
	}
	if !cmp.Equal(s.BadNodes, want.badNodes) {
		t.Errorf("bad nodes %v, want %v", s.BadNodes, want.badNodes)
	}
	if want.warning != "" && !contains(s.Warnings, want.warning) {
		t.Errorf("warnings %q, want one with %q", s.Warnings, want.warning)
	}
}
