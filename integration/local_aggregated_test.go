package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
	"github.com/disagg-supervisor/disagg-supervisor/fakesrun"
	"github.com/disagg-supervisor/disagg-supervisor/mode"
	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/roles"
	"github.com/disagg-supervisor/disagg-supervisor/supervisor"
)

// syncBuffer is the supervisor's stdout in these tests: the follower writes it while the test may
// read it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// aggregatedRun is one local run of the toy's aggregated test: one SERVER of 2 nodes x 2 ranks.
type aggregatedRun struct {
	result  supervisor.Result
	summary record.Summary
	stdout  string
	ws      string
}

func runAggregated(t *testing.T, fail string, genOnly bool, sig os.Signal) aggregatedRun {
	t.Helper()
	noLeaks(t)
	ws := t.TempDir()
	command := fmt.Sprintf("%s toy --requests 100000000 --work 20ms --concurrency 4", coord.TaskBinary(ws))
	if fail == "" && sig == nil {
		command = fmt.Sprintf("%s toy --requests 100 --concurrency 4", coord.TaskBinary(ws))
	}
	if fail != "" {
		command += " --fail " + fail
	}
	two := 2
	jobID := strconv.Itoa(100000 + int(time.Now().UnixNano()%800000))
	flags := roles.Flags{
		Nodelist: "node[1-2]", GPUsPerNode: &two, JobID: jobID, Command: command, Workspace: ws,
		Probes: []string{"SERVER=file:{out}/hostnames-{token}/SERVER.txt"}, ProbeTimeout: 20 * time.Second,
	}
	flags.Mode, flags.GenOnly = roles.ModeAggregated, &genOnly
	plan, err := roles.Build(roles.Sources{Flags: flags, Getenv: func(string) string { return "" },
		ReadFile: os.ReadFile, Unique: "t" + jobID})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	signals := make(chan os.Signal, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if sig != nil {
		go func() {
			// Mid-run: rank 0 serves and its client is sending.
			waitFile(ctx, filepath.Join(plan.OutputDir, "hostnames-"+plan.RunToken, "SERVER.txt"))
			signals <- sig
		}()
	}
	var console bytes.Buffer
	var stdout syncBuffer
	env := fakesrun.AllocationEnv(os.Environ(), plan.JobID, plan.Nodes, plan.GPUsPerNode, filepath.Join(ws, "fake-slurm"))
	result := supervisor.Run(ctx, supervisor.Config{
		Plan: plan, Launcher: []string{binary, "srun"}, Env: env, Executable: binary,
		Grace: time.Second, LaunchGate: mode.Never, Signals: signals, Console: &console,
		EndMarkers:      []string{filepath.Join(plan.OutputDir, "benchmark_status*")},
		BenchmarkOutput: &stdout,
	})
	t.Logf("console:\n%s", console.String())
	summary, err := record.ReadSummary(ws)
	if err != nil {
		t.Fatalf("summary: %v", err)
	}
	assertNothingLeft(t, plan.RunToken)
	return aggregatedRun{result: result, summary: summary, stdout: stdout.String(), ws: ws}
}

// TestAggregatedProcesses runs the toy's aggregated test with real processes under the fake srun: its
// end decides the run, its output is the supervisor's stdout (not in gen-only), and after a success, a
// failing rank or a signal no process of the run is left.
func TestAggregatedProcesses(t *testing.T) {
	t.Run("success", func(t *testing.T) {
		run := runAggregated(t, "", false, nil)
		if run.result.Code != 0 || run.summary.State != record.RunSucceeded {
			t.Fatalf("result %d, state %s; want 0, succeeded", run.result.Code, run.summary.State)
		}
		if s := roleState(run.summary, "SERVER"); s.State != record.StepExited || s.ReadyAt == nil {
			t.Errorf("SERVER %+v, want ready, then exited", s)
		}
		if !strings.Contains(run.stdout, "toy: benchmark requests=100 failed=0 ") {
			t.Errorf("the supervisor's stdout does not show the SERVER's output:\n%s", run.stdout)
		}
	})
	t.Run("rank 3 exits 7", func(t *testing.T) {
		run := runAggregated(t, "SERVER:3:7:1s", false, nil)
		f := run.summary.Failure
		if run.result.Code != 7 || f == nil || f.Role != "SERVER" || f.Node != "node2" || !slices.Equal(f.Ranks, []int{3}) {
			t.Fatalf("result %d, failure %+v; want 7 naming SERVER on node2, rank 3", run.result.Code, f)
		}
		if !strings.Contains(strings.Join(f.LogTail, "\n"), "toy: injected failure role=SERVER rank=3") {
			t.Errorf("the log tail does not show the failing rank: %q", f.LogTail)
		}
	})
	t.Run("SIGTERM", func(t *testing.T) {
		run := runAggregated(t, "", false, syscall.SIGTERM)
		if run.result.Code != 143 || run.summary.State != record.RunInterrupted || roleState(run.summary, "SERVER").State != record.StepStopped {
			t.Fatalf("result %d, state %s, SERVER %s; want 143, interrupted, stopped",
				run.result.Code, run.summary.State, roleState(run.summary, "SERVER").State)
		}
	})
	t.Run("gen-only rank 3 exits 7", func(t *testing.T) {
		run := runAggregated(t, "SERVER:3:7:1s", true, nil)
		f := run.summary.Failure
		if run.result.Code != 7 || f == nil || f.Log != filepath.Join(run.ws, "gen_server_0.log") {
			t.Fatalf("result %d, failure %+v; want 7 from gen_server_0.log", run.result.Code, f)
		}
		if run.stdout != "" {
			t.Errorf("the gen-only SERVER's output reached the supervisor's stdout:\n%s", run.stdout)
		}
		data, err := os.ReadFile(filepath.Join(run.ws, "gen_server_0.log"))
		if err != nil || !strings.Contains(string(data), "toy: SERVER: aggregated, gen-only (TRTLLM_DISAGG_BENCHMARK_GEN_ONLY=1) serving on ") {
			t.Errorf("gen_server_0.log (%v) does not hold the gen-only SERVER's output", err)
		}
	})
}
