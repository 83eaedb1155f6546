package supervisor

import (
	"fmt"
	"os"
	"time"
)

// drainWhy is what the drain signal says when Slurm's time limit is known (HangSettings.JobEnd):
// "time limit in N s: drained", so that the root cause tells a drain before the time limit from
// someone sending the signal by hand. Empty for other signals, or when the job's end is unknown.
func (r *run) drainWhy(sig os.Signal, now time.Time) string {
	if sig != r.cfg.DrainSignal || r.cfg.JobEnd.IsZero() {
		return ""
	}
	left := r.cfg.JobEnd.Sub(now).Round(time.Second)
	if left < 0 {
		return fmt.Sprintf("time limit passed %d s ago: drained", int(-left.Seconds()))
	}
	return fmt.Sprintf("time limit in %d s: drained", int(left.Seconds()))
}

// drainMessage is the signal event's message for the drain signal: why, when known, and what was
// still running.
func (r *run) drainMessage(now time.Time) string {
	what := "pre-timeout signal: draining before the time limit"
	if why := r.drainWhy(r.cfg.DrainSignal, now); why != "" {
		what = why + " (pre-timeout signal " + signalName(r.cfg.DrainSignal) + ")"
	}
	return what + "; still running: " + r.stillRunning(now)
}
