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
nodes 5 (gpu-a[01-03],gpu-b[7-8]), 5 used  gpus/node 4  gen-only no
workspace /lustre/ws/disagg  output /lustre/ws/disagg/out
task binary /lustre/ws/disagg/.disagg-supervisor/bin/disagg-supervisor
install /lustre/src/install.sh on all 5 nodes, log /lustre/ws/disagg/out/install.log

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
