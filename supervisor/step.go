package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/roles"
	"github.com/disagg-supervisor/disagg-supervisor/slurm"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

// kindInstall marks the install step, which runs before the roles and is not one of them.
const kindInstall roles.Kind = "install"

// logTailBytes bounds how much of a log is read after a step ends: srun writes its task-failure lines
// last, and a multi-gigabyte worker log must not be read whole.
const logTailBytes = 256 << 10

// step is one srun step of the run and everything the supervisor learns about it.
type step struct {
	name   string
	kind   roles.Kind
	nodes  []string
	ntasks int
	argv   []string
	env    map[string]string
	log    string
	probe  *roles.Probe
	// check is set for a step of the pre-flight phase (see precheck.go).
	check *checkState
	// liveness checks the role from its readiness until it ends or the teardown starts.
	liveness *roles.Liveness

	proc stepProcess
	// logStart is where this attempt's output starts in the log: logs are appended to, so an earlier
	// attempt's output is kept, and only this attempt's part is searched for the root cause.
	logStart int64
	// stop ends the step's watchers (tasks-running watcher, probe).
	stop context.CancelFunc
	// watch is the context of the step's watchers, which stop ends.
	watch context.Context

	launchedAt, runningAt, readyAt, endedAt time.Time
	// end is how the step ended; stopRequested is set once the supervisor asked it to stop.
	end           stepEnd
	stopRequested bool
	// cancelledOnLine: the run was decided on its failing task's line (endedOnLine) and slurmstepd had
	// said that Slurm cancelled it; its end, when srun returns, is Slurm's.
	cancelledOnLine bool
	killed          bool // it outlived the grace period and got SIGKILL
	status          int  // srun's own exit status, 128+signal when signalled
	signal          string
	code            int // the root cause's code: a failing task's own status
	taskFailure     *slurm.TaskFailure
	launchErr       error
	// stepID is Slurm's id of the step, from the tasks' start markers.
	stepID string
	// stopAnswered: the teardown's stop command has returned, with stopErr. notSignalled is why
	// the step could not be signalled, when it outlived the grace period so (see stopoutcome.go).
	stopAnswered bool
	stopErr      error
	notSignalled string
	// cancelledBySlurm is slurmstepd's "*** STEP ... CANCELLED AT ... ***" line when Slurm, not a
	// failing task, ended the step (scancel, requeue, time limit).
	cancelledBySlurm string
	// failLine is the first failing-task line srun printed while the step ran (see srunline.go);
	// endedOnLine is set when srun outlived it by the srun exit wait and the run was decided on it,
	// as if srun had ended then.
	failLine    *slurm.TaskFailure
	endedOnLine bool
	// leftovers are the processes its tasks found running after the role command and stopped.
	leftovers []record.Leftover
}

func (s *step) launched() bool { return !s.launchedAt.IsZero() }
func (s *step) running() bool  { return !s.runningAt.IsZero() }
func (s *step) ready() bool    { return !s.readyAt.IsZero() }
func (s *step) alive() bool    { return s.proc != nil && !s.exited() }

// exited reports whether the step's srun has returned.
func (s *step) exited() bool {
	switch s.end {
	case endExited, endFinished, endStopped, endBySlurm, endFinishedBySlurm:
		return true
	}
	return false
}

// endedBySlurm reports whether Slurm's ending of the job ended the step.
func (s *step) endedBySlurm() bool { return s.end == endBySlurm || s.end == endFinishedBySlurm }

// finished reports whether the step is a server that ended with 0 after the benchmark announced its end.
func (s *step) finished() bool { return s.end == endFinished || s.end == endFinishedBySlurm }

// stepEnd is how a step ended, as the loop learnt it.
type stepEnd int

const (
	// endNone: not ended (running, or never launched).
	endNone stepEnd = iota
	// endExited: srun returned and the step ended by itself.
	endExited
	// endFinished: a server that ended with 0 after the benchmark announced its end.
	endFinished
	// endStopped: it ended after the supervisor asked it to stop, and its end did not decide the run.
	endStopped
	// endBySlurm: Slurm ended it as part of ending the job (scancel, requeue, time limit).
	endBySlurm
	// endFinishedBySlurm: both: a server that ended with 0 after the benchmark announced its end, with
	// Slurm's cancellation in its log. It finished, and the summary shows it stopped.
	endFinishedBySlurm
	// endAbandoned: it had not ended when the supervisor had to exit; Slurm ends it with the job.
	endAbandoned
	// endLaunchFailed: its srun could not be started (launchErr).
	endLaunchFailed
)

// pid is the step's srun's pid, zero before it is launched.
func (s *step) pid() int {
	if s.proc == nil {
		return 0
	}
	return s.proc.pid()
}

// state is the step's state as the summary shows it: its end, or while it runs, how far it got.
func (s *step) state() record.StepState {
	switch s.end {
	case endLaunchFailed:
		return record.StepLaunchFailed
	case endStopped, endBySlurm, endFinishedBySlurm:
		return record.StepStopped
	case endAbandoned:
		return record.StepAbandoned
	case endFinished:
		return record.StepFinished
	case endExited:
		return record.StepExited
	}
	switch {
	case s.stopRequested:
		return record.StepStopping
	case s.ready():
		return record.StepReady
	case s.running():
		return record.StepRunning
	case s.launched():
		return record.StepLaunched
	}
	return record.StepPending
}

// finish records how the step ended (srun's status and signal, as exitStatus gives them) and works
// out its root-cause code from srun's messages.
func (s *step) finish(status int, signal string, at time.Time) {
	s.endedAt = at
	s.status, s.signal = status, signal
	s.code = s.status
	s.readOutcome()
}

// readOutcome works out the step's root-cause code, its failing task and whether Slurm cancelled it,
// from srun's and slurmstepd's lines at the end of this attempt's part of its log.
func (s *step) readOutcome() {
	if tail, err := readTail(s.log, s.logStart, logTailBytes); err == nil {
		if rc, ok := slurm.RootCause(slurm.ParseTaskFailures(tail)); ok {
			s.taskFailure = &rc
			s.code = rc.Code
		}
		line := slurm.StepCancelledLine(tail)
		if line == "" && len(tail) >= logTailBytes {
			line = findCancelLine(s.log, s.logStart)
		}
		if line != "" {
			// --kill-on-bad-exit also cancels the step, after a task failed; only a cancellation
			// with no failing task before it, or one Slurm gives a reason for, surely came from
			// outside. Tasks that exited 143 or were killed before a plain CANCELLED line are
			// either: the run loop asks Slurm (see canAskSlurm).
			if slurm.CancelHasReason(line) || s.taskFailure == nil || s.taskFailure.Terminated() {
				s.cancelledBySlurm = line
			}
		}
	}
}

// cancelScanBytes bounds how far back before the tail a step's log is searched for slurmstepd's
// CANCELLED line: ranks that print a lot while they shut down can push it out of the tail.
const cancelScanBytes = 16 << 20

// findCancelLine searches this attempt's part of a log (its last cancelScanBytes) for slurmstepd's
// CANCELLED line.
func findCancelLine(path string, start int64) string {
	text, err := readTail(path, start, cancelScanBytes)
	if err != nil {
		return ""
	}
	return slurm.StepCancelledLine(text)
}

// exitStatus is the status a shell would report: the exit code, or 128+signal.
func exitStatus(state *os.ProcessState) (int, string) {
	if state == nil {
		return 1, ""
	}
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return verdict.Signal(ws.Signal()), signalName(ws.Signal())
	}
	return state.ExitCode(), ""
}

// signalName is the name the event log and the summary give a signal: "SIGTERM", or "signal 40"
// for one without a name (real-time signals).
func signalName(sig os.Signal) string {
	if s, ok := sig.(syscall.Signal); ok {
		if name := unix.SignalName(s); name != "" {
			return name
		}
		return fmt.Sprintf("signal %d", int(s))
	}
	return sig.String()
}

func signalNumber(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return int(s)
	}
	return int(syscall.SIGTERM)
}

// readTail returns at most limit bytes from the end of the file, not before offset start.
func readTail(path string, start, limit int64) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return "", err
	}
	from := max(start, info.Size()-limit, 0)
	buf := make([]byte, info.Size()-from)
	n, err := f.ReadAt(buf, from)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return string(buf[:n]), nil
}

// lastLines returns the last n lines of text.
func lastLines(text string, n int) []string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return nil
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}

// mergeEnv returns base with the variables of extra set, replacing any earlier value, sorted by name
// for a stable environment.
func mergeEnv(base []string, extra map[string]string) []string {
	merged := make(map[string]string, len(base)+len(extra))
	for _, kv := range base {
		if name, value, ok := strings.Cut(kv, "="); ok {
			merged[name] = value
		}
	}
	for name, value := range extra {
		merged[name] = value
	}
	out := make([]string, 0, len(merged))
	for name, value := range merged {
		out = append(out, name+"="+value)
	}
	sort.Strings(out)
	return out
}
