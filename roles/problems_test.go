package roles

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestBuildAllProblems checks that Build reports every missing or bad input that does not depend on
// another one in one go, one *InputError each, in the order a plan resolves them, and leaves out
// what depends on a missing value.
func TestBuildAllProblems(t *testing.T) {
	const (
		nodelist  = "missing input: node list: --nodelist, SLURM_JOB_NODELIST or SLURM_NODELIST"
		testMode  = "missing input: test mode: --mode, or the inputs of one test: --num-gen, numGenServers or hardware.num_gen_servers (disaggregated); gpusPerNodePerServer and totalNodes, or server_configs in --config (aggregated)"
		gpus      = "missing input: GPUs per node: --gpus-per-node, SLURM_GPUS_ON_NODE, SLURM_GPUS_PER_NODE, gpusPerNode or hardware.gpus_per_node"
		numGen    = "missing input: GEN servers: --num-gen, numGenServers or hardware.num_gen_servers"
		genNodes  = "missing input: nodes per GEN server: --nodes-per-gen or nodesPerGenServer; or GPUs per GEN server to derive it from: gpusPerGenServer or worker_config.gen.{tensor,pipeline,context}_parallel_size"
		ctxNodes  = "missing input: nodes per CTX server: --nodes-per-ctx or nodesPerCtxServer; or GPUs per CTX server to derive it from: gpusPerCtxServer or worker_config.ctx.{tensor,pipeline,context}_parallel_size"
		workspace = "missing input: workspace: --workspace or jobWorkspace"
		base      = "missing input: base command: --command or pytestCommand, to derive the GEN, DISAGG_SERVER and BENCHMARK commands from (or give the role commands)"
	)
	tests := []struct {
		name  string
		env   map[string]string
		flags func(*Flags)
		files map[string]string
		want  []string
	}{
		{name: "empty environment", want: []string{nodelist, testMode, gpus, genNodes, workspace, base}},
		{name: "disaggregated by flag", flags: func(f *Flags) { f.Mode = ModeDisaggregated },
			want: []string{nodelist, gpus, numGen, genNodes, workspace, base}},
		{name: "GEN count only", flags: func(f *Flags) { f.NumGen = ptr(2) },
			want: []string{nodelist, gpus, genNodes, workspace, base}},
		{name: "CTX servers too", env: map[string]string{"numCtxServers": "1"}, flags: func(f *Flags) { f.NumGen = ptr(2) },
			want: []string{nodelist, gpus, genNodes, ctxNodes, workspace,
				"missing input: base command: --command or pytestCommand, to derive the GEN, CTX, DISAGG_SERVER and BENCHMARK commands from (or give the role commands)"}},
		// GPUs per server known, GPUs per node not: the nodes they need are derived from both, so
		// they are not judged.
		{name: "derived sizes wait for GPUs per node", env: map[string]string{"numGenServers": "1", "gpusPerGenServer": "8", "SLURM_JOB_NODELIST": "n[1-4]"},
			want: []string{gpus, workspace, base}},
		{name: "aggregated", flags: func(f *Flags) { f.Mode = ModeAggregated },
			want: []string{nodelist,
				"missing input: GPUs per node: --gpus-per-node, SLURM_GPUS_ON_NODE, SLURM_GPUS_PER_NODE, gpusPerNode or hardware.gpus_per_node; or --gpus-per-node-per-server or gpusPerNodePerServer",
				workspace, "missing input: base command: --command or pytestCommand, the aggregated SERVER's command"}},
		// Bad values are listed with the missing ones.
		{name: "bad and missing", env: map[string]string{"numGenServers": "two", "testOutputDir": "out"}, flags: func(f *Flags) { f.MPI = "pmix v5"; f.Nodelist = "n[1-4]" },
			want: []string{gpus, `numGenServers: want an integer, got "two"`, genNodes, workspace, `testOutputDir: "out" is not an absolute path`,
				`--mpi: "pmix v5" is not an MPI type`, base}},
		// A broken Slurm environment makes its values unknown, not missing.
		{name: "malformed Slurm environment", env: map[string]string{"SLURM_JOB_NODELIST": "gpu[01-", "numGenServers": "1"},
			want: []string{`environment: SLURM_JOB_NODELIST: hostlist "gpu[01-": unclosed "["`, genNodes, workspace, base}},
		// A config that does not parse hides what it would give: the layout is not judged.
		{name: "broken config", files: map[string]string{"c.yaml": "hardware: [1\n"}, flags: func(f *Flags) { f.Config = "c.yaml" },
			want: []string{nodelist, "c.yaml: not valid YAML: line 1: did not find expected ',' or ']'", workspace}},
		// Inputs of both tests: which layout to judge is unknown.
		{name: "both tests", env: map[string]string{"gpusPerNodePerServer": "4", "totalNodes": "2"}, flags: func(f *Flags) { f.NumGen = ptr(1) },
			want: []string{nodelist, "--num-gen / gpusPerNodePerServer and totalNodes: inputs of a disaggregated test (--num-gen) and of an aggregated one (gpusPerNodePerServer and totalNodes): give --mode, or drop the ones of the other test", workspace}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f Flags
			if tt.flags != nil {
				tt.flags(&f)
			}
			_, err := Build(Sources{Flags: f, Getenv: getenv(tt.env), ReadFile: readFiles(tt.files)})
			if err == nil {
				t.Fatal("Build succeeded, want problems")
			}
			var got []string
			var many InputErrors
			if errors.As(err, &many) {
				for _, p := range many {
					got = append(got, p.Error())
				}
			} else {
				var one *InputError
				if !errors.As(err, &one) {
					t.Fatalf("error %v (%T), want input errors", err, err)
				}
				got = []string{one.Error()}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			if line := err.Error(); strings.ContainsAny(line, "\n\r") || line != strings.Join(got, "; ") {
				t.Errorf("Error() = %q, want the problems on one line", line)
			}
		})
	}
}

// TestInputNames checks that every input a message looks up is in Inputs, once.
func TestInputNames(t *testing.T) {
	seen := map[string]bool{}
	for _, in := range Inputs() {
		if seen[in.Name] {
			t.Errorf("input %q listed twice", in.Name)
		}
		seen[in.Name] = true
	}
	for _, name := range []string{inNodelist, inGPUsPerNode, inTestMode, inNumGen, inNodesPerGen, inNodesPerCtx,
		inGPUsPerGen, inGPUsPerCtx, inWorkspace, inBaseCommand, inServerPerNode} {
		if !seen[name] {
			t.Errorf("input %q is looked up but not in Inputs", name)
		}
	}
}

// TestInputsCoverFlags checks that Inputs lists every flag of Flags once, and no other flag, so that
// the reference made from it cannot leave an input out.
func TestInputsCoverFlags(t *testing.T) {
	flags := map[string]bool{}
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		for f := range typ.Fields() {
			if f.Anonymous {
				walk(f.Type)
				continue
			}
			if name := f.Tag.Get("name"); name != "" {
				flags["--"+name] = true
			}
		}
	}
	walk(reflect.TypeFor[Flags]())
	listed := map[string]bool{}
	for _, in := range Inputs() {
		if in.Flag == "" {
			continue
		}
		if !flags[in.Flag] {
			t.Errorf("input %q names %s, which is not a flag of Flags", in.Name, in.Flag)
		}
		if listed[in.Flag] {
			t.Errorf("flag %s is the flag of two inputs", in.Flag)
		}
		listed[in.Flag] = true
	}
	for flag := range flags {
		if !listed[flag] {
			t.Errorf("flag %s is in no input of Inputs", flag)
		}
	}
}
