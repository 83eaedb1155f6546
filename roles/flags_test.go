package roles

import (
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"
	"github.com/google/go-cmp/cmp"

	"github.com/disagg-supervisor/disagg-supervisor/taskopts"
)

// parseFlags binds args into Flags the way the CLI does.
func parseFlags(t *testing.T, args ...string) (Flags, string) {
	t.Helper()
	var cli struct {
		Flags `embed:""`
	}
	var help strings.Builder
	k, err := kong.New(&cli, kong.Name("disagg-supervisor"), kong.Vars(FlagVars()), kong.Writers(&help, &help), kong.Exit(func(int) {}))
	if err != nil {
		t.Fatalf("kong rejects the Flags tags: %v", err)
	}
	if _, err := k.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return cli.Flags, help.String()
}

// TestFlagsKong checks the kong tags: absent flags stay "not given" (nil, empty or the same
// default Build applies), pointers and negatable booleans bind, repeated srun args keep commas.
func TestFlagsKong(t *testing.T) {
	none, _ := parseFlags(t)
	want := Flags{
		AggregatedFlags:     AggregatedFlags{Mode: ModeAuto},
		MPI:                 DefaultMPI,
		ForwardContainerEnv: "auto",
		UnsetSlurm:          "auto",
		ProbeTimeout:        DefaultProbeTimeout,
		TaskInstallTimeout:  taskopts.DefaultInstallTimeout,
		TaskBarrierTimeout:  taskopts.DefaultBarrierTimeout,
		TaskAfterTimeout:    taskopts.DefaultAfterTimeout,
	}
	if diff := cmp.Diff(want, none); diff != "" {
		t.Errorf("no flags (-want +got):\n%s", diff)
	}

	got, _ := parseFlags(t,
		"--nodelist=gpu[1-4]", "--gpus-per-node=4", "--num-gen=2", "--num-ctx=0", "--no-gen-only",
		"--srun-arg=--container-mounts=/a:/a,/b:/b", "--srun-arg=--container-image=x",
		"--probe=GEN_*=http:http://{node}:8000/health@5m", "--probe=CTX_*=tcp:{node}:8001",
		"--unset=", "--mpi=none", "--no-task-env-dump", "--task-llmsrc-setup", "--task-barrier-timeout=90s",
		"--forward-container-env=never", "--benchmark-mode=gen_only", "--install-per-node",
		"--no-task-barrier", "--task-setup=/opt/env.sh:fix", "--task-rank0=touch x", "--task-after=a,b", "--task-after=c",
		"--task-after-rank0=perf", "--task-after-timeout=1m", "--task-after-decides",
	)
	want = none
	want.Nodelist, want.GPUsPerNode, want.NumGen, want.NumCtx, want.GenOnly = "gpu[1-4]", ptr(4), ptr(2), ptr(0), ptr(false)
	want.SrunArgs = []string{"--container-mounts=/a:/a,/b:/b", "--container-image=x"}
	want.Probes = []string{"GEN_*=http:http://{node}:8000/health@5m", "CTX_*=tcp:{node}:8001"}
	want.Unset, want.MPI, want.EnvDump, want.LLMSrcSetup = ptr(""), "none", ptr(false), ptr(true)
	want.TaskBarrierTimeout, want.ForwardContainerEnv = 90*time.Second, "never"
	want.BenchmarkMode, want.InstallPerNode = "gen_only", true
	want.TaskBarrier, want.TaskSetup, want.TaskRank0 = ptr(false), "/opt/env.sh:fix", "touch x"
	want.TaskAfter, want.TaskAfterRank0, want.TaskAfterTimeout, want.TaskAfterDecides = []string{"a,b", "c"}, []string{"perf"}, time.Minute, true
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("flags (-want +got):\n%s", diff)
	}
}

func TestFlagsHelp(t *testing.T) {
	var cli struct {
		Flags `embed:""`
	}
	var help strings.Builder
	exited := false
	k, err := kong.New(&cli, kong.Name("disagg-supervisor"), kong.Vars(FlagVars()), kong.Writers(&help, &help), kong.Exit(func(int) { exited = true }))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = k.Parse([]string{"--help"})
	if !exited {
		t.Fatal("--help did not exit")
	}
	// The task's defaults reach the help text from taskopts (words joined again: help wraps lines).
	words := strings.Join(strings.Fields(help.String()), " ")
	for _, want := range []string{"per-node install (default: 30m)", "at the barrier and for rank 0's preparation; keep it longer than --task-install-timeout (default: 1h)", "(default true; --no-task-barrier or --task-barrier=false: off)", "Bound of each after command (default: 5m)", `--task-unset-slurm="auto"`, "before the command (default true)"} {
		if !strings.Contains(words, want) {
			t.Errorf("help lacks %q:\n%s", want, help.String())
		}
	}
	for _, want := range []string{"--[no-]gen-only", "--benchmark-mode=MODE", "--install-per-node", "--srun-arg=ARG", "--probe=ROLE=TYPE:TARGET[@TIMEOUT]", "--[no-]task-env-dump", "--[no-]task-barrier", "--task-setup=FILE[:FUNCTION]", "Topology", "printf '%q\\n'"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, help.String())
		}
	}
}
