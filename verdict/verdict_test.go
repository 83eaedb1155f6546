package verdict

import (
	"fmt"
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
