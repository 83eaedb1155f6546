package task

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
	"github.com/disagg-supervisor/disagg-supervisor/internal/proctable"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

// procStatus is how a process ended: killed by sig when sig is not 0, else exited with code.
type procStatus struct {
	code int
	sig  syscall.Signal
}

// exitCode is the status as a shell reports it: the code, or 128+signal.
func (s procStatus) exitCode() int {
	if s.sig != 0 {
		return verdict.Signal(s.sig)
	}
	return s.code
}

func (s procStatus) String() string {
	if s.sig != 0 {
		return fmt.Sprintf("signal %s (%d)", unix.SignalName(s.sig), s.exitCode())
	}
	return fmt.Sprintf("exit code %d", s.code)
}

// statusOf reads a finished command's status; a command that could not be waited for counts as 1.
func statusOf(ps *os.ProcessState) procStatus {
	if ps == nil {
		return procStatus{code: exitFailure}
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok {
		if ws.Signaled() {
			return procStatus{sig: ws.Signal()}
		}
		return procStatus{code: ws.ExitStatus()}
	}
	return procStatus{code: ps.ExitCode()}
}

// outcome is how the task ends: it exits with code, unless sig is set, which it then raises on
// itself, so that srun reports "Terminated" for a command ended by SIGTERM exactly as it did when the
// task exec'd the command.
type outcome struct {
	code int
	sig  syscall.Signal
}

// reraisable are the signals whose default action Go lets the task take on itself after
// signal.Reset (or that cannot be caught at all); for every other signal the task exits 128+signal.
func reraisable(sig syscall.Signal) bool {
	switch sig {
	case syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGKILL:
		return true
	}
	return false
}

// runCommand runs the role command as the task's child, in the task's own process group, so that
// whatever stops the step (srun's or slurmstepd's signals to the task's process group or process
// tree, their SIGKILL) stops the command and everything it started too: nothing can be left behind
// by a task that is killed. Signals the task receives are passed on to the command's process tree;
// then the after commands run, and the task ends with the command's status.
func (r *runner) runCommand(ctx context.Context) (outcome, error) {
	command, _ := r.env.get(r.opts.CommandVar)
	if strings.TrimSpace(command) == "" {
		return outcome{}, fail(exitUsage, "$%s is empty", r.opts.CommandVar)
	}
	bash, err := lookPath("bash", r.env)
	if err != nil {
		return outcome{}, fail(exitNotFound, "cannot run the role command: %w", err)
	}
	if ctx.Err() != nil {
		return outcome{}, r.interrupted(ctx, "before starting the role command")
	}
	cmd := r.shell(bash, command, r.env.list())
	cmd.Dir = r.workdir
	cmd.Stdin = r.stdin
	if r.beforeStart != nil {
		if err := r.beforeStart(cmd); err != nil {
			return outcome{}, fail(exitNotFound, "start %s: %w", bash, err)
		}
	}
	if err := cmd.Start(); err != nil {
		return outcome{}, fail(exitNotFound, "start %s: %w", bash, err)
	}
	done := make(chan procStatus, 1)
	go func() {
		_ = cmd.Wait()
		done <- statusOf(cmd.ProcessState)
	}()

	received := 0
	var st procStatus
	var reapSoon <-chan time.Time
	// With treeDelay set, forward reached the command alone; tree holds the signals its descendants
	// are still to get, treeSoon says when, and treeWaited how long they have waited for it.
	var tree []syscall.Signal
	var treeSoon <-chan time.Time
	var treeWaited time.Duration
wait:
	for {
		select {
		case st = <-done:
			break wait
		case <-r.childExits:
			if reapSoon == nil {
				reapSoon = time.After(orphanReapDelay)
			}
		case <-reapSoon:
			reapSoon = nil
			reapOrphans(cmd.Process.Pid)
		case s := <-r.signals:
			received++
			sig, ok := s.(syscall.Signal)
			if !ok {
				continue
			}
			r.logf("received %s; passing it on to the role command (pid %d)", unix.SignalName(sig), cmd.Process.Pid)
			r.forward(cmd.Process.Pid, sig)
			if r.treeDelay > 0 {
				tree = append(tree, sig)
				if treeSoon == nil {
					treeSoon, treeWaited = time.After(r.treeDelay), 0
				}
			}
		case <-treeSoon:
			treeWaited += r.treeDelay
			if proctable.Ending(cmd.Process.Pid) && treeWaited < treeDelayMax {
				// Its Wait is about to return: what it leaves is then the task's (see below).
				treeSoon = time.After(r.treeDelay)
				continue
			}
			treeSoon = nil
			if n := signalDescendants(cmd.Process.Pid, tree); n > 0 {
				r.logf("the role command still runs; passed %s on to the %d process(es) it started", signalNames(tree), n)
			}
			tree = nil
		}
	}
	if len(tree) > 0 && r.reap {
		// The command ended before its descendants got the signals. Those it left were handed to the
		// task, a subreaper; they get them now, those in the task's process group, which is where the
		// command's own processes are (the daemons that left it are the leftovers' business).
		if n := r.signalOrphans(tree); n > 0 {
			r.logf("passed %s on to the %d process(es) the role command left", signalNames(tree), n)
		}
	}

	code := st.exitCode()
	hooks := r.afterCommands()
	if len(hooks) > 0 {
		r.logf("the role command ended with %s; running %d after command(s)", st, len(hooks))
		decided := r.runAfter(hooks, code, &received)
		if decided != 0 && code == 0 {
			code = decided
		}
	}
	// Before the wait for the other ranks, which can be long: a leftover holding the step's output
	// or its GPUs must not wait with it.
	r.stopLeftovers(&received)
	if len(hooks) > 0 && r.id.ntasks > 1 {
		r.awaitPeersAfter(received)
	}
	if st.sig != 0 && code == st.exitCode() && reraisable(st.sig) {
		return outcome{code: code, sig: st.sig}, nil
	}
	return outcome{code: code}, nil
}

// shell is `bash -c command` with the task's output, in the task's process group. In Main the
// command also dies with the task (the parent-death signal the fake srun gives the task itself).
func (r *runner) shell(bash, command string, env []string) *exec.Cmd {
	cmd := &exec.Cmd{Path: bash, Args: []string{"bash", "-c", command}, Env: env, Stdout: r.stdout, Stderr: r.stderr}
	if r.pdeathsig {
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	}
	// Output that is not a file is copied by goroutines; a leftover grandchild holding the pipe must
	// not keep Wait from returning.
	cmd.WaitDelay = time.Second
	return cmd
}

// afterCommands are the after commands this rank runs, in order.
func (r *runner) afterCommands() []string {
	hooks := append([]string(nil), r.opts.After...)
	if r.id.rank == 0 {
		hooks = append(hooks, r.opts.AfterRank0...)
	}
	return hooks
}

// runAfter runs the after commands one by one, each bounded by --after-timeout, with the command's
// exit code in DISAGG_TASK_EXIT_CODE. They are best effort: a failure is logged, and only with
// --after-decides is the first failure's code returned (0 otherwise). A second signal (received
// counts those that reached the task while the command ran) stops the running one and skips the
// rest: whoever sent it wants the task gone.
func (r *runner) runAfter(hooks []string, commandCode int, receivedp *int) int {
	received := *receivedp
	defer func() { *receivedp = received }()
	bash, err := lookPath("bash", r.env)
	if err != nil {
		r.logf("after commands skipped: %v", err)
		return 0
	}
	env := newEnviron(r.env.list())
	env.set("DISAGG_TASK_EXIT_CODE", strconv.Itoa(commandCode))
	decided := 0
	for i, hook := range hooks {
		if received >= 2 {
			r.logf("after commands %d-%d of %d skipped: a second signal arrived", i+1, len(hooks), len(hooks))
			break
		}
		cmd := r.shell(bash, hook, env.list())
		cmd.Dir = r.workdir
		start := time.Now()
		if err := cmd.Start(); err != nil {
			r.logf("after command %d (%s) could not start: %v", i+1, hook, err)
			continue
		}
		done := make(chan procStatus, 1)
		go func() {
			_ = cmd.Wait()
			done <- statusOf(cmd.ProcessState)
		}()
		timer := time.NewTimer(r.opts.AfterTimeout)
		var st procStatus
		timedOut, cut := false, false
	wait:
		for {
			select {
			case st = <-done:
				break wait
			case <-timer.C:
				timedOut = true
				r.stopHook(cmd.Process.Pid)
				<-done
				st = procStatus{code: exitTimeout}
				break wait
			case <-r.signals:
				received++
				if received >= 2 {
					cut = true
					r.stopHook(cmd.Process.Pid)
					<-done
					break wait
				}
			}
		}
		timer.Stop()
		took := time.Since(start).Round(time.Millisecond)
		switch {
		case cut:
			r.logf("after command %d (%s) stopped by a second signal after %s", i+1, hook, took)
			continue
		case timedOut:
			r.logf("after command %d (%s) stopped: it ran out of its %s (exit code %d)", i+1, hook, r.opts.AfterTimeout, exitTimeout)
		case st.exitCode() == 0:
			r.logf("after command %d (%s) done in %s", i+1, hook, took)
			continue
		default:
			r.logf("after command %d (%s) failed with %s after %s", i+1, hook, st, took)
		}
		if r.opts.AfterDecides && decided == 0 {
			decided = st.exitCode()
			if commandCode == 0 {
				r.logf("after command %d (%s) decides: the task exits %d although the role command passed", i+1, hook, decided)
			}
		}
	}
	return decided
}

// awaitPeersAfter publishes that this rank's after commands are done and, when the rank is being
// stopped (it received a signal), waits until every rank of the step has published the same. Under
// srun's --kill-on-bad-exit the first rank of a step to end with a non-zero status makes srun kill the
// others, so a rank that left as soon as its own after commands were done would cut short those of
// slower ranks. The wait ends at a second signal, or after --after-timeout (a rank killed outright
// never publishes).
func (r *runner) awaitPeersAfter(received int) {
	key := r.stepKey()
	if err := coord.WriteMarker(r.dir().After(key, r.id.rank), r.id.marker(time.Now())); err != nil {
		r.logf("after commands: cannot publish this rank's end (%v); not waiting for the others", err)
		return
	}
	if received != 1 {
		// Not being stopped: the rank ends by itself (and is then the one to wait for), or a second
		// signal asked it to be gone.
		return
	}
	missing := func() []int {
		ranks, _ := coord.Ranks(r.dir().AfterDir(key))
		var out []int
		for rank := 0; rank < r.id.ntasks; rank++ {
			if !slices.Contains(ranks, rank) {
				out = append(out, rank)
			}
		}
		return out
	}
	left := missing()
	if len(left) == 0 {
		return
	}
	r.logf("after commands: waiting for %s of %s to finish theirs, up to %s", rankList(left), r.id.role, r.opts.AfterTimeout)
	start := time.Now()
	deadline := time.NewTimer(r.opts.AfterTimeout)
	defer deadline.Stop()
	// The wait lists the step's after directory, so its poll backs off; up to a quarter of a second,
	// since the rank is being stopped and its step's SIGKILL follows the grace period.
	poll := &backoff{interval: r.poll, max: max(min(r.pollMax, afterPollMax), r.poll)}
	tick := time.NewTimer(poll.next())
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			tick.Reset(poll.next())
			if left = missing(); len(left) == 0 {
				r.logf("after commands: every rank of %s is done; waited %s", r.id.role, time.Since(start).Round(time.Millisecond))
				return
			}
		case <-deadline.C:
			r.logf("after commands: %s of %s did not finish theirs within %s; ending", rankList(left), r.id.role, r.opts.AfterTimeout)
			return
		case <-r.signals:
			r.logf("after commands: a second signal arrived; not waiting for %s", rankList(left))
			return
		}
	}
}

// afterPollMax bounds the poll of the wait for the other ranks' after commands.
const afterPollMax = 250 * time.Millisecond

// treeDelayMax bounds how long the descendants of a command that is ending wait for their signal:
// one stuck in uninterruptible sleep may not end for a long time, and what it started must not wait
// with it.
const treeDelayMax = time.Second

// signalProcess passes sig to the process pid alone.
func signalProcess(pid int, sig syscall.Signal) { _ = syscall.Kill(pid, sig) }

// signalDescendants passes sigs, in order, to every descendant of pid (not pid itself, which has
// had them) and returns how many processes it signalled.
func signalDescendants(pid int, sigs []syscall.Signal) int {
	tree := processTree(pid)[1:]
	for _, p := range tree {
		for _, sig := range sigs {
			_ = syscall.Kill(p, sig)
		}
	}
	return len(tree)
}

// signalOrphans passes sigs, in order, to the task's running descendants in its process group, and
// returns how many processes it signalled. A task without children has none, and reads no process
// table.
func (r *runner) signalOrphans(sigs []syscall.Signal) int {
	if !hasChildren() {
		return 0
	}
	live, err := liveDescendants()
	if err != nil {
		r.logf("cannot pass %s on to what the role command left: %v", signalNames(sigs), err)
		return 0
	}
	group, n := syscall.Getpgrp(), 0
	for _, p := range live {
		if p.PGRP != group {
			continue
		}
		for _, sig := range sigs {
			_ = syscall.Kill(p.PID, sig)
		}
		n++
	}
	return n
}

// signalNames renders signals as "SIGTERM, SIGINT".
func signalNames(sigs []syscall.Signal) string {
	names := make([]string, len(sigs))
	for i, sig := range sigs {
		names[i] = unix.SignalName(sig)
	}
	return strings.Join(names, ", ")
}

// forwardToTree passes sig to the process pid and every process it started, but not to the task
// itself. The task's process group is not used: under Slurm the tasks of a node may share one, and
// the task would signal itself and the other ranks.
func forwardToTree(pid int, sig syscall.Signal) {
	for _, p := range processTree(pid) {
		_ = syscall.Kill(p, sig)
	}
}

// killTree ends a process and what it started, at once.
func killTree(pid int) { forwardToTree(pid, syscall.SIGKILL) }

// processTree is pid followed by its descendants, from /proc; just pid when /proc cannot be read.
func processTree(pid int) []int {
	children, err := childrenByParent()
	if err != nil {
		return []int{pid}
	}
	tree := []int{pid}
	for i := 0; i < len(tree); i++ {
		tree = append(tree, children[tree[i]]...)
	}
	return tree
}

// childrenByParent maps every process's parent to its children.
func childrenByParent() (map[int][]int, error) {
	procs, err := proctable.Read()
	if err != nil {
		return nil, err
	}
	out := map[int][]int{}
	for _, p := range procs {
		out[p.PPID] = append(out[p.PPID], p.PID)
	}
	return out, nil
}
