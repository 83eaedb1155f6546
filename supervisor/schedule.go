package supervisor

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/roles"
	"github.com/disagg-supervisor/disagg-supervisor/slurm"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

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
		if other == s || other.kind == kindInstall || !other.launched() || other.exited() || other.running() {
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

// attemptHeaderPrefix starts the line the supervisor writes into a step's log before each launch, so
// that an attempt's part of a log can be told apart (and left out of the benchmark's own output).
const attemptHeaderPrefix = "=== disagg-supervisor: "

func (r *run) launch(s *step) {
	header := fmt.Sprintf(attemptHeaderPrefix+"%s attempt %s launched at %s ===\n",
		s.name, r.plan.RunToken, r.cfg.clock.Now().UTC().Format(time.RFC3339Nano))
	now := r.cfg.clock.Now()
	proc, err := r.cfg.launcher.start(launchSpec{name: s.name, argv: s.argv, env: s.env, log: s.log,
		header: header, ntasks: s.ntasks})
	if err != nil {
		s.launchErr, s.end = err, endLaunchFailed
		if noSpace(err) {
			r.writeFailed(s.log, err)
			return
		}
		r.emit(Event{Name: record.EventWarning, Role: s.name, Message: err.Error()})
		r.decide(record.RunFailed, verdict.ExitInternal, r.failureOf(s, verdict.ExitInternal, err.Error()))
		return
	}
	s.proc, s.logStart, s.launchedAt = proc, proc.logStart(), now
	r.emit(Event{Name: record.EventLaunch, Role: s.name, Nodes: slurm.CompressHostlist(s.nodes), PID: s.pid(),
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
			if slurm.ContainerArg(arg) && !slurm.ContainerEnvArg(arg) {
				return true
			}
		}
	}
	return false
}
