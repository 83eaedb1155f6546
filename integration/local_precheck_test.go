package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/roles"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

// precheck plans the toy precheck with the given -variant spec for both kinds of server, bounded by
// timeout, and a --preflight check.
func precheck(variant string, timeout time.Duration) func(*roles.Flags) {
	return func(f *roles.Flags) {
		yes := true
		cmd := coord.TaskBinary(f.Workspace) + " toy precheck --variant " + variant
		f.Precheck, f.PrecheckGenCommand, f.PrecheckCtxCommand, f.PrecheckTimeout = &yes, cmd, cmd, timeout
		f.Preflight = []string{`ws=test -w "$jobWorkspace"`}
	}
}

func checkOf(s record.Summary, name string) record.CheckResult {
	for _, c := range s.Checks {
		if c.Name == name {
			return c
		}
	}
	return record.CheckResult{}
}

// TestPrecheckProcesses runs the pre-flight phase with real steps (fake srun, task runner, toy
// precheck) and checks the outcome, what was launched, the verdicts and that no process is left.
func TestPrecheckProcesses(t *testing.T) {
	servers := []string{"GEN_0", "GEN_1", "CTX_0", "DISAGG_SERVER", "BENCHMARK"}
	for _, tc := range []struct {
		name    string
		variant string
		timeout time.Duration
		code    int
		verdict string // CTX_PRECHECK_0's verdict, a prefix
	}{
		{"pass", "pass:100ms", time.Minute, 0, "PASS ctx_0"},
		{"status file", "CTX_PRECHECK_0=status:200ms,pass", time.Minute, verdict.ExitPreflight, "FAIL: TRANSFER_ERROR: toy precheck ctx_0"},
		{"no status file", "CTX_PRECHECK_0=fail,pass", time.Minute, verdict.ExitPreflight, "exit code 1"},
		{"hang", "CTX_PRECHECK_0=hang,pass", 3 * time.Second, verdict.ExitPreflight, "timed out after 3s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := runScenario(t, scenario{flags: precheck(tc.variant, tc.timeout)})
			if out.result.Code != tc.code {
				t.Fatalf("exit code %d, want %d; errors %v", out.result.Code, tc.code, out.summary.Errors)
			}
			c := checkOf(out.summary, "CTX_PRECHECK_0")
			if !strings.HasPrefix(c.Verdict, tc.verdict) || c.Passed != (tc.code == 0) {
				t.Errorf("CTX_PRECHECK_0: passed %v, verdict %q, want %q", c.Passed, c.Verdict, tc.verdict)
			}
			if c := checkOf(out.summary, "PREFLIGHT_ws"); !c.Passed {
				t.Errorf("PREFLIGHT_ws: %+v", c)
			}
			for _, name := range servers {
				r := roleState(out.summary, name)
				if launched := r.LaunchedAt != nil; launched != (tc.code == 0) {
					t.Errorf("%s launched: %v, want %v", name, launched, tc.code == 0)
				}
			}
			pre := roleState(out.summary, "GEN_PRECHECK_0")
			if gen := roleState(out.summary, "GEN_0"); gen.LaunchedAt != nil && (pre.EndedAt == nil || gen.LaunchedAt.Before(*pre.EndedAt)) {
				t.Errorf("GEN_0 launched at %v, before GEN_PRECHECK_0 ended at %v", gen.LaunchedAt, pre.EndedAt)
			}
			if tc.code == 0 {
				return
			}
			if f := out.summary.Failure; f == nil || f.Role != "CTX_PRECHECK_0" || f.Code != verdict.ExitPreflight {
				t.Errorf("failure %+v", f)
			}
			if tc.name == "hang" {
				if !c.TimedOut || !strings.Contains(out.summary.Failure.Reason, "hangs") {
					t.Errorf("hung instance: %+v, reason %q", c, out.summary.Failure.Reason)
				}
			} else if len(c.FirstErrors) == 0 || !strings.Contains(c.FirstErrors[0].Text, "Traceback") ||
				len(out.summary.UCXRedFlags) == 0 {
				t.Errorf("first errors %+v, red flags %+v", c.FirstErrors, out.summary.UCXRedFlags)
			}
			junit, err := os.ReadFile(filepath.Join(out.ws, record.PrecheckJUnitFile))
			if err != nil || !strings.Contains(string(junit), `name="cache_transceiver_precheck[ctx_0]"`) ||
				!strings.Contains(string(junit), `failures="1"`) {
				t.Errorf("JUnit: %v\n%s", err, junit)
			}
			if !strings.Contains(out.console, "PRE-FLIGHT") || !strings.Contains(out.console, "exit code 82") {
				t.Errorf("console lacks the pre-flight report")
			}
		})
	}
}
