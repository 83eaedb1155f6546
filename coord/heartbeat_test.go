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

// TestHeartbeatRoundTrip: what a task writes into its node's heartbeat file reads back as it was, the
// time to the nanosecond in UTC, through the file the supervisor opens.
func TestHeartbeatRoundTrip(t *testing.T) {
	d := Dir(t.TempDir())
	at := time.Date(2026, 11, 30, 5, 0, 1, 123456789, time.FixedZone("X", 3600))
	path := d.Heartbeat("node2")
	if want := filepath.Join(string(d), "nodes", "node2"); path != want {
		t.Errorf("Heartbeat(node2) = %s, want %s", path, want)
	}
	if _, err := ReadHeartbeat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing heartbeat: %v, want fs.ErrNotExist", err)
	}
	for _, h := range []Heartbeat{
		{Writer: Marker{Role: "GEN_1", Rank: 2, Node: "node2", PID: 4321, Job: "41", Step: "3"}, Seq: 1, Time: at},
		{Writer: Marker{Role: "CTX_0", Node: "node2", PID: 7}, Seq: 1 << 40, Time: at.Add(time.Second)},
	} {
		if err := WriteHeartbeat(path, h); err != nil {
			t.Fatal(err)
		}
		got, err := ReadHeartbeat(path)
		if err != nil {
			t.Fatal(err)
		}
		want := h
		want.Time = h.Time.UTC()
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("round trip of %q (-want +got):\n%s", h.Encode(), diff)
		}
		if got.String() != h.String() {
			t.Errorf("String: %q, want %q", got.String(), h.String())
		}
	}
	if tmp, _ := filepath.Glob(filepath.Join(d.HeartbeatDir(), ".*")); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
	// A node name from the environment cannot point outside the directory.
	if got := d.Heartbeat("../x"); filepath.Dir(got) != d.HeartbeatDir() {
		t.Errorf("Heartbeat(../x) = %s, outside %s", got, d.HeartbeatDir())
	}
}

// TestHeartbeatEveryWriteDiffers: two writes within the clock's resolution still differ, by their
// sequence numbers, so that a reader comparing contents sees both.
func TestHeartbeatEveryWriteDiffers(t *testing.T) {
	at := time.Unix(1700000000, 0)
	w := Marker{Role: "GEN_0", Node: "n1", PID: 9}
	a, b := Heartbeat{Writer: w, Seq: 1, Time: at}, Heartbeat{Writer: w, Seq: 2, Time: at}
	if a.String() == b.String() {
		t.Errorf("two writes encode the same: %q", a.String())
	}
}

func TestDecodeHeartbeatMalformed(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct{ data, want string }{
		{"role=GEN_0 rank=0 node=n pid=1 time=2026-11-30T05:00:00Z", "lacks seq"},
		{"role=GEN_0 rank=0 node=n pid=1 seq=1", "lacks time"},
		{"role=GEN_0 rank=0 node=n pid=1 seq=x time=2026-11-30T05:00:00Z", `seq="x"`},
		{"rank=0 node=n seq=1 time=2026-11-30T05:00:00Z", "lacks role"},
		{"half", "not key=value"},
	} {
		path := filepath.Join(dir, "hb")
		if err := os.WriteFile(path, []byte(tt.data), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := ReadHeartbeat(path)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%q: %v, want an error naming the file and %q", tt.data, err, tt.want)
		}
	}
}
