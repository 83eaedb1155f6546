package supervisor

import (
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/slurm"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
	"github.com/hashicorp/go-multierror"
)

// killWaitMargin is kept free at the end of Slurm's KillWait for writing the record and exiting.
const killWaitMargin = time.Second

// onTeardownError records a teardown command that failed. While Slurm is ending the job, a step
// signal is refused ("Invalid job id specified", "already completing"): that is expected, and the
// step is reached by other means, so it is a debug event, not one of the run's errors.
func (r *run) onTeardownError(err error) {
	msg := err.Error()
	if r.slurmEnding || slurm.RefusedAsEnding(msg) {
		r.emit(Event{Name: record.EventTeardown, Debug: true, Message: msg})
		return
	}
	r.errs = multierror.Append(r.errs, err)
}

func (r *run) onSignal(sig os.Signal) {
	name := signalName(sig)
	now := r.cfg.clock.Now()
	if sig == syscall.SIGQUIT {
		// What Go's default would print on stderr before exiting 2, kept where the record is.
		r.dumpGoroutines()
	}
	if sig == r.lastSignal && now.Sub(r.lastSignalAt) < verdict.DuplicateSignalWindow {
		r.emit(Event{Name: record.EventSignal, Signal: name, Message: fmt.Sprintf(
			"%s again within %s: the same delivery, not a second signal", name, verdict.DuplicateSignalWindow)})
		return
	}
	r.lastSignal, r.lastSignalAt = sig, now
	first := r.signalled == 0
	r.signalled++
	switch r.phase {
	case phaseRunning, phaseHolding:
		r.interruptBySignal(sig, now)
	case phaseDumping:
		// A signal while hung steps write their stacks: stop waiting for them.
		r.emit(Event{Name: record.EventSignal, Signal: name, Message: "signal while the steps dump their stacks: stopping every step now"})
		if sig == syscall.SIGTERM {
			r.slurmEndsJob()
		}
		r.teardown()
	case phaseGrace:
		if !first {
			r.emit(Event{Name: record.EventSignal, Signal: name, Message: "second signal during teardown: killing every step now"})
			r.killNow()
			return
		}
		// The run was decided by something else (a failure, a step that Slurm ended): this is the
		// first signal, not a second one, and a SIGTERM is most likely Slurm's own, sent to the batch
		// shell with the steps. The teardown goes on, fitted to Slurm's KillWait.
		r.emit(Event{Name: record.EventSignal, Signal: name, Message: "signal during the teardown; the grace period goes on (a second signal ends it)"})
		if sig == syscall.SIGTERM {
			r.fitGraceToKillWait()
		}
	case phaseKilling, phaseAbandoning:
		// The grace period is over: the steps are being killed already.
	}
}

// interruptBySignal decides the run as interrupted by sig, which came before anything else decided it.
func (r *run) interruptBySignal(sig os.Signal, now time.Time) {
	name := signalName(sig)
	code := verdict.Signal(sig)
	msg := "stopping every step"
	if sig == r.cfg.DrainSignal {
		msg = r.drainMessage(now)
	}
	if r.phase == phaseHolding && sig == syscall.SIGTERM {
		// Slurm's SIGTERM to the batch shell, a moment after it ended the held step.
		msg += fmt.Sprintf("; %s ended moments before by the same cancellation", r.held.name)
		r.markStoppedBySlurm(r.held)
	}
	r.emit(Event{Name: record.EventSignal, Signal: name, Code: intPtr(code), Message: msg})
	if sig == syscall.SIGTERM {
		r.slurmEndsJob()
	}
	// A held step's question to Slurm is already on its way: its answer refines the root cause.
	asked := r.phase == phaseHolding
	f := &record.Failure{Code: code, Reason: fmt.Sprintf("the supervisor received %s", name)}
	if why := r.drainWhy(sig, now); why != "" {
		f.Reason = why + " (" + f.Reason + ")"
	}
	if sig == syscall.SIGTERM && r.cfg.JobState != nil {
		// On a cluster a SIGTERM is Slurm's: scancel, the time limit, preemption, a node failure.
		f = r.cancellation(code, slurm.JobStatus{}, f.Reason)
	}
	r.decide(record.RunInterrupted, code, f)
	if sig == syscall.SIGTERM && !asked {
		r.askWhyEnding()
	}
}

// decide fixes the run's result once, records it at once (summary, result event, JUnit), so that
// the record is true even if the supervisor is killed during the teardown, and starts the teardown.
// The caller says the final state: an interruption and a failure can end with the same code (143).
func (r *run) decide(state record.RunState, code int, failure *record.Failure) {
	if r.decided {
		return
	}
	r.settleConfigs(state, failure)
	r.decided = true
	r.state = state
	r.decidedAt = r.cfg.clock.Now()
	r.held = nil
	r.closeMeasurement(nil, r.decidedAt)
	r.code = r.classify(state, code, failure)
	r.failure = failure
	if failure != nil {
		r.redactFailure(failure)
		r.errs = multierror.Append(r.errs, failure)
	}
	// The summary goes last: a reader that sees its final state finds the rest already written.
	summary := r.summary()
	r.emit(Event{Name: record.EventResult, Code: intPtr(r.code), Duration: r.decidedAt.Sub(r.start), Message: record.ResultLine(summary)})
	r.writeRecord(summary)
	r.beginTeardown()
}

// teardown asks every live step to stop (SIGTERM to its process group; srun forwards it to the tasks),
// then gives them the grace period before SIGKILL. It is idempotent.
func (r *run) teardown() {
	if r.phase >= phaseGrace {
		return
	}
	r.teardownAt = r.cfg.clock.Now()
	r.grace = r.cfg.Grace
	var live []string
	for _, s := range r.steps {
		if s.alive() {
			live = append(live, s.name)
			s.stopRequested = true
			// Concurrently: on a cluster each stop is an scancel call, and a job being cancelled
			// or drained has only seconds (KillWait) left.
			proc, stepID, name := s.proc, s.stepID, s.name
			r.group.Go(func() error {
				r.send(stopAnswered{name: name, err: proc.stop(stepID)})
				return nil
			})
		}
	}
	if len(live) == 0 {
		r.emit(Event{Name: record.EventTeardown, Message: "no step left to stop"})
		r.enter(phaseKilling, 0)
		return
	}
	if budget := r.killWaitBudget().Round(time.Millisecond); budget > 0 && r.grace > budget/2 {
		// Slurm SIGKILLs the whole job KillWait after its SIGTERM: the steps get half of what is
		// left, the other half is for killing what ignored SIGTERM.
		r.emit(Event{Name: record.EventTeardown, Message: fmt.Sprintf(
			"grace cut from %s to %s: Slurm kills the job %s (KillWait) after its SIGTERM", r.grace, budget/2, r.cfg.KillWait)})
		r.grace = budget / 2
	}
	r.emit(Event{Name: record.EventTeardown, Steps: live,
		Message: fmt.Sprintf("SIGTERM sent to %d steps %v; SIGKILL after %s", len(live), live, r.grace)})
	r.enter(phaseGrace, r.grace)
}

// slurmEndsJob records that Slurm has begun ending the job (on a cluster a SIGTERM is Slurm's: scancel,
// requeue, time limit), unless that is known already: its KillWait runs from the first sign.
func (r *run) slurmEndsJob() {
	if r.slurmEnding || r.cfg.KillWait <= 0 {
		return
	}
	r.slurmEnding = true
	r.slurmEndingAt = r.cfg.clock.Now()
}

// fitGraceToKillWait cuts a running grace period when Slurm begins ending the job during the
// teardown, as the teardown itself does when Slurm's ending comes first.
func (r *run) fitGraceToKillWait() {
	if r.slurmEnding {
		return
	}
	r.slurmEndsJob()
	budget := r.killWaitBudget().Round(time.Millisecond)
	left := r.grace - r.cfg.clock.Now().Sub(r.teardownAt)
	if budget <= 0 || left <= budget/2 {
		return
	}
	r.emit(Event{Name: record.EventTeardown, Message: fmt.Sprintf(
		"grace cut from %s to %s from now: Slurm kills the job %s (KillWait) after its SIGTERM", left.Round(time.Millisecond), budget/2, r.cfg.KillWait)})
	r.enter(phaseGrace, budget/2)
}

// killWaitBudget is how long the teardown may take before Slurm's SIGKILL, less a margin for the
// record; zero when Slurm is not ending the job or its KillWait is unknown.
func (r *run) killWaitBudget() time.Duration {
	if !r.slurmEnding || r.cfg.KillWait <= 0 {
		return 0
	}
	return max(r.cfg.KillWait-killWaitMargin-r.cfg.clock.Now().Sub(r.slurmEndingAt), 200*time.Millisecond)
}

// killAfterGrace kills the steps that outlived the grace period and reports each: they ignored
// SIGTERM, or could not be signalled (see reportOutlivedGrace).
func (r *run) killAfterGrace() {
	for _, s := range r.steps {
		if !s.alive() {
			continue
		}
		r.reportOutlivedGrace(s)
		r.kill(s)
	}
	r.armGiveUp()
}

// killNow kills every step still running at once: a second signal asked to skip the grace period.
func (r *run) killNow() {
	for _, s := range r.steps {
		if !s.alive() {
			continue
		}
		r.emit(Event{Name: record.EventTeardown, Role: s.name, PID: s.pid(), Signal: "SIGKILL",
			Message: fmt.Sprintf("killing it %s after SIGTERM, on a second signal", r.cfg.clock.Now().Sub(r.teardownAt).Round(time.Millisecond))})
		r.kill(s)
	}
	r.armGiveUp()
}

func (r *run) kill(s *step) {
	s.killed = true
	proc, stepID := s.proc, s.stepID
	r.group.Go(func() error {
		if err := proc.kill(stepID); err != nil {
			r.send(teardownError{err: err})
		}
		return nil
	})
}

// armGiveUp bounds the wait for killed steps; inside Slurm's KillWait when Slurm is ending the job.
func (r *run) armGiveUp() {
	wait := 10 * time.Second
	if budget := r.killWaitBudget(); budget > 0 {
		wait = min(wait, budget)
	}
	r.enter(phaseKilling, wait)
}
