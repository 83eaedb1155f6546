package supervisor

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/slurm"
	"github.com/disagg-supervisor/disagg-supervisor/taskopts"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

// The node watch. The supervisor hears from a node only through srun, and Slurm notices a dead node
// only after its SlurmdTimeout (300 s by default), holding the whole allocation meanwhile. The tasks
// on every node keep its heartbeat file fresh (see package task); a node whose file has not changed
// for the plan's node timeout while steps run on it has failed: the run ends as an infrastructure
// failure naming the node and the roles on it.
//
// Freshness is judged by the file's content changing, timed by the supervisor's own clock: a node's
// clock may be off, and a shared file system may cache or set mtimes, so neither the time written in
// the file nor its mtime decides. A node is looked at every heartbeat period: a silent node is found
// between the timeout and the timeout plus two periods after its last write.

// nodeWatch is the run loop's record of the nodes' heartbeats; only the loop touches it.
type nodeWatch struct {
	// armed: a look is scheduled; reading: one is under way (a slow file system gets no second).
	armed, reading bool
	// seen is each node's last heartbeat and when the loop saw it change.
	seen map[string]nodeSeen
}

type nodeSeen struct {
	beat      coord.Heartbeat
	changedAt time.Time
}

type (
	// nodeTick: time to look at the heartbeats of the nodes with running steps.
	nodeTick struct{}
	// nodeSample is one look: the heartbeat of every node whose file could be read.
	nodeSample struct {
		beats map[string]coord.Heartbeat
	}
)

func (nodeTick) isMessage()   {}
func (nodeSample) isMessage() {}

// quietMessage reports whether a message is one of the watchers' periodic looks, which change nothing
// a reader of summary.json sees: the workspace is often a shared file system, where each rewrite of
// the summary costs.
func quietMessage(msg message) bool {
	switch msg.(type) {
	case stallSample, nodeTick, nodeSample, configTick:
		return true
	}
	return false
}

// nodeTimeout is the plan's node timeout; 0: no node watch.
func (r *run) nodeTimeout() time.Duration {
	return r.plan.NodeTimeout()
}

// watchNodesOf starts looking at the heartbeats once a step that runs the task runner (every step
// but the install script's) is launched.
func (r *run) watchNodesOf(s *step) {
	if r.nodeTimeout() <= 0 || s.kind == kindInstall || r.nodes.armed {
		return
	}
	r.armNodeTick()
}

func (r *run) armNodeTick() {
	r.nodes.armed = true
	r.cfg.clock.AfterFunc(taskopts.NodeHeartbeat(r.nodeTimeout()), func() { r.send(nodeTick{}) })
}

// watchedNodes maps every node with a live step that runs the task runner to the launch of the
// earliest such step. A node is judged only once a task of a step running there has written its
// heartbeat (see onNodeSample).
func (r *run) watchedNodes() map[string]time.Time {
	watched := map[string]time.Time{}
	for _, s := range r.steps {
		if s.kind == kindInstall || !s.alive() || s.stopRequested {
			continue
		}
		for _, n := range s.nodes {
			if at, ok := watched[n]; !ok || s.launchedAt.Before(at) {
				watched[n] = s.launchedAt
			}
		}
	}
	return watched
}

// onNodeMessage handles the node watch's messages.
func (r *run) onNodeMessage(msg message, now time.Time) {
	switch m := msg.(type) {
	case nodeTick:
		r.nodes.armed = false
		if r.decided {
			return
		}
		watched := r.watchedNodes()
		if len(watched) == 0 {
			return // the next launch starts looking again
		}
		r.armNodeTick()
		if r.nodes.reading {
			return
		}
		r.nodes.reading = true
		nodes := make([]string, 0, len(watched))
		for n := range watched {
			nodes = append(nodes, n)
		}
		dir := coord.Dir(r.plan.CoordDir)
		r.group.Go(func() error {
			beats := map[string]coord.Heartbeat{}
			for _, n := range nodes {
				// A missing or unreadable file is no news: only a change is.
				if h, err := coord.ReadHeartbeat(dir.Heartbeat(n)); err == nil {
					beats[n] = h
				}
			}
			r.send(nodeSample{beats: beats})
			return nil
		})
	case nodeSample:
		r.nodes.reading = false
		r.onNodeSample(m, now)
	}
}

// silentNode is a node found silent: since when, and what it wrote last.
type silentNode struct {
	name  string
	quiet time.Duration
	last  *coord.Heartbeat
}

// onNodeSample records the heartbeats that changed and fails the run when a node with running steps
// has been silent for longer than the node timeout. Only a look that came back judges: a file system
// that does not answer at all is not a node failure.
func (r *run) onNodeSample(m nodeSample, now time.Time) {
	if r.nodes.seen == nil {
		r.nodes.seen = map[string]nodeSeen{}
	}
	for n, h := range m.beats {
		if seen, ok := r.nodes.seen[n]; !ok || seen.beat.String() != h.String() {
			r.nodes.seen[n] = nodeSeen{beat: h, changedAt: now}
		}
	}
	if r.decided || r.phase == phaseHolding {
		// A step's end waiting for Slurm's word on the job comes first: it may be this very node.
		return
	}
	var silent []silentNode
	for n, since := range r.watchedNodes() {
		seen, ok := r.nodes.seen[n]
		if !ok || !slices.Contains(r.rolesOn(n), seen.beat.Writer.Role) {
			// Not heard from a step that runs there now: its tasks may not have started yet (a
			// container image being imported can take minutes), and a node that dies before they
			// start fails the launch itself, which srun reports.
			continue
		}
		last := &seen.beat
		if seen.changedAt.After(since) {
			since = seen.changedAt
		}
		if quiet := now.Sub(since); quiet > r.nodeTimeout() {
			silent = append(silent, silentNode{name: n, quiet: quiet, last: last})
		}
	}
	if len(silent) > 0 {
		slices.SortFunc(silent, func(a, b silentNode) int { return strings.Compare(a.name, b.name) })
		r.decideNodesSilent(silent)
	}
}

// decideNodesSilent fails the run as an infrastructure failure naming the silent nodes and the roles
// on them; the root cause is the first role on the first node.
func (r *run) decideNodesSilent(silent []silentNode) {
	var names, evidence, parts []string
	var blamed *step
	for _, n := range silent {
		onIt := r.rolesOn(n.name)
		if blamed == nil && len(onIt) > 0 {
			blamed = r.byName[onIt[0]]
		}
		heard := "last heartbeat: " + n.last.String()
		names = append(names, n.name)
		parts = append(parts, fmt.Sprintf("%s (silent for %s, running %s)", n.name, n.quiet.Round(time.Millisecond), strings.Join(onIt, ", ")))
		evidence = append(evidence, fmt.Sprintf("%s: %s: heartbeat unchanged for %s (--node-timeout %s) while %s ran on it; %s",
			verdict.RuleNodeSilent, n.name, n.quiet.Round(time.Millisecond), r.nodeTimeout(), strings.Join(onIt, ", "), heard))
	}
	reason := fmt.Sprintf("node %s went silent: its heartbeat has not changed for longer than --node-timeout %s: %s; the node is down, hung or cut off (Slurm notices only after its SlurmdTimeout)",
		slurm.CompressHostlist(names), r.nodeTimeout(), strings.Join(parts, "; "))
	f := r.failureOf(blamed, verdict.ExitInfrastructure, reason)
	f.Node, f.Ranks, f.SrunLine = silent[0].name, nil, ""
	f.Class, f.Origin, f.Evidence = verdict.ClassInfrastructure, verdict.OriginSupervisor, evidence
	r.emit(Event{Name: record.EventWarning, Role: blamed.name, Nodes: slurm.CompressHostlist(names), Code: intPtr(verdict.ExitInfrastructure), Message: reason})
	r.addBadNodes(names...)
	r.decide(record.RunFailed, verdict.ExitInfrastructure, f)
}

// rolesOn names the live steps that run the task runner on node, in the plan's order.
func (r *run) rolesOn(node string) []string {
	var names []string
	for _, s := range r.steps {
		if s.kind != kindInstall && s.alive() && !s.stopRequested && slices.Contains(s.nodes, node) {
			names = append(names, s.name)
		}
	}
	return names
}
