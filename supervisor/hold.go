package supervisor

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/slurm"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

// DefaultCancelHold bounds how long an unexpected step end on a cluster waits for Slurm's word (the
// job's state, or the supervisor's own SIGTERM) before the role is blamed. The answer to `scontrol show
// job` normally settles it at once; the bound matters only when the controller is slow or unreachable,
// and stays well inside Slurm's KillWait so that a cancellation still leaves time for the teardown.
const DefaultCancelHold = 3 * time.Second

// canAskSlurm reports whether a step's unexpected end is first checked against the job's state: on a
// cluster, every one is, because any could be Slurm's doing rather than the role's. Slurm signals the
// steps and the batch shell at once, so a step can end before the supervisor's own SIGTERM and before
// slurmstepd's CANCELLED line is written, with whatever its tasks do on SIGTERM (143, 137 after
// KillWait, even 0), or srun can fail to start a step of a job that is already completing ("Unable to
// create step ... already completing"). One question to the controller tells them from a failure,
// and costs tens of milliseconds.
func (r *run) canAskSlurm() bool {
	return r.cfg.JobState != nil
}

// hold keeps the verdict on a step's end open until Slurm says whether it is ending the job, the
// supervisor's own signal arrives, or CancelHold passes. Only the first such step is held; later
// ones are most likely the same cancellation.
func (r *run) hold(s *step) {
	if r.phase != phaseRunning {
		return
	}
	r.held = s
	r.emit(Event{Name: record.EventWarning, Role: s.name, Code: intPtr(s.code), Message: fmt.Sprintf(
		"ended with exit code %d; asking Slurm whether it is ending the job (up to %s) before blaming the role", s.code, r.cfg.CancelHold)})
	r.enter(phaseHolding, r.cfg.CancelHold)
	r.askSlurm(0)
}

// holdRetry is the pause before the job's state is asked again after a failed query.
const holdRetry = 250 * time.Millisecond

// askSlurm queries the job's state, after delay, outside the loop; the answer comes back as a
// jobStateKnown message.
func (r *run) askSlurm(delay time.Duration) {
	ctx, query, clock, bound := r.groupCtx, r.cfg.JobState, r.cfg.clock, r.cfg.CancelHold
	r.group.Go(func() error {
		if delay > 0 {
			select {
			case <-clock.After(delay):
			case <-ctx.Done():
				return nil
			}
		}
		qctx, cancel := context.WithTimeout(ctx, bound)
		defer cancel()
		status, err := query(qctx)
		r.send(jobStateKnown{status: status, err: err})
		return nil
	})
}

// resolveHold settles a held step's end: Slurm ending the job makes it an interruption (or, when a
// node failed, an infrastructure failure); anything else (the job still running, no answer in time)
// makes it the role's failure.
func (r *run) resolveHold(st slurm.JobStatus, err error) {
	s := r.held
	if r.phase != phaseHolding {
		return
	}
	if err == nil && slurm.JobEnding(st.State) {
		r.markStoppedBySlurm(s)
		r.interruptBySlurm(s.name, st, fmt.Sprintf("JobState=%s; step %s ended with it", st.State, s.name))
		return
	}
	f := r.failureOfExit(s)
	if err != nil {
		f.Reason += fmt.Sprintf(" (not a cancellation: %v)", err)
	} else {
		f.Reason += fmt.Sprintf(" (not a cancellation: JobState=%s)", st.State)
	}
	r.decide(record.RunFailed, f.Code, f)
}

// markStoppedBySlurm records that the held step, and every step that ended by itself since, were ended
// by Slurm's cancellation of the job.
func (r *run) markStoppedBySlurm(held *step) {
	for _, s := range r.steps {
		if s.end == endExited && !s.stopRequested && !s.endedAt.Before(held.endedAt) {
			s.end = endBySlurm
		}
	}
}

// interruptBySlurm decides the run as interrupted by Slurm, which SIGKILLs the job KillWait after it
// began; a node failure makes it an infrastructure failure instead. role is the step whose end told.
func (r *run) interruptBySlurm(role string, st slurm.JobStatus, why string) {
	code := verdict.Signal(syscall.SIGTERM)
	r.slurmEndsJob()
	f := r.cancellation(code, st, why)
	r.emit(Event{Name: record.EventSignal, Role: role, Code: intPtr(code), Message: f.Reason})
	r.decide(record.RunInterrupted, code, f)
	if r.nodeFailure(st) {
		r.recordRefinement()
	}
}

// askWhyEnding asks Slurm, once the run was decided as interrupted by a SIGTERM, why the job is
// ending; the answer (jobEndKnown) refines the root cause before the record is final.
func (r *run) askWhyEnding() {
	if r.cfg.JobState == nil {
		return
	}
	ctx, query, bound := r.groupCtx, r.cfg.JobState, r.cfg.CancelHold
	r.askingWhy = true
	r.group.Go(func() error {
		qctx, cancel := context.WithTimeout(ctx, bound)
		defer cancel()
		status, err := query(qctx)
		r.send(jobEndKnown{status: status, err: err})
		return nil
	})
}

// onJobEnd refines an interruption with Slurm's word on why the job ends.
func (r *run) onJobEnd(m jobEndKnown) {
	r.askingWhy = false
	if r.state != record.RunInterrupted || r.failure == nil {
		return
	}
	if m.err != nil {
		r.emit(Event{Name: record.EventSignal, Debug: true, Message: fmt.Sprintf("could not ask Slurm why the job ends: %v", m.err)})
		return
	}
	if r.nodeFailure(m.status) {
		r.recordRefinement()
		return
	}
	refined := r.cancellation(r.code, m.status, strings.TrimPrefix(r.failure.Reason, "Slurm is ending the job: "))
	if !strings.HasPrefix(r.failure.Reason, "Slurm is ending the job") {
		refined = r.cancellation(r.code, m.status, r.failure.Reason)
	}
	r.failure.Reason, r.failure.Evidence = refined.Reason, refined.Evidence
	r.recordRefinement()
}

// recordRefinement rewrites the record after the root cause of a decided run became more precise.
func (r *run) recordRefinement() {
	summary := r.summary()
	r.emit(Event{Name: record.EventSignal, Code: intPtr(r.code), Message: "Slurm's word on the job's end: " + record.ResultLine(summary)})
	r.writeRecord(summary)
}

// refineCancellation names who ended an interrupted job once the teardown has flushed the steps'
// logs: slurmstepd's CANCELLED lines say "DUE TO TIME LIMIT", "DUE TO NODE FAILURE", ..., or nothing
// (scancel), where the job's state during the teardown only says COMPLETING.
func (r *run) refineCancellation() {
	f := r.failure
	if r.state != record.RunInterrupted || f == nil || f.Class != verdict.ClassCancelled || r.cfg.JobState == nil {
		return
	}
	if r.nodeFailure(slurm.JobStatus{}) {
		return
	}
	line := r.cancelledLine()
	who := verdict.Canceller(line, "", "")
	if who == "" || strings.Contains(f.Reason, "("+who+")") {
		return
	}
	why := f.Reason
	if rest, ok := strings.CutPrefix(why, "Slurm is ending the job"); ok {
		_, why, _ = strings.Cut(rest, ": ")
	}
	refined := r.cancellation(f.Code, slurm.JobStatus{}, why)
	f.Reason = refined.Reason
	f.Evidence = append(f.Evidence, refined.Evidence...)
	f.Evidence = slices.Compact(f.Evidence)
}
