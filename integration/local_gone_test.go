package integration

import (
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

// TestStatusOfKilledSupervisor kills a supervisor with SIGKILL before it has decided: its summary
// still says running, and `status` must say the supervisor is gone and exit with ExitStatusGone, not
// report a run in progress forever. While it lived, status said running (ExitStatusRunning).
func TestStatusOfKilledSupervisor(t *testing.T) {
	ws := t.TempDir()
	run := startLocalRun(t, "run", "--local", "--nodes", "1", "--gpus-per-node", "1", "--workspace", ws,
		"--num-gen", "1", "--nodes-per-gen", "1", "--gpus-per-node-per-gen", "1", "--command", "sleep 600")
	// Running: the benchmark's step has been launched.
	run.awaitSummary(t, ws, "the benchmark was not launched", func(s record.Summary) bool {
		return roleState(s, "BENCHMARK").LaunchedAt != nil
	})
	code, out := status(t, ws)
	if code != verdict.ExitStatusRunning || !strings.Contains(out, "supervisor running (pid ") {
		t.Errorf("status of the live run: exit code %d, want %d:\n%s", code, verdict.ExitStatusRunning, out)
	}

	if err := run.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-run.waited // reaped: its pid names no process now

	s, err := record.ReadSummary(ws)
	if err != nil {
		t.Fatal(err)
	}
	if s.State != record.RunRunning || s.Supervisor == nil || s.Supervisor.PID != run.cmd.Process.Pid {
		t.Fatalf("summary state %s, supervisor %+v; want running, written by pid %d", s.State, s.Supervisor, run.cmd.Process.Pid)
	}
	if v := record.LocalObserver().Judge(s); !v.Gone || v.Code != verdict.ExitStatusGone {
		t.Errorf("Judge = %+v, want the supervisor gone", v)
	}
	code, out = status(t, ws)
	if code != verdict.ExitStatusGone || !strings.Contains(out, "\nsupervisor gone (last heard ") {
		t.Errorf("status of the orphaned run: exit code %d, want %d:\n%s", code, verdict.ExitStatusGone, out)
	}
	// The steps die with the supervisor (their srun has a parent-death signal).
	assertNothingLeft(t, s.RunToken)
}

// status runs `disagg-supervisor status ws` and returns its exit code and output.
func status(t *testing.T, ws string) (int, string) {
	t.Helper()
	out, err := exec.Command(binary, "status", ws).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	}
	t.Fatalf("status: %v", err)
	return 0, ""
}
