package coord

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRunDir(t *testing.T) {
	if got, want := RunDir("/ws", "42.0.7"), "/ws/.disagg-supervisor/runs/42.0.7"; got != want {
		t.Errorf("RunDir = %q, want %q", got, want)
	}
}

// TestStateDirLayout: every path of the state directory that other packages use, which users'
// commands, the docs and the benchmark's batch scripts spell out in full.
func TestStateDirLayout(t *testing.T) {
	for _, tt := range []struct{ name, got, want string }{
		{"StateDir", StateDir("/ws"), "/ws/.disagg-supervisor"},
		{"TaskBinary", TaskBinary("/ws"), "/ws/.disagg-supervisor/bin/disagg-supervisor"},
		{"TaskBinary of a shell variable", TaskBinary("$dir/ws"), "$dir/ws/.disagg-supervisor/bin/disagg-supervisor"},
		{"FakeSlurmDir", FakeSlurmDir("/ws", "42"), "/ws/.disagg-supervisor/fake-slurm/42"},
		{"StaleDir", StaleDir("/ws", "42.0.7"), "/ws/.disagg-supervisor/stale/42.0.7"},
		{"LockFile", LockFile("/ws"), "/ws/.disagg-supervisor/lock"},
		{"RunDir", RunDir("/ws", "42.0.7"), "/ws/.disagg-supervisor/runs/42.0.7"},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestPaths(t *testing.T) {
	d := Dir("/c")
	for _, tt := range []struct{ got, want string }{
		{d.Started("GEN_0", 3), "/c/started/GEN_0/3"},
		{d.StartedDir("GEN_0"), "/c/started/GEN_0"},
		{d.Barrier(StepKey{"CTX_1", "42", "3"}, 0), "/c/barrier/CTX_1/job_42_step_3/0"},
		{d.BarrierDir(StepKey{Role: "../x"}), "/c/barrier/.._x/job_none_step_none"},
		{d.BarrierDir(StepKey{"GEN_0", "4/2", ".."}), "/c/barrier/GEN_0/job_4_2_step__.."},
		{d.Rank0(StepKey{"GEN_0", "42", "3"}).OK, "/c/rank0/GEN_0/job_42_step_3.ok"},
		{d.After(StepKey{"GEN_0", "42", "3"}, 2), "/c/after/GEN_0/job_42_step_3/2"},
		{d.Rank0(StepKey{"GEN_0", "42", "3"}).Failed, "/c/rank0/GEN_0/job_42_step_3.failed"},
		{d.InstallDir(), "/c/install"},
		{d.Install("node1").Lock, "/c/install/node1.lock"},
		{d.Install("node1").OK, "/c/install/node1.ok"},
		{d.Install("a/b").Failed, "/c/install/a_b.failed"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestName(t *testing.T) {
	for in, want := range map[string]string{
		"GEN_0": "GEN_0", "node-1.example": "node-1.example", "": "_", ".": "_.", "..": "_..",
		"a/b": "a_b", "a b=c": "a_b_c", "é": "_",
	} {
		if got := Name(in); got != want {
			t.Errorf("Name(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMarkerRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 30, 12, 34, 56, 0, time.UTC)
	for _, m := range []Marker{
		{Role: "GEN_0", Rank: 3, Node: "node2", PID: 4321, Job: "1234", Step: "5", Time: at},
		{Role: "BENCHMARK", Node: "n", Time: at},
		{Role: "GEN_1", Rank: 4, Node: "node1", PID: 77},
		{Role: "x", Rank: 1, Node: "n", PID: 1, Step: "0", Time: at},
	} {
		got, err := DecodeMarker(m.Encode())
		if err != nil {
			t.Fatalf("decode %q: %v", m.Encode(), err)
		}
		if diff := cmp.Diff(m, got); diff != "" {
			t.Errorf("round trip of %q (-want +got):\n%s", m.Encode(), diff)
		}
	}
}

// TestMarkerEncodeSanitizes: values from the environment may hold anything; what Encode writes must
// still decode, with the values as Name makes them, and the time in UTC to the second.
func TestMarkerEncodeSanitizes(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 999, time.FixedZone("X", 3600))
	m := Marker{Role: "A B", Rank: 2, Node: "n=1", PID: 7, Job: "j j", Step: "", Time: at}
	got, err := DecodeMarker(m.Encode())
	if err != nil {
		t.Fatal(err)
	}
	want := Marker{Role: "A_B", Rank: 2, Node: "n_1", PID: 7, Job: "j_j", Time: at.Truncate(time.Second).UTC()}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func FuzzMarker(f *testing.F) {
	f.Add("GEN_0", 0, "node1", 1, "12", "3", int64(1700000000))
	f.Add("", 5, "", 0, "", "", int64(0))
	f.Fuzz(func(t *testing.T, role string, rank int, node string, pid int, job, step string, unix int64) {
		if rank < 0 || pid < 0 || unix < 0 || unix > 253402300799 { // RFC 3339 years stop at 9999
			t.Skip()
		}
		m := Marker{Role: role, Rank: rank, Node: node, PID: pid, Job: job, Step: step}
		if unix > 0 {
			m.Time = time.Unix(unix, 0).UTC()
		}
		got, err := DecodeMarker(m.Encode())
		if err != nil {
			t.Fatalf("decode %q: %v", m.Encode(), err)
		}
		want := m
		want.Role, want.Node = Name(role), Name(node)
		if job != "" {
			want.Job = Name(job)
		}
		if step != "" {
			want.Step = Name(step)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("round trip of %q (-want +got):\n%s", m.Encode(), diff)
		}
	})
}

func TestDecodeMarkerMalformed(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", "marker lacks role, rank, node"},
		{"role=A node=n pid=2", "marker lacks rank"},
		{"role=A rank=x node=n pid=2 time=2026-01-01T00:00:00Z", `marker field rank="x": not a non-negative integer`},
		{"role=A rank=-1 node=n pid=2 time=2026-01-01T00:00:00Z", `marker field rank="-1": not a non-negative integer`},
		{"role=A rank=1 node=n pid=2 time=yesterday", `marker field time="yesterday"`},
		{"role=A rank=1 node=n pid=2 time=2026-01-01T00:00:00Z garbage", `marker field "garbage" is not key=value`},
		{"role=A role=B rank=1 node=n pid=2 time=2026-01-01T00:00:00Z", "marker has role twice"},
	} {
		_, err := DecodeMarker([]byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("DecodeMarker(%q) = %v, want an error with %q", tt.in, err, tt.want)
		}
	}
	// A newer writer's extra fields do not make a marker unreadable.
	if _, err := DecodeMarker([]byte("role=A rank=1 node=n pid=2 time=2026-01-01T00:00:00Z gpu=3")); err != nil {
		t.Errorf("unknown field: %v", err)
	}
}

func TestExitCodeRoundTrip(t *testing.T) {
	for _, code := range []int{1, 3, 127, 143, 255, 0, -1} {
		got, err := DecodeExitCode(EncodeExitCode(code))
		if err != nil || got != code {
			t.Errorf("round trip of %d = %d, %v", code, got, err)
		}
	}
	for _, in := range []string{"", "x", "1.5", "3 4"} {
		if _, err := DecodeExitCode([]byte(in)); err == nil || !strings.Contains(err.Error(), "not an integer") {
			t.Errorf("DecodeExitCode(%q) = %v, want a 'not an integer' error", in, err)
		}
	}
}

func TestReadExitCode(t *testing.T) {
	dir := t.TempDir()
	for content, want := range map[string]int{"5\n": 5, "0\n": 1, "junk": 1, "": 1} {
		p := filepath.Join(dir, "f")
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := ReadExitCode(p); got != want {
			t.Errorf("ReadExitCode of %q = %d, want %d", content, got, want)
		}
	}
	if got := ReadExitCode(filepath.Join(dir, "missing")); got != 1 {
		t.Errorf("missing file: %d, want 1", got)
	}
}

func TestWriteAndReadMarker(t *testing.T) {
	d := Dir(t.TempDir())
	if _, err := ReadMarker(d.Started("GEN_0", 0)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing marker: %v, want fs.ErrNotExist", err)
	}
	m := Marker{Role: "GEN_0", Rank: 1, Node: "n1", PID: 9, Step: "4", Time: time.Unix(1700000000, 0).UTC()}
	if err := WriteMarker(d.Started("GEN_0", 1), m); err != nil {
		t.Fatal(err)
	}
	got, err := ReadMarker(d.Started("GEN_0", 1))
	if err != nil || got != m {
		t.Errorf("ReadMarker = %+v, %v; want %+v", got, err, m)
	}
	if err := os.WriteFile(d.Started("GEN_0", 2), []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadMarker(d.Started("GEN_0", 2)); err == nil || errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "started/GEN_0/2") {
		t.Errorf("malformed marker: %v, want an error naming the file", err)
	}
}

func TestRanks(t *testing.T) {
	d := Dir(t.TempDir())
	if got, err := Ranks(d.BarrierDir(StepKey{Role: "GEN_0"})); err != nil || len(got) != 0 {
		t.Errorf("missing dir: %v, %v", got, err)
	}
	dir := d.BarrierDir(StepKey{Role: "GEN_0"})
	for _, name := range []string{"10", "2", "0", ".2.123.tmp", "-1", "01", "x"} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "3"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := Ranks(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{0, 2, 10}, got); diff != "" {
		t.Errorf("ranks (-want +got):\n%s", diff)
	}
}

func TestFailedInstalls(t *testing.T) {
	d := Dir(t.TempDir())
	if got, err := d.FailedInstalls(); err != nil || got != nil {
		t.Errorf("no install dir: %v, %v", got, err)
	}
	installer := Marker{Role: "CTX_0", Rank: 2, Node: "node4", PID: 5, Time: time.Unix(1700000000, 0).UTC()}
	if err := WriteFailed(d.Install("node4").Failed, 5); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.Install("node4").Lock, installer.Encode(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFailed(d.Install("node3").Failed, 0); err != nil {
		t.Fatal(err)
	}
	if err := WriteMarker(d.Install("node2").OK, installer); err != nil {
		t.Fatal(err)
	}
	got, err := d.FailedInstalls()
	if err != nil {
		t.Fatal(err)
	}
	want := []FailedInstall{
		{Node: "node3", Code: 1},
		{Node: "node4", Code: 5, Installer: installer, InstallerKnown: true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "summary.json")
	for _, content := range []string{"first", "second"} {
		if err := WriteFileAtomic(p, []byte(content)); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(p); string(got) != content {
			t.Errorf("content %q, want %q", got, content)
		}
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode: %v, %v; want 0644", fi.Mode(), err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	if err := WriteFileAtomic(filepath.Join(dir, "missing", "f"), nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing directory: %v, want fs.ErrNotExist (the caller decides whether to create it)", err)
	}
}

func TestFailureRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x", "f.failed")
	if err := WriteFailure(path, Failure{Code: 3, Message: "prep failed\non node1"}); err != nil {
		t.Fatal(err)
	}
	if got, want := ReadFailure(path), (Failure{Code: 3, Message: "prep failed on node1"}); got != want {
		t.Errorf("ReadFailure = %+v, want %+v", got, want)
	}
	if err := os.WriteFile(path, []byte("zero\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := ReadFailure(path); got.Code != 1 {
		t.Errorf("unparsable failure: code %d, want 1", got.Code)
	}
}

func TestReleaseRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "barrier", "GEN_0", "job_1_step_2.released")
	want := Release{By: Marker{Role: "GEN_0", Rank: 3, Node: "node2", PID: 7}, At: time.Unix(1700000000, 640000000)}
	if err := WriteRelease(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadRelease(path)
	if err != nil || got.By != want.By || !got.At.Equal(want.At) {
		t.Errorf("ReadRelease = %+v, %v; want %+v", got, err, want)
	}
	if _, err := ReadRelease(path + ".none"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// TestWriteFailedRaisesTheFlag: a waiter polls the one flag file, and finds the node in the listing.
func TestWriteFailedRaisesTheFlag(t *testing.T) {
	d := Dir(t.TempDir())
	if err := WriteFailed(d.Install("node7").Failed, 4); err != nil {
		t.Fatal(err)
	}
	if got := ReadExitCode(d.AnyInstallFailed()); got != 4 {
		t.Errorf("flag holds %d, want 4", got)
	}
	failed, err := d.FailedInstalls()
	if err != nil || len(failed) != 1 || failed[0].Node != "node7" {
		t.Errorf("FailedInstalls = %+v, %v; want node7 alone (the flag is no node)", failed, err)
	}
}
