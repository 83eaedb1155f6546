package record

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/internal/proctable"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

// HeartbeatPeriod is how often a running supervisor rewrites summary.json when nothing else does.
// Rare enough for a shared file system, often enough for a person waiting on `status`.
const HeartbeatPeriod = 5 * time.Second

// HeartbeatStale is the heartbeat's age from which `status` judges the supervisor gone whatever its
// pid says: three missed beats, which a loaded node or a slow file system does not explain. It also
// covers a supervisor on another host, whose process `status` cannot look at, and a pid reused by
// another process.
const HeartbeatStale = 3 * HeartbeatPeriod

// BootID is this host's boot id, empty when the kernel does not say.
func BootID() string {
	data, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

// Observer is where `status` looks at a run from: its host, its boot, its process table and its time.
type Observer struct {
	Host, BootID string
	Now          time.Time
	// Alive reports whether a process with this pid runs on the observer's host.
	Alive func(pid int) bool
}

// LocalObserver is this process's view, now.
func LocalObserver() Observer {
	host, _ := os.Hostname()
	return Observer{Host: host, BootID: BootID(), Now: time.Now(), Alive: processAlive}
}

// processAlive reports whether pid is a live process here: a zombie has ended already.
func processAlive(pid int) bool {
	p, ok := proctable.Lookup(pid)
	return ok && p.State != "Z" && p.State != "X"
}

// RunVerdict is what `status` concludes about a run: the process exit code it ends with and, for a
// run that has not decided, one line about its supervisor.
type RunVerdict struct {
	Code int
	// Gone is set when the run has not decided and its supervisor is gone.
	Gone bool
	Line string
}

// Judge tells, from a summary, whether the run decided (its own exit code; 0 when it succeeded),
// still runs (verdict.ExitStatusRunning) or lost its supervisor before deciding
// (verdict.ExitStatusGone).
func (o Observer) Judge(s Summary) RunVerdict {
	if s.State != RunRunning {
		code := verdict.ExitInternal // a decided run without a code is a broken record
		if s.ExitCode != nil {
			code = *s.ExitCode
		}
		if s.State == RunSucceeded {
			code = verdict.ExitOK
		} else if code == verdict.ExitOK {
			code = verdict.ExitInternal // never "success" for a failed or interrupted run
		}
		return RunVerdict{Code: code}
	}
	sup := s.Supervisor
	if sup == nil || s.UpdatedAt == nil {
		// Written by a supervisor that kept no heartbeat: nothing tells whether it lives.
		return RunVerdict{Code: verdict.ExitStatusRunning,
			Line: "supervisor unknown (this summary has no heartbeat): running, or gone without a word"}
	}
	last := s.UpdatedAt.UTC()
	ago := max(o.Now.Sub(last), 0).Round(time.Second) // another host's clock may run ahead
	heard := fmt.Sprintf("last heard %s, %s ago", last.Format(time.RFC3339), ago)
	local := sup.Host == o.Host && sup.BootID != "" && sup.BootID == o.BootID
	switch {
	case local && !o.Alive(sup.PID):
		return RunVerdict{Code: verdict.ExitStatusGone, Gone: true, Line: fmt.Sprintf(
			"supervisor gone (%s): pid %d no longer runs on %s; the run never decided", heard, sup.PID, sup.Host)}
	case ago > HeartbeatStale:
		return RunVerdict{Code: verdict.ExitStatusGone, Gone: true, Line: fmt.Sprintf(
			"supervisor gone (%s): pid %d on %s has not written its heartbeat for longer than %s; the run never decided",
			heard, sup.PID, sup.Host, HeartbeatStale)}
	}
	return RunVerdict{Code: verdict.ExitStatusRunning,
		Line: fmt.Sprintf("supervisor running (pid %d on %s, %s)", sup.PID, sup.Host, heard)}
}
