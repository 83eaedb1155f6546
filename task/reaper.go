package task

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
	"github.com/disagg-supervisor/disagg-supervisor/internal/proctable"
)

// A role command can leave processes behind that nothing else stops: a daemon that double-forks and
// calls setsid is in no process group or session of the step, and on a cluster that tracks a step's
// processes by lineage or process group it outlives the step and the job, holding GPUs the next job
// then runs out of memory on; one that keeps the step's stdout open holds the step's end until srun
// gives up waiting for EOF. The task therefore makes itself a child subreaper, so that every process
// orphaned below it is handed to it instead of to init, and once the command and the after commands
// have ended it stops whatever of that is still running, records it for the supervisor and reaps it.

// leftoverGrace is how long processes left over after the role command get between SIGTERM and
// SIGKILL: enough for a server to close its sockets and files, little next to a step's end.
const leftoverGrace = 2 * time.Second

// leftoverGraceStopping replaces leftoverGrace when the task is being stopped (it received a signal):
// the step's own SIGKILL follows the signal after the teardown's grace period (the fake srun's kill
// wait is 2 s), and a task killed before its leftovers leaves them running.
const leftoverGraceStopping = 500 * time.Millisecond

// leftoverKillWait bounds the wait for SIGKILLed leftovers to be gone: a process in uninterruptible
// sleep (D) dies only when its I/O returns, and the task must end all the same.
const leftoverKillWait = 2 * time.Second

// leftoverPoll is how often the task looks whether the leftovers it signalled are gone.
const leftoverPoll = 10 * time.Millisecond

// orphanReapDelay is how long after a SIGCHLD the task reaps the orphans that ended while the command
// runs: one scan of the process table for all the exits of that time, and none at all for the
// command's own exit, which the task sees first.
const orphanReapDelay = time.Second

// becomeSubreaper makes the task the child subreaper of everything below it, before it starts
// anything that could leave processes behind.
func (r *runner) becomeSubreaper() {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		r.logf("cannot become a child subreaper (%v): processes the role command leaves behind may outlive the step", err)
	}
}

// hasChildren tells whether the task has any child, running or exited, in one system call: without
// a child it has no descendant, and the common end of a step costs no scan of the process table.
func hasChildren() bool {
	var info unix.Siginfo
	err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT|unix.WALL, nil)
	return !errors.Is(err, unix.ECHILD)
}

// descendants lists the processes below pid in procs, parents before their children, each level by
// pid: whatever session or process group they moved to, the parent links still lead to them.
func descendants(procs []proctable.Proc, pid int) []proctable.Proc {
	children := map[int][]proctable.Proc{}
	for _, p := range procs {
		children[p.PPID] = append(children[p.PPID], p)
	}
	var out []proctable.Proc
	queue := []int{pid}
	for len(queue) > 0 {
		next := children[queue[0]]
		queue = queue[1:]
		slices.SortFunc(next, func(a, b proctable.Proc) int { return a.PID - b.PID })
		for _, c := range next {
			if c.PID == pid {
				continue // cannot happen in a table read at one time; never loop on it
			}
			out = append(out, c)
			queue = append(queue, c.PID)
		}
	}
	return out
}

// alive reports whether a process of the table still runs: a zombie has ended and only waits to be
// reaped.
func alive(p proctable.Proc) bool { return p.State != "Z" && p.State != "X" }

// reapChildren reaps the task's children in procs that have exited, except keep (a child that its
// own Wait reaps; 0 for none), so that orphans that ended are not left as zombies.
func reapChildren(procs []proctable.Proc, self, keep int) {
	for _, p := range procs {
		if p.PPID == self && p.PID != keep && !alive(p) {
			var ws syscall.WaitStatus
			_, _ = syscall.Wait4(p.PID, &ws, syscall.WNOHANG, nil)
		}
	}
}

// reapOrphans reaps, while the role command runs, the orphans handed to the task that have ended:
// a subreaper that never reaped would collect a zombie, and a process id, for every short-lived
// process a long run double-forks. The command itself is left to its Wait.
func reapOrphans(command int) {
	procs, err := proctable.Read()
	if err != nil {
		return
	}
	reapChildren(procs, os.Getpid(), command)
}

// liveDescendants reads the process table and returns the task's descendants that still run, after
// reaping its children that have ended.
func liveDescendants() ([]proctable.Proc, error) {
	procs, err := proctable.Read()
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	reapChildren(procs, self, 0)
	var live []proctable.Proc
	for _, p := range descendants(procs, self) {
		if alive(p) {
			live = append(live, p)
		}
	}
	return live, nil
}

// stopLeftovers stops every descendant of the task that is still running once the role command and
// the after commands have ended (and, after a failure before the command, whatever the install or
// setup left): it lists them in the task's output and in the coordination directory for the
// supervisor, sends SIGTERM, SIGKILL after the grace, and reaps them. Only the task's own
// descendants are touched: other ranks on the node have their own task. A signal that arrives
// meanwhile (received counts them) cuts the grace short: the step is being stopped.
func (r *runner) stopLeftovers(received *int) {
	if !r.reap || !hasChildren() {
		return
	}
	found, err := liveDescendants()
	if err != nil {
		r.logf("cannot look for processes the role command left behind: %v", err)
		return
	}
	if len(found) == 0 {
		return
	}
	start := time.Now()
	up, _ := proctable.Uptime()
	rec := coord.Leftovers{Role: r.id.role, Rank: r.id.rank, Node: r.id.node, Job: r.id.jobID, Step: r.id.stepID, Time: start}
	for _, p := range found {
		var ran time.Duration
		if up > 0 && p.Started > 0 {
			// Both clocks count in steps of 10 ms: a process younger than that can read as 0.
			ran = max(up-p.Started, 10*time.Millisecond)
		}
		lo := coord.Leftover{Name: p.Name, PID: p.PID, Ran: ran}
		rec.Processes = append(rec.Processes, lo)
		r.logf("leftover process %s (pid %d) outlived the role command; it had run %s; stopping it", p.Name, p.PID, lo.RanText())
	}
	// Recorded before they are stopped: the step's SIGKILL may end the task while it waits.
	if err := coord.WriteLeftovers(r.dir().LeftoversFile(r.stepKey(), r.id.rank), rec); err != nil {
		r.logf("cannot record the leftover processes for the supervisor: %v", err)
	}

	grace := leftoverGrace
	if *received > 0 {
		grace = leftoverGraceStopping
	}
	signalled := map[int]bool{}
	signal := func(procs []proctable.Proc, sig syscall.Signal) {
		for _, p := range procs {
			_ = syscall.Kill(p.PID, sig)
			if sig != syscall.SIGKILL {
				// A stopped process acts on SIGTERM only once continued.
				_ = syscall.Kill(p.PID, syscall.SIGCONT)
			}
			signalled[p.PID] = true
		}
	}
	signal(found, syscall.SIGTERM)
	left := r.awaitLeftovers(found, grace, received, func(live []proctable.Proc) {
		// Processes they start meanwhile get the same request.
		var fresh []proctable.Proc
		for _, p := range live {
			if !signalled[p.PID] {
				fresh = append(fresh, p)
			}
		}
		signal(fresh, syscall.SIGTERM)
	})
	killed := left
	if len(left) > 0 {
		left = r.awaitLeftovers(left, leftoverKillWait, nil, func(live []proctable.Proc) { signal(live, syscall.SIGKILL) })
	}
	took := time.Since(start).Round(time.Millisecond)
	if len(left) > 0 {
		r.logf("leftover processes %s still running %s after SIGKILL; giving up on them", procList(left), took)
		return
	}
	if len(killed) > 0 {
		r.logf("leftover processes stopped in %s: %s ignored SIGTERM and got SIGKILL", took, procList(killed))
		return
	}
	r.logf("leftover processes stopped in %s by SIGTERM", took)
}

// awaitLeftovers waits up to limit for the task to have no running descendant, calling each with the
// ones still running, at once and at every poll. A signal on r.signals ends the wait when received
// is set (and is counted there). It returns the descendants still running at the end.
func (r *runner) awaitLeftovers(last []proctable.Proc, limit time.Duration, received *int, each func([]proctable.Proc)) []proctable.Proc {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	tick := time.NewTicker(leftoverPoll)
	defer tick.Stop()
	signals := r.signals
	if received == nil {
		signals = nil
	}
	for {
		if live, err := liveDescendants(); err == nil {
			last = live
		}
		if len(last) == 0 {
			return nil
		}
		each(last)
		select {
		case <-tick.C:
			continue
		case <-deadline.C:
		case <-signals:
			*received++
			r.logf("a signal arrived while leftover processes had their grace; killing them now")
		}
		return last
	}
}

// procList renders processes as "sleep (pid 42), python3 (pid 43)".
func procList(procs []proctable.Proc) string {
	parts := make([]string, len(procs))
	for i, p := range procs {
		parts[i] = fmt.Sprintf("%s (pid %d)", p.Name, p.PID)
	}
	return strings.Join(parts, ", ")
}
