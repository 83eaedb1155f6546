package supervisor

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/mode"
)

// TestWithDefaults: a Config built by hand gets every default for a zero setting, and keeps every
// setting it was given.
func TestWithDefaults(t *testing.T) {
	got := Config{}.withDefaults()
	if got.Grace != DefaultGrace || got.LaunchGate != DefaultLaunchGate || got.LaunchGateTimeout != DefaultLaunchGateTimeout ||
		got.TailLines != DefaultTailLines || got.DrainSignal != DefaultDrainSignal || got.CancelHold != DefaultCancelHold ||
		got.DumpWait != DefaultDumpWait || got.ErrorLines == nil || len(got.Launcher) != 1 || got.Launcher[0] != "srun" ||
		got.clock == nil || got.waitProbe == nil || got.launcher == nil {
		t.Errorf("Config{}.withDefaults() = %+v: a default is missing", got)
	}
	given := Config{Grace: time.Second, LaunchGate: mode.Never, LaunchGateTimeout: 2 * time.Second, TailLines: 3,
		DrainSignal: syscall.SIGUSR2, CancelHold: 4 * time.Second, Launcher: []string{"/bin/fake", "srun"},
		HangSettings: HangSettings{DumpWait: 5 * time.Millisecond}}
	got = given.withDefaults()
	if got.Grace != given.Grace || got.LaunchGate != given.LaunchGate || got.LaunchGateTimeout != given.LaunchGateTimeout ||
		got.TailLines != given.TailLines || got.DrainSignal != given.DrainSignal || got.CancelHold != given.CancelHold ||
		got.DumpWait != given.DumpWait || len(got.Launcher) != 2 {
		t.Errorf("withDefaults changed a setting it was given: %+v, given %+v", got, given)
	}
}

// TestNotifySignals: the channel NotifySignals returns gets the drain signal the process receives.
func TestNotifySignals(t *testing.T) {
	signals, stop := NotifySignals(syscall.SIGUSR2)
	defer stop()
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	if got := <-signals; got != syscall.SIGUSR2 {
		t.Errorf("got %v, want SIGUSR2", got)
	}
}
