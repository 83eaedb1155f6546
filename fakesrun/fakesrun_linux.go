//go:build linux

package fakesrun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/disagg-supervisor/disagg-supervisor/internal/proctable"
	"github.com/disagg-supervisor/disagg-supervisor/slurm"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

const (
	// firstFailureWindow is how long the first failure waits for tasks that fail with it, so that
	// tasks of a node that end together share one line, as slurmstepd batches them; -K acts after it.
	firstFailureWindow = 50 * time.Millisecond
	// coalesceWindow is how long later task ends are collected before they are reported.
	coalesceWindow = 100 * time.Millisecond
	// reapTimeout bounds the wait for the killed processes of the step to disappear.
	reapTimeout = 5 * time.Second
	// drainTimeout bounds the wait for task output after every process of the step is gone; only a
	// process that left its task's process group can still hold a pipe open by then.
	drainTimeout = 2 * time.Second
	// maxPartialLine is how much of an unterminated line -l holds before writing it out anyway.
	maxPartialLine = 64 << 10
)

// si_code values of a child's siginfo (<signal.h>), which x/sys/unix does not define.
const (
	cldExited = 1
	cldKilled = 2
	cldDumped = 3
)

// runFakeStep claims a step id, opens the outputs, starts the tasks and supervises them to the end.
func runFakeStep(ctx context.Context, st *fakeStep, stdout, stderr io.Writer, signals <-chan os.Signal) int {
	callerMu := &sync.Mutex{}
	r := &stepRunner{
		st:    st,
		msgs:  callerTaskSink(stderr, callerMu),
		procs: make([]taskProc, len(st.tasks)),
		ends:  make(chan taskEnd, len(st.tasks)),
	}
	if err := st.claimStep(); err != nil {
		r.say(err.Error())
		return 1
	}
	// Without this, a process orphaned inside a task (its parent killed first) is handed to init,
	// which in a container may never reap it; its zombie would keep the task's process group alive.
	_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)

	outs := newStepOutputFiles(st, callerMu)
	defer outs.close()
	var err error
	if r.sinks, err = outs.sinks(stdout, stderr); err != nil {
		r.say(err.Error())
		st.recordExit(1)
		return 1
	}
	for i, t := range st.tasks {
		r.procs[i].task = t
	}

	spawn := startSpawner()
	spawn.do(func() {
		for i := range r.procs {
			r.launch(i)
		}
	})
	r.supervise(ctx, signals)
	r.cleanup()
	spawn.stop()
	status := r.status()
	st.recordExit(status)
	return status
}

// taskSink is where one output stream of a task goes.
type taskSink struct {
	file *os.File // set when a task may write into it directly, without a pipe
	w    io.Writer
	mu   *sync.Mutex // shared by every writer of w, so that lines of different tasks never mix
}

func (s taskSink) write(p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// A reader that went away must not stop the tasks; srun drops output it cannot write too.
	_, _ = s.w.Write(p)
}

func callerTaskSink(w io.Writer, mu *sync.Mutex) taskSink {
	s := taskSink{w: w, mu: mu}
	if f, ok := w.(*os.File); ok {
		s.file = f
	}
	return s
}

// stepOutputFiles opens the files of -o/-e, each once however many tasks write to it.
type stepOutputFiles struct {
	st       *fakeStep
	callerMu *sync.Mutex
	files    map[string]taskSink
	opened   []*os.File
}

func newStepOutputFiles(st *fakeStep, callerMu *sync.Mutex) *stepOutputFiles {
	return &stepOutputFiles{st: st, callerMu: callerMu, files: map[string]taskSink{}}
}

// sinks returns every task's stdout and stderr sinks.
func (o *stepOutputFiles) sinks(stdout, stderr io.Writer) ([][2]taskSink, error) {
	out := make([][2]taskSink, len(o.st.tasks))
	for i, t := range o.st.tasks {
		var err error
		if out[i][0], err = o.taskSink(o.st.stdoutSpec, t, stdout, "stdout"); err != nil {
			return nil, err
		}
		if out[i][1], err = o.taskSink(o.st.stderrSpec, t, stderr, "stderr"); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (o *stepOutputFiles) taskSink(spec ioSpec, t fakeTask, caller io.Writer, stream string) (taskSink, error) {
	switch spec.mode {
	case ioInherit:
		return callerTaskSink(caller, o.callerMu), nil
	case ioOneTask:
		if t.rank == spec.task {
			return callerTaskSink(caller, o.callerMu), nil
		}
		return o.open(os.DevNull, stream)
	case ioNull:
		return o.open(os.DevNull, stream)
	}
	name := o.st.fileName(spec, t)
	// slurmstepd opens per-task files in the task's working directory; srun opens shared ones in its own.
	if spec.perTask && o.st.dir != "" && !filepath.IsAbs(name) {
		name = filepath.Join(o.st.dir, name)
	}
	return o.open(name, stream)
}

func (o *stepOutputFiles) open(name, stream string) (taskSink, error) {
	if s, ok := o.files[name]; ok {
		return s, nil
	}
	flags := os.O_CREATE | os.O_WRONLY | os.O_APPEND
	if !o.st.appendOut && name != os.DevNull {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(name, flags, 0o644)
	if errors.Is(err, os.ErrNotExist) {
		// srun creates missing parent directories of an output file.
		if mkErr := os.MkdirAll(filepath.Dir(name), 0o755); mkErr == nil {
			f, err = os.OpenFile(name, flags, 0o644)
		}
	}
	if err != nil {
		return taskSink{}, fmt.Errorf("srun: error: Could not open %s file: %v", stream, err)
	}
	o.opened = append(o.opened, f)
	s := taskSink{file: f, w: f, mu: &sync.Mutex{}}
	o.files[name] = s
	return s, nil
}

func (o *stepOutputFiles) close() {
	for _, f := range o.opened {
		f.Close()
	}
}

// spawner starts processes from one locked OS thread. Pdeathsig is tied to the thread that forks
// the child, not to the process: if that thread ended while tasks ran, the kernel would kill them.
// Go ends a thread only when a goroutine locked to it exits, so the spawner's goroutine locks its
// thread, starts every task on it, and exits (still locked, so the runtime retires the thread) only
// after the last task has been reaped. Had the fake srun died instead, the thread would be gone
// with it, and the tasks killed as intended.
type spawner struct {
	reqs chan func()
	done chan struct{}
}

func startSpawner() *spawner {
	s := &spawner{reqs: make(chan func()), done: make(chan struct{})}
	go func() {
		runtime.LockOSThread()
		defer close(s.done)
		for f := range s.reqs {
			f()
		}
	}()
	return s
}

// do runs f on the spawner's thread and waits for it.
func (s *spawner) do(f func()) {
	finished := make(chan struct{})
	s.reqs <- func() {
		defer close(finished)
		f()
	}
	<-finished
}

func (s *spawner) stop() {
	close(s.reqs)
	<-s.done
}

// taskStatus is how a task ended: by a signal when sig is not 0, else with code.
type taskStatus struct {
	code int
	sig  syscall.Signal
}

func (s taskStatus) failed() bool { return s.code != 0 || s.sig != 0 }

type taskEnd struct {
	index  int
	status taskStatus
}

type taskProc struct {
	task   fakeTask
	cmd    *exec.Cmd // nil when the task could not be started
	pgid   int
	status taskStatus
}

// stepRunner runs one step. Everything but launch runs on the goroutine of runFakeStep; launch runs on
// the spawner's thread, before supervise starts.
type stepRunner struct {
	st    *fakeStep
	msgs  taskSink // srun's own messages
	sinks [][2]taskSink
	procs []taskProc
	ends  chan taskEnd

	copiers sync.WaitGroup
	readers []*os.File // read ends of the output pipes, closed by force if a copier hangs

	pending     []taskEnd // ends not reported yet
	failed      bool      // a task failed
	terminating bool      // the step is being ended: tasks were signalled
	firstTimer  *time.Timer
	coalesce    *time.Timer
	killTimer   *time.Timer
}

func (r *stepRunner) say(line string) {
	r.msgs.write([]byte(line + "\n"))
}

func (r *stepRunner) labelPrefix(rank int) []byte {
	if !r.st.label {
		return nil
	}
	width := len(strconv.Itoa(max(len(r.st.tasks)-1, 0)))
	return fmt.Appendf(nil, "%*d: ", width, rank)
}

// launch starts task i, or reports why it could not start as slurmstepd would.
func (r *stepRunner) launch(i int) {
	p := &r.procs[i]
	env := r.st.taskEnv(p.task)
	dir := r.st.dir
	if dir == "" {
		dir, _ = os.Getwd()
	}
	pathEnv, hasPath := lastEnvValue(env, "PATH")
	path, err := lookPathIn(r.st.argv[0], pathEnv, hasPath, dir)
	if err != nil {
		r.execFailed(i, err)
		return
	}
	cmd := &exec.Cmd{
		Path: path,
		Args: r.st.argv,
		Env:  env,
		Dir:  r.st.dir,
		SysProcAttr: &syscall.SysProcAttr{
			// Its own group, as on its own node: signals for the step reach all it forked, and a
			// terminal's Ctrl-C reaches only srun, which decides what the tasks get.
			Setpgid:   true,
			Pdeathsig: syscall.SIGKILL,
		},
	}
	var childEnds, readEnds []*os.File
	var copyTo []taskSink
	for stream, s := range r.sinks[i] {
		var w *os.File
		if s.file != nil && !r.st.label {
			w = s.file
		} else {
			pr, pw, err := os.Pipe()
			if err != nil {
				closeFiles(childEnds)
				closeFiles(readEnds)
				r.execFailed(i, err)
				return
			}
			childEnds, readEnds, copyTo = append(childEnds, pw), append(readEnds, pr), append(copyTo, s)
			w = pw
		}
		if stream == 0 {
			cmd.Stdout = w
		} else {
			cmd.Stderr = w
		}
	}
	err = cmd.Start()
	closeFiles(childEnds)
	if err != nil {
		closeFiles(readEnds)
		r.execFailed(i, err)
		return
	}
	p.cmd, p.pgid = cmd, cmd.Process.Pid
	for k, pr := range readEnds {
		r.readers = append(r.readers, pr)
		r.copiers.Add(1)
		go func(pr *os.File, s taskSink, prefix []byte) {
			defer r.copiers.Done()
			copyTaskOutput(pr, s, prefix)
		}(pr, copyTo[k], r.labelPrefix(p.task.rank))
	}
	go func(pid int) {
		r.ends <- taskEnd{index: i, status: awaitExit(pid)}
	}(p.pgid)
}

// execFailed reports a task that could not be started the way slurmstepd does (its message on the
// task's stderr), and ends it with the errno as exit code, as slurmstepd's forked child does.
func (r *stepRunner) execFailed(i int, err error) {
	code := 1
	var errno syscall.Errno
	if errors.As(err, &errno) && errno != 0 {
		code = int(errno)
		err = errno
	}
	msg := fmt.Sprintf("slurmstepd-%s: error: execve(): %s: %s\n", r.procs[i].task.node, r.st.argv[0], cStrerror(err))
	s := r.sinks[i][1]
	s.write(append(r.labelPrefix(r.procs[i].task.rank), msg...))
	r.ends <- taskEnd{index: i, status: taskStatus{code: code}}
}

// cStrerror words an error as C's strerror does: Go's errno texts are strerror's, uncapitalised.
func cStrerror(err error) string {
	s := err.Error()
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func closeFiles(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// lookPathIn finds file as slurmstepd's execve would: a name with a slash as is (relative to the
// task's directory), else the first executable in pathEnv, whose relative entries are relative to
// the task's directory too. Without PATH (--export=NONE) there is no search: the name is taken
// relative to the task's directory, so "env" is not found while "/usr/bin/env" is. The error is the
// errno execve would report.
func lookPathIn(file, pathEnv string, hasPath bool, dir string) (string, error) {
	resolve := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	if strings.Contains(file, "/") || !hasPath {
		p := resolve(file)
		return p, checkExecutable(p)
	}
	if file == "" {
		return "", syscall.ENOENT
	}
	err := error(syscall.ENOENT)
	for _, d := range filepath.SplitList(pathEnv) {
		if d == "" {
			d = "."
		}
		p := resolve(filepath.Join(d, file))
		e := checkExecutable(p)
		if e == nil {
			return p, nil
		}
		// execvp reports EACCES when some candidate existed but could not be run.
		if errors.Is(e, syscall.EACCES) {
			err = e
		}
	}
	return "", err
}

func checkExecutable(p string) error {
	info, err := os.Stat(p)
	if err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			return errno
		}
		return syscall.ENOENT
	}
	if info.IsDir() || info.Mode().Perm()&0o111 == 0 {
		return syscall.EACCES
	}
	return nil
}

// awaitExit waits for the task's process to end without reaping it: an unreaped leader keeps its
// process group id taken, so signals sent to the group later can never reach an unrelated group
// that reused the number. cleanup reaps it.
func awaitExit(pid int) taskStatus {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err == nil {
			break
		}
		if errors.Is(err, unix.EINTR) {
			continue
		}
		// Cannot happen for a child of this process; report a generic failure rather than hang.
		return taskStatus{code: 1}
	}
	status := siginfoStatus(&info)
	switch info.Code {
	case cldExited:
		return taskStatus{code: int(status)}
	case cldKilled, cldDumped:
		return taskStatus{sig: syscall.Signal(status)}
	}
	return taskStatus{code: 1}
}

// siginfoStatus returns si_status from a siginfo that waitid filled in. x/sys/unix does not export
// the union holding it; in the kernel's layout the union follows si_signo, si_errno and si_code at
// the alignment of a long, and starts {si_pid, si_uid, si_status} for a child.
func siginfoStatus(info *unix.Siginfo) int32 {
	const align = unsafe.Alignof(uintptr(0))
	const union = (3*unsafe.Sizeof(int32(0)) + align - 1) &^ (align - 1)
	return *(*int32)(unsafe.Add(unsafe.Pointer(info), union+2*unsafe.Sizeof(int32(0))))
}

// copyTaskOutput copies one task stream into its sink until every writer of the pipe is gone. With a
// label prefix, output is written whole lines at a time, each prefixed; a last unterminated line
// gets a newline, as srun's -l does.
func copyTaskOutput(pr *os.File, s taskSink, prefix []byte) {
	defer pr.Close()
	buf := make([]byte, 32<<10)
	var partial []byte
	for {
		n, err := pr.Read(buf)
		if n > 0 {
			if prefix == nil {
				s.write(buf[:n])
			} else {
				var out []byte
				data := buf[:n]
				for {
					nl := bytes.IndexByte(data, '\n')
					if nl < 0 {
						partial = append(partial, data...)
						break
					}
					out = append(append(append(out, prefix...), partial...), data[:nl+1]...)
					partial, data = partial[:0], data[nl+1:]
				}
				if len(partial) > maxPartialLine {
					out = append(append(append(out, prefix...), partial...), '\n')
					partial = partial[:0]
				}
				if len(out) > 0 {
					s.write(out)
				}
			}
		}
		if err != nil {
			break
		}
	}
	if len(partial) > 0 {
		s.write(append(append(append([]byte{}, prefix...), partial...), '\n'))
	}
}

func timerChan(t *time.Timer) <-chan time.Time {
	if t == nil {
		return nil
	}
	return t.C
}

// supervise waits for every task to end, reporting failures and ending the step when a task fails
// under -K, when a signal asks for it, or when ctx is cancelled.
func (r *stepRunner) supervise(ctx context.Context, signals <-chan os.Signal) {
	done := ctx.Done()
	for running := len(r.procs); running > 0; {
		select {
		case e := <-r.ends:
			running--
			r.ended(e)
		case sig, ok := <-signals:
			if !ok {
				signals = nil
				continue
			}
			r.signalled(sig)
		case <-done:
			done = nil
			r.terminate(syscall.SIGTERM, r.abortLines("srun: forcing job termination")...)
		case <-timerChan(r.firstTimer):
			r.firstTimer = nil
			r.firstFailureDue()
		case <-timerChan(r.coalesce):
			r.coalesce = nil
			r.flush()
		case <-timerChan(r.killTimer):
			r.killTimer = nil
			r.signalAll(syscall.SIGKILL)
			r.flush()
		}
	}
	if r.firstTimer != nil {
		// Every task ended within the window: report, and say what -K would have done.
		r.firstTimer.Stop()
		r.firstTimer = nil
		r.firstFailureDue()
	}
	for _, t := range []*time.Timer{r.coalesce, r.killTimer} {
		if t != nil {
			t.Stop()
		}
	}
	r.coalesce, r.killTimer = nil, nil
	r.flush()
}

func (r *stepRunner) ended(e taskEnd) {
	r.procs[e.index].status = e.status
	r.pending = append(r.pending, e)
	switch {
	case r.firstTimer != nil || r.terminating:
		// Reported with the first failure, or once the step is down.
	case e.status.failed() && !r.failed:
		r.failed = true
		if r.coalesce != nil {
			r.coalesce.Stop()
			r.coalesce = nil
		}
		r.firstTimer = time.NewTimer(firstFailureWindow)
	case r.coalesce == nil:
		r.coalesce = time.NewTimer(coalesceWindow)
	}
}

// firstFailureDue reports the first failure, with whatever ended alongside it, and under -K ends
// the step.
func (r *stepRunner) firstFailureDue() {
	r.flush()
	if r.st.killOnBad && !r.terminating {
		r.terminate(syscall.SIGTERM, "srun: launch/slurm: _step_signal: Terminating "+r.st.stepName())
	}
}

// signalled acts on a signal sent to srun: SIGTERM, SIGHUP, SIGQUIT and SIGINT end the step, any
// other signal is passed on to the tasks, as srun does. The messages are srun's.
func (r *stepRunner) signalled(sig os.Signal) {
	s, ok := sig.(syscall.Signal)
	if !ok {
		return
	}
	switch s {
	case syscall.SIGTERM, syscall.SIGHUP, syscall.SIGKILL:
		r.terminate(s, r.abortLines("srun: forcing job termination")...)
	case syscall.SIGQUIT:
		r.terminate(s, r.abortLines("srun: Quit", "srun: forcing job termination")...)
	case syscall.SIGINT:
		r.terminate(s, r.abortLines("srun: sending Ctrl-C to "+r.st.stepName(), "srun: forcing job termination")...)
	default:
		for i := range r.procs {
			if p := &r.procs[i]; p.cmd != nil {
				_ = syscall.Kill(-p.pgid, s)
			}
		}
	}
}

// abortLines are srun's messages when a signal makes it end the step, followed by its promise to
// wait, which counts Slurm's two seconds of slack on top of the kill wait.
func (r *stepRunner) abortLines(lines ...string) []string {
	wait := int(math.Ceil(r.st.killWait.Seconds())) + 2
	return append(lines, fmt.Sprintf("srun: Job step aborted: Waiting up to %d seconds for job step to finish.", wait))
}

// terminate ends the step: sig to every task's process group now, SIGKILL after the kill wait. It
// prints srun's lines, then slurmstepd's notice of the cancellation, which goes to the stderr of
// the step's first task as it does on the step's first node. A second request while the step is
// ending sends SIGKILL at once.
func (r *stepRunner) terminate(sig syscall.Signal, lines ...string) {
	if r.terminating {
		r.signalAll(syscall.SIGKILL)
		if r.killTimer != nil {
			r.killTimer.Stop()
			r.killTimer = nil
		}
		r.flush()
		return
	}
	// What ended before the step was told to end is reported before the message that says so.
	for _, t := range []**time.Timer{&r.coalesce, &r.firstTimer} {
		if *t != nil {
			(*t).Stop()
			*t = nil
		}
	}
	r.flush()
	r.terminating = true
	for _, l := range lines {
		r.say(l)
	}
	node := r.st.nodes[0]
	notice := slurm.FormatStepCancelled(r.st.jobID+"."+strconv.Itoa(r.st.stepID), node, time.Now())
	r.sinks[0][1].write(append(r.labelPrefix(0), notice+"\n"...))
	r.signalAll(sig)
	if sig != syscall.SIGKILL {
		r.killTimer = time.NewTimer(r.st.killWait)
	}
}

// signalAll sends sig to every started task's process group, leftovers of ended tasks included, as
// slurmstepd signals every process of the step. Stopped processes are continued so that they can act
// on it. Every group is still held by its unreaped leader, so the ids cannot have been reused.
func (r *stepRunner) signalAll(sig syscall.Signal) {
	for i := range r.procs {
		p := &r.procs[i]
		if p.cmd == nil {
			continue
		}
		_ = syscall.Kill(-p.pgid, sig)
		if sig != syscall.SIGKILL {
			_ = syscall.Kill(-p.pgid, syscall.SIGCONT)
		}
	}
}

// flush reports the pending task ends: one line per node and status, as srun prints them.
func (r *stepRunner) flush() {
	type key struct {
		node   int
		status taskStatus
	}
	groups := map[key][]int{}
	var order []key
	for _, e := range r.pending {
		if !e.status.failed() {
			continue
		}
		t := r.procs[e.index].task
		k := key{t.nodeID, e.status}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], t.rank)
	}
	r.pending = r.pending[:0]
	sort.SliceStable(order, func(a, b int) bool {
		if order[a].node != order[b].node {
			return order[a].node < order[b].node
		}
		return slices.Min(groups[order[a]]) < slices.Min(groups[order[b]])
	})
	for _, k := range order {
		r.say(slurm.FormatTaskFailure(r.st.nodes[k.node], groups[k], k.status.code, k.status.sig))
	}
}

// cleanup ends what is left of the step once every task's main process has ended: like slurmstepd
// at the end of a step, it kills every remaining process of the tasks' groups, reaps them, and waits
// for their output.
func (r *stepRunner) cleanup() {
	r.signalAll(syscall.SIGKILL)
	groups := map[int]bool{}
	for i := range r.procs {
		if p := &r.procs[i]; p.cmd != nil {
			_ = p.cmd.Wait()
			groups[p.pgid] = true
		}
	}
	if left := reapGroups(groups, time.Now().Add(reapTimeout)); len(left) > 0 {
		r.say(fmt.Sprintf("srun: warning: fake srun: processes %v of %s outlived SIGKILL", left, r.st.stepName()))
	}
	drained := make(chan struct{})
	go func() {
		r.copiers.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-time.After(drainTimeout):
		// A process outside the step holds a pipe; its further output is lost, as it would be
		// with srun gone.
		closeFiles(r.readers)
		<-drained
	}
}

// status is srun's exit status: a signal that ended a task outweighs any exit code (the highest
// signal wins, reported as 128+signal), else the highest exit code. This is why a step ended by -K
// returns 143 whatever code the first failing task had.
func (r *stepRunner) status() int {
	maxSig, maxCode := 0, 0
	for _, p := range r.procs {
		if p.status.sig != 0 {
			maxSig = max(maxSig, int(p.status.sig))
		} else {
			maxCode = max(maxCode, p.status.code)
		}
	}
	if maxSig > 0 {
		return verdict.Signal(syscall.Signal(maxSig))
	}
	return maxCode
}

// reapGroups waits until no process is left in groups, reaping those that were handed to this
// process as their subreaper. It returns the pids still there at the deadline.
//
// Each pass costs a few system calls per group, not a read of the process table: the steps of a
// wide local run end together, and each of them reading a table of a thousand processes every few
// milliseconds made their teardown quadratic. The table is read only at the deadline, to name what
// is left.
func reapGroups(groups map[int]bool, deadline time.Time) []int {
	for {
		left := false
		for g := range groups {
			reapGroup(g)
			// A zombie still counts as a member, as it does in /proc, until its parent reaps it.
			if syscall.Kill(-g, 0) != syscall.ESRCH {
				left = true
			}
		}
		if !left {
			return nil
		}
		if time.Now().After(deadline) {
			pids, err := groupMembers(groups)
			if err != nil {
				return waitGroupsGone(groups, time.Now())
			}
			return pids
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// reapGroup reaps every child of this process in process group g that has ended: the orphans that
// the kernel handed to it as their subreaper.
func reapGroup(g int) {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-g, &ws, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
	}
}

// waitGroupsGone is reapGroups without /proc: it can only wait for the groups to empty.
func waitGroupsGone(groups map[int]bool, deadline time.Time) []int {
	for {
		var left []int
		for g := range groups {
			if syscall.Kill(-g, 0) != syscall.ESRCH {
				left = append(left, g)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// groupMembers lists the pids of the processes whose process group is in groups, from /proc.
func groupMembers(groups map[int]bool) ([]int, error) {
	procs, err := proctable.Read()
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, p := range procs {
		if groups[p.PGRP] {
			pids = append(pids, p.PID)
		}
	}
	return pids, nil
}
