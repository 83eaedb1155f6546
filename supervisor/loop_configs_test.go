package supervisor

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/roles"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

// TestLoopServerConfigs plays jobs of several server configurations: each configuration is a phase
// from the previous end marker to its own, and the checks hold inside every one.
func TestLoopServerConfigs(t *testing.T) {
	errUnavailable := errors.New("status 503 Service Unavailable (want 200-299)")
	every := func(h *harness, d time.Duration, n int) {
		for range n {
			h.advance(d)
		}
	}
	for _, tt := range []struct {
		name string
		opts options
		play func(t *testing.T, h *harness)
		want outcome
		// verdicts are the configurations' verdicts at the end, in order.
		verdicts []record.ConfigVerdict
		check    func(t *testing.T, h *harness, s record.Summary)
	}{
		{
			name: "a server ending 0 between two markers is an early exit of the configuration in progress (84)",
			opts: options{serverConfigs: 3},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.advance(2 * time.Second)
				h.announceConfig(0, "Done")
				h.advance(time.Second) // the look that sees it
				s := h.summary()
				if got := configVerdicts(s); !equalVerdicts(got, []record.ConfigVerdict{record.ConfigCompleted, record.ConfigRunning, record.ConfigNotStarted}) {
					t.Errorf("verdicts %v after marker 0, want completed, running, not started", got)
				}
				if s.ServerConfigs[0].Status != "Done" || s.ServerConfigs[0].DurationSeconds != 3 {
					t.Errorf("config 0 %+v, want status Done, 3 s", s.ServerConfigs[0])
				}
				h.exit("DISAGG_SERVER", 0)
			},
			want: outcome{state: record.RunFailed, code: verdict.ExitEarlyExit, role: "DISAGG_SERVER",
				reason: "before the benchmark announced its end; a server must run until the benchmark is done [in server configuration 1 (index 1 of 3)",
				roles:  map[string]record.StepState{"DISAGG_SERVER": record.StepExited, "GEN_0": record.StepStopped}},
			verdicts: []record.ConfigVerdict{record.ConfigCompleted, record.ConfigFailed, record.ConfigNotStarted},
			check: func(t *testing.T, h *harness, s record.Summary) {
				if !strings.Contains(s.Failure.Reason, "configurations completed: 0]") {
					t.Errorf("reason %q, want the completed configurations", s.Failure.Reason)
				}
				junit := readJUnit(t, h)
				for _, want := range []string{`tests="4" failures="2" errors="0" skipped="1"`,
					`<testcase name="supervisor[config 0]"`, `<failure message="failed: role DISAGG_SERVER`,
					`<testcase name="supervisor[config 2]"`, `<skipped message="not started: not started">`} {
					if !strings.Contains(junit, want) {
						t.Errorf("JUnit has no %q:\n%s", want, junit)
					}
				}
			},
		},
		{
			name: "marker k just before a server's end: the end is judged in configuration k+1, without waiting for a look",
			opts: options{serverConfigs: 2},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.announceConfig(0, "Done")
				h.exit("CTX_0", 0)
			},
			want:     outcome{state: record.RunFailed, code: verdict.ExitEarlyExit, role: "CTX_0", reason: "in server configuration 1 (index 1 of 2)"},
			verdicts: []record.ConfigVerdict{record.ConfigCompleted, record.ConfigFailed},
		},
		{
			name: "a liveness failure in configuration 1 is a hang (85) naming it; the restarted check waits for the reloaded server",
			opts: options{serverConfigs: 3, liveness: []string{"DISAGG_SERVER=tcp:{node}:1@1s/3"}},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.advance(time.Second)
				h.announceConfig(0, "Done")
				h.advance(time.Second) // configuration 1 starts: the servers reload
				h.setSick("DISAGG_SERVER", errUnavailable)
				every(h, time.Second, 5)
				if s := h.summary(); s.State != record.RunRunning {
					t.Fatalf("decided (%s) while the server reloads for configuration 1, before its check ever passed", s.State)
				}
				h.setSick("DISAGG_SERVER", nil)
				h.advance(time.Second) // the reloaded server answers: the check counts from now
				h.setSick("DISAGG_SERVER", errUnavailable)
				every(h, time.Second, 2)
				if s := h.summary(); s.State != record.RunRunning {
					t.Fatalf("decided (%s) after 2 failed checks, want 3", s.State)
				}
				h.advance(time.Second)
			},
			want: outcome{state: record.RunFailed, code: verdict.ExitHung, role: "DISAGG_SERVER",
				reason: "liveness check failed 3 times in a row", class: verdict.ClassHang},
			verdicts: []record.ConfigVerdict{record.ConfigCompleted, record.ConfigHung, record.ConfigNotStarted},
			check: func(t *testing.T, h *harness, s record.Summary) {
				if !strings.Contains(s.Failure.Reason, "in server configuration 1 (index 1 of 3)") ||
					!strings.Contains(s.Failure.Reason, "waiting for its end marker") || !strings.Contains(s.Failure.Reason, "configurations completed: 0]") {
					t.Errorf("reason %q, want configuration 1, what it waited for, and configuration 0 completed", s.Failure.Reason)
				}
				if d := s.ServerConfigs[1].Disturbances; len(d) == 0 {
					t.Errorf("configuration 1 has no disturbances, want the failed checks")
				}
				if junit := readJUnit(t, h); !strings.Contains(junit, `<error message="hung: role DISAGG_SERVER`) {
					t.Errorf("JUnit has no error for configuration 1:\n%s", junit)
				}
			},
		},
		{
			name: "--config-timeout: configuration 1 still without its marker at the bound (85)",
			opts: options{serverConfigs: 2, hang: HangSettings{ConfigTimeout: 10 * time.Second}},
			play: func(t *testing.T, h *harness) {
				h.up()
				every(h, time.Second, 5)
				h.announceConfig(0, "Done")
				h.advance(time.Second) // configuration 1 from +6 s
				every(h, time.Second, 9)
				if s := h.summary(); s.State != record.RunRunning {
					t.Fatalf("decided (%s) 9 s into configuration 1 (configuration 0's own bound passed meanwhile)", s.State)
				}
				h.advance(time.Second)
			},
			want: outcome{state: record.RunFailed, code: verdict.ExitHung, role: "BENCHMARK",
				reason: "server configuration 1 still running 10s after its start (--config-timeout 10s)", class: verdict.ClassHang},
			verdicts: []record.ConfigVerdict{record.ConfigCompleted, record.ConfigHung},
		},
		{
			name: "number unknown: after a marker servers finish, as before; the configuration the marker seemed to start is dropped",
			play: func(t *testing.T, h *harness) {
				h.up()
				h.announceEnd()
				h.advance(time.Second)
				for _, name := range []string{"GEN_0", "GEN_1", "CTX_0", "DISAGG_SERVER"} {
					h.exit(name, 0)
				}
				h.exit("BENCHMARK", 0)
			},
			want:     outcome{state: record.RunSucceeded, roles: map[string]record.StepState{"GEN_0": record.StepFinished, "DISAGG_SERVER": record.StepFinished}},
			verdicts: []record.ConfigVerdict{record.ConfigCompleted},
			check: func(t *testing.T, h *harness, s record.Summary) {
				if junit := readJUnit(t, h); strings.Contains(junit, "supervisor[config") {
					t.Errorf("JUnit of a single configuration has configuration cases:\n%s", junit)
				}
			},
		},
		{
			name: "number known: servers finish after the last marker; every configuration reported",
			opts: options{serverConfigs: 2},
			play: func(t *testing.T, h *harness) {
				h.up()
				every(h, time.Second, 2)
				h.announceConfig(0, "Done")
				every(h, time.Second, 3) // the first look sees it: configuration 1 from +3 s
				h.announceConfig(1, "SUCCESS")
				for _, name := range []string{"GEN_0", "GEN_1", "CTX_0", "DISAGG_SERVER"} {
					h.exit(name, 0)
				}
				h.exit("BENCHMARK", 0)
			},
			want:     outcome{state: record.RunSucceeded, roles: map[string]record.StepState{"GEN_0": record.StepFinished, "CTX_0": record.StepFinished, "DISAGG_SERVER": record.StepFinished}},
			verdicts: []record.ConfigVerdict{record.ConfigCompleted, record.ConfigCompleted},
			check: func(t *testing.T, h *harness, s record.Summary) {
				c0, c1 := s.ServerConfigs[0], s.ServerConfigs[1]
				// Marker 1 is seen at the servers' end, at +5 s, before any look.
				if c0.DurationSeconds != 3 || c1.DurationSeconds != 2 || c1.Status != "SUCCESS" {
					t.Errorf("configurations %+v, %+v; want 3 s and 2 s, the second SUCCESS", c0, c1)
				}
				// 2 + 2 + 2 + 1 + 1 tasks serve from the benchmark's launch.
				if c0.GPUSeconds != 24 || c1.GPUSeconds != 16 {
					t.Errorf("GPU-seconds %.1f, %.1f; want 24, 16", c0.GPUSeconds, c1.GPUSeconds)
				}
				if m := s.Measurement; m == nil || !strings.HasSuffix(m.StatusFile, "benchmark_status.1.txt") {
					t.Errorf("measurement %+v, want it closed by the last configuration's marker", m)
				}
				junit := readJUnit(t, h)
				if !strings.Contains(junit, `tests="3" failures="0" errors="0"`) {
					t.Errorf("JUnit, want 3 passing cases:\n%s", junit)
				}
				var out bytes.Buffer
				record.WriteReport(&out, s)
				for _, want := range []string{"CONFIG  STARTED  ENDED   DURATION  STATUS   VERDICT", "SUCCESS  completed",
					"serving by server configuration (GPU-s): config 0 24.0, config 1 16.0; after the last 0.0"} {
					if !strings.Contains(out.String(), want) {
						t.Errorf("console has no %q:\n%s", want, out.String())
					}
				}
			},
		},
		{
			name: "number known: the benchmark ends 0 before the last marker; a warning, the configuration failed",
			opts: options{serverConfigs: 2},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.announceConfig(0, "Done")
				h.advance(time.Second)
				h.exit("BENCHMARK", 0)
			},
			want:     outcome{state: record.RunSucceeded, warning: "the benchmark ended with 0 during server configuration 1, before its end marker"},
			verdicts: []record.ConfigVerdict{record.ConfigCompleted, record.ConfigFailed},
		},
		{
			name: "the idx placeholder of a liveness target is resolved anew at each configuration's start",
			opts: options{serverConfigs: 3, liveness: []string{"DISAGG_SERVER=file:{out}/health.{idx}@1s/3"}},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.announceConfig(0, "Done")
				h.advance(time.Second)
				h.announceConfig(1, "Done")
				h.advance(time.Second)
				h.signal(syscall.SIGTERM)
				h.sickMu.Lock()
				defer h.sickMu.Unlock()
				out := h.plan.OutputDir
				want := []string{"DISAGG_SERVER " + filepath.Join(out, "health.0"), "DISAGG_SERVER " + filepath.Join(out, "health.1"),
					"DISAGG_SERVER " + filepath.Join(out, "health.2")}
				if strings.Join(h.targets, "\n") != strings.Join(want, "\n") {
					t.Errorf("liveness targets %q, want %q", h.targets, want)
				}
			},
			want:     outcome{state: record.RunInterrupted, code: 143, class: verdict.ClassCancelled},
			verdicts: []record.ConfigVerdict{record.ConfigCompleted, record.ConfigCompleted, record.ConfigInterrupted},
		},
		{
			name: "a probe with idx is awaited again in configuration 1: a ready event for it, no failure; probes without idx are not repeated",
			opts: options{serverConfigs: 2, flags: idxProbe("@30s")},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.announceConfig(0, "Done")
				h.advance(time.Second) // configuration 1 starts: the router's probe for it with it
				h.advance(20 * time.Second)
				if s := h.summary(); s.State != record.RunRunning {
					t.Fatalf("decided (%s) while configuration 1's probe waits within its timeout", s.State)
				}
				if got := h.messages(record.EventReady); contains(got, "server configuration 1") {
					t.Fatalf("ready events %q before configuration 1's probe passed", got)
				}
				h.ready("DISAGG_SERVER", nil)
				if got := h.messages(record.EventReady); !contains(got, "DISAGG_SERVER: file probe passed: ready for server configuration 1") {
					t.Errorf("ready events %q, want the router ready for configuration 1", got)
				}
				h.advance(time.Minute) // past the probe's timeout: its bound no longer matters
				h.announceConfig(1, "Done")
				for _, name := range []string{"GEN_0", "GEN_1", "CTX_0", "DISAGG_SERVER"} {
					h.exit(name, 0)
				}
				h.exit("BENCHMARK", 0)
				h.sickMu.Lock()
				defer h.sickMu.Unlock()
				out := h.plan.OutputDir
				want := []string{"GEN_0 " + filepath.Join(out, "GEN_0.ready"), "GEN_1 " + filepath.Join(out, "GEN_1.ready"),
					"CTX_0 " + filepath.Join(out, "CTX_0.ready"), "DISAGG_SERVER " + filepath.Join(out, "DISAGG_SERVER.0.addr"),
					"DISAGG_SERVER " + filepath.Join(out, "DISAGG_SERVER.1.addr")}
				// The workers' probes run concurrently, in no set order; the router's follow them, and its
				// second comes with configuration 1.
				got := slices.Clone(h.probed)
				if len(got) == len(want) {
					slices.Sort(got[:3])
					slices.Sort(want[:3])
				}
				if !slices.Equal(got, want) {
					t.Errorf("probes awaited %q, want %q", h.probed, want)
				}
			},
			want:     outcome{state: record.RunSucceeded},
			verdicts: []record.ConfigVerdict{record.ConfigCompleted, record.ConfigCompleted},
		},
		{
			name: "a probe with idx that times out in configuration 1 fails the run as not ready (83) naming it",
			opts: options{serverConfigs: 3, flags: idxProbe("@30s")},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.advance(time.Second)
				h.announceConfig(0, "Done")
				h.advance(time.Second) // configuration 1 from +2 s
				h.advance(29 * time.Second)
				if s := h.summary(); s.State != record.RunRunning {
					t.Fatalf("decided (%s) 29 s into configuration 1, before the probe's 30 s", s.State)
				}
				h.advance(time.Second)
			},
			want: outcome{state: record.RunFailed, code: verdict.ExitNotReady, role: "DISAGG_SERVER",
				reason: "not ready for server configuration 1: readiness probe timed out after 30s: file "},
			verdicts: []record.ConfigVerdict{record.ConfigCompleted, record.ConfigFailed, record.ConfigNotStarted},
			check: func(t *testing.T, h *harness, s record.Summary) {
				if !strings.Contains(s.Failure.Reason, "DISAGG_SERVER.1.addr") || !strings.Contains(s.Failure.Reason, "[in server configuration 1 (index 1 of 3)") ||
					!strings.Contains(s.Failure.Reason, "configurations completed: 0]") {
					t.Errorf("reason %q, want configuration 1's target, configuration 1 and the completed ones", s.Failure.Reason)
				}
			},
		},
		{
			name: "a pass of configuration 1's probe arms the liveness check at once",
			opts: options{serverConfigs: 2, flags: idxProbe("@1m"), liveness: []string{"DISAGG_SERVER=tcp:{node}:1@1s/3"}},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.announceConfig(0, "Done")
				h.advance(time.Second) // configuration 1: the servers reload, refusing connections
				h.setSick("DISAGG_SERVER", errors.New("connect: connection refused"))
				every(h, time.Second, 5)
				if s := h.summary(); s.State != record.RunRunning {
					t.Fatalf("decided (%s) while the server reloads, before its probe passed", s.State)
				}
				h.ready("DISAGG_SERVER", nil)
				every(h, time.Second, 2)
				if s := h.summary(); s.State != record.RunRunning {
					t.Fatalf("decided (%s) after 2 failed checks, want 3", s.State)
				}
				h.advance(time.Second)
			},
			want: outcome{state: record.RunFailed, code: verdict.ExitHung, role: "DISAGG_SERVER",
				reason: "liveness check failed 3 times in a row", class: verdict.ClassHang},
			verdicts: []record.ConfigVerdict{record.ConfigCompleted, record.ConfigHung},
		},
		{
			name: "probes without idx are not awaited again in later configurations",
			opts: options{serverConfigs: 2},
			play: func(t *testing.T, h *harness) {
				h.up()
				h.announceConfig(0, "Done")
				h.advance(time.Second)
				h.advance(5 * time.Minute) // far past their timeout
				h.sickMu.Lock()
				n := len(h.probed)
				h.sickMu.Unlock()
				if n != 4 {
					t.Errorf("%d probes awaited, want the 4 of the launch", n)
				}
				h.announceConfig(1, "Done")
				h.exit("BENCHMARK", 0)
			},
			want:     outcome{state: record.RunSucceeded},
			verdicts: []record.ConfigVerdict{record.ConfigCompleted, record.ConfigCompleted},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, tt.opts)
				defer h.drain()
				tt.play(t, h)
				checkOutcome(t, h, h.result(), tt.want)
				s := h.summary()
				if got := configVerdicts(s); !equalVerdicts(got, tt.verdicts) {
					t.Errorf("configuration verdicts %v, want %v", got, tt.verdicts)
				}
				if tt.check != nil {
					tt.check(t, h, s)
				}
			})
		})
	}
}

// idxProbe gives the router a readiness probe on its address file of each configuration, with the
// timeout suffix given, and the workers theirs without {idx}.
func idxProbe(timeout string) func(*roles.Flags) {
	return func(f *roles.Flags) {
		f.Probes = []string{"GEN_*=file:{out}/{role}.ready", "CTX_*=file:{out}/{role}.ready",
			"DISAGG_SERVER=file:{out}/{role}.{idx}.addr" + timeout}
	}
}

func configVerdicts(s record.Summary) []record.ConfigVerdict {
	var v []record.ConfigVerdict
	for _, c := range s.ServerConfigs {
		v = append(v, c.Verdict)
	}
	return v
}

func equalVerdicts(a, b []record.ConfigVerdict) bool {
	return strings.Join(verdictStrings(a), ",") == strings.Join(verdictStrings(b), ",")
}

func verdictStrings(v []record.ConfigVerdict) []string {
	out := make([]string, len(v))
	for i, x := range v {
		out[i] = string(x)
	}
	return out
}

func readJUnit(t *testing.T, h *harness) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(h.plan.Workspace, record.JUnitFile))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestMarkerIndex reads the configuration index from an end marker's name.
func TestMarkerIndex(t *testing.T) {
	for name, want := range map[string]int{
		"/out/benchmark_status.0.txt": 0, "/out/benchmark_status.12.txt": 12, "/out/benchmark_status.txt": -1,
		"/out.3./benchmark_status": -1,
	} {
		if got := markerIndex(name); got != want {
			t.Errorf("markerIndex(%q) = %d, want %d", name, got, want)
		}
	}
}
