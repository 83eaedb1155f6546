package task

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
)

// TestAfterCommands: after commands run after the role command in order, see its exit code, never
// change it unless they decide, and only a deciding one's failure becomes the exit code, and only
// when the command passed. Rank-0 after commands run on rank 0 only.
func TestAfterCommands(t *testing.T) {
	for _, tt := range []struct {
		name       string
		command    string
		after      []string
		afterRank0 []string
		decides    bool
		rank       int
		code       int
		stdout     string
	}{
		{name: "after success", command: "echo command", after: []string{"echo after $DISAGG_TASK_EXIT_CODE"},
			code: 0, stdout: "command\nafter 0\n"},
		{name: "after failure", command: "echo command; exit 3", after: []string{"echo after $DISAGG_TASK_EXIT_CODE"},
			code: 3, stdout: "command\nafter 3\n"},
		{name: "failing after command does not decide by default", command: "true", after: []string{"exit 9", "echo second"},
			code: 0, stdout: "second\n"},
		{name: "deciding after command fails a passed command", command: "true", afterRank0: []string{"echo perf check; exit 9"}, decides: true,
			code: 9, stdout: "perf check\n"},
		{name: "deciding after command leaves a failed command's code", command: "exit 3", afterRank0: []string{"exit 9"}, decides: true,
			code: 3},
		{name: "rank-0 after commands skip other ranks", command: "true", after: []string{"echo all"}, afterRank0: []string{"echo zero; exit 9"}, decides: true,
			rank: 1, code: 0, stdout: "all\n"},
		{name: "order: every rank's, then rank 0's", command: "true", after: []string{"echo a", "echo b"}, afterRank0: []string{"echo c"},
			code: 0, stdout: "a\nb\nc\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts := baseOpts(t.TempDir())
			opts.After, opts.AfterRank0, opts.AfterDecides = tt.after, tt.afterRank0, tt.decides
			out, stdout, stderr := runReal(t.Context(), opts, slurmEnv(tt.rank, 0, 2, "node1", "pytestCommand="+tt.command), testSeams())
			if out.code != tt.code || out.sig != 0 {
				t.Errorf("outcome %+v, want code %d; stderr:\n%s", out, tt.code, stderr)
			}
			if stdout != tt.stdout {
				t.Errorf("stdout %q, want %q", stdout, tt.stdout)
			}
		})
	}
}

// TestAfterCommandTimeout: an after command that outlives --after-timeout is stopped; the task goes on
// with the next and keeps the command's exit code.
func TestAfterCommandTimeout(t *testing.T) {
	opts := baseOpts(t.TempDir())
	opts.After, opts.AfterTimeout = []string{"exec sleep 30", "echo next"}, 200*time.Millisecond
	start := time.Now()
	out, stdout, stderr := runReal(t.Context(), opts, slurmEnv(0, 0, 1, "node1", "pytestCommand=exit 4"), testSeams())
	if out.code != 4 || stdout != "next\n" {
		t.Errorf("outcome %+v, stdout %q; want code 4 and the next after command; stderr:\n%s", out, stdout, stderr)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("took %s", took)
	}
	if !strings.Contains(stderr, "after command 1 (exec sleep 30) stopped: it ran out of its 200ms (exit code 124)") {
		t.Errorf("stderr:\n%s", stderr)
	}
}

// TestAfterCommandLogRedacted: the log line that quotes a failed after command masks the secrets the
// user wrote into it, a known secret value and a token under no name.
func TestAfterCommandLogRedacted(t *testing.T) {
	opts := baseOpts(t.TempDir())
	opts.After = []string{": -u bot:pat-s3cret -H 'Authorization: Bearer " + hfToken + "'; exit 5"}
	_, _, stderr := runReal(t.Context(), opts, slurmEnv(0, 0, 1, "node1", "pytestCommand=true", "GH_PAT=pat-s3cret"), testSeams())
	want := "after command 1 (: -u bot:<redacted> -H 'Authorization: Bearer <redacted>'; exit 5) failed with exit code 5"
	if !strings.Contains(stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr)
	}
	for _, secret := range []string{"pat-s3cret", hfToken} {
		if strings.Contains(stderr, secret) {
			t.Errorf("stderr shows %q", secret)
		}
	}
}

// TestCommandKilledBySignal: a command ended by SIGTERM gives an outcome that raises SIGTERM again
// (srun then says "Terminated", as when the task exec'd the command); SIGSEGV, which the task cannot
// raise on itself, gives 139.
func TestCommandKilledBySignal(t *testing.T) {
	for _, tt := range []struct {
		command string
		want    outcome
	}{
		{"kill -TERM $$", outcome{code: 143, sig: syscall.SIGTERM}},
		{"kill -SEGV $$", outcome{code: 139}},
		{"exit 3", outcome{code: 3}},
	} {
		out, _, stderr := runReal(t.Context(), baseOpts(t.TempDir()), slurmEnv(0, 0, 1, "node1", "pytestCommand="+tt.command), testSeams())
		if out != tt.want {
			t.Errorf("%s: outcome %+v, want %+v; stderr:\n%s", tt.command, out, tt.want, stderr)
		}
	}
}

// startMain starts the task binary's Main as srun starts a task: the leader of its own process group.
func startMain(t *testing.T, args []string, env ...string) (*exec.Cmd, *lockedBuffer, *lockedBuffer) {
	t.Helper()
	cmd := mainProcess(t, args, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stdout, stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	return cmd, &stdout, &stderr
}

// waitStatus waits for cmd and returns how it ended.
func waitStatus(t *testing.T, cmd *exec.Cmd) syscall.WaitStatus {
	t.Helper()
	err := cmd.Wait()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatal(err)
	}
	return cmd.ProcessState.Sys().(syscall.WaitStatus)
}

// groupLeft lists the processes still in process group pgid, from /proc.
func groupLeft(t *testing.T, pgid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var left []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(data)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		// state ppid pgrp: a zombie still waiting for its parent is gone for every purpose here.
		if len(fields) > 2 && fields[2] == strconv.Itoa(pgid) && fields[0] != "Z" {
			left = append(left, pid)
		}
	}
	return left
}

func waitGroupEmpty(t *testing.T, pgid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := groupLeft(t, pgid)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes %v of the task's group outlived it", left)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMainTeardownSIGTERM: the teardown signals the task's process group, as the fake srun and
// slurmstepd do. The command dies of SIGTERM; the after commands still run, with 143 as the command's
// code; then the task ends by SIGTERM itself, so srun reports the step as it reported the command.
func TestMainTeardownSIGTERM(t *testing.T) {
	dir := t.TempDir()
	started, after := filepath.Join(dir, "started"), filepath.Join(dir, "after")
	cmd, _, stderr := startMain(t,
		[]string{"--role=GEN_0", "--coord-dir=" + t.TempDir(), "--env-dump=false", "--ld-library-path=false",
			"--after", "echo $DISAGG_TASK_EXIT_CODE > " + after},
		"SLURM_PROCID=0", "SLURM_NTASKS=1", "SLURMD_NODENAME=node1",
		"pytestCommand=touch "+started+"; exec sleep 30")
	waitFor(t, started)
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ws := waitStatus(t, cmd)
	if !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("task ended with %v, want killed by SIGTERM; stderr:\n%s", ws, stderr.String())
	}
	if got := strings.TrimSpace(readFile(t, after)); got != "143" {
		t.Errorf("after command saw exit code %q, want 143", got)
	}
	waitGroupEmpty(t, cmd.Process.Pid)
}

// TestMainPassesSignalsOn: a signal sent to the task alone reaches the command's process tree: the
// shell's foreground child (sleep) dies of it, the shell's trap runs, and the task exits with the
// command's code.
func TestMainPassesSignalsOn(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP} {
		t.Run(unixName(sig), func(t *testing.T) {
			dir := t.TempDir()
			started := filepath.Join(dir, "started")
			cmd, stdout, stderr := startMain(t,
				[]string{"--role=GEN_0", "--coord-dir=" + t.TempDir(), "--env-dump=false", "--ld-library-path=false"},
				"SLURM_PROCID=0", "SLURM_NTASKS=1", "SLURMD_NODENAME=node1",
				"pytestCommand=trap 'echo shell got it; exit 7' "+unixName(sig)[3:]+"; touch "+started+"; sleep 30")
			waitFor(t, started)
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			ws := waitStatus(t, cmd)
			if ws.Signaled() || ws.ExitStatus() != 7 {
				t.Errorf("task ended with %v, want exit code 7; stderr:\n%s", ws, stderr.String())
			}
			if stdout.String() != "shell got it\n" {
				t.Errorf("stdout %q", stdout.String())
			}
			if !strings.Contains(stderr.String(), "task: received "+unixName(sig)+"; passing it on to the role command") {
				t.Errorf("stderr:\n%s", stderr.String())
			}
			// The sleep got the signal too (the shell only runs its trap once its foreground child has
			// ended), and nothing of the task is left.
			waitGroupEmpty(t, cmd.Process.Pid)
		})
	}
}

// TestMainSecondSignalSkipsAfterCommands: the first SIGTERM ends the command and starts the after
// commands; a second one stops the running after command and skips the rest.
func TestMainSecondSignalSkipsAfterCommands(t *testing.T) {
	dir := t.TempDir()
	started, hook, finished, skipped := filepath.Join(dir, "started"), filepath.Join(dir, "hook"), filepath.Join(dir, "finished"), filepath.Join(dir, "skipped")
	cmd, _, stderr := startMain(t,
		[]string{"--role=GEN_0", "--coord-dir=" + t.TempDir(), "--env-dump=false", "--ld-library-path=false",
			"--after", "touch " + hook + "; sleep 300; touch " + finished, "--after", "touch " + skipped},
		"SLURM_PROCID=0", "SLURM_NTASKS=1", "SLURMD_NODENAME=node1",
		"pytestCommand=touch "+started+"; exec sleep 30")
	waitFor(t, started)
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, hook)
	// The same signal sooner than this after the task got the first (which it had by the time the
	// after command started) is the same delivery seen twice (TestMainDuplicateSignal).
	time.Sleep(duplicateSignalWindow + 50*time.Millisecond)
	start := time.Now()
	// To the task alone: the task, not the signal, must end the after command.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ws := waitStatus(t, cmd)
	// The after command sleeps 300 s: a task that waited for it instead of stopping it would take
	// that long. The bound is far from both ends, so a loaded machine does not decide the test.
	if took := time.Since(start); took > 100*time.Second {
		t.Errorf("the task took %s to end after the second signal: it waited for the after command", took)
	}
	if !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("task ended with %v, want killed by SIGTERM; stderr:\n%s", ws, stderr.String())
	}
	if exists(finished) || exists(skipped) {
		t.Errorf("after commands went on after the second signal (finished %v, skipped one ran %v)", exists(finished), exists(skipped))
	}
	for _, want := range []string{"after command 1 (", ") stopped by a second signal", "after commands 2-2 of 2 skipped: a second signal arrived"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	waitGroupEmpty(t, cmd.Process.Pid)
}

// TestMainSIGKILLLeavesNothing: the step's SIGKILL (to the task's process group, as the fake srun and
// slurmstepd send it) ends the task, the command and everything the command started.
func TestMainSIGKILLLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	started := filepath.Join(dir, "started")
	cmd, _, _ := startMain(t,
		[]string{"--role=GEN_0", "--coord-dir=" + t.TempDir(), "--env-dump=false", "--ld-library-path=false", "--after", "sleep 30"},
		"SLURM_PROCID=0", "SLURM_NTASKS=1", "SLURMD_NODENAME=node1",
		"pytestCommand=trap '' TERM; sleep 300 & sleep 300 & touch "+started+"; wait")
	waitFor(t, started)
	if n := len(groupLeft(t, cmd.Process.Pid)); n < 4 {
		t.Fatalf("%d processes in the task's group, want the task, bash and two sleeps", n)
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ws := waitStatus(t, cmd)
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("task ended with %v", ws)
	}
	waitGroupEmpty(t, cmd.Process.Pid)
}

func unixName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return sig.String()
}

// TestStoppedRankWaitsForPeersAfterCommands: under --kill-on-bad-exit the first rank to end non-zero
// makes srun kill the others, so a rank being stopped waits, after its own after commands, until
// every rank of its step has finished theirs. Rank 0 is stopped at once; rank 1's command and after
// command take a while; rank 0 ends only after rank 1's after command is done.
func TestStoppedRankWaitsForPeersAfterCommands(t *testing.T) {
	cdir, out := t.TempDir(), t.TempDir()
	sigs := make(chan os.Signal, 1)
	sigs <- syscall.SIGTERM
	type res struct {
		out    outcome
		stderr string
		at     time.Time
	}
	results := make([]res, 2)
	done := make(chan struct{})
	for rank, cmd := range []string{"exec sleep 30", "sleep 0.3"} {
		go func() {
			defer func() { done <- struct{}{} }()
			s := testSeams()
			if rank == 0 {
				s.signals = sigs
			}
			opts := baseOpts(cdir)
			opts.After = []string{"sleep 0.2; date +%s.%N > " + filepath.Join(out, "after"+strconv.Itoa(rank))}
			o, _, stderr := runReal(t.Context(), opts, slurmEnv(rank, rank, 2, "node1", "pytestCommand="+cmd), s)
			results[rank] = res{o, stderr, time.Now()}
		}()
	}
	<-done
	<-done
	if results[0].out.code != 143 || results[1].out.code != 0 {
		t.Fatalf("outcomes %+v, %+v; stderr:\n%s\n%s", results[0].out, results[1].out, results[0].stderr, results[1].stderr)
	}
	peerDone := parseStamp(t, readFile(t, filepath.Join(out, "after1")))
	if results[0].at.Before(peerDone) {
		t.Errorf("rank 0 ended %s before rank 1's after command was done", peerDone.Sub(results[0].at))
	}
	for _, want := range []string{"task: after commands: waiting for rank 1 of GEN_0 to finish theirs, up to ", "task: after commands: every rank of GEN_0 is done; waited "} {
		if !strings.Contains(results[0].stderr, want) {
			t.Errorf("rank 0's stderr lacks %q:\n%s", want, results[0].stderr)
		}
	}
	if strings.Contains(results[1].stderr, "waiting for") {
		t.Errorf("rank 1, which was not stopped, waited for the others:\n%s", results[1].stderr)
	}
}

// TestMainInstallSIGKILLLeavesNothing: the installer runs in the task's process group, so the step's
// SIGKILL during the install ends the installer and what it started (pip, compilers) too.
func TestMainInstallSIGKILLLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	started := filepath.Join(dir, "installing")
	cmd, _, _ := startMain(t,
		[]string{"--role=GEN_0", "--coord-dir=" + t.TempDir(), "--env-dump=false", "--ld-library-path=false",
			"--install-command=trap '' TERM; sleep 300 & sleep 300 & touch " + started + "; wait"},
		"SLURM_PROCID=0", "SLURM_NTASKS=1", "SLURMD_NODENAME=node1", "pytestCommand=true")
	waitFor(t, started)
	if n := len(groupLeft(t, cmd.Process.Pid)); n < 4 {
		t.Fatalf("%d processes in the task's group, want the task, the installer's bash and two sleeps", n)
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, cmd)
	waitGroupEmpty(t, cmd.Process.Pid)
}

// TestMainInstallSIGTERMStopsItsChildren: a SIGTERM to the task alone (not its group) during the
// install stops the installer's whole tree, and the task ends with 143 and a failed install marker.
func TestMainInstallSIGTERMStopsItsChildren(t *testing.T) {
	dir, cdir := t.TempDir(), t.TempDir()
	started := filepath.Join(dir, "installing")
	cmd, _, stderr := startMain(t,
		[]string{"--role=GEN_0", "--coord-dir=" + cdir, "--env-dump=false", "--ld-library-path=false",
			"--install-command=sleep 300 & sleep 300 & touch " + started + "; wait"},
		"SLURM_PROCID=0", "SLURM_NTASKS=1", "SLURMD_NODENAME=node1", "pytestCommand=true")
	waitFor(t, started)
	if err := syscall.Kill(cmd.Process.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ws := waitStatus(t, cmd)
	if code := ws.ExitStatus(); !(ws.Exited() && code == 143) && !(ws.Signaled() && ws.Signal() == syscall.SIGTERM) {
		t.Errorf("task ended with %v, want 143; stderr:\n%s", ws, stderr)
	}
	waitGroupEmpty(t, cmd.Process.Pid)
	if got := coord.ReadExitCode(coord.Dir(cdir).Install("node1").Failed); got != 143 {
		t.Errorf("failed install marker holds %d, want 143", got)
	}
}

// TestMainDuplicateSignal: the same signal twice within milliseconds, as one scancel of a step can
// deliver it, is one signal: the after commands still run, and the task ends as its command did.
func TestMainDuplicateSignal(t *testing.T) {
	dir := t.TempDir()
	started, after := filepath.Join(dir, "started"), filepath.Join(dir, "after")
	cmd, _, stderr := startMain(t,
		[]string{"--role=GEN_0", "--coord-dir=" + t.TempDir(), "--env-dump=false", "--ld-library-path=false",
			"--after", "echo $DISAGG_TASK_EXIT_CODE > " + after},
		"SLURM_PROCID=0", "SLURM_NTASKS=1", "SLURMD_NODENAME=node1",
		"pytestCommand=touch "+started+"; exec sleep 30")
	waitFor(t, started)
	for range 2 {
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}
	ws := waitStatus(t, cmd)
	if !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("task ended with %v, want killed by SIGTERM; stderr:\n%s", ws, stderr.String())
	}
	if data, err := os.ReadFile(after); err != nil || strings.TrimSpace(string(data)) != "143" {
		t.Errorf("after command wrote %q (%v), want 143; stderr:\n%s", data, err, stderr.String())
	}
	if strings.Contains(stderr.String(), "second signal") {
		t.Errorf("a duplicate counted as a second signal:\n%s", stderr.String())
	}
	waitGroupEmpty(t, cmd.Process.Pid)
}

// TestMainSignalReachesWhatTheCommandLeft: a SIGTERM to the task alone ends the command's shell at
// once; the sleep it started, orphaned to the task, gets the signal too, so that it ends with the
// rest of the command rather than as a leftover.
func TestMainSignalReachesWhatTheCommandLeft(t *testing.T) {
	dir, cdir := t.TempDir(), t.TempDir()
	started := filepath.Join(dir, "started")
	cmd, _, stderr := startMain(t,
		[]string{"--role=GEN_0", "--coord-dir=" + cdir, "--env-dump=false", "--ld-library-path=false"},
		"SLURM_PROCID=0", "SLURM_NTASKS=1", "SLURMD_NODENAME=node1",
		"pytestCommand=sleep 300 & touch "+started+"; wait")
	waitFor(t, started)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ws := waitStatus(t, cmd)
	if !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("task ended with %v, want killed by SIGTERM; stderr:\n%s", ws, stderr.String())
	}
	if !strings.Contains(stderr.String(), "passed SIGTERM on to the 1 process(es) the role command left") ||
		strings.Contains(stderr.String(), "leftover") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
	waitGroupEmpty(t, cmd.Process.Pid)
}
