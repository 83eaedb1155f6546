package supervisor

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/record"
)

// TestEnterOwnsTheTimers: entering a phase arms that phase's timer alone, with the wait given, and
// drops the timer of the phase it leaves, so that no timer of a phase left behind can fire in another.
func TestEnterOwnsTheTimers(t *testing.T) {
	clock := newFakeClock()
	r := &run{cfg: Config{seams: seams{clock: clock}}}
	armed := func() []string {
		var on []string
		for name, ch := range map[string]<-chan time.Time{"hold": r.timers.holdTimer, "dump": r.timers.dumpTimer,
			"kill": r.timers.killTimer, "giveUp": r.timers.giveUpTimer} {
			if ch != nil {
				on = append(on, name)
			}
		}
		return on
	}
	for _, tt := range []struct {
		phase phase
		wait  time.Duration
		want  string
	}{
		{phaseHolding, time.Second, "hold"},
		{phaseDumping, time.Second, "dump"},
		{phaseGrace, time.Second, "kill"},
		{phaseKilling, time.Second, "giveUp"},
		{phaseKilling, 0, ""},
		{phaseAbandoning, time.Second, ""},
		{phaseRunning, time.Second, ""},
	} {
		r.enter(phaseHolding, time.Minute) // a timer of another phase, which the next enter drops
		r.enter(tt.phase, tt.wait)
		if got := strings.Join(armed(), ","); r.phase != tt.phase || got != tt.want {
			t.Errorf("enter(%s, %s): phase %s, timers armed [%s], want [%s]", tt.phase, tt.wait, r.phase, got, tt.want)
		}
	}
	// The timer runs for the wait given.
	r.enter(phaseGrace, 2*time.Second)
	clock.advance(1999 * time.Millisecond)
	select {
	case <-r.timers.killTimer:
		t.Fatal("the grace period's timer fired before its wait")
	default:
	}
	clock.advance(time.Millisecond)
	select {
	case <-r.timers.killTimer:
	default:
		t.Fatal("the grace period's timer did not fire at its wait")
	}
}

type strayMessage struct{}

func (strayMessage) isMessage() {}

// TestHandleRefusesUnknownMessage: a message type without a handler is a programming error, caught by
// the first test that sends one rather than dropped in silence.
func TestHandleRefusesUnknownMessage(t *testing.T) {
	r := &run{cfg: Config{seams: seams{clock: newFakeClock()}}}
	defer func() {
		if p := recover(); p == nil || !strings.Contains(fmt.Sprint(p), "strayMessage") {
			t.Errorf("handle(strayMessage{}) recovered %v, want a panic naming the message type", p)
		}
	}()
	r.handle(strayMessage{})
}

// TestStepState: a step's state in the summary is its end, or while it runs, how far it got, with a
// stop asked of it showing as stopping until it ends.
func TestStepState(t *testing.T) {
	at := time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name string
		s    step
		want record.StepState
	}{
		{"never launched", step{}, record.StepPending},
		{"launched", step{launchedAt: at}, record.StepLaunched},
		{"running", step{launchedAt: at, runningAt: at}, record.StepRunning},
		{"ready", step{launchedAt: at, runningAt: at, readyAt: at}, record.StepReady},
		{"asked to stop", step{launchedAt: at, readyAt: at, stopRequested: true}, record.StepStopping},
		{"exited", step{launchedAt: at, end: endExited}, record.StepExited},
		{"exited though asked to stop: its failing task decided the run", step{end: endExited, stopRequested: true}, record.StepExited},
		{"stopped", step{end: endStopped, stopRequested: true}, record.StepStopped},
		{"ended by Slurm", step{end: endBySlurm}, record.StepStopped},
		{"finished", step{end: endFinished}, record.StepFinished},
		{"finished, with Slurm's cancellation in its log", step{end: endFinishedBySlurm}, record.StepStopped},
		{"abandoned", step{end: endAbandoned, stopRequested: true}, record.StepAbandoned},
		{"launch failed", step{end: endLaunchFailed}, record.StepLaunchFailed},
	} {
		if got := tt.s.state(); got != tt.want {
			t.Errorf("%s: state %s, want %s", tt.name, got, tt.want)
		}
	}
}
