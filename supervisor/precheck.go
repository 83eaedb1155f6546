package supervisor

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-multierror"

	"github.com/disagg-supervisor/disagg-supervisor/logscan"
	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/roles"
	"github.com/disagg-supervisor/disagg-supervisor/slurm"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

// The pre-flight phase: the generic checks (roles.KindPreflight) run first, then the install step,
// then the cache-transceiver precheck instances (roles.KindPrecheck), all of a phase at once. No role
// is launched until every one has ended with 0. A phase's verdict waits until all its instances have
// ended, as today's gate waits for each of them, so that the report has every instance's verdict (the
// precheck aborts its peers itself when one fails); each is bounded by its timeout, and one that
// outlives it fails the run at once: it is stopped like any step and reported as hung.

// The JUnit test case names of the phases: cache_transceiver_precheck[gen_0], preflight[disk].
const (
	precheckCase  = "cache_transceiver_precheck"
	preflightCase = "preflight"
)

// maxRedFlags bounds the UCX red-flag lines a report quotes, as today's gate does.
const maxRedFlags = 20

// checkState is what the run knows of a pre-flight step besides what every step has.
type checkState struct {
	plan roles.Check
	// timedOut is set when the step was still running at its timeout.
	timedOut bool
	// result is the step's verdict, set when it has ended or timed out.
	result *record.CheckResult
	// redFlags are the UCX red-flag lines of its log.
	redFlags []record.RedFlag
}

// checkTimedOut tells the loop that a pre-flight step's timeout has passed.
type checkTimedOut struct{ name string }

func (checkTimedOut) isMessage() {}

func (s *step) isCheck() bool { return s.check != nil }

// addChecks adds the steps of a pre-flight phase.
func (r *run) addChecks(add func(*step), checks []roles.Check) {
	for _, c := range checks {
		add(&step{name: c.Name, kind: c.Kind, nodes: c.Nodes, ntasks: c.NTasks, argv: c.Srun, env: c.Env,
			log: c.Log, check: &checkState{plan: c}})
	}
}

// checksAllow is the pre-flight phase's share of the launch order: generic checks first, then the
// install step, then the precheck, and every role after all of them.
func (r *run) checksAllow(s *step) bool {
	switch {
	case s.kind == roles.KindPreflight:
		return true
	case !r.allReady(roles.KindPreflight):
		return false
	case s.kind == kindInstall:
		return true
	case s.kind == roles.KindPrecheck:
		return r.allReady(kindInstall)
	}
	return r.allReady(roles.KindPrecheck)
}

// allReady reports whether every step of a kind is ready (true when there is none).
func (r *run) allReady(kind roles.Kind) bool {
	for _, s := range r.steps {
		if s.kind == kind && !s.ready() {
			return false
		}
	}
	return true
}

// prepareChecks makes the directories of the pre-flight logs and status files. An earlier attempt's
// precheck files (a requeued job reuses its directories) were moved aside already (moveStale): a
// stale status file would give an instance a verdict it never wrote, and the precheck's own
// rendezvous and abort files would mislead its peers, as today's gate also knows.
func (r *run) prepareChecks() {
	dirs := map[string]bool{}
	for _, c := range append(append([]roles.Check{}, r.plan.Preflight...), r.plan.Precheck...) {
		dirs[filepath.Dir(c.Log)] = true
		if c.StatusFile != "" {
			dirs[filepath.Dir(c.StatusFile)] = true
		}
	}
	for dir := range dirs {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			r.errs = multierror.Append(r.errs, fmt.Errorf("make directory: %w", err))
		}
	}
}

// armCheckTimeout starts the bound of a pre-flight step that has just been launched.
func (r *run) armCheckTimeout(s *step) {
	name := s.name
	r.cfg.clock.AfterFunc(checkTimeout(s), func() { r.send(checkTimedOut{name: name}) })
}

func checkTimeout(s *step) time.Duration {
	return time.Duration(s.check.plan.TimeoutSeconds * float64(time.Second))
}

// onCheckTimeout fails the run at once when a pre-flight step is still running at its timeout: it
// hangs, so waiting longer gains nothing, and the teardown stops it like any step.
func (r *run) onCheckTimeout(m checkTimedOut) {
	s := r.byName[m.name]
	if s == nil || !s.alive() || s.check.timedOut {
		return
	}
	// Every instance past its own timeout hangs, not only the one whose timer came first: instances
	// launched together time out together, and the teardown below must not make the others' ends
	// look like mere stops before their own timers are heard.
	now := r.cfg.clock.Now()
	var hung []*step
	for _, other := range r.steps {
		if other.isCheck() && other.alive() && !other.check.timedOut && other.launched() && !now.Before(other.launchedAt.Add(checkTimeout(other))) {
			hung = append(hung, other)
		}
	}
	for _, h := range hung {
		h.check.timedOut = true
		r.emit(Event{Name: record.EventWarning, Role: h.name, Nodes: slurm.CompressHostlist(h.nodes), PID: h.pid(),
			Message: fmt.Sprintf("%s is still running after its timeout of %s: it hangs; stopping it", h.check.plan.Check, checkTimeout(h))})
		r.recordCheck(h, now)
	}
	if !r.decided {
		f := r.checkFailure(s)
		r.decide(record.RunFailed, f.Code, f)
	}
}

// recordCheck works out a pre-flight step's verdict once it has ended (or timed out), and records it:
// a check event, its UCX red flags, and the phase's JUnit file.
func (r *run) recordCheck(s *step, now time.Time) {
	c := s.check
	res := &record.CheckResult{Name: s.name, Check: c.plan.Check, Kind: string(s.kind), Log: s.log, StatusFile: c.plan.StatusFile,
		TimedOut: c.timedOut}
	if s.launched() {
		res.DurationSeconds = now.Sub(s.launchedAt).Seconds()
		if c.result != nil && c.timedOut {
			// It hung: its run time is up to the timeout, not up to the end of its teardown.
			res.DurationSeconds = c.result.DurationSeconds
		}
	}
	if s.exited() {
		res.ExitCode = intPtr(s.code)
	}
	res.Stopped = s.exited() && !c.timedOut && (s.stopRequested || s.endedBySlurm())
	res.Passed = s.exited() && s.code == 0 && !c.timedOut && !res.Stopped
	status := firstLine(c.plan.StatusFile)
	switch {
	case c.timedOut:
		res.Verdict = fmt.Sprintf("timed out after %s", checkTimeout(s))
		if status != "" {
			res.Verdict += "; its status said: " + status
		}
	case status != "":
		res.Verdict = status
	case res.Stopped:
		res.Verdict = fmt.Sprintf("stopped before it ended (exit code %d)", s.code)
	default:
		res.Verdict = fmt.Sprintf("exit code %d", s.code)
	}
	res.Verdict = r.redactor.String(res.Verdict)
	if !res.Passed {
		if lines, err := r.errorLines.ScanFile(s.log, s.logStart, firstErrorLines); err == nil {
			res.FirstErrors = lines
		}
		res.LogTail, _ = r.logTail(s)
	}
	c.result = res
	// A step that timed out is recorded again when it ends: its log only grew, so the red flags
	// found then are the first ones found now, and only the new ones make events.
	reported := len(c.redFlags)
	if flags, err := logscan.RedFlags().WithRedactor(r.redactor.String).ScanFile(s.log, s.logStart, maxRedFlags); err == nil {
		c.redFlags = c.redFlags[:0]
		for _, l := range flags {
			c.redFlags = append(c.redFlags, record.RedFlag{Log: s.log, Line: l.Number, Text: l.Text})
		}
	}

	word := "passed"
	if !res.Passed {
		word = "FAILED"
	}
	ev := Event{Name: record.EventCheck, Role: s.name, Nodes: slurm.CompressHostlist(s.nodes), Code: res.ExitCode,
		Duration: time.Duration(res.DurationSeconds * float64(time.Second)),
		Message:  fmt.Sprintf("%s %s: %s", c.plan.Check, word, res.Verdict)}
	if len(res.FirstErrors) > 0 {
		ev.Message += fmt.Sprintf("; first error at line %d: %s", res.FirstErrors[0].Number, res.FirstErrors[0].Text)
	}
	r.emit(ev)
	for _, f := range c.redFlags[min(reported, len(c.redFlags)):] {
		r.emit(Event{Name: record.EventWarning, Role: s.name, Message: fmt.Sprintf("UCX red flag in %s:%d: %s", f.Log, f.Line, f.Text)})
	}
	r.writeCheckJUnit(s.kind)
}

// onCheckEnd carries the phase on once a pre-flight step has ended by itself: a passing step is
// ready; once every step of its phase has ended, the phase has passed (what waits on it is launched)
// or failed (exit code 5, with the first failing step as the root cause).
func (r *run) onCheckEnd(s *step, now time.Time) {
	if s.check.result != nil && s.check.result.Passed {
		s.readyAt = now
	}
	var first *step
	for _, o := range r.steps {
		if o.kind != s.kind {
			continue
		}
		if !o.exited() {
			return // the phase's verdict waits for every instance
		}
		if !o.ready() && (first == nil || o.endedAt.Before(first.endedAt)) {
			first = o
		}
	}
	switch {
	case first == nil:
		r.skipIfNotApplicable(s.kind)
		r.launchWhatIsDue()
	case r.canAskSlurm():
		// As for any step: on a cluster, Slurm's own cancellation of the job can look like a failure.
		r.hold(first)
	default:
		f := r.checkFailure(first)
		r.decide(record.RunFailed, f.Code, f)
	}
}

// notApplicable is the verdict of each instance of a phase that was not applicable.
const notApplicable = "skipped: not applicable (no instance wrote a status file)"

// skipIfNotApplicable marks a passed precheck phase skipped when no instance wrote a status file: the
// check had nothing to check in this config, which is not a pass. A phase where some instances wrote
// one keeps every instance's own verdict (an instance without one shows its exit code).
func (r *run) skipIfNotApplicable(kind roles.Kind) {
	var phase []*step
	for _, o := range r.steps {
		if o.kind != kind {
			continue
		}
		if o.check.plan.StatusFile == "" || firstLine(o.check.plan.StatusFile) != "" || o.check.result == nil || !o.check.result.Passed {
			return
		}
		phase = append(phase, o)
	}
	if len(phase) == 0 {
		return
	}
	for _, o := range phase {
		o.check.result.Skipped, o.check.result.Verdict = true, notApplicable
	}
	r.emit(Event{Name: record.EventCheck, Message: fmt.Sprintf("%s phase skipped: not applicable for this config (no instance wrote a status file)", kind)})
	r.writeCheckJUnit(kind)
}

// checkFailure is the root cause a failed pre-flight step makes: exit code 5.
func (r *run) checkFailure(s *step) *record.Failure {
	if s.check.result == nil {
		r.recordCheck(s, r.cfg.clock.Now())
	}
	res := s.check.result
	what := "pre-flight check " + res.Check
	if s.kind == roles.KindPrecheck {
		what = "cache-transceiver precheck " + res.Check
	}
	reason := fmt.Sprintf("%s failed: %s", what, res.Verdict)
	if res.TimedOut {
		reason = fmt.Sprintf("%s hangs: %s; it was stopped", what, res.Verdict)
	}
	return r.failureOf(s, verdict.ExitPreflight, reason+"; no role was launched")
}

// checkSummary is the pre-flight phase's part of the summary: every step's verdict so far, and the
// UCX red flags of their logs, each text once.
func (r *run) checkSummary() ([]record.CheckResult, []record.RedFlag) {
	var results []record.CheckResult
	var flags []record.RedFlag
	seen := map[string]bool{}
	for _, s := range r.steps {
		if !s.isCheck() {
			continue
		}
		res := record.CheckResult{Name: s.name, Check: s.check.plan.Check, Kind: string(s.kind), Log: s.log,
			StatusFile: s.check.plan.StatusFile}
		switch {
		case s.check.result != nil:
			res = *s.check.result
		case s.alive() && s.stopRequested:
			res.Verdict = "stopping"
		case s.alive():
			res.Verdict = "running"
		default:
			res.Verdict = "not run"
		}
		results = append(results, res)
		for _, f := range s.check.redFlags {
			if !seen[f.Text] && len(flags) < maxRedFlags {
				seen[f.Text] = true
				flags = append(flags, f)
			}
		}
	}
	return results, flags
}

// firstLine is the first line of a file (at most its first 4 KiB), trimmed; empty when there is no
// file.
func firstLine(path string) string {
	if path == "" {
		return ""
	}
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	buf := make([]byte, 4096)
	n, _ := io.ReadFull(f, buf)
	line, _, _ := strings.Cut(string(buf[:n]), "\n")
	return strings.TrimSpace(line)
}

// writeCheckJUnit writes the JUnit file of one pre-flight phase (record.WriteChecksJUnit).
func (r *run) writeCheckJUnit(kind roles.Kind) {
	file, caseName := record.PreflightJUnitFile, preflightCase
	if kind == roles.KindPrecheck {
		file, caseName = record.PrecheckJUnitFile, precheckCase
	}
	results, _ := r.checkSummary()
	var mine []record.CheckResult
	for _, res := range results {
		if res.Kind == string(kind) {
			mine = append(mine, res)
		}
	}
	if err := record.WriteChecksJUnit(filepath.Join(r.plan.Workspace, file), r.plan.JobID, caseName, mine); err != nil {
		r.errs = multierror.Append(r.errs, fmt.Errorf("JUnit %s: %w", file, err))
	}
}
