package record

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"
)

// The names of the events in supervisor.events.jsonl. They are part of the event log's schema.
const (
	EventPlan     = "plan"
	EventLaunch   = "launch"
	EventRunning  = "running"
	EventReady    = "ready"
	EventExit     = "exit"
	EventSignal   = "signal"
	EventTeardown = "teardown"
	EventStopped  = "stopped"
	EventFinished = "finished" // a server ended with 0 after the benchmark announced its end
	EventDone     = "done"     // the teardown is over: every step has ended
	EventWarning  = "warning"
	EventResult   = "result"
	EventCheck    = "check"  // a pre-flight step's verdict
	EventConfig   = "config" // a server configuration ended or started (ServerConfig)
	// EventLeftover is a process of a role that outlived its command and that its task stopped: one
	// event per process, at warning level.
	EventLeftover = "leftover"
)

// LogEntry is one line of the event log (EventsFile) as written: its JSON tags are the log's schema, and
// every reader in this module decodes the log into it (ReadEvents) rather than keeping a copy.
type LogEntry struct {
	Level     string    `json:"level"` // "warn" for EventWarning and EventLeftover, "debug" for what only a reader of the log needs, else "info"
	Time      time.Time `json:"time"`
	Event     string    `json:"event"`
	Role      string    `json:"role,omitempty"`
	Nodes     string    `json:"nodes,omitempty"`
	Step      int       `json:"step,omitempty"` // the step's srun process id
	Code      *int      `json:"code,omitempty"`
	Signal    string    `json:"signal,omitempty"`
	ElapsedS  float64   `json:"elapsed_s"`
	DurationS float64   `json:"duration_s,omitempty"`
	Message   string    `json:"message,omitempty"`
	// Process, PID and RanS are a leftover's name, pid and how long it had run, in seconds.
	Process string  `json:"process,omitempty"`
	PID     int     `json:"pid,omitempty"`
	RanS    float64 `json:"ran_s,omitempty"`
	// Steps are the steps a teardown event's SIGTERM went to, in launch order.
	Steps []string `json:"steps,omitempty"`
}

// ReadEvents reads the event log of the run in workspace ws, oldest first.
func ReadEvents(ws string) ([]LogEntry, error) {
	path := filepath.Join(ws, EventsFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []LogEntry
	for i, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var e LogEntry
		if err := json.Unmarshal(line, &e); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// MarshalZerologObject writes the entry's fields into a zerolog event; level and message are
// zerolog's own fields. Writer and readers thus share this one type and its field names.
func (e LogEntry) MarshalZerologObject(z *zerolog.Event) {
	// Our own timestamp field: zerolog's Timestamp() formats with a package-level setting, which has
	// second precision by default and is not ours to change.
	z.Str("time", e.Time.Format(time.RFC3339Nano)).Str("event", e.Event)
	if e.Role != "" {
		z.Str("role", e.Role)
	}
	if e.Nodes != "" {
		z.Str("nodes", e.Nodes)
	}
	if e.Step != 0 {
		z.Int("step", e.Step)
	}
	if e.Code != nil {
		z.Int("code", *e.Code)
	}
	if e.Signal != "" {
		z.Str("signal", e.Signal)
	}
	z.Float64("elapsed_s", e.ElapsedS)
	if e.DurationS != 0 {
		z.Float64("duration_s", e.DurationS)
	}
	if e.Process != "" {
		z.Str("process", e.Process)
	}
	if e.PID != 0 {
		z.Int("pid", e.PID)
	}
	if e.RanS != 0 {
		z.Float64("ran_s", e.RanS)
	}
	if len(e.Steps) > 0 {
		z.Strs("steps", e.Steps)
	}
}
