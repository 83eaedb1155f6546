package slurm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Call names, the keys of Client.Calls: one per command and subcommand the supervisor runs, so that
// a record says which of them a run leaned on.
const (
	CallShowConfig = "scontrol show config"
	CallShowJob    = "scontrol show job"
	CallSinfo      = "sinfo"
	CallSqueue     = "squeue"
	CallScancel    = "scancel"          // cancels steps outright
	CallSignal     = "scancel --signal" // signals steps through slurmctld (--ctld)
)

// Default retry backoff: the first pause after a busy or rate-limited answer, doubled after each
// further one up to the maximum. Slurm's rate limiter refills about 2 RPCs a second per user by
// default, so pauses of a fraction of a second to 2 s let it refill without waiting long.
const (
	DefaultRetryBase = 250 * time.Millisecond
	DefaultRetryMax  = 2 * time.Second
)

// ErrNoCommand is the error of a call whose Slurm command was not found when the Client was made.
var ErrNoCommand = errors.New("command not installed")

// Client is the one way the supervisor runs Slurm's commands (scontrol, sinfo, squeue, scancel): it
// counts every command it runs, retries those the controller did not answer (busy, down, rate
// limited; see transientMessages) until the caller's context ends, lets concurrent questions about a
// job share one scontrol, and sends the step signals asked for at the same moment in one scancel.
// Sites that rate-limit RPCs per user count every one of these commands; a burst at a failure would
// otherwise be throttled exactly when the answers matter.
//
// Make one with LookPath (or set the paths), share it by pointer; it is safe for concurrent use. Its
// exported fields are read-only once it is in use.
type Client struct {
	// Paths of the commands; empty when missing, in which case the calls needing it fail with
	// ErrNoCommand.
	Scontrol, Sinfo, Squeue, Scancel string
	// RetryBase and RetryMax are the backoff between attempts; zero means the defaults.
	RetryBase, RetryMax time.Duration
	// BatchWindow is how long a step signal waits for others to join it in one scancel; zero means
	// defaultBatchWindow, negative none.
	BatchWindow time.Duration

	mu      sync.Mutex
	calls   map[string]int
	retries map[string]int
	// jobQueries are the `scontrol show job` calls under way, by job id, which later askers join.
	jobQueries map[string]*jobQuery
	// cancels are the step signals waiting for, or being sent by, one scancel, by job and signal.
	cancels map[cancelKey]*cancelQueue
}

// LookPath makes a Client with the Slurm commands found on PATH.
func LookPath() *Client {
	find := func(name string) string {
		path, _ := exec.LookPath(name)
		return path
	}
	return &Client{Scontrol: find("scontrol"), Sinfo: find("sinfo"), Squeue: find("squeue"), Scancel: find("scancel")}
}

// Calls returns how many times each command ran (retries included), by call name (CallShowJob, ...);
// nil before the first.
func (c *Client) Calls() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.calls)
}

// Retries returns how many of Calls were retries after a busy or rate-limited answer; nil when none.
func (c *Client) Retries() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.retries)
}

func (c *Client) count(call string, retry bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[call]++
	if retry {
		if c.retries == nil {
			c.retries = map[string]int{}
		}
		c.retries[call]++
	}
}

// transientMessages are how Slurm's commands (22.05, slurm_errno.c) say that the controller did not
// answer or refused to for now; the same call may well succeed a moment later. Any other failure is
// an answer and is never retried. This is the one list: a new wording is added here.
var transientMessages = []string{
	// SLURM_PROTOCOL_SOCKET_IMPL_TIMEOUT: no reply within MessageTimeout, the usual sign of a busy
	// slurmctld. The request may have been carried out (see maybeDone).
	"Socket timed out on send/recv operation",
	// SLURMCTLD_COMMUNICATIONS_{CONNECTION,SEND,RECEIVE,SHUTDOWN}_ERROR, e.g. "Unable to contact slurm
	// controller (connect failure)": slurmctld down, restarting or with a full listen queue.
	"Unable to contact slurm controller",
	// SLURMCTLD_COMMUNICATIONS_BACKOFF, the answer of slurmctld's RPC rate limiter (SlurmctldParameters=
	// rl_enable, 22.05 on). The client library sleeps and retries it itself; should it give the error
	// back, the command prints this.
	"Rate limit exceeded",
	// EAGAIN, e.g. "slurm_load_jobs error: Resource temporarily unavailable" when slurmctld sheds load.
	"Resource temporarily unavailable",
	// SLURM_PROTOCOL_SOCKET_ZERO_BYTES_SENT and the generic message errors: the connection broke.
	"Zero Bytes were transmitted or received",
	"Communication connection failure",
	"Message send failure",
	"Message receive failure",
	// A controller fail-over under way (ESLURM_IN_STANDBY_MODE, ESLURM_IN_STANDBY_USE_BACKUP).
	"backup controller in standby mode",
	"Controller is in standby mode",
}

// maybeDoneMessages are the transient messages after which the request may have reached slurmctld
// and been carried out, only its reply lost: a step signal is then not sent again, since its tasks
// would get it twice.
var maybeDoneMessages = []string{
	"Socket timed out on send/recv operation",
	"(receive failure)",
	"Zero Bytes were transmitted or received",
	"Message receive failure",
}

// definitiveMessages are Slurm's answers: a call that gets one is never retried, whatever else it
// printed.
var definitiveMessages = []string{
	invalidJobID,
	"Job/step already completing or completed",
	"Access/permission denied",
	"Invalid user id",
	"Invalid node name specified",
	"Job is pending execution",
}

// invalidJobID is Slurm's answer about a job or step it does not know (any more), and
// alreadyCompleting the one about a job or step it is ending.
const (
	invalidJobID      = "Invalid job id specified"
	alreadyCompleting = "already completing"
)

// RefusedAsEnding reports whether text (a failed request's message) is Slurm's refusal because the
// job or step is already ending or gone: expected while Slurm ends the job, which reaches the steps
// by other means.
func RefusedAsEnding(text string) bool {
	return strings.Contains(text, invalidJobID) || strings.Contains(text, alreadyCompleting)
}

// retryable reports whether a failed call that printed text may be made again: the controller did
// not answer (transientMessages) and said nothing definitive. signal marks a step signal, which is
// not sent again after a reply that was lost rather than refused.
func retryable(text string, signal bool) bool {
	if !containsAny(text, transientMessages) || containsAny(text, definitiveMessages) {
		return false
	}
	return !signal || !containsAny(text, maybeDoneMessages)
}

func containsAny(text string, list []string) bool {
	for _, s := range list {
		if strings.Contains(text, s) {
			return true
		}
	}
	return false
}

// result is one run of a command: its stdout, and what it said on stderr.
type result struct {
	stdout, stderr string
	err            error
}

// exec runs path with args once, counted as call.
func (c *Client) exec(ctx context.Context, call string, retry bool, path string, args []string) result {
	c.count(call, retry)
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return result{stdout: stdout.String(), stderr: strings.TrimSpace(stderr.String()), err: err}
}

// query runs a command that only asks (scontrol show, sinfo, squeue) and returns its stdout, retrying
// while the controller does not answer, until ctx ends. The error holds the command line and what the
// last attempt printed on stderr; when ctx ends in the middle of a retry, the attempt it cut short
// printed nothing worth keeping, and the error holds the answer of the one before it.
func (c *Client) query(ctx context.Context, call, path string, args ...string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("%s: %w", call, ErrNoCommand)
	}
	var last result
	for attempt := 0; ; attempt++ {
		res := c.exec(ctx, call, attempt > 0, path, args)
		if res.err == nil {
			return res.stdout, nil
		}
		if ctx.Err() != nil && attempt > 0 {
			last.err = fmt.Errorf("%w after %d attempts, the last answered with %w", ctx.Err(), attempt, last.err)
			break
		}
		last = res
		if ctx.Err() != nil || !retryable(res.stderr+"\n"+res.stdout, false) || !c.pause(ctx, attempt) {
			break
		}
	}
	msg := fmt.Errorf("%s %s: %w", path, strings.Join(args, " "), last.err)
	if last.stderr != "" {
		msg = fmt.Errorf("%w: %s", msg, last.stderr)
	}
	return "", msg
}

// pause waits before attempt+1; false when ctx ends first.
func (c *Client) pause(ctx context.Context, attempt int) bool {
	delay := cmpOr(c.RetryBase, DefaultRetryBase)
	for range attempt {
		delay *= 2
	}
	delay = min(delay, cmpOr(c.RetryMax, DefaultRetryMax))
	timer := time.NewTimer(delay)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// KillWait asks the cluster (scontrol show config) how long Slurm waits between the SIGTERM of a
// cancellation, requeue or time limit and the SIGKILL that ends the job. The supervisor must finish
// its teardown and its record inside that time.
func (c *Client) KillWait(ctx context.Context) (time.Duration, error) {
	out, err := c.query(ctx, CallShowConfig, c.Scontrol, "show", "config")
	if err != nil {
		return 0, err
	}
	return ParseKillWait(out)
}

// jobQuery is one `scontrol show job` under way; done is closed once status and err are set.
type jobQuery struct {
	done   chan struct{}
	status JobStatus
	err    error
}

// JobState asks the controller for a job's state and reason (scontrol show job). A call made while
// another for the same job is under way waits for that one's answer instead of asking again: every
// step that ends in a burst asks the same question. The shared call is bounded by the context of the
// caller that started it; a joiner still returns when its own ctx ends.
func (c *Client) JobState(ctx context.Context, jobID string) (JobStatus, error) {
	c.mu.Lock()
	if q := c.jobQueries[jobID]; q != nil {
		c.mu.Unlock()
		select {
		case <-q.done:
			return q.status, q.err
		case <-ctx.Done():
			return JobStatus{}, fmt.Errorf("scontrol show job %s: %w", jobID, ctx.Err())
		}
	}
	q := &jobQuery{done: make(chan struct{})}
	if c.jobQueries == nil {
		c.jobQueries = map[string]*jobQuery{}
	}
	c.jobQueries[jobID] = q
	c.mu.Unlock()

	out, err := c.query(ctx, CallShowJob, c.Scontrol, "show", "job", "--oneliner", jobID)
	if err == nil {
		q.status, err = ParseJobState(out)
	}
	q.err = err
	c.mu.Lock()
	delete(c.jobQueries, jobID)
	c.mu.Unlock()
	close(q.done)
	return q.status, q.err
}

// NodeStates asks the controller for the state of each of nodes (sinfo), e.g. "allocated", "down*",
// "idle*" (a trailing * means the node does not respond).
func (c *Client) NodeStates(ctx context.Context, nodes []string) (map[string]string, error) {
	out, err := c.query(ctx, CallSinfo, c.Sinfo, "-h", "-N", "-n", CompressHostlist(nodes), "-o", "%N %T")
	if err != nil {
		return nil, err
	}
	return ParseNodeStates(out), nil
}

// JobEndTime asks Slurm for the job's end time: `squeue -h -j JOB -o %e`.
func (c *Client) JobEndTime(ctx context.Context, jobID string) (time.Time, error) {
	out, err := c.query(ctx, CallSqueue, c.Squeue, "-h", "-j", jobID, "-o", "%e")
	if err != nil {
		return time.Time{}, err
	}
	return ParseSqueueTime(out, time.Local)
}
