package task

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
	"github.com/disagg-supervisor/disagg-supervisor/internal/proctable"
)

// escapingDaemon is a role command's prefix that starts a daemon as the ones that outlive steps do:
// it double-forks (the subshell exits at once, orphaning it), calls setsid (a session and process
// group of its own, which no signal to the step's groups reaches), ignores SIGTERM and keeps the
// inherited stdout open. It writes its pid to pidFile; the command then waits for that file and for
// the daemon to be sleep (the exec comes after the write: a task that looked at once saw sh).
func escapingDaemon(pidFile string) string {
	return fmt.Sprintf(`( setsid sh -c 'echo $$ > %[1]s.tmp && mv %[1]s.tmp %[1]s; trap "" TERM; exec sleep 600' & ); `+
		`until [ -s %[1]s ] && [ "$(cat /proc/$(cat %[1]s)/comm 2>/dev/null)" = sleep ]; do sleep 0.01; done; `, pidFile)
}

// daemonPID reads the pid escapingDaemon wrote and makes sure the test never leaves the daemon behind,
// whatever the task did.
func daemonPID(t *testing.T, pidFile string) int {
	t.Helper()
	pid, err := strconv.Atoi(strings.TrimSpace(readFile(t, pidFile)))
	if err != nil || pid <= 0 {
		t.Fatalf("daemon pid file holds %q", readFile(t, pidFile))
	}
	t.Cleanup(func() {
		if p, ok := proctable.Lookup(pid); ok && p.Name == "sleep" {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return pid
}

// gone tells whether pid is no longer a process at all: not running, and not a zombie either (the
// task reaps what it stops).
func gone(pid int) bool {
	_, ok := proctable.Lookup(pid)
	return !ok
}

// TestMainStopsEscapedDaemon: a role command that leaves a double-forked, setsid daemon behind,
// which ignores SIGTERM and holds the task's stdout, ends all the same: the task stops the daemon
// with SIGKILL after the grace, reaps it, names it in its output and in the coordination directory,
// and the task's stdout reaches EOF (the test's Wait returns: nothing holds the pipe), long before
// the daemon's 600 s.
func TestMainStopsEscapedDaemon(t *testing.T) {
	dir, cdir := t.TempDir(), t.TempDir()
	pidFile := filepath.Join(dir, "daemon.pid")
	cmd := mainProcess(t,
		[]string{"--role=GEN_0", "--coord-dir=" + cdir, "--env-dump=false", "--ld-library-path=false"},
		"SLURM_PROCID=0", "SLURM_NTASKS=1", "SLURMD_NODENAME=node1", "SLURM_JOB_ID=42", "SLURM_STEP_ID=3",
		"pytestCommand="+escapingDaemon(pidFile)+"echo command done")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stdout, stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Wait returns only at EOF on the task's stdout and stderr, which the daemon inherited; were they
	// still held after this, Wait gives up with ErrWaitDelay.
	cmd.WaitDelay = 30 * time.Second
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	err := cmd.Wait()
	took := time.Since(start)
	pid := daemonPID(t, pidFile)
	if errors.Is(err, exec.ErrWaitDelay) {
		t.Fatalf("the task's output was still held open %s after it ended; stderr:\n%s", cmd.WaitDelay, stderr.String())
	}
	if err != nil {
		t.Fatalf("task: %v; stderr:\n%s", err, stderr.String())
	}
	if !gone(pid) {
		t.Errorf("the daemon (pid %d) is still there after the task ended", pid)
	}
	if took > 30*time.Second {
		t.Errorf("the task took %s to end", took)
	}
	if stdout.String() != "command done\n" {
		t.Errorf("stdout %q", stdout.String())
	}
	for _, want := range []string{
		fmt.Sprintf("task: leftover process sleep (pid %d) outlived the role command; it had run ", pid),
		fmt.Sprintf(": sleep (pid %d) ignored SIGTERM and got SIGKILL\n", pid),
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	// The SIGKILL came after the whole grace: the stop took at least that long (a loaded machine may
	// take longer to see the daemon gone, so there is no upper bound here).
	m := regexp.MustCompile(`task: leftover processes stopped in ([0-9.]+m?s): `).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("stderr lacks the leftovers' stop time:\n%s", stderr.String())
	}
	if d, err := time.ParseDuration(m[1]); err != nil || d < leftoverGrace {
		t.Errorf("leftovers stopped in %s (%v), want at least the %s grace before the SIGKILL", m[1], err, leftoverGrace)
	}
	recs, err := coord.Dir(cdir).RoleLeftovers("GEN_0")
	if err != nil || len(recs) != 1 {
		t.Fatalf("leftovers records %+v, %v; want one", recs, err)
	}
	rec := recs[0]
	if rec.Rank != 0 || rec.Node != "node1" || rec.Job != "42" || rec.Step != "3" || len(rec.Processes) != 1 ||
		rec.Processes[0].PID != pid || rec.Processes[0].Name != "sleep" || rec.Processes[0].Ran <= 0 || rec.Processes[0].Ran > took {
		t.Errorf("leftovers record %+v, want sleep (pid %d) of rank 0 on node1, step 42.3, that had run up to %s", rec, pid, took)
	}
}

// TestMainStopsOrphansBySIGTERM: a background child that the command did not wait for, and what it
// started, are orphans of the task once the command ends; they honour SIGTERM and go without
// SIGKILL. A command that leaves nothing gets no leftover line and no record.
func TestMainStopsOrphansBySIGTERM(t *testing.T) {
	for _, tt := range []struct {
		name, command string
		leftovers     int
	}{
		{"orphans", "sleep 600 & sh -c 'sleep 600 & echo $! > %[1]s; wait' & until [ -s %[1]s ]; do sleep 0.01; done", 3},
		{"nothing left", "sleep 0.1 & wait", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir, cdir := t.TempDir(), t.TempDir()
			pidFile := filepath.Join(dir, "pid")
			cmd, _, stderr := startMain(t,
				[]string{"--role=GEN_0", "--coord-dir=" + cdir, "--env-dump=false", "--ld-library-path=false"},
				"SLURM_PROCID=0", "SLURM_NTASKS=1", "SLURMD_NODENAME=node1",
				"pytestCommand="+strings.ReplaceAll(tt.command, "%[1]s", pidFile))
			ws := waitStatus(t, cmd)
			if !ws.Exited() || ws.ExitStatus() != 0 {
				t.Errorf("task ended with %v; stderr:\n%s", ws, stderr.String())
			}
			recs, err := coord.Dir(cdir).RoleLeftovers("GEN_0")
			if err != nil {
				t.Fatal(err)
			}
			if tt.leftovers == 0 {
				if recs != nil || strings.Contains(stderr.String(), "leftover") {
					t.Errorf("leftovers %+v; stderr:\n%s", recs, stderr.String())
				}
				return
			}
			if len(recs) != 1 || len(recs[0].Processes) != tt.leftovers {
				t.Fatalf("leftovers %+v, want %d processes; stderr:\n%s", recs, tt.leftovers, stderr.String())
			}
			var names []string
			for _, p := range recs[0].Processes {
				names = append(names, p.Name)
				if !gone(p.PID) {
					t.Errorf("leftover %s (pid %d) still there", p.Name, p.PID)
				}
			}
			// Parents before their children: the two orphans of the command, then the sleep of the sh.
			if slices.Compare(names, []string{"sleep", "sh", "sleep"}) != 0 && slices.Compare(names, []string{"sh", "sleep", "sleep"}) != 0 {
				t.Errorf("leftovers %v", names)
			}
			if !strings.Contains(stderr.String(), "by SIGTERM\n") || strings.Contains(stderr.String(), "SIGKILL") {
				t.Errorf("stderr:\n%s", stderr.String())
			}
			waitGroupEmpty(t, cmd.Process.Pid)
		})
	}
}

// TestMainReapsOrphansWhileTheCommandRuns: short-lived processes the command double-forks become the
// task's children when their parent exits and zombies when they end; the task reaps them while the
// command still runs, rather than collecting one zombie (and one process id) each until its end.
func TestMainReapsOrphansWhileTheCommandRuns(t *testing.T) {
	started := filepath.Join(t.TempDir(), "started")
	cmd, _, stderr := startMain(t,
		[]string{"--role=GEN_0", "--coord-dir=" + t.TempDir(), "--env-dump=false", "--ld-library-path=false"},
		"SLURM_PROCID=0", "SLURM_NTASKS=1", "SLURMD_NODENAME=node1",
		"pytestCommand=for i in 1 2 3; do ( sleep 0.05 & ); done; echo $$ > "+started+".tmp; mv "+started+".tmp "+started+"; exec sleep 30")
	waitFor(t, started)
	command, err := strconv.Atoi(strings.TrimSpace(readFile(t, started)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		procs, err := proctable.Read()
		if err != nil {
			t.Fatal(err)
		}
		var others []proctable.Proc
		for _, p := range procs {
			if p.PPID == cmd.Process.Pid && p.PID != command {
				others = append(others, p)
			}
		}
		if len(others) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the task still has %+v besides its command while the command runs; stderr:\n%s", others, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, cmd)
}

// TestFakeSrunStopsEachRanksDaemon: four ranks of one fake srun step, two per node on this one
// machine, each leave an escaping daemon. The step ends well before the daemons would, every daemon
// is gone, and each rank recorded its own daemon and nobody else's: a task stops only its own
// descendants, never another rank's.
func TestFakeSrunStopsEachRanksDaemon(t *testing.T) {
	dir, cdir := t.TempDir(), t.TempDir()
	pidFile := filepath.Join(dir, "daemon$SLURM_PROCID.pid")
	start := time.Now()
	status, stdout, stderr := fakeStep(t, t.Context(), nil, []string{"--coord-dir=" + cdir}, escapingDaemon(pidFile)+"true")
	took := time.Since(start)
	if status != 0 {
		t.Fatalf("srun status %d; stdout:\n%s\nstderr:\n%s", status, stdout, stderr)
	}
	if took > 30*time.Second {
		t.Errorf("the step took %s", took)
	}
	pids := make([]int, 4)
	for rank := range pids {
		pids[rank] = daemonPID(t, filepath.Join(dir, "daemon"+strconv.Itoa(rank)+".pid"))
	}
	recs, err := coord.Dir(cdir).RoleLeftovers("GEN_0")
	if err != nil || len(recs) != 4 {
		t.Fatalf("leftovers records %+v, %v; want one per rank; stderr:\n%s", recs, err, stderr)
	}
	for rank, rec := range recs {
		pid := pids[rank]
		if rec.Rank != rank || len(rec.Processes) != 1 || rec.Processes[0].PID != pid || rec.Processes[0].Name != "sleep" {
			t.Errorf("rank %d recorded %+v, want its own daemon only (pid %d)", rank, rec, pid)
		}
		if !gone(pid) {
			t.Errorf("rank %d's daemon (pid %d) outlived the step", rank, pid)
		}
	}
	if strings.Contains(stderr, "outlived SIGKILL") {
		t.Errorf("processes outlived the step:\n%s", stderr)
	}
}

// BenchmarkStopLeftoversNone is what the leftover check adds to the end of every task that left
// nothing behind: one waitid call. BenchmarkProcessTableScan, one read of the process table, is what
// it would cost without that shortcut, and what a task with children pays once.
func BenchmarkStopLeftoversNone(b *testing.B) {
	if hasChildren() {
		b.Skip("the benchmark's process has children, which stopLeftovers would stop")
	}
	r := &runner{seams: seams{reap: true}}
	received := 0
	for b.Loop() {
		r.stopLeftovers(&received)
	}
}

func BenchmarkProcessTableScan(b *testing.B) {
	for b.Loop() {
		if _, err := liveDescendants(); err != nil {
			b.Fatal(err)
		}
	}
}
