package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/supervisor"
)

// TestSIGQUIT: SIGQUIT is a signal like the others: the run ends 131 with a final record, and Go's
// goroutine dump goes to a file in the workspace instead of ending the supervisor with 2.
func TestSIGQUIT(t *testing.T) {
	ws := t.TempDir()
	var stderr strings.Builder
	cmd := exec.Command(filepath.Join(binDir, "disagg-supervisor"), "run", "--local", "--nodes", "2", "--gpus-per-node", "2",
		"--workspace", ws, "--num-gen", "1", "--nodes-per-gen", "1", "--gpus-per-node-per-gen", "2", "--command", "sleep 600", "--grace", "2s")
	// The signal must meet a run in progress, not its start.
	startUntilRunning(t, cmd, ws, &stderr)
	if err := cmd.Process.Signal(syscall.SIGQUIT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 131 {
		t.Fatalf("exit %v, want 131; stderr:\n%s", err, stderr.String())
	}
	s, err := record.ReadSummary(ws)
	if err != nil || s.State != record.RunInterrupted || s.ExitCode == nil || *s.ExitCode != 131 || s.EndedAt == nil {
		t.Errorf("summary %+v (%v); want interrupted with 131, ended", s, err)
	}
	if s.Failure == nil || s.Failure.Class != "cancelled" {
		t.Errorf("failure %+v, want class cancelled", s.Failure)
	}
	dump, err := os.ReadFile(filepath.Join(ws, supervisor.GoroutineDumpFile))
	if err != nil || !strings.Contains(string(dump), "goroutine ") || !strings.Contains(string(dump), "(SIGQUIT)") {
		t.Errorf("goroutine dump (%v):\n%.500s", err, dump)
	}
	if strings.Contains(stderr.String(), "goroutine 1 [") {
		t.Errorf("the goroutine dump went to stderr:\n%.2000s", stderr.String())
	}
}

// startUntilRunning starts cmd, a run in workspace ws, and returns once every role of it runs; it fails
// the test (killing cmd) when that does not happen within a minute.
func startUntilRunning(t *testing.T, cmd *exec.Cmd, ws string, stderr *strings.Builder) {
	t.Helper()
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		s, err := record.ReadSummary(ws)
		if err == nil && allRunning(s) {
			return
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("the run never had every role running; stderr:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func allRunning(s record.Summary) bool {
	if len(s.Roles) == 0 {
		return false
	}
	for _, r := range s.Roles {
		if r.State != record.StepReady && r.State != record.StepRunning {
			return false
		}
	}
	return true
}
