package integration

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/supervisor"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

// TestHangsEndTheRun: each toy hang or sickness ends a real local run with exit code 6 within its
// bound (period x failures + 1 s for liveness, the stall bound + 1 s for stalls), from the moment the
// sickness struck to the decision, with the right role as the root cause and nothing of the run left.
func TestHangsEndTheRun(t *testing.T) {
	for _, tt := range []struct {
		name      string
		fail      string
		toyFlags  string
		liveness  bool // the router's liveness check: http /health with a workers match, every 1s, 3 failures
		hang      supervisor.HangSettings
		faulty    string // role and rank 0 of the fault
		wantRole  string
		wantWhy   string
		bound     time.Duration
		wantDumps bool
	}{
		{name: "router hangs", fail: "DISAGG_SERVER:0:hang:500ms", liveness: true, faulty: "DISAGG_SERVER", wantRole: "DISAGG_SERVER",
			wantWhy: "no answer within the check's timeout", bound: 4 * time.Second},
		{name: "router answers 503 forever", fail: "DISAGG_SERVER:0:unavailable:500ms", liveness: true, faulty: "DISAGG_SERVER", wantRole: "DISAGG_SERVER",
			wantWhy: "status 503 Service Unavailable", bound: 4 * time.Second},
		{name: "router answers 200 with no workers", fail: "DISAGG_SERVER:0:noworkers:500ms", liveness: true, faulty: "DISAGG_SERVER", wantRole: "DISAGG_SERVER",
			wantWhy: `body does not match "\"workers\":[1-9]"`, bound: 4 * time.Second},
		{name: "benchmark stalls on a dead connection", fail: "BENCHMARK:0:stall", faulty: "BENCHMARK", wantRole: "BENCHMARK",
			hang: supervisor.HangSettings{StallTimeout: 2 * time.Second}, wantWhy: "--stall-timeout 2s", bound: 3 * time.Second},
		{name: "rank 0 stops writing, keeps running; its stacks are dumped", fail: "GEN_1:0:silent:500ms", toyFlags: "--heartbeat 100ms",
			faulty: "GEN_1", wantRole: "GEN_1", wantWhy: "(--stall GEN_1=2s)", bound: 3 * time.Second, wantDumps: true,
			hang: supervisor.HangSettings{StallRoles: map[string]time.Duration{"GEN_1": 2 * time.Second}, DumpSignal: 10, DumpWait: time.Second}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			port := hangFreePort(t)
			// The toy's load writes nothing while it runs: a short one, so that a stall bound only
			// sees the sickness.
			sc := scenario{fail: tt.fail, toyFlags: fmt.Sprintf("--server-port %d %s", port, tt.toyFlags), hang: tt.hang, requests: 100}
			if tt.liveness {
				sc.liveness = []string{fmt.Sprintf(`DISAGG_SERVER=http:http://127.0.0.1:%d/health body="workers":[1-9]@1s/3`, port)}
			}
			out := runScenario(t, sc)
			if out.result.Code != verdict.ExitHung {
				t.Fatalf("exit code %d, want %d; failure %+v", out.result.Code, verdict.ExitHung, out.summary.Failure)
			}
			f := out.summary.Failure
			if f == nil || f.Role != tt.wantRole || f.Code != verdict.ExitHung || !strings.Contains(f.Reason, tt.wantWhy) {
				t.Fatalf("failure %+v; want %s, code 6, a reason with %q", f, tt.wantRole, tt.wantWhy)
			}
			if tt.liveness && len(f.Answers) != 3 {
				t.Errorf("answers %q, want the last three", f.Answers)
			}
			if !strings.Contains(out.console, "ROOT CAUSE") || !strings.Contains(out.console, "  role:   "+tt.wantRole) {
				t.Errorf("the console's root cause does not name %s", tt.wantRole)
			}
			struck := faultTime(t, out.ws, tt.faulty, 0)
			latency := out.summary.DecidedAt.Sub(struck)
			t.Logf("detection latency %s (bound %s)", latency, tt.bound)
			if latency <= 0 || latency > tt.bound {
				t.Errorf("decided %s after the sickness struck, want within (0, %s]", latency, tt.bound)
			}
			if tt.wantDumps {
				// Every live step got SIGUSR1 before SIGTERM; the toy's ranks print their stacks on it
				// (but the silent one).
				log, _ := os.ReadFile(filepath.Join(out.ws, "ctx_server_0.log"))
				if n := bytes.Count(log, []byte("SIGUSR1: goroutine stacks follow")); n != 2 {
					t.Errorf("CTX_0's log holds %d stack dumps, want one per rank (2)", n)
				}
			}
		})
	}
}

// TestLedgerAddsUp: in a real run, every step's GPU-seconds are its tasks times its wall time (from the
// summary's own timestamps), split into phases that add up, and the steps add up to the total.
func TestLedgerAddsUp(t *testing.T) {
	out := runScenario(t, scenario{fail: "GEN_0:1:3:1s", requests: 2000})
	l := out.summary.Ledger
	if l == nil {
		t.Fatal("summary has no gpu_ledger")
	}
	near := func(got, want float64) bool { return math.Abs(got-want) <= 0.01*math.Abs(want)+1e-9 }
	var sum record.GPUSecondsByPhase
	for _, st := range l.Steps {
		r := roleState(out.summary, st.Name)
		wall := float64(r.NTasks) * r.EndedAt.Sub(*r.LaunchedAt).Seconds()
		phases := st.Loading + st.Waiting + st.Serving + st.Teardown
		if !near(st.Total, wall) || !near(phases, st.Total) || st.Total <= 0 {
			t.Errorf("%s: total %.3f, phases %.3f, tasks x wall time %.3f; want all equal within 1%%", st.Name, st.Total, phases, wall)
		}
		sum.Loading += st.Loading
		sum.Serving += st.Serving
		sum.Total += st.Total
	}
	if len(l.Steps) != 5 || !near(sum.Total, l.Total.Total) || !near(sum.Loading, l.Total.Loading) || !near(sum.Serving, l.Total.Serving) {
		t.Errorf("%d steps sum to %+v, total %+v; want 5 steps adding up within 1%%", len(l.Steps), sum, l.Total)
	}
	held := 8 * out.summary.EndedAt.Sub(out.summary.StartedAt).Seconds()
	if !near(l.Held, held) || l.Total.Total > l.Held || l.AfterDecision <= 0 || l.Total.Teardown <= 0 {
		t.Errorf("held %.3f (want %.3f), steps %.3f, after decision %.3f, teardown %.3f", l.Held, held, l.Total.Total, l.AfterDecision, l.Total.Teardown)
	}
}

// TestStatusShowsLedger: `status` shows the GPU-time ledger of a run in progress, up to the moment it
// is shown, and of the finished run.
func TestStatusShowsLedger(t *testing.T) {
	var mu sync.Mutex
	var running []string
	watch := func(ctx context.Context, ws string) {
		for ctx.Err() == nil {
			if s, err := record.ReadSummary(ws); err == nil && s.State == record.RunRunning && roleState(s, "BENCHMARK").LaunchedAt != nil {
				time.Sleep(300 * time.Millisecond)
				var a, b bytes.Buffer
				record.WriteStatus(&a, s)
				time.Sleep(200 * time.Millisecond)
				record.WriteStatus(&b, s)
				mu.Lock()
				running = []string{a.String(), b.String()}
				mu.Unlock()
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	out := runScenario(t, scenario{fail: "BENCHMARK:0:stall", hang: supervisor.HangSettings{StallTimeout: 2 * time.Second}, watch: watch})
	mu.Lock()
	defer mu.Unlock()
	if len(running) != 2 {
		t.Fatal("the run was never seen running with its benchmark launched")
	}
	for _, text := range running {
		if !strings.Contains(text, "state running") || !strings.Contains(text, "GPU-SECONDS") || !strings.Contains(text, "allocation: 8 GPUs held") {
			t.Errorf("status of the running run lacks its ledger:\n%s", text)
		}
	}
	if running[0] == running[1] {
		t.Errorf("status of a running run shows the same ledger 200 ms later; want it up to the moment:\n%s", running[0])
	}
	var done bytes.Buffer
	record.WriteStatus(&done, out.summary)
	for _, want := range []string{"state failed, exit code 85", "GPU-SECONDS", "BENCHMARK", "after the decision"} {
		if !strings.Contains(done.String(), want) {
			t.Errorf("status of the finished run lacks %q:\n%s", want, done.String())
		}
	}
}
