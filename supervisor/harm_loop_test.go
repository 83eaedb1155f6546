package supervisor

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/roles"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

// TestHeartbeat: a running supervisor rewrites summary.json every HeartbeatPeriod when nothing else
// changes, and not on the stall watch's samples, several a second.
func TestHeartbeat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, options{hang: HangSettings{StallTimeout: time.Minute}})
		defer h.drain()
		h.up()
		first := h.summary()
		if first.Supervisor == nil || first.Supervisor.PID != os.Getpid() || first.Supervisor.Host == "" ||
			first.UpdatedAt == nil || !first.Supervisor.StartedAt.Equal(first.StartedAt) {
			t.Fatalf("summary names supervisor %+v, updated at %v; want this process, started with the run", first.Supervisor, first.UpdatedAt)
		}
		// The benchmark runs, so the stall watch samples the logs all along.
		for range 49 {
			h.advance(100 * time.Millisecond)
		}
		if got := h.summary().UpdatedAt; !got.Equal(*first.UpdatedAt) {
			t.Fatalf("summary rewritten at %v, before the heartbeat was due and with nothing changed", got)
		}
		h.advance(record.HeartbeatPeriod - 4900*time.Millisecond)
		if got, want := *h.summary().UpdatedAt, first.UpdatedAt.Add(record.HeartbeatPeriod); !got.Equal(want) {
			t.Fatalf("updated_at %v after one heartbeat period, want %v", got, want)
		}
		h.advance(record.HeartbeatPeriod)
		if got, want := *h.summary().UpdatedAt, first.UpdatedAt.Add(2*record.HeartbeatPeriod); !got.Equal(want) {
			t.Fatalf("updated_at %v after two heartbeat periods, want %v", got, want)
		}
	})
}

// TestEndMarkerMustBeAFile: a directory that matches the end-marker pattern is not the benchmark's
// status file, so a server ending with 0 is still an early exit.
func TestEndMarkerMustBeAFile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, options{})
		defer h.drain()
		h.up()
		if err := os.Mkdir(filepath.Join(h.plan.OutputDir, "benchmark_status.d"), 0o755); err != nil {
			t.Fatal(err)
		}
		h.exit("GEN_0", 0)
		s := h.summary()
		if s.State != record.RunFailed || s.ExitCode == nil || *s.ExitCode != verdict.ExitEarlyExit || s.Failure == nil || s.Failure.Role != "GEN_0" {
			t.Fatalf("state %s, exit code %v, failure %+v; want GEN_0's early exit (%d)", s.State, s.ExitCode, s.Failure, verdict.ExitEarlyExit)
		}
	})
}

// TestStaleDirectoryMatchIsBadInput: a directory that matches an end marker when the run starts can
// be neither an earlier attempt's marker nor moved aside as one: bad input, nothing launched, nothing
// of the run written, the directory left as it was.
func TestStaleDirectoryMatchIsBadInput(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var dir string
		h := newHarness(t, options{flags: func(f *roles.Flags) {
			dir = filepath.Join(f.Workspace, "benchmark_status.d")
			if err := os.MkdirAll(filepath.Join(dir, "inside"), 0o755); err != nil {
				t.Fatal(err)
			}
		}})
		defer h.drain()
		if res := h.result(); res.Code != verdict.ExitBadInput {
			t.Fatalf("exit code %d, want %d", res.Code, verdict.ExitBadInput)
		}
		if calls := h.calls("start"); len(calls) > 0 {
			t.Errorf("launched %v", calls)
		}
		if _, err := os.Stat(filepath.Join(h.plan.Workspace, record.SummaryFile)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("summary.json written (%v)", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "inside")); err != nil {
			t.Errorf("the matching directory was touched: %v", err)
		}
	})
}

// TestSecondRunInWorkspaceIsRefused: while a supervisor holds the workspace, a second one launches
// nothing and writes nothing, and the first one's record names it.
func TestSecondRunInWorkspaceIsRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var held *workspaceLock
		holder := LockHolder{PID: 4242, Host: "login7", JobID: "41", RestartCount: 1, RunToken: "41.1.4242",
			StartedAt: time.Date(2026, 11, 30, 4, 0, 0, 0, time.UTC)}
		h := newHarness(t, options{flags: func(f *roles.Flags) {
			var err error
			if held, err = lockWorkspace(roles.Plan{Workspace: f.Workspace}, holder); err != nil {
				t.Fatal(err)
			}
		}})
		defer h.drain()
		defer held.release()
		if res := h.result(); res.Code != verdict.ExitBadInput {
			t.Fatalf("exit code %d, want %d", res.Code, verdict.ExitBadInput)
		}
		if calls := h.calls("start"); len(calls) > 0 {
			t.Errorf("launched %v", calls)
		}
		if _, err := os.Stat(filepath.Join(h.plan.Workspace, record.SummaryFile)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("summary.json written (%v)", err)
		}
		data, err := os.ReadFile(coord.LockFile(h.plan.Workspace))
		if err != nil || !strings.Contains(string(data), `"run_token":"41.1.4242"`) {
			t.Errorf("the holder's record was changed (%v): %s", err, data)
		}
	})
}

// TestWorkspaceLockNamesHolder: the second supervisor's message names the holder; the same job at
// another restart count is told apart; a released lock can be taken again.
func TestWorkspaceLockNamesHolder(t *testing.T) {
	ws := t.TempDir()
	first := LockHolder{PID: 4242, Host: "gpu-a01", JobID: "77", RestartCount: 0, RunToken: "77.0.4242",
		StartedAt: time.Date(2026, 11, 30, 4, 0, 0, 0, time.UTC)}
	held, err := lockWorkspace(roles.Plan{Workspace: ws, JobID: "77"}, first)
	if err != nil {
		t.Fatal(err)
	}
	_, err = lockWorkspace(roles.Plan{Workspace: ws, JobID: "78"}, LockHolder{PID: 1})
	var busy *workspaceBusyError
	if !errors.As(err, &busy) {
		t.Fatalf("second lock: %v, want the workspace busy", err)
	}
	for _, want := range []string{"workspace " + ws + ": another supervisor runs in it", "pid 4242 on host gpu-a01",
		"job 77 (run token 77.0.4242)", "started at 2026-11-30T04:00:00Z", coord.LockFile(ws)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q: %s", want, err)
		}
	}
	if strings.Contains(err.Error(), "attempt") {
		t.Errorf("another job's message speaks of attempts: %s", err)
	}
	_, err = lockWorkspace(roles.Plan{Workspace: ws, JobID: "77", RestartCount: 1}, LockHolder{PID: 1})
	if err == nil || !strings.Contains(err.Error(), "it is attempt 0 of this same job (this is attempt 1)") {
		t.Errorf("a requeued attempt's message: %v", err)
	}
	held.release()
	again, err := lockWorkspace(roles.Plan{Workspace: ws, JobID: "78"}, LockHolder{PID: 2, JobID: "78"})
	if err != nil {
		t.Fatalf("lock after its release: %v", err)
	}
	again.release()
}

// TestMoveStale: an earlier attempt's files are moved, with their content and their place relative
// to the workspace, into the attempt's stale directory; nothing is deleted, nothing overwritten.
func TestMoveStale(t *testing.T) {
	ws := t.TempDir()
	out := filepath.Join(t.TempDir(), "out") // an output directory outside the workspace
	plan, err := roles.Build(roles.Sources{Flags: roles.Flags{
		Nodelist: "node[1-2]", GPUsPerNode: ptr(2), JobID: "9", NumGen: ptr(1), NodesPerGen: ptr(1),
		GPUsPerNodePerGen: ptr(2), Command: "pytest x", Workspace: ws, OutputDir: out,
		Precheck: ptr(true), PrecheckGenCommand: "check",
	}, Getenv: func(string) string { return "" }, ReadFile: os.ReadFile, Unique: "1"})
	if err != nil {
		t.Fatal(err)
	}
	const precheckDir = "cache_transceiver_precheck" // today's precheck's directory, as its users know it
	files := map[string]string{
		filepath.Join(ws, "status", "benchmark_status.0.txt"):           "marker",
		filepath.Join(out, "gen_server_0.done"):                         "done",
		filepath.Join(out, precheckDir, "status", "gen_0.status"):       "PASS",
		filepath.Join(out, precheckDir, "csv", "gen_0", "transfer.csv"): "csv",
		filepath.Join(ws, "keep.txt"):                                   "the user's",
	}
	for name, text := range files {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stale := coord.StaleDir(ws, plan.RunToken)
	// A file of the same name already there (a pid reused by a later attempt) stays as it is.
	if err := os.MkdirAll(filepath.Join(stale, "status"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stale, "status", "benchmark_status.0.txt"), []byte("older"), 0o644); err != nil {
		t.Fatal(err)
	}
	moved, err := moveStale(plan, []string{filepath.Join(ws, "status", "benchmark_status*")})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		filepath.Join(ws, "status", "benchmark_status.0.txt"):           filepath.Join(stale, "status", "benchmark_status.0.txt.1"),
		filepath.Join(out, "gen_server_0.done"):                         filepath.Join(stale, coord.StaleOutputDir, "gen_server_0.done"),
		filepath.Join(out, precheckDir, "status", "gen_0.status"):       filepath.Join(stale, coord.StaleOutputDir, precheckDir, "status", "gen_0.status"),
		filepath.Join(out, precheckDir, "csv", "gen_0", "transfer.csv"): filepath.Join(stale, coord.StaleOutputDir, precheckDir, "csv", "gen_0", "transfer.csv"),
	}
	if len(moved) != 4 {
		t.Errorf("moved %v, want 4 items", moved)
	}
	for from, to := range want {
		if _, err := os.Lstat(from); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there (%v)", from, err)
		}
		if data, err := os.ReadFile(to); err != nil || string(data) != files[from] {
			t.Errorf("%s: %q (%v), want %q moved from %s", to, data, err, files[from], from)
		}
	}
	if data, _ := os.ReadFile(filepath.Join(stale, "status", "benchmark_status.0.txt")); string(data) != "older" {
		t.Errorf("a file already in the stale directory was overwritten: %q", data)
	}
	if data, _ := os.ReadFile(filepath.Join(ws, "keep.txt")); string(data) != "the user's" {
		t.Errorf("a file no pattern names was touched: %q", data)
	}
	if msg := staleEvent(stale, moved); !strings.Contains(msg, filepath.Join(out, "gen_server_0.done")+" -> "+want[filepath.Join(out, "gen_server_0.done")]) {
		t.Errorf("the event does not say what moved where: %s", msg)
	}
}

// TestMoveStaleCannotMove: a stale file that cannot be moved stops the run before anything is
// launched, with an error naming it, and stays where it was.
func TestMoveStaleCannotMove(t *testing.T) {
	ws := t.TempDir()
	plan, err := roles.Build(roles.Sources{Flags: roles.Flags{
		Nodelist: "node1", GPUsPerNode: ptr(2), JobID: "9", NumGen: ptr(1), NodesPerGen: ptr(1),
		GPUsPerNodePerGen: ptr(2), Command: "pytest x", Workspace: ws,
	}, Getenv: func(string) string { return "" }, ReadFile: os.ReadFile, Unique: "1"})
	if err != nil {
		t.Fatal(err)
	}
	done := filepath.Join(ws, "gen_server_0.done")
	if err := os.WriteFile(done, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// The stale directory cannot be made: a file stands where its parent must be (root or not).
	if err := os.MkdirAll(coord.StateDir(ws), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Dir(coord.StaleDir(ws, plan.RunToken)), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = moveStale(plan, nil)
	if err == nil || !strings.HasPrefix(err.Error(), done+": cannot move "+done+" (an earlier attempt's GEN end sentinel) to ") {
		t.Fatalf("moveStale: %v, want an error naming %s", err, done)
	}
	if _, err := os.Stat(done); err != nil {
		t.Errorf("the file that could not be moved is gone: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }
