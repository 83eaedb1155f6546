//go:build linux

package fakesrun

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/disagg-supervisor/disagg-supervisor/slurm"
)

// helperEnv makes the test binary run Main instead of tests (see TestFakeSrunHelperProcess).
const helperEnv = "DISAGG_FAKE_SRUN_TEST_HELPER"

// testJobEnv is the environment of a fake job 77 on node1 and node2, with its own step directory
// and a kill wait long enough that a task reported "Killed" instead of "Terminated" shows that
// SIGTERM did not work.
func testJobEnv(t *testing.T, extra ...string) []string {
	t.Helper()
	return append([]string{
		"PATH=" + os.Getenv("PATH"),
		"SLURM_JOB_ID=77",
		"SLURM_JOB_NODELIST=node[1-2]",
		StateDirEnv + "=" + t.TempDir(),
		KillWaitEnv + "=5s",
	}, extra...)
}

type fakeResult struct {
	status         int
	stdout, stderr string
	elapsed        time.Duration
}

func runFake(t *testing.T, ctx context.Context, env []string, signals <-chan os.Signal, args ...string) fakeResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	start := time.Now()
	status := Run(ctx, args, env, &stdout, &stderr, signals)
	return fakeResult{status: status, stdout: stdout.String(), stderr: stderr.String(), elapsed: time.Since(start)}
}

// pidScript prefixes a task script with writing the task's pid (its process group) to dir/<rank>.
func pidScript(dir, script string) string {
	return fmt.Sprintf(`echo $$ > %q/$SLURM_PROCID.tmp && mv %q/$SLURM_PROCID.tmp %q/$SLURM_PROCID; %s`, dir, dir, dir, script)
}

// waitPids waits until n tasks have written their pids into dir.
func waitPids(t *testing.T, dir string, n int) []int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids := readPids(t, dir)
		if len(pids) >= n {
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d tasks started", len(pids), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readPids(t *testing.T, dir string) []int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil {
			t.Fatalf("pid file %s: %v", e.Name(), err)
		}
		pids = append(pids, pid)
	}
	return pids
}

// assertGroupsGone checks that no process is left in the tasks' process groups.
func assertGroupsGone(t *testing.T, pgids []int) {
	t.Helper()
	if len(pgids) == 0 {
		t.Fatal("no task pids to check")
	}
	for _, g := range pgids {
		if err := syscall.Kill(-g, 0); err != syscall.ESRCH {
			t.Errorf("process group %d still exists after Run returned (kill: %v)", g, err)
		}
	}
}

// cancelTime matches the time in slurmstepd's cancellation notice, which tests cannot predict.
var cancelTime = regexp.MustCompile(`CANCELLED AT \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d \*\*\*`)

func lines(s string) []string {
	s = cancelTime.ReplaceAllString(s, "CANCELLED AT T ***")
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func sortedLines(s string) []string {
	l := lines(s)
	sort.Strings(l)
	return l
}

func TestFakeSrunTaskEnv(t *testing.T) {
	env := testJobEnv(t, "SLURM_GPUS_ON_NODE=4")
	res := runFake(t, context.Background(), env, nil,
		"--mpi=pmix", "-N2", "--ntasks-per-node=2", "-w", "node[1-2]", "--gpus-per-node=gpu:2",
		"sh", "-c", `echo "$SLURM_PROCID $SLURM_LOCALID $SLURM_NODEID $SLURMD_NODENAME $CUDA_VISIBLE_DEVICES`+
			` $SLURM_STEP_GPUS $SLURM_GPUS_ON_NODE $PMIX_RANK $SLURM_STEP_ID/$SLURM_STEPID $SLURM_STEP_NODELIST`+
			` $SLURM_STEP_NUM_NODES $SLURM_STEP_NUM_TASKS $SLURM_NTASKS $SLURM_NPROCS $SLURM_NNODES`+
			` $SLURM_JOB_ID/$SLURM_JOBID $SLURM_JOB_NODELIST $SLURM_NODELIST $SLURM_TASKS_PER_NODE"`)
	if res.status != 0 || res.stderr != "" {
		t.Fatalf("status %d, stderr %q", res.status, res.stderr)
	}
	common := " node[1-2] 2 4 4 4 2 77/77 node[1-2] node[1-2] 2(x2)"
	want := []string{
		"0 0 0 node1 0,1 0,1 2 0 0/0" + common,
		"1 1 0 node1 0,1 0,1 2 1 0/0" + common,
		"2 0 1 node2 0,1 0,1 2 2 0/0" + common,
		"3 1 1 node2 0,1 0,1 2 3 0/0" + common,
	}
	if diff := cmp.Diff(want, sortedLines(res.stdout)); diff != "" {
		t.Errorf("task environments (-want +got):\n%s", diff)
	}
}

func TestFakeSrunGPUs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		jobEnv  []string
		args    []string
		want    string
		wantErr string
	}{
		{name: "job GPUs", jobEnv: []string{"SLURM_GPUS_ON_NODE=4"}, want: "0,1,2,3/4/0,1,2,3/0,1,2,3"},
		{name: "job GPUs per node", jobEnv: []string{"SLURM_GPUS_PER_NODE=h100:2"}, want: "0,1/2/0,1/0,1"},
		{name: "step asks fewer", jobEnv: []string{"SLURM_GPUS_ON_NODE=4"}, args: []string{"--gpus-per-node", "1"}, want: "0/1/0/0"},
		{name: "no GPUs", want: "unset/unset/unset/unset"},
		{name: "step asks, job silent", args: []string{"--gpus-per-node=2"}, want: "0,1/2/0,1/0,1"},
		{name: "step asks too many", jobEnv: []string{"SLURM_GPUS_ON_NODE=4"}, args: []string{"--gpus-per-node=8"},
			wantErr: "srun: error: Unable to create step for job 77: Invalid generic resource (gres) specification\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"-N1"}, tc.args...)
			args = append(args, "sh", "-c",
				`echo "${CUDA_VISIBLE_DEVICES-unset}/${SLURM_GPUS_ON_NODE-unset}/${GPU_DEVICE_ORDINAL-unset}/${ROCR_VISIBLE_DEVICES-unset}"`)
			res := runFake(t, context.Background(), testJobEnv(t, tc.jobEnv...), nil, args...)
			if tc.wantErr != "" {
				if res.status != 1 || res.stderr != tc.wantErr {
					t.Fatalf("status %d, stderr %q; want 1, %q", res.status, res.stderr, tc.wantErr)
				}
				return
			}
			if res.status != 0 || strings.TrimSpace(res.stdout) != tc.want {
				t.Errorf("status %d, output %q (stderr %q); want 0, %q", res.status, res.stdout, res.stderr, tc.want)
			}
		})
	}
}

func TestFakeSrunFailureWithoutKill(t *testing.T) {
	res := runFake(t, context.Background(), testJobEnv(t), nil,
		"-N2", "--ntasks-per-node=2", "sh", "-c", `[ "$SLURM_PROCID" = 3 ] && exit 3; sleep 0.5`)
	if res.status != 3 {
		t.Errorf("status %d, want 3", res.status)
	}
	if want := "srun: error: node2: task 3: Exited with exit code 3\n"; res.stderr != want {
		t.Errorf("stderr %q, want %q", res.stderr, want)
	}
	if res.elapsed < 500*time.Millisecond {
		t.Errorf("returned after %v, before the other tasks ended", res.elapsed)
	}
}

// Tasks that fail together are reported per node. Whether they share a line depends on their ending
// within the same moment, which a loaded machine does not promise; TestStepRunnerGroupsEnds checks the
// grouping itself.
func TestFakeSrunFailuresTogether(t *testing.T) {
	pids, start := t.TempDir(), filepath.Join(t.TempDir(), "go")
	go func() {
		waitPids(t, pids, 4)
		if err := os.WriteFile(start, nil, 0o644); err != nil {
			t.Error(err)
		}
	}()
	res := runFake(t, context.Background(), testJobEnv(t), nil, "-N2", "--ntasks-per-node=2", "sh", "-c",
		pidScript(pids, fmt.Sprintf("while [ ! -e %q ]; do sleep 0.005; done; exit 3", start)))
	if res.status != 3 {
		t.Errorf("status %d, want 3", res.status)
	}
	ranksOn := map[string][]int{}
	for _, f := range slurm.ParseTaskFailures(res.stderr) {
		if f.Code != 3 {
			t.Errorf("unexpected failure %q", f.Line)
		}
		ranksOn[f.Node] = append(ranksOn[f.Node], f.Ranks...)
	}
	for _, ranks := range ranksOn {
		sort.Ints(ranks)
	}
	if diff := cmp.Diff(map[string][]int{"node1": {0, 1}, "node2": {2, 3}}, ranksOn); diff != "" {
		t.Errorf("failed ranks per node (-want +got):\n%s\nstderr:\n%s", diff, res.stderr)
	}
}

// TestStepRunnerGroupsEnds feeds task ends to the reporting logic without processes or clocks.
func TestStepRunnerGroupsEnds(t *testing.T) {
	newRunner := func(killOnBad bool) (*stepRunner, *bytes.Buffer) {
		st := &fakeStep{stepLayout: stepLayout{jobID: "77", nodes: []string{"node1", "node2"}}, killOnBad: killOnBad, killWait: time.Hour}
		for rank := 0; rank < 4; rank++ {
			st.tasks = append(st.tasks, fakeTask{rank: rank, localID: rank % 2, nodeID: rank / 2, node: st.nodes[rank/2]})
		}
		var out bytes.Buffer
		msgs := callerTaskSink(&out, &sync.Mutex{})
		r := &stepRunner{st: st, msgs: msgs, procs: make([]taskProc, 4), sinks: make([][2]taskSink, 4)}
		for i := range r.procs {
			r.procs[i].task = st.tasks[i]
			r.sinks[i] = [2]taskSink{msgs, msgs}
		}
		return r, &out
	}
	stop := func(r *stepRunner) {
		for _, tm := range []*time.Timer{r.firstTimer, r.coalesce, r.killTimer} {
			if tm != nil {
				tm.Stop()
			}
		}
	}
	exited := func(i, code int) taskEnd { return taskEnd{index: i, status: taskStatus{code: code}} }
	killed := func(i int, sig syscall.Signal) taskEnd { return taskEnd{index: i, status: taskStatus{sig: sig}} }

	t.Run("first failure with its companions", func(t *testing.T) {
		r, out := newRunner(false)
		defer stop(r)
		for _, e := range []taskEnd{exited(1, 3), exited(0, 3), exited(3, 0), exited(2, 3)} {
			r.ended(e)
		}
		if r.firstTimer == nil {
			t.Fatal("the first failure did not open its window")
		}
		r.firstFailureDue()
		want := []string{
			"srun: error: node1: tasks 0-1: Exited with exit code 3",
			"srun: error: node2: task 2: Exited with exit code 3",
		}
		if diff := cmp.Diff(want, lines(out.String())); diff != "" {
			t.Errorf("report (-want +got):\n%s", diff)
		}
	})
	t.Run("kill on bad exit", func(t *testing.T) {
		r, out := newRunner(true)
		defer stop(r)
		r.ended(exited(3, 3))
		r.firstFailureDue()
		for _, e := range []taskEnd{killed(1, syscall.SIGTERM), killed(0, syscall.SIGTERM), killed(2, syscall.SIGKILL)} {
			r.ended(e)
		}
		if r.coalesce != nil {
			t.Error("ends of a terminating step must wait for the step, not a coalescing window")
		}
		r.flush()
		want := []string{
			"srun: error: node2: task 3: Exited with exit code 3",
			"srun: launch/slurm: _step_signal: Terminating StepId=77.0",
			"slurmstepd-node1: error: *** STEP 77.0 ON node1 CANCELLED AT T ***",
			"srun: error: node1: tasks 0-1: Terminated",
			"srun: error: node2: task 2: Killed",
		}
		if diff := cmp.Diff(want, lines(out.String())); diff != "" {
			t.Errorf("report (-want +got):\n%s", diff)
		}
		if got := r.status(); got != 143 {
			t.Errorf("status %d, want 143 (SIGTERM outweighs SIGKILL and the exit code)", got)
		}
	})
}

func TestFakeSrunKillOnBadExit(t *testing.T) {
	for _, flag := range []string{"-K", "--kill-on-bad-exit", "--kill-on-bad-exit=1", "-K1"} {
		t.Run(flag, func(t *testing.T) {
			pids := t.TempDir()
			// Task 3 fails once every task is running; the others would sleep (in a child, which
			// becomes an orphan when its shell is killed) for 30 s.
			script := pidScript(pids, `if [ "$SLURM_PROCID" = 3 ]; then
				while [ "$(ls '`+pids+`' | grep -vc tmp)" -lt 4 ]; do sleep 0.01; done; exit 3
			fi; sleep 30 & wait`)
			res := runFake(t, context.Background(), testJobEnv(t), nil,
				"--mpi=pmix", flag, "-N", "2", "-w", "node[1-2]", "--ntasks=4", "--ntasks-per-node=2", "sh", "-c", script)
			want := []string{
				"srun: error: node2: task 3: Exited with exit code 3",
				"srun: launch/slurm: _step_signal: Terminating StepId=77.0",
				"slurmstepd-node1: error: *** STEP 77.0 ON node1 CANCELLED AT T ***",
				"srun: error: node1: tasks 0-1: Terminated",
				"srun: error: node2: task 2: Terminated",
			}
			if diff := cmp.Diff(want, lines(res.stderr)); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
			// "Terminated" rather than "Killed" shows the others got SIGTERM, well before the kill wait.
			if res.status != 143 {
				t.Errorf("status %d, want 143", res.status)
			}
			assertGroupsGone(t, readPids(t, pids))
		})
	}
}

func TestFakeSrunKillOnBadExitOff(t *testing.T) {
	for _, flag := range []string{"-K0", "--kill-on-bad-exit=0"} {
		t.Run(flag, func(t *testing.T) {
			res := runFake(t, context.Background(), testJobEnv(t), nil,
				flag, "-n2", "sh", "-c", `[ "$SLURM_PROCID" = 0 ] && exit 4; sleep 0.3; echo survived`)
			if res.status != 4 || strings.TrimSpace(res.stdout) != "survived" {
				t.Errorf("status %d, stdout %q; want 4 and the other task to finish", res.status, res.stdout)
			}
		})
	}
}

func TestFakeSrunTaskSignalled(t *testing.T) {
	for _, tc := range []struct {
		sig    string
		line   string
		status int
	}{
		{"KILL", "srun: error: node1: task 0: Killed", 137},
		{"SEGV", "srun: error: node1: task 0: Segmentation fault", 139},
		{"TERM", "srun: error: node1: task 0: Terminated", 143},
	} {
		t.Run(tc.sig, func(t *testing.T) {
			res := runFake(t, context.Background(), testJobEnv(t), nil, "-N1", "sh", "-c", "kill -"+tc.sig+" $$")
			if res.status != tc.status || res.stderr != tc.line+"\n" {
				t.Errorf("status %d, stderr %q; want %d, %q", res.status, res.stderr, tc.status, tc.line)
			}
		})
	}
}

// A task ended by a signal outweighs any exit code, as in srun: the status is 128+signal even when
// another task exited with a higher code.
func TestFakeSrunSignalOutweighsExitCode(t *testing.T) {
	res := runFake(t, context.Background(), testJobEnv(t), nil,
		"-w", "node1", "-n2", "sh", "-c", `[ "$SLURM_PROCID" = 0 ] && exit 200; sleep 0.2; kill -TERM $$`)
	if res.status != 143 {
		t.Errorf("status %d, want 143", res.status)
	}
	want := []string{
		"srun: error: node1: task 0: Exited with exit code 200",
		"srun: error: node1: task 1: Terminated",
	}
	if diff := cmp.Diff(want, lines(res.stderr)); diff != "" {
		t.Errorf("stderr (-want +got):\n%s", diff)
	}
}

func TestFakeSrunSignalForwarded(t *testing.T) {
	pids := t.TempDir()
	signals := make(chan os.Signal, 1)
	go func() {
		waitPids(t, pids, 4)
		signals <- syscall.SIGTERM
	}()
	res := runFake(t, context.Background(), testJobEnv(t), signals,
		"-N2", "--ntasks-per-node=2", "sh", "-c", pidScript(pids, "sleep 30 & wait"))
	want := []string{
		"srun: forcing job termination",
		"srun: Job step aborted: Waiting up to 7 seconds for job step to finish.",
		"slurmstepd-node1: error: *** STEP 77.0 ON node1 CANCELLED AT T ***",
		"srun: error: node1: tasks 0-1: Terminated",
		"srun: error: node2: tasks 2-3: Terminated",
	}
	if diff := cmp.Diff(want, lines(res.stderr)); diff != "" {
		t.Errorf("stderr (-want +got):\n%s", diff)
	}
	if res.status != 143 {
		t.Errorf("status %d, want 143", res.status)
	}
	assertGroupsGone(t, readPids(t, pids))
}

// A task that ignores SIGTERM is killed after the kill wait; srun's status still reports the
// highest signal, SIGTERM.
func TestFakeSrunKillAfterGrace(t *testing.T) {
	pids := t.TempDir()
	signals := make(chan os.Signal, 1)
	go func() {
		waitPids(t, pids, 2)
		signals <- syscall.SIGTERM
	}()
	env := testJobEnv(t, KillWaitEnv+"=300ms")
	res := runFake(t, context.Background(), env, signals,
		"-w", "node1", "-n2", "sh", "-c", `[ "$SLURM_PROCID" = 0 ] && trap '' TERM; `+pidScript(pids, "sleep 30"))
	want := []string{
		"srun: forcing job termination",
		"srun: Job step aborted: Waiting up to 3 seconds for job step to finish.",
		"slurmstepd-node1: error: *** STEP 77.0 ON node1 CANCELLED AT T ***",
		// Reported as they end: task 1 at once, task 0 after the kill wait (both at the end on a
		// loaded machine), so in either order.
		"srun: error: node1: task 0: Killed",
		"srun: error: node1: task 1: Terminated",
	}
	got := lines(res.stderr)
	if len(got) > 3 {
		sort.Strings(got[3:])
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stderr (-want +got):\n%s", diff)
	}
	if res.status != 143 {
		t.Errorf("status %d, want 143", res.status)
	}
	if res.elapsed < 300*time.Millisecond {
		t.Errorf("took %v, less than the 300ms kill wait", res.elapsed)
	}
	assertGroupsGone(t, readPids(t, pids))
}

func TestFakeSrunContextCancel(t *testing.T) {
	pids := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		waitPids(t, pids, 2)
		cancel()
	}()
	res := runFake(t, ctx, testJobEnv(t), nil, "-N2", "sh", "-c", pidScript(pids, "exec sleep 30"))
	if res.status != 143 || !strings.HasPrefix(res.stderr, "srun: forcing job termination\n") {
		t.Errorf("status %d, stderr %q; want 143 after forcing termination", res.status, res.stderr)
	}
	assertGroupsGone(t, readPids(t, pids))
}

// Processes a task leaves behind when it exits are killed at the end of the step, as slurmstepd
// kills what is left in a step's cgroup.
func TestFakeSrunKillsLeftovers(t *testing.T) {
	pids := t.TempDir()
	res := runFake(t, context.Background(), testJobEnv(t), nil,
		"-N2", "sh", "-c", pidScript(pids, "sleep 30 & exit 0"))
	if res.status != 0 || res.stderr != "" || res.elapsed > 15*time.Second {
		t.Errorf("status %d, stderr %q, took %v; want success without waiting for the leftover", res.status, res.stderr, res.elapsed)
	}
	assertGroupsGone(t, readPids(t, pids))
}

func TestFakeSrunExport(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		extra  []string
		want   map[string]string // "" means unset
		cmd    string
		status int
	}{
		{
			name: "default ALL",
			want: map[string]string{"FOO": "bar", "OTHER": "1", "SLURM_CUSTOM": "x", "SLURM_PROCID": "0"},
		},
		{
			name: "NONE",
			args: []string{"--export=NONE"},
			want: map[string]string{"FOO": "", "OTHER": "", "PATH": "", "SLURM_CUSTOM": "x", "SLURM_PROCID": "0"},
		},
		{
			name: "list",
			args: []string{"--export", "FOO,BAR=baz,MISSING"},
			want: map[string]string{"FOO": "bar", "BAR": "baz", "MISSING": "", "OTHER": "", "PATH": "", "SLURM_CUSTOM": "x"},
		},
		{
			name: "quoted value with comma",
			args: []string{"--export=A='x,y',B=1"},
			want: map[string]string{"A": "'x,y'", "B": "1", "OTHER": ""},
		},
		{
			name: "ALL with values: the caller's environment wins, as in Slurm",
			args: []string{"--export=ALL,FOO=override,NEW=1"},
			want: map[string]string{"FOO": "bar", "NEW": "1", "OTHER": "1"},
		},
		{
			name:  "SLURM_EXPORT_ENV is the default",
			extra: []string{"SLURM_EXPORT_ENV=NONE"},
			want:  map[string]string{"FOO": "", "SLURM_CUSTOM": "x"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := testJobEnv(t, append([]string{"FOO=bar", "OTHER=1", "SLURM_CUSTOM=x"}, tc.extra...)...)
			cmd := tc.cmd
			if cmd == "" {
				cmd = "/usr/bin/env"
			}
			args := append(append([]string{"-N1"}, tc.args...), cmd)
			res := runFake(t, context.Background(), env, nil, args...)
			if res.status != 0 {
				t.Fatalf("status %d, stderr %q", res.status, res.stderr)
			}
			got := map[string]string{}
			for _, l := range lines(res.stdout) {
				if k, v, ok := strings.Cut(l, "="); ok {
					got[k] = v
				}
			}
			for k, want := range tc.want {
				if got[k] != want {
					t.Errorf("%s=%q, want %q", k, got[k], want)
				}
			}
		})
	}
}

func TestFakeSrunOutputFiles(t *testing.T) {
	dir := t.TempDir()
	res := runFake(t, context.Background(), testJobEnv(t), nil,
		"-N2", "--ntasks-per-node=2", "-o", filepath.Join(dir, "logs", "out-%j.%s-%2t.log"),
		"sh", "-c", `echo out $SLURM_PROCID; echo err $SLURM_PROCID >&2`)
	if res.status != 0 || res.stdout != "" || res.stderr != "" {
		t.Fatalf("status %d, stdout %q, stderr %q", res.status, res.stdout, res.stderr)
	}
	for rank := 0; rank < 4; rank++ {
		name := filepath.Join(dir, "logs", fmt.Sprintf("out-77.0-%02d.log", rank))
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("out %d\nerr %d\n", rank, rank); string(data) != want {
			t.Errorf("%s holds %q, want %q", name, data, want)
		}
	}

	// One file per node, labelled; stderr separately.
	res = runFake(t, context.Background(), testJobEnv(t), nil,
		"-N2", "--ntasks-per-node=2", "-l", "--output="+filepath.Join(dir, "%N.log"), "-e", filepath.Join(dir, "err.log"),
		"sh", "-c", `echo out $SLURM_PROCID; echo err >&2`)
	if res.status != 0 {
		t.Fatalf("status %d, stderr %q", res.status, res.stderr)
	}
	for file, want := range map[string][]string{
		"node1.log": {"0: out 0", "1: out 1"},
		"node2.log": {"2: out 2", "3: out 3"},
		"err.log":   {"0: err", "1: err", "2: err", "3: err"},
	} {
		data, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, sortedLines(string(data))); diff != "" {
			t.Errorf("%s (-want +got):\n%s", file, diff)
		}
	}
}

func TestFakeSrunOutputOneTask(t *testing.T) {
	res := runFake(t, context.Background(), testJobEnv(t), nil, "-n3", "-N1", "-o", "1", "sh", "-c", `echo $SLURM_PROCID`)
	if res.status != 0 || res.stdout != "1\n" {
		t.Errorf("status %d, stdout %q; want only task 1's output", res.status, res.stdout)
	}
	res = runFake(t, context.Background(), testJobEnv(t), nil, "-n3", "-N1", "-o", "none", "sh", "-c", `echo $SLURM_PROCID`)
	if res.status != 0 || res.stdout != "" {
		t.Errorf("status %d, stdout %q; want none", res.status, res.stdout)
	}
}

func TestFakeSrunLabel(t *testing.T) {
	res := runFake(t, context.Background(), testJobEnv(t), nil, "-w", "node1", "-n11", "-l", "sh", "-c", `printf 'a\nb'`)
	if res.status != 0 {
		t.Fatalf("status %d, stderr %q", res.status, res.stderr)
	}
	var want []string
	for rank := 0; rank < 11; rank++ {
		want = append(want, fmt.Sprintf("%2d: a", rank), fmt.Sprintf("%2d: b", rank))
	}
	sort.Strings(want)
	if diff := cmp.Diff(want, sortedLines(res.stdout)); diff != "" {
		t.Errorf("labelled output (-want +got):\n%s", diff)
	}
}

func TestFakeSrunOutputToFileDescriptor(t *testing.T) {
	// An *os.File is handed to the tasks as it is; the output must still all arrive.
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	status := Run(context.Background(), []string{"-N2", "sh", "-c", "echo hi from $SLURM_PROCID"}, testJobEnv(t), f, f, nil)
	if status != 0 {
		t.Fatalf("status %d", status)
	}
	data, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"hi from 0", "hi from 1"}, sortedLines(string(data))); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}

func TestFakeSrunContainerOptions(t *testing.T) {
	res := runFake(t, context.Background(), testJobEnv(t), nil,
		"--container-image=nvcr.io/x:1", "--container-mounts", "/a:/b", "--container-image=other",
		"--no-container-mount-home", "--container-env=A,B", "--container-writable", "-N1", "echo", "ran")
	want := "srun: warning: fake srun ignores container options: --container-image, --container-mounts, " +
		"--no-container-mount-home, --container-env, --container-writable\n"
	if res.status != 0 || res.stderr != want || res.stdout != "ran\n" {
		t.Errorf("status %d, stdout %q, stderr %q; want 0, \"ran\", %q", res.status, res.stdout, res.stderr, want)
	}
}

// The messages and statuses are those of Slurm 22.05's srun: 255 for what its option parser
// rejects, 1 for the rest.
func TestFakeSrunUsageErrors(t *testing.T) {
	try := "Try \"srun --help\" for more information\n"
	for _, tc := range []struct {
		args   []string
		want   string
		status int
	}{
		{[]string{"--foo", "true"}, "srun: unrecognized option '--foo'\n" + try, 255},
		{[]string{"--foo=1", "true"}, "srun: unrecognized option '--foo=1'\n" + try, 255},
		{[]string{"--over", "true"}, "srun: unrecognized option '--over'\n" + try, 255},
		{[]string{"-z", "true"}, "srun: invalid option -- 'z'\n" + try, 255},
		{[]string{"--nodes"}, "srun: option '--nodes' requires an argument\n" + try, 255},
		{[]string{"-N"}, "srun: option requires an argument -- 'N'\n" + try, 255},
		{[]string{"--overlap=yes", "true"}, "srun: option '--overlap' doesn't allow an argument\n" + try, 255},
		{[]string{"-N", "x", "true"}, "srun: error: \"x\" is not a valid node count\n", 255},
		{[]string{"-N1"}, "srun: fatal: No command given to execute.\n", 1},
		{[]string{"--ntasks=0", "true"}, "srun: error: Invalid numeric value \"0\" for --ntasks.\n", 1},
		{[]string{"-Kx", "true"}, "srun: error: Invalid numeric value \"x\" for --kill-on-bad-exit.\n", 1},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			res := runFake(t, context.Background(), testJobEnv(t), nil, tc.args...)
			if res.status != tc.status || res.stderr != tc.want {
				t.Errorf("status %d, stderr %q; want %d, %q", res.status, res.stderr, tc.status, tc.want)
			}
		})
	}
}

func TestFakeSrunNodeErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-N1", "-w", "node[1-2]"}, "srun: error: Required nodelist includes more nodes than permitted by max-node count (2 > 1). " +
			"Eliminating nodes from the nodelist.\nsrun: error: Unable to create step for job 77: Requested node configuration is not available\n"},
		{[]string{"-N3", "-w", "node[1-2]"}, "srun: error: fake srun: -N 3 asks for more nodes than --nodelist=node[1-2] names (2)"},
		{[]string{"-w", "node3"}, "srun: error: Unable to create step for job 77: Requested node configuration is not available"},
		{[]string{"-N3"}, "srun: error: Unable to create step for job 77: Requested node configuration is not available"},
		{[]string{"-w", "node[1-"}, "srun: error: Invalid node name specified: "},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			res := runFake(t, context.Background(), testJobEnv(t), nil, append(tc.args, "true")...)
			if res.status != 1 || !strings.HasPrefix(res.stderr, tc.want) {
				t.Errorf("status %d, stderr %q; want 1, %q...", res.status, res.stderr, tc.want)
			}
		})
	}
}

func TestFakeSrunCommandNotFound(t *testing.T) {
	res := runFake(t, context.Background(), testJobEnv(t), nil, "-N1", "no-such-command-here", "x")
	want := []string{
		"slurmstepd-node1: error: execve(): no-such-command-here: No such file or directory",
		"srun: error: node1: task 0: Exited with exit code 2",
	}
	if diff := cmp.Diff(want, lines(res.stderr)); diff != "" || res.status != 2 {
		t.Errorf("status %d (want 2), stderr (-want +got):\n%s", res.status, diff)
	}
}

// Without PATH (--export=NONE), slurmstepd does not search for the command.
func TestFakeSrunNoPathSearchWithoutPath(t *testing.T) {
	res := runFake(t, context.Background(), testJobEnv(t), nil, "-N1", "--export=NONE", "env")
	want := []string{
		"slurmstepd-node1: error: execve(): env: No such file or directory",
		"srun: error: node1: task 0: Exited with exit code 2",
	}
	if diff := cmp.Diff(want, lines(res.stderr)); diff != "" || res.status != 2 {
		t.Errorf("status %d (want 2), stderr (-want +got):\n%s", res.status, diff)
	}
}

func TestFakeSrunChdir(t *testing.T) {
	dir := t.TempDir()
	res := runFake(t, context.Background(), testJobEnv(t), nil, "-N1", "--chdir", dir, "pwd")
	if res.status != 0 || strings.TrimSpace(res.stdout) != dir {
		t.Errorf("status %d, stdout %q; want %q", res.status, res.stdout, dir)
	}
}

func TestFakeSrunStepIDs(t *testing.T) {
	env := testJobEnv(t)
	for want := 0; want < 2; want++ {
		res := runFake(t, context.Background(), env, nil, "-N1", "sh", "-c", `echo $SLURM_STEP_ID`)
		if got := strings.TrimSpace(res.stdout); got != strconv.Itoa(want) {
			t.Errorf("step %d got id %q", want, got)
		}
	}
	// Concurrent sruns of one job never share an id.
	var wg sync.WaitGroup
	ids := make([]string, 4)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out bytes.Buffer
			Run(context.Background(), []string{"-N1", "sh", "-c", `echo $SLURM_STEP_ID`}, env, &out, &out, nil)
			ids[i] = strings.TrimSpace(out.String())
		}()
	}
	wg.Wait()
	sort.Strings(ids)
	if diff := cmp.Diff([]string{"2", "3", "4", "5"}, ids); diff != "" {
		t.Errorf("concurrent step ids (-want +got):\n%s", diff)
	}
}

// TestPlanStepLayout checks the layout of steps from srun's options and input variables, in the
// compact form of ranks per node.
func TestPlanStepLayout(t *testing.T) {
	type layout struct {
		Nodes   []string
		PerNode []int
		Ranks   [][]int // per node
		Warning string
	}
	for _, tc := range []struct {
		args []string
		env  []string
		want layout
	}{
		{args: []string{"-N2", "--ntasks-per-node=2"},
			want: layout{Nodes: []string{"node1", "node2"}, PerNode: []int{2, 2}, Ranks: [][]int{{0, 1}, {2, 3}}}},
		{args: []string{"-n5", "-N", "4"}, env: []string{"SLURM_JOB_NODELIST=n[1-4]"},
			want: layout{Nodes: []string{"n1", "n2", "n3", "n4"}, PerNode: []int{2, 1, 1, 1}, Ranks: [][]int{{0, 1}, {2}, {3}, {4}}}},
		{args: []string{"-n3"},
			want: layout{Nodes: []string{"node1", "node2"}, PerNode: []int{2, 1}, Ranks: [][]int{{0, 1}, {2}}}},
		{args: []string{"-n1"},
			want: layout{Nodes: []string{"node1"}, PerNode: []int{1}, Ranks: [][]int{{0}}}},
		{args: []string{"-w", "node2,node1", "-N2"},
			want: layout{Nodes: []string{"node1", "node2"}, PerNode: []int{1, 1}, Ranks: [][]int{{0}, {1}}}},
		{args: []string{"-w", "node2", "--ntasks=2"},
			want: layout{Nodes: []string{"node2"}, PerNode: []int{2}, Ranks: [][]int{{0, 1}}}},
		{args: []string{"-w", "a[1-2]"}, env: []string{"SLURM_JOB_NODELIST="},
			want: layout{Nodes: []string{"a1", "a2"}, PerNode: []int{1, 1}, Ranks: [][]int{{0}, {1}}}},
		{args: []string{}, env: []string{"SLURM_JOB_NODELIST="},
			want: layout{Nodes: []string{"localhost"}, PerNode: []int{1}, Ranks: [][]int{{0}}}},
		{args: []string{"-N2", "-n6", "--ntasks-per-node=2"},
			want: layout{Nodes: []string{"node1", "node2"}, PerNode: []int{3, 3}, Ranks: [][]int{{0, 1, 2}, {3, 4, 5}},
				Warning: "can't honor --ntasks-per-node set to 2 which doesn't match the requested tasks 6 with the number of requested nodes 2. Ignoring --ntasks-per-node."}},
		// Fewer tasks than the nodes could take: no warning, and never more than asked per node.
		{args: []string{"-N2", "-n3", "--ntasks-per-node=4"},
			want: layout{Nodes: []string{"node1", "node2"}, PerNode: []int{2, 1}, Ranks: [][]int{{0, 1}, {2}}}},
		{args: []string{"-N2", "-n1"},
			want: layout{Nodes: []string{"node1"}, PerNode: []int{1}, Ranks: [][]int{{0}},
				Warning: "can't run 1 processes on 2 nodes, setting nnodes to 1"}},
		// srun's input variables, as sbatch sets them, stand in for missing options.
		{args: []string{"-N1"}, env: []string{"SLURM_NTASKS=3"},
			want: layout{Nodes: []string{"node1"}, PerNode: []int{3}, Ranks: [][]int{{0, 1, 2}}}},
		{args: []string{}, env: []string{"SLURM_NNODES=1", "SLURM_NTASKS_PER_NODE=2"},
			want: layout{Nodes: []string{"node1"}, PerNode: []int{2}, Ranks: [][]int{{0, 1}}}},
		{args: []string{"-n1", "-N1"}, env: []string{"SLURM_NTASKS=3", "SLURM_NNODES=2"},
			want: layout{Nodes: []string{"node1"}, PerNode: []int{1}, Ranks: [][]int{{0}}}},
		{args: []string{"-w", "node2"}, env: []string{"SLURM_NNODES=2"},
			want: layout{Nodes: []string{"node2"}, PerNode: []int{1}, Ranks: [][]int{{0}}}},
		{args: []string{"-N2", "--ntasks-per-node=2"}, env: []string{"SLURM_NTASKS=6"},
			want: layout{Nodes: []string{"node1", "node2"}, PerNode: []int{3, 3}, Ranks: [][]int{{0, 1, 2}, {3, 4, 5}},
				Warning: "can't honor --ntasks-per-node set to 2 which doesn't match the requested tasks 6 with the number of requested nodes 2. Ignoring --ntasks-per-node."}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			opts, err := parseSrunArgs(append(tc.args, "true"))
			if err != nil {
				t.Fatal(err)
			}
			env := append([]string{"SLURM_JOB_NODELIST=node[1-2]"}, tc.env...)
			var got layout
			st, warnings, err := planStep(opts, env)
			if err != nil {
				t.Fatal(err)
			}
			got.Warning = strings.Join(warnings, "\n")
			got.Nodes, got.PerNode = st.nodes, st.perNode
			got.Ranks = make([][]int, len(st.nodes))
			for _, task := range st.tasks {
				if task.node != st.nodes[task.nodeID] || task.localID != len(got.Ranks[task.nodeID]) {
					t.Errorf("task %+v is inconsistent with nodes %v", task, st.nodes)
				}
				got.Ranks[task.nodeID] = append(got.Ranks[task.nodeID], task.rank)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("layout (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFakeSrunWarning(t *testing.T) {
	res := runFake(t, context.Background(), testJobEnv(t), nil, "-N2", "-n1", "true")
	if want := "srun: Warning: can't run 1 processes on 2 nodes, setting nnodes to 1\n"; res.status != 0 || res.stderr != want {
		t.Errorf("status %d, stderr %q; want 0, %q", res.status, res.stderr, want)
	}
}

func TestParseSrunArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want srunOptions
	}{
		{[]string{"-N2", "-n", "4", "cmd", "-N", "3"}, srunOptions{nodes: 2, ntasks: 4, argv: []string{"cmd", "-N", "3"}}},
		{[]string{"--nodes", "2", "--ntasks=4", "--", "-cmd"}, srunOptions{nodes: 2, ntasks: 4, argv: []string{"-cmd"}}},
		{[]string{"-lK", "-wnode1", "-N", "1", "cmd"}, srunOptions{label: true, killOnBadExit: true, nodelist: "node1", nodes: 1, argv: []string{"cmd"}}},
		// -K's value is optional, so a following word is the command, as with getopt_long.
		{[]string{"-K", "1"}, srunOptions{killOnBadExit: true, argv: []string{"1"}}},
		{[]string{"--kill-on-bad-exit=1", "--kill-on-bad-exit=0", "x"}, srunOptions{argv: []string{"x"}}},
		{[]string{"-N1", "-N2", "x"}, srunOptions{nodes: 2, argv: []string{"x"}}}, // the last one wins
		{[]string{"--gpus-per-node=h100:4", "--mpi", "pmix", "--overlap", "-J", "name", "--export=NONE", "x"},
			srunOptions{gpusPerNode: 4, gpusSet: true, mpi: "pmix", jobName: "name", export: "NONE", exportSet: true, argv: []string{"x"}}},
		{[]string{"--container-name", "c", "--container-remap-root", "--container-foo=1", "--container", "/p", "x"},
			srunOptions{ignored: []string{"--container-name", "--container-remap-root", "--container-foo", "--container"}, argv: []string{"x"}}},
		{[]string{"-o", "out-%t", "--error=e", "--open-mode=append", "-D", "/tmp", "-u", "x"},
			srunOptions{output: "out-%t", errorOutput: "e", appendOutput: true, chdir: "/tmp", argv: []string{"x"}}},
		{[]string{"--help"}, srunOptions{help: true, argv: []string{}}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			got, err := parseSrunArgs(tc.args)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, *got, cmp.AllowUnexported(srunOptions{})); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFakeStepFileName(t *testing.T) {
	st := &fakeStep{stepLayout: stepLayout{jobID: "77"}, stepID: 3, jobName: "bench"}
	task := fakeTask{rank: 5, nodeID: 1, node: "gpu07"}
	for _, tc := range []struct {
		pattern string
		ntasks  int
		want    ioSpec
		name    string
	}{
		{"", 8, ioSpec{mode: ioInherit}, ""},
		{"all", 8, ioSpec{mode: ioInherit}, ""},
		{"None", 8, ioSpec{mode: ioNull}, ""},
		{"3", 8, ioSpec{mode: ioOneTask, task: 3}, ""},
		{"9", 8, ioSpec{mode: ioFile, pattern: "9"}, "9"},
		{"log-%j.%s.txt", 8, ioSpec{mode: ioFile, pattern: "log-%j.%s.txt"}, "log-77.3.txt"},
		{"%J-%x-%t-%n-%N", 8, ioSpec{mode: ioFile, pattern: "%J-%x-%t-%n-%N", perTask: true}, "77.3-bench-5-1-gpu07"},
		{"%4t_%3j_%%t_%q", 8, ioSpec{mode: ioFile, pattern: "%4t_%3j_%%t_%q", perTask: true}, "0005_077_%t_%q"},
		{"%%t", 8, ioSpec{mode: ioFile, pattern: "%%t"}, "%t"},
		{`out\%t`, 8, ioSpec{mode: ioFile, pattern: "out%t", literal: true}, "out%t"},
	} {
		t.Run(tc.pattern, func(t *testing.T) {
			spec := parseIOSpec(tc.pattern, tc.ntasks)
			if diff := cmp.Diff(tc.want, spec, cmp.AllowUnexported(ioSpec{})); diff != "" {
				t.Errorf("spec (-want +got):\n%s", diff)
			}
			if spec.mode == ioFile {
				if got := st.fileName(spec, task); got != tc.name {
					t.Errorf("file name %q, want %q", got, tc.name)
				}
			}
		})
	}
}

func TestTasksPerNodeString(t *testing.T) {
	for _, tc := range []struct {
		counts []int
		want   string
	}{
		{[]int{2, 2}, "2(x2)"},
		{[]int{2, 1, 1, 1}, "2,1(x3)"},
		{[]int{4}, "4"},
	} {
		if got := tasksPerNodeString(tc.counts); got != tc.want {
			t.Errorf("tasksPerNodeString(%v) = %q, want %q", tc.counts, got, tc.want)
		}
	}
}

// TestFakeSrunHelperProcess is not a test: TestFakeSrunMain runs the test binary with helperEnv set
// to run Main as a process of its own, with the arguments after "--".
func TestFakeSrunHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process for TestFakeSrunMain")
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	os.Exit(Main(args))
}

func startHelper(t *testing.T, log string, args ...string) *exec.Cmd {
	t.Helper()
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestFakeSrunHelperProcess$", "--"}, args...)...)
	cmd.Env = append(testJobEnv(t), helperEnv+"=1")
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// TestFakeSrunMain runs the fake srun as the CLI does, a process of its own, and ends it with a
// real SIGTERM.
func TestFakeSrunMain(t *testing.T) {
	pids := t.TempDir()
	log := filepath.Join(t.TempDir(), "srun.log")
	cmd := startHelper(t, log, "-N2", "--ntasks-per-node=2", "sh", "-c", "echo up; "+pidScript(pids, "sleep 30 & wait"))
	waitPids(t, pids, 4)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	data, _ := os.ReadFile(log)
	if cmd.ProcessState.ExitCode() != 143 {
		t.Fatalf("exit %v, want 143; log:\n%s", err, data)
	}
	want := []string{
		"slurmstepd-node1: error: *** STEP 77.0 ON node1 CANCELLED AT T ***",
		"srun: Job step aborted: Waiting up to 7 seconds for job step to finish.",
		"srun: error: node1: tasks 0-1: Terminated",
		"srun: error: node2: tasks 2-3: Terminated",
		"srun: forcing job termination",
		"up", "up", "up", "up",
	}
	if diff := cmp.Diff(want, sortedLines(string(data))); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
	assertGroupsGone(t, readPids(t, pids))
}

// TestFakeSrunDeathKillsTasks kills the fake srun outright: the kernel's parent-death signal must
// end its tasks.
func TestFakeSrunDeathKillsTasks(t *testing.T) {
	pids := t.TempDir()
	cmd := startHelper(t, filepath.Join(t.TempDir(), "srun.log"), "-N2", "sh", "-c", pidScript(pids, "exec sleep 30"))
	tasks := waitPids(t, pids, 2)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range tasks {
		for processRunning(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("task %d outlived the fake srun", pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// processRunning tells whether pid exists and is not a zombie (an orphaned zombie is dead, whoever
// reaps it).
func processRunning(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	end := bytes.LastIndexByte(data, ')')
	return end < 0 || end+2 >= len(data) || data[end+2] != 'Z'
}
