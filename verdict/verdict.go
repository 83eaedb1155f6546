// Package verdict owns the contract a run hands to CI: the exit codes of the supervisor's own verdicts
// (a band, 80-89, that no test harness uses), the failure classes, the signal codes (128+S) and the
// shell's codes the task runner reports (124, 127). Every package that ends a process or a run with
// one of these codes, or reads one, takes it from here; only package toy, which plays the test's own
// programs and so depends on nothing of the supervisor, states its own.
package verdict

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The supervisor's own verdicts. A role whose failure is the root cause passes its own code through
// (the test's code, 137, 139, ...); a signal gives 128+S. Everything the supervisor decides by itself
// is in 80-89, apart from pytest's 1-5 and from the shell's 126-165.
const (
	ExitOK = 0
	// ExitInternal: the supervisor could not do its job (workspace not writable, srun not found, ...).
	ExitInternal = 80
	// ExitBadInput: an input is wrong; nothing was launched. Also kong's usage errors.
	ExitBadInput = 81
	// ExitPreflight: a pre-flight step (precheck instance, --preflight check) failed, hung or was killed.
	ExitPreflight = 82
	// ExitNotReady: a role never became ready (readiness probe, the task runner's barrier).
	ExitNotReady = 83
	// ExitEarlyExit: a server ended with status 0 before the benchmark announced its end.
	ExitEarlyExit = 84
	// ExitHung: a role was unhealthy or hung (liveness check, stalled logs, benchmark timeout).
	ExitHung = 85
	// ExitInvalid: the benchmark ended with 0 but its result is not valid (a --result-require or
	// --result-reject rule, or a status file saying it failed).
	ExitInvalid = 86
	// ExitInfrastructure: the cluster failed (a node, a step launch, a GPU, the file system): retry as
	// a fresh job, avoiding the run's bad nodes.
	ExitInfrastructure = 87
	// ExitStatusRunning and ExitStatusGone are `status`'s answers about a run that has not decided:
	// its supervisor is still at work, or it is gone (killed before it decided).
	ExitStatusRunning = 88
	ExitStatusGone    = 89
)

// The shell's codes for a command that did not run its course, which the task runner reports as a
// shell or timeout(1) would, so that a role's log reads the same with or without it.
const (
	// ExitTimedOut: a command was stopped when it ran out of its time, as timeout(1) reports it.
	ExitTimedOut = 124
	// ExitNotFound: a command (bash, a setup file) could not be found or started, as a shell reports it.
	ExitNotFound = 127
)

// signalBase is what a shell adds to the number of the signal that ended a process for its exit code.
const signalBase = 128

// InBand reports whether code is one of the supervisor's own verdicts.
func InBand(code int) bool { return code >= 80 && code <= 89 }

// Class is what kind of failure ended a run: what CI should do about it.
type Class string

// The failure classes. Only ClassInfrastructure is worth retrying as a fresh job as it is.
const (
	// ClassTest: a role's own failure, or the benchmark's verdict.
	ClassTest Class = "test"
	// ClassInfrastructure: the cluster failed (node, step launch, GPU hardware, no space left).
	ClassInfrastructure Class = "infrastructure"
	// ClassHang: a role never became ready, was unhealthy, or hung.
	ClassHang Class = "hang"
	// ClassSetup: bad input, the install, the task runner's setup, the supervisor's own environment.
	ClassSetup Class = "setup"
	// ClassCancelled: scancel, the time limit, preemption, a requeue, or a signal to the supervisor.
	ClassCancelled Class = "cancelled"
	// ClassInvalid: the benchmark passed but its result does not hold.
	ClassInvalid Class = "invalid"
)

// IsFailure reports whether a JUnit case of this class is a <failure> (the test's own result) rather
// than an <error> (the job could not produce a result).
func (c Class) IsFailure() bool { return c == ClassTest || c == ClassInvalid }

// Origin says whose code a failure's exit code is: a role's own, or the supervisor's verdict.
type Origin string

// The origins of an exit code.
const (
	OriginRole       Origin = "role"
	OriginSupervisor Origin = "supervisor"
)

// ClassOf is the class of a supervisor verdict code, or of a role's own code (test).
func ClassOf(code int) Class {
	switch code {
	case ExitInternal, ExitBadInput, ExitPreflight:
		return ClassSetup
	case ExitNotReady, ExitHung:
		return ClassHang
	case ExitInvalid:
		return ClassInvalid
	case ExitInfrastructure:
		return ClassInfrastructure
	}
	return ClassTest
}

// DuplicateSignalWindow is how soon the same signal again counts as the same delivery rather than a
// second signal, for the supervisor (where a second signal skips the grace period) and for a task
// (where it skips the after commands and the wait for the step's other ranks). Slurm can deliver one
// cancellation's SIGTERM twice within milliseconds, and one `scancel --signal=TERM` of a step can
// reach a task twice (seen on the dev cluster); a person or a later stage of Slurm's own sequence
// signals again well after this.
const DuplicateSignalWindow = 500 * time.Millisecond

// ParseSignal reads a signal as sbatch --signal and scancel --signal write it: USR1, SIGUSR1 or a
// number.
func ParseSignal(name string) (syscall.Signal, error) {
	if sig := unix.SignalNum("SIG" + strings.TrimPrefix(strings.ToUpper(name), "SIG")); sig != 0 {
		return sig, nil
	}
	if num, err := strconv.Atoi(name); err == nil && num > 0 && num < 65 {
		return syscall.Signal(num), nil
	}
	return 0, fmt.Errorf("%q is not a signal name like USR1", name)
}

// Signal is the exit code of a process ended by sig, as a shell reports it: 128+S. Every 128+S of
// the program (a task's command, srun's status of a task, the fake srun's status) is computed here.
// A signal that is not a syscall.Signal counts as SIGTERM.
func Signal(sig os.Signal) int {
	s, ok := sig.(syscall.Signal)
	if !ok {
		s = syscall.SIGTERM
	}
	return signalBase + int(s)
}
