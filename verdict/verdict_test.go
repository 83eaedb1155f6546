package verdict

import (
	"fmt"
	"os"
	"syscall"
	"testing"
)

// TestParseSignal: a signal as sbatch --signal and scancel --signal write it, by name with or without
// SIG in any case, or by number; anything else is refused with the input quoted.
func TestParseSignal(t *testing.T) {
	for in, want := range map[string]syscall.Signal{"USR1": syscall.SIGUSR1, "SIGUSR2": syscall.SIGUSR2, "term": syscall.SIGTERM, "10": syscall.Signal(10), "64": syscall.Signal(64)} {
		if got, err := ParseSignal(in); err != nil || got != want {
			t.Errorf("ParseSignal(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"BOGUS", "0", "65", "", "-1"} {
		if _, err := ParseSignal(in); err == nil || err.Error() != fmt.Sprintf("%q is not a signal name like USR1", in) {
			t.Errorf("ParseSignal(%q): %v, want a refusal quoting it", in, err)
		}
	}
}

// otherSignal is an os.Signal that is not a syscall.Signal.
type otherSignal struct{}

func (otherSignal) String() string { return "other" }
func (otherSignal) Signal()        {}

// TestSignal: the shell's 128+S for the codes the docs name, a real-time signal, and SIGTERM's code for
// a signal that has no number.
func TestSignal(t *testing.T) {
	for _, tt := range []struct {
		sig  os.Signal
		want int
	}{
		{syscall.SIGHUP, 129}, {syscall.SIGINT, 130}, {syscall.SIGQUIT, 131}, {syscall.SIGABRT, 134},
		{syscall.SIGKILL, 137}, {syscall.SIGUSR1, 138}, {syscall.SIGSEGV, 139}, {syscall.SIGTERM, 143},
		{syscall.Signal(34), 162}, {syscall.Signal(125), 253}, {otherSignal{}, 143},
	} {
		if got := Signal(tt.sig); got != tt.want {
			t.Errorf("Signal(%v) = %d, want %d", tt.sig, got, tt.want)
		}
	}
}
