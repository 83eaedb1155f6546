package roles

import (
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/disagg-supervisor/disagg-supervisor/taskopts"
)

const aggBase = "trtllm-llmapi-launch pytest perf/test_perf_sanity.py::test_e2e[aggr_upload-deepseek_r1_fp4] -vv --junit-xml=/lustre/ws/results.xml"

// aggregatedEnv is what today's generator exports for an aggregated test of 2 nodes x 4 GPUs on the
// 5-node test allocation: no numGenServers, gpusPerNodePerServer, totalNodes and world_size.
func aggregatedEnv() map[string]string {
	env := slurmEnv()
	maps.Copy(env, map[string]string{
		"SLURM_GPUS_ON_NODE":   "4",
		"jobWorkspace":         "/lustre/ws/agg",
		"testOutputDir":        "/lustre/ws/agg/out",
		"pytestCommand":        aggBase,
		"installScript":        "/lustre/src/install.sh",
		"gpusPerNodePerServer": "4",
		"totalNodes":           "2",
		"world_size":           "8",
	})
	return env
}

// aggConfig is a perf-sanity config of the aggregated shape: two server configurations run one after
// the other in the same step, the larger one needing 8 GPUs.
const aggConfigYAML = `
hardware:
  gpus_per_node: 4
server_configs:
  - name: small
    tensor_parallel_size: 4
  - name: large
    tensor_parallel_size: 4
    pipeline_parallel_size: 2
    client_configs:
      - concurrency: 8
`

// TestBuildAggregatedFromEnv is the aggregated contract: one SERVER over the first totalNodes nodes,
// shaped as today's aggregated launch shapes its step, after the install step.
func TestBuildAggregatedFromEnv(t *testing.T) {
	p, err := Build(Sources{Getenv: getenv(aggregatedEnv()), Unique: "99"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Mode != ModeAggregated || p.GPUsPerNode != 4 || p.GenOnlyNoContext {
		t.Errorf("mode %q gpus/node %d gen-only %v, want aggregated, 4, false", p.Mode, p.GPUsPerNode, p.GenOnlyNoContext)
	}
	if p.Install == nil || p.Install.Command != "/lustre/src/install.sh" {
		t.Errorf("install step %+v, want the install script over the job", p.Install)
	}
	task := taskopts.Defaults()
	task.Role, task.Kind, task.CoordDir = "SERVER", "aggregated", p.CoordDir
	want := []Role{{
		Name: "SERVER", Kind: KindAggregated,
		Nodes: []string{"gpu-a01", "gpu-a02"}, NTasks: 8, NTasksPerNode: 4,
		Command: aggBase,
		Env: map[string]string{
			"DISAGG_SERVING_TYPE":    "SERVER",
			"pytestCommand":          aggBase,
			"NVIDIA_IMEX_CHANNELS":   "0",
			"NVIDIA_VISIBLE_DEVICES": "0,1,2,3",
			"TRTLLM_PERF_RUN_TOKEN":  "4242.0.99",
			"jobWorkspace":           "/lustre/ws/agg",
			"testOutputDir":          "/lustre/ws/agg/out",
			"world_size":             "8",
		},
		Srun: concat([]string{"srun", "--mpi=pmix", "--kill-on-bad-exit=1", "-N", "2", "-w", "gpu-a[01-02]",
			"--ntasks=8", "--ntasks-per-node=4", p.TaskBinary, "task"}, task.Args()),
		Log: "/lustre/ws/agg/out/aggregated_server.log",
	}}
	if diff := cmp.Diff(want, p.Roles); diff != "" {
		t.Errorf("roles (-want +got):\n%s", diff)
	}
	if !p.FollowsOutput(p.Roles[0]) {
		t.Error("the SERVER's output is not followed into the supervisor's stdout")
	}
	i := slices.Index(p.Roles[0].Srun, "task")
	got, err := taskopts.Parse(p.Roles[0].Srun[i+1:])
	if err != nil || got.Kind != taskopts.KindAggregated {
		t.Errorf("the task parses its argv as %+v (%v), want kind aggregated", got, err)
	}
}

// TestBuildAggregatedShapes checks where each value of the layout comes from: flags over the
// environment over the config, then the whole allocation.
func TestBuildAggregatedShapes(t *testing.T) {
	files := map[string]string{"agg.yaml": aggConfigYAML}
	for _, tt := range []struct {
		name     string
		env      map[string]string // over aggregatedEnv; "" deletes
		flags    func(*Flags)
		nodes    []string
		ntasks   int
		perNode  int
		log      string
		genOnly  bool
		gpusNode int
	}{
		{name: "world_size defaults to nodes x ranks per node", env: map[string]string{"world_size": ""},
			nodes: []string{"gpu-a01", "gpu-a02"}, ntasks: 8, perNode: 4, gpusNode: 4},
		{name: "world_size below the capacity", env: map[string]string{"world_size": "6"},
			nodes: []string{"gpu-a01", "gpu-a02"}, ntasks: 6, perNode: 4, gpusNode: 4},
		{name: "flags win", flags: func(f *Flags) { f.TotalNodes, f.GPUsPerNodePerServer, f.WorldSize = ptr(3), ptr(2), ptr(5) },
			nodes: []string{"gpu-a01", "gpu-a02", "gpu-a03"}, ntasks: 5, perNode: 2, gpusNode: 4},
		{name: "no GPUs from Slurm: the SERVER's ranks per node", env: map[string]string{"SLURM_GPUS_ON_NODE": "", "gpusPerNodePerServer": "2", "world_size": ""},
			nodes: []string{"gpu-a01", "gpu-a02"}, ntasks: 4, perNode: 2, gpusNode: 2},
		{name: "gen-only output goes to gen_server_0.log", env: map[string]string{"TRTLLM_DISAGG_BENCHMARK_GEN_ONLY": "1"},
			nodes: []string{"gpu-a01", "gpu-a02"}, ntasks: 8, perNode: 4, log: "gen_server_0.log", genOnly: true, gpusNode: 4},
		{name: "--mode aggregated alone takes the whole allocation",
			env:   map[string]string{"gpusPerNodePerServer": "", "totalNodes": "", "world_size": ""},
			flags: func(f *Flags) { f.Mode = ModeAggregated },
			nodes: []string{"gpu-a01", "gpu-a02", "gpu-a03", "gpu-b7", "gpu-b8"}, ntasks: 20, perNode: 4, gpusNode: 4},
		{name: "config of the aggregated shape: its largest world",
			env:   map[string]string{"gpusPerNodePerServer": "", "totalNodes": "", "world_size": "", "SLURM_GPUS_ON_NODE": ""},
			flags: func(f *Flags) { f.Config = "agg.yaml" },
			nodes: []string{"gpu-a01", "gpu-a02"}, ntasks: 8, perNode: 4, gpusNode: 4},
		{name: "config and exports: the exports win",
			env:   map[string]string{"world_size": ""},
			flags: func(f *Flags) { f.Config = "agg.yaml"; f.TotalNodes = ptr(4) },
			nodes: []string{"gpu-a01", "gpu-a02", "gpu-a03", "gpu-b7"}, ntasks: 8, perNode: 4, gpusNode: 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := aggregatedEnv()
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
			p, err := Build(Sources{Flags: f, Getenv: getenv(env), ReadFile: readFiles(files)})
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Roles) != 1 {
				t.Fatalf("roles %+v, want one SERVER", p.Roles)
			}
			r := p.Roles[0]
			log := "aggregated_server.log"
			if tt.log != "" {
				log = tt.log
			}
			if !slices.Equal(r.Nodes, tt.nodes) || r.NTasks != tt.ntasks || r.NTasksPerNode != tt.perNode ||
				r.Log != "/lustre/ws/agg/out/"+log || p.GPUsPerNode != tt.gpusNode {
				t.Errorf("SERVER on %v, %d tasks (%d/node), log %s, gpus/node %d; want %v, %d (%d/node), %s, %d",
					r.Nodes, r.NTasks, r.NTasksPerNode, r.Log, p.GPUsPerNode, tt.nodes, tt.ntasks, tt.perNode, log, tt.gpusNode)
			}
			if p.GenOnlyNoContext != tt.genOnly || p.FollowsOutput(r) == tt.genOnly {
				t.Errorf("gen-only %v, output followed %v; want gen-only %v", p.GenOnlyNoContext, p.FollowsOutput(r), tt.genOnly)
			}
			if tt.genOnly && r.Env["TRTLLM_DISAGG_BENCHMARK_GEN_ONLY"] != "1" {
				t.Errorf("gen-only SERVER env %v has no TRTLLM_DISAGG_BENCHMARK_GEN_ONLY=1", r.Env)
			}
			if _, ok := r.Env["numGenServers"]; ok {
				t.Errorf("the SERVER's environment holds numGenServers: %v", r.Env)
			}
			if ws := r.Env["world_size"]; ws != strconv.Itoa(tt.ntasks) {
				t.Errorf("world_size %q in the environment, want %d", ws, tt.ntasks)
			}
			// The config's server_configs list tells the supervisor how many configurations run.
			if want := map[bool]int{true: 2}[f.Config != ""]; p.ServerConfigs != want {
				t.Errorf("server_configs %d, want %d", p.ServerConfigs, want)
			}
		})
	}
}

// TestBuildModeDetection checks that auto tells the two contracts apart and that a disaggregated
// environment still plans as it did.
func TestBuildModeDetection(t *testing.T) {
	files := map[string]string{"agg.yaml": aggConfigYAML, "disagg.yaml": "hardware:\n  num_gen_servers: 2\n"}
	for _, tt := range []struct {
		name  string
		env   map[string]string
		flags func(*Flags)
		want  TestMode
	}{
		{name: "disaggregated contract", env: contractEnv(), want: ModeDisaggregated},
		{name: "aggregated contract", env: aggregatedEnv(), want: ModeAggregated},
		{name: "aggregated flags", env: withDeleted(aggregatedEnv(), "gpusPerNodePerServer", "totalNodes", "world_size"),
			flags: func(f *Flags) { f.TotalNodes = ptr(1) }, want: ModeAggregated},
		{name: "aggregated config", env: withDeleted(aggregatedEnv(), "gpusPerNodePerServer", "totalNodes"),
			flags: func(f *Flags) { f.Config = "agg.yaml" }, want: ModeAggregated},
		{name: "disaggregated config", env: withDeleted(contractEnv(), "numGenServers"),
			flags: func(f *Flags) { f.Config = "disagg.yaml" }, want: ModeDisaggregated},
		{name: "--mode disaggregated over aggregated exports", env: merged(aggregatedEnv(), map[string]string{"numGenServers": "1", "nodesPerGenServer": "2"}),
			flags: func(f *Flags) { f.Mode = ModeDisaggregated }, want: ModeDisaggregated},
		{name: "numGenServers decides the environment", env: merged(aggregatedEnv(), map[string]string{"numGenServers": "1", "nodesPerGenServer": "1", "totalNodes": "1", "world_size": ""}),
			want: ModeDisaggregated},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var f Flags
			if tt.flags != nil {
				tt.flags(&f)
			}
			p, err := Build(Sources{Flags: f, Getenv: getenv(tt.env), ReadFile: readFiles(files)})
			if err != nil {
				t.Fatal(err)
			}
			if p.Mode != tt.want {
				t.Errorf("mode %q, want %q", p.Mode, tt.want)
			}
			if tt.want == ModeDisaggregated && slices.ContainsFunc(p.Roles, func(r Role) bool { return r.Kind == KindAggregated }) {
				t.Errorf("a disaggregated plan has an aggregated role: %+v", p.Roles)
			}
		})
	}
}

func withDeleted(env map[string]string, names ...string) map[string]string {
	for _, n := range names {
		delete(env, n)
	}
	return env
}

func merged(env, more map[string]string) map[string]string {
	for k, v := range more {
		if v == "" {
			delete(env, k)
		} else {
			env[k] = v
		}
	}
	return env
}

// TestBuildAggregatedInputErrors checks the messages of the inputs that cannot make an aggregated
// plan, or that cannot tell which test is meant.
func TestBuildAggregatedInputErrors(t *testing.T) {
	files := map[string]string{
		"agg.yaml":     aggConfigYAML,
		"badlist.yaml": "server_configs: {tensor_parallel_size: 4}\n",
		"badws.yaml":   "server_configs:\n  - world_size: 0\n",
		"baditem.yaml": "server_configs:\n  - 4\n",
		"one.yaml":     "server_configs:\n  - world_size: 1\n",
	}
	for _, tt := range []struct {
		name  string
		env   map[string]string
		flags func(*Flags)
		want  string
	}{
		{name: "neither contract",
			env:  withDeleted(aggregatedEnv(), "gpusPerNodePerServer", "totalNodes"),
			want: `missing input: test mode: --mode, or the inputs of one test: --num-gen, numGenServers or hardware.num_gen_servers (disaggregated); gpusPerNodePerServer and totalNodes, or server_configs in --config (aggregated)`},
		{name: "half the aggregated contract",
			env:  withDeleted(aggregatedEnv(), "totalNodes"),
			want: `missing input: test mode: --mode, or the inputs of one test: --num-gen, numGenServers or hardware.num_gen_servers (disaggregated); gpusPerNodePerServer and totalNodes, or server_configs in --config (aggregated)`},
		{name: "--num-gen with an aggregated config", env: withDeleted(aggregatedEnv(), "gpusPerNodePerServer", "totalNodes"),
			flags: func(f *Flags) { f.NumGen = ptr(1); f.Config = "agg.yaml" },
			want:  `--num-gen / agg.yaml: server_configs: inputs of a disaggregated test (--num-gen) and of an aggregated one (agg.yaml: server_configs): give --mode, or drop the ones of the other test`},
		{name: "--num-gen with the aggregated exports", env: aggregatedEnv(),
			flags: func(f *Flags) { f.NumGen = ptr(1) },
			want:  `--num-gen / gpusPerNodePerServer and totalNodes: inputs of a disaggregated test (--num-gen) and of an aggregated one (gpusPerNodePerServer and totalNodes): give --mode, or drop the ones of the other test`},
		{name: "a disaggregated flag with --mode aggregated", env: aggregatedEnv(),
			flags: func(f *Flags) { f.Mode = ModeAggregated; f.GenCommand = "x" },
			want:  `--gen-command: a disaggregated input, but --mode aggregated runs one SERVER`},
		{name: "an aggregated flag with --mode disaggregated", env: contractEnv(),
			flags: func(f *Flags) { f.Mode = ModeDisaggregated; f.WorldSize = ptr(8) },
			want:  `--world-size: an aggregated input, but --mode disaggregated runs GEN and CTX servers`},
		{name: "--mode disaggregated on an aggregated config: no 1-GPU GEN server", env: withDeleted(aggregatedEnv(), "gpusPerNodePerServer", "totalNodes", "world_size"),
			flags: func(f *Flags) { f.Mode = ModeDisaggregated; f.NumGen = ptr(1); f.Config = "agg.yaml" },
			want:  `missing input: nodes per GEN server: --nodes-per-gen or nodesPerGenServer; or GPUs per GEN server to derive it from: gpusPerGenServer or worker_config.gen.{tensor,pipeline,context}_parallel_size`},
		{name: "unknown mode", env: aggregatedEnv(), flags: func(f *Flags) { f.Mode = "agg" },
			want: `--mode: want auto, disaggregated or aggregated, got "agg"`},
		{name: "too many nodes", env: merged(aggregatedEnv(), map[string]string{"totalNodes": "6", "world_size": ""}),
			want: `layout: needs 6 nodes (aggregated SERVER of 6 nodes x 4 ranks), allocation has 5`},
		{name: "too many ranks per node", env: merged(aggregatedEnv(), map[string]string{"gpusPerNodePerServer": "8"}),
			want: `gpusPerNodePerServer: 8 ranks per node for the SERVER, but nodes have 4 GPUs`},
		{name: "world_size over the capacity", env: merged(aggregatedEnv(), map[string]string{"world_size": "9"}),
			want: `world_size: 9 ranks do not fit on 2 nodes x 4 ranks per node`},
		{name: "world_size under the node count", env: merged(aggregatedEnv(), map[string]string{"world_size": "1"}),
			want: `world_size: 1 ranks cannot cover 2 nodes: every node of the SERVER needs a rank`},
		{name: "the config's world under the node count", env: withDeleted(aggregatedEnv(), "world_size"),
			flags: func(f *Flags) { f.Config = "one.yaml" },
			want:  `one.yaml: server_configs: 1 ranks cannot cover 2 nodes: every node of the SERVER needs a rank`},
		{name: "the config's world over the exported layout", env: merged(aggregatedEnv(), map[string]string{"world_size": "", "totalNodes": "1"}),
			flags: func(f *Flags) { f.Config = "agg.yaml" },
			want:  `agg.yaml: server_configs: 8 ranks do not fit on 1 nodes x 4 ranks per node`},
		{name: "world_size not a number", env: merged(aggregatedEnv(), map[string]string{"world_size": "eight"}),
			want: `world_size: want an integer, got "eight"`},
		{name: "zero totalNodes", env: merged(aggregatedEnv(), map[string]string{"totalNodes": "0"}),
			want: `totalNodes: want a positive integer, got 0`},
		{name: "no command", env: merged(aggregatedEnv(), map[string]string{"pytestCommand": ""}),
			want: `missing input: base command: --command or pytestCommand, the aggregated SERVER's command`},
		{name: "command not shell", env: aggregatedEnv(), flags: func(f *Flags) { f.Command = `pytest "x` },
			want: "--command: not valid shell: 1:8: reached EOF without closing quote `\"`"},
		{name: "command only the wrapper", env: merged(aggregatedEnv(), map[string]string{"pytestCommand": "trtllm-llmapi-launch"}),
			want: `pytestCommand: "trtllm-llmapi-launch" is only the wrapper trtllm-llmapi-launch, with no command after it: the SERVER would launch nothing`},
		{name: "no GPUs per node anywhere", env: withDeleted(aggregatedEnv(), "SLURM_GPUS_ON_NODE", "gpusPerNodePerServer", "totalNodes", "world_size"),
			flags: func(f *Flags) { f.Mode = ModeAggregated },
			want:  `missing input: GPUs per node: --gpus-per-node, SLURM_GPUS_ON_NODE, SLURM_GPUS_PER_NODE, gpusPerNode or hardware.gpus_per_node; or --gpus-per-node-per-server or gpusPerNodePerServer`},
		{name: "server_configs not a list", env: withDeleted(aggregatedEnv(), "gpusPerNodePerServer", "totalNodes"),
			flags: func(f *Flags) { f.Config = "badlist.yaml" },
			want:  `badlist.yaml: server_configs: want a list of server configurations, got a mapping`},
		{name: "server_configs item not a mapping", env: withDeleted(aggregatedEnv(), "gpusPerNodePerServer", "totalNodes"),
			flags: func(f *Flags) { f.Config = "baditem.yaml" },
			want:  `baditem.yaml: server_configs[0]: want a mapping, got 4`},
		{name: "server_configs world_size zero", env: withDeleted(aggregatedEnv(), "gpusPerNodePerServer", "totalNodes"),
			flags: func(f *Flags) { f.Config = "badws.yaml" },
			want:  `badws.yaml: server_configs[0].world_size: want a positive integer, got 0`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var f Flags
			if tt.flags != nil {
				tt.flags(&f)
			}
			_, err := Build(Sources{Flags: f, Getenv: getenv(tt.env), ReadFile: readFiles(files)})
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

// TestWriteTableAggregated checks that the plan table shows the aggregated layout.
func TestWriteTableAggregated(t *testing.T) {
	for _, genOnly := range []bool{false, true} {
		env := aggregatedEnv()
		if genOnly {
			env["TRTLLM_DISAGG_BENCHMARK_GEN_ONLY"] = "1"
		}
		p, err := Build(Sources{Getenv: getenv(env), Unique: "1"})
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := WriteTable(&b, p); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		wantLines := []string{
			"nodes 5 (gpu-a[01-03],gpu-b[7-8]), 2 used  gpus/node 4  benchmark ",
			"mode aggregated: one SERVER of 8 ranks (world_size) on 2 nodes, output to the supervisor's stdout and /lustre/ws/agg/out/aggregated_server.log",
			"SERVER  gpu-a[01-02]  8 (4/node)  " + aggBase,
		}
		if genOnly {
			wantLines[1] = "mode aggregated: one SERVER of 8 ranks (world_size) on 2 nodes, output to /lustre/ws/agg/out/gen_server_0.log only (gen_only_no_context)"
		}
		for _, want := range wantLines {
			if !strings.Contains(out, want) {
				t.Errorf("gen-only %v: table has no %q:\n%s", genOnly, want, out)
			}
		}
	}
}

// TestBuildAggregatedContainerEnv checks that with pyxis options the SERVER's step forwards every
// variable the plan sets into the container, as every disaggregated role's does.
func TestBuildAggregatedContainerEnv(t *testing.T) {
	f := Flags{SrunArgs: containerFlags}
	p, err := Build(Sources{Flags: f, Getenv: getenv(aggregatedEnv()), Unique: "1"})
	if err != nil {
		t.Fatal(err)
	}
	r := p.Roles[0]
	for name := range r.Env {
		if !slices.Contains(r.Srun, "--container-env="+name) {
			t.Errorf("SERVER's srun %q does not forward %s", r.Srun, name)
		}
	}
	if !slices.Equal(r.Srun[1:3], containerFlags) {
		t.Errorf("srun %q does not start with the user's arguments %q", r.Srun, containerFlags)
	}
}

// TestBuildAggregatedPreflight checks the pre-flight phase of an aggregated plan: --preflight checks
// on every node as for any test; no cache-transceiver precheck, which mirrors GEN and CTX servers.
func TestBuildAggregatedPreflight(t *testing.T) {
	env := aggregatedEnv()
	env["ctPrecheckEnabled"] = "1"
	f := Flags{Preflight: []string{"gpus=nvidia-smi -L"}}
	p, err := Build(Sources{Flags: f, Getenv: getenv(env), Unique: "1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Preflight) != 1 || p.Preflight[0].Name != "PREFLIGHT_gpus" || len(p.Preflight[0].Nodes) != 5 {
		t.Errorf("preflight %+v, want PREFLIGHT_gpus on the 5 nodes", p.Preflight)
	}
	if len(p.Precheck) != 0 {
		t.Errorf("precheck %+v, want none in an aggregated test", p.Precheck)
	}
}

// TestBuildAggregatedLiveness: probes and liveness checks apply to the SERVER as to any role; a check
// for a role of the other test is an error, not silently dropped.
func TestBuildAggregatedLiveness(t *testing.T) {
	f := Flags{Probes: []string{"SERVER=tcp:{node}:8000"}, Liveness: []string{"SERVER=http:http://{node}:8000/health@2s/4"}}
	p, err := Build(Sources{Flags: f, Getenv: getenv(aggregatedEnv()), Unique: "1"})
	if err != nil {
		t.Fatal(err)
	}
	server := p.Roles[0]
	if server.Probe == nil || server.Probe.Type != ProbeTCP {
		t.Errorf("SERVER probe %+v, want the tcp probe", server.Probe)
	}
	if server.Liveness == nil || server.Liveness.Type != ProbeHTTP || server.Liveness.PeriodSeconds != 2 || server.Liveness.Failures != 4 {
		t.Errorf("SERVER liveness %+v, want http every 2s, 4 failures", server.Liveness)
	}
	f.Liveness = []string{"DISAGG_SERVER=http:http://{node}:8000/health"}
	if _, err := Build(Sources{Flags: f, Getenv: getenv(aggregatedEnv()), Unique: "1"}); err == nil || !strings.Contains(err.Error(), "DISAGG_SERVER") {
		t.Errorf("liveness of DISAGG_SERVER in an aggregated test: err %v, want one naming DISAGG_SERVER", err)
	}
}
