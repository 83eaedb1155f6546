package supervisor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
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
	EventConfig   = "config" // a server configuration ended or started (see configs.go)
	// EventLeftover is a process of a role that outlived its command and that its task stopped: one
	// event per process, at warning level.
	EventLeftover = "leftover"
)

// Event is one thing that happened during a run. Every event goes to the JSON event log and, as one
// readable line, to the console; nothing else in the package writes log lines.
type Event struct {
	Name    string
	Time    time.Time
	Role    string
	Nodes   string
	PID     int
	Code    *int
	Signal  string
	Elapsed time.Duration // since the run started
	// Duration is the length of the phase the event ends (launch to ready, launch to exit, teardown).
	Duration time.Duration
	Message  string
	// Debug marks what is expected and worth keeping only for a reader of the event log (a teardown
	// command refused because Slurm is already ending the job): level "debug", not on the console.
	Debug bool
	// Process, ProcessPID and Ran name a leftover process and say how long it had run.
	Process    string
	ProcessPID int
	Ran        time.Duration
}

// LogEntry is one line of the event log (EventsFile) as written: its JSON tags are the log's schema, and
// every reader in this module decodes the log into it (ReadEvents) rather than keeping a copy.
type LogEntry struct {
	Level     string    `json:"level"` // "warn" for EventWarning and EventLeftover, "debug" for Event.Debug, else "info"
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
}

// logEntry is the event as the event log records it.
func (ev Event) logEntry() LogEntry {
	level := "info"
	switch {
	case ev.Debug:
		level = "debug"
	case ev.Name == EventWarning, ev.Name == EventLeftover:
		level = "warn"
	}
	return LogEntry{
		Level: level, Time: ev.Time.UTC(), Event: ev.Name, Role: ev.Role, Nodes: ev.Nodes, Step: ev.PID,
		Code: ev.Code, Signal: ev.Signal, ElapsedS: ev.Elapsed.Seconds(), DurationS: ev.Duration.Seconds(),
		Message: ev.Message, Process: ev.Process, PID: ev.ProcessPID, RanS: ev.Ran.Seconds(),
	}
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
}

// eventLog writes each event as one JSON object to the event log and one readable line to the console.
type eventLog struct {
	logger  zerolog.Logger
	console io.Writer
}

func newEventLog(jsonOut, console io.Writer) eventLog {
	if jsonOut == nil {
		jsonOut = io.Discard
	}
	if console == nil {
		console = io.Discard
	}
	return eventLog{logger: zerolog.New(jsonOut), console: console}
}

func (l eventLog) emit(ev Event) {
	// zerolog writes each line in one Write, so a reader never sees half an event. The event log is
	// best effort, as the console is: a full disk must not stop the supervision.
	entry := ev.logEntry()
	level := zerolog.InfoLevel
	switch {
	case ev.Debug:
		level = zerolog.DebugLevel
	case ev.Name == EventWarning, ev.Name == EventLeftover:
		level = zerolog.WarnLevel
	}
	l.logger.WithLevel(level).EmbedObject(entry).Msg(entry.Message)
	if ev.Debug {
		return
	}

	var details []string
	if ev.Nodes != "" {
		details = append(details, "nodes="+ev.Nodes)
	}
	if ev.PID != 0 {
		details = append(details, fmt.Sprintf("pid=%d", ev.PID))
	}
	if ev.Code != nil {
		details = append(details, fmt.Sprintf("code=%d", *ev.Code))
	}
	if ev.Signal != "" {
		details = append(details, "signal="+ev.Signal)
	}
	if ev.Duration != 0 {
		details = append(details, fmt.Sprintf("took=%.2fs", ev.Duration.Seconds()))
	}
	line := fmt.Sprintf("%s +%6.2fs %-8s %-13s %s", ev.Time.Format("15:04:05.000"), ev.Elapsed.Seconds(), ev.Name, ev.Role, ev.Message)
	if len(details) > 0 {
		line += " [" + strings.Join(details, " ") + "]"
	}
	fmt.Fprintln(l.console, line)
}

func intPtr(v int) *int { return &v }
