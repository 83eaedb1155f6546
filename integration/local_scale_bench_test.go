package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/fakesrun"
	"github.com/disagg-supervisor/disagg-supervisor/mode"
	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/roles"
	"github.com/disagg-supervisor/disagg-supervisor/supervisor"
)

// BenchmarkLocal512 launches and tears down 512 task processes in local mode: 64 GEN servers of 1 node
// x 8 tasks each on a fake 64-node allocation with 8 GPUs per node, workers that sleep, and a BENCHMARK
// that exits 0 as soon as every worker task has written its start marker. One op is one Run, from its
// start to its return; the setup and the check that no process of the run is left are not timed.
// Run it with -benchtime 1x: one op launches 512 processes.
func BenchmarkLocal512(b *testing.B) { benchmarkLocal512(b, true) }

// BenchmarkLocal512NoBarrier is BenchmarkLocal512 with the task runner's barrier off, to show what the
// barrier, on by default for steps of more than one task, costs when 512 ranks poll on 2 cores.
func BenchmarkLocal512NoBarrier(b *testing.B) { benchmarkLocal512(b, false) }

func benchmarkLocal512(b *testing.B, barrier bool) {
	const servers, tasksPerServer = 64, 8
	for b.Loop() {
		b.StopTimer()
		ws := b.TempDir()
		jobID := strconv.Itoa(500000 + int(time.Now().UnixNano()%400000))
		gpus, numGen, numCtx, one, no := tasksPerServer, servers, 0, 1, false
		flags := roles.Flags{
			Nodelist: fmt.Sprintf("node[1-%d]", servers), GPUsPerNode: &gpus, JobID: jobID,
			NumGen: &numGen, NumCtx: &numCtx, NodesPerGen: &one, GPUsPerNodePerGen: &gpus,
			GenCommand: "sleep 600", ServerCommand: "sleep 600", BenchmarkCommand: "true", Workspace: ws,
			// Measured without the task's LD_LIBRARY_PATH probe, which starts python3 in every task
			// (512 interpreters) and measures python, not the launcher; BENCHMARKS.md gives its cost.
			LDLibraryPath: &no,
			TaskBarrier:   &barrier,
		}
		sources := roles.Sources{Flags: flags, Getenv: func(string) string { return "" }, ReadFile: os.ReadFile,
			Unique: "b" + jobID}
		plan, err := roles.Build(sources)
		if err != nil {
			b.Fatalf("plan: %v", err)
		}
		// The benchmark waits for every worker start marker (temporary files start with a dot) in the
		// coordination directory, which the first plan names.
		sources.Flags.BenchmarkCommand = fmt.Sprintf(
			`until set -- %s/started/GEN_*/[0-9]*; [ $# -ge %d ]; do sleep 0.02; done`,
			plan.CoordDir, servers*tasksPerServer)
		if plan, err = roles.Build(sources); err != nil {
			b.Fatalf("plan: %v", err)
		}
		env := fakesrun.AllocationEnv(os.Environ(), plan.JobID, plan.Nodes, plan.GPUsPerNode,
			filepath.Join(ws, "fake-slurm"))
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cfg := supervisor.Config{
			Plan: plan, Launcher: []string{binary, "srun"}, Env: env, Executable: binary,
			Grace: 5 * time.Second, LaunchGate: mode.Never,
		}

		b.StartTimer()
		result := supervisor.Run(ctx, cfg)
		b.StopTimer()

		cancel()
		if result.Code != 0 {
			b.Fatalf("exit code %d, want 0; errors in %s", result.Code, filepath.Join(ws, record.SummaryFile))
		}
		if left := processesOf(plan.RunToken); len(left) > 0 {
			b.Fatalf("%d processes of the run are still alive when Run returned: %v", len(left), left)
		}
		b.StartTimer()
	}
	b.ReportMetric(servers*tasksPerServer, "tasks/op")
}

// BenchmarkReferenceSpawn512 starts 512 sleep processes directly, then kills and reaps them: what the
// operating system alone needs for BenchmarkLocal512's process count, the reference of that figure.
func BenchmarkReferenceSpawn512(b *testing.B) {
	for b.Loop() {
		cmds := make([]*exec.Cmd, 512)
		for i := range cmds {
			cmds[i] = exec.Command("sleep", "600")
			if err := cmds[i].Start(); err != nil {
				b.Fatal(err)
			}
		}
		for _, c := range cmds {
			_ = c.Process.Signal(syscall.SIGTERM)
		}
		for _, c := range cmds {
			_ = c.Wait()
		}
	}
}

// BenchmarkReferenceSortNames sorts 100,000 host names: a yardstick of the machine's speed, measured
// in the same run as the plan and hostlist benchmarks it is the reference of.
func BenchmarkReferenceSortNames(b *testing.B) {
	names := make([]string, 100000)
	for i := range names {
		names[i] = fmt.Sprintf("node%06d", (i*7919)%len(names))
	}
	sorted := make([]string, len(names))
	for b.Loop() {
		copy(sorted, names)
		slices.Sort(sorted)
	}
}
