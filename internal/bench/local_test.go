package bench

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRunLogged: the run's output goes to the log and its exit status comes back; only a binary
// that cannot start is an error.
func TestRunLogged(t *testing.T) {
	log := filepath.Join(t.TempDir(), "run.out")
	l := &local{bin: "/bin/sh"}
	state, err := l.runLogged(log, "-c", "echo to stdout; echo to stderr >&2; exit 3")
	if err != nil || state.ExitCode() != 3 {
		t.Fatalf("runLogged = %v, %v; want exit code 3 and no error", state, err)
	}
	if data, err := os.ReadFile(log); err != nil || string(data) != "to stdout\nto stderr\n" {
		t.Errorf("log %q (%v), want both streams", data, err)
	}
	l.bin = filepath.Join(t.TempDir(), "missing")
	if state, err := l.runLogged(log); err == nil {
		t.Errorf("runLogged of a missing binary = %v, want an error", state)
	}
}
