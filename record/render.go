package record

import (
	"cmp"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/slurm"
)

// writeConfigs prints the server configurations after the roles table, when the job has several.
func writeConfigs(w io.Writer, s Summary) {
	if len(s.ServerConfigs) < 2 {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CONFIG\tSTARTED\tENDED\tDURATION\tSTATUS\tVERDICT")
	for _, c := range s.ServerConfigs {
		duration, status := "-", cmp.Or(c.Status, "-")
		if c.StartedAt != nil {
			duration = fmt.Sprintf("%.2fs", c.DurationSeconds)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", c.Index, sinceStart(s.StartedAt, c.StartedAt),
			sinceStart(s.StartedAt, c.EndedAt), duration, status, c.Verdict)
	}
	tw.Flush()
	for _, c := range s.ServerConfigs {
		if c.Reason != "" && c.Verdict != ConfigCompleted {
			fmt.Fprintf(w, "  config %d: %s\n", c.Index, c.Reason)
		}
	}
}

// configInProgress names the configuration in progress, for status; "" when there is none.
func configInProgress(s Summary) string {
	for _, c := range s.ServerConfigs {
		if c.Verdict == ConfigRunning {
			return fmt.Sprintf("server configuration %d of %d in progress", c.Index, len(s.ServerConfigs))
		}
	}
	return ""
}

// configDetail is a configuration's JUnit body: its times, status and disturbances.
func configDetail(c ServerConfig) string {
	var b strings.Builder
	fmt.Fprintf(&b, "server configuration %d: %s (%.2fs)\n", c.Index, c.Verdict, c.DurationSeconds)
	if c.StatusFile != "" {
		fmt.Fprintf(&b, "status file %s: %q\n", c.StatusFile, c.Status)
	}
	if c.Reason != "" {
		fmt.Fprintf(&b, "reason: %s\n", c.Reason)
	}
	for _, d := range c.Disturbances {
		fmt.Fprintf(&b, "disturbance: %s\n", d)
	}
	return b.String()
}

// writeMeasurement prints the measurement window after the roles table.
func writeMeasurement(w io.Writer, start time.Time, m *Measurement) {
	if m == nil {
		return
	}
	fmt.Fprintf(w, "\nMEASUREMENT  %s from %s", m.Role, sinceStart(start, &m.StartedAt))
	if m.EndedAt != nil {
		fmt.Fprintf(w, " to %s (%.2fs), ended by %s", sinceStart(start, m.EndedAt), m.DurationSeconds, m.EndedBy)
	}
	fmt.Fprintln(w)
	if m.Status != "" {
		fmt.Fprintf(w, "  status:  %q\n", m.Status)
	}
	if len(m.Disturbances) == 0 {
		fmt.Fprintln(w, "  disturbances: none")
	}
	for _, d := range m.Disturbances {
		fmt.Fprintf(w, "  disturbance: %s\n", d)
	}
	for _, rule := range m.Rules {
		verdict := "passed"
		if !rule.Passed {
			verdict = "FAILED"
		}
		fmt.Fprintf(w, "  rule:    %s %s", rule.Rule, verdict)
		if rule.Line != "" {
			fmt.Fprintf(w, " (%s)", rule.Line)
		}
		fmt.Fprintln(w)
	}
	if m.Valid != nil && !*m.Valid {
		fmt.Fprintln(w, "  result:  INVALID")
	}
}

// writeChecks prints the pre-flight phase of a summary: each step's verdict, the first errors and
// tail of each failed step's log, and the UCX red flags.
func writeChecks(w io.Writer, s Summary) {
	if len(s.Checks) == 0 {
		return
	}
	fmt.Fprintln(w, "\nPRE-FLIGHT")
	for _, c := range s.Checks {
		word := "passed"
		switch {
		case c.Skipped:
			word = "skipped"
		case c.Stopped:
			word = "stopped"
		case c.ExitCode == nil && !c.TimedOut:
			word = "-"
		case !c.Passed:
			word = "FAILED"
		}
		fmt.Fprintf(w, "  %-18s %-8s %-6s %s\n", c.Name, c.Check, word, c.Verdict)
	}
	for _, c := range s.Checks {
		if c.Passed || c.Stopped || (c.ExitCode == nil && !c.TimedOut) {
			continue
		}
		if s.Failure != nil && s.Failure.Role == c.Name {
			// The root cause below shows its errors and tail.
			fmt.Fprintf(w, "  --- %s (%s): see the root cause\n", c.Name, c.Check)
			continue
		}
		fmt.Fprintf(w, "  --- %s (%s)\n", c.Name, c.Check)
		writeCheckDetail(w, c)
	}
	if len(s.UCXRedFlags) > 0 {
		fmt.Fprintln(w, "  UCX red flags:")
		for _, f := range s.UCXRedFlags {
			fmt.Fprintf(w, "    %s:%d: %s\n", f.Log, f.Line, f.Text)
		}
	}
}

// writeCheckDetail prints a failed step's verdict, first error lines and log tail.
func writeCheckDetail(w io.Writer, c CheckResult) {
	fmt.Fprintf(w, "  verdict: %s\n", c.Verdict)
	if len(c.FirstErrors) > 0 {
		fmt.Fprintf(w, "  first errors in the log:\n")
		for _, line := range c.FirstErrors {
			fmt.Fprintf(w, "    %6d: %s\n", line.Number, line.Text)
		}
	}
	fmt.Fprintf(w, "  log:     %s (last %d lines)\n", c.Log, len(c.LogTail))
	for _, line := range c.LogTail {
		fmt.Fprintf(w, "    | %s\n", line)
	}
}

func ResultLine(s Summary) string {
	code := 0
	if s.ExitCode != nil {
		code = *s.ExitCode
	}
	if s.Failure != nil {
		return fmt.Sprintf("result: %s, exit code %d (%s): %s", s.State, code, s.Failure.Class, s.Failure.Where())
	}
	return fmt.Sprintf("result: %s, exit code %d", s.State, code)
}

// WriteTable prints the roles of a summary as a table.
func WriteTable(w io.Writer, s Summary) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ROLE\tNODES\tTASKS\tSTATE\tEXIT\tREADY\tENDED\tLOG")
	for _, role := range s.Roles {
		exit := "-"
		if role.ExitCode != nil {
			exit = fmt.Sprint(*role.ExitCode)
			if role.SrunStatus != nil && *role.SrunStatus != *role.ExitCode {
				exit += fmt.Sprintf(" (srun %d)", *role.SrunStatus)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", role.Name, slurm.CompressHostlist(role.Nodes), role.NTasks,
			role.State, exit, sinceStart(s.StartedAt, role.ReadyAt), sinceStart(s.StartedAt, role.EndedAt), role.Log)
	}
	tw.Flush()
}

func sinceStart(start time.Time, t *time.Time) string {
	if t == nil {
		return "-"
	}
	return fmt.Sprintf("+%.2fs", t.Sub(start).Seconds())
}

// WriteRootCause prints the root-cause block: role, node, rank, code and the tail of its log.
func WriteRootCause(w io.Writer, f *Failure) {
	fmt.Fprintln(w, "\nROOT CAUSE")
	if f.Role != "" {
		fmt.Fprintf(w, "  role:   %s (%s)\n", f.Role, f.Kind)
		node := f.Node
		if node == "" {
			node = slurm.CompressHostlist(f.Nodes)
		}
		fmt.Fprintf(w, "  node:   %s\n", node)
		if len(f.Ranks) > 0 {
			fmt.Fprintf(w, "  rank:   %s\n", slurm.CompressRanks(f.Ranks))
		}
	}
	fmt.Fprintf(w, "  code:   %d\n", f.Code)
	if f.Class != "" {
		fmt.Fprintf(w, "  class:  %s (exit code from the %s)\n", f.Class, f.Origin)
	}
	fmt.Fprintf(w, "  reason: %s\n", f.Reason)
	for _, line := range f.Evidence {
		fmt.Fprintf(w, "  evidence: %s\n", line)
	}
	if f.SrunLine != "" {
		fmt.Fprintf(w, "  srun:   %s\n", f.SrunLine)
	}
	if f.Check != "" {
		fmt.Fprintf(w, "  check:  %s\n", f.Check)
		for _, answer := range f.Answers {
			fmt.Fprintf(w, "    answer %s\n", answer)
		}
	}
	if len(f.FirstErrors) > 0 {
		fmt.Fprintf(w, "  first errors in the log:\n")
		for _, line := range f.FirstErrors {
			fmt.Fprintf(w, "    %6d: %s\n", line.Number, line.Text)
		}
	}
	if f.Log != "" {
		fmt.Fprintf(w, "  log:    %s (last %d lines)\n", f.Log, len(f.LogTail))
		for _, line := range f.LogTail {
			fmt.Fprintf(w, "    | %s\n", line)
		}
	}
	fmt.Fprintln(w)
}

// WriteStatus renders a run directory's summary as the run's own final report looks.
func WriteStatus(w io.Writer, s Summary) {
	fmt.Fprintf(w, "job %s, run token %s, state %s", s.JobID, s.RunToken, s.State)
	if s.ExitCode != nil {
		fmt.Fprintf(w, ", exit code %d", *s.ExitCode)
	}
	elapsed := s.DurationSeconds
	if s.EndedAt == nil {
		// In progress: the summary was written at the last change, not now.
		elapsed = time.Since(s.StartedAt).Seconds()
	}
	fmt.Fprintf(w, ", %.1fs", elapsed)
	if now := configInProgress(s); now != "" && s.DecidedAt == nil {
		fmt.Fprintf(w, ", %s", now)
	}
	if s.DecidedAt != nil && s.EndedAt == nil {
		// Decided, but the record was last written during the teardown: still going, or the
		// supervisor was killed before it could finish.
		fmt.Fprint(w, " (teardown not finished)")
	}
	fmt.Fprint(w, "\n\n")
	if s.EndedAt == nil && s.Ledger != nil {
		// The ledger up to now, not to the last change.
		l := ComputeLedger(s, time.Now())
		s.Ledger = &l
		FillConfigGPUSeconds(&s)
	}
	WriteReport(w, s)
}

// writeReport is the body of the final report, which `status` shows again: the roles, the root
// cause, and the warnings.
func WriteReport(w io.Writer, s Summary) {
	WriteTable(w, s)
	writeConfigs(w, s)
	writeMeasurement(w, s.StartedAt, s.Measurement)
	writeChecks(w, s)
	if s.Ledger != nil {
		WriteLedger(w, *s.Ledger)
	}
	if s.Failure != nil {
		WriteRootCause(w, s.Failure)
	}
	if len(s.BadNodes) > 0 {
		fmt.Fprintf(w, "bad nodes: %s (retry as a fresh job with sbatch --exclude=%s)\n", strings.Join(s.BadNodes, " "), slurm.CompressHostlist(s.BadNodes))
	}
	for _, name := range s.IgnoredSIGTERM {
		fmt.Fprintf(w, "warning: %s ignored SIGTERM and was killed after the grace period\n", name)
	}
	for _, n := range s.NotSignalled {
		fmt.Fprintf(w, "warning: %s could not be signalled (%s) and was killed after the grace period\n", n.Role, n.Error)
	}
	for _, warning := range s.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warning)
	}
}
