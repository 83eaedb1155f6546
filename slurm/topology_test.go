package slurm

import (
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// envFunc turns a map into a getenv function; absent names read as "".
func envFunc(env map[string]string) func(string) string {
	return func(name string) string { return env[name] }
}

func TestTopologyFromEnv(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want Topology
	}{
		{
			name: "empty environment leaves everything unset",
			env:  nil,
			want: Topology{},
		},
		{
			name: "full allocation",
			env: map[string]string{
				"SLURM_JOB_ID":        "4242",
				"SLURM_JOB_NODELIST":  "gpu[01-03]",
				"SLURM_JOB_NUM_NODES": "3",
				"SLURM_GPUS_ON_NODE":  "8",
				"SLURM_RESTART_COUNT": "2",
			},
			want: Topology{JobID: "4242", Nodes: []string{"gpu01", "gpu02", "gpu03"}, GPUsPerNode: 8, RestartCount: 2},
		},
		{
			name: "older SLURM_NODELIST",
			env:  map[string]string{"SLURM_NODELIST": "n[1-2]", "SLURM_JOB_NUM_NODES": "2"},
			want: Topology{Nodes: []string{"n1", "n2"}},
		},
		{
			name: "SLURM_JOB_NODELIST wins over SLURM_NODELIST",
			env:  map[string]string{"SLURM_JOB_NODELIST": "a1", "SLURM_NODELIST": "b1"},
			want: Topology{Nodes: []string{"a1"}},
		},
		{
			name: "node count without a node list is not checked",
			env:  map[string]string{"SLURM_JOB_NUM_NODES": "4"},
			want: Topology{},
		},
		{
			name: "GPUs on node wins over GPUs per node",
			env:  map[string]string{"SLURM_GPUS_ON_NODE": "4", "SLURM_GPUS_PER_NODE": "gpu:8", "gpusPerNode": "2"},
			want: Topology{GPUsPerNode: 4},
		},
		{
			name: "typed GPUs per node",
			env:  map[string]string{"SLURM_GPUS_PER_NODE": "gpu:h100:4", "gpusPerNode": "2"},
			want: Topology{GPUsPerNode: 4},
		},
		{
			name: "launch script gpusPerNode as the last resort",
			env:  map[string]string{"gpusPerNode": "2"},
			want: Topology{GPUsPerNode: 2},
		},
		{
			name: "blank values count as missing",
			env:  map[string]string{"SLURM_GPUS_ON_NODE": " ", "SLURM_GPUS_PER_NODE": "4", "SLURM_RESTART_COUNT": ""},
			want: Topology{GPUsPerNode: 4},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := TopologyFromEnv(envFunc(tt.env))
			if err != nil {
				t.Fatalf("TopologyFromEnv: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("TopologyFromEnv mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTopologyFromEnvErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{
			name: "bad node list",
			env:  map[string]string{"SLURM_JOB_NODELIST": "node[1-"},
			want: `SLURM_JOB_NODELIST: hostlist "node[1-": unclosed "["`,
		},
		{
			name: "node count disagrees",
			env:  map[string]string{"SLURM_JOB_NODELIST": "node[1-2]", "SLURM_JOB_NUM_NODES": "3"},
			want: `SLURM_JOB_NUM_NODES="3" but SLURM_JOB_NODELIST="node[1-2]" has 2 nodes`,
		},
		{
			name: "node count disagrees with the older name",
			env:  map[string]string{"SLURM_NODELIST": "node1", "SLURM_JOB_NUM_NODES": "2"},
			want: `SLURM_JOB_NUM_NODES="2" but SLURM_NODELIST="node1" has 1 nodes`,
		},
		{
			name: "node count not a number",
			env:  map[string]string{"SLURM_JOB_NUM_NODES": "two"},
			want: `SLURM_JOB_NUM_NODES="two": not a node count`,
		},
		{
			name: "bad GPUs per node",
			env:  map[string]string{"SLURM_GPUS_PER_NODE": "gpu:x"},
			want: `SLURM_GPUS_PER_NODE="gpu:x": not a GPU count`,
		},
		{
			name: "bad GPUs on node",
			env:  map[string]string{"SLURM_GPUS_ON_NODE": "-1"},
			want: `SLURM_GPUS_ON_NODE="-1": not a GPU count`,
		},
		{
			name: "bad gpusPerNode",
			env:  map[string]string{"gpusPerNode": "eight"},
			want: `gpusPerNode="eight": not a GPU count`,
		},
		{
			name: "bad restart count",
			env:  map[string]string{"SLURM_RESTART_COUNT": "1.5"},
			want: `SLURM_RESTART_COUNT="1.5": not a restart count`,
		},
		{
			name: "every problem is reported",
			env:  map[string]string{"SLURM_JOB_NODELIST": "a,,b", "SLURM_GPUS_ON_NODE": "x", "SLURM_RESTART_COUNT": "y"},
			want: `SLURM_JOB_NODELIST: hostlist "a,,b": empty element at offset 2` + "\n" +
				`SLURM_GPUS_ON_NODE="x": not a GPU count` + "\n" +
				`SLURM_RESTART_COUNT="y": not a restart count`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := TopologyFromEnv(envFunc(tt.env))
			if err == nil {
				t.Fatalf("TopologyFromEnv = %+v, want error %q", got, tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("TopologyFromEnv error:\n got %q\nwant %q", err, tt.want)
			}
		})
	}
}

func TestParseGPUCount(t *testing.T) {
	tests := []struct {
		value string
		want  int
	}{
		{"0", 0},
		{"4", 4},
		{" 8 ", 8},
		{"gpu:4", 4},
		{"h100:4", 4},
		{"gpu:h100:4", 4},
		{"gpu:4(IDX:0-3)", 4},
		{"gpu:h100:2(IDX:0,2)", 2},
		{"gpu:a100:2,gpu:v100:1", 3},
		{"gpu:a100:2(IDX:0-1),gpu:v100:1(IDX:2)", 3},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			got, err := ParseGPUCount(tt.value)
			if err != nil {
				t.Fatalf("ParseGPUCount(%q): %v", tt.value, err)
			}
			if got != tt.want {
				t.Errorf("ParseGPUCount(%q) = %d, want %d", tt.value, got, tt.want)
			}
		})
	}
}

func TestParseGPUCountErrors(t *testing.T) {
	for _, value := range []string{
		"", "x", "gpu:x", "gpu:", ":4", "gpu::4", "gpu:h100:sxm:4", "-1", "4.0",
		"gpu:4(IDX:0-3", "gpu:4)", "gpu:4(IDX)x", "4,", ",4", "99999999999999999999",
		"gpu:9223372036854775807,gpu:1",
	} {
		t.Run(value, func(t *testing.T) {
			got, err := ParseGPUCount(value)
			if err == nil {
				t.Fatalf("ParseGPUCount(%q) = %d, want an error", value, got)
			}
			if want := `"` + value + `": not a GPU count`; err.Error() != want {
				t.Errorf("ParseGPUCount(%q) error = %q, want %q", value, err, want)
			}
		})
	}
}

// TestTopologyFromEnvWithout checks that an overridden part is neither read nor judged: its broken
// variables do not fail the topology, and the other parts are read as usual.
func TestTopologyFromEnvWithout(t *testing.T) {
	env := map[string]string{
		"SLURM_JOB_NODELIST":  "gpu[01-",
		"SLURM_JOB_NUM_NODES": "x",
		"SLURM_GPUS_ON_NODE":  "four",
		"SLURM_JOB_ID":        "42",
		"SLURM_RESTART_COUNT": "2",
	}
	getenv := func(name string) string { return env[name] }
	if _, err := TopologyFromEnvWithout(getenv, Overridden{}); err == nil {
		t.Fatal("want the broken variables refused without overrides")
	}
	topo, err := TopologyFromEnvWithout(getenv, Overridden{Nodes: true, GPUsPerNode: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Topology{JobID: "42", RestartCount: 2}); !reflect.DeepEqual(topo, want) {
		t.Errorf("topology %+v, want %+v", topo, want)
	}
	topo, err = TopologyFromEnvWithout(getenv, Overridden{Nodes: true, GPUsPerNode: true, JobID: true, RestartCount: true})
	if err != nil || !reflect.DeepEqual(topo, Topology{}) {
		t.Errorf("topology %+v, %v; want nothing read", topo, err)
	}
}
