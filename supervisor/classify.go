package supervisor

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
	"github.com/disagg-supervisor/disagg-supervisor/logscan"
	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/roles"
	"github.com/disagg-supervisor/disagg-supervisor/slurm"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

// evidenceScanBytes bounds how much of a failed step's log is searched for infrastructure evidence:
// Slurm's and the driver's lines come at the failure, near the end of this attempt's part.
const evidenceScanBytes = 4 << 20

// classify gives a failure its class, origin and evidence, and returns the run's exit code: a role's
// failure whose log shows that the cluster failed becomes an infrastructure failure (87) naming its
// nodes, whatever the role's own code was. A failure that already has a class keeps it.
func (r *run) classify(state record.RunState, code int, f *record.Failure) int {
	if f == nil {
		return code
	}
	if f.Class != "" {
		return code
	}
	if state == record.RunInterrupted {
		f.Class, f.Origin = verdict.ClassCancelled, verdict.OriginSupervisor
		return code
	}
	s := r.byName[f.Role]
	if s == nil {
		// The supervisor's own failure (its binary, its workspace).
		f.Class, f.Origin = verdict.ClassOf(code), verdict.OriginSupervisor
		return code
	}
	if evidence, nodes := r.infrastructureEvidence(s, f); len(evidence) > 0 {
		r.toInfrastructure(f, code, evidence, nodes)
		return verdict.ExitInfrastructure
	}
	if full := r.fullFileSystems(); len(full) > 0 && (s.exited() || s.endedOnLine) {
		// srun writes the role logs itself: a full file system shows only here, and cuts them.
		r.toInfrastructure(f, code, full, nil)
		f.Reason += "; the logs may be cut: no space left"
		return verdict.ExitInfrastructure
	}
	if s.kind == roles.KindPreflight && code == verdict.ExitPreflight && f.Node != "" && s.check != nil && !s.check.timedOut && !s.stopRequested {
		// A pre-flight check tests the node it runs on: its failure, on the node srun names, is the node's.
		nodes := []string{f.Node}
		r.toInfrastructure(f, code, []string{fmt.Sprintf("%s: --preflight check %s failed on %s", verdict.RulePreflight,
			s.name, slurm.CompressHostlist(nodes))}, nodes)
		return verdict.ExitInfrastructure
	}
	switch {
	case s.check != nil && s.check.timedOut:
		f.Class, f.Origin = verdict.ClassHang, verdict.OriginSupervisor
	case s.kind == kindInstall || r.installFailed():
		// The install's own code, wherever the ranks waiting for it reported it.
		f.Class, f.Origin = verdict.ClassSetup, verdict.OriginRole
	case code == s.code && verdict.InBand(code) && r.taskErrorFirst(s, f):
		// The per-rank runner's own verdict (setup, empty command, a wait that ran out).
		f.Class, f.Origin = verdict.ClassOf(code), verdict.OriginSupervisor
	case code == s.code && (s.exited() || s.endedOnLine):
		f.Class, f.Origin = verdict.ClassTest, verdict.OriginRole
	default:
		f.Class, f.Origin = verdict.ClassOf(code), verdict.OriginSupervisor
	}
	return code
}

// toInfrastructure makes f an infrastructure failure: the role's own code stays in the reason.
func (r *run) toInfrastructure(f *record.Failure, code int, evidence, nodes []string) {
	f.Class, f.Origin = verdict.ClassInfrastructure, verdict.OriginSupervisor
	f.Evidence = evidence
	f.Reason = fmt.Sprintf("infrastructure failure (the role's own code was %d): %s", code, f.Reason)
	f.Code = verdict.ExitInfrastructure
	r.addBadNodes(nodes...)
}

// infrastructureEvidence searches the failed step's output for the lines by which Slurm, the driver
// or the kernel say that the cluster failed (see package verdict), and returns them with the nodes they
// name (for a GPU or a start that failed, the failing task's node).
func (r *run) infrastructureEvidence(s *step, f *record.Failure) (evidence, nodes []string) {
	text, err := readTail(s.log, s.logStart, evidenceScanBytes)
	if err != nil {
		return nil, nil
	}
	dirs := []string{r.plan.Workspace, r.plan.OutputDir}
	notStarted := r.ranksNotStarted(s, f)
	for line := range strings.Lines(text) {
		ev, ok := verdict.InfrastructureLine(line)
		if !ok {
			ev, ok = verdict.NoSpaceLine(line, dirs...)
		}
		if !ok && notStarted {
			ev, ok = verdict.PMIStartLine(line)
		}
		if !ok {
			continue
		}
		entry := ev.Rule + ": " + r.redactor.String(ev.Line)
		if !slices.Contains(evidence, entry) {
			evidence = append(evidence, entry)
		}
		switch {
		case ev.Node != "":
			nodes = append(nodes, ev.Node)
		case ev.Rule == verdict.RuleGPUHardware || ev.Rule == verdict.RulePMIStart:
			// The failing task's node, when srun named it: its GPU or its start failed there. A
			// launch or step creation that failed names no node of its own, nor does a full disk.
			if f.Node != "" {
				nodes = append(nodes, f.Node)
			}
		}
		if len(evidence) >= firstErrorLines {
			break
		}
	}
	return evidence, nodes
}

// ranksNotStarted reports whether a failing rank of s never started its command: the task runner
// writes its start marker just before it starts the command, so a rank without one failed in its
// start (PMIx, PMI, MPI), not in the test.
func (r *run) ranksNotStarted(s *step, f *record.Failure) bool {
	if s.kind == kindInstall || r.plan.CoordDir == "" || len(f.Ranks) == 0 {
		return false
	}
	started, err := coord.Ranks(coord.Dir(r.plan.CoordDir).StartedDir(s.name))
	if err != nil {
		return true // no rank of the step started at all
	}
	for _, rank := range f.Ranks {
		if !slices.Contains(started, rank) {
			return true
		}
	}
	return false
}

// taskErrorFirst reports whether the step's log holds the per-rank runner's own failure line, and puts
// it first among the failure's first errors: it is the cause, srun's "Exited with exit code" its echo.
func (r *run) taskErrorFirst(s *step, f *record.Failure) bool {
	i := slices.IndexFunc(f.FirstErrors, func(l logscan.Line) bool { return l.Pattern == logscan.TaskErrorName })
	if i < 0 {
		return false
	}
	line := f.FirstErrors[i]
	f.FirstErrors = append([]logscan.Line{line}, slices.Delete(f.FirstErrors, i, i+1)...)
	f.Evidence = []string{line.Text}
	f.Reason = fmt.Sprintf("%s (the per-rank runner: %s)", f.Reason, strings.TrimPrefix(strings.TrimSpace(line.Text), strings.TrimSpace(logscan.TaskErrorPrefix)+" "))
	return true
}

// addBadNodes records nodes that failed, once each, in the summary and in BadNodesFile.
func (r *run) addBadNodes(nodes ...string) {
	changed := false
	for _, n := range nodes {
		if n != "" && !slices.Contains(r.badNodes, n) {
			r.badNodes = append(r.badNodes, n)
			changed = true
		}
	}
	if !changed {
		return
	}
	slices.Sort(r.badNodes)
	data := strings.Join(r.badNodes, "\n") + "\n"
	if err := coord.WriteFileAtomic(filepath.Join(r.plan.Workspace, record.BadNodesFile), []byte(data)); err != nil {
		r.warn("", fmt.Sprintf("cannot write %s: %v", record.BadNodesFile, err))
	}
}

// cancellation is the root cause of a run that Slurm ended: who ended it, when Slurm says, and the
// lines that say so; never a role, which only received the cancellation.
func (r *run) cancellation(code int, st slurm.JobStatus, why string) *record.Failure {
	line := r.cancelledLine()
	who := verdict.Canceller(line, st.State, st.Reason)
	reason := "Slurm is ending the job"
	if who != "" {
		reason += " (" + who + ")"
	}
	if why != "" {
		reason += ": " + why
	}
	f := &record.Failure{Code: code, Reason: reason, Class: verdict.ClassCancelled, Origin: verdict.OriginSupervisor}
	if st.State != "" {
		f.Evidence = append(f.Evidence, fmt.Sprintf("scontrol: JobState=%s Reason=%s", st.State, cmpOrNone(st.Reason)))
	}
	if line != "" {
		f.Evidence = append(f.Evidence, r.redactor.String(line))
	}
	return f
}

func cmpOrNone(s string) string {
	if s == "" {
		return "None"
	}
	return s
}

// cancelledLine is the first slurmstepd CANCELLED line of any step's log: the one that says why,
// when Slurm gives a reason. A step the teardown stopped has the line too when Slurm cancelled the
// job meanwhile, though its end was not taken for a cancellation.
func (r *run) cancelledLine() string {
	first := ""
	for _, s := range r.steps {
		line := s.cancelledBySlurm
		if line == "" && s.exited() {
			line = findCancelLine(s.log, s.logStart)
		}
		if line == "" {
			continue
		}
		if slurm.CancelHasReason(line) {
			return line
		}
		if first == "" {
			first = line
		}
	}
	return first
}

// nodeFailure turns a run that Slurm is ending into an infrastructure failure, when Slurm's job state
// or the steps' output says a node failed; it names the nodes that srun or sinfo say are gone.
func (r *run) nodeFailure(st slurm.JobStatus) bool {
	var evidence, nodes []string
	if verdict.JobNodeFailed(st.State, st.Reason) {
		evidence = append(evidence, fmt.Sprintf("%s: scontrol: JobState=%s Reason=%s", verdict.RuleJobNodeFail, st.State, cmpOrNone(st.Reason)))
	}
	seen := map[string]bool{}
	for _, s := range r.steps {
		if !s.launched() {
			continue
		}
		text, err := readTail(s.log, s.logStart, evidenceScanBytes)
		if err != nil {
			continue
		}
		for line := range strings.Lines(text) {
			ev, ok := verdict.InfrastructureLine(line)
			if !ok || (ev.Rule != verdict.RuleNodeFailure && ev.Rule != verdict.RuleNodeFailStep) {
				continue
			}
			// One line of each rule and node says it: every step's slurmstepd writes the same notice.
			key := ev.Rule + " " + ev.Node
			if !seen[key] {
				seen[key] = true
				evidence = append(evidence, ev.Rule+": "+r.redactor.String(ev.Line))
			}
			if ev.Node != "" {
				nodes = append(nodes, ev.Node)
			}
		}
	}
	if len(evidence) == 0 {
		return false
	}
	if r.cfg.NodeStates != nil {
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.CancelHold)
		states, err := r.cfg.NodeStates(ctx, r.plan.Nodes)
		cancel()
		for _, n := range r.plan.Nodes {
			if err == nil && slurm.NodeFailed(states[n]) {
				nodes = append(nodes, n)
				evidence = append(evidence, fmt.Sprintf("sinfo: %s %s", n, states[n]))
			}
		}
	}
	f := r.failure
	if f == nil {
		f = &record.Failure{}
		r.failure = f
	}
	f.Class, f.Origin, f.Evidence = verdict.ClassInfrastructure, verdict.OriginSupervisor, evidence
	f.Code = verdict.ExitInfrastructure
	f.Reason = "a node failed: Slurm is ending the job"
	if len(nodes) > 0 {
		f.Node = ""
		f.Nodes = nil
		f.Reason += " because of " + slurm.CompressHostlist(uniqueSorted(nodes))
	}
	r.state = record.RunFailed
	r.code = verdict.ExitInfrastructure
	r.addBadNodes(nodes...)
	return true
}

func uniqueSorted(list []string) []string {
	out := slices.Clone(list)
	slices.Sort(out)
	return slices.Compact(out)
}

// installFailed reports whether a per-node install failed in this attempt.
func (r *run) installFailed() bool {
	_, _, _, ok := r.installFailure()
	return ok
}
