package toy

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func precheckEnv(out, role, rank string) func(string) string {
	env := map[string]string{envServingType: role, envProcID: rank, envOutputDir: out, envNodeName: "node7"}
	return func(name string) string { return env[name] }
}

func TestPrecheckVariants(t *testing.T) {
	for _, tc := range []struct {
		name, spec, role, rank string
		code                   int
		status                 string // the status file's content; "" for none
		stderr                 string
	}{
		{"pass", "pass", "GEN_PRECHECK_1", "0", ExitOK, "PASS gen_1\n", ""},
		{"pass on the others", "CTX_PRECHECK_0=fail", "GEN_PRECHECK_0", "0", ExitOK, "PASS gen_0\n", ""},
		{"fail", "CTX_PRECHECK_0=fail,pass", "CTX_PRECHECK_0", "0", ExitFailed, "",
			"RuntimeError: TRANSFER_ERROR: toy precheck ctx_0 failed on purpose (-variant fail)"},
		{"status", "CTX_PRECHECK_0=status", "CTX_PRECHECK_0", "0", ExitFailed,
			"FAIL: TRANSFER_ERROR: toy precheck ctx_0 failed on purpose (-variant status)\n", "UCX  WARN"},
		{"rank 1 writes nothing", "status", "CTX_PRECHECK_0", "1", ExitFailed, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			var stdout, stderr bytes.Buffer
			idx := tc.role[len(tc.role)-1:]
			code := Precheck(context.Background(), []string{"-variant", tc.spec, "--server-idx", idx},
				precheckEnv(out, tc.role, tc.rank), &stdout, &stderr)
			if code != tc.code {
				t.Errorf("exit code %d, want %d; stderr %s", code, tc.code, stderr.String())
			}
			instance := strings.ToLower(strings.Replace(tc.role, "_PRECHECK", "", 1))
			data, err := os.ReadFile(filepath.Join(out, "cache_transceiver_precheck", "status", instance+".status"))
			if got := string(data); (tc.status == "") != (err != nil) || got != tc.status {
				t.Errorf("status file %q (%v), want %q", got, err, tc.status)
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tc.stderr)
			}
		})
	}
}

func TestPrecheckHangsUntilStopped(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var stdout, stderr bytes.Buffer
	go func() {
		done <- Precheck(ctx, []string{"-variant", "hang", "--server-idx", "0"}, precheckEnv(t.TempDir(), "GEN_PRECHECK_0", "0"), &stdout, &stderr)
	}()
	select {
	case code := <-done:
		t.Fatalf("the hang variant ended by itself with %d", code)
	case <-time.After(200 * time.Millisecond):
	}
	cancel()
	if code := <-done; code != ExitTerminated {
		t.Errorf("exit code %d after it was stopped, want %d", code, ExitTerminated)
	}
}

func TestPrecheckUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		role string
		msg  string
	}{
		{[]string{"--server-idx", "0"}, "GEN_0", `DISAGG_SERVING_TYPE="GEN_0": want GEN_PRECHECK_<i> or CTX_PRECHECK_<i>`},
		{[]string{"--server-idx", "1"}, "GEN_PRECHECK_0", "--server-idx 1 does not match DISAGG_SERVING_TYPE=GEN_PRECHECK_0"},
		{[]string{"-variant", "maybe", "--server-idx", "0"}, "GEN_PRECHECK_0", `"maybe" is not pass, fail, status or hang`},
		{[]string{"-variant", "pass:soon", "--server-idx", "0"}, "GEN_PRECHECK_0", `"soon" is not a duration`},
	} {
		var stdout, stderr bytes.Buffer
		code := Precheck(context.Background(), tc.args, precheckEnv(t.TempDir(), tc.role, "0"), &stdout, &stderr)
		if code != ExitUsage || !strings.Contains(stderr.String(), tc.msg) || strings.Count(stderr.String(), "\n") != 1 {
			t.Errorf("%v with %s: exit %d, stderr %q; want %d and one line with %q", tc.args, tc.role, code, stderr.String(), ExitUsage, tc.msg)
		}
	}
}

func TestMainRunsPrecheck(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), []string{"precheck", "--server-idx", "0"}, precheckEnv(t.TempDir(), "CTX_PRECHECK_0", "0"), &stdout, &stderr)
	if code != ExitOK || !strings.Contains(stdout.String(), "toy precheck: ctx_0 rank 0") {
		t.Errorf("Main precheck: exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
}
