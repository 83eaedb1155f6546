package supervisor

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/slurm"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

// Readiness of each server configuration: a role whose probe target names the configuration ({idx})
// is probed again when configuration k >= 1 starts, with {idx} = k (the router's address file of
// that configuration, its hostnames directory), since its servers restart inside the step. Nothing
// waits on these probes but the verdict: the benchmark drives the configurations itself. A pass
// arms the role's liveness check at once; a probe that times out fails the run as not ready (83) in
// configuration k.

// configProbeDone: the probe of a role for configuration index passed (err nil) or failed.
type configProbeDone struct {
	name  string
	index int
	err   error
}

func (configProbeDone) isMessage() {}

// probeConfig awaits, for configuration index, the probe of every live and ready role whose target
// uses {idx}; a probe still waiting for an earlier configuration is stopped. Each is bounded by its
// timeout on the run's clock and stopped with the step's watchers or at the decision.
func (r *run) probeConfig(index int) {
	c := &r.configs
	for _, s := range r.steps {
		if s.probe == nil || s.probe.ConfigTarget == "" || !s.alive() || !s.ready() || s.stopRequested || s.watch == nil {
			continue
		}
		if c.probeStop == nil {
			c.probeStop = map[string]context.CancelFunc{}
		}
		if stop := c.probeStop[s.name]; stop != nil {
			stop()
		}
		probe := *s.probe
		probe.Target = forConfig(probe.ConfigTarget, index)
		timeout := time.Duration(probe.TimeoutSeconds * float64(time.Second))
		ctx, cancel := context.WithCancel(s.watch)
		r.hang.stopChecks = append(r.hang.stopChecks, cancel)
		c.probeStop[s.name] = cancel
		// The bound is kept on the run's clock, not only inside the probe, so that it holds
		// whatever the probe does with its context.
		var timedOut atomic.Bool
		r.cfg.clock.AfterFunc(timeout, func() {
			timedOut.Store(true)
			cancel()
		})
		name, wait, logPath, logStart := s.name, r.cfg.waitProbe, s.log, s.logStart
		r.group.Go(func() error {
			err := wait(ctx, probe, logPath, logStart)
			switch {
			case err == nil:
			case timedOut.Load():
				err = fmt.Errorf("readiness probe timed out after %s: %s %s", timeout, probe.Type, probe.Target)
			case ctx.Err() != nil:
				// Stopped: the step ends, the run is decided, or a later configuration started.
				return nil
			}
			r.send(configProbeDone{name: name, index: index, err: err})
			return nil
		})
	}
}

// onConfigProbeDone records a role ready for a configuration, arming its liveness check, or fails
// the run as not ready in it. An answer for a configuration no longer in progress (it ended without
// it) is dropped. A failure after the benchmark may have announced its last configuration's end
// (their number unknown) is a warning only, as a liveness failure is then: the servers may be
// stopping.
func (r *run) onConfigProbeDone(m configProbeDone, now time.Time) {
	s := r.byName[m.name]
	if r.decided || !s.alive() || s.stopRequested {
		return
	}
	r.syncConfigs()
	cur := r.configs.current()
	if cur == nil || cur.index != m.index {
		return
	}
	if m.err != nil {
		msg := fmt.Sprintf("not ready for server configuration %d: %v", m.index, m.err)
		if r.benchmarkAnnouncedEnd() {
			r.warn(s.name, msg+" (ignored: the benchmark may have announced the end of its last configuration; see --server-configs)")
			return
		}
		r.emit(Event{Name: record.EventWarning, Role: s.name, Code: intPtr(verdict.ExitNotReady), Message: msg})
		r.decide(record.RunFailed, verdict.ExitNotReady, r.failureOf(s, verdict.ExitNotReady, msg))
		return
	}
	r.emit(Event{Name: record.EventReady, Role: s.name, Nodes: slurm.CompressHostlist(s.nodes), Duration: now.Sub(cur.startedAt),
		Message: fmt.Sprintf("%s probe passed: ready for server configuration %d", s.probe.Type, m.index)})
	r.startLivenessArmed(s, true)
}
