package toy

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseSickness(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ spec, want, err string }{
		{spec: "DISAGG_SERVER:0:hang:2s", want: "DISAGG_SERVER:0:hang:2s"},
		{spec: "GEN_1::unavailable", want: "GEN_1:0:unavailable"},
		{spec: "DISAGG_SERVER::noworkers", want: "DISAGG_SERVER:0:noworkers"},
		{spec: "BENCHMARK::stall", want: "BENCHMARK:0:stall"},
		{spec: "CTX_0:1:silent:1s", want: "CTX_0:1:silent:1s"},
		{spec: "GEN_0::noworkers", err: "noworkers: only DISAGG_SERVER has workers"},
		{spec: "BENCHMARK::hang", err: "hang: only a server (GEN_i, CTX_i, DISAGG_SERVER) can be hang"},
		{spec: "GEN_0::stall", err: "stall: only BENCHMARK stalls on a dead connection"},
	} {
		faults, err := parseFaults(tc.spec)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseFaults(%q) error %v, want %q", tc.spec, err, tc.err)
			}
			continue
		}
		if err != nil || len(faults) != 1 || faults[0].String() != tc.want || faults[0].Sickness == "" {
			t.Errorf("parseFaults(%q) = %+v, %v; want %s, a sickness", tc.spec, faults, err, tc.want)
		}
	}
}

// get is one GET with a short timeout: the answer's status and body, or the error.
func get(url string) (int, string, error) {
	client := &http.Client{Timeout: 300 * time.Millisecond}
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// TestSicknessOfServers runs a router whose sickness strikes after its readiness: it must stay
// running, keep its port and answer as its sickness says, and end on SIGTERM.
func TestSicknessOfServers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		sickness string
		// check looks at GET /health once the sickness has struck.
		check func(status int, body string, err error) bool
	}{
		{"hang", func(_ int, _ string, err error) bool { return err != nil && strings.Contains(err.Error(), "Timeout") }},
		{"unavailable", func(status int, _ string, err error) bool {
			return err == nil && status == http.StatusServiceUnavailable
		}},
		{"noworkers", func(status int, body string, err error) bool {
			var b struct{ Workers *int }
			return err == nil && status == http.StatusOK && json.Unmarshal([]byte(body), &b) == nil && b.Workers != nil && *b.Workers == 0
		}},
	} {
		t.Run(tc.sickness, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			publishFake(t, dir, "GEN_0")
			env := roleEnv(dir, roleServer, 0)
			env[envNumGen] = "1"
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r := start(ctx, tc.sickness, env, "--fail", "DISAGG_SERVER:0:"+tc.sickness+":300ms")
			eventually(t, testDeadline, "the router's address", func() bool { return fileExists(addressFile(dir, roleServer)) })
			url := "http://" + readFile(t, addressFile(dir, roleServer)) + "/health"
			status, body, err := get(url)
			var healthy struct{ Workers int }
			if err != nil || status != http.StatusOK || json.Unmarshal([]byte(body), &healthy) != nil || healthy.Workers != 1 {
				t.Fatalf("healthy router: %d %q %v; want 200 with \"workers\":1", status, body, err)
			}
			eventually(t, testDeadline, "the fault time file", func() bool { return fileExists(filepath.Join(dir, "fault-DISAGG_SERVER-0.time")) })
			if status, body, err := get(url); !tc.check(status, body, err) {
				t.Errorf("sick router answered %d %q %v", status, body, err)
			}
			if r.exited() {
				t.Fatalf("the sick router exited; stderr:\n%s", r.stderr)
			}
			cancel()
			if code := r.wait(t, testDeadline); code != ExitTerminated {
				t.Errorf("exit code %d after SIGTERM, want %d", code, ExitTerminated)
			}
		})
	}
}

// TestSilentRankAndHeartbeat: rank 0 with a heartbeat writes it until its silent fault strikes, then
// nothing, and keeps running.
func TestSilentRankAndHeartbeat(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := start(ctx, "silent", roleEnv(dir, "GEN_0", 0), "--heartbeat", "20ms", "--fail", "GEN_0:0:silent:200ms")
	eventually(t, testDeadline, "the silence", func() bool { return strings.Contains(r.stderr.String(), "injected sickness role=GEN_0 rank=0") })
	if !strings.Contains(r.stdout.String(), "toy: GEN_0 rank 0: heartbeat 3") {
		t.Errorf("no heartbeat before the silence:\n%s", r.stdout)
	}
	quiet := r.stdout.String()
	time.Sleep(200 * time.Millisecond) // ten heartbeats' time
	if got := r.stdout.String(); got != quiet || r.exited() {
		t.Errorf("silent rank exited (%v) or wrote after its silence:\n%s", r.exited(), strings.TrimPrefix(got, quiet))
	}
	cancel()
	if code := r.wait(t, testDeadline); code != ExitTerminated {
		t.Errorf("exit code %d, want %d", code, ExitTerminated)
	}
}

// TestBenchmarkStall: the benchmark measures, then stalls on a dead connection without announcing
// its end, until it is stopped.
func TestBenchmarkStall(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	publishFake(t, dir, roleServer)
	env := roleEnv(dir, roleBenchmark, 0)
	env[envNumGen] = "1"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := start(ctx, "stall", env, "--requests", "5", "--fail", "BENCHMARK::stall")
	eventually(t, testDeadline, "the stall", func() bool { return fileExists(filepath.Join(dir, "fault-BENCHMARK-0.time")) })
	time.Sleep(100 * time.Millisecond)
	if r.exited() || fileExists(statusFile(dir, 0)) {
		t.Fatalf("stalled benchmark exited (%v) or announced its end; stderr:\n%s", r.exited(), r.stderr)
	}
	cancel()
	if code := r.wait(t, testDeadline); code != ExitTerminated {
		t.Errorf("exit code %d, want %d", code, ExitTerminated)
	}
}
