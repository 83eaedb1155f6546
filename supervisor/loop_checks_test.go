package supervisor

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

// TestLoopLogLiveness runs the real log liveness check in the run loop, on the role's log, with the
// fake clock: each check looks at what the log gained since the one before, so a role that printed
// heartbeats faster than the period and then went silent is found within FAILURES x PERIOD plus
// one period of its last heartbeat, however many heartbeats it printed.
func TestLoopLogLiveness(t *testing.T) {
	// until moves the clock on to at in steps of 100 ms, so that every check due on the way runs
	// at its own instant.
	until := func(h *harness, at time.Time) {
		for now := h.clock.Now(); now.Before(at); now = h.clock.Now() {
			h.advance(min(100*time.Millisecond, at.Sub(now)))
		}
	}
	// heartbeats writes n heartbeats to the server's log, one every d, each just after the clock
	// moved on (so after any check due at that instant), and returns when the last one was written.
	heartbeats := func(h *harness, d time.Duration, n int) time.Time {
		for i := range n {
			until(h, h.clock.Now().Add(d))
			h.writeLog("DISAGG_SERVER", fmt.Sprintf("heartbeat %d\n", i))
		}
		return h.clock.Now()
	}
	// missed lists the server's failed checks, in order, from the measurement window's disturbances.
	missed := func(h *harness) []string {
		var out []string
		m := h.summary().Measurement
		if m == nil {
			h.t.Fatal("no measurement window")
		}
		for _, m := range m.Disturbances {
			if _, rest, ok := strings.Cut(m, "DISAGG_SERVER: liveness check failed ("); ok {
				n, _, _ := strings.Cut(rest, ")")
				out = append(out, n)
			}
		}
		return out
	}
	runLoopCases(t, []loopCase{
		{
			name: "heartbeats every 200 ms for 10 s, then silence: found 4 s after the last one (1 s x 3 + 1 s)",
			opts: options{realLiveness: true, liveness: []string{`DISAGG_SERVER=log:^heartbeat@1s/3`}},
			play: func(t *testing.T, h *harness) {
				h.up()
				last := heartbeats(h, 200*time.Millisecond, 50)
				if m := missed(h); len(m) != 0 {
					t.Fatalf("failed checks %q while the heartbeats came", m)
				}
				// The check at last+1s sees the last heartbeat; the three after it fail.
				until(h, last.Add(4*time.Second-time.Millisecond))
				if s := h.summary(); s.State != record.RunRunning {
					t.Fatalf("decided (%s) %s after the last heartbeat, want 4s", s.State, h.clock.Now().Sub(last))
				}
				if m := missed(h); fmt.Sprint(m) != "[1 of 3 in a row 2 of 3 in a row]" {
					t.Errorf("failed checks %q, want the first two of three", m)
				}
				h.advance(time.Millisecond)
				f := h.summary().Failure
				if f == nil || len(f.Answers) != 3 || !strings.Contains(f.Answers[2], `no new line matches "^heartbeat" since the last check`) {
					t.Errorf("failure %+v; want three answers of no new heartbeat", f)
				}
			},
			want: outcome{state: record.RunFailed, code: verdict.ExitHung, role: "DISAGG_SERVER", reason: "liveness check failed 3 times in a row",
				class: verdict.ClassHang},
		},
		{
			name: "a 10 s period and heartbeats every second, then silence: found 30 s after the last one (10 s x 2 + 10 s)",
			opts: options{realLiveness: true, liveness: []string{`DISAGG_SERVER=log:heartbeat@10s/2`}},
			play: func(t *testing.T, h *harness) {
				h.up()
				last := heartbeats(h, time.Second, 120)
				until(h, last.Add(30*time.Second-time.Millisecond))
				if s := h.summary(); s.State != record.RunRunning {
					t.Fatalf("decided (%s) %s after the last heartbeat, want 30s", s.State, h.clock.Now().Sub(last))
				}
				h.advance(time.Millisecond)
			},
			want: outcome{state: record.RunFailed, code: verdict.ExitHung, role: "DISAGG_SERVER", reason: "liveness check failed 2 times in a row"},
		},
		{
			name: "heartbeats every 2 s against a 1 s check: each period without one fails once, the next heartbeat resets",
			opts: options{realLiveness: true, liveness: []string{`DISAGG_SERVER=log:^heartbeat@1s/3`}},
			play: func(t *testing.T, h *harness) {
				h.up()
				// Heartbeats at +0.5 s, +2.5 s, ...: the checks at +1 s, +3 s, ... pass, those at
				// +2 s, +4 s, ... fail once each.
				h.advance(500 * time.Millisecond)
				h.writeLog("DISAGG_SERVER", "heartbeat 0\n")
				for i := 1; i <= 10; i++ {
					until(h, h.clock.Now().Add(2*time.Second))
					h.writeLog("DISAGG_SERVER", fmt.Sprintf("heartbeat %d\n", i))
				}
				h.advance(500 * time.Millisecond) // the check at +21 s sees the last one
				m := missed(h)
				if len(m) != 10 {
					t.Errorf("%d failed checks %q, want one per heartbeat gap (10)", len(m), m)
				}
				for _, n := range m {
					if n != "1 of 3 in a row" {
						t.Errorf("failed checks %q, want each the first in a row", m)
						break
					}
				}
				h.announceEnd()
				h.exit("BENCHMARK", 0)
			},
			want: outcome{state: record.RunSucceeded, code: 0},
		},
		{
			name: "silence from readiness on: no heartbeat ever fails after FAILURES periods",
			opts: options{realLiveness: true, liveness: []string{`DISAGG_SERVER=log:^heartbeat@1s/3`}},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.writeLog("DISAGG_SERVER", "serving, but no heartbeat line\n")
				until(h, h.clock.Now().Add(3*time.Second-time.Millisecond))
				if s := h.summary(); s.State != record.RunRunning {
					t.Fatalf("decided (%s) before the third check", s.State)
				}
				h.advance(time.Millisecond)
			},
			want: outcome{state: record.RunFailed, code: verdict.ExitHung, role: "DISAGG_SERVER"},
		},
	})
}

// TestLoopStallAfterFastGrowth: the stall watch compares each log's size with the last look, so a
// log that grew many times between looks and then stopped is quiet from its last growth: the run is
// hung its bound after it, give or take one look.
func TestLoopStallAfterFastGrowth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A 3 s bound: the logs are looked at every 300 ms.
		h := newHarness(t, options{hang: HangSettings{StallRoles: map[string]time.Duration{"GEN_0": 3 * time.Second}}})
		defer h.drain()
		h.up()
		for i := range 500 {
			h.writeLog("GEN_0", fmt.Sprintf("iteration %d\n", i))
			h.advance(10 * time.Millisecond)
		}
		last := h.clock.Now() // 5 s of growth, the last write 10 ms ago
		for h.summary().State == record.RunRunning && h.clock.Now().Sub(last) < 10*time.Second {
			h.advance(10 * time.Millisecond)
		}
		quiet := h.clock.Now().Sub(last)
		if quiet < 3*time.Second || quiet > 3*time.Second+300*time.Millisecond {
			t.Errorf("hung %s after the last write, want within 3s + one look (300ms)", quiet)
		}
		checkOutcome(t, h, h.result(), outcome{state: record.RunFailed, code: verdict.ExitHung, role: "GEN_0",
			reason: "(--stall GEN_0=3s)"})
	})
}

// TestLoopStopOutcomes: what the teardown says of each step it stopped. A step that ended within the
// grace period was stopped; one still running then ignored SIGTERM only when its stop command
// succeeded, else it could not be signalled, with the command's error; never the one for the other.
func TestLoopStopOutcomes(t *testing.T) {
	errScancel := errors.New("role CTX_0: scancel --ctld --signal=TERM 41.CTX_0: signal: killed (timed out after 10s): slurm_load_jobs error: Unable to contact slurm controller (connect failure)")
	for _, tt := range []struct {
		name string
		opts options
		play func(t *testing.T, h *harness)
		want outcome
		// notSignalled is the summary's not_signalled; report lines the console report must hold.
		notSignalled []record.NotSignalled
		report       []string
	}{
		{
			name: "the stop command fails and the step keeps running: could not be signalled, next to one that ignored SIGTERM",
			opts: options{ignoreTerm: []string{"CTX_0", "GEN_1"}, stopErrs: map[string]error{"CTX_0": errScancel}},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.exit("GEN_0", 3)
				h.advance(10*time.Second - time.Millisecond)
				if k := h.calls("kill"); len(k) > 0 {
					t.Errorf("killed %v before the grace period's end", k)
				}
				h.advance(time.Millisecond)
				if k := h.calls("kill"); !cmp.Equal(k, []string{"CTX_0", "GEN_1"}) {
					t.Errorf("killed %v, want CTX_0 and GEN_1", k)
				}
				w := h.messages(record.EventWarning)
				if !contains(w, "CTX_0: role CTX_0: step 1002 could not be signalled (role CTX_0: scancel") ||
					!contains(w, "GEN_1: role GEN_1: step 1001 was still running 10s after SIGTERM") || contains(w, "CTX_0: role CTX_0: step 1002 was still running") {
					t.Errorf("warnings %q; want CTX_0 not signalled, GEN_1 ignoring SIGTERM", w)
				}
			},
			want: outcome{state: record.RunFailed, code: 3, role: "GEN_0", ignored: []string{"GEN_1"},
				roles: map[string]record.StepState{"CTX_0": record.StepStopped, "GEN_1": record.StepStopped}},
			notSignalled: []record.NotSignalled{{Role: "CTX_0", Error: errScancel.Error()}},
			report: []string{"warning: GEN_1 ignored SIGTERM and was killed after the grace period",
				"warning: CTX_0 could not be signalled (" + errScancel.Error() + ") and was killed after the grace period"},
		},
		{
			name: "the stop command fails but the step ends within the grace period: stopped",
			opts: options{stopErrs: map[string]error{"CTX_0": errScancel}},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.exit("GEN_0", 3)
				if s := h.summary(); !contains(s.Errors, "Unable to contact slurm controller") {
					t.Errorf("errors %q, want the failed stop command", s.Errors)
				}
			},
			want: outcome{state: record.RunFailed, code: 3, role: "GEN_0", roles: map[string]record.StepState{"CTX_0": record.StepStopped}},
		},
		{
			name: "the stop command has not answered at the grace period's end: could not be signalled, then its answer",
			opts: options{ignoreTerm: []string{"CTX_0"}, ignoreKill: []string{"CTX_0"}, slowStop: []string{"CTX_0"},
				stopErrs: map[string]error{"CTX_0": errScancel}},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.exit("GEN_0", 3)
				h.advance(10 * time.Second)
				want := []record.NotSignalled{{Role: "CTX_0", Error: "the stop command had not answered within the grace period (10s)"}}
				if got := h.summary().NotSignalled; !cmp.Equal(got, want) {
					t.Errorf("not_signalled %+v at the grace period's end, want %+v", got, want)
				}
				h.advance(2 * time.Second)
				h.answerStops()
				synctest.Wait()
				h.exit("CTX_0", 137) // the kill took
			},
			want: outcome{state: record.RunFailed, code: 3, role: "GEN_0", roles: map[string]record.StepState{"CTX_0": record.StepStopped}},
			notSignalled: []record.NotSignalled{{Role: "CTX_0",
				Error: errScancel.Error() + " (answered 12s after the stop, past the grace period)"}},
		},
		{
			name: "Slurm ending the job refuses the step signal: Slurm's own SIGTERM reached it, so it ignored SIGTERM",
			opts: options{slurm: true, killWait: 30 * time.Second, ignoreTerm: []string{"CTX_0"},
				stopErrs: map[string]error{"CTX_0": errors.New("role CTX_0: scancel --ctld --signal=TERM 41.4: exit status 1: scancel: error: Kill job error on job step id 41.4: Job/step already completing or completed")}},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.signal(syscall.SIGTERM)
				h.answer("CANCELLED", nil)
				h.advance(10 * time.Second)
			},
			want: outcome{state: record.RunInterrupted, code: 143, ignored: []string{"CTX_0"}},
		},
		{
			name: "the same refusal while Slurm is not ending the job: could not be signalled",
			opts: options{slurm: true, ignoreTerm: []string{"CTX_0"},
				stopErrs: map[string]error{"CTX_0": errors.New("scancel: error: Invalid job id specified")}},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.exit("GEN_0", 3)
				h.answer("RUNNING", nil)
				h.advance(10 * time.Second)
			},
			want:         outcome{state: record.RunFailed, code: 3, role: "GEN_0"},
			notSignalled: []record.NotSignalled{{Role: "CTX_0", Error: "scancel: error: Invalid job id specified"}},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, tt.opts)
				defer h.drain()
				tt.play(t, h)
				res := h.result()
				checkOutcome(t, h, res, tt.want)
				s := h.summary()
				if !cmp.Equal(s.NotSignalled, tt.notSignalled) {
					t.Errorf("not_signalled %+v, want %+v", s.NotSignalled, tt.notSignalled)
				}
				var report strings.Builder
				record.WriteReport(&report, s)
				for _, line := range tt.report {
					if !strings.Contains(report.String(), line+"\n") {
						t.Errorf("report lacks %q:\n%s", line, report.String())
					}
				}
			})
		})
	}
}

// TestLoopDrainSaysWhy: the drain signal with Slurm's end of the job known says how far the time
// limit was, in the root cause and in the signal event; the run stays an interruption (138,
// cancelled). Without the job's end it says what it always said.
func TestLoopDrainSaysWhy(t *testing.T) {
	for _, tt := range []struct {
		name   string
		jobEnd time.Duration // from the run's start; 0: unknown
		reason string
		event  string
	}{
		{name: "time limit known", jobEnd: 90*time.Second + 300*time.Second,
			reason: "time limit in 300 s: drained (the supervisor received SIGUSR1)",
			event:  "time limit in 300 s: drained (pre-timeout signal SIGUSR1); still running: GEN_0 on node1 (ready for 1m30s)"},
		{name: "time limit already passed", jobEnd: 60 * time.Second,
			reason: "time limit passed 30 s ago: drained (the supervisor received SIGUSR1)",
			event:  "time limit passed 30 s ago: drained"},
		{name: "time limit unknown",
			reason: "the supervisor received SIGUSR1",
			event:  "pre-timeout signal: draining before the time limit; still running: GEN_0 on node1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var hang HangSettings
				if tt.jobEnd > 0 {
					hang.JobEnd = newFakeClock().Now().Add(tt.jobEnd)
				}
				h := newHarness(t, options{hang: hang})
				defer h.drain()
				h.up()
				h.advance(90 * time.Second)
				h.signal(syscall.SIGUSR1)
				if m := h.messages(record.EventSignal); !contains(m, tt.event) {
					t.Errorf("signal events %q, want one with %q", m, tt.event)
				}
				checkOutcome(t, h, h.result(), outcome{state: record.RunInterrupted, code: 138, reason: tt.reason,
					class: verdict.ClassCancelled})
				if f := h.summary().Failure; f == nil || f.Reason != tt.reason {
					t.Errorf("failure %+v, want the reason %q", f, tt.reason)
				}
			})
		})
	}
}
