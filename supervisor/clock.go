package supervisor

import "time"

// clock is where the run loop gets the time and its timers from. The loop's decisions depend on
// timers (grace period, give-up bound, cancellation hold, launch-gate timeout); injecting them, as
// suture injects its timer source, lets tests drive those decisions in microseconds.
type clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed, for the loop's own select.
	After(d time.Duration) <-chan time.Time
	// AfterFunc calls f once d has passed, in a goroutine of its own; f must not touch run state.
	AfterFunc(d time.Duration, f func())
}

// realClock is the clock of a real run.
type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// AfterFunc drops the timer: a timer firing after the run is harmless (its message finds nobody
// listening, see run.send), and Go collects unreferenced timers.
func (realClock) AfterFunc(d time.Duration, f func()) { time.AfterFunc(d, f) }
