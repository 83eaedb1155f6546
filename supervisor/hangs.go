package supervisor

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/slurm"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

// DefaultDumpWait is how long the steps get, after the dump signal, to write their stacks before the
// teardown's SIGTERM.
const DefaultDumpWait = 5 * time.Second

// HangSettings are how a run finds hangs and sick servers besides crashes. The liveness checks come
// with the plan's roles (roles.Role.Liveness). Zero values turn each detector off.
type HangSettings struct {
	// StallTimeout: while the benchmark runs, if no role's log and no file under the output
	// directory has grown for this long, the run is hung (exit 6).
	StallTimeout time.Duration
	// StallRoles are per-role bounds: a role whose own log has not grown for its bound while the
	// benchmark runs is hung, whatever the other logs do.
	StallRoles map[string]time.Duration
	// BenchmarkTimeout bounds the benchmark's run, from its launch (exit 6 when it passes).
	BenchmarkTimeout time.Duration
	// ConfigTimeout bounds each server configuration, from its start (the benchmark's launch, or the
	// previous configuration's end marker) to its end marker (exit 85 when it passes); 0: none.
	ConfigTimeout time.Duration
	// DumpSignal, when set, goes to every live step before the teardown of a hung run, so that
	// processes that print their stacks on it (USR1 for many) leave them in the logs; DumpWait
	// (default DefaultDumpWait) is the time they get.
	DumpSignal syscall.Signal
	DumpWait   time.Duration
	// JobEnd is when Slurm ends the job (its time limit), zero when unknown: the GPU-time ledger
	// says how much an early stop saved against it.
	JobEnd time.Time
	// SrunExitWait is how long srun may outlive a failing-task line it printed before the run is
	// decided on the line (see srunline.go); zero means Slurm's KillWait plus srunExitMargin, or
	// DefaultSrunExitWait when KillWait is unknown.
	SrunExitWait time.Duration
}

// hangState is the run loop's part of hang detection; only the loop touches it.
type hangState struct {
	// dump asks for the dump signal before the teardown of the decision being made.
	dump bool
	// stopChecks ends the liveness checks and the stall watch, which run until the decision.
	stopChecks []context.CancelFunc
	// benchmarkAt is the launch of the benchmark: the stall window and the benchmark timeout count
	// from it.
	benchmarkAt time.Time
	stall       *stallTracker
}

type (
	// livenessFailed: a role failed its liveness check the configured number of times in a row.
	livenessFailed struct {
		name    string
		gen     int
		check   string
		answers []string
	}
	// stallSample is one look at the logs and the output directory: the steps whose logs grew
	// since the last look, and whether any file under the output directory changed.
	stallSample struct {
		grown      []string
		outputGrew bool
	}
	benchmarkTimedOut struct{}
	// livenessMissed: one failed attempt of a liveness check, fewer in a row than its failures.
	livenessMissed struct {
		name       string
		gen        int
		failed, of int
		answer     string
	}
)

func (livenessFailed) isMessage()    {}
func (stallSample) isMessage()       {}
func (benchmarkTimedOut) isMessage() {}
func (livenessMissed) isMessage()    {}

// onHangMessage handles the hang detectors' messages.
func (r *run) onHangMessage(msg message, now time.Time) {
	switch m := msg.(type) {
	case livenessFailed:
		r.onLivenessFailed(m)
	case stallSample:
		r.onStallSample(m, now)
	case benchmarkTimedOut:
		r.onBenchmarkTimeout(now)
	case livenessMissed:
		if !r.currentCheck(m.name, m.gen) {
			return
		}
		r.noteDisturbance(Event{Name: record.EventWarning, Time: now, Role: m.name, Message: fmt.Sprintf(
			"liveness check failed (%d of %d in a row): %s", m.failed, m.of, r.redactor.String(m.answer))})
	}
}

// onLaunched starts what watches a step from its launch: for every step, the watch for srun's
// failing-task lines; for the step whose end decides the run (the benchmark, or an aggregated test's
// SERVER), the stall detector and the benchmark timeout.
func (r *run) onLaunched(s *step) {
	r.watchSrunLines(s)
	if !record.DecidesRun(s.kind) {
		return
	}
	r.hang.benchmarkAt = s.launchedAt
	r.startMeasurement(s)
	r.startConfigs(s.launchedAt)
	if d := r.cfg.BenchmarkTimeout; d > 0 {
		r.cfg.clock.AfterFunc(d, func() { r.send(benchmarkTimedOut{}) })
	}
	r.startStallWatch()
}

// onBenchmarkTimeout fails the run when the benchmark is still running at --benchmark-timeout.
func (r *run) onBenchmarkTimeout(now time.Time) {
	var bench *step
	for _, s := range r.steps {
		if record.DecidesRun(s.kind) {
			bench = s
		}
	}
	if r.decided || bench == nil || !bench.alive() {
		return
	}
	reason := fmt.Sprintf("still running %s after its launch (--benchmark-timeout %s); still running: %s",
		now.Sub(bench.launchedAt).Round(time.Millisecond), r.cfg.BenchmarkTimeout, r.stillRunning(now))
	r.decideHung(bench, reason, "", nil)
}

// decideHung fails the run with verdict.ExitHung, blaming s, and asks for the dump signal before the
// teardown.
func (r *run) decideHung(s *step, reason, check string, answers []string) {
	if r.phase == phaseHolding {
		// A step's end is waiting for Slurm's word on a cancellation: that verdict comes first.
		return
	}
	f := r.failureOf(s, verdict.ExitHung, reason)
	f.Hung, f.Check, f.Answers = true, check, answers
	r.emit(Event{Name: record.EventWarning, Role: s.name, Code: intPtr(verdict.ExitHung), Message: reason})
	r.hang.dump = true
	r.decide(record.RunFailed, verdict.ExitHung, f)
}

// beginTeardown starts the teardown of a decided run; a hung run first gets the dump signal, when one
// is configured, and DumpWait to write its stacks.
func (r *run) beginTeardown() {
	for _, stop := range r.hang.stopChecks {
		stop()
	}
	r.hang.stopChecks = nil
	sig := r.cfg.DumpSignal
	if !r.hang.dump || sig == 0 {
		r.teardown()
		return
	}
	var live []string
	for _, s := range r.steps {
		if !s.alive() {
			continue
		}
		live = append(live, s.name)
		proc, stepID := s.proc, s.stepID
		r.group.Go(func() error {
			if err := proc.signal(stepID, sig); err != nil {
				r.send(teardownError{err: err})
			}
			return nil
		})
	}
	if len(live) == 0 {
		r.teardown()
		return
	}
	wait := r.cfg.DumpWait // DefaultDumpWait when none was given (withDefaults)
	r.emit(Event{Name: record.EventTeardown, Signal: signalName(sig), Message: fmt.Sprintf(
		"%s sent to %d steps %v so that their logs hold their stacks; SIGTERM in %s", signalName(sig), len(live), live, wait)})
	r.enter(phaseDumping, wait)
}

// notReady names what a readiness deadline left pending: the steps launched and not ready, and those
// not launched yet.
func (r *run) notReady(now time.Time) string {
	var waiting, pending []string
	for _, s := range r.steps {
		switch {
		case s.ready() || s.exited():
		case s.launched():
			waiting = append(waiting, fmt.Sprintf("%s (launched %s ago)", s.name, now.Sub(s.launchedAt).Round(time.Second)))
		default:
			pending = append(pending, s.name)
		}
	}
	text := "not ready: " + strings.Join(waiting, ", ")
	if len(pending) > 0 {
		text += "; not launched: " + strings.Join(pending, ", ")
	}
	return text
}

// stillRunning names the live steps and what each was doing, for the reasons of deadlines and of the
// drain before Slurm's time limit.
func (r *run) stillRunning(now time.Time) string {
	var parts []string
	for _, s := range r.steps {
		if !s.alive() {
			continue
		}
		what := fmt.Sprintf("launched %s ago", now.Sub(s.launchedAt).Round(time.Second))
		if s.ready() {
			what = fmt.Sprintf("ready for %s", now.Sub(s.readyAt).Round(time.Second))
		}
		if record.DecidesRun(s.kind) || s.kind == kindInstall {
			what = fmt.Sprintf("running for %s", now.Sub(s.launchedAt).Round(time.Second))
		}
		parts = append(parts, fmt.Sprintf("%s on %s (%s)", s.name, slurm.CompressHostlist(s.nodes), what))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}
