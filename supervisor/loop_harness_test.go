package supervisor

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/mode"
	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/roles"
	"github.com/disagg-supervisor/disagg-supervisor/slurm"
)

// The run loop's tests drive a real Run with a fake clock, a fake launcher and fake probes, inside a
// synctest bubble: synctest.Wait says when the loop has handled everything it was told and is
// waiting again, so each step of a scenario is checked on a settled run, with no sleeps and no
// processes.

// fakeClock is a clock whose time moves only when a test advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time // After's channel, or nil
	f  func()         // AfterFunc's function, or nil
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 30, 5, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Buffered, as time.After's: a timer the loop no longer listens to must not block advance.
	t := &fakeTimer{at: c.now.Add(d), ch: make(chan time.Time, 1)}
	c.timers = append(c.timers, t)
	return t.ch
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timers = append(c.timers, &fakeTimer{at: c.now.Add(d), f: f})
}

// advance moves the time on by d and fires the timers that are due, earliest first.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due, left []*fakeTimer
	for _, t := range c.timers {
		if t.at.After(c.now) {
			left = append(left, t)
		} else {
			due = append(due, t)
		}
	}
	c.timers = left
	now := c.now
	c.mu.Unlock()
	slices.SortStableFunc(due, func(a, b *fakeTimer) int { return a.at.Compare(b.at) })
	for _, t := range due {
		if t.ch != nil {
			t.ch <- now
		} else {
			go t.f()
		}
	}
}

// fakeLauncher starts fake steps: each is what the test says it does.
type fakeLauncher struct {
	mu sync.Mutex
	// calls is what the loop asked for, in order: "start GEN_0", "stop GEN_0", "kill GEN_0", ...
	calls []string
	procs map[string]*fakeProcess
	// ignoreTerm names steps that do not end when stopped, only when killed; ignoreKill those that
	// do not end even then (a step stuck in the kernel, or on a node that is gone).
	ignoreTerm, ignoreKill map[string]bool
	// failStart names a step that cannot be started.
	failStart string
	// stopErr is what stopping a step answers besides ending it (a refused scancel).
	stopErr error
	// stopErrs is what stopping one step answers instead (with ignoreTerm: a step that could not be
	// signalled and keeps running); the stop of a step in slowStop answers only once slowStops is
	// closed (an scancel waiting for a controller that is down).
	stopErrs  map[string]error
	slowStop  map[string]bool
	slowStops chan struct{}
}

type fakeProcess struct {
	l       *fakeLauncher
	name    string
	id      int
	start   int64
	started chan string // the Slurm step id, once every task has started
	end     chan exitInfo
	ended   bool // guarded by l.mu
}

func (l *fakeLauncher) record(call string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, call)
}

func (l *fakeLauncher) start(spec launchSpec) (stepProcess, error) {
	l.record("start " + spec.name)
	if spec.name == l.failStart {
		return nil, fmt.Errorf("role %s: start srun: no such file or directory", spec.name)
	}
	// The log is real, so that what a test writes to it is read as srun's output.
	f, err := os.OpenFile(spec.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.WriteString(spec.header); err != nil {
		return nil, err
	}
	off, _ := f.Seek(0, 1)
	l.mu.Lock()
	defer l.mu.Unlock()
	p := &fakeProcess{l: l, name: spec.name, id: 1000 + len(l.procs), start: off,
		started: make(chan string, 1), end: make(chan exitInfo, 1)}
	l.procs[spec.name] = p
	return p, nil
}

// exitInfo is how a fake step ends: srun's status and the signal that ended srun, if any.
type exitInfo struct {
	status int
	signal string
}

func (p *fakeProcess) pid() int        { return p.id }
func (p *fakeProcess) logStart() int64 { return p.start }

func (p *fakeProcess) wait() (int, string) {
	e := <-p.end
	return e.status, e.signal
}

func (p *fakeProcess) tasksStarted(ctx context.Context) (string, bool) {
	select {
	case id := <-p.started:
		return id, true
	case <-ctx.Done():
		return "", false
	}
}

// exit ends the step with srun's status and signal, once.
func (p *fakeProcess) exit(status int, signal string) {
	p.l.mu.Lock()
	defer p.l.mu.Unlock()
	if !p.ended {
		p.ended = true
		p.end <- exitInfo{status, signal}
	}
}

// stop ends the step as srun does when its tasks end on SIGTERM, unless the step ignores SIGTERM.
func (p *fakeProcess) stop(string) error {
	p.l.record("stop " + p.name)
	p.l.mu.Lock()
	ignore := p.l.ignoreTerm[p.name]
	err, slow := cmpOr(p.l.stopErrs[p.name], p.l.stopErr), p.l.slowStop[p.name]
	p.l.mu.Unlock()
	if slow {
		<-p.l.slowStops
	}
	if !ignore {
		p.exit(143, "")
	}
	return err
}

func (p *fakeProcess) kill(string) error {
	p.l.record("kill " + p.name)
	p.l.mu.Lock()
	ignore := p.l.ignoreKill[p.name]
	p.l.mu.Unlock()
	if !ignore {
		p.exit(137, "SIGKILL")
	}
	return nil
}

func (p *fakeProcess) signal(_ string, sig syscall.Signal) error {
	p.l.record("signal " + p.name + " " + signalName(sig))
	return nil
}

func (p *fakeProcess) abandon() error {
	p.l.record("abandon " + p.name)
	return nil
}

// options shape one scenario's run.
type options struct {
	// noProbes leaves every role without a readiness probe: ready when launched.
	noProbes   bool
	gate       mode.Mode
	grace      time.Duration
	killWait   time.Duration
	ignoreTerm []string
	ignoreKill []string
	// failStart names a step the launcher cannot start.
	failStart string
	// slurm makes it a cluster run: step ends are checked against the job's state, which the test
	// gives with answer; nodeStates is what sinfo says of the nodes then.
	slurm      bool
	nodeStates map[string]string
	stopErr    error
	// rules are the run's result rules (--result-require, --result-reject).
	rules []record.ResultRule
	// flags, when set, changes the plan's flags (a precheck, an install script) before it is built.
	flags func(*roles.Flags)
	// liveness are --liveness specs of the plan; hang the run's hang detection settings.
	liveness []string
	hang     HangSettings
	// aggregated makes it the plan of an aggregated test (aggregatedFlags) instead.
	aggregated bool
	// realLiveness runs the liveness checks themselves (a log check reads the role's log) instead
	// of the fake ones that setSick steers.
	realLiveness bool
	// stopErrs and slowStop: see fakeLauncher.
	stopErrs map[string]error
	slowStop []string
	// nodeTimeout is the plan's --node-timeout: 0 (no node watch) unless a case plays the heartbeats.
	nodeTimeout time.Duration
	// serverConfigs is the run's --server-configs: 0, unknown.
	serverConfigs int
}

// harness is one Run of a 2 GEN + 1 CTX + server + benchmark plan on node[1-4] (GEN_0, the server
// and the benchmark share node1), driven by a test.
type harness struct {
	t        *testing.T
	plan     roles.Plan
	clock    *fakeClock
	launcher *fakeLauncher
	signals  chan os.Signal
	// probes holds each role's probe result, by log path (the fake probe's only clue to its role).
	probes map[string]chan error
	// asked receives when the loop asks Slurm for the job's state; answers holds the answer.
	asked   chan struct{}
	answers chan jobStateKnown
	done    chan Result
	marker  string
	// sick holds the answer of each role's fake liveness check: nil while it is well.
	sickMu sync.Mutex
	sick   map[string]error
	// targets are the targets the fake liveness checks were started with, in order (under sickMu);
	// probed those of the readiness probes awaited, by role, in order (under sickMu too).
	targets []string
	probed  []string
}

// newHarness starts the run; the caller is inside a synctest bubble.
func newHarness(t *testing.T, o options) *harness {
	t.Helper()
	ws := t.TempDir()
	two, one := 2, 1
	probes := []string{"GEN_*=file:{out}/{role}.ready", "CTX_*=file:{out}/{role}.ready", "DISAGG_SERVER=file:{out}/server.ready"}
	if o.noProbes {
		probes = nil
	}
	flags := roles.Flags{
		Nodelist: "node[1-4]", GPUsPerNode: &two, JobID: "41",
		NumGen: &two, NumCtx: &one, NodesPerGen: &one, NodesPerCtx: &one,
		GPUsPerNodePerGen: &two, GPUsPerNodePerCtx: &two,
		Command: "pytest test_disagg.py", Workspace: ws, Probes: probes, ProbeTimeout: time.Minute,
		Liveness: o.liveness,
	}
	if o.aggregated {
		flags = aggregatedFlags(ws, o.noProbes)
	}
	flags.NodeTimeout = &o.nodeTimeout
	if o.flags != nil {
		o.flags(&flags)
	}
	plan, err := roles.Build(roles.Sources{Flags: flags, Getenv: func(string) string { return "" }, ReadFile: os.ReadFile, Unique: "41"})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	h := &harness{
		t: t, plan: plan, clock: newFakeClock(),
		launcher: &fakeLauncher{procs: map[string]*fakeProcess{}, ignoreTerm: map[string]bool{}, ignoreKill: map[string]bool{},
			failStart: o.failStart, stopErr: o.stopErr, stopErrs: o.stopErrs, slowStop: map[string]bool{}, slowStops: make(chan struct{})},
		signals: make(chan os.Signal, 4),
		probes:  map[string]chan error{},
		asked:   make(chan struct{}, 4),
		answers: make(chan jobStateKnown, 1),
		done:    make(chan Result, 1),
		marker:  filepath.Join(plan.OutputDir, "benchmark_status.0.txt"),
		sick:    map[string]error{},
	}
	for _, name := range o.ignoreTerm {
		h.launcher.ignoreTerm[name] = true
	}
	for _, name := range o.ignoreKill {
		h.launcher.ignoreKill[name] = true
	}
	for _, name := range o.slowStop {
		h.launcher.slowStop[name] = true
	}
	for _, role := range plan.Roles {
		h.probes[role.Log] = make(chan error, 1)
	}
	cfg := Config{
		Plan: plan, Grace: cmpOr(o.grace, 10*time.Second), LaunchGate: cmpOr(o.gate, mode.Never),
		Signals: h.signals, EndMarkers: []string{filepath.Join(plan.OutputDir, "benchmark_status*")},
		KillWait: o.killWait, HangSettings: o.hang, ResultRules: o.rules, ServerConfigs: o.serverConfigs,
		seams: seams{clock: h.clock, launcher: h.launcher, waitProbe: func(ctx context.Context, probe roles.Probe, logPath string, _ int64) error {
			for _, role := range plan.Roles {
				if role.Log == logPath {
					h.sickMu.Lock()
					h.probed = append(h.probed, role.Name+" "+probe.Target)
					h.sickMu.Unlock()
				}
			}
			select {
			case err := <-h.probes[logPath]:
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		}},
	}
	cfg.newCheck = func(l checkSpec, logPath string, _ int64) (check, error) {
		name := ""
		for _, role := range plan.Roles {
			if role.Log == logPath {
				name = role.Name
			}
		}
		h.sickMu.Lock()
		h.targets = append(h.targets, name+" "+l.Target)
		h.sickMu.Unlock()
		return func(context.Context) error {
			h.sickMu.Lock()
			defer h.sickMu.Unlock()
			return h.sick[name]
		}, nil
	}
	if o.realLiveness {
		cfg.newCheck = nil
	}
	if o.slurm {
		cfg.JobState = func(ctx context.Context) (slurm.JobStatus, error) {
			h.asked <- struct{}{}
			select {
			case a := <-h.answers:
				return a.status, a.err
			case <-ctx.Done():
				return slurm.JobStatus{}, ctx.Err()
			}
		}
		cfg.NodeStates = func(context.Context, []string) (map[string]string, error) { return o.nodeStates, nil }
	}
	go func() { h.done <- Run(context.Background(), cfg) }()
	synctest.Wait()
	return h
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func (h *harness) proc(name string) *fakeProcess {
	h.t.Helper()
	h.launcher.mu.Lock()
	defer h.launcher.mu.Unlock()
	p := h.launcher.procs[name]
	if p == nil {
		h.t.Fatalf("%s was never launched; calls %v", name, h.launcher.calls)
	}
	return p
}

func (h *harness) logOf(name string) string {
	for _, role := range h.plan.Roles {
		if role.Name == name {
			return role.Log
		}
	}
	h.t.Fatalf("no role %s", name)
	return ""
}

// running: every task of the step has started.
func (h *harness) running(name string) {
	h.proc(name).started <- "41." + name
	synctest.Wait()
}

// ready: the role's readiness probe passes (err nil) or fails.
func (h *harness) ready(name string, err error) {
	h.proc(name) // launched, or the probe would never have been asked
	h.probes[h.logOf(name)] <- err
	synctest.Wait()
}

// up brings the stack up: every worker ready, then the server, so the benchmark is launched.
func (h *harness) up() {
	for _, name := range []string{"GEN_0", "GEN_1", "CTX_0"} {
		h.ready(name, nil)
	}
	h.ready("DISAGG_SERVER", nil)
	h.proc("BENCHMARK")
}

// setSick makes the role's fake liveness check answer err (nil: well again).
func (h *harness) setSick(name string, err error) {
	h.sickMu.Lock()
	defer h.sickMu.Unlock()
	h.sick[name] = err
}

// exit: the step ends with srun's status.
func (h *harness) exit(name string, status int) {
	h.proc(name).exit(status, "")
	synctest.Wait()
}

// writeLog appends text to the role's log, as srun or the role would.
func (h *harness) writeLog(name, text string) {
	f, err := os.OpenFile(h.logOf(name), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		h.t.Fatal(err)
	}
}

// announceEnd writes the benchmark's status file.
func (h *harness) announceEnd() {
	if err := os.WriteFile(h.marker, []byte("0\n"), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// announceConfig writes the end marker of server configuration k with its status line.
func (h *harness) announceConfig(k int, status string) {
	name := filepath.Join(h.plan.OutputDir, fmt.Sprintf("benchmark_status.%d.txt", k))
	if err := os.WriteFile(name, []byte(status+"\n"), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) signal(sig os.Signal) {
	h.signals <- sig
	synctest.Wait()
}

func (h *harness) advance(d time.Duration) {
	h.clock.advance(d)
	synctest.Wait()
}

// answer gives Slurm's answer about the job, once the loop has asked.
func (h *harness) answer(state string, err error) {
	h.t.Helper()
	h.answerWhy(slurm.JobStatus{State: state}, err)
}

// answerWhy gives Slurm's answer with the reason it states.
func (h *harness) answerWhy(status slurm.JobStatus, err error) {
	h.t.Helper()
	select {
	case <-h.asked:
	default:
		h.t.Fatal("the loop never asked Slurm for the job's state")
	}
	h.answers <- jobStateKnown{status: status, err: err}
	synctest.Wait()
}

// summary is summary.json as the loop last wrote it.
func (h *harness) summary() record.Summary {
	h.t.Helper()
	s, err := record.ReadSummary(h.plan.Workspace)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

func (h *harness) roleState(name string) record.StepState {
	for _, r := range h.summary().Roles {
		if r.Name == name {
			return r.State
		}
	}
	return ""
}

func (h *harness) launched(name string) bool {
	h.launcher.mu.Lock()
	defer h.launcher.mu.Unlock()
	return h.launcher.procs[name] != nil
}

// calls lists the launcher calls of the given verb ("stop", "kill", ...), by role, sorted.
func (h *harness) calls(verb string) []string {
	h.launcher.mu.Lock()
	defer h.launcher.mu.Unlock()
	var names []string
	for _, c := range h.launcher.calls {
		if v, name, _ := strings.Cut(c, " "); v == verb {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// messages lists the messages of the event log's events with the given name.
func (h *harness) messages(event string) []string {
	h.t.Helper()
	f, err := os.Open(filepath.Join(h.plan.Workspace, record.EventsFile))
	if err != nil {
		h.t.Fatal(err)
	}
	defer f.Close()
	var msgs []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var ev struct{ Event, Role, Message string }
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			h.t.Fatal(err)
		}
		if ev.Event == event {
			if ev.Role != "" {
				ev.Message = ev.Role + ": " + ev.Message
			}
			msgs = append(msgs, ev.Message)
		}
	}
	return msgs
}

// result is what Run returned; the run must be over.
func (h *harness) result() Result {
	h.t.Helper()
	select {
	case res := <-h.done:
		return res
	default:
		s := h.summary()
		states := map[string]record.StepState{}
		for _, r := range s.Roles {
			states[r.Name] = r.State
		}
		h.t.Fatalf("the run is not over: state %s, steps %v, launcher calls %v", s.State, states, h.launcher.calls)
		return Result{}
	}
}

// over reports whether Run has returned, without consuming its result.
func (h *harness) over() bool {
	select {
	case res := <-h.done:
		h.done <- res
		return true
	default:
		return false
	}
}

// drain ends whatever still runs, so that the bubble's goroutines end with the test: the run, and
// the watchers of steps it abandoned.
func (h *harness) drain() {
	h.launcher.mu.Lock()
	procs := make([]*fakeProcess, 0, len(h.launcher.procs))
	for _, p := range h.launcher.procs {
		procs = append(procs, p)
	}
	h.launcher.mu.Unlock()
	h.answerStops()
	if !h.over() {
		h.signal(syscall.SIGTERM)
	}
	for _, p := range procs {
		p.exit(137, "SIGKILL")
	}
	synctest.Wait()
}

// answerStops lets the slow stop commands (options.slowStop) answer.
func (h *harness) answerStops() {
	h.launcher.mu.Lock()
	defer h.launcher.mu.Unlock()
	select {
	case <-h.launcher.slowStops:
	default:
		close(h.launcher.slowStops)
	}
}

func contains(list []string, part string) bool {
	return slices.ContainsFunc(list, func(s string) bool { return strings.Contains(s, part) })
}

// loopCase is one scenario of a loop table: what the steps do and when, checked on the way by play,
// and how the run must end.
type loopCase struct {
	name string
	opts options
	play func(t *testing.T, h *harness)
	want outcome
}

// runLoopCases plays each case against its own run, in its own synctest bubble, in parallel.
func runLoopCases(t *testing.T, cases []loopCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each scenario lives in its own bubble
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, tt.opts)
				defer h.drain()
				tt.play(t, h)
				checkOutcome(t, h, h.result(), tt.want)
			})
		})
	}
}
