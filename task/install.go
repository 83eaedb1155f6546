package task

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

// installGate makes sure the install command has run successfully on this node, exactly once per
// run attempt. It is keyed by node, not by role: roles that share a node share the installed tree,
// and installing it twice at once corrupts it. The first task to create the lock file installs;
// every other task on the node waits, with a bound, for the installer's ok or failed marker.
func (r *runner) installGate(ctx context.Context) error {
	files := r.dir().Install(r.id.node)
	if err := os.MkdirAll(r.dir().InstallDir(), 0o755); err != nil {
		return fail(exitFailure, "install gate on %s: %w", r.id.node, err)
	}
	lock, err := os.OpenFile(files.Lock, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	switch {
	case err == nil:
		return r.install(ctx, files, lock)
	case errors.Is(err, fs.ErrExist):
		return r.waitInstall(ctx, files)
	default:
		return fail(exitFailure, "install gate on %s: claim %s: %w", r.id.node, files.Lock, err)
	}
}

// install runs the install command as the node's installer and publishes the outcome.
func (r *runner) install(ctx context.Context, files coord.InstallFiles, lock *os.File) error {
	// The lock names its holder, so a waiter that times out can say whom it waited for.
	_, werr := lock.Write(r.id.marker(time.Now()).Encode())
	if cerr := lock.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		// The lock is ours all the same; only the waiters' messages lose the holder's name.
		r.logf("install on %s: cannot record the installer in %s: %v", r.id.node, files.Lock, werr)
	}

	r.logf("install on %s: this task installs (lock %s)", r.id.node, files.Lock)
	start := time.Now()
	code, runErr := r.runInstaller(ctx)
	took := time.Since(start).Round(time.Millisecond)

	if code == 0 {
		if err := coord.WriteMarker(files.OK, r.id.marker(time.Now())); err != nil {
			// Waiters would time out instead of continuing; better that the step fails now.
			return fail(exitFailure, "install on %s succeeded but %s could not be written: %w", r.id.node, files.OK, err)
		}
		r.logf("install on %s: done in %s", r.id.node, took)
		return nil
	}

	// Publish the failure before anything else, so waiters stop waiting at once.
	markErr := coord.WriteFailed(files.Failed, code)
	why := ""
	if runErr != nil {
		why = fmt.Sprintf(" (%v)", runErr)
	}
	if markErr != nil {
		return fail(code, "install on %s failed with exit code %d after %s%s; writing %s also failed: %w", r.id.node, code, took, why, files.Failed, markErr)
	}
	return &failure{code: code, err: fmt.Errorf("install on %s failed with exit code %d after %s%s", r.id.node, code, took, why)}
}

// runInstaller runs `bash -c <install command>` with the task's environment and output, and returns
// its exit code (128+n when killed by signal n). err explains a code that does not come from the
// command itself.
func (r *runner) runInstaller(ctx context.Context) (int, error) {
	bash, err := lookPath("bash", r.env)
	if err != nil {
		return exitNotFound, err
	}
	cmd := exec.CommandContext(ctx, bash, "-c", r.opts.InstallCommand)
	cmd.Env = r.env.list()
	cmd.Stdout = r.stdout
	cmd.Stderr = r.stderr
	// An interrupted install stops with all its children (pip, compilers) rather than leaving them to
	// write into the tree after the failed marker is out. It stays in the task's process group, as the
	// command does, so that a SIGKILL of the step's tasks reaches it and them too.
	if r.pdeathsig {
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	}
	cmd.Cancel = func() error {
		forwardToTree(cmd.Process.Pid, syscall.SIGTERM)
		return nil
	}
	cmd.WaitDelay = r.killGrace

	err = cmd.Run()
	if cmd.ProcessState == nil {
		if ctx.Err() != nil {
			// Interrupted before bash started; the node has no install all the same.
			return interruptCode(ctx), r.interrupted(ctx, "before the install started")
		}
		return exitNotFound, err
	}
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	switch {
	case !ok:
		code := cmd.ProcessState.ExitCode()
		if code <= 0 && err != nil {
			code = exitFailure
		}
		return code, nil
	case ws.Signaled():
		code := verdict.Signal(ws.Signal())
		if ctx.Err() != nil {
			return code, r.interrupted(ctx, "during install")
		}
		return code, fmt.Errorf("killed by %v", ws.Signal())
	case ws.ExitStatus() == 0 && ctx.Err() != nil:
		// The install finished just as the task was interrupted; its result stands for the node.
		return 0, nil
	default:
		return ws.ExitStatus(), nil
	}
}

// waitInstall waits for the node's installer to publish ok or failed.
func (r *runner) waitInstall(ctx context.Context, files coord.InstallFiles) error {
	r.logf("install on %s: waiting for the installer (%s, lock %s), up to %s", r.id.node, holder(files.Lock), files.Lock, r.opts.InstallTimeout)
	// Two files per poll: the node's ok file, and the flag that any node's install failed, which a
	// failure of this node's install writes too.
	check := func(elapsed time.Duration) (bool, error) {
		if exists(files.OK) {
			r.logf("install on %s: done by another task; waited %s", r.id.node, elapsed.Round(time.Millisecond))
			return true, nil
		}
		if exists(r.dir().AnyInstallFailed()) {
			if exists(files.Failed) {
				code := coord.ReadExitCode(files.Failed)
				return false, &failure{code: code, err: fmt.Errorf("install on %s failed with exit code %d (by another task); not waiting (installer: %s)", r.id.node, code, holder(files.Lock))}
			}
			if r.opts.Barrier {
				// Another node's failed install means the barrier can never complete; leave now
				// rather than finishing this install only to wait there.
				failed, err := r.failedInstalls()
				if err != nil {
					return false, fmt.Errorf("install on %s: %w", r.id.node, err)
				}
				if len(failed) > 0 {
					return false, fail(failed[0].Code, "install failed on %s; not waiting for the install on %s, the barrier cannot complete", describeFailed(failed), r.id.node)
				}
			}
		}
		if elapsed >= r.opts.InstallTimeout {
			// Re-read the holder: the lock may have been empty when the wait began.
			return false, fail(exitWaited, "install on %s did not finish within %s; gave up waiting for %s, whose lock %s has no ok or failed marker (did the installer die?)",
				r.id.node, r.opts.InstallTimeout, holder(files.Lock), files.Lock)
		}
		return false, nil
	}
	progress := func(elapsed time.Duration) {
		r.logf("install on %s: still waiting for %s after %s of %s", r.id.node, holder(files.Lock), elapsed, r.opts.InstallTimeout)
	}
	return r.wait(ctx, "while waiting for the install on "+r.id.node, check, progress)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
