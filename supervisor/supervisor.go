// Package supervisor runs a plan: it launches one srun step per role, watches them, tears everything
// down on the first failure, and writes the story of the run (event log, summary, JUnit).
package supervisor

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-multierror"
	"golang.org/x/sync/errgroup"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
	"github.com/disagg-supervisor/disagg-supervisor/logscan"
	"github.com/disagg-supervisor/disagg-supervisor/mode"
	"github.com/disagg-supervisor/disagg-supervisor/redact"
	"github.com/disagg-supervisor/disagg-supervisor/roles"
	"github.com/disagg-supervisor/disagg-supervisor/slurm"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

// Files the run writes under the workspace.
const (
	EventsFile  = "supervisor.events.jsonl"
	SummaryFile = "summary.json"
	// JUnitFile matches the results*.xml pattern CI collects from the workspace.
	JUnitFile = "results-disagg-supervisor.xml"
)

// Config is what a run needs besides the plan.
type Config struct {
	Plan roles.Plan
	// Launcher replaces argv[0] ("srun") of every step: {"srun"} on a cluster, the supervisor's own
	// binary and "srun" in local mode.
	Launcher []string
	// Env is the environment every step starts from; each role's own variables are set on top.
	Env []string
	// Executable is the supervisor's own binary, copied to Plan.TaskBinary so `task` can run inside
	// every step; empty skips the copy.
	Executable string
	// Grace is how long stopped steps get between SIGTERM and SIGKILL.
	Grace time.Duration
	// LaunchGate is whether launches of steps that share a node are serialised; auto does it only
	// when the user's srun arguments use containers (pyxis). LaunchGateTimeout bounds each wait.
	LaunchGate        mode.Mode
	LaunchGateTimeout time.Duration
	// DrainSignal is the pre-timeout signal (sbatch --signal=B:USR1@N): a graceful stop like SIGTERM.
	DrainSignal syscall.Signal
	// Signals are the signals the run answers to: SIGTERM, SIGINT and SIGHUP stop it, the drain
	// signal drains it, SIGQUIT dumps the supervisor's stacks. NotifySignals catches them for a
	// process; tests inject them. Run installs no handler of its own: nil means none reach the run,
	// and only ctx's end stops it (as SIGTERM would).
	Signals <-chan os.Signal
	// Console receives one readable line per event and the final report; nil discards them.
	Console io.Writer
	// TailLines is how many lines of the failing role's log the report shows.
	TailLines int
	// Slurm, when set (on a real cluster), runs the run's Slurm commands and counts them (summary.json
	// slurm_calls). Its scancel is how steps are stopped: srun answers SIGTERM by killing its tasks
	// outright, and a SIGKILLed srun leaves its step running, so the supervisor signals the step itself
	// (`scancel --ctld --signal=TERM JOB.STEP`, later `scancel JOB.STEP`). Nil, or no scancel (local
	// mode): the fake srun's process group is signalled. JobState and NodeStates are set from it by
	// the caller.
	Slurm *slurm.Client
	// KillWait is the cluster's KillWait: once Slurm has sent the job SIGTERM (scancel, requeue, time
	// limit) it SIGKILLs everything that long after. The teardown of such a run is fitted inside it,
	// whatever Grace says. Zero (local mode, or unknown) bounds nothing.
	KillWait time.Duration
	// JobState, when set (on a cluster), asks Slurm for the job's state (RUNNING, COMPLETING,
	// CANCELLED, ...). A step that ends unexpectedly is not blamed before Slurm has been asked whether
	// it is ending the job.
	JobState func(context.Context) (slurm.JobStatus, error)
	// NodeStates, when set (on a cluster), asks Slurm for the state of nodes (sinfo): a run that a
	// node failure ends names the nodes that are down.
	NodeStates func(ctx context.Context, nodes []string) (map[string]string, error)
	// CancelHold is how long such a step's end waits for a verdict (the job's state, the
	// supervisor's own signal) before it counts as the role's failure; zero means DefaultCancelHold.
	CancelHold time.Duration
	// EndMarkers are glob patterns of the files by which the benchmark announces its end (the
	// harness's benchmark_status.<idx>.txt). A server step that ends with status 0 once a regular
	// file matches has finished, as the harness's servers do; before, it is an early exit. Files that
	// match when the run starts are an earlier attempt's and are moved into the attempt's stale
	// directory (see moveStale).
	EndMarkers []string
	// ServerConfigs is how many server configurations the job runs one after another (benchmark
	// markers 0 to N-1; see configs.go); 0 takes the plan's (the config's server_configs), else
	// unknown: each marker then starts the next configuration until the steps end.
	ServerConfigs int
	// JUnitPath is where the supervisor's JUnit verdict goes; empty means JUnitFile in the workspace
	// (CI collects $jobWorkspace/results*.xml).
	JUnitPath string
	// BenchmarkOutput, when set, receives the BENCHMARK step's output as it is written to its log, as
	// today's launcher shows it in the job's output file; in an aggregated test, the SERVER's (unless
	// gen-only sends it to gen_server_0.log only), with secrets masked.
	BenchmarkOutput io.Writer
	// ErrorLines finds the first error-shaped lines of a failed role's log for the root cause; nil
	// means logscan's default patterns.
	ErrorLines *logscan.Matcher
	// HangSettings find hangs and sick servers: stalls, the benchmark's deadline, the dump signal.
	HangSettings
	// RefuseRequeue ends a requeued attempt (the plan's RestartCount > 0) at once, before any step,
	// as an infrastructure failure: CI that submits with --no-requeue retries as a fresh job itself.
	RefuseRequeue bool
	// ResultRules are matched against the benchmark's output when it ends with 0: a broken rule makes
	// its result invalid (exit 86).
	ResultRules []ResultRule

	// The seams of the run loop's own tests (package supervisor); nil means the real thing. With a
	// fake clock, launcher and probe the loop's decisions are tested without processes or waiting.
	clock     clock
	launcher  launcher
	waitProbe func(ctx context.Context, probe roles.Probe, logPath string, logStart int64) error
}

// firstErrorLines is how many error-shaped lines a root cause shows.
const firstErrorLines = 10

// DefaultCancelHold bounds how long an unexpected step end on a cluster waits for Slurm's word (the
// job's state, or the supervisor's own SIGTERM) before the role is blamed. The answer to `scontrol show
// job` normally settles it at once; the bound matters only when the controller is slow or unreachable,
// and stays well inside Slurm's KillWait so that a cancellation still leaves time for the teardown.
const DefaultCancelHold = 3 * time.Second

// duplicateSignalWindow is how soon the same signal again counts as the same delivery rather than a
// second signal (which skips the grace period): Slurm can deliver one cancellation's SIGTERM twice
// within milliseconds; a person or a later stage of Slurm's own sequence signals again well after this.
const duplicateSignalWindow = 500 * time.Millisecond

// killWaitMargin is kept free at the end of Slurm's KillWait for writing the record and exiting.
const killWaitMargin = time.Second

// Result is how a run ended. Its errors are in the summary (Summary.Errors) and on the console.
type Result struct {
	Code int
}

// message is something a watcher goroutine tells the run loop; only the loop changes run state. It
// is sealed, as suture's is: only the types below are messages, so handle's switch covers them all.
type message interface{ isMessage() }

type (
	stepExited struct {
		name   string
		status int
		signal string
	}
	stepRunning struct {
		name   string
		stepID string
	}
	probeDone struct {
		name string
		err  error
	}
	gateExpired   struct{ name string }
	teardownError struct{ err error }
	// jobStateKnown is Slurm's answer about the job while a step's end is held.
	jobStateKnown struct {
		status slurm.JobStatus
		err    error
	}
	// jobEndKnown is Slurm's answer, after the run was decided as interrupted, about why the job is
	// ending: a node failure makes it an infrastructure failure, anything else names who ended it.
	jobEndKnown struct {
		status slurm.JobStatus
		err    error
	}
)

func (stepExited) isMessage()    {}
func (stepRunning) isMessage()   {}
func (probeDone) isMessage()     {}
func (gateExpired) isMessage()   {}
func (teardownError) isMessage() {}
func (jobStateKnown) isMessage() {}
func (jobEndKnown) isMessage()   {}

// run is the state of one run; it is owned by the loop goroutine.
type run struct {
	cfg      Config
	plan     roles.Plan
	events   eventLog
	redactor *redact.Text
	start    time.Time
	steps    []*step
	byName   map[string]*step
	msgs     chan message
	group    *errgroup.Group
	groupCtx context.Context
	gating   bool
	// gateWaiting marks the roles whose launch-gate timer runs; gateOpen those whose timer expired.
	gateWaiting map[string]bool
	gateOpen    map[string]bool

	decided   bool
	decidedAt time.Time
	// state is RunRunning until the result is decided, then final.
	state   RunState
	code    int
	failure *Failure
	// slurmEnding is set when Slurm is ending the job: the teardown must fit in its KillWait, which
	// runs from slurmEndingAt.
	slurmEnding   bool
	slurmEndingAt time.Time
	// signalled counts the signals the supervisor got: only the second one cuts the grace period short.
	// lastSignal and lastSignalAt tell a second signal from the same one delivered twice.
	signalled    int
	lastSignal   os.Signal
	lastSignalAt time.Time
	errs         *multierror.Error
	// warnings are things worth a reader's attention that did not change the result.
	warnings []string
	// held is the first step whose end looked like a cancellation, waiting for Slurm's word;
	// holdTimer ends the wait.
	held           *step
	holdTimer      <-chan time.Time
	holdErr        error // the last failed query of the job's state during the hold
	teardownAt     time.Time
	endedAt        time.Time
	grace          time.Duration
	killTimer      <-chan time.Time
	giveUpTimer    <-chan time.Time
	ignoredSIGTERM []string
	summaryPath    string
	junitPath      string
	errorLines     *logscan.Matcher
	hang           hangState
	// nodes is the node watch's record of the nodes' heartbeats.
	nodes nodeWatch
	// badNodes are the nodes an infrastructure failure named (summary.json bad_nodes, BadNodesFile).
	badNodes []string
	// askingWhy is set while Slurm is asked why it ends the job (see askWhyEnding).
	askingWhy bool
	// measure is the measurement window, from the benchmark's launch.
	measure *Measurement
	// configs are the server configurations, phases of the benchmark (see configs.go).
	configs configTracker
	// eventsOut is the event log's file, its write errors kept; writeErrs the paths whose write
	// failed (each reported once).
	eventsOut *checkedWriter
	writeErrs map[string]bool
	claim     workspaceClaim
}

// Run carries out the plan and returns the run's exit code. It returns when every step it started has
// ended (or, as a last resort, a bounded time after SIGKILL).
func Run(ctx context.Context, cfg Config) Result {
	cfg = cfg.withDefaults()
	console := cfg.Console
	if console == nil {
		console = io.Discard
	}
	plan := cfg.Plan
	r := &run{
		cfg:         cfg,
		plan:        plan,
		start:       cfg.clock.Now(),
		state:       RunRunning,
		byName:      map[string]*step{},
		msgs:        make(chan message, 64),
		gateWaiting: map[string]bool{},
		gateOpen:    map[string]bool{},
		redactor:    redact.NewText(envWithRoles(cfg.Env, plan)),
	}
	r.errorLines = cfg.ErrorLines.WithRedactor(r.redactor.String)
	r.gating = cfg.LaunchGate.On(usesContainers(plan))

	if code, err := r.claimWorkspace(); err != nil {
		fmt.Fprintf(console, "disagg-supervisor: %v\n", err)
		return Result{Code: code}
	}
	defer r.claim.lock.release()
	if err := prepareDirs(plan); err != nil {
		fmt.Fprintf(console, "disagg-supervisor: %v\n", err)
		return Result{Code: verdict.ExitInternal}
	}
	eventsFile, err := os.OpenFile(filepath.Join(plan.Workspace, EventsFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintf(console, "disagg-supervisor: %v\n", err)
		return Result{Code: verdict.ExitInternal}
	}
	defer eventsFile.Close()
	r.eventsOut = &checkedWriter{w: eventsFile}
	r.events = newEventLog(r.eventsOut, console)
	r.summaryPath = filepath.Join(plan.Workspace, SummaryFile)
	r.junitPath = cfg.JUnitPath
	if r.junitPath == "" {
		r.junitPath = filepath.Join(plan.Workspace, JUnitFile)
	}

	groupCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.group, r.groupCtx = errgroup.WithContext(groupCtx)

	r.buildSteps()
	r.emit(Event{Name: EventPlan, Message: fmt.Sprintf("job %s, %d nodes, %d roles, run token %s",
		plan.JobID, len(plan.Nodes), len(plan.Roles), plan.RunToken)})
	r.prepareChecks()
	r.reportClaim()
	if cfg.RefuseRequeue && plan.RestartCount > 0 {
		r.decide(RunFailed, verdict.ExitInfrastructure, &Failure{Code: verdict.ExitInfrastructure,
			Class: verdict.ClassInfrastructure, Origin: verdict.OriginSupervisor,
			Reason:   fmt.Sprintf("this attempt is a requeue of job %s (restart %d) and --requeue refuse is set: nothing was launched; retry as a fresh job", plan.JobID, plan.RestartCount),
			Evidence: []string{fmt.Sprintf("%s: SLURM_RESTART_COUNT=%d", verdict.RuleRequeue, plan.RestartCount)}})
	} else if err := r.prepareTaskBinary(); err != nil && noSpace(err) {
		r.writeFailed(r.plan.TaskBinary, err)
	} else if err != nil {
		r.decide(RunFailed, verdict.ExitInternal, &Failure{Reason: err.Error(), Code: verdict.ExitInternal})
		r.errs = multierror.Append(r.errs, err)
	}

	// The caller owns the process's signals (NotifySignals); without them, ctx's end is the stop.
	r.loop(ctx, cfg.Signals)
	cancel()
	if r.giveUpTimer == nil || r.allReaped() {
		_ = r.group.Wait()
	}
	return r.finishRun()
}

// buildSteps turns the plan into steps, the install step first.
func (r *run) buildSteps() {
	add := func(s *step) {
		r.steps = append(r.steps, s)
		r.byName[s.name] = s
	}
	r.addChecks(add, r.plan.Preflight)
	if in := r.plan.Install; in != nil {
		// Without a task count in the job's environment srun runs one task per node.
		ntasks := cmp.Or(in.NTasks, len(r.plan.Nodes))
		add(&step{name: "INSTALL", kind: kindInstall, nodes: r.plan.Nodes, ntasks: ntasks,
			argv: in.Srun, env: map[string]string{}, log: in.Log})
	}
	r.addChecks(add, r.plan.Precheck)
	for _, role := range r.plan.Roles {
		add(&step{name: role.Name, kind: role.Kind, nodes: role.Nodes, ntasks: role.NTasks,
			argv: role.Srun, env: role.Env, log: role.Log, probe: role.Probe, liveness: role.Liveness})
	}
}

func (r *run) loop(ctx context.Context, signals <-chan os.Signal) {
	r.launchWhatIsDue()
	r.writeSummary()
	done := ctx.Done()
	beat := r.cfg.clock.After(HeartbeatPeriod)
	for !r.over() {
		select {
		case <-beat:
			// Nothing changed, but summary.json's updated_at, rewritten below, tells status that
			// the supervisor lives.
			beat = r.cfg.clock.After(HeartbeatPeriod)
		case msg := <-r.msgs:
			r.handle(msg)
			if quietMessage(msg) && !r.decided {
				// Up to a few looks a second at the logs (or the nodes' heartbeats) change nothing a reader of summary.json
				// sees (status works the ledger out itself); the workspace is often a shared file
				// system, where each rewrite costs.
				continue
			}
		case sig := <-signals:
			r.onSignal(sig)
		case <-done:
			done = nil
			r.onSignal(syscall.SIGTERM)
		case <-r.holdTimer:
			r.holdTimer = nil
			err := fmt.Errorf("no word from Slurm within %s", r.cfg.CancelHold)
			if r.holdErr != nil {
				err = fmt.Errorf("%w (last answer: %v)", err, r.holdErr)
			}
			r.resolveHold(slurm.JobStatus{}, err)
		case <-r.killTimer:
			r.killTimer = nil
			r.killAfterGrace()
		case <-r.giveUpTimer:
			for _, s := range r.steps {
				if s.alive() {
					s.abandoned = true
					_ = s.proc.abandon()
					r.errs = multierror.Append(r.errs, fmt.Errorf("role %s: step %d did not end after it was killed", s.name, s.pid()))
				}
			}
			return
		}
		r.writeSummary()
	}
}

// over reports whether the run has decided its result, every step has ended, and Slurm has answered
// (or failed to answer, within CancelHold) why it ends the job.
func (r *run) over() bool {
	return r.decided && r.allReaped() && !r.askingWhy
}

func (r *run) allReaped() bool {
	for _, s := range r.steps {
		if s.alive() {
			return false
		}
	}
	return true
}

func (r *run) handle(msg message) {
	now := r.cfg.clock.Now()
	switch m := msg.(type) {
	case stepExited:
		r.onExit(r.byName[m.name], m.status, m.signal, now)
	case stepRunning:
		s := r.byName[m.name]
		if s.running() || s.exited {
			return
		}
		s.runningAt = now
		s.stepID = m.stepID
		r.emit(Event{Name: EventRunning, Role: s.name, Nodes: slurm.CompressHostlist(s.nodes), PID: s.pid(),
			Duration: now.Sub(s.launchedAt), Message: fmt.Sprintf("all %d tasks started", s.ntasks)})
		r.launchWhatIsDue()
	case probeDone:
		s := r.byName[m.name]
		if r.decided || s.exited {
			return
		}
		if m.err != nil {
			r.emit(Event{Name: EventWarning, Role: s.name, Message: m.err.Error()})
			r.decide(RunFailed, verdict.ExitNotReady, r.failureOf(s, verdict.ExitNotReady, m.err.Error()+"; "+r.notReady(now)))
			return
		}
		s.readyAt = now
		r.emit(Event{Name: EventReady, Role: s.name, Nodes: slurm.CompressHostlist(s.nodes),
			Duration: now.Sub(s.launchedAt), Message: fmt.Sprintf("%s probe passed", s.probe.Type)})
		r.startLiveness(s)
		r.launchWhatIsDue()
	case teardownError:
		r.onTeardownError(m.err)
	case stopAnswered:
		r.onStopAnswered(m)
	case jobEndKnown:
		r.onJobEnd(m)
	case jobStateKnown:
		if r.decided && r.state == RunInterrupted {
			// The question of a held step, answered after a signal decided the run.
			r.onJobEnd(jobEndKnown(m))
			return
		}
		if m.err != nil && r.held != nil && r.holdTimer != nil && !r.decided {
			// No answer is no verdict: the query itself may have been killed by the very
			// cancellation it asks about (Slurm signals every process of the batch step, scontrol
			// included). Ask again until the hold ends; the supervisor's own SIGTERM may come first.
			r.holdErr = m.err
			r.askSlurm(holdRetry)
			return
		}
		r.resolveHold(m.status, m.err)
	case checkTimedOut:
		r.onCheckTimeout(m)
	case gateExpired:
		if !r.gateOpen[m.name] {
			r.gateOpen[m.name] = true
			r.emit(Event{Name: EventWarning, Role: m.name, Message: fmt.Sprintf(
				"launch gate: steps sharing its nodes did not report all tasks started within %s; launching anyway", r.cfg.LaunchGateTimeout)})
			r.launchWhatIsDue()
		}
	case livenessFailed, stallSample, benchmarkTimedOut, dumpWaitOver, livenessMissed:
		r.onHangMessage(msg, now)
	case srunLineSeen, srunLineDue:
		r.onSrunLine(msg)
	case nodeTick, nodeSample:
		r.onNodeMessage(msg, now)
	case configTick, configTimedOut:
		r.onConfigMessage(msg, now)
	case configProbeDone:
		r.onConfigProbeDone(m, now)
	}
}

func (r *run) onExit(s *step, status int, signal string, now time.Time) {
	s.finish(status, signal, now)
	if s.stop != nil {
		s.stop()
	}
	// The harness's servers end with status 0 once the benchmark has announced its end.
	afterEnd := s.kind != kindInstall && !decidesRun(s.kind) && !s.isCheck() && !s.stopping && r.benchmarkAnnouncedEnd()
	s.finished = afterEnd && s.code == 0
	ev := Event{Name: EventExit, Role: s.name, Nodes: slurm.CompressHostlist(s.nodes), PID: s.pid(),
		Code: intPtr(s.code), Signal: s.signal, Duration: now.Sub(s.launchedAt)}
	if s.taskFailure != nil {
		ev.Message = fmt.Sprintf("srun status %d; %s", s.status, s.taskFailure.Line)
	} else {
		ev.Message = fmt.Sprintf("srun status %d", s.status)
	}
	if s.cancelledBySlurm != "" && !s.stopping {
		s.stoppedBySlurm = true
	}
	switch {
	case s.stopping || s.stoppedBySlurm:
		ev.Name = EventStopped
	case s.finished:
		ev.Name = EventFinished
		ev.Message += "; the benchmark had announced its end"
	}
	r.emit(ev)
	r.reportLeftovers(s)
	invalid := ""
	if decidesRun(s.kind) {
		invalid = r.closeMeasurement(s, now)
	}
	if s.kind == roles.KindGen {
		r.touchDone(s)
	}
	if s.isCheck() {
		r.recordCheck(s, now)
	}
	if r.decided || s.stopping {
		return
	}
	switch {
	case s.finished:
		// A normal end: the benchmark, still running, decides the run.
	case s.cancelledBySlurm != "":
		// Slurm is ending the job (scancel, requeue, time limit); the supervisor's own signal is
		// on its way. Nothing failed: record an interruption, not a role failure.
		r.interruptBySlurm(s.name, slurm.JobStatus{}, "")
	case s.isCheck():
		r.onCheckEnd(s, now)
	case afterEnd:
		msg := fmt.Sprintf("role %s ended with exit code %d after the benchmark announced its end", s.name, s.code)
		if s.taskFailure != nil {
			msg += " (" + strings.TrimSpace(s.taskFailure.Line) + ")"
		}
		r.warn(s.name, msg)
	case s.kind == kindInstall && s.code == 0:
		s.readyAt = now
		r.launchWhatIsDue()
	case decidesRun(s.kind) && s.code == 0 && invalid != "":
		r.invalidResult(s, invalid)
	case decidesRun(s.kind) && s.code == 0:
		r.decide(RunSucceeded, verdict.ExitOK, nil)
	case r.canAskSlurm():
		r.hold(s)
	default:
		f := r.failureOfExit(s)
		r.decide(RunFailed, f.Code, f)
	}
}

// failureOfExit is the root cause a step's own end makes.
func (r *run) failureOfExit(s *step) *Failure {
	switch {
	case s.isCheck():
		return r.checkFailure(s)
	case s.kind == kindInstall:
		return r.failureOf(s, s.code, fmt.Sprintf("install step failed with exit code %d", s.code))
	case s.kind == roles.KindBenchmark:
		return r.failureOf(s, s.code, fmt.Sprintf("benchmark failed with exit code %d", s.code))
	case s.kind == roles.KindAggregated:
		return r.failureOfAggregated(s)
	case s.code == 0:
		return r.failureOf(s, verdict.ExitEarlyExit,
			"ended with status 0 before the benchmark announced its end; a server must run until the benchmark is done")
	}
	return r.failureOf(s, s.code, fmt.Sprintf("ended with exit code %d before the benchmark finished", s.code))
}

// canAskSlurm reports whether a step's unexpected end is first checked against the job's state: on a
// cluster, every one is, because any could be Slurm's doing rather than the role's. Slurm signals the
// steps and the batch shell at once, so a step can end before the supervisor's own SIGTERM and before
// slurmstepd's CANCELLED line is written, with whatever its tasks do on SIGTERM (143, 137 after
// KillWait, even 0), or srun can fail to start a step of a job that is already completing ("Unable to
// create step ... already completing"). One question to the controller tells them from a failure,
// and costs tens of milliseconds.
func (r *run) canAskSlurm() bool {
	return r.cfg.JobState != nil
}

// hold keeps the verdict on a step's end open until Slurm says whether it is ending the job, the
// supervisor's own signal arrives, or CancelHold passes. Only the first such step is held; later
// ones are most likely the same cancellation.
func (r *run) hold(s *step) {
	if r.held != nil {
		return
	}
	r.held = s
	r.emit(Event{Name: EventWarning, Role: s.name, Code: intPtr(s.code), Message: fmt.Sprintf(
		"ended with exit code %d; asking Slurm whether it is ending the job (up to %s) before blaming the role", s.code, r.cfg.CancelHold)})
	r.holdTimer = r.cfg.clock.After(r.cfg.CancelHold)
	r.askSlurm(0)
}

// holdRetry is the pause before the job's state is asked again after a failed query.
const holdRetry = 250 * time.Millisecond

// askSlurm queries the job's state, after delay, outside the loop; the answer comes back as a
// jobStateKnown message.
func (r *run) askSlurm(delay time.Duration) {
	ctx, query, clock, bound := r.groupCtx, r.cfg.JobState, r.cfg.clock, r.cfg.CancelHold
	r.group.Go(func() error {
		if delay > 0 {
			select {
			case <-clock.After(delay):
			case <-ctx.Done():
				return nil
			}
		}
		qctx, cancel := context.WithTimeout(ctx, bound)
		defer cancel()
		status, err := query(qctx)
		r.send(jobStateKnown{status: status, err: err})
		return nil
	})
}

// resolveHold settles a held step's end: Slurm ending the job makes it an interruption (or, when a
// node failed, an infrastructure failure); anything else (the job still running, no answer in time)
// makes it the role's failure.
func (r *run) resolveHold(st slurm.JobStatus, err error) {
	s := r.held
	if s == nil || r.decided {
		return
	}
	r.holdTimer = nil
	if err == nil && slurm.JobEnding(st.State) {
		r.markStoppedBySlurm(s)
		r.interruptBySlurm(s.name, st, fmt.Sprintf("JobState=%s; step %s ended with it", st.State, s.name))
		return
	}
	f := r.failureOfExit(s)
	if err != nil {
		f.Reason += fmt.Sprintf(" (not a cancellation: %v)", err)
	} else {
		f.Reason += fmt.Sprintf(" (not a cancellation: JobState=%s)", st.State)
	}
	r.decide(RunFailed, f.Code, f)
}

// markStoppedBySlurm records that the held step, and every step that ended by itself since, were ended
// by Slurm's cancellation of the job.
func (r *run) markStoppedBySlurm(held *step) {
	for _, s := range r.steps {
		if s.exited && !s.stopping && !s.finished && !s.endedAt.Before(held.endedAt) {
			s.stoppedBySlurm = true
		}
	}
}

// interruptBySlurm decides the run as interrupted by Slurm, which SIGKILLs the job KillWait after it
// began; a node failure makes it an infrastructure failure instead. role is the step whose end told.
func (r *run) interruptBySlurm(role string, st slurm.JobStatus, why string) {
	code := verdict.Signal(syscall.SIGTERM)
	r.slurmEndsJob()
	f := r.cancellation(code, st, why)
	r.emit(Event{Name: EventSignal, Role: role, Code: intPtr(code), Message: f.Reason})
	r.decide(RunInterrupted, code, f)
	if r.nodeFailure(st) {
		r.recordRefinement()
	}
}

// askWhyEnding asks Slurm, once the run was decided as interrupted by a SIGTERM, why the job is
// ending; the answer (jobEndKnown) refines the root cause before the record is final.
func (r *run) askWhyEnding() {
	if r.cfg.JobState == nil {
		return
	}
	ctx, query, bound := r.groupCtx, r.cfg.JobState, r.cfg.CancelHold
	r.askingWhy = true
	r.group.Go(func() error {
		qctx, cancel := context.WithTimeout(ctx, bound)
		defer cancel()
		status, err := query(qctx)
		r.send(jobEndKnown{status: status, err: err})
		return nil
	})
}

// onJobEnd refines an interruption with Slurm's word on why the job ends.
func (r *run) onJobEnd(m jobEndKnown) {
	r.askingWhy = false
	if r.state != RunInterrupted || r.failure == nil {
		return
	}
	if m.err != nil {
		r.emit(Event{Name: EventSignal, Debug: true, Message: fmt.Sprintf("could not ask Slurm why the job ends: %v", m.err)})
		return
	}
	if r.nodeFailure(m.status) {
		r.recordRefinement()
		return
	}
	refined := r.cancellation(r.code, m.status, strings.TrimPrefix(r.failure.Reason, "Slurm is ending the job: "))
	if !strings.HasPrefix(r.failure.Reason, "Slurm is ending the job") {
		refined = r.cancellation(r.code, m.status, r.failure.Reason)
	}
	r.failure.Reason, r.failure.Evidence = refined.Reason, refined.Evidence
	r.recordRefinement()
}

// recordRefinement rewrites the record after the root cause of a decided run became more precise.
func (r *run) recordRefinement() {
	summary := r.summary()
	r.emit(Event{Name: EventSignal, Code: intPtr(r.code), Message: "Slurm's word on the job's end: " + resultLine(summary)})
	r.writeRecord(summary)
}

// refineCancellation names who ended an interrupted job once the teardown has flushed the steps'
// logs: slurmstepd's CANCELLED lines say "DUE TO TIME LIMIT", "DUE TO NODE FAILURE", ..., or nothing
// (scancel), where the job's state during the teardown only says COMPLETING.
func (r *run) refineCancellation() {
	f := r.failure
	if r.state != RunInterrupted || f == nil || f.Class != verdict.ClassCancelled || r.cfg.JobState == nil {
		return
	}
	if r.nodeFailure(slurm.JobStatus{}) {
		return
	}
	line := r.cancelledLine()
	who := verdict.Canceller(line, "", "")
	if who == "" || strings.Contains(f.Reason, "("+who+")") {
		return
	}
	why := f.Reason
	if rest, ok := strings.CutPrefix(why, "Slurm is ending the job"); ok {
		_, why, _ = strings.Cut(rest, ": ")
	}
	refined := r.cancellation(f.Code, slurm.JobStatus{}, why)
	f.Reason = refined.Reason
	f.Evidence = append(f.Evidence, refined.Evidence...)
	f.Evidence = slices.Compact(f.Evidence)
}

// onTeardownError records a teardown command that failed. While Slurm is ending the job, a step
// signal is refused ("Invalid job id specified", "already completing"): that is expected, and the
// step is reached by other means, so it is a debug event, not one of the run's errors.
func (r *run) onTeardownError(err error) {
	msg := err.Error()
	if r.slurmEnding || strings.Contains(msg, "Invalid job id specified") || strings.Contains(msg, "already completing") {
		r.emit(Event{Name: EventTeardown, Debug: true, Message: msg})
		return
	}
	r.errs = multierror.Append(r.errs, err)
}

func (r *run) warn(role, msg string) {
	r.warnings = append(r.warnings, r.redactor.String(msg))
	r.emit(Event{Name: EventWarning, Role: role, Message: msg})
}

func (r *run) onSignal(sig os.Signal) {
	name := signalName(sig)
	now := r.cfg.clock.Now()
	if sig == syscall.SIGQUIT {
		// What Go's default would print on stderr before exiting 2, kept where the record is.
		r.dumpGoroutines()
	}
	if sig == r.lastSignal && now.Sub(r.lastSignalAt) < duplicateSignalWindow {
		r.emit(Event{Name: EventSignal, Signal: name, Message: fmt.Sprintf(
			"%s again within %s: the same delivery, not a second signal", name, duplicateSignalWindow)})
		return
	}
	r.lastSignal, r.lastSignalAt = sig, now
	first := r.signalled == 0
	r.signalled++
	if r.decided && r.teardownAt.IsZero() {
		// A signal while hung steps write their stacks: stop waiting for them.
		r.emit(Event{Name: EventSignal, Signal: name, Message: "signal while the steps dump their stacks: stopping every step now"})
		if sig == syscall.SIGTERM {
			r.slurmEndsJob()
		}
		r.teardown()
		return
	}
	if r.decided {
		switch {
		case r.teardownAt.IsZero() || r.killTimer == nil:
			// The grace period is over: the steps are being killed already.
		case first:
			// The run was decided by something else (a failure, a step that Slurm ended): this is
			// the first signal, not a second one, and a SIGTERM is most likely Slurm's own, sent to
			// the batch shell with the steps. The teardown goes on, fitted to Slurm's KillWait.
			r.emit(Event{Name: EventSignal, Signal: name, Message: "signal during the teardown; the grace period goes on (a second signal ends it)"})
			if sig == syscall.SIGTERM {
				r.fitGraceToKillWait()
			}
		default:
			r.emit(Event{Name: EventSignal, Signal: name, Message: "second signal during teardown: killing every step now"})
			r.killTimer = nil
			r.killNow()
		}
		return
	}
	code := verdict.Signal(sig)
	msg := "stopping every step"
	if sig == r.cfg.DrainSignal {
		msg = r.drainMessage(now)
	}
	if r.held != nil && sig == syscall.SIGTERM {
		// Slurm's SIGTERM to the batch shell, a moment after it ended the held step.
		msg += fmt.Sprintf("; %s ended moments before by the same cancellation", r.held.name)
		r.markStoppedBySlurm(r.held)
	}
	r.emit(Event{Name: EventSignal, Signal: name, Code: intPtr(code), Message: msg})
	if sig == syscall.SIGTERM {
		r.slurmEndsJob()
	}
	// A held step's question to Slurm is already on its way: its answer refines the root cause.
	asked := r.held != nil
	f := &Failure{Code: code, Reason: fmt.Sprintf("the supervisor received %s", name)}
	if why := r.drainWhy(sig, now); why != "" {
		f.Reason = why + " (" + f.Reason + ")"
	}
	if sig == syscall.SIGTERM && r.cfg.JobState != nil {
		// On a cluster a SIGTERM is Slurm's: scancel, the time limit, preemption, a node failure.
		f = r.cancellation(code, slurm.JobStatus{}, f.Reason)
	}
	r.decide(RunInterrupted, code, f)
	if sig == syscall.SIGTERM && !asked {
		r.askWhyEnding()
	}
}

// decide fixes the run's result once, records it at once (summary, result event, JUnit), so that
// the record is true even if the supervisor is killed during the teardown, and starts the teardown.
// The caller says the final state: an interruption and a failure can end with the same code (143).
func (r *run) decide(state RunState, code int, failure *Failure) {
	if r.decided {
		return
	}
	r.settleConfigs(state, failure)
	r.decided = true
	r.state = state
	r.decidedAt = r.cfg.clock.Now()
	r.held, r.holdTimer = nil, nil
	r.closeMeasurement(nil, r.decidedAt)
	r.code = r.classify(state, code, failure)
	r.failure = failure
	if failure != nil {
		r.redactFailure(failure)
		r.errs = multierror.Append(r.errs, failure)
	}
	// The summary goes last: a reader that sees its final state finds the rest already written.
	summary := r.summary()
	r.emit(Event{Name: EventResult, Code: intPtr(r.code), Duration: r.decidedAt.Sub(r.start), Message: resultLine(summary)})
	r.writeRecord(summary)
	r.beginTeardown()
}

// teardown asks every live step to stop (SIGTERM to its process group; srun forwards it to the tasks),
// then gives them the grace period before SIGKILL. It is idempotent.
func (r *run) teardown() {
	if !r.teardownAt.IsZero() {
		return
	}
	r.teardownAt = r.cfg.clock.Now()
	r.grace = r.cfg.Grace
	var live []string
	for _, s := range r.steps {
		if s.alive() {
			live = append(live, s.name)
			s.stopping = true
			// Concurrently: on a cluster each stop is an scancel call, and a job being cancelled
			// or drained has only seconds (KillWait) left.
			proc, stepID, name := s.proc, s.stepID, s.name
			r.group.Go(func() error {
				r.send(stopAnswered{name: name, err: proc.stop(stepID)})
				return nil
			})
		}
	}
	if len(live) == 0 {
		r.emit(Event{Name: EventTeardown, Message: "no step left to stop"})
		return
	}
	if budget := r.killWaitBudget().Round(time.Millisecond); budget > 0 && r.grace > budget/2 {
		// Slurm SIGKILLs the whole job KillWait after its SIGTERM: the steps get half of what is
		// left, the other half is for killing what ignored SIGTERM.
		r.emit(Event{Name: EventTeardown, Message: fmt.Sprintf(
			"grace cut from %s to %s: Slurm kills the job %s (KillWait) after its SIGTERM", r.grace, budget/2, r.cfg.KillWait)})
		r.grace = budget / 2
	}
	r.emit(Event{Name: EventTeardown, Message: fmt.Sprintf("SIGTERM sent to %d steps %v; SIGKILL after %s", len(live), live, r.grace)})
	r.killTimer = r.cfg.clock.After(r.grace)
}

// slurmEndsJob records that Slurm has begun ending the job (on a cluster a SIGTERM is Slurm's: scancel,
// requeue, time limit), unless that is known already: its KillWait runs from the first sign.
func (r *run) slurmEndsJob() {
	if r.slurmEnding || r.cfg.KillWait <= 0 {
		return
	}
	r.slurmEnding = true
	r.slurmEndingAt = r.cfg.clock.Now()
}

// fitGraceToKillWait cuts a running grace period when Slurm begins ending the job during the
// teardown, as the teardown itself does when Slurm's ending comes first.
func (r *run) fitGraceToKillWait() {
	if r.slurmEnding {
		return
	}
	r.slurmEndsJob()
	budget := r.killWaitBudget().Round(time.Millisecond)
	left := r.grace - r.cfg.clock.Now().Sub(r.teardownAt)
	if budget <= 0 || left <= budget/2 {
		return
	}
	r.emit(Event{Name: EventTeardown, Message: fmt.Sprintf(
		"grace cut from %s to %s from now: Slurm kills the job %s (KillWait) after its SIGTERM", left.Round(time.Millisecond), budget/2, r.cfg.KillWait)})
	r.killTimer = r.cfg.clock.After(budget / 2)
}

// killWaitBudget is how long the teardown may take before Slurm's SIGKILL, less a margin for the
// record; zero when Slurm is not ending the job or its KillWait is unknown.
func (r *run) killWaitBudget() time.Duration {
	if !r.slurmEnding || r.cfg.KillWait <= 0 {
		return 0
	}
	return max(r.cfg.KillWait-killWaitMargin-r.cfg.clock.Now().Sub(r.slurmEndingAt), 200*time.Millisecond)
}

// killAfterGrace kills the steps that outlived the grace period and reports each: they ignored
// SIGTERM, or could not be signalled (see reportOutlivedGrace).
func (r *run) killAfterGrace() {
	for _, s := range r.steps {
		if !s.alive() {
			continue
		}
		r.reportOutlivedGrace(s)
		r.kill(s)
	}
	r.armGiveUp()
}

// killNow kills every step still running at once: a second signal asked to skip the grace period.
func (r *run) killNow() {
	for _, s := range r.steps {
		if !s.alive() {
			continue
		}
		r.emit(Event{Name: EventTeardown, Role: s.name, PID: s.pid(), Signal: "SIGKILL",
			Message: fmt.Sprintf("killing it %s after SIGTERM, on a second signal", r.cfg.clock.Now().Sub(r.teardownAt).Round(time.Millisecond))})
		r.kill(s)
	}
	r.armGiveUp()
}

func (r *run) kill(s *step) {
	s.killed = true
	proc, stepID := s.proc, s.stepID
	r.group.Go(func() error {
		if err := proc.kill(stepID); err != nil {
			r.send(teardownError{err: err})
		}
		return nil
	})
}

// armGiveUp bounds the wait for killed steps; inside Slurm's KillWait when Slurm is ending the job.
func (r *run) armGiveUp() {
	wait := 10 * time.Second
	if budget := r.killWaitBudget(); budget > 0 {
		wait = min(wait, budget)
	}
	r.giveUpTimer = r.cfg.clock.After(wait)
}

// launchWhatIsDue launches every pending step whose dependencies are ready and whose launch gate is open.
func (r *run) launchWhatIsDue() {
	if r.decided {
		return
	}
	for _, s := range r.steps {
		if s.launched() || s.launchErr != nil || !r.dependenciesReady(s) || !r.gatePasses(s) {
			continue
		}
		r.launch(s)
		if r.decided {
			return
		}
	}
}

// dependenciesReady: the pre-flight phase first (see checksAllow), workers (and an aggregated SERVER)
// after the install step, the server after every worker, the benchmark after the server.
func (r *run) dependenciesReady(s *step) bool {
	if !r.checksAllow(s) {
		return false
	}
	var needs []roles.Kind
	switch s.kind {
	case kindInstall:
		return true
	case roles.KindGen, roles.KindCtx, roles.KindAggregated:
		needs = []roles.Kind{kindInstall}
	case roles.KindServer:
		needs = []roles.Kind{kindInstall, roles.KindGen, roles.KindCtx}
	case roles.KindBenchmark:
		needs = []roles.Kind{kindInstall, roles.KindServer}
	}
	for _, other := range r.steps {
		if slices.Contains(needs, other.kind) && !other.ready() {
			return false
		}
	}
	return true
}

// gatePasses, when launches are gated, holds a step back until every live step that shares one of its
// nodes has all its tasks started (pyxis sets up containers on a node one step at a time), or until the
// gate timeout.
func (r *run) gatePasses(s *step) bool {
	if !r.gating || r.gateOpen[s.name] {
		return true
	}
	for _, other := range r.steps {
		if other == s || other.kind == kindInstall || !other.launched() || other.exited || other.running() {
			continue
		}
		if sharesNode(s.nodes, other.nodes) {
			if !r.gateWaiting[s.name] {
				r.gateWaiting[s.name] = true
				name := s.name
				r.cfg.clock.AfterFunc(r.cfg.LaunchGateTimeout, func() { r.send(gateExpired{name: name}) })
			}
			return false
		}
	}
	return true
}

func (r *run) launch(s *step) {
	header := fmt.Sprintf("=== disagg-supervisor: %s attempt %s launched at %s ===\n",
		s.name, r.plan.RunToken, r.cfg.clock.Now().UTC().Format(time.RFC3339Nano))
	now := r.cfg.clock.Now()
	proc, err := r.cfg.launcher.start(launchSpec{name: s.name, argv: s.argv, env: s.env, log: s.log,
		header: header, ntasks: s.ntasks})
	if err != nil {
		s.launchErr = err
		if noSpace(err) {
			r.writeFailed(s.log, err)
			return
		}
		r.emit(Event{Name: EventWarning, Role: s.name, Message: err.Error()})
		r.decide(RunFailed, verdict.ExitInternal, r.failureOf(s, verdict.ExitInternal, err.Error()))
		return
	}
	s.proc, s.logStart, s.launchedAt = proc, proc.logStart(), now
	r.emit(Event{Name: EventLaunch, Role: s.name, Nodes: slurm.CompressHostlist(s.nodes), PID: s.pid(),
		Message: fmt.Sprintf("%d tasks, log %s", s.ntasks, s.log)})
	ctx, stop := context.WithCancel(r.groupCtx)
	s.stop, s.watch = stop, ctx
	name := s.name
	r.group.Go(func() error {
		status, signal := proc.wait()
		r.send(stepExited{name: name, status: status, signal: signal})
		return nil
	})
	if r.cfg.BenchmarkOutput != nil && r.followsOutput(s) {
		// As today's launcher shows it: the benchmark's (or aggregated server's) output in the job's
		// own output file, live, secrets masked.
		logPath, logStart := s.log, s.logStart
		out := redactingWriter{w: r.cfg.BenchmarkOutput, redact: r.redactor.String}
		r.group.Go(func() error {
			followLog(ctx, logPath, logStart, out)
			return nil
		})
	}
	if s.kind != kindInstall {
		r.group.Go(func() error {
			if stepID, ok := proc.tasksStarted(ctx); ok {
				r.send(stepRunning{name: name, stepID: stepID})
			}
			return nil
		})
	}
	switch {
	case s.kind == kindInstall:
		// Ready when it has ended with status 0.
	case s.isCheck():
		// Ready when it has ended with status 0, within its timeout.
		r.armCheckTimeout(s)
	case s.probe != nil:
		probe, logPath, logStart, wait := *s.probe, s.log, s.logStart, r.cfg.waitProbe
		r.group.Go(func() error {
			err := wait(ctx, probe, logPath, logStart)
			if ctx.Err() == nil {
				r.send(probeDone{name: name, err: err})
			}
			return nil
		})
	default:
		// Without a probe a role counts as ready once launched, so nothing waits on it needlessly.
		s.readyAt = now
		r.startLiveness(s)
	}
	r.onLaunched(s)
	r.watchNodesOf(s)
}

// send hands a message to the loop unless the run is over.
func (r *run) send(msg message) {
	select {
	case r.msgs <- msg:
	case <-r.groupCtx.Done():
		// The loop has stopped listening, except for exits, which it must always hear.
		if _, ok := msg.(stepExited); ok {
			r.msgs <- msg
		}
	}
}

// waitMarkers waits until role has n start markers in dir (one per task, written by `task`) and returns
// the Slurm step id they name (empty when they name none). The markers live on the shared file system,
// where file events do not cross nodes, so it lists their directory: every 25 ms during the step's
// first second, when tasks usually start, then at an interval that doubles up to a second, so that a
// step whose tasks start slowly (a container image being imported on hundreds of nodes) costs the
// file system one listing a second, not forty. Only the "all tasks started" event (and the launch
// gate that waits for it) depends on it, never failure detection.
func waitMarkers(ctx context.Context, dir coord.Dir, role string, n int) (string, bool) {
	const fast, slowest, fastFor = 25 * time.Millisecond, time.Second, time.Second
	start := time.Now()
	interval := fast
	timer := time.NewTimer(interval)
	defer timer.Stop()
	for {
		if ranks, err := coord.Ranks(dir.StartedDir(role)); err == nil && len(ranks) >= n {
			// Every task of a step names the same step; a marker that cannot be read names none.
			m, _ := coord.ReadMarker(dir.Started(role, ranks[0]))
			return m.Step, true
		}
		select {
		case <-ctx.Done():
			return "", false
		case <-timer.C:
		}
		if time.Since(start) >= fastFor {
			interval = min(2*interval, slowest)
		}
		timer.Reset(interval)
	}
}

func sharesNode(a, b []string) bool {
	for _, n := range a {
		if slices.Contains(b, n) {
			return true
		}
	}
	return false
}

func usesContainers(p roles.Plan) bool {
	for _, role := range p.Roles {
		for _, arg := range role.Srun {
			if strings.HasPrefix(arg, "--container-") && !strings.HasPrefix(arg, "--container-env=") {
				return true
			}
		}
	}
	return false
}

// benchmarkAnnouncedEnd reports whether the benchmark has announced the end of its last server
// configuration (of any, when their number is unknown), looking for new end markers first.
func (r *run) benchmarkAnnouncedEnd() bool {
	r.syncConfigs()
	return r.configs.allEnded()
}

// touchDone writes gen_server_<i>.done once a GEN step has been reaped, as today's launcher does: the
// harness waits for it before parsing the GEN log.
func (r *run) touchDone(s *step) {
	path := doneFile(r.plan.OutputDir, s)
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		r.errs = multierror.Append(r.errs, fmt.Errorf("role %s: %w", s.name, err))
		r.writeFailed(path, err)
	}
}

func doneFile(outputDir string, s *step) string {
	base := filepath.Base(s.log)
	return filepath.Join(outputDir, base[:len(base)-len(filepath.Ext(base))]+".done")
}

func (r *run) emit(ev Event) {
	now := r.cfg.clock.Now()
	ev.Time = now
	ev.Elapsed = now.Sub(r.start)
	ev.Message = r.redactor.String(ev.Message)
	r.events.emit(ev)
	if err := r.eventsOut.take(); err != nil {
		r.writeFailed(filepath.Join(r.plan.Workspace, EventsFile), err)
	}
	if r.measure != nil {
		r.noteDisturbance(ev)
	}
}

// prepareDirs makes the workspace, output and coordination directories.
func prepareDirs(p roles.Plan) error {
	for _, dir := range []string{p.Workspace, p.OutputDir, filepath.Dir(p.TaskBinary), p.CoordDir} {
		if dir == "" || dir == "." {
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("make directory: %w", err)
		}
	}
	// A stale .done file from an earlier attempt, which would tell the harness a GEN server had
	// ended, was moved aside already (moveStale).
	return nil
}

// envWithRoles is every variable a step can see, for finding the secret values to mask in log tails.
func envWithRoles(base []string, p roles.Plan) []string {
	env := append([]string{}, base...)
	for _, role := range append(p.CheckRoles(), p.Roles...) {
		for name, value := range role.Env {
			env = append(env, name+"="+value)
		}
	}
	return env
}

// GoroutineDumpFile is where a SIGQUIT leaves the supervisor's goroutine stacks, in the workspace.
const GoroutineDumpFile = "supervisor.goroutines.txt"

// dumpGoroutines writes every goroutine's stack to GoroutineDumpFile, appending, so that a SIGQUIT
// shows what the supervisor was doing and still ends the run with a final record.
func (r *run) dumpGoroutines() {
	path := filepath.Join(r.plan.Workspace, GoroutineDumpFile)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err == nil {
		fmt.Fprintf(f, "=== goroutines at %s (SIGQUIT)\n", r.cfg.clock.Now().UTC().Format(time.RFC3339Nano))
		err = pprof.Lookup("goroutine").WriteTo(f, 2)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		r.warn("", fmt.Sprintf("SIGQUIT: cannot write the goroutine dump %s: %v", path, err))
		return
	}
	r.emit(Event{Name: EventSignal, Signal: "SIGQUIT", Message: "goroutine stacks written to " + path})
}
