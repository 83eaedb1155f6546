package supervisor

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/slurm"
)

// The run is decided when srun ends, but srun can outlive a task's failure indefinitely: with
// --kill-on-bad-exit srun asks the controller to kill the step, and that request is lost while
// slurmctld is down; plain srun waits for the other tasks, which may wait forever for the dead one.
// Either way srun has already printed "srun: error: NODE: task N: Exited with exit code C" to the
// role's log. So while a step runs its log is watched for that line, and when srun has not ended
// within the srun exit wait of it, the run is decided on the line, as if srun had ended then, and that
// srun is killed.

// DefaultSrunExitWait is the srun exit wait when Slurm's KillWait is unknown (local mode, or a
// failed `scontrol show config`): Slurm's default KillWait.
const DefaultSrunExitWait = 30 * time.Second

// srunExitMargin is added to KillWait for the srun exit wait: once the step is being killed, Slurm
// SIGKILLs its tasks KillWait after their SIGTERM and srun ends moments later; the margin covers a
// loaded controller and node, so that a step that ends the normal way is never decided early.
const srunExitMargin = 5 * time.Second

// A running step's log is looked at every srunLineInterval while it grows, backing off to
// srunLineIdleInterval while it does not: the line is acted on only the srun exit wait (tens of
// seconds) after it appears, so seeing it a second late costs nothing, and an idle step costs one
// read every two seconds. One look reads at most srunLineWindow bytes: a log that grew by more since
// the last look is read from its last srunLineWindow bytes only (srun's line, which comes once a task
// has ended, is then usually among the last), so that a very chatty role is never read whole.
const (
	srunLineInterval     = 250 * time.Millisecond
	srunLineIdleInterval = 2 * time.Second
	srunLineWindow       = 4 << 20
)

type (
	// srunLineSeen: a running step's log has a line by which srun says one of its tasks failed.
	srunLineSeen struct {
		name    string
		failure slurm.TaskFailure
	}
	// srunLineDue: the srun exit wait has passed since the loop heard of a step's failing-task line.
	srunLineDue struct{ name string }
)

func (srunLineSeen) isMessage() {}
func (srunLineDue) isMessage()  {}

// srunExitWait is how long srun may outlive its failing-task line: HangSettings.SrunExitWait, else
// Slurm's KillWait plus srunExitMargin, else DefaultSrunExitWait.
func (r *run) srunExitWait() time.Duration {
	switch {
	case r.cfg.SrunExitWait > 0:
		return r.cfg.SrunExitWait
	case r.cfg.KillWait > 0:
		return r.cfg.KillWait + srunExitMargin
	}
	return DefaultSrunExitWait
}

// watchSrunLines looks at the new part of a launched step's log until it finds a line by which srun
// says that one of the step's own tasks failed, tells the loop, and stops. It stops too when the step
// ends or the run is decided. Pre-flight checks are not watched: their timeout bounds them.
func (r *run) watchSrunLines(s *step) {
	if s.isCheck() || s.watch == nil {
		return
	}
	ctx, stop := context.WithCancel(s.watch)
	// After the decision no line decides anything.
	r.hang.stopChecks = append(r.hang.stopChecks, stop)
	name, path, offset, clock := s.name, s.log, s.logStart, r.cfg.clock
	nodes, ntasks := s.nodes, s.ntasks
	r.group.Go(func() error {
		lr, err := openLogReader(path, offset, srunLineWindow)
		if err != nil {
			// Nothing to watch: srun's own end still decides.
			return nil
		}
		defer lr.Close()
		pause := srunLineInterval
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-clock.After(pause):
			}
			var found *slurm.TaskFailure
			grew := lr.read(func(lines []byte) {
				if found == nil && bytes.Contains(lines, []byte(slurm.SrunErrorMark)) {
					found = ownTaskFailure(slurm.ParseTaskFailures(string(lines)), nodes, ntasks)
				}
			}, false)
			if found != nil {
				r.send(srunLineSeen{name: name, failure: *found})
				return nil
			}
			if grew {
				pause = srunLineInterval
			} else {
				pause = min(2*pause, srunLineIdleInterval)
			}
		}
	})
}

// ownTaskFailure returns the first of failures that names one of the step's nodes and tasks, nil when
// none does: a line about other tasks (a nested srun's, echoed by the role) is not the step's.
func ownTaskFailure(failures []slurm.TaskFailure, nodes []string, ntasks int) *slurm.TaskFailure {
	for _, f := range failures {
		if len(nodes) > 0 && !slices.Contains(nodes, f.Node) {
			continue
		}
		if ntasks > 0 && slices.ContainsFunc(f.Ranks, func(rank int) bool { return rank >= ntasks }) {
			continue
		}
		return &f
	}
	return nil
}

// onSrunLine starts the srun exit wait when a running step's failing-task line appears, and decides
// on the line when srun has not ended by the wait's end. A step the supervisor is stopping, and any
// step once the run is decided, are left to the teardown.
func (r *run) onSrunLine(msg message) {
	switch m := msg.(type) {
	case srunLineSeen:
		s := r.byName[m.name]
		if s == nil || r.decided || !s.alive() || s.stopRequested || s.failLine != nil {
			return
		}
		failure := m.failure
		s.failLine = &failure
		r.armSrunLineDue(s.name, r.srunExitWait())
	case srunLineDue:
		s := r.byName[m.name]
		if s == nil || r.decided || !s.alive() || s.stopRequested || s.failLine == nil {
			return
		}
		if r.phase == phaseHolding {
			// Another step's end waits for Slurm's word on whether it is ending the job: that
			// answer comes first, within CancelHold.
			r.armSrunLineDue(s.name, r.cfg.CancelHold)
			return
		}
		r.endOnLine(s)
	}
}

func (r *run) armSrunLineDue(name string, d time.Duration) {
	r.cfg.clock.AfterFunc(d, func() { r.send(srunLineDue{name: name}) })
}

// endOnLine takes a step whose srun outlived its failing task's line by the srun exit wait as ended
// on that line: the run is decided as onExit would have decided it had srun ended with the task's
// code then (the root cause from the step's log, the same classes), and that srun is killed. A
// server's failure after the benchmark announced its end stays a warning, as at srun's own end
// (onExit gives it when the killed srun ends): the kill lets the step end, so that its .done file
// is written and the benchmark, which waits for it, goes on.
func (r *run) endOnLine(s *step) {
	wait := r.srunExitWait()
	line := strings.TrimSpace(s.failLine.Line)
	afterEnd := s.kind != kindInstall && !record.DecidesRun(s.kind) && r.benchmarkAnnouncedEnd()
	if afterEnd {
		r.emit(Event{Name: record.EventWarning, Role: s.name, PID: s.pid(), Code: intPtr(s.failLine.Code), Message: fmt.Sprintf(
			"srun did not end within %s of its failing task's line, after the benchmark announced its end; killing it: %s", wait, line)})
		r.kill(s)
		return
	}
	s.endedOnLine = true
	s.taskFailure, s.code = s.failLine, s.failLine.Code
	s.readOutcome()
	r.emit(Event{Name: record.EventWarning, Role: s.name, PID: s.pid(), Code: intPtr(s.code), Message: fmt.Sprintf(
		"srun did not end within %s of its failing task's line; deciding on the line and killing srun: %s", wait, line)})
	switch {
	case s.cancelledBySlurm != "":
		// slurmstepd said Slurm cancelled the step, as onExit would find.
		s.cancelledOnLine = true
		r.interruptBySlurm(s.name, slurm.JobStatus{}, "")
	default:
		// No question to Slurm, as a step's own end on a cluster gets: had Slurm been ending the
		// job, it would have signalled the supervisor and killed everything within KillWait,
		// which the wait outlasts.
		f := r.failureOfExit(s)
		f.Reason += fmt.Sprintf(" (decided on srun's line: srun had not ended %s after it)", wait)
		r.decide(record.RunFailed, f.Code, f)
	}
	r.kill(s)
}
