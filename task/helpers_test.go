package task

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/taskopts"
)

// testPath keeps the tests away from whatever python3 the developer's PATH holds; bash is in one of
// these directories on every system the project supports.
const testPath = "/usr/bin:/bin"

// execCall is what the fake exec saw.
type execCall struct {
	argv0 string
	argv  []string
	env   []string
	at    time.Time // when it was about to start
}

// result is one task's outcome.
type result struct {
	code    int
	stdout  string
	stderr  string
	exec    *execCall
	workdir string
	elapsed time.Duration
}

// envValue returns the value of name in the exec'd environment.
func (r result) envValue(name string) (string, bool) {
	if r.exec == nil {
		return "", false
	}
	for _, kv := range r.exec.env {
		if n, v, _ := strings.Cut(kv, "="); n == name {
			return v, true
		}
	}
	return "", false
}

// lockedBuffer lets the installer's output copying and the test read the same buffer safely.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testSeams() seams {
	return seams{
		poll:            5 * time.Millisecond,
		progressEvery:   0,
		probeTimeout:    10 * time.Second,
		killGrace:       2 * time.Second,
		barrierProgress: 0,
		hostname:        func() (string, error) { return "testhost", nil },
		// The test's process tree is the test binary's: only what the task started is signalled.
		forward:  func(pid int, sig syscall.Signal) { _ = syscall.Kill(pid, sig) },
		stopHook: func(pid int) { _ = syscall.Kill(pid, syscall.SIGKILL) },
	}
}

// runTask runs one task whose role command is recorded and replaced by `exit 0`; it is safe to call
// from goroutines.
func runTask(ctx context.Context, opts Options, env []string) result {
	return runTaskWith(ctx, opts, env, testSeams(), nil, &lockedBuffer{})
}

// runTaskWith also takes the start's error and the stderr buffer, which a test may watch while the
// task runs.
func runTaskWith(ctx context.Context, opts Options, env []string, s seams, startErr error, stderr *lockedBuffer) result {
	var stdout lockedBuffer
	var res result
	s.beforeStart = func(cmd *exec.Cmd) error {
		res.exec = &execCall{argv0: cmd.Path, argv: cmd.Args, env: cmd.Env, at: time.Now()}
		res.workdir = cmd.Dir
		cmd.Args = []string{"bash", "-c", "exit 0"}
		return startErr
	}
	start := time.Now()
	res.code = run(ctx, opts, env, &stdout, stderr, s).code
	res.elapsed = time.Since(start)
	res.stdout = stdout.String()
	res.stderr = stderr.String()
	return res
}

// runReal runs one task whose role command really runs, with s's seams.
func runReal(ctx context.Context, opts Options, env []string, s seams) (outcome, string, string) {
	var stdout, stderr lockedBuffer
	out := run(ctx, opts, env, &stdout, &stderr, s)
	return out, stdout.String(), stderr.String()
}

// baseOpts is a quiet task: no install, no barrier, no environment work.
func baseOpts(cdir string) Options {
	return Options{
		Role:           "GEN_0",
		CoordDir:       cdir,
		InstallTimeout: 10 * time.Second,
		BarrierTimeout: 10 * time.Second,
		UnsetSlurm:     taskopts.UnsetNever,
		CommandVar:     taskopts.DefaultCommandVar,
	}
}

// slurmEnv is the environment srun gives one task; extra NAME=VALUE entries add to it or replace its
// entries.
func slurmEnv(rank, localID, ntasks int, node string, extra ...string) []string {
	env := []string{
		"PATH=" + testPath,
		"HOME=/root",
		fmt.Sprintf("SLURM_PROCID=%d", rank),
		fmt.Sprintf("SLURM_LOCALID=%d", localID),
		fmt.Sprintf("SLURM_NTASKS=%d", ntasks),
		"SLURMD_NODENAME=" + node,
		"SLURM_JOB_ID=42",
		"SLURM_STEP_ID=3",
		"pytestCommand=pytest perf/test_perf_sanity.py::test_e2e -vv",
	}
	e := newEnviron(env)
	for _, kv := range extra {
		name, value, _ := strings.Cut(kv, "=")
		e.set(name, value)
	}
	return e.list()
}

// runAll runs the tasks concurrently and returns their results in order.
func runAll(ctx context.Context, opts []Options, envs [][]string) []result {
	results := make([]result, len(opts))
	var wg sync.WaitGroup
	for i := range opts {
		wg.Go(func() { results[i] = runTask(ctx, opts[i], envs[i]) })
	}
	wg.Wait()
	return results
}

// tempFiles lists leftover temporary files anywhere under dir; atomic writes must leave none.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasSuffix(d.Name(), ".tmp") {
			found = append(found, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// waitFor polls until path exists, for tests that must act while a task is in a given state.
func waitFor(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !exists(path) {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear", path)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
