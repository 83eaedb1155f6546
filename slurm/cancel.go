package slurm

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// defaultBatchWindow is how long the first step signal of a burst waits for the others: the
// supervisor's teardown asks for every step's stop at the same instant, from as many goroutines.
const defaultBatchWindow = 5 * time.Millisecond

// cancelKey groups step signals that one scancel can send: same job, same signal.
type cancelKey struct {
	jobID  string
	signal syscall.Signal
}

// cancelQueue is the scancel calls of one cancelKey: at most one is being sent, while the next batch
// gathers the steps asked for meanwhile.
type cancelQueue struct {
	next    *cancelBatch
	sending bool
}

// cancelBatch is the steps one scancel call signals; done is closed once errs is set.
type cancelBatch struct {
	// ctx is the context of the call that opened the batch, which bounds the scancel.
	ctx   context.Context
	steps []string
	errs  map[string]error
	done  chan struct{}
}

// CancelStep sends signal to step stepID of job jobID through Slurm: `scancel --ctld --signal=NAME
// JOB.STEP`, or `scancel JOB.STEP` when signal is 0, which cancels the step outright. The supervisor
// stops steps this way rather than by signalling srun, because srun answers SIGTERM by killing its
// tasks at once, while a signal sent through Slurm reaches every task, on every node, and leaves them
// their grace period. --ctld routes the signal through slurmctld: without it scancel (22.05) signals
// the nodes itself and, in a job of several nodes, reports "Invalid job id specified" (exit 225) even
// though the signal was delivered, so the error could not be told from a real one.
//
// Steps asked for at about the same moment with the same signal go in one scancel (`scancel --ctld
// --signal=TERM JOB.S1 JOB.S2 ...`, which scancel takes): one process and one load of the job
// records instead of one per step. Each caller gets its own step's error only: scancel names the step
// in what it prints for it ("Kill job error on job step id JOB.S: ..."). A step the controller did not
// answer for is sent again (see retryable) while the context of the call that opened the batch lasts.
//
// The error holds the command line and what scancel printed about the step, e.g. "Job/step already
// completing" when Slurm is already ending the job.
func (c *Client) CancelStep(ctx context.Context, jobID, stepID string, signal syscall.Signal) error {
	if c.Scancel == "" {
		return fmt.Errorf("scancel: %w", ErrNoCommand)
	}
	key := cancelKey{jobID: jobID, signal: signal}
	c.mu.Lock()
	if c.cancels == nil {
		c.cancels = map[cancelKey]*cancelQueue{}
	}
	q := c.cancels[key]
	if q == nil {
		q = &cancelQueue{}
		c.cancels[key] = q
	}
	if q.next == nil {
		q.next = &cancelBatch{ctx: ctx, done: make(chan struct{})}
	}
	b := q.next
	if !slices.Contains(b.steps, stepID) {
		b.steps = append(b.steps, stepID)
	}
	if !q.sending {
		q.sending = true
		go c.sendCancels(key, q)
	}
	c.mu.Unlock()
	select {
	case <-b.done:
		return b.errs[stepID]
	case <-ctx.Done():
		return fmt.Errorf("%s %s: %w", c.Scancel, strings.Join(cancelStepsArgs(jobID, []string{stepID}, signal), " "), ctx.Err())
	}
}

// sendCancels sends q's batches one scancel at a time until none is left. It first waits the batch
// window, so that the steps of one burst go together.
func (c *Client) sendCancels(key cancelKey, q *cancelQueue) {
	window := c.BatchWindow
	if window == 0 {
		window = defaultBatchWindow
	}
	if window > 0 {
		time.Sleep(window)
	}
	for {
		c.mu.Lock()
		b := q.next
		if b == nil {
			q.sending = false
			delete(c.cancels, key)
			c.mu.Unlock()
			return
		}
		q.next = nil
		c.mu.Unlock()
		b.errs = c.cancelSteps(b.ctx, key.jobID, b.steps, key.signal)
		close(b.done)
	}
}

// cancelSteps runs scancel for steps, again for those the controller did not answer for, and returns
// the error of each step that failed.
func (c *Client) cancelSteps(ctx context.Context, jobID string, steps []string, signal syscall.Signal) map[string]error {
	call := CallScancel
	if signal != 0 {
		call = CallSignal
	}
	errs := map[string]error{}
	pending := steps
	for attempt := 0; ; attempt++ {
		args := cancelStepsArgs(jobID, pending, signal)
		res := c.exec(ctx, call, attempt > 0, c.Scancel, args)
		said := stepMessages(jobID, pending, res.stderr+"\n"+res.stdout, res.err != nil)
		var again []string
		for _, step := range pending {
			text, failed := said[step]
			if !failed {
				delete(errs, step)
				continue
			}
			err := fmt.Errorf("%s %s: %w", c.Scancel, strings.Join(args, " "), res.err)
			if text != "" {
				err = fmt.Errorf("%w: %s", err, text)
			}
			errs[step] = err
			if retryable(text, signal != 0) {
				again = append(again, step)
			}
		}
		if len(again) == 0 || ctx.Err() != nil || !c.pause(ctx, attempt) {
			return errs
		}
		pending = again
	}
}

// stepMessages attributes what a failed scancel printed to the steps it was given: a line naming a
// step (JOB.STEP) is that step's, a line naming none is every step's. A step that has no line while
// others do was signalled; when scancel named no step at all, every step failed. The result holds
// the failed steps only; nothing failed when failed is false.
func stepMessages(jobID string, steps []string, text string, failed bool) map[string]string {
	if !failed {
		return nil
	}
	lines := map[string][]string{}
	var general []string
	named := false
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		mine := false
		for _, step := range steps {
			if namesStep(line, jobID+"."+step) {
				lines[step] = append(lines[step], line)
				mine, named = true, true
			}
		}
		if !mine {
			general = append(general, line)
		}
	}
	out := map[string]string{}
	for _, step := range steps {
		if named && len(lines[step]) == 0 && len(general) == 0 {
			continue
		}
		out[step] = strings.Join(append(slices.Clone(general), lines[step]...), "; ")
	}
	return out
}

// namesStep reports whether line holds the step id id (JOB.STEP) as a whole word: 12.3 is not
// named by 12.30 or 112.3.
func namesStep(line, id string) bool {
	for i := 0; ; {
		j := strings.Index(line[i:], id)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(id)
		if (start == 0 || !isDigitOrDot(line[start-1])) && (end == len(line) || line[end] < '0' || line[end] > '9') {
			return true
		}
		i = start + 1
	}
}

func isDigitOrDot(b byte) bool { return b == '.' || (b >= '0' && b <= '9') }

// cancelStepsArgs are scancel's arguments for steps of job jobID, without the program.
func cancelStepsArgs(jobID string, steps []string, signal syscall.Signal) []string {
	var args []string
	if signal != 0 {
		args = []string{"--ctld", "--signal=" + signalName(signal)}
	}
	for _, step := range steps {
		args = append(args, jobID+"."+step)
	}
	return args
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

// cancelReason is what follows the time in slurmstepd's CANCELLED line when Slurm ends the whole job.
const cancelReason = " DUE TO "

// CancelHasReason reports whether a CANCELLED line (StepCancelledLine) gives Slurm's reason, " DUE TO
// TIME LIMIT" and the like: Slurm ended the whole job, so the cancellation surely came from outside
// the job, never from --kill-on-bad-exit.
func CancelHasReason(line string) bool {
	return strings.Contains(line, cancelReason)
}

// FormatStepCancelled is the line slurmstepd writes into a step's output when it cancels step
// (JOB.STEP) on node at the given time, without the newline. When Slurm ends the whole job it adds
// " DUE TO ..." before the closing "***"; that form is not written here.
func FormatStepCancelled(step, node string, at time.Time) string {
	return fmt.Sprintf("slurmstepd-%s: error: *** STEP %s ON %s CANCELLED AT %s ***",
		node, step, node, at.Format("2006-01-02T15:04:05"))
}
