package toy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var addrPattern = regexp.MustCompile(`^127\.0\.0\.1:[0-9]+$`)

// TestStack runs whole jobs in-process: workers, router and benchmark find each other through the
// hostnames files and the benchmark's code is the result. With the protocol, the servers exit 0 once
// the benchmark's status file appears, and the test plays the supervisor's part by writing each
// gen_server_<i>.done once the ranks of GEN_i have returned; with -until-stopped the servers keep
// running until cancelled.
func TestStack(t *testing.T) {
	t.Parallel()
	const requests = 40
	tests := []struct {
		name string
		// workers are the worker roles started, each with ranks 0 and 1.
		workers []string
		// env is added to every rank's environment.
		env          fakeEnv
		untilStopped bool
		wantCode     int
		// wantStatus is the content of benchmark_status.0.txt; empty: no such file.
		wantStatus string
		wantFault  bool
	}{
		{
			name:       "disaggregated",
			workers:    []string{"GEN_0", "CTX_0", "CTX_1"},
			env:        fakeEnv{envNumGen: "1", envNumCtx: "2"},
			wantCode:   0,
			wantStatus: statusDone,
		},
		{
			// numCtxServers is left at 1 from the config: gen-only must still not wait for CTX_0,
			// which never starts (the run would fail after the router's wait timeout).
			name:       "gen-only",
			workers:    []string{"GEN_0", "GEN_1"},
			env:        fakeEnv{envNumGen: "2", envNumCtx: "1", envGenOnly: "1"},
			wantCode:   0,
			wantStatus: statusDone,
		},
		{
			name:       "benchmark fault at end of run",
			workers:    []string{"GEN_0", "CTX_0"},
			env:        fakeEnv{envNumGen: "1", envNumCtx: "1", envFail: "BENCHMARK::7"},
			wantCode:   7,
			wantStatus: statusDone,
			wantFault:  true,
		},
		{
			name:         "until stopped",
			workers:      []string{"GEN_0", "CTX_0"},
			env:          fakeEnv{envNumGen: "1", envNumCtx: "1", envUntilStopped: "1"},
			untilStopped: true,
			wantCode:     0,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			workspace := t.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			args := []string{"--work", "1ms", "--wait-timeout", "5s"}
			env := func(role string, rank int) fakeEnv {
				e := roleEnv(dir, role, rank).with(envWorkspace, workspace, envCUDA, "0,1")
				for k, v := range tc.env {
					e[k] = v
				}
				if role == roleServer || role == roleBenchmark {
					// As launched: SLURM_* unset, the job id only in the run token.
					delete(e, envJobID)
					delete(e, envNodeName)
					e[envRunToken] = "4242.0.t99"
				}
				return e
			}

			var servers, gens []*running
			for _, role := range tc.workers {
				var ranks []*running
				for rank := range 2 {
					ranks = append(ranks, start(ctx, fmt.Sprintf("%s rank %d", role, rank), env(role, rank), args...))
				}
				servers = append(servers, ranks...)
				if i, ok := strings.CutPrefix(role, "GEN_"); ok {
					n, _ := strconv.Atoi(i)
					touchDoneWhenEnded(t, dir, n, ranks...)
					gens = append(gens, ranks...)
				}
			}
			servers = append(servers, start(ctx, roleServer, env(roleServer, 0), args...))
			bench := start(ctx, roleBenchmark, env(roleBenchmark, 0),
				append(args, "--requests", strconv.Itoa(requests), "--concurrency", "4")...)

			code := bench.wait(t, testDeadline)
			if code != tc.wantCode {
				t.Errorf("benchmark exit code = %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.wantCode, bench.stdout, bench.stderr)
			}
			if tc.untilStopped {
				// The benchmark finishing must not end the servers: that is the supervisor's call.
				for _, s := range servers {
					if s.exited() {
						t.Errorf("%s exited on its own after the benchmark; stderr:\n%s", s.name, s.stderr)
					}
				}
				cancel()
				for _, s := range servers {
					if c := s.wait(t, testDeadline); c != ExitTerminated {
						t.Errorf("%s: exit code after cancel = %d, want %d; stderr:\n%s", s.name, c, ExitTerminated, s.stderr)
					}
				}
				if strings.Contains(bench.stdout.String(), ".done") {
					t.Errorf("benchmark waited for .done files with -until-stopped:\n%s", bench.stdout)
				}
			} else {
				// The benchmark exits only after every .done file, which is written only after
				// the GEN ranks have returned: they must all be gone already.
				for _, g := range gens {
					if !g.exited() {
						t.Errorf("benchmark exited before %s", g.name)
					}
				}
				for _, s := range servers {
					if c := s.wait(t, testDeadline); c != ExitOK {
						t.Errorf("%s: exit code = %d, want %d; stderr:\n%s", s.name, c, ExitOK, s.stderr)
					}
					if want := "benchmark_status.0.txt appeared: stopped serving configuration 0; exiting"; !strings.Contains(s.stdout.String(), want) {
						t.Errorf("%s: stdout lacks %q:\n%s", s.name, want, s.stdout)
					}
				}
				var want []string
				for i := range len(gens) / 2 {
					want = append(want, doneFileName(i))
				}
				if line := "toy: BENCHMARK: saw " + strings.Join(want, " ") + "\n"; !strings.Contains(bench.stdout.String(), line) {
					t.Errorf("benchmark stdout lacks %q:\n%s", line, bench.stdout)
				}
			}

			for _, r := range append(servers, bench) {
				first, _, _ := strings.Cut(r.stdout.String(), "\n")
				role, rank, _ := strings.Cut(r.name, " rank ")
				if rank == "" {
					rank = "0"
				}
				node := "node1"
				if role == roleServer || role == roleBenchmark {
					node, _ = os.Hostname()
				}
				want := regexp.MustCompile(`^toy: role=` + role + ` rank=` + rank + ` node=` + regexp.QuoteMeta(node) + ` pid=[0-9]+ cuda_visible_devices=0,1$`)
				if !want.MatchString(first) {
					t.Errorf("%s: first line %q does not match %s", r.name, first, want)
				}
			}
			for _, role := range append(append([]string{}, tc.workers...), roleServer) {
				if got := strings.TrimSpace(readFile(t, addressFile(dir, role))); !addrPattern.MatchString(got) {
					t.Errorf("%s address file holds %q, want 127.0.0.1:PORT", role, got)
				}
			}

			var got Results
			if err := json.Unmarshal([]byte(readFile(t, filepath.Join(workspace, resultsFileName))), &got); err != nil {
				t.Fatalf("results file: %v", err)
			}
			want := Results{Requests: requests, Failed: 0, Concurrency: 4}
			if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Results{}, "DurationSeconds", "ThroughputRPS", "LatencyMS")); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
			if got.DurationSeconds <= 0 || got.ThroughputRPS <= 0 || got.LatencyMS.P50 <= 0 ||
				got.LatencyMS.P50 > got.LatencyMS.P90 || got.LatencyMS.P90 > got.LatencyMS.P99 {
				t.Errorf("implausible measurements: %+v", got)
			}
			if !strings.Contains(bench.stdout.String(), fmt.Sprintf("toy: benchmark requests=%d failed=0 concurrency=4 ", requests)) {
				t.Errorf("no summary line in benchmark stdout:\n%s", bench.stdout)
			}
			if tc.wantStatus == "" {
				if fileExists(statusFile(dir, 0)) {
					t.Errorf("%s written with -until-stopped", statusFile(dir, 0))
				}
			} else if got := readFile(t, statusFile(dir, 0)); got != tc.wantStatus {
				t.Errorf("status file = %q, want %q", got, tc.wantStatus)
			}
			if gotFault := fileExists(filepath.Join(dir, "fault-BENCHMARK-0.time")); gotFault != tc.wantFault {
				t.Errorf("fault time file present = %v, want %v", gotFault, tc.wantFault)
			}
		})
	}
}

// TestWorkerFailureIs502 puts a broken GEN worker behind the router: every request must come back as a
// 502, the benchmark must count them all as failed, say why, and fail.
func TestWorkerFailureIs502(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			return
		}
		http.Error(w, "out of memory", http.StatusInternalServerError)
	}))
	defer broken.Close()
	if err := writeFileAtomic(addressFile(dir, "GEN_0"), strings.TrimPrefix(broken.URL, "http://")); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The fake GEN_0 has no step whose end the supervisor would mark: its .done is there from the start.
	if err := writeFileAtomic(filepath.Join(dir, doneFileName(0)), ""); err != nil {
		t.Fatal(err)
	}
	env := func(role string) fakeEnv {
		return roleEnv(dir, role, 0).with(envNumGen, "1", envGenOnly, "1")
	}
	server := start(ctx, roleServer, env(roleServer), "--wait-timeout", "5s")
	bench := start(ctx, roleBenchmark, env(roleBenchmark), "--wait-timeout", "5s", "--requests", "5", "--concurrency", "2")
	if code := bench.wait(t, testDeadline); code != ExitFailed {
		t.Errorf("benchmark exit code = %d, want %d", code, ExitFailed)
	}
	// Failed requests are a verdict, not a reason to leave the servers running.
	if code := server.wait(t, testDeadline); code != ExitOK {
		t.Errorf("server exit code = %d, want %d", code, ExitOK)
	}

	var got Results
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(dir, resultsFileName))), &got); err != nil {
		t.Fatalf("results file (in testOutputDir, the jobWorkspace fallback): %v", err)
	}
	if got.Requests != 5 || got.Failed != 5 {
		t.Errorf("results requests=%d failed=%d, want 5 and 5", got.Requests, got.Failed)
	}
	for _, want := range []string{"5 of 5 requests failed", "502 Bad Gateway", "GEN_0 at 127.0.0.1:", "500 Internal Server Error"} {
		if !strings.Contains(bench.stderr.String(), want) {
			t.Errorf("benchmark stderr lacks %q:\n%s", want, bench.stderr)
		}
	}
	if got := readFile(t, statusFile(dir, 0)); got != statusDone {
		t.Errorf("status file = %q, want %q", got, statusDone)
	}
}

// TestWaitTimeout checks that a rank whose peers never come gives up in time and names each of them,
// including one whose published address does not answer /health with 200.
func TestWaitTimeout(t *testing.T) {
	t.Parallel()
	t.Run("server", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		// A listener that answers, but not with 200, stands for a stale file: a closed port could be
		// taken again by a parallel test's server, whose /health would answer.
		sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "loading", http.StatusServiceUnavailable)
		}))
		defer sick.Close()
		stale := strings.TrimPrefix(sick.URL, "http://")
		if err := writeFileAtomic(addressFile(dir, "GEN_0"), stale); err != nil {
			t.Fatal(err)
		}
		env := roleEnv(dir, roleServer, 0).with(envNumGen, "2", envNumCtx, "1")
		r := start(context.Background(), roleServer, env, "--wait-timeout", "200ms")
		if code := r.wait(t, testDeadline); code != ExitFailed {
			t.Errorf("exit code = %d, want %d", code, ExitFailed)
		}
		for _, want := range []string{
			"gave up after 200ms",
			"GEN_0 (" + stale + " not healthy: GET /health: 503 Service Unavailable)",
			"GEN_1 (no address file GEN_1.txt)",
			"CTX_0 (no address file CTX_0.txt)",
		} {
			if !strings.Contains(r.stderr.String(), want) {
				t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
			}
		}
	})
	t.Run("benchmark", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		r := start(context.Background(), roleBenchmark, roleEnv(dir, roleBenchmark, 0).with(envNumGen, "1"), "--wait-timeout", "100ms")
		if code := r.wait(t, testDeadline); code != ExitFailed {
			t.Errorf("exit code = %d, want %d", code, ExitFailed)
		}
		if !strings.Contains(r.stderr.String(), "DISAGG_SERVER (no address file DISAGG_SERVER.txt)") {
			t.Errorf("stderr does not name the missing server:\n%s", r.stderr)
		}
		// The servers must stop even though nothing was measured.
		if got := readFile(t, statusFile(dir, 0)); got != statusDone {
			t.Errorf("status file = %q, want %q", got, statusDone)
		}
	})
}
