package roles

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"
)

func TestSmoke(t *testing.T) {
	env := map[string]string{
		"SLURM_JOB_ID": "4242", "SLURM_JOB_NODELIST": "gpu-a[01-03],gpu-b[7-8]", "SLURM_JOB_NUM_NODES": "5",
		"gpusPerNode": "4", "numGenServers": "2", "numCtxServers": "1", "nodesPerGenServer": "2", "gpusPerNodePerGenServer": "4",
		"nodesPerCtxServer": "1", "gpusPerNodePerCtxServer": "2",
		"pytestCommand": "trtllm-llmapi-launch pytest perf/test_perf_sanity.py::test_e2e[disagg_upload-x] -vv --junit-xml=/ws/results.xml",
		"jobWorkspace": "/ws", "HF_TOKEN": "x",
	}
	p, err := Build(Sources{Getenv: func(k string) string { return env[k] }, Unique: "77", Flags: Flags{SrunArgs: []string{"--container-image=img"}, Probes: []string{"GEN_*=http:http://{node}:8000/health@5m"}}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.MarshalIndent(p, "", "  ")
	fmt.Println(string(b))
	WriteTable(os.Stdout, p)
}
