package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/hashicorp/go-multierror"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
	"github.com/disagg-supervisor/disagg-supervisor/slurm"
)

// launchSpec is what starting one step takes.
type launchSpec struct {
	name string
	// argv is the plan's srun argv; the launcher replaces its argv[0].
	argv []string
	env  map[string]string
	log  string
	// header opens this attempt's part of the log.
	header string
	ntasks int
}

// launcher starts steps. It is the seam between the run loop's decisions and processes: a run uses
// execLauncher; the loop's own tests use a fake that says what each step does, with no process.
type launcher interface {
	start(spec launchSpec) (stepProcess, error)
}

// stepProcess is one started step. pid and logStart are called by the loop; the other methods block
// or call Slurm, so they run in goroutines of their own and must be safe for that.
type stepProcess interface {
	pid() int
	// logStart is where this attempt's output starts in the role's log.
	logStart() int64
	// wait blocks until the step has ended and returns its status as a shell reports it (the exit
	// code, or 128+signal) and the signal's name. The step's log is complete when it returns.
	wait() (status int, signal string)
	// tasksStarted blocks until every task of the step has started and returns the Slurm step id
	// they name (empty when they name none); false when ctx ends first.
	tasksStarted(ctx context.Context) (stepID string, ok bool)
	// stop asks the step to stop gracefully; stepID is Slurm's id of it, empty while unknown.
	stop(stepID string) error
	// kill ends a step that outlived the grace period.
	kill(stepID string) error
	// signal sends sig to the step's tasks without stopping it (the dump signal before the teardown
	// of a hung run).
	signal(stepID string, sig syscall.Signal) error
	// abandon is the last resort for a step that did not end after kill: SIGKILL to its process
	// group, and no more waiting for it.
	abandon() error
}

// execLauncher starts steps as srun processes (the fake srun in local mode).
type execLauncher struct {
	// prefix replaces argv[0] of every step: {"srun"}, or the supervisor's binary and "srun".
	prefix []string
	env    []string
	// slurm, jobID: see Config.Slurm.
	slurm *slurm.Client
	jobID string
	coord coord.Dir
}

// execProcess is a step started by execLauncher.
type execProcess struct {
	l      *execLauncher
	name   string
	ntasks int
	cmd    *exec.Cmd
	// logFile is the step's stdout and stderr; closed once the step has ended.
	logFile *os.File
	start   int64
}

// start launches the step: srun's stdout and stderr go straight to the role's log file, as today's
// `srun ... &> log` does, so no output passes through the supervisor.
func (l *execLauncher) start(spec launchSpec) (stepProcess, error) {
	f, err := os.OpenFile(spec.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("role %s: open log: %w", spec.name, err)
	}
	if _, err := io.WriteString(f, spec.header); err != nil {
		f.Close()
		return nil, fmt.Errorf("role %s: write log %s: %w", spec.name, spec.log, err)
	}
	p := &execProcess{l: l, name: spec.name, ntasks: spec.ntasks, logFile: f}
	if off, err := f.Seek(0, io.SeekCurrent); err == nil {
		p.start = off
	}
	argv := append(append([]string{}, l.prefix...), spec.argv[1:]...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = mergeEnv(l.env, spec.env)
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own process group, so a terminal's Ctrl-C reaches only the supervisor, which then stops
		// every step in order; and stopping a step reaches srun and any helper it forked.
		Setpgid: true,
		// If the supervisor itself is killed, no srun outlives it.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("role %s: start %s: %w", spec.name, argv[0], err)
	}
	p.cmd = cmd
	return p, nil
}

func (p *execProcess) pid() int        { return p.cmd.Process.Pid }
func (p *execProcess) logStart() int64 { return p.start }

// wait returns when srun ends; the loop hears of it at once: no polling of processes.
func (p *execProcess) wait() (int, string) {
	_ = p.cmd.Wait()
	p.logFile.Close()
	return exitStatus(p.cmd.ProcessState)
}

func (p *execProcess) tasksStarted(ctx context.Context) (string, bool) {
	return waitMarkers(ctx, p.l.coord, p.name, p.ntasks)
}

// stop asks a step to stop gracefully.
func (p *execProcess) stop(stepID string) error {
	pid := p.pid()
	if p.l.viaSlurm() && stepID != "" {
		err := p.cancel(stepID, syscall.SIGTERM)
		if err == nil {
			return nil
		}
		// A job Slurm is already ending refuses step signals ("Job/step already completing"); srun
		// still ends its step on SIGTERM (by killing its tasks), so the step is reached either way.
		if serr := signalGroup(p.name, pid, syscall.SIGTERM); serr != nil {
			return multierror.Append(err, serr)
		}
		return fmt.Errorf("%w; sent SIGTERM to its srun instead, which kills the tasks", err)
	}
	// Local mode: the fake srun forwards SIGTERM to its tasks. On a cluster before the step id is known,
	// srun answers SIGTERM by killing the tasks, which still ends the step.
	return signalGroup(p.name, pid, syscall.SIGTERM)
}

// kill ends a step that outlived the grace period. It runs outside the loop: an scancel call must not
// hold up a teardown that Slurm's KillWait bounds.
func (p *execProcess) kill(stepID string) error {
	if p.l.viaSlurm() {
		var errs error
		if stepID != "" {
			errs = p.cancel(stepID, 0)
		}
		// SIGTERM, not SIGKILL: srun then kills its step and exits; a SIGKILLed srun would leave the
		// step's tasks running on the nodes.
		if err := signalGroup(p.name, p.pid(), syscall.SIGTERM); err != nil {
			errs = multierror.Append(errs, err)
		}
		return errs
	}
	return signalGroup(p.name, p.pid(), syscall.SIGKILL)
}

// signal sends sig to the step's tasks: through Slurm once the step id is known, else to srun, which
// passes signals other than the ones that end a step on to its tasks (the fake srun does the same).
func (p *execProcess) signal(stepID string, sig syscall.Signal) error {
	if p.l.viaSlurm() && stepID != "" {
		return p.cancel(stepID, sig)
	}
	return signalGroup(p.name, p.pid(), sig)
}

func (p *execProcess) abandon() error {
	return signalGroup(p.name, p.pid(), syscall.SIGKILL)
}

// cancel sends signal to the step through Slurm (0: cancels it). It is bounded so that a hung
// controller cannot hold up the teardown.
func (p *execProcess) cancel(stepID string, signal syscall.Signal) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.l.slurm.CancelStep(ctx, p.l.jobID, stepID, signal); err != nil {
		return fmt.Errorf("role %s: %w", p.name, err)
	}
	return nil
}

// viaSlurm reports whether steps are signalled through Slurm (a cluster with scancel).
func (l *execLauncher) viaSlurm() bool {
	return l.slurm != nil && l.slurm.Scancel != ""
}

// signalGroup sends sig to the process group of a step's srun (pid), which leads it.
func signalGroup(name string, pid int, sig syscall.Signal) error {
	err := syscall.Kill(-pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("role %s: send %s to step %d: %w", name, signalName(sig), pid, err)
	}
	return nil
}
