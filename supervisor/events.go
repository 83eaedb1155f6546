package supervisor

import (
	"fmt"
	"io"
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
	var entry *zerolog.Event
	if ev.Name == EventWarning {
		entry = l.logger.Warn()
	} else {
		entry = l.logger.Info()
	}
	// Our own timestamp field: zerolog's Timestamp() formats with a package-level setting, which
	// has second precision by default and is not ours to change.
	entry = entry.Str(zerolog.TimestampFieldName, ev.Time.UTC().Format(time.RFC3339Nano)).Str("event", ev.Name)
	var details []string
	if ev.Role != "" {
		entry = entry.Str("role", ev.Role)
	}
	if ev.Nodes != "" {
		entry = entry.Str("nodes", ev.Nodes)
		details = append(details, "nodes="+ev.Nodes)
	}
	if ev.PID != 0 {
		entry = entry.Int("step", ev.PID)
		details = append(details, fmt.Sprintf("pid=%d", ev.PID))
	}
	if ev.Code != nil {
		entry = entry.Int("code", *ev.Code)
		details = append(details, fmt.Sprintf("code=%d", *ev.Code))
	}
	if ev.Signal != "" {
		entry = entry.Str("signal", ev.Signal)
		details = append(details, "signal="+ev.Signal)
	}
	entry = entry.Float64("elapsed_s", ev.Elapsed.Seconds())
	if ev.Duration != 0 {
		entry = entry.Float64("duration_s", ev.Duration.Seconds())
		details = append(details, fmt.Sprintf("took=%.2fs", ev.Duration.Seconds()))
	}
	entry.Msg(ev.Message)

	line := fmt.Sprintf("%s +%6.2fs %-8s %-13s %s", ev.Time.Format("15:04:05.000"), ev.Elapsed.Seconds(), ev.Name, ev.Role, ev.Message)
	if len(details) > 0 {
		line += " [" + strings.Join(details, " ") + "]"
	}
	fmt.Fprintln(l.console, line)
}

func intPtr(v int) *int { return &v }
