package supervisor

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hashicorp/go-multierror"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
	"github.com/disagg-supervisor/disagg-supervisor/record"
)

func (r *run) failureOf(s *step, code int, reason string) *record.Failure {
	f := &record.Failure{Role: s.name, Kind: string(s.kind), Nodes: s.nodes, Code: code, Reason: reason, Log: s.log}
	if tf := s.taskFailure; tf != nil {
		f.Node, f.Ranks, f.SrunLine = tf.Node, tf.Ranks, r.redactor.String(strings.TrimSpace(tf.Line))
	}
	if node, rank, detail, ok := r.installFailure(); ok {
		// Ranks of other nodes leave the install barrier with the installer's code and may be the
		// first srun reports; the node whose install failed, and its installer, are the root cause.
		f.Node, f.Ranks, f.SrunLine = node, rank, ""
		f.Reason = fmt.Sprintf("the per-node install failed on %s (%s); %s", node, detail, reason)
	}
	if lines, err := r.errorLines.ScanFile(s.log, s.logStart, firstErrorLines); err == nil {
		f.FirstErrors = lines
	}
	f.LogTail, _ = r.logTail(s)
	return f
}

// redactFailure masks secrets in what f quotes from outside the supervisor (an error, a liveness check's
// target and answers), before the failure is written anywhere; its log lines were masked as they were
// read.
func (r *run) redactFailure(f *record.Failure) {
	f.Reason = r.redactor.String(f.Reason)
	f.SrunLine = r.redactor.String(f.SrunLine)
	f.Check = r.redactor.String(f.Check)
	if f.Answers != nil {
		// A copy: the slice came from the liveness check's goroutine.
		answers := make([]string, len(f.Answers))
		for i, a := range f.Answers {
			answers[i] = r.redactor.String(a)
		}
		f.Answers = answers
	}
}

// logTail is the last TailLines lines of this attempt's part of a step's log, secrets masked.
func (r *run) logTail(s *step) ([]string, error) {
	tail, err := readTail(s.log, s.logStart, 64<<10)
	if err != nil {
		return nil, err
	}
	lines := lastLines(tail, r.cfg.TailLines)
	for i, line := range lines {
		lines[i] = r.redactor.String(line)
	}
	return lines, nil
}

// installFailure finds a failed per-node install among the task runners' coordination files: the
// first node's, with its installer when the lock names it.
func (r *run) installFailure() (node string, rank []int, detail string, ok bool) {
	failed, _ := coord.Dir(r.plan.CoordDir).FailedInstalls()
	if len(failed) == 0 {
		return "", nil, "", false
	}
	f := failed[0]
	detail = fmt.Sprintf("exit code %d", f.Code)
	if f.InstallerKnown {
		detail += fmt.Sprintf(", role %s, rank %d", f.Installer.Role, f.Installer.Rank)
		rank = []int{f.Installer.Rank}
	}
	return f.Node, rank, detail, true
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func (r *run) summary() record.Summary {
	s := record.Summary{
		JobID: r.plan.JobID, RunToken: r.plan.RunToken, Workspace: r.plan.Workspace, OutputDir: r.plan.OutputDir,
		State: r.state, StartedAt: r.start.UTC(), Failure: r.failure, IgnoredSIGTERM: r.ignoredSIGTERM,
		Warnings: r.warnings, BadNodes: r.badNodes, Measurement: r.measure, NotSignalled: r.notSignalledSteps(),
	}
	s.Checks, s.UCXRedFlags = r.checkSummary()
	if r.cfg.Slurm != nil {
		s.SlurmCalls, s.SlurmRetries = r.cfg.Slurm.Calls(), r.cfg.Slurm.Retries()
	}
	now := r.cfg.clock.Now()
	s.Supervisor, s.UpdatedAt = &r.claim.self, timePtr(now)
	s.DurationSeconds = now.Sub(r.start).Seconds()
	if r.decided {
		s.DecidedAt = timePtr(r.decidedAt)
		s.ExitCode = intPtr(r.code)
		if merr, ok := r.errs.ErrorOrNil().(*multierror.Error); ok {
			for _, err := range merr.Errors {
				s.Errors = append(s.Errors, r.redactor.String(err.Error()))
			}
		}
	}
	if !r.endedAt.IsZero() {
		s.EndedAt = timePtr(r.endedAt)
		s.DurationSeconds = r.endedAt.Sub(r.start).Seconds()
	}
	for _, st := range r.steps {
		rs := record.RoleSummary{Name: st.name, Kind: string(st.kind), Nodes: st.nodes, NTasks: st.ntasks, State: st.state(),
			LaunchedAt: timePtr(st.launchedAt), RunningAt: timePtr(st.runningAt), ReadyAt: timePtr(st.readyAt),
			EndedAt: timePtr(st.endedAt), Signal: st.signal, Log: st.log}
		rs.PID = st.pid()
		rs.Leftovers = st.leftovers
		if st.exited() {
			rs.ExitCode, rs.SrunStatus = intPtr(st.code), intPtr(st.status)
		} else if st.endedOnLine {
			// Its failing task's code decided the run; srun's own status comes when it ends.
			rs.ExitCode = intPtr(st.code)
		}
		s.Roles = append(s.Roles, rs)
	}
	s.ServerConfigs = r.configSummary(now)
	s.Ledger = r.ledger(s, now)
	record.FillConfigGPUSeconds(&s)
	return s
}

// writeSummary rewrites summary.json, and once the result is decided the JUnit verdict too, so
// that both follow every change.
func (r *run) writeSummary() {
	r.writeRecord(r.summary())
}

// writeRecord writes what a reader of a finished or killed run relies on: summary.json and, once
// the result is decided, the JUnit verdict.
func (r *run) writeRecord(s record.Summary) {
	if r.decided {
		if err := record.WriteJUnit(r.junitPath, s); err != nil {
			r.errs = multierror.Append(r.errs, fmt.Errorf("JUnit %s: %w", r.junitPath, err))
			r.writeFailed(r.junitPath, err)
		}
	}
	if err := record.WriteJSONFile(r.summaryPath, s); err != nil {
		r.errs = multierror.Append(r.errs, err)
		r.writeFailed(r.summaryPath, err)
	}
}

// finishRun completes the record once every step has ended and prints the final report.
func (r *run) finishRun() Result {
	r.refineCancellation()
	r.endedAt = r.cfg.clock.Now()
	summary := r.summary()
	r.writeRecord(summary)
	r.emit(Event{Name: record.EventDone, Code: intPtr(r.code), Duration: r.endedAt.Sub(r.start),
		Message: fmt.Sprintf("every step has ended, %s after the result was decided", r.endedAt.Sub(r.decidedAt).Round(time.Millisecond))})
	console := r.cfg.Console
	if console != nil {
		if r.state == record.RunInterrupted {
			// As today's launcher does when Slurm ends the job: the end of every role's log, now that
			// the teardown has flushed them.
			r.writeLogTails(console)
		}
		fmt.Fprintln(console)
		record.WriteReport(console, summary)
		fmt.Fprintln(console, record.ResultLine(summary))
	}
	return Result{Code: r.code}
}

// writeLogTails prints the last lines of this attempt's part of every launched step's log.
func (r *run) writeLogTails(w io.Writer) {
	for _, s := range r.steps {
		if !s.launched() {
			continue
		}
		lines, err := r.logTail(s)
		if err != nil {
			continue
		}
		fmt.Fprintf(w, "\n--- %s: last %d lines of %s\n", s.name, len(lines), s.log)
		for _, line := range lines {
			fmt.Fprintf(w, "    | %s\n", line)
		}
	}
}
