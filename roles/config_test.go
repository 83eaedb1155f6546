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
		// Other tools' settings in the sections read are left alone, and so are their sections,
		// duplicates included.
		{name: "other tools' keys", yaml: "slurm: {partition: a}\nslurm: {partition: b}\nworker_config:\n  gen:\n    tensor_parallel_size: 2\n" +
			"    moe_tensor_parallel_size: 2\n    moe_expert_parallel_size: 4\n    max_batch_size: 8\n    kv_cache_config: {free_gpu_memory_fraction: 0.8}\n" +
			"  eplb_num_slots: 0\nenvironment:\n  container_image: x\n  model_path: /m\n  work_dir: /w\n  worker_env_var: A=1\n" +
			"benchmark:\n  model: m\n  streaming: true\n  input_length: 1024\n  concurrency_list: 4\n",
			queueSize: 4, concurrency: []int{4}, gpusPerGen: 2, gpusPerCtx: 1, workerEnv: "A=1"},
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

		// A near miss of a key read is a typo that would change the plan without a word.
		{"typo of a parallel size", "worker_config:\n  gen:\n    tensor_paralel_size: 8\n    max_batch_size: 8\n",
			`c.yaml: worker_config.gen.tensor_paralel_size: unknown key; did you mean tensor_parallel_size?`},
		{"transposed letters", "worker_config:\n  ctx:\n    pipeline_parallel_szie: 2\n",
			`c.yaml: worker_config.ctx.pipeline_parallel_szie: unknown key; did you mean pipeline_parallel_size?`},
		{"other case", "worker_config:\n  Gen:\n    tensor_parallel_size: 2\n", `c.yaml: worker_config.Gen: unknown key; did you mean gen?`},
		{"typo of an env string", "environment:\n  worker_env_vars: A=1\n", `c.yaml: environment.worker_env_vars: unknown key; did you mean worker_env_var?`},
		{"typo of a benchmark key", "benchmark:\n  concurency_list: [1]\n", `c.yaml: benchmark.concurency_list: unknown key; did you mean concurrency_list?`},
		{"typo in server_configs", "server_configs:\n  - world_sise: 8\n", `c.yaml: server_configs[0].world_sise: unknown key; did you mean world_size?`},
		// hardware is the layout's alone: every unknown key is refused.
		{"typo in hardware", "hardware:\n  num_gen_server: 2\n", `c.yaml: hardware.num_gen_server: unknown key; did you mean num_gen_servers?`},
		{"unknown hardware key", "hardware:\n  gpus_per_node: 4\n  nvlink: true\n",
			`c.yaml: hardware.nvlink: unknown key: want gpus_per_node, num_gen_servers or num_ctx_servers`},
		// A key given twice: PyYAML keeps the last one without a word.
		{"key twice", "environment:\n  worker_env_var: A=1\n  server_env_var: B=1\n  worker_env_var: B=2\n",
			`c.yaml: environment.worker_env_var: given twice, at lines 2 and 4 (YAML would keep the last one): remove one`},
		{"section twice", "hardware: {gpus_per_node: 4}\nbenchmark: {}\nhardware: {gpus_per_node: 8}\n",
			`c.yaml: hardware: given twice, at lines 1 and 3 (YAML would keep the last one): remove one`},
		{"parallel size twice", "worker_config:\n  gen:\n    tensor_parallel_size: 4\n    tensor_parallel_size: 8\n",
			`c.yaml: worker_config.gen.tensor_parallel_size: given twice, at lines 3 and 4 (YAML would keep the last one): remove one`},
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

func TestClosestKey(t *testing.T) {
	for _, tt := range []struct {
		key  string
		want string // "" for none
	}{
		{"tensor_paralel_size", "tensor_parallel_size"},
		{"TENSOR_PARALLEL_SIZE", "tensor_parallel_size"},
		{"tensor_parallel_sizes", "tensor_parallel_size"},
		{"context_paralel_sizes", "context_parallel_size"},
		{"moe_tensor_parallel_size", ""},
		{"moe_expert_parallel_size", ""},
		{"max_batch_size", ""},
		{"gne", "gen"},
		{"model", ""},
		{"mdoe", "mode"},
		{"ctxs", ""},
	} {
		got, ok := closestKey(tt.key, append(append([]string{}, parallelKeys...), "gen", "ctx", "mode"))
		if !ok {
			got = ""
		}
		if got != tt.want {
			t.Errorf("closestKey(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}
