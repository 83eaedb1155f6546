package fakesrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/redact"
	"github.com/disagg-supervisor/disagg-supervisor/slurm"
)

// KillWaitEnv names the variable that sets the fake srun's grace between the signal that ends a
// step and SIGKILL, as a Go duration ("500ms") or in seconds ("2"). Slurm's KillWait plays this part
// on a cluster; tests shorten it.
const KillWaitEnv = "DISAGG_FAKE_SRUN_KILL_WAIT"

const (
	// defaultFakeKillWait is shorter than Slurm's usual KillWait (30 s) because local runs are
	// interactive and nothing there needs long to flush.
	defaultFakeKillWait = 2 * time.Second
	defaultFakeJobID    = "1"
	defaultFakeNode     = "localhost"
	// maxStepIDs bounds the search for a free step id, so that an unwritable state directory fails
	// rather than loops.
	maxStepIDs = 1 << 20
)

// Run runs one step the way srun would, with every task a local process. It returns srun's exit
// status.
//
// args are srun's arguments without the program name; env is srun's environment, which describes the
// fake job (SLURM_JOB_ID, SLURM_JOB_NODELIST, SLURM_GPUS_ON_NODE, ...) and is what the tasks inherit
// under --export=ALL. Task output goes to stdout and stderr, or to the files of -o/-e. srun's own
// messages go to stderr, worded as Slurm 22.05 words them, so that whatever reads a real srun's log
// reads this one too.
//
// SIGTERM, SIGHUP, SIGQUIT or SIGINT on signals, or cancelling ctx, ends the step: the same signal
// (SIGTERM for ctx) goes to every task's process group, SIGKILL after the kill wait. This is gentler
// than Slurm 22.05, whose srun answers SIGTERM with SIGKILL at once and needs two SIGINTs within a
// second; local runs rely on tasks being able to stop cleanly. Any other signal is passed on to the
// tasks, as srun does.
//
// Each task runs in its own process group with SIGKILL as its parent-death signal, so a fake srun that
// dies takes its tasks with it. The kernel keeps that setting per thread, though: a multithreaded task
// that execs from a thread other than its main one (a Go program calling syscall.Exec outside the
// main goroutine locked to the main thread) loses it. When Run returns, every process of every
// task's process group is gone and reaped: to reap processes orphaned inside a task, Run makes
// the calling process a child subreaper (PR_SET_CHILD_SUBREAPER), which stays set. A process that
// leaves its task's process group (setsid) is not followed, as Slurm's cgroups would; avoid it in tasks.
func Run(ctx context.Context, args []string, env []string, stdout, stderr io.Writer, signals <-chan os.Signal) int {
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	opts, err := parseSrunArgs(args)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return srunExitStatus(err)
	}
	if opts.help {
		io.WriteString(stdout, fakeSrunUsage)
		return 0
	}
	if len(opts.ignored) > 0 {
		fmt.Fprintf(stderr, "srun: warning: fake srun ignores container options: %s\n", strings.Join(opts.ignored, ", "))
	}
	step, err := planFakeStep(opts, env, func(msg string) { fmt.Fprintln(stderr, "srun: Warning: "+msg) })
	if err != nil {
		fmt.Fprintln(stderr, err)
		return srunExitStatus(err)
	}
	return runFakeStep(ctx, step, stdout, stderr, signals)
}

// Main is Run for the process: os.Args-style args (without the program name),
// os.Environ, the process's stdio, and SIGTERM/SIGINT/SIGHUP from the OS forwarded.
//
// SIGQUIT, SIGUSR1 and SIGUSR2 are handled too, as real srun handles them: SIGQUIT ends the step,
// the user signals are passed on to the tasks.
func Main(args []string) int {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(signals)
	return Run(context.Background(), args, os.Environ(), os.Stdout, os.Stderr, signals)
}

const fakeSrunUsage = `Usage: srun [OPTIONS...] executable [args...]

This is disagg-supervisor's fake srun: it runs every task of the step as a
local process, as if each node of the fake job were this machine.

  -N, --nodes=N               number of nodes of the step
  -w, --nodelist=HOSTLIST     the step's nodes (a Slurm hostlist)
  -n, --ntasks=N              number of tasks
      --ntasks-per-node=N     tasks per node
      --overlap               accepted (steps always share the machine)
  -K, --kill-on-bad-exit[=0|1] end the step when a task exits non-zero
      --mpi=TYPE              accepted; pmix sets PMIX_RANK
      --gpus-per-node=[TYPE:]N GPUs per node (CUDA_VISIBLE_DEVICES=0..N-1)
      --export=ALL|NONE|NAME[=VALUE][,...]
                              environment passed to the tasks
  -o, --output=PATTERN        task stdout (and stderr) file; %j %J %s %t %n %N %u %x %%
  -e, --error=PATTERN         task stderr file
      --open-mode=append|truncate
  -l, --label                 prefix output lines with the task rank
  -J, --job-name=NAME         accepted
  -D, --chdir=DIR             the tasks' working directory
  -u, --unbuffered            accepted (output is never buffered)
      --container-*           accepted and ignored, with a warning
  -h, --help                  this text

Job: SLURM_JOB_ID, SLURM_JOB_NODELIST and SLURM_GPUS_ON_NODE from the environment.
Step ids: claimed in $DISAGG_FAKE_SLURM_DIR. Grace before SIGKILL: $DISAGG_FAKE_SRUN_KILL_WAIT.
`

// srunExitError is a problem srun reports before it runs anything, with the status it then exits with:
// 255 for what its option parser rejects, 1 for the rest, as Slurm 22.05 does.
type srunExitError struct {
	msg    string
	status int
}

func (e *srunExitError) Error() string { return e.msg }

func srunExitStatus(err error) int {
	var e *srunExitError
	if errors.As(err, &e) {
		return e.status
	}
	return 1
}

func fakeKillWait(v string) (time.Duration, error) {
	if v == "" {
		return defaultFakeKillWait, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		secs, ferr := strconv.ParseFloat(v, 64)
		if ferr != nil {
			return 0, fmt.Errorf("srun: error: fake srun: %s=%q is neither a duration nor seconds", KillWaitEnv, v)
		}
		d = time.Duration(secs * float64(time.Second))
	}
	if d < 0 {
		return 0, fmt.Errorf("srun: error: fake srun: %s=%q is negative", KillWaitEnv, v)
	}
	return d, nil
}

// claimStep takes the next step id of the fake job: step files are created with O_EXCL in the job's
// state directory, so concurrent fake sruns of one job never share an id, as Slurm's controller
// guarantees for real steps. The search starts one past the highest id the directory holds, as Slurm
// never gives a job's step id out twice: one directory read per step, where trying every id from 0
// cost the job's n-th step n failed creates (8,645 of them in a job of 130 steps).
func (st *fakeStep) claimStep() error {
	if err := os.MkdirAll(st.stateDir, 0o755); err != nil {
		return fmt.Errorf("srun: error: fake srun: step directory: %w", err)
	}
	for id := nextStepID(st.stateDir); id < maxStepIDs; id++ {
		name := filepath.Join(st.stateDir, "step-"+strconv.Itoa(id))
		f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("srun: error: fake srun: claim step %d: %w", id, err)
		}
		st.stepID, st.stepFile = id, name
		// What ran as this step, for whoever debugs a local run; the command line can carry secrets
		// (an after command with a token in it), which stay out of the file.
		text := redact.NewText(st.env)
		argv := make([]string, len(st.argv))
		for i, arg := range st.argv {
			argv[i] = text.String(arg)
		}
		fmt.Fprintf(f, "StepId=%s.%d pid=%d nodes=%s tasks=%d argv=%q\n",
			st.jobID, id, os.Getpid(), slurm.CompressHostlist(st.nodes), len(st.tasks), argv)
		return f.Close()
	}
	return fmt.Errorf("srun: error: fake srun: no free step id in %s", st.stateDir)
}

// nextStepID is one past the highest step id claimed in dir (0 for none, or when dir cannot be read:
// the O_EXCL creates then find the free id the long way).
func nextStepID(dir string) int {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	next := 0
	for _, e := range entries {
		if id, ok := strings.CutPrefix(e.Name(), "step-"); ok && allDigits(id) {
			if n, err := strconv.Atoi(id); err == nil && n < maxStepIDs {
				next = max(next, n+1)
			}
		}
	}
	return next
}

// recordExit appends srun's status to the step file.
func (st *fakeStep) recordExit(status int) {
	if st.stepFile == "" {
		return
	}
	f, err := os.OpenFile(st.stepFile, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return
	}
	fmt.Fprintf(f, "exit=%d\n", status)
	f.Close()
}

// stepName is the step as srun names it in its messages.
func (st *fakeStep) stepName() string {
	return fmt.Sprintf("StepId=%s.%d", st.jobID, st.stepID)
}
