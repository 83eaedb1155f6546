package roles

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/disagg-supervisor/disagg-supervisor/redact"
	"github.com/google/go-cmp/cmp"
)

// ngcKey is shaped as an NVIDIA API key: masked wherever it appears, whatever its name.
var ngcKey = "nvapi-" + strings.Repeat("Zx8-", 16)

func TestRedacted(t *testing.T) {
	env := contractEnv()
	env["pytestCommandGENWorker"] = `HF_TOKEN="hf_abcdef" API_KEY=k3y-value pytest g.py`
	env["pytestCommandDisaggServer"] = "export DB_PASSWORD='s3cr3t pw'; GH_PAT=p4t-value pytest s.py --ngc " + ngcKey
	p, err := Build(Sources{Flags: Flags{SrunArgs: []string{"--container-image=x"}}, Getenv: getenv(env)})
	if err != nil {
		t.Fatal(err)
	}
	// A secret that reaches a role by its environment, as a caller may add one.
	p.Roles[2].Env["HF_TOKEN"] = "hf_fromenv"
	p.Roles[2].Command = "pytest --token hf_fromenv c.py"

	orig, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	r := p.Redacted()
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"hf_abcdef", "k3y-value", "s3cr3t", "hf_fromenv", "p4t-value", ngcKey} {
		if strings.Contains(string(out), secret) {
			t.Errorf("redacted plan still holds %q", secret)
		}
		if !strings.Contains(string(orig), secret) {
			t.Errorf("test setup: plan never held %q", secret)
		}
	}
	if got := r.Roles[2].Env["HF_TOKEN"]; got != redact.Mask {
		t.Errorf("HF_TOKEN = %q, want %q", got, redact.Mask)
	}
	if got, want := r.Roles[0].Command, `HF_TOKEN=<redacted> API_KEY=<redacted> pytest g.py`; got != want {
		t.Errorf("GEN_0 command %q, want %q", got, want)
	}
	if got := r.Roles[0].Env["pytestCommand"]; got != r.Roles[0].Command {
		t.Errorf("pytestCommand env not redacted like the command: %q", got)
	}
	if got, want := r.Roles[3].Command, "export DB_PASSWORD=<redacted>; GH_PAT=<redacted> pytest s.py --ngc <redacted>"; got != want {
		t.Errorf("server command %q, want %q", got, want)
	}
	if got, want := r.Roles[2].Command, "pytest --token <redacted> c.py"; got != want {
		t.Errorf("CTX_0 command %q, want %q", got, want)
	}
	// The table prints the redacted plan.
	var table strings.Builder
	if err := WriteTable(&table, p); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"p4t-value", ngcKey, "hf_fromenv"} {
		if strings.Contains(table.String(), secret) {
			t.Errorf("plan table shows %q", secret)
		}
	}
	if !strings.Contains(table.String(), "--ngc <redacted>") {
		t.Errorf("plan table lacks the server's masked command:\n%s", table.String())
	}
	// The run token names no credential and stays visible.
	if r.Roles[0].Env["TRTLLM_PERF_RUN_TOKEN"] != p.RunToken {
		t.Errorf("run token masked: %q", r.Roles[0].Env["TRTLLM_PERF_RUN_TOKEN"])
	}

	// A deep copy: the original is untouched, and changing the copy does not reach it.
	again, _ := json.Marshal(p)
	if string(again) != string(orig) {
		t.Error("Redacted changed the original plan")
	}
	r.Roles[0].Nodes[0], r.Roles[0].Srun[0], r.Nodes[0] = "x", "x", "x"
	r.Install.Srun[0] = "x"
	if p.Roles[0].Nodes[0] == "x" || p.Roles[0].Srun[0] == "x" || p.Nodes[0] == "x" || p.Install.Srun[0] == "x" {
		t.Error("Redacted shares slices with the original")
	}

	// Without secrets nothing changes.
	clean, err := Build(Sources{Getenv: getenv(contractEnv())})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(clean, clean.Redacted()); diff != "" {
		t.Errorf("redaction changed a plan without secrets:\n%s", diff)
	}
	if diff := cmp.Diff(Plan{}, Plan{}.Redacted()); diff != "" {
		t.Errorf("redaction changed the zero plan:\n%s", diff)
	}
}
