// Package task is the per-rank runner: srun starts `<supervisor binary> task [flags]` on every task of
// every role step. Each task announces itself, takes part in a per-node install gate, sources the
// setup file, waits for rank 0's preparation and, in a step of more than one task, for every rank at
// the barrier, prepares the environment, runs `bash -c <command>` as its child in its own process
// group, passes the signals it gets on to it, runs the after commands, stops what the command left
// running (reaper.go), and ends with the command's status: its exit code, or the signal that ended it,
// raised again on the task, so that srun reports the step as it would have reported the command.
//
// Every wait is bounded, and every failure line names the role, rank and node that wrote it, because
// the failures this replaces were silent hangs whose evidence was lost when the job was killed.
package task

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
	"github.com/disagg-supervisor/disagg-supervisor/logscan"
	"github.com/disagg-supervisor/disagg-supervisor/redact"
	"github.com/disagg-supervisor/disagg-supervisor/taskopts"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

// Exit codes Run returns for its own failures, in the supervisor's band (package verdict) so that a
// role's own code cannot be taken for them; a failed install returns the installer's own code.
const (
	exitFailure = verdict.ExitInternal // coordination files could not be written or read
	exitUsage   = verdict.ExitBadInput // bad options, environment or setup, or an empty command
	exitWaited  = verdict.ExitNotReady // a bounded wait for other ranks (barrier, install, rank 0) ran out
	// exitNotFound: bash could not be found or started, as a shell reports it.
	exitNotFound = verdict.ExitNotFound
	// exitTimeout is an after command's status when it ran out of its time, as timeout(1) reports it.
	exitTimeout = verdict.ExitTimedOut
)

// treeForwardDelay is how long after the role command the processes it started get a signal the
// task passes on, when the command is not ending of it by then (a command that ends leaves the rest
// to the task, which then knows, in one system call, whether there is any). Finding them takes a
// read of the node's whole process table, which the common teardown, a command that ends of the
// signal and leaves nothing, thus never pays: 512 ranks on one machine paid 512 reads of a table of
// over 1,000 processes. Short next to any shutdown the signal asks for.
const treeForwardDelay = 100 * time.Millisecond

// Timings of the per-rank helper. Every wait for other tasks polls files on the job's shared file
// system, which hundreds of ranks share with the job itself: a wait looks at a few paths per poll (never
// a directory of every rank), and its poll backs off, so that a long wait costs about one look a second.
const (
	// defaultPoll is a wait's first poll interval: ranks in step, and an install already done, are
	// seen within milliseconds. It doubles at every poll up to defaultPollMax.
	defaultPoll = 10 * time.Millisecond
	// defaultPollMax is the longest poll interval: what a wait may add after the event it waits for.
	defaultPollMax = time.Second
	// defaultProgressEvery is how often a long wait says so.
	defaultProgressEvery = time.Minute
	// defaultBarrierProgress is how often rank 0 says whom the barrier still waits for.
	defaultBarrierProgress = 10 * time.Second
	// defaultBarrierGrid is the period of the barrier's polls once its backoff has reached half of
	// it: a waiting rank looks about 1.6 times a second, and leaves at most this long after the last
	// rank arrived (see barrier).
	defaultBarrierGrid = 640 * time.Millisecond
	// Importing tensorrt_llm loads CUDA libraries from a shared filesystem; it can be slow, but it
	// must not hold the rank forever.
	defaultProbeTimeout = 5 * time.Minute
	// installKillGrace is how long an interrupted installer gets between SIGTERM and SIGKILL.
	installKillGrace = 10 * time.Second
)

// Run does the per-rank work, runs the role command and the after commands, and returns the exit
// code: the command's (128+signal when a signal ended it), a deciding after command's, or the task's
// own for a failure before the command. Signals are Main's business; Run's caller passes none.
func Run(ctx context.Context, opts Options, env []string, stdout, stderr io.Writer) int {
	return run(ctx, opts, env, stdout, stderr, defaultSeams()).code
}

// Main is the task for the process: flags from args (the words after `task`), os.Environ, os.Stdout
// and os.Stderr, SIGTERM, SIGINT and SIGHUP. It returns the exit code; when a signal the task can
// take on itself ended the command, it ends the process with that signal instead of returning.
func Main(args []string) int {
	opts, err := ParseArgs(args)
	if errors.Is(err, flag.ErrHelp) {
		// Help is asked for, not an error: stdout and 0, as every command's --help.
		if err := writeHelp(os.Stdout); err != nil {
			fmt.Fprintf(os.Stderr, "%s%v\n", logscan.TaskErrorPrefix, err)
			return exitFailure
		}
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s%v\n", logscan.TaskErrorPrefix, err)
		return exitUsage
	}

	// A signal before the command cancels the context with the signal as cause, so that an
	// interrupted installer still writes its failed marker and the message says what the task was
	// waiting for; every signal is also relayed to the command phase, which passes it on.
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal, 4)
	relay := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		var last os.Signal
		var lastAt time.Time
		for {
			select {
			case s := <-sigs:
				cancel(signalError{s})
				if s == last && time.Since(lastAt) < verdict.DuplicateSignalWindow {
					// The same delivery seen twice, not a second signal: see verdict.DuplicateSignalWindow.
					continue
				}
				last, lastAt = s, time.Now()
				select {
				case relay <- s:
				default: // four unread signals already say it all
				}
			case <-stop:
				return
			}
		}
	}()

	s := defaultSeams()
	s.signals = relay
	s.stdin = os.Stdin
	s.pdeathsig = true
	// The task adopts and, at its end, stops what its command leaves behind (reaper.go); orphans
	// that end while the command runs are reaped as SIGCHLD announces them.
	s.reap = true
	childExits := make(chan os.Signal, 1)
	signal.Notify(childExits, syscall.SIGCHLD)
	defer signal.Stop(childExits)
	s.childExits = childExits
	// Passing a signal on costs one kill(2) when the command ends of it and leaves nothing, rather
	// than a read of the node's whole process table per rank (see treeForwardDelay).
	s.forward = signalProcess
	s.treeDelay = treeForwardDelay
	out := run(ctx, opts, os.Environ(), os.Stdout, os.Stderr, s)
	if out.sig != 0 {
		// End as the command ended, so that srun's "Terminated" or "Killed" stays what it was.
		signal.Reset(out.sig)
		_ = syscall.Kill(os.Getpid(), out.sig)
		time.Sleep(time.Second)
	}
	return out.code
}

// signalError is the cancellation cause when the task received a signal.
type signalError struct{ sig os.Signal }

func (e signalError) Error() string { return "received signal " + e.sig.String() }

// exitCode follows the shell's convention for a process ended by a signal.
func (e signalError) exitCode() int {
	if s, ok := e.sig.(syscall.Signal); ok {
		return verdict.Signal(s)
	}
	return exitFailure
}

// failure is an error with the exit code the task should return for it.
type failure struct {
	code int
	err  error
}

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

func fail(code int, format string, args ...any) error {
	return &failure{code: code, err: fmt.Errorf(format, args...)}
}

// seams are the parts of the runner that tests replace.
type seams struct {
	// poll is a wait's first poll interval, which doubles at every poll up to pollMax (poll itself
	// when pollMax is shorter).
	poll, pollMax time.Duration
	progressEvery time.Duration
	probeTimeout  time.Duration
	killGrace     time.Duration
	// barrierProgress is how often rank 0 reports who the barrier still waits for.
	barrierProgress time.Duration
	// barrierGrid is the period of the barrier's polls on the wall clock's ticks, once its backoff
	// reached half of it; 0 keeps the backoff and releases at once.
	barrierGrid time.Duration
	hostname    func() (string, error)
	// signals are the signals the task received (Main relays them); nil receives none.
	signals <-chan os.Signal
	// forward passes a received signal on to the command's process tree; stopHook ends an after
	// command (and what it started) that ran out of time or was cut short.
	forward  func(pid int, sig syscall.Signal)
	stopHook func(pid int)
	// treeDelay, when not 0, says that forward reaches the command alone, and its descendants get
	// the signal this long after, unless the command is ending by then; what an ended command left
	// gets it once the command's status is in (which needs reap). 0: forward does it all.
	treeDelay time.Duration
	stdin     io.Reader
	// beforeStart, when set, sees the role command just before it starts (tests record it there, and
	// may replace what runs); an error fails the start.
	beforeStart func(cmd *exec.Cmd) error
	// pdeathsig makes the children die with the task's thread; only Main's thread is known to live
	// as long as the task.
	pdeathsig bool
	// reap makes the task a child subreaper and stops its leftover descendants at its end
	// (reaper.go); only a task that is a process of its own may, since a test's process has other
	// children. childExits announces exits of its children (SIGCHLD); nil announces none.
	reap       bool
	childExits <-chan os.Signal
}

func defaultSeams() seams {
	return seams{
		poll:            defaultPoll,
		pollMax:         defaultPollMax,
		progressEvery:   defaultProgressEvery,
		probeTimeout:    defaultProbeTimeout,
		killGrace:       installKillGrace,
		barrierProgress: defaultBarrierProgress,
		barrierGrid:     defaultBarrierGrid,
		hostname:        os.Hostname,
		forward:         forwardToTree,
		stopHook:        killTree,
	}
}

// runner holds one task's state while Run works through its steps.
type runner struct {
	seams
	opts   Options
	env    *environ
	stdout io.Writer
	stderr io.Writer
	id     identity
	// workdir is where the command starts; empty keeps the task's own.
	workdir string
}

func run(ctx context.Context, opts Options, env []string, stdout, stderr io.Writer, s seams) outcome {
	r := &runner{seams: s, opts: opts.WithDefaults(), env: newEnviron(env), stdout: stdout, stderr: stderr}
	if err := r.configure(); err != nil {
		fmt.Fprintf(stderr, "%s%v\n", logscan.TaskErrorPrefix, err)
		return outcome{code: exitUsage}
	}
	out, err := r.steps(ctx)
	if err != nil {
		// What the install, setup or preparation left running goes too.
		received := 0
		if ctx.Err() != nil {
			received = 1
		}
		r.stopLeftovers(&received)
		code := exitFailure
		var f *failure
		if errors.As(err, &f) {
			code = f.code
		}
		fmt.Fprintf(stderr, "%s%s: %s\n", logscan.TaskErrorPrefix, r.id.who(), r.redacted(err.Error()))
		return outcome{code: code}
	}
	return out
}

// configure settles role, kind and identity before anything is written, so that every later message
// can name the task.
func (r *runner) configure() error {
	o := &r.opts
	envRole, _ := r.env.get(taskopts.RoleVar)
	switch {
	case o.Role == "" && envRole == "":
		return errors.New("no role: set --role or " + taskopts.RoleVar)
	case o.Role == "":
		o.Role = envRole
	case envRole == "":
		// The role command reads its role from this variable.
		r.env.set(taskopts.RoleVar, o.Role)
	case envRole != o.Role:
		return fmt.Errorf("--role %s disagrees with %s=%s", o.Role, taskopts.RoleVar, envRole)
	}
	if o.Kind == "" {
		o.Kind = inferKind(o.Role)
		if o.Kind == "" {
			return fmt.Errorf("role %s: --kind is required for a role name that is not GEN_i, CTX_i, DISAGG_SERVER, BENCHMARK or SERVER", o.Role)
		}
	} else if !taskopts.ValidKind(o.Kind) {
		return fmt.Errorf("role %s: --kind %q must be one of gen, ctx, server, benchmark, aggregated", o.Role, o.Kind)
	}
	if !o.UnsetSlurm.Valid() {
		return fmt.Errorf("role %s: --unset-slurm %q must be one of auto, always, never", o.Role, o.UnsetSlurm)
	}
	if o.CoordDir == "" {
		return fmt.Errorf("role %s: --coord-dir is required", o.Role)
	}
	// The command may start in another directory; coordination paths must not depend on it.
	abs, err := filepath.Abs(o.CoordDir)
	if err != nil {
		return fmt.Errorf("role %s: --coord-dir %s: %w", o.Role, o.CoordDir, err)
	}
	o.CoordDir = abs

	id, err := readIdentity(*o, r.env, r.hostname)
	if err != nil {
		return fmt.Errorf("role %s: %w", o.Role, err)
	}
	r.id = id
	return nil
}

// steps runs the task's steps in order, the role command last.
func (r *runner) steps(ctx context.Context) (outcome, error) {
	fmt.Fprintln(r.stderr, r.id.line(r.opts.CoordDir))
	if r.reap {
		r.becomeSubreaper()
	}
	defer r.startHeartbeat()()

	if err := coord.WriteMarker(r.dir().Started(r.id.role, r.id.rank), r.id.marker(time.Now())); err != nil {
		return outcome{}, fail(exitFailure, "write start marker: %w", err)
	}
	if r.opts.InstallCommand != "" {
		if err := r.installGate(ctx); err != nil {
			return outcome{}, err
		}
	}
	// Setup before the preparation and the barrier: its environment (library paths, UCX and PMIx
	// fixups) is the one they and the command run in, and its failure fails this rank at once.
	if r.opts.Setup != "" {
		if err := r.setup(ctx); err != nil {
			return outcome{}, err
		}
	}
	if r.opts.Rank0 != "" {
		if err := r.rank0Prep(ctx); err != nil {
			return outcome{}, err
		}
	}
	if r.barrierOn() {
		if err := r.barrier(ctx); err != nil {
			return outcome{}, err
		}
	}
	if r.opts.LLMSrcSetup {
		r.llmSrcSetup()
	}
	if r.opts.LDLibraryPath {
		// Only for a TensorRT-LLM job, as today's run script: the probe starts python3, which
		// costs a tenth of a second of CPU in every task of every step.
		if src, _ := r.env.get(taskopts.LLMSrcVar); src != "" {
			r.ldLibraryPath(ctx)
		} else {
			r.logf("LD_LIBRARY_PATH unchanged: llmSrcNode is not set, so there is no TensorRT-LLM install to look for")
		}
	}
	r.unsetLauncherVars()
	if r.opts.EnvDump {
		// One write, so that ranks sharing a log interleave whole dumps rather than lines.
		_, _ = io.WriteString(r.stdout, dumpText(r.env.list()))
	}
	return r.runCommand(ctx)
}

// barrierOn tells whether this task takes part in a barrier: a step of one task has nobody to wait
// for.
func (r *runner) barrierOn() bool { return r.opts.Barrier && r.id.ntasks > 1 }

// dir is the run attempt's coordination directory.
func (r *runner) dir() coord.Dir { return coord.Dir(r.opts.CoordDir) }

// interrupted is the error for a wait cut short by a signal (or a cancelled context in tests).
func (r *runner) interrupted(ctx context.Context, doing string) error {
	return &failure{code: interruptCode(ctx), err: fmt.Errorf("interrupted %s: %w", doing, context.Cause(ctx))}
}

// interruptCode is 128+n when signal n cancelled ctx, as a shell would report it.
func interruptCode(ctx context.Context) int {
	var se signalError
	if errors.As(context.Cause(ctx), &se) {
		return se.exitCode()
	}
	return exitFailure
}

// logf writes one informational line to stderr, secrets masked: it can quote an after command or a
// setup file's path, which the user may have written a token into.
func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.stderr, "task: %s\n", r.redacted(fmt.Sprintf(format, args...)))
}

// redacted masks the secrets of the task's environment as it is now (the setup can add some), and
// tokens of well-known formats, in s.
func (r *runner) redacted(s string) string {
	return redact.NewText(r.env.list()).String(s)
}

// wait polls check until it reports done or an error, logging progress every progressEvery so that a
// long wait is visible in the log while it happens. check is called at once, then at every poll.
func (r *runner) wait(ctx context.Context, doing string, check func(elapsed time.Duration) (bool, error), progress func(elapsed time.Duration)) error {
	return r.waitEvery(ctx, doing, r.progressEvery, check, progress)
}

// waitEvery is wait with its own progress interval. The poll interval backs off (see backoff).
func (r *runner) waitEvery(ctx context.Context, doing string, every time.Duration, check func(elapsed time.Duration) (bool, error), progress func(elapsed time.Duration)) error {
	start := time.Now()
	lastProgress := start
	poll := r.backoff()
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for {
		elapsed := time.Since(start)
		done, err := check(elapsed)
		if done || err != nil {
			return err
		}
		if every > 0 && time.Since(lastProgress) >= every {
			lastProgress = time.Now()
			progress(time.Since(start).Round(time.Second))
		}
		timer.Reset(poll.next())
		select {
		case <-ctx.Done():
			return r.interrupted(ctx, doing)
		case <-timer.C:
		}
	}
}

// backoff is a poll interval that starts short, for what is usually over at once, and doubles at
// every poll up to a bound, for what takes long: a wait of an hour polls about once a second, not a
// hundred times.
type backoff struct {
	interval, max time.Duration
}

// backoff is the runner's poll: from poll up to pollMax.
func (r *runner) backoff() *backoff {
	return &backoff{interval: r.poll, max: max(r.pollMax, r.poll)}
}

// next is the interval to wait before the next poll.
func (b *backoff) next() time.Duration {
	d := b.interval
	b.interval = min(2*b.interval, b.max)
	return d
}
