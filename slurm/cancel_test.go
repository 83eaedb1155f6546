package slurm

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/disagg-supervisor/disagg-supervisor/internal/slurmdev"
)

func TestCancelStepArgs(t *testing.T) {
	for _, tc := range []struct {
		signal syscall.Signal
		want   []string
	}{
		{0, []string{"12.3"}},
		{syscall.SIGTERM, []string{"--ctld", "--signal=TERM", "12.3"}},
		{syscall.SIGKILL, []string{"--ctld", "--signal=KILL", "12.3"}},
		{syscall.Signal(10), []string{"--ctld", "--signal=USR1", "12.3"}},
		// A real-time signal has no name scancel knows; it takes the number.
		{syscall.Signal(40), []string{"--ctld", "--signal=40", "12.3"}},
	} {
		if diff := cmp.Diff(tc.want, cancelStepsArgs("12", []string{"3"}, tc.signal)); diff != "" {
			t.Errorf("cancelStepsArgs(12, [3], %d) (-want +got):\n%s", tc.signal, diff)
		}
	}
}

// TestCancelStepRunsScancel runs CancelStep with a stand-in scancel that records its arguments, and
// one that fails the way scancel does for a job that is already ending.
func TestCancelStepRunsScancel(t *testing.T) {
	dir := t.TempDir()
	record := filepath.Join(dir, "args")
	ok := writeScript(t, dir, "scancel-ok", `printf '%s\n' "$@" > `+record)
	if err := (&Client{Scancel: ok}).CancelStep(context.Background(), "12", "3", syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("--ctld\n--signal=TERM\n12.3\n", string(data)); diff != "" {
		t.Errorf("scancel's arguments (-want +got):\n%s", diff)
	}

	failing := writeScript(t, dir, "scancel-fail", `echo "scancel: error: Kill job error on job id 12.3: Job/step already completing or completed" >&2; exit 1`)
	err = (&Client{Scancel: failing}).CancelStep(context.Background(), "12", "3", 0)
	want := failing + " 12.3: exit status 1: scancel: error: Kill job error on job id 12.3: Job/step already completing or completed"
	if err == nil || err.Error() != want {
		t.Errorf("CancelStep error = %v, want %q", err, want)
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		t.Errorf("CancelStep error %v does not wrap scancel's *exec.ExitError", err)
	}
}

func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestStepCancelledLine(t *testing.T) {
	for _, tc := range []struct {
		name, text, want string
	}{
		{"step cancelled",
			"rank 0 serving\nslurmstepd: error: *** STEP 165.1 ON node2 CANCELLED AT 2026-11-25T20:01:02 ***\nsrun: error: node2: task 0: Terminated\n",
			"*** STEP 165.1 ON node2 CANCELLED AT 2026-11-25T20:01:02 ***"},
		{"job requeued",
			"slurmstepd-node2: error: *** STEP 165.1 ON node2 CANCELLED AT 2026-11-25T20:01:02 DUE TO JOB REQUEUE ***\n",
			"*** STEP 165.1 ON node2 CANCELLED AT 2026-11-25T20:01:02 DUE TO JOB REQUEUE ***"},
		{"time limit",
			"0: slurmstepd: error: *** STEP 7.0 ON n1 CANCELLED AT 2026-11-25T20:01:02 DUE TO TIME LIMIT ***",
			"*** STEP 7.0 ON n1 CANCELLED AT 2026-11-25T20:01:02 DUE TO TIME LIMIT ***"},
		{"first of two",
			"*** STEP 7.0 ON n1 CANCELLED AT T1 ***\n*** STEP 7.0 ON n2 CANCELLED AT T2 ***\n",
			"*** STEP 7.0 ON n1 CANCELLED AT T1 ***"},
		// The job's own notice is not a step's.
		{"job cancelled", "slurmstepd: error: *** JOB 7 ON n1 CANCELLED AT 2026-11-25T20:01:02 ***\n", ""},
		{"cut off", "slurmstepd: error: *** STEP 7.0 ON n1 CANCELLED AT 2026-11-25T20:01:02\n***\n", ""},
		{"no time", "*** STEP 7.0 ON n1 CANCELLED AT ***\n", ""},
		{"nothing", "srun: error: node2: task 0: Exited with exit code 3\n", ""},
		{"empty", "", ""},
	} {
		if got := StepCancelledLine(tc.text); got != tc.want {
			t.Errorf("%s: StepCancelledLine(%q) = %q, want %q", tc.name, tc.text, got, tc.want)
		}
	}
}

// TestFormatStepCancelledRoundTrip checks that the line written for a cancellation is found again.
func TestFormatStepCancelledRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 25, 20, 1, 2, 0, time.Local)
	line := FormatStepCancelled("77.0", "node1", at)
	if want := "slurmstepd-node1: error: *** STEP 77.0 ON node1 CANCELLED AT 2026-11-25T20:01:02 ***"; line != want {
		t.Errorf("FormatStepCancelled = %q, want %q", line, want)
	}
	if got, want := StepCancelledLine("task output\n"+line+"\n"), line[strings.Index(line, "***"):]; got != want {
		t.Errorf("StepCancelledLine of the formatted line = %q, want %q", got, want)
	}
}

// TestCancelStepOnCluster stops a step of a real job on the dev cluster the way the supervisor
// does: SIGTERM through scancel, which the step's task traps and survives, then the cancellation,
// whose notice in the step's output StepCancelledLine must find. The job has two nodes and the step
// runs on one, as a role's step does: scancel's direct signal to the nodes then reports "Invalid job
// id specified" after delivering it, which --ctld avoids.
func TestCancelStepOnCluster(t *testing.T) {
	tools := slurmdev.Require(t)
	dir := t.TempDir()
	// The task writes its step id once its trap is set, and a line for every SIGTERM it gets.
	task := `trap 'echo got TERM' TERM; echo "$SLURM_STEP_ID" > step.tmp && mv step.tmp step; while :; do sleep 0.1; done`
	script := "#!/bin/bash\n" + tools.Srun + " -N1 -n1 bash -c " + shellQuote(task) + " > step.log 2>&1\ntouch done\n"
	scriptPath := filepath.Join(dir, "job.sh")
	if err := os.WriteFile(scriptPath, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tools.Sbatch, "--parsable", "--job-name=disagg-slurm-cancelstep", "--nodes=2", "--ntasks=2",
		"--time=2", "--chdir="+dir, "--output="+filepath.Join(dir, "batch.log"), scriptPath).CombinedOutput()
	if err != nil {
		t.Fatalf("sbatch: %v: %s", err, out)
	}
	jobID, _, _ := strings.Cut(strings.TrimSpace(string(out)), ";")
	if _, err := strconv.Atoi(jobID); err != nil {
		t.Fatalf("sbatch printed %q, not a job id", out)
	}
	t.Cleanup(func() { _ = exec.Command(tools.Scancel, jobID).Run() })

	stepID := strings.TrimSpace(waitFile(t, filepath.Join(dir, "step"), func(string) bool { return true }))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client := &Client{Scancel: tools.Scancel}
	if err := client.CancelStep(ctx, jobID, stepID, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFile(t, filepath.Join(dir, "step.log"), func(s string) bool { return strings.Contains(s, "got TERM") })
	if err := client.CancelStep(ctx, jobID, stepID, 0); err != nil {
		t.Fatal(err)
	}
	waitFile(t, filepath.Join(dir, "done"), func(string) bool { return true })
	log, err := os.ReadFile(filepath.Join(dir, "step.log"))
	if err != nil {
		t.Fatal(err)
	}
	line := StepCancelledLine(string(log))
	if want := "*** STEP " + jobID + "." + stepID + " ON "; !strings.HasPrefix(line, want) {
		t.Errorf("StepCancelledLine of the cancelled step's output = %q, want it to start with %q; output:\n%s", line, want, log)
	}
}

// waitFile waits up to a minute for path to exist with content that done accepts, and returns it.
func waitFile(t *testing.T, path string, done func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		data, err := os.ReadFile(path)
		if err == nil && done(string(data)) {
			return string(data)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not there within a minute (%v): %q", path, err, data)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// TestCancelHasReason: slurmstepd's CANCELLED line names a reason only when Slurm ends the whole job.
func TestCancelHasReason(t *testing.T) {
	at := time.Date(2026, 11, 25, 20, 1, 2, 0, time.UTC)
	for line, want := range map[string]bool{
		FormatStepCancelled("41.2", "node2", at):                                          false,
		"*** STEP 165.1 ON node2 CANCELLED AT 2026-11-25T20:01:02 DUE TO TIME LIMIT ***":  true,
		"*** STEP 165.1 ON node2 CANCELLED AT 2026-11-25T20:01:02 DUE TO JOB REQUEUE ***": true,
	} {
		if got := CancelHasReason(line); got != want {
			t.Errorf("CancelHasReason(%q) = %v, want %v", line, got, want)
		}
	}
}
