package roles

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/disagg-supervisor/disagg-supervisor/mode"
	"github.com/disagg-supervisor/disagg-supervisor/taskopts"
)

// Shared inputs of the tests: a 5-node allocation in two bracket groups, and a test command that
// runs under the wrapper.
const (
	testNodelist = "gpu-a[01-03],gpu-b[7-8]"
	testBase     = "trtllm-llmapi-launch pytest perf/test_perf_sanity.py::test_e2e[disagg_upload-e2e-tiny] -vv --junit-xml=/lustre/ws/results.xml"
	testNoWrap   = "pytest perf/test_perf_sanity.py::test_e2e[disagg_upload-e2e-tiny] -vv --junit-xml=/lustre/ws/results.xml"
	testUnset    = "unset UCX_TLS UCX_NET_DEVICES UCX_CUDA_IPC_ENABLE_MNNVL &&"
)

// slurmEnv is what Slurm sets in the batch step of the test allocation.
func slurmEnv() map[string]string {
	return map[string]string{
		"SLURM_JOB_ID":        "4242",
		"SLURM_JOB_NODELIST":  testNodelist,
		"SLURM_JOB_NUM_NODES": "5",
		// sbatch --ntasks-per-node=4 on 5 nodes; the install step runs this many tasks.
		"SLURM_NTASKS":          "20",
		"SLURM_NTASKS_PER_NODE": "4",
	}
}

// contractEnv is the environment today's generator exports for 2 GEN servers of 2 nodes x 4 GPUs
// and 1 CTX server of 1 node x 2 GPUs, with the role commands it derives.
func contractEnv() map[string]string {
	env := slurmEnv()
	maps.Copy(env, map[string]string{
		"jobWorkspace":              "/lustre/ws/disagg",
		"testOutputDir":             "/lustre/ws/disagg/out",
		"llmSrcNode":                "/lustre/src",
		"installScript":             "/lustre/src/install.sh",
		"pytestCommand":             testBase,
		"pytestCommandGENWorker":    testUnset + " TLLM_LOG_LEVEL=INFO HF_HOME=/tmp/hf " + testBase,
		"pytestCommandCTXWorker":    testUnset + " TLLM_LOG_LEVEL=INFO HF_HOME=/tmp/hf " + testBase,
		"pytestCommandDisaggServer": "TLLM_LOG_LEVEL=INFO " + testNoWrap,
		"pytestCommandBenchmark":    testNoWrap,
		"numGenServers":             "2",
		"numCtxServers":             "1",
		"gpusPerNode":               "4",
		"gpusPerGenServer":          "8",
		"gpusPerCtxServer":          "2",
		"nodesPerGenServer":         "2",
		"nodesPerCtxServer":         "1",
		"gpusPerNodePerGenServer":   "4",
		"gpusPerNodePerCtxServer":   "2",
		"totalNodes":                "5",
		"totalGpus":                 "20",
	})
	return env
}

func getenv(env map[string]string) func(string) string {
	return func(name string) string { return env[name] }
}

// readFiles serves files from a map, and fails like os.ReadFile for others.
func readFiles(files map[string]string) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		data, ok := files[name]
		if !ok {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		return []byte(data), nil
	}
}

func ptr[T any](v T) *T { return &v }

// containerFlags are srun args that make the plan forward its variables into pyxis containers.
var containerFlags = []string{"--container-image=img:1", "--container-mounts=/lustre:/lustre"}

// forwarded is --container-env for every variable of a role's environment (not gen-only).
var forwarded = []string{
	"--container-env=DISAGG_SERVING_TYPE", "--container-env=NVIDIA_IMEX_CHANNELS",
	"--container-env=NVIDIA_VISIBLE_DEVICES", "--container-env=TRTLLM_PERF_RUN_TOKEN",
	"--container-env=jobWorkspace", "--container-env=llmSrcNode", "--container-env=numCtxServers",
	"--container-env=numGenServers", "--container-env=pytestCommand", "--container-env=testOutputDir",
}

func concat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// TestBuildFromEnvContract is the "done when" case: the environment contract for 2 GEN + 1 CTX on
// a 5-node hostlist gives exact slices, task counts, srun argv and commands.
func TestBuildFromEnvContract(t *testing.T) {
	p, err := Build(Sources{
		Flags:  Flags{SrunArgs: containerFlags},
		Getenv: getenv(contractEnv()),
		Unique: "31337",
	})
	if err != nil {
		t.Fatal(err)
	}
	const (
		token  = "4242.0.31337"
		bin    = "/lustre/ws/disagg/.disagg-supervisor/bin/disagg-supervisor"
		coord  = "/lustre/ws/disagg/.disagg-supervisor/runs/4242.0.31337"
		worker = testUnset + " TLLM_LOG_LEVEL=INFO HF_HOME=/tmp/hf " + testBase
		server = "TLLM_LOG_LEVEL=INFO " + testNoWrap
	)
	env := func(name, cmd string) map[string]string {
		return map[string]string{
			"DISAGG_SERVING_TYPE":    name,
			"pytestCommand":          cmd,
			"NVIDIA_IMEX_CHANNELS":   "0",
			"NVIDIA_VISIBLE_DEVICES": "0,1,2,3",
			"TRTLLM_PERF_RUN_TOKEN":  token,
			"jobWorkspace":           "/lustre/ws/disagg",
			"testOutputDir":          "/lustre/ws/disagg/out",
			"numGenServers":          "2",
			"numCtxServers":          "1",
			"llmSrcNode":             "/lustre/src",
		}
	}
	task := func(name, kind string) []string {
		return []string{bin, "task", "--role", name, "--kind", kind, "--coord-dir", coord}
	}
	// taskOpts is what the role's task runs with: the defaults, as its argv leaves them out.
	taskOpts := func(name, kind string) taskopts.Options {
		o := taskopts.Defaults()
		o.Role, o.Kind, o.CoordDir = name, Kind(kind), coord
		return o
	}
	want := Plan{
		Mode:          ModeDisaggregated,
		JobID:         "4242",
		RunToken:      token,
		Nodes:         []string{"gpu-a01", "gpu-a02", "gpu-a03", "gpu-b7", "gpu-b8"},
		GPUsPerNode:   4,
		BenchmarkMode: BenchmarkE2E,
		Workspace:     "/lustre/ws/disagg",
		OutputDir:     "/lustre/ws/disagg/out",
		TaskBinary:    bin,
		CoordDir:      coord,
		SrunArgs:      containerFlags,
		// The default node watch: the tasks' heartbeat has its default period, which argv leaves out.
		NodeTimeoutSeconds: 60,
		// As today's launch draft: no node or task options, so every task of the job installs.
		Install: &Step{
			Command: "/lustre/src/install.sh",
			Srun:    concat([]string{"srun"}, containerFlags, []string{"/lustre/src/install.sh"}),
			Log:     "/lustre/ws/disagg/install.log",
			NTasks:  20,
		},
		Roles: []Role{
			{
				Name: "GEN_0", Kind: KindGen, Index: 0,
				Nodes: []string{"gpu-a01", "gpu-a02"}, NTasks: 8, NTasksPerNode: 4,
				Command: worker, Env: env("GEN_0", worker),
				Srun: concat([]string{"srun"}, containerFlags,
					[]string{"--mpi=pmix", "--kill-on-bad-exit=1", "-N", "2", "-w", "gpu-a[01-02]", "--ntasks=8", "--ntasks-per-node=4"},
					forwarded, task("GEN_0", "gen")),
				Log:  "/lustre/ws/disagg/out/gen_server_0.log",
				Task: taskOpts("GEN_0", "gen"),
			},
			{
				Name: "GEN_1", Kind: KindGen, Index: 1,
				Nodes: []string{"gpu-a03", "gpu-b7"}, NTasks: 8, NTasksPerNode: 4,
				Command: worker, Env: env("GEN_1", worker),
				Srun: concat([]string{"srun"}, containerFlags,
					[]string{"--mpi=pmix", "--kill-on-bad-exit=1", "-N", "2", "-w", "gpu-a03,gpu-b7", "--ntasks=8", "--ntasks-per-node=4"},
					forwarded, task("GEN_1", "gen")),
				Log:  "/lustre/ws/disagg/out/gen_server_1.log",
				Task: taskOpts("GEN_1", "gen"),
			},
			{
				Name: "CTX_0", Kind: KindCtx, Index: 0,
				Nodes: []string{"gpu-b8"}, NTasks: 2, NTasksPerNode: 2,
				Command: worker, Env: env("CTX_0", worker),
				Srun: concat([]string{"srun"}, containerFlags,
					[]string{"--mpi=pmix", "--kill-on-bad-exit=1", "-N", "1", "-w", "gpu-b8", "--ntasks=2", "--ntasks-per-node=2"},
					forwarded, task("CTX_0", "ctx")),
				Log:  "/lustre/ws/disagg/out/ctx_server_0.log",
				Task: taskOpts("CTX_0", "ctx"),
			},
			{
				Name: "DISAGG_SERVER", Kind: KindServer,
				Nodes: []string{"gpu-a01"}, NTasks: 1, NTasksPerNode: 1,
				Command: server, Env: env("DISAGG_SERVER", server),
				Srun: concat([]string{"srun"}, containerFlags,
					[]string{"--kill-on-bad-exit=1", "--overlap", "-N", "1", "-w", "gpu-a01", "--ntasks=1", "--ntasks-per-node=1"},
					forwarded, task("DISAGG_SERVER", "server")),
				Log:  "/lustre/ws/disagg/out/disagg_server.log",
				Task: taskOpts("DISAGG_SERVER", "server"),
			},
			{
				Name: "BENCHMARK", Kind: KindBenchmark,
				Nodes: []string{"gpu-a01"}, NTasks: 1, NTasksPerNode: 1,
				Command: testNoWrap, Env: env("BENCHMARK", testNoWrap),
				Srun: concat([]string{"srun"}, containerFlags,
					[]string{"--kill-on-bad-exit=1", "--overlap", "-N", "1", "-w", "gpu-a01", "--ntasks=1", "--ntasks-per-node=1"},
					forwarded, task("BENCHMARK", "benchmark")),
				Log:  "/lustre/ws/disagg/out/benchmark.log",
				Task: taskOpts("BENCHMARK", "benchmark"),
			},
		},
	}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("plan mismatch (-want +got):\n%s", diff)
	}
}

// TestBuildFromConfigMatchesEnv checks that a config file gives the same plan as the environment
// the generator writes from it: layout from hardware and worker_config, role commands derived
// from pytestCommand and the environment keys.
func TestBuildFromConfigMatchesEnv(t *testing.T) {
	fromEnv, err := Build(Sources{Flags: Flags{SrunArgs: containerFlags}, Getenv: getenv(contractEnv()), Unique: "9"})
	if err != nil {
		t.Fatal(err)
	}
	env := slurmEnv()
	for _, name := range []string{"jobWorkspace", "testOutputDir", "llmSrcNode", "installScript", "pytestCommand"} {
		env[name] = contractEnv()[name]
	}
	fromConfig, err := Build(Sources{
		Flags:    Flags{SrunArgs: containerFlags, Config: "testdata/disagg-2gen-1ctx.yaml"},
		Getenv:   getenv(env),
		ReadFile: os.ReadFile,
		Unique:   "9",
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fromEnv, fromConfig); diff != "" {
		t.Errorf("config plan differs from env plan (-env +config):\n%s", diff)
	}
}

// TestBuildFlagsOverride checks the precedence flags > environment > config, and that a flag
// changing the layout is not held against the environment's stale totals.
func TestBuildFlagsOverride(t *testing.T) {
	env := contractEnv()
	env["NVIDIA_VISIBLE_DEVICES"] = "3,2,1,0"
	p, err := Build(Sources{
		Flags: Flags{
			Nodelist:          "node[1-8]",
			GPUsPerNode:       ptr(8),
			JobID:             "77_3",
			RestartCount:      ptr(2),
			NumGen:            ptr(1),
			NodesPerGen:       ptr(1),
			GPUsPerNodePerGen: ptr(8),
			NumCtx:            ptr(3),
			Workspace:         "/scratch/ws/",
			ImexChannels:      "1",
			PinNode:           "node8",
			MPI:               "none",
			Config:            "testdata/disagg-2gen-1ctx.yaml",
		},
		Getenv:   getenv(env),
		ReadFile: os.ReadFile,
		Unique:   "5",
	})
	if err != nil {
		t.Fatal(err)
	}
	type roleView struct {
		Name  string
		Nodes []string
		Tasks [2]int
	}
	var got []roleView
	for _, r := range p.Roles {
		got = append(got, roleView{r.Name, r.Nodes, [2]int{r.NTasks, r.NTasksPerNode}})
	}
	want := []roleView{
		{"GEN_0", []string{"node1"}, [2]int{8, 8}},
		// nodesPerCtxServer and gpusPerNodePerCtxServer still come from the environment.
		{"CTX_0", []string{"node2"}, [2]int{2, 2}},
		{"CTX_1", []string{"node3"}, [2]int{2, 2}},
		{"CTX_2", []string{"node4"}, [2]int{2, 2}},
		{"DISAGG_SERVER", []string{"node8"}, [2]int{1, 1}},
		{"BENCHMARK", []string{"node8"}, [2]int{1, 1}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("roles mismatch (-want +got):\n%s", diff)
	}
	if p.RunToken != "77_3.2.5" || p.Workspace != "/scratch/ws" || p.OutputDir != "/lustre/ws/disagg/out" {
		t.Errorf("token %q workspace %q output %q", p.RunToken, p.Workspace, p.OutputDir)
	}
	gen := p.Roles[0]
	if gen.Env["NVIDIA_IMEX_CHANNELS"] != "1" || gen.Env["NVIDIA_VISIBLE_DEVICES"] != "3,2,1,0" || gen.Env["numCtxServers"] != "3" {
		t.Errorf("GEN_0 env: %v", gen.Env)
	}
	wantSrun := concat([]string{"srun", "--kill-on-bad-exit=1", "-N", "1", "-w", "node1", "--ntasks=8", "--ntasks-per-node=8"},
		[]string{"/scratch/ws/.disagg-supervisor/bin/disagg-supervisor", "task", "--role", "GEN_0", "--kind", "gen", "--coord-dir", "/scratch/ws/.disagg-supervisor/runs/77_3.2.5"})
	if diff := cmp.Diff(wantSrun, gen.Srun); diff != "" {
		t.Errorf("GEN_0 srun without --mpi and container env (-want +got):\n%s", diff)
	}
}

// TestBuildDefaults runs with the least input: a node list, GPUs, a layout, a command and a
// workspace, as `plan` on a laptop.
func TestBuildDefaults(t *testing.T) {
	p, err := Build(Sources{Flags: Flags{
		Nodelist:    "n[1-3]",
		GPUsPerNode: ptr(2),
		NumGen:      ptr(2),
		NodesPerGen: ptr(1),
		Command:     "python serve.py",
		Workspace:   "/tmp/ws",
	}})
	if err != nil {
		t.Fatal(err)
	}
	if p.JobID != DefaultJobID || p.RunToken != "nojob.0.0" || p.OutputDir != "/tmp/ws" || p.Install != nil ||
		p.BenchmarkMode != BenchmarkE2E || p.GenOnlyNoContext {
		t.Errorf("defaults: job %q token %q output %q install %v mode %q no-context %v",
			p.JobID, p.RunToken, p.OutputDir, p.Install, p.BenchmarkMode, p.GenOnlyNoContext)
	}
	var names []string
	for _, r := range p.Roles {
		names = append(names, fmt.Sprintf("%s@%v:%d/%d %s", r.Name, r.Nodes, r.NTasks, r.NTasksPerNode, r.Command))
	}
	want := []string{
		"GEN_0@[n1]:2/2 " + testUnset + " python serve.py",
		"GEN_1@[n2]:2/2 " + testUnset + " python serve.py",
		"DISAGG_SERVER@[n1]:1/1 python serve.py",
		"BENCHMARK@[n1]:1/1 python serve.py",
	}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("roles (-want +got):\n%s", diff)
	}
	if got := p.Roles[0].Env["NVIDIA_VISIBLE_DEVICES"]; got != "0,1" {
		t.Errorf("NVIDIA_VISIBLE_DEVICES = %q, want 0,1", got)
	}
	if _, ok := p.Roles[0].Env["llmSrcNode"]; ok {
		t.Error("llmSrcNode set without --llm-src or llmSrcNode")
	}
	if want := []string{"srun", "--mpi=pmix", "--kill-on-bad-exit=1", "-N", "1", "-w", "n1", "--ntasks=2", "--ntasks-per-node=2",
		"/tmp/ws/.disagg-supervisor/bin/disagg-supervisor", "task", "--role", "GEN_0", "--kind", "gen", "--coord-dir", "/tmp/ws/.disagg-supervisor/runs/nojob.0.0"}; !cmp.Equal(want, p.Roles[0].Srun) {
		t.Errorf("GEN_0 srun = %q, want %q", p.Roles[0].Srun, want)
	}
}

// TestBuildTaskFlags checks that task runner options reach the srun argv only when they differ
// from the task's defaults.
func TestBuildTaskFlags(t *testing.T) {
	base := Flags{Nodelist: "n1", GPUsPerNode: ptr(1), NumGen: ptr(1), NodesPerGen: ptr(1), Command: "x", Workspace: "/ws"}
	tail := func(f Flags) []string {
		p, err := Build(Sources{Flags: f})
		if err != nil {
			t.Fatal(err)
		}
		srun := p.Roles[0].Srun
		for i, a := range srun {
			if a == "--coord-dir" {
				return srun[i+2:]
			}
		}
		t.Fatalf("no --coord-dir in %q", srun)
		return nil
	}
	if got := tail(base); len(got) != 0 {
		t.Errorf("defaults rendered flags %q", got)
	}
	defaults := base
	defaults.TaskInstallTimeout, defaults.TaskBarrierTimeout = taskopts.DefaultInstallTimeout, taskopts.DefaultBarrierTimeout
	defaults.UnsetSlurm, defaults.EnvDump, defaults.LLMSrcSetup, defaults.LDLibraryPath = "auto", ptr(true), ptr(true), ptr(true)
	if got := tail(defaults); len(got) != 0 {
		t.Errorf("explicit defaults rendered flags %q", got)
	}
	all := base
	all.TaskInstall = "pip install -e ."
	all.TaskInstallTimeout = 45 * 60e9
	all.TaskBarrier = ptr(false)
	all.TaskBarrierTimeout = 90e9
	all.UnsetSlurm = "never"
	all.EnvDump, all.LLMSrcSetup, all.LDLibraryPath = ptr(false), ptr(false), ptr(false)
	want := []string{
		"--install-command", "pip install -e .", "--install-timeout", "45m0s", "--barrier-timeout", "1m30s",
		"--unset-slurm", "never", "--barrier=false", "--env-dump=false", "--llmsrc-setup=false", "--ld-library-path=false",
	}
	if diff := cmp.Diff(want, tail(all)); diff != "" {
		t.Errorf("task flags (-want +got):\n%s", diff)
	}
}

// TestTaskArgvParses: what the plan puts after `task` in every role's srun argv is what the task's own
// parser reads back, for the defaults and for every option set.
func TestTaskArgvParses(t *testing.T) {
	base := Flags{Nodelist: "n[1-2]", GPUsPerNode: ptr(1), NumGen: ptr(1), NumCtx: ptr(0), NodesPerGen: ptr(1), Command: "x", Workspace: "/ws"}
	all := base
	all.TaskInstall, all.TaskInstallTimeout, all.TaskBarrier, all.TaskBarrierTimeout = "pip install -e .", 45*time.Minute, ptr(false), 90*time.Second
	all.TaskSetup, all.TaskRank0, all.TaskAfter, all.TaskAfterRank0 = "/opt/env.sh:fix", "touch ready", []string{"drain", "classify"}, []string{"perf_check"}
	all.TaskAfterTimeout, all.TaskAfterDecides = time.Minute, true
	all.UnsetSlurm, all.EnvDump, all.LLMSrcSetup, all.LDLibraryPath = "always", ptr(false), ptr(true), ptr(false)
	for _, tt := range []struct {
		name  string
		flags Flags
		want  func(o *taskopts.Options)
	}{
		{"defaults", base, func(*taskopts.Options) {}},
		{"all", all, func(o *taskopts.Options) {
			o.InstallCommand, o.InstallTimeout, o.Barrier, o.BarrierTimeout = "pip install -e .", 45*time.Minute, false, 90*time.Second
			o.Setup, o.Rank0, o.After, o.AfterRank0 = "/opt/env.sh:fix", "touch ready", []string{"drain", "classify"}, []string{"perf_check"}
			o.AfterTimeout, o.AfterDecides = time.Minute, true
			o.UnsetSlurm, o.EnvDump, o.LDLibraryPath = taskopts.UnsetAlways, false, false
		}},
	} {
		p, err := Build(Sources{Flags: tt.flags})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Roles {
			i := slices.Index(r.Srun, "task")
			if i < 0 || r.Srun[i-1] != p.TaskBinary {
				t.Fatalf("%s: no task command in %q", r.Name, r.Srun)
			}
			got, err := taskopts.Parse(r.Srun[i+1:])
			if err != nil {
				t.Fatalf("%s %s: %v", tt.name, r.Name, err)
			}
			want := taskopts.Defaults()
			want.Role, want.Kind, want.CoordDir = r.Name, r.Kind, p.CoordDir
			tt.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s %s (-want +got):\n%s", tt.name, r.Name, diff)
			}
			// plan --json shows what the argv says.
			if diff := cmp.Diff(got, r.Task); diff != "" {
				t.Errorf("%s %s: Role.Task differs from the argv (-argv +Task):\n%s", tt.name, r.Name, diff)
			}
		}
	}
}

// TestBuildContainerEnv checks when --container-env is rendered.
func TestBuildContainerEnv(t *testing.T) {
	for _, tt := range []struct {
		mode     mode.Mode
		srunArgs []string
		want     bool
	}{
		{"", nil, false},
		{"auto", nil, false},
		{"auto", []string{"--exclusive"}, false},
		{"auto", []string{"--container-image=x"}, true},
		{"", []string{"--container-name=c"}, true},
		{"always", nil, true},
		{"never", []string{"--container-image=x"}, false},
	} {
		f := Flags{Nodelist: "n1", GPUsPerNode: ptr(1), NumGen: ptr(1), NodesPerGen: ptr(1), Command: "x", Workspace: "/ws",
			ForwardContainerEnv: tt.mode, SrunArgs: tt.srunArgs}
		p, err := Build(Sources{Flags: f})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Roles {
			got := false
			for _, a := range r.Srun {
				if a == "--container-env=pytestCommand" {
					got = true
				}
			}
			if got != tt.want {
				t.Errorf("mode %q args %q: %s forwards env = %v, want %v", tt.mode, tt.srunArgs, r.Name, got, tt.want)
			}
		}
	}
}

// TestBuildBenchmarkModes checks the plans of the newest generator's modes, from a config and the
// test id: gen_only keeps the CTX servers and gives the derived GEN command the gen_only settings;
// only benchmark.mode gen_only_no_context drops the CTX servers and sets
// TRTLLM_DISAGG_BENCHMARK_GEN_ONLY=1 before the GEN and DISAGG_SERVER commands and for every role.
func TestBuildBenchmarkModes(t *testing.T) {
	const (
		genOnlyID = "trtllm-llmapi-launch pytest perf/test_perf_sanity.py::test_e2e[disagg_upload-gen_only-tiny] -vv"
		oldID     = "trtllm-llmapi-launch pytest perf/test_perf_sanity.py::test_e2e[disagg_upload-tiny] -vv"
		overlap   = "TRTLLM_DISABLE_KV_CACHE_TRANSFER_OVERLAP=1 TLLM_BENCHMARK_REQ_QUEUES_SIZE=256"
	)
	noWrap := func(base string) string { return strings.TrimPrefix(base, "trtllm-llmapi-launch ") }
	type view struct {
		Mode             BenchmarkMode
		NoContext        bool
		Roles            []string
		Gen, Ctx, Server string
		// GenOnlyEnv is each role's TRTLLM_DISAGG_BENCHMARK_GEN_ONLY, "-" when unset.
		GenOnlyEnv []string
	}
	tests := []struct {
		name, config, base string
		want               view
	}{
		{
			name: "gen_only test id keeps the CTX servers", config: "testdata/gen-only.yaml", base: genOnlyID,
			want: view{
				Mode: BenchmarkGenOnly, Roles: []string{"GEN_0", "CTX_0", "CTX_1", "DISAGG_SERVER", "BENCHMARK"},
				Gen:    testUnset + " " + overlap + " TLLM_LOG_LEVEL=DEBUG " + genOnlyID,
				Ctx:    testUnset + " TLLM_LOG_LEVEL=INFO " + genOnlyID,
				Server: noWrap(genOnlyID), GenOnlyEnv: []string{"-", "-", "-", "-", "-"},
			},
		},
		{
			name: "config mode gen_only with an e2e test id is e2e", config: "testdata/gen-only.yaml", base: testBase,
			want: view{
				Mode: BenchmarkE2E, Roles: []string{"GEN_0", "CTX_0", "CTX_1", "DISAGG_SERVER", "BENCHMARK"},
				Gen:    testUnset + " TLLM_LOG_LEVEL=DEBUG " + testBase,
				Ctx:    testUnset + " TLLM_LOG_LEVEL=INFO " + testBase,
				Server: testNoWrap, GenOnlyEnv: []string{"-", "-", "-", "-", "-"},
			},
		},
		{
			name: "gen_only_no_context drops the CTX servers", config: "testdata/gen-only-no-context.yaml", base: genOnlyID,
			want: view{
				Mode: BenchmarkGenOnly, NoContext: true, Roles: []string{"GEN_0", "DISAGG_SERVER", "BENCHMARK"},
				Gen:    testUnset + " TRTLLM_DISAGG_BENCHMARK_GEN_ONLY=1 " + overlap + " TLLM_LOG_LEVEL=DEBUG " + genOnlyID,
				Server: "TRTLLM_DISAGG_BENCHMARK_GEN_ONLY=1 " + noWrap(genOnlyID), GenOnlyEnv: []string{"1", "1", "1"},
			},
		},
		{
			name: "gen_only_no_context with an e2e test id", config: "testdata/gen-only-no-context.yaml", base: testBase,
			want: view{
				Mode: BenchmarkE2E, NoContext: true, Roles: []string{"GEN_0", "DISAGG_SERVER", "BENCHMARK"},
				Gen:    testUnset + " TRTLLM_DISAGG_BENCHMARK_GEN_ONLY=1 TLLM_LOG_LEVEL=DEBUG " + testBase,
				Server: "TRTLLM_DISAGG_BENCHMARK_GEN_ONLY=1 " + testNoWrap, GenOnlyEnv: []string{"1", "1", "1"},
			},
		},
		{
			// The older generator's gen-only gave the GEN workers the gen_only settings too.
			name: "gen_only_no_context with a test id without a mode is gen_only", config: "testdata/gen-only-no-context.yaml", base: oldID,
			want: view{
				Mode: BenchmarkGenOnly, NoContext: true, Roles: []string{"GEN_0", "DISAGG_SERVER", "BENCHMARK"},
				Gen:    testUnset + " TRTLLM_DISAGG_BENCHMARK_GEN_ONLY=1 " + overlap + " TLLM_LOG_LEVEL=DEBUG " + oldID,
				Server: "TRTLLM_DISAGG_BENCHMARK_GEN_ONLY=1 " + noWrap(oldID), GenOnlyEnv: []string{"1", "1", "1"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := slurmEnv()
			env["jobWorkspace"] = "/ws"
			env["pytestCommand"] = tt.base
			p, err := Build(Sources{
				Flags:    Flags{Config: tt.config, SrunArgs: []string{"--container-image=x"}},
				Getenv:   getenv(env),
				ReadFile: os.ReadFile,
			})
			if err != nil {
				t.Fatal(err)
			}
			got := view{Mode: p.BenchmarkMode, NoContext: p.GenOnlyNoContext}
			for _, r := range p.Roles {
				got.Roles = append(got.Roles, r.Name)
				switch r.Kind {
				case KindGen:
					got.Gen = r.Command
				case KindCtx:
					got.Ctx = r.Command
				case KindServer:
					got.Server = r.Command
				case KindBenchmark:
					if r.Command != noWrap(tt.base) {
						t.Errorf("benchmark command %q, want %q", r.Command, noWrap(tt.base))
					}
				}
				v, has := r.Env["TRTLLM_DISAGG_BENCHMARK_GEN_ONLY"]
				if !has {
					v = "-"
				}
				got.GenOnlyEnv = append(got.GenOnlyEnv, v)
				// pyxis lets only forwarded variables into the container.
				if forwards := slices.Contains(r.Srun, "--container-env=TRTLLM_DISAGG_BENCHMARK_GEN_ONLY"); forwards != has {
					t.Errorf("%s forwards TRTLLM_DISAGG_BENCHMARK_GEN_ONLY: %v, has it: %v", r.Name, forwards, has)
				}
				// The configs have 2 CTX servers; harnesses read the count the plan runs.
				wantCtx := "2"
				if tt.want.NoContext {
					wantCtx = "0"
				}
				if r.Env["numCtxServers"] != wantCtx {
					t.Errorf("%s numCtxServers = %q, want %s", r.Name, r.Env["numCtxServers"], wantCtx)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBuildModePrecedence checks that flags beat the environment, which beats the config, for the
// benchmark mode, gen-only-no-context and the CTX count they interact with; and that a mode a flag
// turns off is overridden in the roles' environment, which inherits the job's.
func TestBuildModePrecedence(t *testing.T) {
	const (
		genOnlyID = "pytest perf/test_perf_sanity.py::test_e2e[disagg_upload-gen_only-tiny]"
		e2eID     = "pytest perf/test_perf_sanity.py::test_e2e[disagg_upload-e2e-tiny]"
		oldID     = "pytest perf/test_perf_sanity.py::test_e2e[disagg_upload-tiny]"
	)
	files := map[string]string{
		// 2 CTX servers here, 1 in the environment, 3 by flag: each count is told apart.
		"noctx.yaml":   "hardware:\n  num_ctx_servers: 2\nbenchmark:\n  mode: gen_only_no_context\n",
		"genonly.yaml": "hardware:\n  num_ctx_servers: 2\nbenchmark:\n  mode: gen_only\n",
	}
	type want struct {
		Mode      BenchmarkMode
		NoContext bool
		CTX       int
		// GenOnlyEnv is the BENCHMARK role's TRTLLM_DISAGG_BENCHMARK_GEN_ONLY, "-" when unset.
		GenOnlyEnv string
	}
	tests := []struct {
		name  string
		env   map[string]string // merged into the environment; "" deletes
		flags Flags
		want  want
	}{
		{name: "test id and exported count", want: want{BenchmarkE2E, false, 1, "-"}},

		// Gen-only-no-context against the CTX count.
		{name: "env no-context drops the env count", env: map[string]string{"TRTLLM_DISAGG_BENCHMARK_GEN_ONLY": "1"},
			want: want{BenchmarkE2E, true, 0, "1"}},
		{name: "env no-context as true", env: map[string]string{"TRTLLM_DISAGG_BENCHMARK_GEN_ONLY": "true"},
			want: want{BenchmarkE2E, true, 0, "1"}},
		{name: "env no-context off", env: map[string]string{"TRTLLM_DISAGG_BENCHMARK_GEN_ONLY": "0"},
			want: want{BenchmarkE2E, false, 1, "0"}},
		{name: "flag no-context", flags: Flags{GenOnly: ptr(true)}, want: want{BenchmarkE2E, true, 0, "1"}},
		{name: "flag no-context with --num-ctx 0", flags: Flags{GenOnly: ptr(true), NumCtx: ptr(0)}, want: want{BenchmarkE2E, true, 0, "1"}},
		{name: "--no-gen-only beats env", env: map[string]string{"TRTLLM_DISAGG_BENCHMARK_GEN_ONLY": "1"}, flags: Flags{GenOnly: ptr(false)},
			want: want{BenchmarkE2E, false, 1, "0"}},
		{name: "--num-ctx beats env no-context", env: map[string]string{"TRTLLM_DISAGG_BENCHMARK_GEN_ONLY": "1"}, flags: Flags{NumCtx: ptr(3)},
			want: want{BenchmarkE2E, false, 3, "0"}},
		{name: "config no-context drops the config count", env: map[string]string{"numCtxServers": ""}, flags: Flags{Config: "noctx.yaml"},
			want: want{BenchmarkE2E, true, 0, "1"}},
		{name: "env count beats config no-context", flags: Flags{Config: "noctx.yaml"},
			want: want{BenchmarkE2E, false, 1, "-"}},
		{name: "env no-context off beats config", env: map[string]string{"TRTLLM_DISAGG_BENCHMARK_GEN_ONLY": "0"}, flags: Flags{Config: "noctx.yaml"},
			want: want{BenchmarkE2E, false, 1, "0"}},
		{name: "--num-ctx beats config no-context", env: map[string]string{"numCtxServers": ""}, flags: Flags{Config: "noctx.yaml", NumCtx: ptr(3)},
			want: want{BenchmarkE2E, false, 3, "-"}},
		{name: "env no-context beats config count", env: map[string]string{"numCtxServers": "", "TRTLLM_DISAGG_BENCHMARK_GEN_ONLY": "1"}, flags: Flags{Config: "genonly.yaml"},
			want: want{BenchmarkE2E, true, 0, "1"}},
		{name: "config mode gen_only keeps the config count", env: map[string]string{"numCtxServers": ""}, flags: Flags{Config: "genonly.yaml"},
			want: want{BenchmarkE2E, false, 2, "-"}},

		// The benchmark mode.
		{name: "--benchmark-mode beats DISAGG_BENCHMARK_MODE", env: map[string]string{"DISAGG_BENCHMARK_MODE": "e2e"}, flags: Flags{BenchmarkMode: "gen_only"},
			want: want{BenchmarkGenOnly, false, 1, "-"}},
		{name: "--benchmark-mode beats the test id", env: map[string]string{"pytestCommand": genOnlyID}, flags: Flags{BenchmarkMode: "e2e"},
			want: want{BenchmarkE2E, false, 1, "-"}},
		{name: "DISAGG_BENCHMARK_MODE beats the test id", env: map[string]string{"DISAGG_BENCHMARK_MODE": "gen_only"},
			want: want{BenchmarkGenOnly, false, 1, "-"}},
		{name: "test id of pytestCommand", env: map[string]string{"pytestCommand": genOnlyID}, want: want{BenchmarkGenOnly, false, 1, "-"}},
		{name: "test id of --command beats pytestCommand", flags: Flags{Command: genOnlyID}, want: want{BenchmarkGenOnly, false, 1, "-"}},
		{name: "test id without a mode", env: map[string]string{"pytestCommand": oldID}, want: want{BenchmarkE2E, false, 1, "-"}},
		{name: "test id with a modifier", env: map[string]string{"pytestCommand": "pytest perf/test_perf_sanity.py::test_e2e[disagg_upload-gen_only-time_breakdown-tiny]"},
			want: want{BenchmarkGenOnly, false, 1, "-"}},
		{name: "no-context without a mode is gen_only", env: map[string]string{"pytestCommand": oldID, "TRTLLM_DISAGG_BENCHMARK_GEN_ONLY": "1"},
			want: want{BenchmarkGenOnly, true, 0, "1"}},
		{name: "no-context keeps the test id's mode", env: map[string]string{"pytestCommand": e2eID}, flags: Flags{GenOnly: ptr(true)},
			want: want{BenchmarkE2E, true, 0, "1"}},
		{name: "config mode is not a mode source", env: map[string]string{"pytestCommand": oldID}, flags: Flags{Config: "genonly.yaml"},
			want: want{BenchmarkE2E, false, 1, "-"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := contractEnv()
			// Room for 3 CTX servers, and no totals: they count the generator's layout.
			maps.Copy(env, map[string]string{"SLURM_JOB_NODELIST": "n[1-8]", "SLURM_JOB_NUM_NODES": "8", "totalNodes": "", "totalGpus": ""})
			maps.Copy(env, tt.env)
			maps.DeleteFunc(env, func(_, v string) bool { return v == "" })
			p, err := Build(Sources{Flags: tt.flags, Getenv: getenv(env), ReadFile: readFiles(files)})
			if err != nil {
				t.Fatal(err)
			}
			got := want{Mode: p.BenchmarkMode, NoContext: p.GenOnlyNoContext, GenOnlyEnv: "-"}
			for _, r := range p.Roles {
				if r.Kind == KindCtx {
					got.CTX++
				}
				if v, ok := r.Env["TRTLLM_DISAGG_BENCHMARK_GEN_ONLY"]; ok && r.Kind == KindBenchmark {
					got.GenOnlyEnv = v
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBuildModeFlagsRederive checks that a flag changing the benchmark mode or
// gen-only-no-context makes the environment's ready-made commands that depend on it stale: GEN
// for both, DISAGG_SERVER for gen-only-no-context; CTX and BENCHMARK stay as given. A flag that
// repeats what the environment says keeps them all, with the cluster settings the generator put in.
func TestBuildModeFlagsRederive(t *testing.T) {
	const base = "pytest t.py::test_e2e[disagg_upload-e2e-tiny]"
	type cmds struct{ Gen, Server, Benchmark string }
	noCtx := map[string]string{"TRTLLM_DISAGG_BENCHMARK_GEN_ONLY": "1"}
	for _, tt := range []struct {
		name  string
		env   map[string]string
		flags Flags
		want  cmds
	}{
		{name: "no flag", want: cmds{"g", "s", "b"}},
		{name: "--benchmark-mode", flags: Flags{BenchmarkMode: "gen_only"},
			want: cmds{testUnset + " TRTLLM_DISABLE_KV_CACHE_TRANSFER_OVERLAP=1 " + base, "s", "b"}},
		{name: "--benchmark-mode repeating the test id", flags: Flags{BenchmarkMode: "e2e"}, want: cmds{"g", "s", "b"}},
		{name: "--gen-only", flags: Flags{GenOnly: ptr(true)},
			want: cmds{testUnset + " TRTLLM_DISAGG_BENCHMARK_GEN_ONLY=1 " + base, "TRTLLM_DISAGG_BENCHMARK_GEN_ONLY=1 " + base, "b"}},
		{name: "--gen-only repeating the environment", env: noCtx, flags: Flags{GenOnly: ptr(true)}, want: cmds{"g", "s", "b"}},
		{name: "--no-gen-only repeating the default", flags: Flags{GenOnly: ptr(false)}, want: cmds{"g", "s", "b"}},
		{name: "--no-gen-only overriding the environment", env: noCtx, flags: Flags{GenOnly: ptr(false)},
			want: cmds{testUnset + " " + base, base, "b"}},
		{name: "--num-ctx overriding the environment's no-context", env: noCtx, flags: Flags{NumCtx: ptr(1), NodesPerCtx: ptr(1)},
			want: cmds{testUnset + " " + base, base, "b"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"pytestCommand": base, "pytestCommandGENWorker": "g", "pytestCommandCTXWorker": "c",
				"pytestCommandDisaggServer": "s", "pytestCommandBenchmark": "b"}
			maps.Copy(env, tt.env)
			f := tt.flags
			f.Nodelist, f.GPUsPerNode, f.Workspace, f.NumGen, f.NodesPerGen = "n[1-3]", ptr(4), "/ws", ptr(1), ptr(1)
			p, err := Build(Sources{Flags: f, Getenv: getenv(env)})
			if err != nil {
				t.Fatal(err)
			}
			var got cmds
			for _, r := range p.Roles {
				switch r.Kind {
				case KindGen:
					got.Gen = r.Command
				case KindCtx:
					if r.Command != "c" {
						t.Errorf("CTX command %q, want the environment's", r.Command)
					}
				case KindServer:
					got.Server = r.Command
				case KindBenchmark:
					got.Benchmark = r.Command
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("commands (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBuildEnvStringPrecedence checks where the env strings of derived commands come from: flags
// beat the config whatever their scope (--worker-env beats a config's per-kind string); within one
// layer the per-kind string beats the shared one, and a blank one falls back to it.
func TestBuildEnvStringPrecedence(t *testing.T) {
	files := map[string]string{
		"env.yaml": "environment:\n  worker_env_var: W=cfg\n  gen_worker_env_var: G=cfg\n  ctx_worker_env_var: ' '\n" +
			"  server_env_var: S=cfg\n  benchmark_env_var: B=cfg\n",
	}
	const base = "pytest t.py"
	type cmds struct{ Gen, Ctx, Server, Benchmark string }
	for _, tt := range []struct {
		name  string
		flags Flags
		want  cmds
	}{
		{name: "config", want: cmds{"G=cfg", "W=cfg", "S=cfg", "B=cfg"}},
		{name: "--worker-env beats the config's per-kind strings", flags: Flags{WorkerEnv: "W=flag"},
			want: cmds{"W=flag", "W=flag", "S=cfg", "B=cfg"}},
		{name: "--gen-env beats --worker-env", flags: Flags{WorkerEnv: "W=flag", GenEnv: "G=flag"},
			want: cmds{"G=flag", "W=flag", "S=cfg", "B=cfg"}},
		{name: "--ctx-env beats the config", flags: Flags{CtxEnv: "C=flag"},
			want: cmds{"G=cfg", "C=flag", "S=cfg", "B=cfg"}},
		{name: "server and benchmark flags", flags: Flags{ServerEnv: "S=flag", BenchmarkEnv: "B=flag"},
			want: cmds{"G=cfg", "W=cfg", "S=flag", "B=flag"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.flags
			f.Nodelist, f.GPUsPerNode, f.Workspace, f.Command, f.Config = "n[1-2]", ptr(4), "/ws", base, "env.yaml"
			f.NumGen, f.NodesPerGen, f.NumCtx, f.NodesPerCtx = ptr(1), ptr(1), ptr(1), ptr(1)
			f.Unset = ptr("")
			p, err := Build(Sources{Flags: f, ReadFile: readFiles(files)})
			if err != nil {
				t.Fatal(err)
			}
			got := map[Kind]string{}
			for _, r := range p.Roles {
				got[r.Kind] = strings.TrimSuffix(r.Command, " "+base)
			}
			if diff := cmp.Diff(tt.want, cmds{got[KindGen], got[KindCtx], got[KindServer], got[KindBenchmark]}); diff != "" {
				t.Errorf("env strings (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBuildInstall checks the install step: by default every task of the job runs it, as today's
// launch draft does (no node or task options, the count is the job's); --install-per-node runs it
// on one task per node of the plan.
func TestBuildInstall(t *testing.T) {
	const script = "/src/install.sh"
	for _, tt := range []struct {
		name  string
		env   map[string]string
		flags Flags
		want  *Step
	}{
		{name: "no install script", env: map[string]string{"installScript": ""}},
		{name: "every task of the job, SLURM_NTASKS", env: map[string]string{"SLURM_NTASKS": "6", "SLURM_NTASKS_PER_NODE": "4"},
			want: &Step{Command: script, Srun: []string{"srun", "--container-image=x", script}, Log: "/ws/install.log", NTasks: 6}},
		{name: "SLURM_NPROCS of older setups", env: map[string]string{"SLURM_NPROCS": "5"},
			want: &Step{Command: script, Srun: []string{"srun", "--container-image=x", script}, Log: "/ws/install.log", NTasks: 5}},
		{name: "SLURM_NTASKS_PER_NODE on every node", env: map[string]string{"SLURM_NTASKS_PER_NODE": "4"},
			want: &Step{Command: script, Srun: []string{"srun", "--container-image=x", script}, Log: "/ws/install.log", NTasks: 12}},
		{name: "no task count: unknown", env: map[string]string{"SLURM_JOB_NUM_NODES": "3"},
			want: &Step{Command: script, Srun: []string{"srun", "--container-image=x", script}, Log: "/ws/install.log"}},
		{name: "one task per node", env: map[string]string{"SLURM_NTASKS": "not read"}, flags: Flags{InstallPerNode: true},
			want: &Step{Command: script, Srun: []string{"srun", "--container-image=x", "-N", "3", "-w", "n[1-3]", "--ntasks=3", "--ntasks-per-node=1", script},
				Log: "/ws/install.log", PerNode: true, NTasks: 3}},
		{name: "--install-script beats installScript", flags: Flags{InstallScript: "'/my src/install.sh' -v"},
			want: &Step{Command: "'/my src/install.sh' -v", Srun: []string{"srun", "--container-image=x", "/my src/install.sh", "-v"}, Log: "/ws/install.log"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"SLURM_JOB_NODELIST": "n[1-3]", "SLURM_JOB_NUM_NODES": "3", "installScript": script}
			maps.Copy(env, tt.env)
			f := tt.flags
			f.GPUsPerNode, f.Workspace, f.OutputDir, f.Command, f.NumGen, f.NodesPerGen = ptr(4), "/ws", "/ws/out", "x", ptr(1), ptr(1)
			f.SrunArgs = []string{"--container-image=x"}
			p, err := Build(Sources{Flags: f, Getenv: getenv(env)})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, p.Install); diff != "" {
				t.Errorf("install step (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBuildDerivedLayout checks the generator's arithmetic when only GPUs per server are given.
func TestBuildDerivedLayout(t *testing.T) {
	for _, tt := range []struct {
		name           string
		env            map[string]string
		nodes, perNode int
	}{
		{"gpus over several nodes", map[string]string{"gpusPerGenServer": "16"}, 4, 4},
		{"gpus and ranks per node", map[string]string{"gpusPerGenServer": "6", "gpusPerNodePerGenServer": "3"}, 2, 3},
		{"part of a node", map[string]string{"gpusPerGenServer": "2"}, 1, 2},
		{"nodes given, gpus unknown: whole nodes", map[string]string{"nodesPerGenServer": "2"}, 2, 4},
		{"nodes given with gpus", map[string]string{"nodesPerGenServer": "1", "gpusPerGenServer": "3"}, 1, 3},
		{"generator's misspelled name", map[string]string{"gpusPerGenServer": "8", "gpusPerfNodePerfGenServer": "2"}, 4, 2},
		// A flag changes the layout on purpose: the exported total is stale by design.
		{"flag over the exported total", map[string]string{"gpusPerGenServer": "8", "nodesPerGenServer": "2", "gpusPerNodePerGenServer": "4", "DISAGG_TEST_FLAG": "1"}, 1, 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := slurmEnv()
			maps.Copy(env, map[string]string{"gpusPerNode": "4", "numGenServers": "1", "pytestCommand": "x", "jobWorkspace": "/ws"})
			maps.Copy(env, tt.env)
			var f Flags
			if env["DISAGG_TEST_FLAG"] != "" {
				f.NodesPerGen = ptr(1)
			}
			p, err := Build(Sources{Flags: f, Getenv: getenv(env)})
			if err != nil {
				t.Fatal(err)
			}
			gen := p.Roles[0]
			if len(gen.Nodes) != tt.nodes || gen.NTasksPerNode != tt.perNode || gen.NTasks != tt.nodes*tt.perNode {
				t.Errorf("GEN_0: %d nodes x %d tasks (%d), want %d x %d", len(gen.Nodes), gen.NTasksPerNode, gen.NTasks, tt.nodes, tt.perNode)
			}
		})
	}
}

// TestBuildInputErrors checks that every bad input is an *InputError with a one-line message that
// names it.
func TestBuildInputErrors(t *testing.T) {
	files := map[string]string{
		"args.txt":      "--container-image=x\n--ntasks-per-node=4\n",
		"mpi.txt":       "--container-image=x\n--mpi=pmi2\n",
		"expand.txt":    "--container-image=x\n--container-mounts=$HOME/x:/x\n",
		"unclosed.txt":  "--container-image=\"x\n",
		"types.yaml":    "hardware:\n  num_gen_servers: two\n",
		"float.yaml":    "hardware:\n  gpus_per_node: 4.5\n",
		"broken.yaml":   "hardware:\n  num_gen_servers: [1\nworker_config: {}\n",
		"list.yaml":     "- 1\n- 2\n",
		"indent.yaml":   "hardware:\n  gpus_per_node: 4\n    num_gen_servers: 2\n",
		"section.yaml":  "hardware: big\n",
		"tp.yaml":       "worker_config:\n  gen:\n    tensor_parallel_size: 0\n",
		"conc.yaml":     "benchmark:\n  concurrency_list: \"8 x\"\n",
		"concmap.yaml":  "benchmark:\n  concurrency_list: [1, {a: 2}]\n",
		"envlist.yaml":  "environment:\n  worker_env_var: [A=1]\n",
		"noworker.yaml": "hardware:\n  num_gen_servers: 0\n",
		"tp4.yaml":      "worker_config:\n  ctx:\n    tensor_parallel_size: 4\n",
		"envword.yaml":  "environment:\n  gen_worker_env_var: \"A=1 --debug\"\n",
	}
	tests := []struct {
		name  string
		env   map[string]string // merged into contractEnv; "" deletes
		flags func(*Flags)
		want  string
	}{
		// Topology.
		{name: "malformed SLURM_JOB_NODELIST", env: map[string]string{"SLURM_JOB_NODELIST": "gpu[01-"},
			want: `environment: SLURM_JOB_NODELIST: hostlist "gpu[01-": unclosed "["`},
		{name: "malformed --nodelist", flags: func(f *Flags) { f.Nodelist = "gpu[3-1]" },
			want: `--nodelist: hostlist "gpu[3-1]": range "3-1": end is before start`},
		{name: "no node list", env: map[string]string{"SLURM_JOB_NODELIST": "", "SLURM_JOB_NUM_NODES": ""},
			want: `missing input: node list: --nodelist, SLURM_JOB_NODELIST or SLURM_NODELIST`},
		{name: "SLURM_JOB_NUM_NODES mismatch", env: map[string]string{"SLURM_JOB_NUM_NODES": "4"},
			want: `environment: SLURM_JOB_NUM_NODES="4" but SLURM_JOB_NODELIST="gpu-a[01-03],gpu-b[7-8]" has 5 nodes`},
		{name: "node twice", flags: func(f *Flags) { f.Nodelist = "n1,n2,n1,n3,n4" },
			want: `--nodelist: node "n1" is listed twice`},
		{name: "bad --job-id", flags: func(f *Flags) { f.JobID = "a/b" },
			want: `--job-id: "a/b" cannot be part of a path: it holds a slash or a blank`},
		{name: "negative --restart-count", flags: func(f *Flags) { f.RestartCount = ptr(-1) },
			want: `--restart-count: want a non-negative integer, got -1`},
		{name: "bad SLURM_RESTART_COUNT", env: map[string]string{"SLURM_RESTART_COUNT": "x"},
			want: `environment: SLURM_RESTART_COUNT="x": not a restart count`},
		{name: "no GPUs per node", env: map[string]string{"gpusPerNode": ""},
			want: `missing input: GPUs per node: --gpus-per-node, SLURM_GPUS_ON_NODE, SLURM_GPUS_PER_NODE, gpusPerNode or hardware.gpus_per_node`},
		{name: "zero --gpus-per-node", flags: func(f *Flags) { f.GPUsPerNode = ptr(0) },
			want: `--gpus-per-node: want a positive integer, got 0`},
		{name: "bad gpusPerNode", env: map[string]string{"gpusPerNode": "four"},
			want: `environment: gpusPerNode="four": not a GPU count`},

		// Layout.
		{name: "numGenServers not a number", env: map[string]string{"numGenServers": "two"},
			want: `numGenServers: want an integer, got "two"`},
		{name: "zero GEN servers", env: map[string]string{"numGenServers": "0"},
			want: `numGenServers: want at least 1 GEN server, got 0`},
		{name: "zero GEN servers by flag", flags: func(f *Flags) { f.NumGen = ptr(0) },
			want: `--num-gen: want at least 1 GEN server, got 0`},
		{name: "no GEN count", env: map[string]string{"numGenServers": ""},
			want: `missing input: test mode: --mode, or the inputs of one test: --num-gen, numGenServers or hardware.num_gen_servers (disaggregated); gpusPerNodePerServer and totalNodes, or server_configs in --config (aggregated)`},
		{name: "no GEN count, explicit mode", env: map[string]string{"numGenServers": ""}, flags: func(f *Flags) { f.Mode = ModeDisaggregated },
			want: `missing input: GEN servers: --num-gen, numGenServers or hardware.num_gen_servers`},
		{name: "negative numCtxServers", env: map[string]string{"numCtxServers": "-1"},
			want: `numCtxServers: want a non-negative integer, got -1`},
		{name: "zero nodesPerGenServer", env: map[string]string{"nodesPerGenServer": "0"},
			want: `nodesPerGenServer: want a positive integer, got 0`},
		{name: "nodesPerCtxServer not a number", env: map[string]string{"nodesPerCtxServer": "1.5"},
			want: `nodesPerCtxServer: want an integer, got "1.5"`},
		{name: "zero --gpus-per-node-per-ctx", flags: func(f *Flags) { f.GPUsPerNodePerCtx = ptr(0) },
			want: `--gpus-per-node-per-ctx: want a positive integer, got 0`},
		{name: "huge --num-gen", flags: func(f *Flags) { f.NumGen = ptr(1 << 30) },
			want: `--num-gen: want at most 1048576, got 1073741824`},
		{name: "no GEN size", env: map[string]string{"nodesPerGenServer": "", "gpusPerGenServer": ""},
			want: `missing input: nodes per GEN server: --nodes-per-gen or nodesPerGenServer; or GPUs per GEN server to derive it from: gpusPerGenServer or worker_config.gen.{tensor,pipeline,context}_parallel_size`},
		{name: "too few nodes", flags: func(f *Flags) { f.Nodelist = "gpu-a[01-04]" },
			want: `layout: needs 5 nodes (2 GEN x 2 + 1 CTX x 1), allocation has 4`},
		{name: "more GPUs per server node than per node", env: map[string]string{"gpusPerNodePerGenServer": "8"},
			want: `gpusPerNodePerGenServer: 8 GPUs per node for each GEN server, but nodes have 4`},
		// A given GPU count per server must be nodes x ranks per node, given or derived.
		{name: "gpusPerGenServer over the given shape", env: map[string]string{"gpusPerGenServer": "8", "nodesPerGenServer": "1"},
			want: `gpusPerGenServer / nodesPerGenServer / gpusPerNodePerGenServer: 8 GPUs per GEN server (gpusPerGenServer) disagree with 1 nodes (nodesPerGenServer) x 4 GPUs per node (gpusPerNodePerGenServer) = 4`},
		{name: "gpusPerGenServer not whole nodes", env: map[string]string{"gpusPerGenServer": "6", "nodesPerGenServer": "", "gpusPerNodePerGenServer": ""},
			want: `gpusPerGenServer: 6 GPUs per GEN server (gpusPerGenServer) disagree with 2 nodes (derived) x 4 GPUs per node (derived) = 8`},
		{name: "config's parallel sizes against the exports", env: map[string]string{"gpusPerCtxServer": ""}, flags: func(f *Flags) { f.Config = "tp4.yaml" },
			want: `tp4.yaml: worker_config.ctx parallel sizes / nodesPerCtxServer / gpusPerNodePerCtxServer: 4 GPUs per CTX server (tp4.yaml: worker_config.ctx parallel sizes) disagree with 1 nodes (nodesPerCtxServer) x 2 GPUs per node (gpusPerNodePerCtxServer) = 2`},
		{name: "totalNodes mismatch", env: map[string]string{"totalNodes": "6"},
			want: `totalNodes: 6 conflicts with the layout, which needs 5 nodes (2 GEN x 2 + 1 CTX x 1)`},
		{name: "totalGpus mismatch", env: map[string]string{"totalGpus": "18"},
			want: `totalGpus: 18 conflicts with the layout, which needs 5 nodes x 4 GPUs = 20`},
		// Only two flags conflict; across layers the higher one wins (TestBuildModePrecedence).
		{name: "gen-only with CTX servers by flag", flags: func(f *Flags) { f.GenOnly, f.NumCtx = ptr(true), ptr(2) },
			want: `--num-ctx: 2 conflicts with gen-only-no-context mode (from --gen-only), which runs no CTX servers`},
		{name: "bad TRTLLM_DISAGG_BENCHMARK_GEN_ONLY", env: map[string]string{"TRTLLM_DISAGG_BENCHMARK_GEN_ONLY": "maybe"},
			want: `TRTLLM_DISAGG_BENCHMARK_GEN_ONLY: want 1/0, true/false, yes/no or on/off, got "maybe"`},
		{name: "bad --benchmark-mode", flags: func(f *Flags) { f.BenchmarkMode = "gen-only" },
			want: `--benchmark-mode: want e2e or gen_only, got "gen-only"`},
		{name: "--benchmark-mode gen_only_no_context", flags: func(f *Flags) { f.BenchmarkMode = "gen_only_no_context" },
			want: `--benchmark-mode: want e2e or gen_only, got "gen_only_no_context": gen-only without CTX servers is --gen-only or TRTLLM_DISAGG_BENCHMARK_GEN_ONLY=1`},
		{name: "bad DISAGG_BENCHMARK_MODE", env: map[string]string{"DISAGG_BENCHMARK_MODE": "E2E"},
			want: `DISAGG_BENCHMARK_MODE: want e2e or gen_only, got "E2E"`},
		{name: "bad DISAGG_BENCHMARK_MODE under a good flag", env: map[string]string{"DISAGG_BENCHMARK_MODE": "x"}, flags: func(f *Flags) { f.BenchmarkMode = "bogus" },
			want: `--benchmark-mode: want e2e or gen_only, got "bogus"`},

		// Paths.
		{name: "no workspace", env: map[string]string{"jobWorkspace": ""},
			want: `missing input: workspace: --workspace or jobWorkspace`},
		{name: "relative workspace", flags: func(f *Flags) { f.Workspace = "ws" },
			want: `--workspace: "ws" is not an absolute path`},
		{name: "relative output dir", env: map[string]string{"testOutputDir": "out"},
			want: `testOutputDir: "out" is not an absolute path`},

		// srun.
		{name: "srun arg sets -N", flags: func(f *Flags) { f.SrunArgs = []string{"--container-image=x", "-N2"} },
			want: `--srun-arg: "-N2" sets -N, which the plan sets for every step (-N, -w, --ntasks, --ntasks-per-node)`},
		{name: "srun arg sets --nodelist", flags: func(f *Flags) { f.SrunArgs = []string{"--nodelist=n1"} },
			want: `--srun-arg: "--nodelist=n1" sets --nodelist, which the plan sets for every step (-N, -w, --ntasks, --ntasks-per-node)`},
		{name: "srun arg sets -w", flags: func(f *Flags) { f.SrunArgs = []string{"-w", "n1"} },
			want: `--srun-arg: "-w" sets -w, which the plan sets for every step (-N, -w, --ntasks, --ntasks-per-node)`},
		{name: "srun args file sets --ntasks-per-node", flags: func(f *Flags) { f.SrunArgsFile = "args.txt" },
			want: `--srun-args-file args.txt: "--ntasks-per-node=4" sets --ntasks-per-node, which the plan sets for every step (-N, -w, --ntasks, --ntasks-per-node)`},
		{name: "srun arg sets --mpi", flags: func(f *Flags) { f.SrunArgs = []string{"--mpi=none"} },
			want: `--srun-arg: "--mpi=none" sets --mpi, which the plan sets for the worker steps: use the --mpi flag (--mpi none leaves it out)`},
		{name: "srun arg sets --mpi as two words", flags: func(f *Flags) { f.SrunArgs = []string{"--mpi", "pmi2"} },
			want: `--srun-arg: "--mpi" sets --mpi, which the plan sets for the worker steps: use the --mpi flag (--mpi none leaves it out)`},
		{name: "srun arg sets --kill-on-bad-exit", flags: func(f *Flags) { f.SrunArgs = []string{"--kill-on-bad-exit=0"} },
			want: `--srun-arg: "--kill-on-bad-exit=0" sets --kill-on-bad-exit, which the plan sets for every step (--kill-on-bad-exit=1: a failing rank ends its step at once)`},
		{name: "srun arg sets -K", flags: func(f *Flags) { f.SrunArgs = []string{"-K0"} },
			want: `--srun-arg: "-K0" sets -K (--kill-on-bad-exit), which the plan sets for every step (--kill-on-bad-exit=1: a failing rank ends its step at once)`},
		{name: "srun args file sets --mpi", flags: func(f *Flags) { f.SrunArgsFile = "mpi.txt" },
			want: `--srun-args-file mpi.txt: "--mpi=pmi2" sets --mpi, which the plan sets for the worker steps: use the --mpi flag (--mpi none leaves it out)`},
		{name: "srun args file unreadable", flags: func(f *Flags) { f.SrunArgsFile = "/dev/fd/63" },
			want: `--srun-args-file: cannot read it: open /dev/fd/63: file does not exist`},
		{name: "srun args file expands", flags: func(f *Flags) { f.SrunArgsFile = "expand.txt" },
			want: `--srun-args-file expand.txt: line 2: "--container-mounts=$HOME/x:/x" is not a plain word: only quoting is allowed, no $, ` + "`" + `, globs, braces or ~`},
		{name: "srun args file not shell words", flags: func(f *Flags) { f.SrunArgsFile = "unclosed.txt" },
			want: "--srun-args-file unclosed.txt: 1:19: reached EOF without closing quote `\"`"},
		{name: "pin node outside the allocation", flags: func(f *Flags) { f.PinNode = "gpu-c1" },
			want: `--pin-node: "gpu-c1" is not in the allocation (gpu-a[01-03],gpu-b[7-8])`},
		{name: "bad --forward-container-env", flags: func(f *Flags) { f.ForwardContainerEnv = "yes" },
			want: `--forward-container-env: want auto, always or never, got "yes"`},
		{name: "bad --mpi", flags: func(f *Flags) { f.MPI = "pmix v5" },
			want: `--mpi: "pmix v5" is not an MPI type`},

		// Commands.
		{name: "no base command", env: map[string]string{"pytestCommand": "", "pytestCommandGENWorker": "", "pytestCommandDisaggServer": ""},
			want: `missing input: base command: --command or pytestCommand, to derive the GEN and DISAGG_SERVER commands from (or give the role commands)`},
		{name: "base not valid shell", env: map[string]string{"pytestCommand": `pytest "x`, "pytestCommandBenchmark": ""},
			want: "pytestCommand: not valid shell: 1:8: reached EOF without closing quote `\"`"},
		{name: "flag base not valid shell", flags: func(f *Flags) { f.Command = "pytest && " },
			want: "--command: not valid shell: 1:8: `&&` must be followed by a statement"},
		// Env strings go before the command: a word that is not NAME=VALUE would become it.
		{name: "worker env not assignments", flags: func(f *Flags) { f.WorkerEnv = "A=1 notanassignment" },
			want: `--worker-env: "notanassignment" is not NAME=VALUE: the words go before the command as its environment`},
		{name: "server env two statements", flags: func(f *Flags) { f.ServerEnv = "A=1; B=2" },
			want: `--server-env: "A=1; B=2": want NAME=VALUE words only, which go before the command`},
		{name: "config env not assignments", flags: func(f *Flags) { f.Config = "envword.yaml" },
			want: `envword.yaml: environment.gen_worker_env_var: "--debug" is not NAME=VALUE: the words go before the command as its environment`},
		{name: "base is only the wrapper", env: map[string]string{"pytestCommand": "trtllm-llmapi-launch", "pytestCommandDisaggServer": "", "pytestCommandBenchmark": ""},
			want: `pytestCommand: "trtllm-llmapi-launch" is only the wrapper trtllm-llmapi-launch, with no command after it: the DISAGG_SERVER and BENCHMARK commands derived without it would be ":" and succeed at once`},
		{name: "flag base is only the wrapper", flags: func(f *Flags) { f.Command = "A=1 /opt/bin/trtllm-llmapi-launch " },
			want: `--command: "A=1 /opt/bin/trtllm-llmapi-launch" is only the wrapper trtllm-llmapi-launch, with no command after it: the DISAGG_SERVER and BENCHMARK commands derived without it would be ":" and succeed at once`},
		{name: "base is only another wrapper", flags: func(f *Flags) { f.Command, f.Wrapper = "mpi-launch", "mpi-launch" },
			want: `--command: "mpi-launch" is only the wrapper mpi-launch, with no command after it: the DISAGG_SERVER and BENCHMARK commands derived without it would be ":" and succeed at once`},
		{name: "role command not valid shell", flags: func(f *Flags) { f.GenCommand = "pytest $(" },
			want: "--gen-command: not valid shell: 1:8: reached EOF without matching `$(` with `)`"},
		{name: "env role command not valid shell", env: map[string]string{"pytestCommandDisaggServer": "pytest )"},
			want: "pytestCommandDisaggServer: not valid shell: 1:8: a command can only contain words and redirects; encountered `)`"},
		{name: "server command is only its env string", env: map[string]string{"pytestCommandDisaggServer": "TLLM_LOG_LEVEL=INFO "},
			want: `pytestCommandDisaggServer: "TLLM_LOG_LEVEL=INFO" runs no command, only assignments (is the variable it was built from empty?)`},
		{name: "NoLLMAPILaunch runs nothing", env: map[string]string{"pytestCommandNoLLMAPILaunch": "A=1", "pytestCommandBenchmark": ""},
			want: `pytestCommandNoLLMAPILaunch: "A=1" runs no command, only assignments (is the variable it was built from empty?)`},
		{name: "worker env not valid shell", flags: func(f *Flags) { f.WorkerEnv = `A="x` },
			want: "--worker-env: not valid shell: 1:3: reached EOF without closing quote `\"`"},
		{name: "bad --unset", flags: func(f *Flags) { f.Unset = ptr("UCX_TLS 1X") },
			want: `--unset: "1X" is not a variable name`},
		{name: "bad --wrapper", flags: func(f *Flags) { f.Wrapper = "trtllm llmapi" },
			want: `--wrapper: "trtllm llmapi" is not a command name`},
		{name: "bad --task-install", flags: func(f *Flags) { f.TaskInstall = "pip install 'x" },
			want: "--task-install: not valid shell: 1:13: reached EOF without closing quote `'`"},
		{name: "SLURM_NTASKS not a number", env: map[string]string{"SLURM_NTASKS": "20(x2)"},
			want: `SLURM_NTASKS: want an integer, got "20(x2)"`},
		{name: "SLURM_NTASKS zero", env: map[string]string{"SLURM_NTASKS": "0"},
			want: `SLURM_NTASKS: want a positive integer, got 0`},
		{name: "SLURM_NTASKS_PER_NODE not a number", env: map[string]string{"SLURM_NTASKS": "", "SLURM_NTASKS_PER_NODE": "four"},
			want: `SLURM_NTASKS_PER_NODE: want an integer, got "four"`},
		{name: "install script without a command", env: map[string]string{"installScript": "''"}, flags: func(f *Flags) { f.InstallPerNode = true },
			want: `installScript: no command in "''"`},
		{name: "install script expands", env: map[string]string{"installScript": "$SRC/install.sh"},
			want: `installScript: line 1: "$SRC/install.sh" is not a plain word: only quoting is allowed, no $, ` + "`" + `, globs, braces or ~`},
		{name: "bad --task-unset-slurm", flags: func(f *Flags) { f.UnsetSlurm = "sometimes" },
			want: `--task-unset-slurm: want auto, always or never, got "sometimes"`},
		{name: "negative --task-install-timeout", flags: func(f *Flags) { f.TaskInstallTimeout = -1e9 },
			want: `--task-install-timeout: want a positive duration or 0 (the default), got -1s`},

		// Config file.
		{name: "config unreadable", flags: func(f *Flags) { f.Config = "missing.yaml" },
			want: `--config: cannot read it: open missing.yaml: file does not exist`},
		{name: "config wrong type", flags: func(f *Flags) { f.Config = "types.yaml" },
			want: `types.yaml: hardware.num_gen_servers: want an integer, got "two"`},
		{name: "config float", flags: func(f *Flags) { f.Config = "float.yaml" },
			want: `float.yaml: hardware.gpus_per_node: want an integer, got 4.5`},
		// The line is the one go.yaml.in/yaml/v3 reports: for this kind of error, the line
		// before the unclosed list.
		{name: "config does not parse", flags: func(f *Flags) { f.Config = "broken.yaml" },
			want: `broken.yaml: not valid YAML: line 1: did not find expected ',' or ']'`},
		{name: "config bad indentation", flags: func(f *Flags) { f.Config = "indent.yaml" },
			want: `indent.yaml: not valid YAML: line 3: mapping values are not allowed in this context`},
		{name: "config not a mapping", flags: func(f *Flags) { f.Config = "list.yaml" },
			want: `list.yaml: want a mapping at the top level, got a list`},
		{name: "config section not a mapping", flags: func(f *Flags) { f.Config = "section.yaml" },
			want: `section.yaml: hardware: want a mapping, got "big"`},
		{name: "config zero tensor parallel", flags: func(f *Flags) { f.Config = "tp.yaml" },
			want: `tp.yaml: worker_config.gen.tensor_parallel_size: want a positive integer, got 0`},
		{name: "config bad concurrency string", flags: func(f *Flags) { f.Config = "conc.yaml" },
			want: `conc.yaml: benchmark.concurrency_list: want positive integers, got "8 x"`},
		{name: "config bad concurrency item", flags: func(f *Flags) { f.Config = "concmap.yaml" },
			want: `concmap.yaml: benchmark.concurrency_list: want positive integers, got a mapping`},
		{name: "config env string not a string", flags: func(f *Flags) { f.Config = "envlist.yaml" },
			want: `envlist.yaml: environment.worker_env_var: want a string, got a list`},
		{name: "config zero GEN servers", env: map[string]string{"numGenServers": ""}, flags: func(f *Flags) { f.Config = "noworker.yaml" },
			want: `noworker.yaml: hardware.num_gen_servers: want at least 1 GEN server, got 0`},

		// Probes.
		{name: "probe without type", flags: func(f *Flags) { f.Probes = []string{"GEN_*=//x:80"} },
			want: `--probe "GEN_*=//x:80": unknown probe type "//x": want http, tcp, file or log`},
		{name: "probe target not a URL", flags: func(f *Flags) { f.Probes = []string{"GEN_*=http://x"} },
			want: `--probe "GEN_*=http://x": http target "//x" is not an http:// or https:// URL`},
		{name: "probe for no role", flags: func(f *Flags) { f.Probes = []string{"CTX_1=tcp:{node}:80"} },
			want: `--probe "CTX_1=tcp:{node}:80": role pattern "CTX_1" matches no role of this plan`},
		{name: "probe in DISAGG_PROBES", env: map[string]string{"DISAGG_PROBES": "GEN_0=file:/x; BENCHMARK"},
			want: `DISAGG_PROBES entry "BENCHMARK": want ROLE=TYPE:TARGET[@TIMEOUT], e.g. GEN_*=http:http://{node}:8000/health@20m`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := contractEnv()
			for k, v := range tt.env {
				if v == "" {
					delete(env, k)
				} else {
					env[k] = v
				}
			}
			var f Flags
			if tt.flags != nil {
				tt.flags(&f)
			}
			_, err := Build(Sources{Flags: f, Getenv: getenv(env), ReadFile: readFiles(files)})
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v (%T), want an *InputError", err, err)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error\n got: %s\nwant: %s", got, tt.want)
			}
		})
	}
}

// TestInputErrorOneLine checks that a message never spans lines, whatever the input holds.
func TestInputErrorOneLine(t *testing.T) {
	e := &InputError{Input: "a\nb", Problem: "c\r\nd\te"}
	if got, want := e.Error(), "a b: c  d e"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	_, err := Build(Sources{Flags: Flags{Nodelist: "n[1-2]\n,x["}})
	if err == nil || len(err.Error()) == 0 {
		t.Fatal("want an error")
	}
	for _, c := range err.Error() {
		if c == '\n' || c == '\r' {
			t.Fatalf("error has a line break: %q", err)
		}
	}
}

// BenchmarkBuild plans 4,096 nodes with 1,024 GEN servers (3 nodes each) and 1,024 CTX servers.
func BenchmarkBuild(b *testing.B) {
	src := Sources{
		Flags: Flags{
			Nodelist: "node[0001-4096]", GPUsPerNode: ptr(4),
			NumGen: ptr(1024), NodesPerGen: ptr(3), NumCtx: ptr(1024), NodesPerCtx: ptr(1),
			Command: testBase, Workspace: "/ws", SrunArgs: containerFlags,
		},
		Unique: "1",
	}
	for b.Loop() {
		p, err := Build(src)
		if err != nil {
			b.Fatal(err)
		}
		if len(p.Roles) != 2050 {
			b.Fatalf("%d roles", len(p.Roles))
		}
	}
}

// TestEmptySrunArgs: what `printf '%q\n' "${srunArgs[@]}"` writes for an empty array is no arguments;
// an empty word among others is an error.
func TestEmptySrunArgs(t *testing.T) {
	files := map[string]string{"empty.txt": "''\n", "hole.txt": "--container-image=x\n''\n"}
	read := func(name string) ([]byte, error) { return []byte(files[name]), nil }
	two, one := 2, 1
	flags := Flags{Nodelist: "n[1-2]", GPUsPerNode: &two, NumGen: &one, NodesPerGen: &one,
		Command: "pytest", Workspace: "/ws", SrunArgsFile: "empty.txt"}
	plan, err := Build(Sources{Flags: flags, ReadFile: read})
	if err != nil {
		t.Fatalf("empty array: %v", err)
	}
	if len(plan.SrunArgs) != 0 || plan.Roles[0].Srun[1] != "--mpi=pmix" {
		t.Errorf("empty array gave user args %q, srun %q", plan.SrunArgs, plan.Roles[0].Srun)
	}
	flags.SrunArgsFile = "hole.txt"
	_, err = Build(Sources{Flags: flags, ReadFile: read})
	want := `--srun-args-file hole.txt: an empty argument: srun would run it as the program`
	if err == nil || err.Error() != want {
		t.Errorf("empty word: got %v, want %s", err, want)
	}
}

// TestTestIDMode checks where the benchmark mode is found in a base command.
func TestTestIDMode(t *testing.T) {
	for _, tt := range []struct {
		cmd  string
		want BenchmarkMode // "" when none is found
	}{
		{"pytest perf/test_perf_sanity.py::test_e2e[disagg_upload-gen_only-deepseek-r1-fp4_1k1k_ctx1_gen2_tep8] -vv", BenchmarkGenOnly},
		{"trtllm-llmapi-launch pytest perf/test_perf_sanity.py::test_e2e[disagg_upload-e2e-tiny] --junit-xml=r.xml", BenchmarkE2E},
		{"pytest 'perf/a.py::test_e2e[p-gen_only-c]'", BenchmarkGenOnly},
		// The older shape, PREFIX-CONFIG: a config name's fields are not the mode.
		{"pytest perf/a.py::test_e2e[disagg_upload-deepseek-gen_only-x]", ""},
		{"pytest perf/a.py::test_e2e[disagg_upload-tiny]", ""},
		{"pytest perf/a.py::test_e2e[-gen_only-c]", ""},
		{"pytest perf/a.py::test_e2e[p-gen_only-]", ""},
		{"pytest perf/a.py::test_e2e[p-gen_only-c", ""},
		{"pytest perf/a.py::Class::test[p-gen_only-c]", BenchmarkGenOnly},
		{"pytest a.py::test[p-x-c] b.py::test[p-gen_only-c]", BenchmarkGenOnly},
		{"pytest a.py::te-st[p-gen_only-c]", ""},
		// A modifier after the mode: the mode is still the second field.
		{"pytest perf/test_perf_sanity.py::test_e2e[disagg_upload-e2e-time_breakdown-gb300_deepseek-r1-fp4_1k1k] -vv", BenchmarkE2E},
		{"pytest perf/test_perf_sanity.py::test_e2e[disagg_upload-gen_only-time_breakdown-gb300_x-con1]", BenchmarkGenOnly},
		// The aggregated gen-only-no-context id names no benchmark mode of a disaggregated test.
		{"pytest perf/test_perf_sanity.py::test_e2e[aggr_upload-gen_only_no_context-gb300_deepseek-r1-fp4_8k1k]", ""},
		{"pytest a.py::test[aggr_upload-gen_only_no_context-c] b.py::test[p-e2e-time_breakdown-c]", BenchmarkE2E},
		{"python serve.py", ""},
		{"", ""},
	} {
		got, ok := testIDMode(tt.cmd)
		if ok != (tt.want != "") || got != tt.want {
			t.Errorf("testIDMode(%q) = %q, %v; want %q", tt.cmd, got, ok, tt.want)
		}
	}
}

// TestParseTestID checks how the bracketed part of a test id splits, with and without the modifier
// between its mode and its config name.
func TestParseTestID(t *testing.T) {
	for _, tt := range []struct {
		id   string
		want testID
		ok   bool
	}{
		{"disagg_upload-e2e-gb300_deepseek-r1-fp4_1k1k_con1_ctx1_gen1", testID{prefix: "disagg_upload", mode: "e2e", config: "gb300_deepseek-r1-fp4_1k1k_con1_ctx1_gen1"}, true},
		{"disagg_upload-e2e-time_breakdown-gb300_deepseek-r1-fp4_1k1k", testID{prefix: "disagg_upload", mode: "e2e", modifier: "time_breakdown", config: "gb300_deepseek-r1-fp4_1k1k"}, true},
		{"disagg_upload-gen_only-time_breakdown-gb300_x-server_a", testID{prefix: "disagg_upload", mode: "gen_only", modifier: "time_breakdown", config: "gb300_x-server_a"}, true},
		{"aggr_upload-gen_only_no_context-gb300_deepseek-r1-fp4_8k1k", testID{prefix: "aggr_upload", mode: "gen_only_no_context", config: "gb300_deepseek-r1-fp4_8k1k"}, true},
		// A config name that is the modifier's word, with nothing after it, is a config name.
		{"disagg_upload-e2e-time_breakdown", testID{prefix: "disagg_upload", mode: "e2e", config: "time_breakdown"}, true},
		{"disagg_upload-e2e-time_breakdown-", testID{prefix: "disagg_upload", mode: "e2e", config: "time_breakdown-"}, true},
		// Only the known modifier is one; another word is the config name's first field.
		{"disagg_upload-e2e-breakdown-x", testID{prefix: "disagg_upload", mode: "e2e", config: "breakdown-x"}, true},
		// The older shape: the "mode" is the config name's first field, which the caller refuses.
		{"disagg_upload-deepseek-r1", testID{prefix: "disagg_upload", mode: "deepseek", config: "r1"}, true},
		{"disagg_upload-tiny", testID{}, false},
		{"-e2e-c", testID{}, false},
		{"p--c", testID{}, false},
		{"p-e2e-", testID{}, false},
		{"", testID{}, false},
	} {
		got, ok := parseTestID(tt.id)
		if ok != tt.ok || got != tt.want {
			t.Errorf("parseTestID(%q) = %+v, %v; want %+v, %v", tt.id, got, ok, tt.want, tt.ok)
		}
	}
}

// TestBuildBounds checks that a runaway request is refused at once, naming the input, where it once
// took gigabytes and minutes to plan, and that the largest plan within the bounds stays fast.
func TestBuildBounds(t *testing.T) {
	base := func() Flags {
		return Flags{GPUsPerNode: ptr(4), NodesPerGen: ptr(1), Command: "pytest x", Workspace: "/ws"}
	}
	big := strings.Repeat("x", MaxInputFile+1)
	for _, tt := range []struct {
		name  string
		flags func(*Flags)
		want  string
	}{
		{"2^20 nodes and as many GEN servers", func(f *Flags) { f.Nodelist, f.NumGen = "n[1-1048576]", ptr(1<<20) },
			`--nodelist: 1048576 nodes: more than 16384, the most one plan takes`},
		{"as many GEN servers as nodes allow", func(f *Flags) { f.Nodelist, f.NumGen = "n[1-16384]", ptr(16384) },
			`layout: 16384 GEN and CTX servers (16384 GEN x 1): more than 2048, the most one plan takes`},
		{"config over the bound", func(f *Flags) { f.Nodelist, f.NumGen, f.Config = "n1", ptr(1), "big" },
			`--config: "big" is larger than 4 MiB, which no config or argument file is (is it the right file?)`},
		{"srun arguments over the bound", func(f *Flags) { f.Nodelist, f.NumGen, f.SrunArgsFile = "n1", ptr(1), "big" },
			`--srun-args-file: "big" is larger than 4 MiB, which no config or argument file is (is it the right file?)`},
		{"too many pre-flight checks", func(f *Flags) {
			f.Nodelist, f.NumGen = "n1", ptr(1)
			for i := range 65 {
				f.Preflight = append(f.Preflight, fmt.Sprintf("c%d=true", i))
			}
		}, `DISAGG_PREFLIGHT / --preflight: 65 checks: more than 64, the most one plan takes`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := base()
			tt.flags(&f)
			start := time.Now()
			_, err := Build(Sources{Flags: f, ReadFile: readFiles(map[string]string{"big": big})})
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error\n got: %v\nwant: %s", err, tt.want)
			}
			// Milliseconds in fact; generous for the race detector on a loaded machine. The
			// unbounded plan took minutes.
			if d := time.Since(start); d > time.Second {
				t.Errorf("refused after %s", d)
			}
		})
	}

	f := base()
	f.Nodelist, f.NumGen, f.NodesPerGen = "n[1-16384]", ptr(1024), ptr(16)
	start := time.Now()
	p, err := Build(Sources{Flags: f})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Roles) != 1026 {
		t.Errorf("%d roles, want 1026", len(p.Roles))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the largest plan took %s", d)
	}
}
