package coord

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLeftoversPaths(t *testing.T) {
	d := Dir("/c")
	if got, want := d.LeftoversFile(StepKey{"GEN_0", "42", "3"}, 1), "/c/leftovers/GEN_0/job_42_step_3/1"; got != want {
		t.Errorf("LeftoversFile = %q, want %q", got, want)
	}
	if got, want := d.LeftoversDir(StepKey{Role: "../x"}), "/c/leftovers/.._x/job_none_step_none"; got != want {
		t.Errorf("LeftoversDir = %q, want %q", got, want)
	}
}

// TestLeftoversRoundTrip: what WriteLeftovers writes, ReadLeftovers and RoleLeftovers read back as it
// was, names with spaces and parentheses included (a process may name itself anything).
func TestLeftoversRoundTrip(t *testing.T) {
	d := Dir(t.TempDir())
	at := time.Date(2025, 3, 4, 5, 6, 7, 891, time.UTC)
	want := []Leftovers{
		{Role: "GEN_0", Rank: 0, Node: "node1", Job: "42", Step: "3", Time: at,
			Processes: []Leftover{{Name: "sleep", PID: 4242, Ran: 5*time.Second + 30*time.Millisecond}, {Name: "a) b (c \"q\"", PID: 7}}},
		{Role: "GEN_0", Rank: 2, Node: "node2", Job: "42", Step: "3", Time: at,
			Processes: []Leftover{{Name: "python3", PID: 99, Ran: time.Hour}}},
		{Role: "GEN_0", Rank: 0, Node: "node1", Time: at, Processes: []Leftover{{Name: "x", PID: 1}}},
	}
	for _, l := range want {
		path := d.LeftoversFile(StepKey{l.Role, l.Job, l.Step}, l.Rank)
		if err := WriteLeftovers(path, l); err != nil {
			t.Fatal(err)
		}
		got, err := ReadLeftovers(path)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(l, got); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
	got, err := d.RoleLeftovers("GEN_0")
	if err != nil {
		t.Fatal(err)
	}
	// Ordered by step directory (job_42_step_3 before job_none_step_none), then rank.
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RoleLeftovers (-want +got):\n%s", diff)
	}
	if got, err := d.RoleLeftovers("CTX_0"); err != nil || got != nil {
		t.Errorf("RoleLeftovers of a role without any = %v, %v; want none", got, err)
	}
}

// TestLeftoversBadFiles: a file that does not decode is named in the error; the good ones are still
// returned, and a write in progress (a dot file) is not read.
func TestLeftoversBadFiles(t *testing.T) {
	d := Dir(t.TempDir())
	k := StepKey{"CTX_0", "1", "0"}
	good := Leftovers{Role: "CTX_0", Rank: 1, Node: "n", Processes: []Leftover{{Name: "sleep", PID: 3}}}
	if err := WriteLeftovers(d.LeftoversFile(k, 1), good); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"0":              "{not json",
		"2":              `{"role":"CTX_0","rank":2,"node":"n","processes":[{"name":"x","pid":0}]}`,
		"3":              `{"rank":3,"processes":[]}`,
		".1.123.tmp":     "partial",
		"not-a-rank.txt": "ignored",
	} {
		if err := os.WriteFile(filepath.Join(d.LeftoversDir(k), name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := d.RoleLeftovers("CTX_0")
	if diff := cmp.Diff([]Leftovers{good}, got); diff != "" {
		t.Errorf("RoleLeftovers (-want +got):\n%s", diff)
	}
	if err == nil {
		t.Fatal("no error for three bad files")
	}
	for _, want := range []string{"/0: leftovers file:", "/2: leftovers file has a process without a pid", "/3: leftovers file does not name"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// TestLeftoverRanText: a run time to 10 ms, and words for one the task could not tell.
func TestLeftoverRanText(t *testing.T) {
	for ran, want := range map[time.Duration]string{
		0: "an unknown time", -time.Second: "an unknown time",
		1234567890 * time.Nanosecond: "1.23s", 10 * time.Millisecond: "10ms",
	} {
		if got := (Leftover{Ran: ran}).RanText(); got != want {
			t.Errorf("RanText of %v = %q, want %q", ran, got, want)
		}
	}
}
