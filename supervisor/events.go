package supervisor

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/rs/zerolog"
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
	// Steps are the steps a teardown's SIGTERM went to.
	Steps []string
}

// logEntry is the event as the event log records it.
func (ev Event) logEntry() record.LogEntry {
	level := "info"
	switch {
	case ev.Debug:
		level = "debug"
	case ev.Name == record.EventWarning, ev.Name == record.EventLeftover:
		level = "warn"
	}
	return record.LogEntry{
		Level: level, Time: ev.Time.UTC(), Event: ev.Name, Role: ev.Role, Nodes: ev.Nodes, Step: ev.PID,
		Code: ev.Code, Signal: ev.Signal, ElapsedS: ev.Elapsed.Seconds(), DurationS: ev.Duration.Seconds(),
		Message: ev.Message, Process: ev.Process, PID: ev.ProcessPID, RanS: ev.Ran.Seconds(), Steps: ev.Steps,
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
	case ev.Name == record.EventWarning, ev.Name == record.EventLeftover:
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
