package toy

import (
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// proc is a rank run as a real process (the test binary in helper mode).
type proc struct {
	cmd    *exec.Cmd
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan error
}

func startProc(t *testing.T, env fakeEnv, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &proc{cmd: cmd, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		// A failed test must not leave a serving process behind.
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

// wait returns the wait status of the process, failing the test if it runs longer than d.
func (p *proc) wait(t *testing.T, d time.Duration) syscall.WaitStatus {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	case <-time.After(d):
		t.Fatalf("process still running after %v\nstdout:\n%s\nstderr:\n%s", d, p.stdout, p.stderr)
		return 0
	}
}

func TestProcessSIGTERM(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := startProc(t, roleEnv(dir, "GEN_0", 0).with(envCUDA, "3"))
	eventually(t, testDeadline, "GEN_0 address file", func() bool { return fileExists(addressFile(dir, "GEN_0")) })
	wantFirst := "toy: role=GEN_0 rank=0 node=node1 pid=" + strconv.Itoa(p.cmd.Process.Pid) + " cuda_visible_devices=3\n"
	// The line is written before the address file, but reaches the buffer through the pipe's copier,
	// which a loaded machine can run later.
	eventually(t, testDeadline, "GEN_0's first line", func() bool { return strings.Contains(p.stdout.String(), "\n") })
	if got := p.stdout.String(); !strings.HasPrefix(got, wantFirst) {
		t.Errorf("stdout = %q, want it to start with %q", got, wantFirst)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if ws := p.wait(t, testDeadline); ws.Signaled() || ws.ExitStatus() != ExitTerminated {
		t.Errorf("wait status %v (exit %d), want exit %d", ws, ws.ExitStatus(), ExitTerminated)
	}
}

func TestProcessKillFault(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// Rank 1's fault counts from rank 0's address, which only has to exist.
	if err := writeFileAtomic(addressFile(dir, "CTX_0"), "127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, roleEnv(dir, "CTX_0", 1), "--fail", "CTX_0:1:kill:20ms")
	ws := p.wait(t, testDeadline)
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("wait status %v, want killed by SIGKILL", ws)
	}
	if !fileExists(filepath.Join(dir, "fault-CTX_0-1.time")) {
		t.Error("no fault time file before the kill")
	}
	if !strings.Contains(p.stderr.String(), "toy: injected failure role=CTX_0 rank=1 spec=CTX_0:1:kill:20ms") {
		t.Errorf("stderr lacks the injected failure line:\n%s", p.stderr)
	}
}

// TestProcessIgnoreTerm checks the fixture for "step ignored SIGTERM": the rank survives SIGTERM
// (twice), keeps serving, and only SIGKILL ends it.
func TestProcessIgnoreTerm(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := startProc(t, roleEnv(dir, "GEN_0", 0).with(envIgnoreTerm, "GEN_0"))
	eventually(t, testDeadline, "GEN_0 address file", func() bool { return fileExists(addressFile(dir, "GEN_0")) })
	for range 2 {
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, testDeadline, "the ignoring message", func() bool {
		return strings.Contains(p.stderr.String(), "termination requested; ignoring it")
	})
	time.Sleep(200 * time.Millisecond)
	select {
	case err := <-p.done:
		p.done <- err
		t.Fatalf("process exited after SIGTERM (%v); stderr:\n%s", err, p.stderr)
	default:
	}
	client := &http.Client{Timeout: time.Second}
	defer client.CloseIdleConnections()
	addr := strings.TrimSpace(readFile(t, addressFile(dir, "GEN_0")))
	resp, err := client.Get("http://" + addr + "/health")
	if err != nil {
		t.Fatalf("health after SIGTERM: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("health after SIGTERM: %s", resp.Status)
	}

	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if ws := p.wait(t, testDeadline); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("wait status %v, want killed by SIGKILL", ws)
	}
}
