package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/disagg-supervisor/disagg-supervisor/record"
)

// TestSbatchPrefixExample: the example sbatch prefix is valid bash, and both it and the README's
// sketch ignore the drain signal from before the exports until the exec, so that an early USR1
// cannot kill the batch shell before the supervisor runs.
func TestSbatchPrefixExample(t *testing.T) {
	script := filepath.Join("..", "..", "examples", "sbatch-prefix.sh")
	if out, err := exec.Command("bash", "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("bash -n %s: %v\n%s", script, err, out)
	}
	data, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	checkTrapFirst(t, script, string(data))
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(readme), "## Using it from sbatch")
	section, _, _ = strings.Cut(section, "\n## ")
	_, block, _ := strings.Cut(section, "```sh\n")
	block, _, _ = strings.Cut(block, "```")
	checkTrapFirst(t, "README.md's sbatch example", block)
}

// checkTrapFirst checks that text ignores USR1 on a line of its own before its first export and
// before its exec.
func checkTrapFirst(t *testing.T, name, text string) {
	t.Helper()
	trap, export, execAt := -1, -1, -1
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case trap < 0 && (line == "trap '' USR1" || strings.HasPrefix(line, "trap '' USR1 ")):
			trap = i
		case export < 0 && strings.HasPrefix(line, "export "):
			export = i
		case execAt < 0 && strings.HasPrefix(line, "exec "):
			execAt = i
		}
	}
	if trap < 0 || export < 0 || execAt < 0 || trap > export || trap > execAt {
		t.Errorf("%s: trap '' USR1 at line %d, first export at %d, exec at %d; want the trap before both:\n%s",
			name, trap+1, export+1, execAt+1, text)
	}
}

// TestDrainAfterIgnoredUSR1: a batch shell that ignores USR1 (as the example prefix does) survives
// an early USR1, and the supervisor it execs still drains on USR1 (exit 138): an ignored signal stays
// ignored across exec, but the Go runtime installs its own handler for USR1 whatever it inherited,
// and signal.Notify hands it to the supervisor.
func TestDrainAfterIgnoredUSR1(t *testing.T) {
	ws := t.TempDir()
	shell := `trap '' USR1; kill -USR1 $$; exec "$0" "$@"`
	cmd := exec.Command("bash", "-c", shell, filepath.Join(binDir, "disagg-supervisor"), "run", "--local", "--nodes", "2",
		"--gpus-per-node", "2", "--workspace", ws, "--num-gen", "1", "--nodes-per-gen", "1", "--gpus-per-node-per-gen", "2",
		"--command", "sleep 600", "--grace", "2s")
	// A shell killed by the early USR1 never has its roles running.
	var stderr strings.Builder
	startUntilRunning(t, cmd, ws, &stderr)
	// After the exec the shell's pid is the supervisor's.
	if err := cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 138 {
		t.Fatalf("exit %v, want 138 (drained); stderr:\n%s", err, stderr.String())
	}
	s, err := record.ReadSummary(ws)
	if err != nil || s.State != record.RunInterrupted || s.Failure == nil || s.Failure.Class != "cancelled" ||
		!strings.Contains(s.Failure.Reason, "SIGUSR1") {
		t.Errorf("summary %+v (%v); want interrupted by SIGUSR1, class cancelled", s, err)
	}
}
