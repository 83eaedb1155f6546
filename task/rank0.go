package task

import (
	"context"
	"fmt"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
)

// stepKey names this task's step: the barrier and rank 0's preparation belong to it.
func (r *runner) stepKey() coord.StepKey {
	return coord.StepKey{Role: r.id.role, Job: r.id.jobID, Step: r.id.stepID}
}

// rank0Prep applies --rank0: rank 0 runs the command and publishes its outcome; the other ranks wait
// for that outcome instead of sleeping a fixed time, bounded by the barrier timeout, and leave with
// rank 0's code and message when it failed.
func (r *runner) rank0Prep(ctx context.Context) error {
	files := r.dir().Rank0(r.stepKey())
	if r.id.rank == 0 {
		r.logf("rank-0 preparation of %s: running it", r.id.role)
		start := time.Now()
		st, err := r.runPrep(ctx)
		took := time.Since(start).Round(time.Millisecond)
		if err != nil {
			// Interrupted: the others must not wait for a preparation that will never finish.
			_ = coord.WriteFailure(files.Failed, coord.Failure{Code: st.exitCode(), Message: fmt.Sprintf("rank 0 on %s was interrupted during the preparation", r.id.node)})
			return err
		}
		if st.exitCode() == 0 {
			if err := coord.WriteMarker(files.OK, r.id.marker(time.Now())); err != nil {
				return fail(exitFailure, "rank-0 preparation of %s succeeded but %s could not be written: %w", r.id.role, files.OK, err)
			}
			r.logf("rank-0 preparation of %s: done in %s", r.id.role, took)
			return nil
		}
		msg := fmt.Sprintf("rank-0 preparation of %s failed with %s after %s on %s", r.id.role, st, took, r.id.node)
		if err := coord.WriteFailure(files.Failed, coord.Failure{Code: st.exitCode(), Message: msg}); err != nil {
			return fail(st.exitCode(), "%s; writing %s also failed: %w", msg, files.Failed, err)
		}
		return fail(st.exitCode(), "%s", msg)
	}

	r.logf("rank-0 preparation of %s: waiting for rank 0, up to %s", r.id.role, r.opts.BarrierTimeout)
	check := func(elapsed time.Duration) (bool, error) {
		if exists(files.OK) {
			r.logf("rank-0 preparation of %s: done by rank 0; waited %s", r.id.role, elapsed.Round(time.Millisecond))
			return true, nil
		}
		if exists(files.Failed) {
			f := coord.ReadFailure(files.Failed)
			return false, fail(f.Code, "leaving: %s", f.Message)
		}
		if elapsed >= r.opts.BarrierTimeout {
			return false, fail(exitWaited, "rank 0 of %s%s did not finish its preparation within %s", r.id.role, r.onNode(0), r.opts.BarrierTimeout)
		}
		return false, nil
	}
	progress := func(time.Duration) {}
	return r.wait(ctx, "while waiting for rank 0's preparation of "+r.id.role, check, progress)
}

// runPrep runs the rank-0 command with the task's environment and output, in the task's process
// group; an interruption stops it.
func (r *runner) runPrep(ctx context.Context) (procStatus, error) {
	bash, err := lookPath("bash", r.env)
	if err != nil {
		return procStatus{code: exitNotFound}, nil
	}
	cmd := r.shell(bash, r.opts.Rank0, r.env.list())
	cmd.Dir = r.workdir
	if err := cmd.Start(); err != nil {
		return procStatus{code: exitNotFound}, nil
	}
	done := make(chan procStatus, 1)
	go func() {
		_ = cmd.Wait()
		done <- statusOf(cmd.ProcessState)
	}()
	select {
	case st := <-done:
		return st, nil
	case <-ctx.Done():
		r.stopHook(cmd.Process.Pid)
		<-done
		return procStatus{code: interruptCode(ctx)}, r.interrupted(ctx, "during rank 0's preparation")
	}
}
