package task

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/fakesrun"
)

// The tests in this file run the task as local mode runs it: one step of the fake srun, whose tasks
// are this test binary acting as the task (TestMain hands them to Main), laid out over fake nodes
// with the environment slurmstepd gives, and stopped as srun stops them.

// fakeStep runs one fake srun step of GEN_0 on node1 and node2, 2 tasks each, with the task flags
// and the role command cmd; signals reach the fake srun as they would reach srun.
func fakeStep(t *testing.T, ctx context.Context, signals <-chan os.Signal, taskFlags []string, cmd string, extraEnv ...string) (int, string, string) {
	t.Helper()
	env := append([]string{
		"PATH=" + testPath,
		"SLURM_JOB_ID=77",
		"SLURM_JOB_NODELIST=node[1-2]",
		fakesrun.StateDirEnv + "=" + t.TempDir(),
		fakesrun.KillWaitEnv + "=5s",
		mainEnv + "=1",
		"pytestCommand=" + cmd,
	}, extraEnv...)
	args := append([]string{"-N2", "--ntasks=4", "--ntasks-per-node=2", "--kill-on-bad-exit=1", os.Args[0],
		"--role=GEN_0", "--coord-dir=" + t.TempDir(), "--env-dump=false", "--ld-library-path=false"}, taskFlags...)
	var stdout, stderr bytes.Buffer
	status := fakesrun.Run(ctx, args, env, &stdout, &stderr, signals)
	return status, stdout.String(), stderr.String()
}

// TestFakeSrunSkewedRanksStartTogether: the setup file holds rank N for N seconds, as per-node
// installs skew ranks on a cluster; with the barrier on by default every rank still starts the
// command within 0.2 s of the others.
func TestFakeSrunSkewedRanksStartTogether(t *testing.T) {
	out := t.TempDir()
	setup := writeFile(t, filepath.Join(out, "skew.sh"), "sleep $SLURM_PROCID\n")
	status, stdout, stderr := fakeStep(t, t.Context(), nil, []string{"--setup", setup},
		"date +%s.%N > "+out+"/rank$SLURM_PROCID")
	if status != 0 {
		t.Fatalf("srun status %d; stdout:\n%s\nstderr:\n%s", status, stdout, stderr)
	}
	var first, last time.Time
	for rank := range 4 {
		at := parseStamp(t, readFile(t, filepath.Join(out, "rank"+strconv.Itoa(rank))))
		if first.IsZero() || at.Before(first) {
			first = at
		}
		if at.After(last) {
			last = at
		}
	}
	if spread := last.Sub(first); spread > 200*time.Millisecond {
		t.Errorf("ranks started their command %s apart, want within 200ms; stderr:\n%s", spread, stderr)
	}
	if !strings.Contains(stderr, "task: barrier of GEN_0: all 4 ranks arrived; waited 3") {
		t.Errorf("rank 0 did not wait about 3 s at the barrier:\n%s", stderr)
	}
}

// TestFakeSrunRankNeverArrives: rank 3's setup never ends; the others leave the barrier after its
// timeout, naming rank 3 and its node, and the step fails with 124.
func TestFakeSrunRankNeverArrives(t *testing.T) {
	setup := writeFile(t, filepath.Join(t.TempDir(), "stuck.sh"), `if [ "$SLURM_PROCID" = 3 ]; then exec sleep 60; fi`+"\n")
	start := time.Now()
	status, stdout, stderr := fakeStep(t, t.Context(), nil, []string{"--setup", setup, "--barrier-timeout=1s"}, "true")
	if status == 0 {
		t.Fatalf("srun status 0; stdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("took %s", took)
	}
	for _, want := range []string{
		"task: error: role GEN_0 rank 0 on node1: rank 3 of GEN_0 did not arrive within 1s (started but not at the barrier: 3 on node2)",
		": Exited with exit code 83\n",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

// TestFakeSrunExitCodeStaysExact: a rank that exits 3 is reported by srun as exit code 3, the line the
// supervisor's root cause reads; the ranks stopped by --kill-on-bad-exit read as terminated, and their
// after commands still ran.
func TestFakeSrunExitCodeStaysExact(t *testing.T) {
	out := t.TempDir()
	status, stdout, stderr := fakeStep(t, t.Context(), nil,
		[]string{"--after", "echo $DISAGG_TASK_EXIT_CODE > " + out + "/after$SLURM_PROCID"},
		`if [ "$SLURM_PROCID" = 1 ]; then sleep 0.5; exit 3; fi; exec sleep 30`)
	if status == 0 {
		t.Fatalf("srun status 0; stdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
	for _, want := range []string{"srun: error: node1: task 1: Exited with exit code 3", "task 0: Terminated"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "Exited with exit code 143") {
		t.Errorf("a terminated rank reads as an exit code, not as terminated:\n%s", stderr)
	}
	for rank, want := range []string{"143", "3", "143", "143"} {
		if got := strings.TrimSpace(readFile(t, filepath.Join(out, "after"+strconv.Itoa(rank)))); got != want {
			t.Errorf("rank %d's after command saw %q, want %s", rank, got, want)
		}
	}
}

// TestFakeSrunTeardown: SIGTERM to srun (the supervisor's teardown) ends the commands; every rank's
// after commands run; a second SIGTERM makes srun SIGKILL the step, which leaves nothing (the fake
// srun reports any process of a task's group that outlives its SIGKILL).
func TestFakeSrunTeardown(t *testing.T) {
	out := t.TempDir()
	signals := make(chan os.Signal, 2)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		// Once every rank runs its command, the teardown begins; once every rank is in its slow
		// after command, the second signal comes.
		for _, step := range []struct {
			prefix string
			sig    os.Signal
		}{{"started", syscall.SIGTERM}, {"after", syscall.SIGTERM}} {
			for rank := range 4 {
				deadline := time.Now().Add(20 * time.Second)
				for !exists(filepath.Join(out, step.prefix+strconv.Itoa(rank))) && time.Now().Before(deadline) && ctx.Err() == nil {
					time.Sleep(10 * time.Millisecond)
				}
			}
			signals <- step.sig
		}
	}()
	status, stdout, stderr := fakeStep(t, ctx, signals,
		// The after file appears by rename, once written: the shell creates a redirection's file before
		// echo writes it, and the second signal, sent when the file appears, must not cut the write.
		[]string{"--after", "echo $DISAGG_TASK_EXIT_CODE > " + out + "/.after$SLURM_PROCID; mv " + out + "/.after$SLURM_PROCID " + out +
			"/after$SLURM_PROCID; sleep 30; touch " + out + "/finished$SLURM_PROCID"},
		"touch "+out+"/started$SLURM_PROCID; sleep 30 & sleep 30 & wait")
	if status == 0 {
		t.Fatalf("srun status 0; stdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
	for rank := range 4 {
		if got := strings.TrimSpace(readFile(t, filepath.Join(out, "after"+strconv.Itoa(rank)))); got != "143" {
			t.Errorf("rank %d's after command saw %q, want 143", rank, got)
		}
		if exists(filepath.Join(out, "finished"+strconv.Itoa(rank))) {
			t.Errorf("rank %d's after command outlived the step", rank)
		}
	}
	if strings.Contains(stderr, "outlived SIGKILL") {
		t.Errorf("processes outlived the step:\n%s", stderr)
	}
}
