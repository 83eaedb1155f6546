package roles

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name, yaml  string
		noContext   bool
		queueSize   int
		concurrency []int
		gpusPerGen  int
		gpusPerCtx  int
		workerEnv   string
	}{
		{name: "empty file", yaml: "", queueSize: 1, gpusPerGen: 1, gpusPerCtx: 1},
		{name: "null document", yaml: "~\n", queueSize: 1, gpusPerGen: 1, gpusPerCtx: 1},
		{name: "missing factors are 1", yaml: "worker_config:\n  gen:\n    pipeline_parallel_size: 2\n    context_parallel_size: 3\n",
			queueSize: 1, gpusPerGen: 6, gpusPerCtx: 1},
		// The newest generator takes the mode from the test id; the config's matters only for
		// gen_only_no_context.
		{name: "concurrency as a list", yaml: "benchmark:\n  mode: gen_only_e2e\n  concurrency_list: [4, 32, 8]\n",
			queueSize: 32, concurrency: []int{4, 32, 8}, gpusPerGen: 1, gpusPerCtx: 1},
		{name: "mode gen_only keeps the CTX servers", yaml: "benchmark:\n  mode: gen_only\n", queueSize: 1, gpusPerGen: 1, gpusPerCtx: 1},
		{name: "mode gen_only_no_context", yaml: "benchmark:\n  mode: gen_only_no_context\n", noContext: true, queueSize: 1, gpusPerGen: 1, gpusPerCtx: 1},
		{name: "mode holding gen_only_no_context", yaml: "benchmark:\n  mode: disagg_gen_only_no_context\n", noContext: true, queueSize: 1, gpusPerGen: 1, gpusPerCtx: 1},
		{name: "concurrency as a string", yaml: "benchmark:\n  concurrency_list: '1 64  16'\n",
			queueSize: 64, concurrency: []int{1, 64, 16}, gpusPerGen: 1, gpusPerCtx: 1},
		{name: "concurrency as an integer", yaml: "benchmark:\n  concurrency_list: 12\n",
			queueSize: 12, concurrency: []int{12}, gpusPerGen: 1, gpusPerCtx: 1},
		{name: "null values are absent", yaml: "hardware:\nenvironment:\n  worker_env_var:\nbenchmark:\n  mode: ~\n",
			queueSize: 1, gpusPerGen: 1, gpusPerCtx: 1},
		{name: "anchors and merge keys", yaml: "base: &b\n  tensor_parallel_size: 4\nworker_config:\n  gen:\n    <<: *b\n    pipeline_parallel_size: 2\n  ctx: *b\n",
			queueSize: 1, gpusPerGen: 8, gpusPerCtx: 4},
		{name: "last duplicate key wins, as in PyYAML", yaml: "environment:\n  worker_env_var: A=1\n  worker_env_var: B=2\n",
			queueSize: 1, gpusPerGen: 1, gpusPerCtx: 1, workerEnv: "B=2"},
		{name: "hex integer", yaml: "worker_config:\n  ctx:\n    tensor_parallel_size: 0x10\n", queueSize: 1, gpusPerGen: 1, gpusPerCtx: 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseConfig("c.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			type view struct {
				NoContext              bool
				QueueSize              int
				Concurrency            []int
				GPUsPerGen, GPUsPerCtx int
				WorkerEnv              string
			}
			got := view{c.noContext(), c.queueSize(), c.concurrency, c.gpusPerGen, c.gpusPerCtx, c.workerEnv.v}
			want := view{tt.noContext, tt.queueSize, tt.concurrency, tt.gpusPerGen, tt.gpusPerCtx, tt.workerEnv}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"string for an integer", "hardware:\n  num_gen_servers: two\n", `c.yaml: hardware.num_gen_servers: want an integer, got "two"`},
		{"quoted number", "hardware:\n  num_ctx_servers: \"1\"\n", `c.yaml: hardware.num_ctx_servers: want an integer, got "1"`},
		{"bool for an integer", "hardware:\n  gpus_per_node: true\n", `c.yaml: hardware.gpus_per_node: want an integer, got true`},
		{"list for an integer", "hardware:\n  gpus_per_node: [4]\n", `c.yaml: hardware.gpus_per_node: want an integer, got a list`},
		{"too large", "hardware:\n  gpus_per_node: 99999999999999999999\n", `c.yaml: hardware.gpus_per_node: want an integer, got 99999999999999999999`},
		{"negative factor", "worker_config:\n  ctx:\n    context_parallel_size: -2\n", `c.yaml: worker_config.ctx.context_parallel_size: want a positive integer, got -2`},
		{"product too large", "worker_config:\n  gen:\n    tensor_parallel_size: 1048576\n    pipeline_parallel_size: 2\n", `c.yaml: worker_config.gen: tensor x pipeline x context parallel size is more than 1048576 GPUs`},
		{"section is a list", "worker_config:\n  - gen\n", `c.yaml: worker_config: want a mapping, got a list`},
		{"nested section is a string", "worker_config:\n  gen: big\n", `c.yaml: worker_config.gen: want a mapping, got "big"`},
		{"mode is a mapping", "benchmark:\n  mode: {a: 1}\n", `c.yaml: benchmark.mode: want a string, got a mapping`},
		{"zero concurrency", "benchmark:\n  concurrency_list: [0]\n", `c.yaml: benchmark.concurrency_list: want positive integers, got 0`},
		{"tab indentation", "hardware:\n\tgpus_per_node: 4\n", `c.yaml: not valid YAML: line 2: found character that cannot start any token`},
		{"scalar document", "just text\n", `c.yaml: want a mapping at the top level, got "just text"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig("c.yaml", []byte(tt.yaml))
			if err == nil || err.Error() != tt.want {
				t.Errorf("error\n got: %v\nwant: %s", err, tt.want)
			}
		})
	}
}

// TestParseConfigMergeBomb checks that merge keys through aliases cost one visit per mapping: this
// file merges the innermost mapping 10^12 times.
func TestParseConfigMergeBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 {x: 1}\n")
	for i := 1; i <= 12; i++ {
		fmt.Fprintf(&b, "a%d: &a%d {<<: [%s]}\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d,", i-1), 10), ","))
	}
	b.WriteString("hardware: *a12\nworker_config: {gen: *a12, ctx: *a12}\nenvironment: *a12\nbenchmark: *a12\n")
	done := make(chan error, 1)
	go func() {
		_, err := parseConfig("bomb.yaml", []byte(b.String()))
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("parseConfig did not finish")
	}
}
