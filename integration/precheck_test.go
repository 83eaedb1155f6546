package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The pre-flight phase as real sbatch jobs: the toy precheck (`toy precheck --variant ...`) plays
// today's cache-transceiver precheck, one step per GEN and CTX server on its nodes.

// precheckExports turns the precheck on with the toy's variant spec for both kinds of server.
func precheckExports(variant, timeoutSeconds string) []string {
	cmd := binary + " toy precheck --variant " + variant
	return []string{
		"export ctPrecheckEnabled=1",
		"export ctPrecheckTimeout=" + timeoutSeconds,
		`export pytestCommandGENPrecheck="` + cmd + `"`,
		`export pytestCommandCTXPrecheck="` + cmd + `"`,
	}
}

// checkVerdict is a check of summary.json's "checks".
type checkVerdict struct {
	Name        string `json:"name"`
	Check       string `json:"check"`
	Passed      bool   `json:"passed"`
	Verdict     string `json:"verdict"`
	TimedOut    bool   `json:"timed_out"`
	FirstErrors []struct {
		Line int    `json:"line"`
		Text string `json:"text"`
	} `json:"first_errors"`
}

func readChecks(t *testing.T, ws string) map[string]checkVerdict {
	t.Helper()
	var s struct {
		Checks      []checkVerdict `json:"checks"`
		UCXRedFlags []struct {
			Text string `json:"text"`
		} `json:"ucx_red_flags"`
	}
	data, err := os.ReadFile(filepath.Join(ws, "summary.json"))
	if err == nil {
		err = json.Unmarshal(data, &s)
	}
	if err != nil {
		t.Fatalf("summary.json: %v", err)
	}
	out := map[string]checkVerdict{}
	for _, c := range s.Checks {
		out[c.Name] = c
	}
	return out
}

func TestPrecheckThenSuccess(t *testing.T) {
	requireSlurm(t)
	t.Parallel()
	start := time.Now()
	j := submit(t, jobSpec{Name: "precheck-pass", NumGen: 1, NumCtx: 1,
		BeforeExec: precheckExports("pass:300ms", "120"),
		// One task on each node: every node leaves its name.
		RunFlags: `--preflight 'nodes=touch "$jobWorkspace/preflight-$SLURMD_NODENAME"'`})
	rec, s := finish(t, j, start)
	checkJob(t, rec, "COMPLETED", "0:0")
	checkRun(t, j, s, 0)
	checks := readChecks(t, j.ws)
	for _, name := range []string{"PREFLIGHT_nodes", "GEN_PRECHECK_0", "CTX_PRECHECK_0"} {
		if c := checks[name]; !c.Passed {
			t.Errorf("%s: %+v, want passed", name, c)
		}
	}
	if c := checks["CTX_PRECHECK_0"]; c.Verdict != "PASS ctx_0" {
		t.Errorf("CTX_PRECHECK_0 verdict %q, want its status file's PASS ctx_0", c.Verdict)
	}
	for _, node := range rec.Nodes {
		fileExists(t, filepath.Join(j.ws, "preflight-"+node))
	}
	// Each instance ran on its server's node, and every server started after every instance had ended.
	var lastCheck time.Time
	for _, name := range []string{"GEN_PRECHECK_0", "CTX_PRECHECK_0", "PREFLIGHT_nodes"} {
		r, _ := s.role(name)
		if r.EndedAt == nil {
			t.Fatalf("%s never ended", name)
		}
		if r.EndedAt.After(lastCheck) {
			lastCheck = *r.EndedAt
		}
	}
	for check, server := range map[string]string{"GEN_PRECHECK_0": "GEN_0", "CTX_PRECHECK_0": "CTX_0"} {
		c, _ := s.role(check)
		r, _ := s.role(server)
		if strings.Join(c.Nodes, ",") != strings.Join(r.Nodes, ",") {
			t.Errorf("%s ran on %v, %s on %v", check, c.Nodes, server, r.Nodes)
		}
		if r.LaunchedAt == nil || r.LaunchedAt.Before(lastCheck) {
			t.Errorf("%s launched at %v, before the pre-flight phase ended at %v", server, r.LaunchedAt, lastCheck)
		}
	}
	junit, err := os.ReadFile(filepath.Join(j.ws, "results-ct-precheck.xml"))
	if err != nil || !strings.Contains(string(junit), `name="cache_transceiver_precheck[gen_0]"`) || !strings.Contains(string(junit), `failures="0"`) {
		t.Errorf("results-ct-precheck.xml: %v\n%s", err, junit)
	}
}

func TestPrecheckCtxFails(t *testing.T) {
	requireSlurm(t)
	t.Parallel()
	start := time.Now()
	j := submit(t, jobSpec{Name: "precheck-fail", NumGen: 1, NumCtx: 1,
		BeforeExec: precheckExports("CTX_PRECHECK_0=status:300ms,pass:300ms", "120")})
	rec, s := finish(t, j, start)
	checkJob(t, rec, "FAILED", "82:0")
	checkRun(t, j, s, 82)
	if s.Failure == nil || s.Failure.Role != "CTX_PRECHECK_0" || s.Failure.Code != 82 ||
		!strings.Contains(s.Failure.Reason, "FAIL: TRANSFER_ERROR: toy precheck ctx_0") {
		t.Errorf("failure %+v", s.Failure)
	}
	for _, name := range []string{"GEN_0", "CTX_0", "DISAGG_SERVER", "BENCHMARK"} {
		if r, _ := s.role(name); r.LaunchedAt != nil {
			t.Errorf("%s was launched after the precheck failed", name)
		}
		fileAbsent(t, filepath.Join(j.ws, logName(name)))
	}
	c := readChecks(t, j.ws)["CTX_PRECHECK_0"]
	if c.Passed || !strings.HasPrefix(c.Verdict, "FAIL: TRANSFER_ERROR") || len(c.FirstErrors) == 0 ||
		!strings.Contains(c.FirstErrors[0].Text, "Traceback (most recent call last)") {
		t.Errorf("CTX_PRECHECK_0: %+v", c)
	}
	junit, err := os.ReadFile(filepath.Join(j.ws, "results-ct-precheck.xml"))
	if err != nil || !strings.Contains(string(junit), `<testcase name="cache_transceiver_precheck[ctx_0]"`) ||
		!strings.Contains(string(junit), `failures="1"`) || !strings.Contains(string(junit), "RuntimeError: TRANSFER_ERROR") {
		t.Errorf("results-ct-precheck.xml: %v\n%s", err, junit)
	}
	out, _ := os.ReadFile(filepath.Join(j.ws, "slurm-"+j.id+".out"))
	for _, want := range []string{"PRE-FLIGHT", "UCX red flags:", "sw-emul", "result: failed, exit code 82"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the job's output lacks %q", want)
		}
	}
}

func TestPrecheckHangs(t *testing.T) {
	requireSlurm(t)
	t.Parallel()
	start := time.Now()
	j := submit(t, jobSpec{Name: "precheck-hang", NumGen: 1, NumCtx: 1,
		BeforeExec: precheckExports("CTX_PRECHECK_0=hang,pass:300ms", "10")})
	rec, s := finish(t, j, start)
	checkJob(t, rec, "FAILED", "82:0")
	checkRun(t, j, s, 82) // which also checks that no step and no process of the job is left
	c := readChecks(t, j.ws)["CTX_PRECHECK_0"]
	if !c.TimedOut || c.Passed || !strings.HasPrefix(c.Verdict, "timed out after 10s") {
		t.Errorf("CTX_PRECHECK_0: %+v", c)
	}
	if s.Failure == nil || s.Failure.Role != "CTX_PRECHECK_0" || !strings.Contains(s.Failure.Reason, "hangs") {
		t.Errorf("failure %+v", s.Failure)
	}
	if r, _ := s.role("CTX_PRECHECK_0"); r.State != "stopped" {
		t.Errorf("CTX_PRECHECK_0 state %q, want stopped by the supervisor", r.State)
	}
	if r, _ := s.role("GEN_0"); r.LaunchedAt != nil {
		t.Error("GEN_0 was launched")
	}
	if s.DurationSeconds > 60 {
		t.Errorf("the run took %.0fs; the timeout is 10 s", s.DurationSeconds)
	}
}
