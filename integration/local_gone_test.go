package integration

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

// TestStatusOfKilledSupervisor kills a supervisor with SIGKILL before it has decided: its summary
// still says running, and `status` must say the supervisor is gone and exit with ExitStatusGone, not
// report a run in progress forever. While it lived, status said running (ExitStatusRunning).
func TestStatusOfKilledSupervisor(t *testing.T) {
	ws := t.TempDir()
	cmd := exec.Command(binary, "run", "--local", "--nodes", "1", "--gpus-per-node", "1", "--workspace", ws,
		"--num-gen", "1", "--nodes-per-gen", "1", "--gpus-per-node-per-gen", "1", "--command", "sleep 600")
	var console bytes.Buffer
	cmd.Stdout, cmd.Stderr = &console, &console
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	// Running: the benchmark's step has been launched.
	deadline := time.Now().Add(60 * time.Second)
	var s record.Summary
	for {
		var err error
		if s, err = record.ReadSummary(ws); err == nil && roleState(s, "BENCHMARK").LaunchedAt != nil {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-waited
			t.Fatalf("the benchmark was not launched within 60s; console:\n%s", console.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	code, out := status(t, ws)
	if code != verdict.ExitStatusRunning || !strings.Contains(out, "supervisor running (pid ") {
		t.Errorf("status of the live run: exit code %d, want %d:\n%s", code, verdict.ExitStatusRunning, out)
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-waited // reaped: its pid names no process now

	s, err := record.ReadSummary(ws)
	if err != nil {
		t.Fatal(err)
	}
	if s.State != record.RunRunning || s.Supervisor == nil || s.Supervisor.PID != cmd.Process.Pid {
		t.Fatalf("summary state %s, supervisor %+v; want running, written by pid %d", s.State, s.Supervisor, cmd.Process.Pid)
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
