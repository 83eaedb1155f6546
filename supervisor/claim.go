package supervisor

import (
	"errors"
	"fmt"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

// workspaceClaim is what a run takes of its workspace before it writes anything there: the workspace
// lock, and an earlier attempt's misleading files moved out of its way.
type workspaceClaim struct {
	self  record.SupervisorInfo
	lock  *workspaceLock
	moved []staleMove
}

// claimWorkspace takes the workspace lock, then moves an earlier attempt's files aside (under the
// lock, so never another live run's). It returns the exit code of a failure: bad input when another
// supervisor holds the workspace or a stale file cannot be moved (nothing was launched, and nothing of
// the run written), internal when the workspace cannot be written at all.
func (r *run) claimWorkspace() (int, error) {
	r.claim.self = currentSupervisor(r.start)
	lock, err := lockWorkspace(r.plan, LockHolder{PID: r.claim.self.PID, Host: r.claim.self.Host,
		BootID: r.claim.self.BootID, JobID: r.plan.JobID, RestartCount: r.plan.RestartCount,
		RunToken: r.plan.RunToken, StartedAt: r.claim.self.StartedAt})
	if err != nil {
		var busy *workspaceBusyError
		if errors.As(err, &busy) {
			return verdict.ExitBadInput, err
		}
		return verdict.ExitInternal, err
	}
	r.claim.lock = lock
	moved, err := moveStale(r.plan, r.cfg.EndMarkers)
	r.claim.moved = moved
	if err != nil {
		lock.release()
		if len(moved) > 0 {
			err = fmt.Errorf("%w (moved before it: %s)", err, staleEvent(coord.StaleDir(r.plan.Workspace, r.plan.RunToken), moved))
		}
		return verdict.ExitBadInput, err
	}
	return verdict.ExitOK, nil
}

// reportClaim tells the event log what claiming the workspace did.
func (r *run) reportClaim() {
	if err := r.claim.lock.unsupported; err != nil {
		r.emit(Event{Name: record.EventWarning, Message: fmt.Sprintf(
			"the workspace's file system has no flock (%v): a second supervisor in this workspace would not be stopped", err)})
	}
	if len(r.claim.moved) > 0 {
		r.emit(Event{Name: record.EventPlan, Message: staleEvent(coord.StaleDir(r.plan.Workspace, r.plan.RunToken), r.claim.moved)})
	}
}
