package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/disagg-supervisor/disagg-supervisor/record"
	"golang.org/x/sys/unix"
)

// smallFileSystem mounts a tmpfs of size bytes at a new directory, unmounted at the end of the test.
func smallFileSystem(t *testing.T, size string) string {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("mounting a small tmpfs needs root (CI runs as root)")
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Fatalf("mount a %s tmpfs: %v", size, err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// TestNoSpaceInOutputDir: a benchmark that fails on a full output directory (its log and the role
// logs cut) is an infrastructure failure naming the directory, not the test's own failure.
func TestNoSpaceInOutputDir(t *testing.T) {
	out := smallFileSystem(t, "256k")
	ws := t.TempDir()
	cmd := exec.Command(filepath.Join(binDir, "disagg-supervisor"), "run", "--local", "--nodes", "2", "--gpus-per-node", "2",
		"--workspace", ws, "--output-dir", out, "--num-gen", "1", "--nodes-per-gen", "1", "--gpus-per-node-per-gen", "2",
		"--command", "sleep 600", "--grace", "2s",
		"--benchmark-command", `head -c 1000000 /dev/zero > "$testOutputDir/results.csv"; exit 1`)
	output, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 87 {
		t.Fatalf("exit %v, want 87; output:\n%s", err, output)
	}
	s, err := record.ReadSummary(ws)
	if err != nil {
		t.Fatal(err)
	}
	f := s.Failure
	if f == nil || f.Class != "infrastructure" || f.Role != "BENCHMARK" || !strings.Contains(f.Reason, "the logs may be cut") ||
		!slices.ContainsFunc(f.Evidence, func(e string) bool { return strings.HasPrefix(e, "no-space: "+out+" has ") }) {
		t.Errorf("failure %+v, want BENCHMARK's, class infrastructure, evidence naming %s", f, out)
	}
}

// TestNoSpaceInWorkspace: a workspace without room for the task binary ends the run at once as an
// infrastructure failure naming the path, with a warning on the console; nothing is launched.
func TestNoSpaceInWorkspace(t *testing.T) {
	ws := smallFileSystem(t, "1m")
	cmd := exec.Command(filepath.Join(binDir, "disagg-supervisor"), "run", "--local", "--nodes", "2", "--gpus-per-node", "2",
		"--workspace", ws, "--num-gen", "1", "--nodes-per-gen", "1", "--gpus-per-node-per-gen", "2", "--command", "sleep 600")
	output, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 87 {
		t.Fatalf("exit %v, want 87; output:\n%s", err, output)
	}
	bin := filepath.Join(ws, ".disagg-supervisor", "bin", "disagg-supervisor")
	if !strings.Contains(string(output), "cannot write "+bin+": ") || !strings.Contains(string(output), "no space left on device") {
		t.Errorf("console lacks the warning naming %s:\n%s", bin, output)
	}
	if !strings.Contains(string(output), "result: failed, exit code 87 (infrastructure): no space left to write "+bin) {
		t.Errorf("console lacks the result naming %s:\n%s", bin, output)
	}
	if strings.Contains(string(output), " launch ") {
		t.Errorf("a step was launched:\n%s", output)
	}
}
