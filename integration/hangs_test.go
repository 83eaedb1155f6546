package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/toy"
)

// hangRecord is what the hang scenarios read from summary.json besides the common summary: the
// liveness answers and the GPU-time ledger.
type hangRecord struct {
	Failure *struct {
		Check   string   `json:"check"`
		Answers []string `json:"answers"`
	} `json:"failure"`
	Ledger *struct {
		AllocationGPUs int        `json:"allocation_gpus"`
		JobEndAt       *time.Time `json:"job_end_at"`
		Saved          *float64   `json:"saved"`
		Total          struct {
			Total float64 `json:"total"`
		} `json:"total"`
		Steps []struct {
			Name  string  `json:"name"`
			Total float64 `json:"total"`
		} `json:"steps"`
	} `json:"gpu_ledger"`
}

// TestHangs: on the cluster, each toy hang or sickness ends the job with exit code 85 within its bound
// (period x failures + 1 s for the router's liveness check, the stall bound + 1 s for stalls), from the
// moment the sickness struck to the decision, with the right role as the root cause, nothing of the
// job left, and a ledger that says what stopping early saved against the time limit.
func TestHangs(t *testing.T) {
	requireSlurm(t)
	for _, tt := range []struct {
		name     string
		fail     string
		toyFlags string
		liveness bool
		runFlags string
		faulty   string
		why      string
		bound    time.Duration
		dumps    bool
	}{
		{name: "router hangs", fail: "DISAGG_SERVER:0:hang:500ms", liveness: true, faulty: "DISAGG_SERVER", why: "no answer within the check's timeout", bound: 4 * time.Second},
		{name: "router answers 503", fail: "DISAGG_SERVER:0:unavailable:500ms", liveness: true, faulty: "DISAGG_SERVER", why: "status 503", bound: 4 * time.Second},
		{name: "router has no workers", fail: "DISAGG_SERVER:0:noworkers:500ms", liveness: true, faulty: "DISAGG_SERVER", why: "body does not match", bound: 4 * time.Second},
		{name: "benchmark stalls", fail: "BENCHMARK:0:stall", runFlags: "--stall-timeout 3s", faulty: "BENCHMARK", why: "--stall-timeout 3s", bound: 4 * time.Second},
		{name: "silent rank 0, stacks dumped", fail: "GEN_0:0:silent:500ms", toyFlags: "--heartbeat 100ms", faulty: "GEN_0",
			runFlags: "--stall GEN_0=3s --dump-signal USR1 --dump-wait 2s", why: "(--stall GEN_0=3s)", bound: 4 * time.Second, dumps: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			port := hangFreePort(t)
			spec := jobSpec{Name: "hang", Fail: tt.fail, ToyFlags: strings.TrimSpace(fmt.Sprintf("--server-port %d %s", port, tt.toyFlags)),
				RunFlags: tt.runFlags}
			if tt.liveness {
				spec.BeforeExec = []string{fmt.Sprintf(`export DISAGG_LIVENESS='DISAGG_SERVER=http:http://127.0.0.1:%d/health body="workers":[1-9]@1s/3'`, port)}
			}
			j := submit(t, spec)
			rec, s := finish(t, j, start)
			checkJob(t, rec, "FAILED", "85:0")
			checkRun(t, j, s, 85)
			if f := s.Failure; f == nil || f.Role != tt.faulty || f.Code != 85 || !strings.Contains(f.Reason, tt.why) {
				t.Fatalf("failure %+v; want %s, code 85, a reason with %q", f, tt.faulty, tt.why)
			}
			data, err := os.ReadFile(filepath.Join(j.ws, fmt.Sprintf("fault-%s-0.time", tt.faulty)))
			if err != nil {
				t.Fatalf("fault time: %v", err)
			}
			ns, _ := strconv.ParseInt(string(data), 10, 64)
			latency := s.DecidedAt.Sub(time.Unix(0, ns))
			t.Logf("detection latency %s (bound %s)", latency, tt.bound)
			if latency <= 0 || latency > tt.bound {
				t.Errorf("decided %s after the sickness struck, want within (0, %s]", latency, tt.bound)
			}
			var hr hangRecord
			raw, _ := os.ReadFile(filepath.Join(j.ws, "summary.json"))
			if err := json.Unmarshal(raw, &hr); err != nil {
				t.Fatal(err)
			}
			if tt.liveness && (hr.Failure == nil || len(hr.Failure.Answers) != 3) {
				t.Errorf("failure %+v, want the liveness check's last three answers", hr.Failure)
			}
			if l := hr.Ledger; l == nil || l.AllocationGPUs != 2 || l.JobEndAt == nil || l.Saved == nil || *l.Saved < 2*60 || len(l.Steps) != 3 {
				t.Errorf("ledger %+v; want 2 GPUs, 3 steps, the job's end from Slurm, and minutes of GPU time saved", l)
			}
			if tt.dumps {
				log, _ := os.ReadFile(filepath.Join(j.ws, "disagg_server.log"))
				if !bytes.Contains(log, []byte("SIGUSR1: goroutine stacks follow")) {
					t.Error("the router's log holds no stack dump: the dump signal did not reach it through scancel")
				}
			}
		})
	}
}

// hangFreePort is a port for the toy router and its liveness check (see toy.RouterPort).
func hangFreePort(t *testing.T) int {
	t.Helper()
	port, err := toy.RouterPort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}
