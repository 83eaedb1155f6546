package roles

import (
	"errors"
	"strings"
	"testing"
)

func TestWriteTable(t *testing.T) {
	env := contractEnv()
	env["pytestCommandBenchmark"] = "HF_TOKEN=hf_secret123 pytest \\\n  b.py"
	p, err := Build(Sources{
		Flags:  Flags{Probes: []string{"GEN_0=http:http://{node}:8000/health@20m"}},
		Getenv: getenv(env),
		Unique: "7",
	})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := WriteTable(&b, p); err != nil {
		t.Fatal(err)
	}
	w := testUnset + " TLLM_LOG_LEVEL=INFO HF_HOME=/tmp/hf " + testBase
	want := `job 4242  restart 0  run token 4242.0.7
nodes 5 (gpu-a[01-03],gpu-b[7-8]), 5 used  gpus/node 4  benchmark e2e
workspace /lustre/ws/disagg  output /lustre/ws/disagg/out
task binary /lustre/ws/disagg/.disagg-supervisor/bin/disagg-supervisor
install /lustre/src/install.sh on every task of the job (20 tasks), log /lustre/ws/disagg/install.log

ROLE           NODES           TASKS       COMMAND
GEN_0          gpu-a[01-02]    8 (4/node)  ` + w + `
GEN_1          gpu-a03,gpu-b7  8 (4/node)  ` + w + `
CTX_0          gpu-b8          2 (2/node)  ` + w + `
DISAGG_SERVER  gpu-a01         1 (1/node)  TLLM_LOG_LEVEL=INFO ` + testNoWrap + `
BENCHMARK      gpu-a01         1 (1/node)  HF_TOKEN=<redacted> pytest \\\n  b.py
probe GEN_0: http http://gpu-a01:8000/health (timeout 20m0s)
`
	if got := b.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteTableError(t *testing.T) {
	p, err := Build(Sources{Getenv: getenv(contractEnv())})
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteTable(failingWriter{}, p); err == nil || err.Error() != "disk full" {
		t.Errorf("error %v, want disk full", err)
	}
}

// TestWriteTableModeAndInstall checks how the header shows the benchmark mode and where the
// install step runs.
func TestWriteTableModeAndInstall(t *testing.T) {
	for _, tt := range []struct {
		name          string
		plan          Plan
		mode, install string
	}{
		{
			name: "e2e, install on the job's tasks",
			plan: Plan{BenchmarkMode: BenchmarkE2E, Install: &Step{Command: "i.sh", Log: "/ws/install.log", NTasks: 8}},
			mode: "benchmark e2e", install: "install i.sh on every task of the job (8 tasks), log /ws/install.log",
		},
		{
			name: "gen_only, install on tasks Slurm decides",
			plan: Plan{BenchmarkMode: BenchmarkGenOnly, Install: &Step{Command: "i.sh", Log: "/ws/install.log"}},
			mode: "benchmark gen_only", install: "install i.sh on every task of the job (as many as Slurm starts), log /ws/install.log",
		},
		{
			name: "no context, install per node",
			plan: Plan{BenchmarkMode: BenchmarkGenOnly, GenOnlyNoContext: true,
				Install: &Step{Command: "i.sh", Log: "/ws/install.log", PerNode: true, NTasks: 2}},
			mode:    "benchmark gen_only, no CTX servers (gen_only_no_context)",
			install: "install i.sh on one task per node (2 tasks), log /ws/install.log",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.plan.Nodes, tt.plan.GPUsPerNode = []string{"n1", "n2"}, 4
			var b strings.Builder
			if err := WriteTable(&b, tt.plan); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(b.String(), "\n")
			if want := "nodes 2 (n[1-2]), 0 used  gpus/node 4  " + tt.mode; lines[1] != want {
				t.Errorf("header line\n got %s\nwant %s", lines[1], want)
			}
			if lines[4] != tt.install {
				t.Errorf("install line\n got %s\nwant %s", lines[4], tt.install)
			}
		})
	}
}
