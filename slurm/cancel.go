package slurm

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// CancelStep runs `scancel --ctld --signal=NAME JOB.STEP`, or `scancel JOB.STEP` when signal is 0,
// which cancels the step outright. scancel is the command's path. The supervisor stops steps this way
// rather than by signalling srun, because srun answers SIGTERM by killing its tasks at once, while a
// signal sent through Slurm reaches every task, on every node, and leaves them their grace period.
// --ctld routes the signal through slurmctld: without it scancel (22.05) signals the nodes itself and,
// in a job of several nodes, reports "Invalid job id specified" (exit 225) even though the signal was
// delivered, so the error could not be told from a real one.
// The error holds the command line and what scancel printed, e.g. "Job/step already completing"
// when Slurm is already ending the job.
func CancelStep(ctx context.Context, scancel, jobID, stepID string, signal syscall.Signal) error {
	args := cancelStepArgs(jobID, stepID, signal)
	out, err := exec.CommandContext(ctx, scancel, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", scancel, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// cancelStepArgs are scancel's arguments for CancelStep, without the program.
func cancelStepArgs(jobID, stepID string, signal syscall.Signal) []string {
	step := jobID + "." + stepID
	if signal == 0 {
		return []string{step}
	}
	return []string{"--ctld", "--signal=" + signalName(signal), step}
}

// signalName is the name scancel --signal takes for sig (TERM, USR1: without "SIG"); scancel takes
// a number too, which is what a signal without a name gets.
func signalName(sig syscall.Signal) string {
	if name := unix.SignalName(sig); name != "" {
		return strings.TrimPrefix(name, "SIG")
	}
	return strconv.Itoa(int(sig))
}

// stepCancelledLine is slurmstepd's notice that a step was cancelled, as it writes it into the
// step's output (see FormatStepCancelled).
var stepCancelledLine = regexp.MustCompile(`\*\*\* STEP \S+ ON \S+ CANCELLED AT \S+[^*\n]*\*\*\*`)

// StepCancelledLine returns the first notice of a step's cancellation by slurmstepd in text, from
// its first "***" to its last, e.g. "*** STEP 165.1 ON node2 CANCELLED AT 2026-11-25T20:01:02 DUE
// TO JOB REQUEUE ***", or "" when there is none. slurmstepd writes it when Slurm ends the step
// (scancel, requeue, time limit, --kill-on-bad-exit), so a step whose log holds it did not end on
// its own; " DUE TO " and a reason follow the time when Slurm ends the whole job.
func StepCancelledLine(text string) string {
	return stepCancelledLine.FindString(text)
}

// FormatStepCancelled is the line slurmstepd writes into a step's output when it cancels step
// (JOB.STEP) on node at the given time, without the newline. When Slurm ends the whole job it adds
// " DUE TO ..." before the closing "***"; that form is not written here.
func FormatStepCancelled(step, node string, at time.Time) string {
	return fmt.Sprintf("slurmstepd-%s: error: *** STEP %s ON %s CANCELLED AT %s ***",
		node, step, node, at.Format("2006-01-02T15:04:05"))
}
