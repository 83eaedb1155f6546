// Package integration runs disagg-supervisor the way users run it: exec'd at the end of an sbatch
// script on a real Slurm cluster (scripts/slurm-dev-cluster.sh, four nodes on this machine), with
// the toy stack as the test command. Every scenario submits a real batch job, waits for it to end,
// and checks what Slurm and the supervisor say about it and that nothing of the job is left running.
//
// Scenarios (scenarios_test.go):
//
//	TestSuccess                   2 GEN + 1 CTX of 1 node x 2 tasks, router and benchmark: COMPLETED 0:0
//	TestThreeServerConfigs        --server-configs 3: three phases, each completed, servers finished after
//	                              the last, a JUnit case per configuration
//	TestGenOnly                   TRTLLM_DISAGG_BENCHMARK_GEN_ONLY=1: no CTX step, no ctx_server_0.log
//	TestGenRankExits              a GEN rank exits 3 mid-run: FAILED 3:0, names GEN_0, its node, rank 1
//	TestCtxRankKilled             a CTX rank is SIGKILLed mid-run: FAILED 137:0, names CTX_0 and its node
//	TestServerExitsEarly          DISAGG_SERVER exits 0 before the benchmark: FAILED 84:0
//	TestBenchmarkFails            the benchmark exits 7: FAILED 7:0
//	TestScancel                   scancel mid-run: CANCELLED, complete interrupted summary and event log
//	TestTimeLimitDrain            --time=1 with --signal=B:USR1@30: the supervisor drains, exit 138
//	TestInstallFailure            --task-install fails on one node behind --task-barrier: its code 5, class setup, fast
//	TestRequeue                   scontrol requeue: the second attempt has its own run token and files
//	TestNodeCrash                 a node's slurmd and tasks SIGKILLed mid-run: NODE_FAIL 87:0, class
//	                              infrastructure, the node in bad_nodes and bad-nodes.txt (infra_test.go)
//	TestNodeCrashHeartbeat        the same crash with --node-timeout 8s: 87 naming the node, rule
//	                              node-silent, well before Slurm's SlurmdTimeout (infra_test.go)
//	TestControllerDownAtFailure   a GEN rank exits 3 while slurmctld is down: decided on srun's line with
//	                              code 3 within KillWait + 5 s, not at the time limit (infra_test.go)
//	TestForeignStepIgnored        a step the batch script starts itself (srun --overlap, as CI does) runs
//	                              beside the run to its end, unreported and not stopped: COMPLETED 0:0
//	                              (foreign_test.go)
//	TestPlanMatchesSlurm          `plan --json` inside the job: ranks ran where the plan said, with the
//	                              CUDA_VISIBLE_DEVICES Slurm assigned
//
// Hostlist expansion against `scontrol show hostnames` is not repeated here: it is
// slurm.TestHostlistMatchesScontrol (slurm/hostlist_test.go, corpus slurm/testdata/hostlists.txt),
// which runs against the same cluster when DISAGG_REQUIRE_SLURM=1.
//
// DISAGG_INTEGRATION_KEEP=1 keeps the workspaces of passing runs too (failing runs always keep
// theirs, and the failing test logs its job's output).
//
// The tests need SLURM_CONF and a cluster that answers `sinfo`; scripts/test.sh provides both. Without
// them every test fails, unless DISAGG_SKIP_SLURM=1, which turns the failure into a skip.
//
// Local scenarios (local_*_test.go) need no cluster and always run: supervisor.Run in this process, or
// the binary's `run --local`, with the fake srun and the toy stack on this machine. They are the
// supervisor package's process-level tests (its own tests are decision tables with fake steps):
// success, each role's failure, signals, teardown bounds, the record surviving SIGKILL, secrets, the
// pre-flight checks, hangs, silent nodes, escaped daemons, the aggregated test, `status` of a killed
// supervisor; and BenchmarkLocal512, 512 task processes launched and torn down.
package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	// suiteDir holds the binary and every scenario's workspace. It is on the local disk, which the
	// dev cluster's nodes (processes of this same machine) see as it is.
	suiteDir string
	// binDir holds the disagg-supervisor binary; the job scripts put it first on PATH.
	binDir string
	// binary is binDir's disagg-supervisor, also the toy's command.
	binary string
)

func TestMain(m *testing.M) {
	start := time.Now()
	code, keep := run(m)
	if keep {
		fmt.Fprintf(os.Stderr, "integration: kept %s for diagnosis\n", suiteDir)
	} else if suiteDir != "" {
		_ = os.RemoveAll(suiteDir)
	}
	fmt.Fprintf(os.Stderr, "integration: suite wall time %s\n", time.Since(start).Round(100*time.Millisecond))
	os.Exit(code)
}

func run(m *testing.M) (code int, keep bool) {
	var err error
	suiteDir, err = os.MkdirTemp("/var/tmp", "disagg-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1, false
	}
	// Jobs run as whoever submits them; the directory must be traversable for the nodes' tasks.
	if err := os.Chmod(suiteDir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1, false
	}
	binDir = filepath.Join(suiteDir, "bin")
	binary = filepath.Join(binDir, "disagg-supervisor")
	build := exec.Command("go", "build", "-o", binary, "../cmd/disagg-supervisor")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build disagg-supervisor: %v\n%s", err, out)
		return 1, false
	}
	code = m.Run()
	if os.Getenv("DISAGG_INTEGRATION_KEEP") == "1" {
		return code, true
	}
	// Keep the workspaces of a failed run; there are none when the tests failed at the gate.
	entries, _ := os.ReadDir(suiteDir)
	return code, code != 0 && len(entries) > 1
}

var (
	gateOnce sync.Once
	gateErr  error
)

// requireSlurm fails the test when there is no usable cluster, or skips it when the developer asked
// for that with DISAGG_SKIP_SLURM=1. CI never sets it: a missing cluster there is a failure.
func requireSlurm(t *testing.T) {
	t.Helper()
	gateOnce.Do(func() {
		if os.Getenv("SLURM_CONF") == "" {
			gateErr = fmt.Errorf("SLURM_CONF is not set; start the dev cluster with: eval \"$(scripts/slurm-dev-cluster.sh up)\"")
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "sinfo", "-h", "-o", "%T").CombinedOutput()
		if err != nil {
			gateErr = fmt.Errorf("sinfo -h -o %%T (SLURM_CONF=%s): %v: %s", os.Getenv("SLURM_CONF"), err, strings.TrimSpace(string(out)))
		}
	})
	if gateErr == nil {
		return
	}
	if os.Getenv("DISAGG_SKIP_SLURM") == "1" {
		t.Skipf("no Slurm cluster (DISAGG_SKIP_SLURM=1): %v", gateErr)
	}
	t.Fatalf("no Slurm cluster: %v (set DISAGG_SKIP_SLURM=1 to skip instead)", gateErr)
}
