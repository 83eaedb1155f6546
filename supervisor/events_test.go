package supervisor

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestEventLogLine pins the event log's JSON, which docs/outputs.md documents and outside tools read: key
// names, their order, and which keys are left out when empty.
func TestEventLogLine(t *testing.T) {
	at := time.Date(2026, 11, 30, 6, 0, 1, 500_000_000, time.FixedZone("X", 3600))
	tests := []struct {
		ev   Event
		want string
	}{
		{Event{Name: EventExit, Time: at, Role: "GEN_0", Nodes: "node[1-2]", PID: 42, Code: intPtr(3), Signal: "KILL",
			Elapsed: 1500 * time.Millisecond, Duration: 250 * time.Millisecond, Message: "a && b <c>"},
			`{"level":"info","time":"2026-11-30T05:00:01.5Z","event":"exit","role":"GEN_0","nodes":"node[1-2]","step":42,"code":3,"signal":"KILL","elapsed_s":1.5,"duration_s":0.25,"message":"a && b <c>"}`},
		{Event{Name: EventWarning, Time: at},
			`{"level":"warn","time":"2026-11-30T05:00:01.5Z","event":"warning","elapsed_s":0}`},
		{Event{Name: EventLeftover, Time: at, Role: "GEN_0", Nodes: "node1", Process: "sleep", ProcessPID: 4242, Ran: 1250 * time.Millisecond,
			Elapsed: 2 * time.Second, Message: "process sleep (pid 4242) ..."},
			`{"level":"warn","time":"2026-11-30T05:00:01.5Z","event":"leftover","role":"GEN_0","nodes":"node1","elapsed_s":2,"process":"sleep","pid":4242,"ran_s":1.25,"message":"process sleep (pid 4242) ..."}`},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		newEventLog(&out, nil).emit(tt.ev)
		if got := out.String(); got != tt.want+"\n" {
			t.Errorf("event log line\n got %s\nwant %s", got, tt.want)
		}
	}
}

// TestReadEvents: what the writer writes, ReadEvents gives back.
func TestReadEvents(t *testing.T) {
	ws := t.TempDir()
	at := time.Date(2026, 11, 30, 6, 0, 1, 0, time.UTC)
	evs := []Event{
		{Name: EventLaunch, Time: at, Role: "CTX_0", PID: 7, Elapsed: time.Second},
		{Name: EventResult, Time: at.Add(time.Second), Code: intPtr(0), Message: "done"},
		{Name: EventLeftover, Time: at.Add(time.Second), Role: "GEN_0", Nodes: "node1", Process: "sleep", ProcessPID: 9, Ran: time.Minute},
	}
	var out bytes.Buffer
	l := newEventLog(&out, nil)
	var want []LogEntry
	for _, ev := range evs {
		l.emit(ev)
		want = append(want, ev.logEntry())
	}
	if err := os.WriteFile(filepath.Join(ws, EventsFile), out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadEvents(ws)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ReadEvents (-want +got):\n%s", diff)
	}
}
