package supervisor

import "time"

// phase is where the run is on its way from the launches to the supervisor's exit. Each of the loop's
// timers belongs to one phase and runs only while the run is in it: enter, the one way into a phase,
// arms the new phase's timer and drops every other.
type phase int

const (
	// phaseRunning: the result is not decided.
	phaseRunning phase = iota
	// phaseHolding: a step's end looked like Slurm's cancellation of the job; its verdict waits for
	// Slurm's word (held) at most CancelHold (holdTimer).
	phaseHolding
	// phaseDumping: the run is decided as hung; the steps got the dump signal and write their stacks
	// for DumpWait (dumpTimer), then the teardown begins.
	phaseDumping
	// phaseGrace: the steps got SIGTERM and have the grace period (killTimer) to end.
	phaseGrace
	// phaseKilling: what outlived the grace period got SIGKILL, and giveUpTimer bounds the wait for it;
	// also a teardown that found no step left to stop.
	phaseKilling
	// phaseAbandoning: killed steps did not end in time; the supervisor leaves them to Slurm and exits.
	phaseAbandoning
)

func (p phase) String() string {
	switch p {
	case phaseRunning:
		return "running"
	case phaseHolding:
		return "holding"
	case phaseDumping:
		return "dumping"
	case phaseGrace:
		return "grace"
	case phaseKilling:
		return "killing"
	case phaseAbandoning:
		return "abandoning"
	}
	return "unknown"
}

// phaseTimers are the loop's timers; enter owns them. A nil channel is a timer that is not armed.
type phaseTimers struct {
	holdTimer, dumpTimer, killTimer, giveUpTimer <-chan time.Time
}

// enter moves the run into phase p with its timer set to wait (the hold, the dump wait, the grace
// period, the wait for killed steps; re-entering the phase it is in restarts that timer), and drops
// the timers of every other phase. A wait of zero, and the phases without a timer, arm none.
func (r *run) enter(p phase, wait time.Duration) {
	r.phase = p
	r.timers = phaseTimers{}
	if wait <= 0 {
		return
	}
	switch p {
	case phaseHolding:
		r.timers.holdTimer = r.cfg.clock.After(wait)
	case phaseDumping:
		r.timers.dumpTimer = r.cfg.clock.After(wait)
	case phaseGrace:
		r.timers.killTimer = r.cfg.clock.After(wait)
	case phaseKilling:
		r.timers.giveUpTimer = r.cfg.clock.After(wait)
	}
}
