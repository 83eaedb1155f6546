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
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-multierror"
	"golang.org/x/sync/errgroup"

	"github.com/disagg-supervisor/disagg-supervisor/logscan"
	"github.com/disagg-supervisor/disagg-supervisor/mode"
	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/redact"
	"github.com/disagg-supervisor/disagg-supervisor/roles"
	"github.com/disagg-supervisor/disagg-supervisor/slurm"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
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
	ResultRules []record.ResultRule

	seams
}

// seams are what the run loop's own tests (package supervisor) replace; nil means the real thing. With
// a fake clock, launcher and probe the loop's decisions are tested without processes or waiting.
type seams struct {
	clock     clock
	launcher  launcher
	waitProbe func(ctx context.Context, probe roles.Probe, logPath string, logStart int64) error
	// newCheck builds the liveness checks' attempts.
	newCheck func(spec checkSpec, logPath string, logStart int64) (check, error)
}

// firstErrorLines is how many error-shaped lines a root cause shows.
const firstErrorLines = 10

// Result is how a run ended. Its errors are in the summary (record.Summary.Errors) and on the console.
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
	state   record.RunState
	code    int
	failure *record.Failure
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
	// phase is where the run is between its launches and the supervisor's exit; timers are the
	// phase's timer (see enter).
	phase  phase
	timers phaseTimers
	// held is the first step whose end looked like a cancellation, waiting for Slurm's word (in
	// phaseHolding).
	held    *step
	holdErr error // the last failed query of the job's state during the hold
	// teardownAt is when the steps got SIGTERM, grace the grace period they got.
	teardownAt     time.Time
	endedAt        time.Time
	grace          time.Duration
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
	measure *record.Measurement
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
		state:       record.RunRunning,
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
	eventsFile, err := os.OpenFile(filepath.Join(plan.Workspace, record.EventsFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintf(console, "disagg-supervisor: %v\n", err)
		return Result{Code: verdict.ExitInternal}
	}
	defer eventsFile.Close()
	r.eventsOut = &checkedWriter{w: eventsFile}
	r.events = newEventLog(r.eventsOut, console)
	r.summaryPath = filepath.Join(plan.Workspace, record.SummaryFile)
	r.junitPath = cfg.JUnitPath
	if r.junitPath == "" {
		r.junitPath = filepath.Join(plan.Workspace, record.JUnitFile)
	}

	groupCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.group, r.groupCtx = errgroup.WithContext(groupCtx)

	r.buildSteps()
	r.emit(Event{Name: record.EventPlan, Message: fmt.Sprintf("job %s, %d nodes, %d roles, run token %s",
		plan.JobID, len(plan.Nodes), len(plan.Roles), plan.RunToken)})
	r.prepareChecks()
	r.reportClaim()
	if cfg.RefuseRequeue && plan.RestartCount > 0 {
		r.decide(record.RunFailed, verdict.ExitInfrastructure, &record.Failure{Code: verdict.ExitInfrastructure,
			Class: verdict.ClassInfrastructure, Origin: verdict.OriginSupervisor,
			Reason:   fmt.Sprintf("this attempt is a requeue of job %s (restart %d) and --requeue refuse is set: nothing was launched; retry as a fresh job", plan.JobID, plan.RestartCount),
			Evidence: []string{fmt.Sprintf("%s: SLURM_RESTART_COUNT=%d", verdict.RuleRequeue, plan.RestartCount)}})
	} else if err := r.prepareTaskBinary(); err != nil && noSpace(err) {
		r.writeFailed(r.plan.TaskBinary, err)
	} else if err != nil {
		r.decide(record.RunFailed, verdict.ExitInternal, &record.Failure{Reason: err.Error(), Code: verdict.ExitInternal})
		r.errs = multierror.Append(r.errs, err)
	}

	// The caller owns the process's signals (NotifySignals); without them, ctx's end is the stop.
	r.loop(ctx, cfg.Signals)
	cancel()
	if r.phase != phaseAbandoning || r.allReaped() {
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
	beat := r.cfg.clock.After(record.HeartbeatPeriod)
	for !r.over() {
		select {
		case <-beat:
			// Nothing changed, but summary.json's updated_at, rewritten below, tells status that
			// the supervisor lives.
			beat = r.cfg.clock.After(record.HeartbeatPeriod)
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
		case <-r.timers.holdTimer:
			err := fmt.Errorf("no word from Slurm within %s", r.cfg.CancelHold)
			if r.holdErr != nil {
				err = fmt.Errorf("%w (last answer: %v)", err, r.holdErr)
			}
			r.resolveHold(slurm.JobStatus{}, err)
		case <-r.timers.dumpTimer:
			r.teardown()
		case <-r.timers.killTimer:
			r.killAfterGrace()
		case <-r.timers.giveUpTimer:
			r.enter(phaseAbandoning, 0)
			for _, s := range r.steps {
				if s.alive() {
					s.end = endAbandoned
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
		if s.running() || s.exited() {
			return
		}
		s.runningAt = now
		s.stepID = m.stepID
		r.emit(Event{Name: record.EventRunning, Role: s.name, Nodes: slurm.CompressHostlist(s.nodes), PID: s.pid(),
			Duration: now.Sub(s.launchedAt), Message: fmt.Sprintf("all %d tasks started", s.ntasks)})
		r.launchWhatIsDue()
	case probeDone:
		s := r.byName[m.name]
		if r.decided || s.exited() {
			return
		}
		if m.err != nil {
			r.emit(Event{Name: record.EventWarning, Role: s.name, Message: m.err.Error()})
			r.decide(record.RunFailed, verdict.ExitNotReady, r.failureOf(s, verdict.ExitNotReady, m.err.Error()+"; "+r.notReady(now)))
			return
		}
		s.readyAt = now
		r.emit(Event{Name: record.EventReady, Role: s.name, Nodes: slurm.CompressHostlist(s.nodes),
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
		if r.decided && r.state == record.RunInterrupted {
			// The question of a held step, answered after a signal decided the run.
			r.onJobEnd(jobEndKnown(m))
			return
		}
		if m.err != nil && r.phase == phaseHolding {
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
			r.emit(Event{Name: record.EventWarning, Role: m.name, Message: fmt.Sprintf(
				"launch gate: steps sharing its nodes did not report all tasks started within %s; launching anyway", r.cfg.LaunchGateTimeout)})
			r.launchWhatIsDue()
		}
	case livenessFailed, stallSample, benchmarkTimedOut, livenessMissed:
		r.onHangMessage(msg, now)
	case srunLineSeen, srunLineDue:
		r.onSrunLine(msg)
	case nodeTick, nodeSample:
		r.onNodeMessage(msg, now)
	case configTick, configTimedOut:
		r.onConfigMessage(msg, now)
	case configProbeDone:
		r.onConfigProbeDone(m, now)
	default:
		// A message nobody handles is a message type added without its handler.
		panic(fmt.Sprintf("supervisor: no handler for message %T", msg))
	}
}

func (r *run) onExit(s *step, status int, signal string, now time.Time) {
	s.finish(status, signal, now)
	if s.stop != nil {
		s.stop()
	}
	// The harness's servers end with status 0 once the benchmark has announced its end.
	afterEnd := s.kind != kindInstall && !record.DecidesRun(s.kind) && !s.isCheck() && !s.stopRequested && r.benchmarkAnnouncedEnd()
	finished := afterEnd && s.code == 0
	bySlurm := s.cancelledOnLine || s.cancelledBySlurm != "" && !s.stopRequested
	switch {
	case bySlurm && finished:
		s.end = endFinishedBySlurm
	case bySlurm:
		s.end = endBySlurm
	case s.stopRequested && !s.endedOnLine:
		// A step whose failing task decided the run is the failure's, not one the teardown stopped.
		s.end = endStopped
	case finished:
		s.end = endFinished
	default:
		s.end = endExited
	}
	ev := Event{Name: record.EventExit, Role: s.name, Nodes: slurm.CompressHostlist(s.nodes), PID: s.pid(),
		Code: intPtr(s.code), Signal: s.signal, Duration: now.Sub(s.launchedAt)}
	if s.taskFailure != nil {
		ev.Message = fmt.Sprintf("srun status %d; %s", s.status, s.taskFailure.Line)
	} else {
		ev.Message = fmt.Sprintf("srun status %d", s.status)
	}
	switch {
	case s.stopRequested || bySlurm:
		ev.Name = record.EventStopped
	case finished:
		ev.Name = record.EventFinished
		ev.Message += "; the benchmark had announced its end"
	}
	r.emit(ev)
	r.reportLeftovers(s)
	invalid := ""
	if record.DecidesRun(s.kind) {
		invalid = r.closeMeasurement(s, now)
	}
	if s.kind == roles.KindGen {
		r.touchDone(s)
	}
	if s.isCheck() {
		r.recordCheck(s, now)
	}
	if r.decided || s.stopRequested {
		return
	}
	switch {
	case finished:
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
	case record.DecidesRun(s.kind) && s.code == 0 && invalid != "":
		r.invalidResult(s, invalid)
	case record.DecidesRun(s.kind) && s.code == 0:
		r.decide(record.RunSucceeded, verdict.ExitOK, nil)
	case r.canAskSlurm():
		r.hold(s)
	default:
		f := r.failureOfExit(s)
		r.decide(record.RunFailed, f.Code, f)
	}
}

// failureOfExit is the root cause a step's own end makes.
func (r *run) failureOfExit(s *step) *record.Failure {
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

func (r *run) warn(role, msg string) {
	r.warnings = append(r.warnings, r.redactor.String(msg))
	r.emit(Event{Name: record.EventWarning, Role: role, Message: msg})
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

// benchmarkAnnouncedEnd reports whether the benchmark has announced the end of its last server
// configuration (of any, when their number is unknown), looking for new end markers first.
func (r *run) benchmarkAnnouncedEnd() bool {
	r.syncConfigs()
	return r.configs.allEnded()
}

func (r *run) emit(ev Event) {
	now := r.cfg.clock.Now()
	ev.Time = now
	ev.Elapsed = now.Sub(r.start)
	ev.Message = r.redactor.String(ev.Message)
	r.events.emit(ev)
	if err := r.eventsOut.take(); err != nil {
		r.writeFailed(filepath.Join(r.plan.Workspace, record.EventsFile), err)
	}
	if r.measure != nil {
		r.noteDisturbance(ev)
	}
}
