package supervisor

import (
	"fmt"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/slurm"
	"github.com/hashicorp/go-multierror"
)

// What the teardown did to each step it stopped, as the summary and the console tell it:
//
//   - stopped: the step ended within the grace period (whether or not its stop command succeeded);
//   - ignored SIGTERM (summary.json ignored_sigterm): it was signalled, its stop command succeeded,
//     and it was still running at the grace period's end;
//   - could not be signalled (summary.json not_signalled): its stop command failed (scancel timed out
//     while slurmctld was down, a node that is gone) or had not answered by the grace period's end,
//     and it was still running then. Such a step is never said to have ignored SIGTERM: it may
//     never have received it.
//
// One failed stop still counts as signalled: Slurm's refusal of a step signal because it is ending
// the job itself ("Invalid job id specified", "already completing") while Slurm is known to be ending
// it. Slurm then sends every step its own SIGTERM, so a step still running at the grace period's
// end did ignore one.

// stopAnswered is the answer of one step's stop command (the teardown's SIGTERM).
type stopAnswered struct {
	name string
	err  error
}

func (stopAnswered) isMessage() {}

// onStopAnswered records the answer of a step's stop command. A failed one is also one of the run's
// errors (or a debug event, see onTeardownError).
func (r *run) onStopAnswered(m stopAnswered) {
	s := r.byName[m.name]
	s.stopAnswered, s.stopErr = true, m.err
	if m.err == nil {
		return
	}
	r.onTeardownError(m.err)
	if s.notSignalled != "" {
		// The grace period ended while the command was still at work: now its answer is known.
		s.notSignalled = fmt.Sprintf("%s (answered %s after the stop, past the grace period)",
			m.err, r.cfg.clock.Now().Sub(r.teardownAt).Round(time.Millisecond))
	}
}

// reportOutlivedGrace reports a step still running at the end of the grace period, before it is
// killed: it ignored SIGTERM only when its stop command succeeded.
func (r *run) reportOutlivedGrace(s *step) {
	if s.stopAnswered && (s.stopErr == nil || r.slurmEnding && slurm.RefusedAsEnding(s.stopErr.Error())) {
		r.ignoredSIGTERM = append(r.ignoredSIGTERM, s.name)
		err := fmt.Errorf("role %s: step %d was still running %s after SIGTERM; killing it", s.name, s.pid(), r.grace)
		r.errs = multierror.Append(r.errs, err)
		r.emit(Event{Name: record.EventWarning, Role: s.name, PID: s.pid(), Signal: "SIGKILL", Message: err.Error()})
		return
	}
	why := fmt.Sprintf("the stop command had not answered within the grace period (%s)", r.grace)
	if s.stopErr != nil {
		why = s.stopErr.Error()
	}
	s.notSignalled = why
	err := fmt.Errorf("role %s: step %d could not be signalled (%s) and was still running %s later; killing it",
		s.name, s.pid(), why, r.grace)
	r.errs = multierror.Append(r.errs, err)
	r.emit(Event{Name: record.EventWarning, Role: s.name, PID: s.pid(), Signal: "SIGKILL", Message: err.Error()})
}

// notSignalledSteps lists the steps the teardown could not signal, in the plan's order.
func (r *run) notSignalledSteps() []record.NotSignalled {
	var out []record.NotSignalled
	for _, s := range r.steps {
		if s.notSignalled != "" {
			out = append(out, record.NotSignalled{Role: s.name, Error: r.redactor.String(s.notSignalled)})
		}
	}
	return out
}
