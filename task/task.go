// Package task is the per-rank runner: srun starts `<supervisor binary> task [flags]` on every task of
// every role step. Each task announces itself, takes part in a per-node install gate and an optional
// all-ranks barrier, prepares the environment, and finally replaces itself with `bash -c <command>`,
// so signals and exit codes pass between srun and the role command untouched.
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
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
	"github.com/disagg-supervisor/disagg-supervisor/taskopts"
)

// Exit codes Run returns for its own failures; a failed install returns the installer's own code.
const (
	exitFailure  = 1   // coordination files could not be written or read
	exitUsage    = 2   // bad options or environment, or an empty command
	exitTimeout  = 124 // a bounded wait ran out, as timeout(1) reports it
	exitNotFound = 127 // bash could not be found or exec'd, as a shell reports it
)

// Timings of the per-rank helper. The shared filesystem is polled; these are cheap stat calls.
const (
	defaultPoll          = 100 * time.Millisecond
	defaultProgressEvery = time.Minute
	// Importing tensorrt_llm loads CUDA libraries from a shared filesystem; it can be slow, but it
	// must not hold the rank forever.
	defaultProbeTimeout = 5 * time.Minute
	// installKillGrace is how long an interrupted installer gets between SIGTERM and SIGKILL.
	installKillGrace = 10 * time.Second
)

// execFunc replaces the process with argv0 running argv under env; it returns only on failure.
// Main passes syscall.Exec; tests pass a recorder.
type execFunc func(argv0 string, argv []string, env []string) error

// Run does the per-rank work and finally calls exec with `bash -c <command>`; it only returns on
// error, with the exit code to use. (An exec that returns nil, as no real exec does, makes it return 0.)
func Run(ctx context.Context, opts Options, env []string, stdout, stderr io.Writer, exec func(argv0 string, argv []string, env []string) error) int {
	return run(ctx, opts, env, stdout, stderr, exec, defaultSeams())
}

// Main is Run for the process: flags from args (the words after `task`), os.Environ, os.Stdout and
// os.Stderr, and syscall.Exec. It returns the exit code when Run returns.
func Main(args []string) int {
	opts, err := ParseArgs(args)
	if errors.Is(err, flag.ErrHelp) {
		taskopts.PrintUsage(os.Stderr)
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "task: %v\n", err)
		return exitUsage
	}

	// A signal while waiting cancels the context with the signal as cause, so that an interrupted
	// installer still writes its failed marker and the message says what the task was waiting for.
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		select {
		case s := <-sigs:
			cancel(signalError{s})
		case <-ctx.Done():
		}
	}()

	execve := func(argv0 string, argv []string, env []string) error {
		// From here on a signal must take its default action: a SIGTERM that arrives between this
		// point and the exec kills the task, exactly as it would kill the command.
		signal.Reset(syscall.SIGINT, syscall.SIGTERM)
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return syscall.Exec(argv0, argv, env)
	}
	return Run(ctx, opts, os.Environ(), os.Stdout, os.Stderr, execve)
}

// signalError is the cancellation cause when the task received a signal.
type signalError struct{ sig os.Signal }

func (e signalError) Error() string { return "received signal " + e.sig.String() }

// exitCode follows the shell's convention for a process ended by a signal.
func (e signalError) exitCode() int {
	if s, ok := e.sig.(syscall.Signal); ok {
		return 128 + int(s)
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
	poll          time.Duration
	progressEvery time.Duration
	probeTimeout  time.Duration
	killGrace     time.Duration
	// chdir changes the working directory the command will start in; tests record it instead,
	// because the working directory belongs to the whole test process.
	chdir    func(dir string) error
	hostname func() (string, error)
}

func defaultSeams() seams {
	return seams{
		poll:          defaultPoll,
		progressEvery: defaultProgressEvery,
		probeTimeout:  defaultProbeTimeout,
		killGrace:     installKillGrace,
		chdir:         os.Chdir,
		hostname:      os.Hostname,
	}
}

// runner holds one task's state while Run works through its steps.
type runner struct {
	seams
	opts   Options
	env    *environ
	stdout io.Writer
	stderr io.Writer
	exec   execFunc
	id     identity
	// workdir is where the command starts; empty keeps the task's own.
	workdir string
}

func run(ctx context.Context, opts Options, env []string, stdout, stderr io.Writer, exec execFunc, s seams) int {
	r := &runner{seams: s, opts: opts.WithDefaults(), env: newEnviron(env), stdout: stdout, stderr: stderr, exec: exec}
	if err := r.configure(); err != nil {
		fmt.Fprintf(stderr, "task: %v\n", err)
		return exitUsage
	}
	if err := r.steps(ctx); err != nil {
		code := exitFailure
		var f *failure
		if errors.As(err, &f) {
			code = f.code
		}
		fmt.Fprintf(stderr, "task: %s: %v\n", r.id.who(), err)
		return code
	}
	// steps returns nil only when exec returned nil: a real exec never does, and an exec that ran the
	// command in some other way (a test's) reports that it succeeded.
	return 0
}

// configure settles role, kind and identity before anything is written, so that every later message
// can name the task.
func (r *runner) configure() error {
	o := &r.opts
	envRole, _ := r.env.get("DISAGG_SERVING_TYPE")
	switch {
	case o.Role == "" && envRole == "":
		return errors.New("no role: set --role or DISAGG_SERVING_TYPE")
	case o.Role == "":
		o.Role = envRole
	case envRole == "":
		// The role command reads its role from this variable.
		r.env.set("DISAGG_SERVING_TYPE", o.Role)
	case envRole != o.Role:
		return fmt.Errorf("--role %s disagrees with DISAGG_SERVING_TYPE=%s", o.Role, envRole)
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

// steps runs the task's steps in order; it returns nil only if exec returned nil.
func (r *runner) steps(ctx context.Context) error {
	fmt.Fprintln(r.stderr, r.id.line(r.opts.CoordDir))

	if err := coord.WriteMarker(r.dir().Started(r.id.role, r.id.rank), r.id.marker(time.Now())); err != nil {
		return fail(exitFailure, "write start marker: %w", err)
	}
	if r.opts.InstallCommand != "" {
		if err := r.installGate(ctx); err != nil {
			return err
		}
	}
	if r.opts.Barrier {
		if err := r.barrier(ctx); err != nil {
			return err
		}
	}
	if r.opts.LLMSrcSetup {
		r.llmSrcSetup()
	}
	if r.opts.LDLibraryPath {
		// Only for a TensorRT-LLM job, as today's run script: the probe starts python3, which
		// costs a tenth of a second of CPU in every task of every step.
		if src, _ := r.env.get("llmSrcNode"); src != "" {
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
	return r.execCommand(ctx)
}

// dir is the run attempt's coordination directory.
func (r *runner) dir() coord.Dir { return coord.Dir(r.opts.CoordDir) }

// execCommand replaces the task with bash -c <command>.
func (r *runner) execCommand(ctx context.Context) error {
	command, _ := r.env.get(r.opts.CommandVar)
	if strings.TrimSpace(command) == "" {
		return fail(exitUsage, "$%s is empty", r.opts.CommandVar)
	}
	bash, err := lookPath("bash", r.env)
	if err != nil {
		return fail(exitNotFound, "cannot run the role command: %w", err)
	}
	if ctx.Err() != nil {
		return r.interrupted(ctx, "before starting the role command")
	}
	if r.workdir != "" {
		if err := r.chdir(r.workdir); err != nil {
			return fail(exitFailure, "change to %s: %w", r.workdir, err)
		}
	}
	if err := r.exec(bash, []string{"bash", "-c", command}, r.env.list()); err != nil {
		if ctx.Err() != nil {
			return r.interrupted(ctx, "before starting the role command")
		}
		return fail(exitNotFound, "exec %s: %w", bash, err)
	}
	return nil
}

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

// logf writes one informational line to stderr.
func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.stderr, "task: "+format+"\n", args...)
}

// wait polls check until it reports done or an error, logging progress every progressEvery so that a
// long wait is visible in the log while it happens. check is called at once, then every poll.
func (r *runner) wait(ctx context.Context, doing string, check func(elapsed time.Duration) (bool, error), progress func(elapsed time.Duration)) error {
	start := time.Now()
	lastProgress := start
	ticker := time.NewTicker(r.poll)
	defer ticker.Stop()
	for {
		done, err := check(time.Since(start))
		if done || err != nil {
			return err
		}
		if r.progressEvery > 0 && time.Since(lastProgress) >= r.progressEvery {
			lastProgress = time.Now()
			progress(time.Since(start).Round(time.Second))
		}
		select {
		case <-ctx.Done():
			return r.interrupted(ctx, doing)
		case <-ticker.C:
		}
	}
}
