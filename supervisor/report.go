package supervisor

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-multierror"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
	"github.com/disagg-supervisor/disagg-supervisor/logscan"
	"github.com/disagg-supervisor/disagg-supervisor/slurm"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

// Failure is the root cause of a failed run: which role, where, what code, and the end of its log.
// It is an error so that it can head the run's list of errors.
type Failure struct {
	Role  string   `json:"role,omitempty"`
	Kind  string   `json:"kind,omitempty"`
	Nodes []string `json:"nodes,omitempty"`
	// Node and Ranks come from srun's "srun: error: NODE: task(s) RANKS: ..." line, when it printed one.
	Node     string `json:"node,omitempty"`
	Ranks    []int  `json:"ranks,omitempty"`
	Code     int    `json:"code"`
	Reason   string `json:"reason"`
	SrunLine string `json:"srun_line,omitempty"`
	Log      string `json:"log,omitempty"`
	// FirstErrors are the first error-shaped lines of this attempt's part of the log, with their
	// line numbers in the file: the tail of a crashed MPI job is mostly shutdown noise.
	FirstErrors []logscan.Line `json:"first_errors,omitempty"`
	LogTail     []string       `json:"log_tail,omitempty"`
	// Hung is set when the role was found unhealthy or hung rather than failing by itself (exit
	// code 85); Check and Answers are the liveness check it failed and its last answers.
	Hung    bool     `json:"hung,omitempty"`
	Check   string   `json:"check,omitempty"`
	Answers []string `json:"answers,omitempty"`
	// Class says what CI should make of the failure (test, infrastructure, hang, setup, cancelled,
	// invalid); Origin whose code Code is (a role's own, or the supervisor's verdict); Evidence the
	// lines that decided the class.
	Class    verdict.Class  `json:"class"`
	Origin   verdict.Origin `json:"origin"`
	Evidence []string       `json:"evidence,omitempty"`
}

// Error describes the failure in one line.
func (f *Failure) Error() string {
	return fmt.Sprintf("%s (exit code %d)", f.where(), f.Code)
}

// where names the role, node and rank of the failure, and its reason.
func (f *Failure) where() string {
	var b strings.Builder
	if f.Role != "" {
		fmt.Fprintf(&b, "role %s", f.Role)
		if f.Node != "" {
			fmt.Fprintf(&b, " on node %s", f.Node)
		} else if len(f.Nodes) > 0 {
			fmt.Fprintf(&b, " on nodes %s", slurm.CompressHostlist(f.Nodes))
		}
		if len(f.Ranks) > 0 {
			fmt.Fprintf(&b, " rank %s", slurm.CompressRanks(f.Ranks))
		}
		b.WriteString(": ")
	}
	b.WriteString(f.Reason)
	return b.String()
}

func (r *run) failureOf(s *step, code int, reason string) *Failure {
	f := &Failure{Role: s.name, Kind: string(s.kind), Nodes: s.nodes, Code: code, Reason: reason, Log: s.log}
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
func (r *run) redactFailure(f *Failure) {
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

// Summary is summary.json: the whole run at a glance, rewritten at every change so that `status` can
// show a run in progress. Its schema is documented in docs/outputs.md.
type Summary struct {
	JobID     string `json:"job_id"`
	RunToken  string `json:"run_token"`
	Workspace string `json:"workspace"`
	OutputDir string `json:"output_dir"`
	// State is running until the result is decided, then final at once (succeeded, failed,
	// interrupted), while the teardown may still go on; EndedAt is set when every step has ended.
	State           RunState      `json:"state"`
	ExitCode        *int          `json:"exit_code"`
	StartedAt       time.Time     `json:"started_at"`
	DecidedAt       *time.Time    `json:"decided_at,omitempty"`
	EndedAt         *time.Time    `json:"ended_at,omitempty"`
	DurationSeconds float64       `json:"duration_seconds"`
	Roles           []RoleSummary `json:"roles"`
	Failure         *Failure      `json:"failure,omitempty"`
	IgnoredSIGTERM  []string      `json:"ignored_sigterm,omitempty"`
	// NotSignalled are the steps still running at the grace period's end whose stop command had
	// failed: they are not said to have ignored SIGTERM, which they may never have received.
	NotSignalled []NotSignalled `json:"not_signalled,omitempty"`
	// Warnings are what did not change the result but deserves a look, e.g. a server that ended
	// with a non-zero code after the benchmark had announced its end.
	Warnings []string `json:"warnings,omitempty"`
	Errors   []string `json:"errors,omitempty"`
	// Checks are the pre-flight phase's verdicts, UCXRedFlags the red-flag lines of their logs.
	Checks      []CheckResult `json:"checks,omitempty"`
	UCXRedFlags []RedFlag     `json:"ucx_red_flags,omitempty"`
	// Ledger is where the GPU time went, by step and phase.
	Ledger *Ledger `json:"gpu_ledger,omitempty"`
	// Measurement is the window from the benchmark's launch to its end marker, and its result rules.
	Measurement *Measurement `json:"measurement,omitempty"`
	// ServerConfigs are the server configurations the benchmark runs one after another, from its
	// launch: each one's times, status, disturbances and verdict.
	ServerConfigs []ServerConfig `json:"server_configs,omitempty"`
	// BadNodes are the nodes an infrastructure failure named, also in BadNodesFile.
	BadNodes []string `json:"bad_nodes,omitempty"`
	// SlurmCalls is how many times each Slurm command ran (slurm.CallShowJob, ...), retries included,
	// and SlurmRetries how many of them were retries after the controller did not answer; absent in
	// local mode.
	SlurmCalls   map[string]int `json:"slurm_calls,omitempty"`
	SlurmRetries map[string]int `json:"slurm_retries,omitempty"`

	// Supervisor is the process that writes this summary; UpdatedAt its last write, at least every
	// HeartbeatPeriod while it runs, so that status can tell a live run from an orphaned record.
	Supervisor *SupervisorInfo `json:"supervisor,omitempty"`
	UpdatedAt  *time.Time      `json:"updated_at,omitempty"`
}

// RoleSummary is one step in summary.json.
type RoleSummary struct {
	Name       string     `json:"name"`
	Kind       string     `json:"kind"`
	Nodes      []string   `json:"nodes"`
	NTasks     int        `json:"ntasks"`
	State      StepState  `json:"state"`
	PID        int        `json:"pid,omitempty"`
	LaunchedAt *time.Time `json:"launched_at,omitempty"`
	RunningAt  *time.Time `json:"running_at,omitempty"`
	ReadyAt    *time.Time `json:"ready_at,omitempty"`
	EndedAt    *time.Time `json:"ended_at,omitempty"`
	// ExitCode is the root cause's code: the first failing task's own status when srun named one,
	// else srun's status. SrunStatus is what srun itself returned.
	ExitCode   *int   `json:"exit_code,omitempty"`
	SrunStatus *int   `json:"srun_status,omitempty"`
	Signal     string `json:"signal,omitempty"`
	Log        string `json:"log"`
	// Leftovers are the processes that outlived the role command in its tasks, which stopped them.
	Leftovers []Leftover `json:"leftovers,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func (r *run) summary() Summary {
	s := Summary{
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
		rs := RoleSummary{Name: st.name, Kind: string(st.kind), Nodes: st.nodes, NTasks: st.ntasks, State: st.state(),
			LaunchedAt: timePtr(st.launchedAt), RunningAt: timePtr(st.runningAt), ReadyAt: timePtr(st.readyAt),
			EndedAt: timePtr(st.endedAt), Signal: st.signal, Log: st.log}
		rs.PID = st.pid()
		rs.Leftovers = st.leftovers
		if st.exited {
			rs.ExitCode, rs.SrunStatus = intPtr(st.code), intPtr(st.status)
		} else if st.endedOnLine {
			// Its failing task's code decided the run; srun's own status comes when it ends.
			rs.ExitCode = intPtr(st.code)
		}
		s.Roles = append(s.Roles, rs)
	}
	s.ServerConfigs = r.configSummary(now)
	s.Ledger = r.ledger(s, now)
	fillConfigGPUSeconds(&s)
	return s
}

// writeSummary rewrites summary.json, and once the result is decided the JUnit verdict too, so
// that both follow every change.
func (r *run) writeSummary() {
	r.writeRecord(r.summary())
}

// writeRecord writes what a reader of a finished or killed run relies on: summary.json and, once
// the result is decided, the JUnit verdict.
func (r *run) writeRecord(s Summary) {
	if r.decided {
		if err := writeJUnit(r.junitPath, s); err != nil {
			r.errs = multierror.Append(r.errs, fmt.Errorf("JUnit %s: %w", r.junitPath, err))
			r.writeFailed(r.junitPath, err)
		}
	}
	if err := writeJSONFile(r.summaryPath, s); err != nil {
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
	r.emit(Event{Name: EventDone, Code: intPtr(r.code), Duration: r.endedAt.Sub(r.start),
		Message: fmt.Sprintf("every step has ended, %s after the result was decided", r.endedAt.Sub(r.decidedAt).Round(time.Millisecond))})
	console := r.cfg.Console
	if console != nil {
		if r.state == RunInterrupted {
			// As today's launcher does when Slurm ends the job: the end of every role's log, now that
			// the teardown has flushed them.
			r.writeLogTails(console)
		}
		fmt.Fprintln(console)
		writeReport(console, summary)
		fmt.Fprintln(console, resultLine(summary))
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

func resultLine(s Summary) string {
	code := 0
	if s.ExitCode != nil {
		code = *s.ExitCode
	}
	if s.Failure != nil {
		return fmt.Sprintf("result: %s, exit code %d (%s): %s", s.State, code, s.Failure.Class, s.Failure.where())
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

// writeJSONFile writes v atomically: a reader never sees half a file.
func writeJSONFile(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return coord.WriteFileAtomic(path, append(data, '\n'))
}

type junitSuites struct {
	XMLName xml.Name   `xml:"testsuites"`
	Suites  []junitSet `xml:"testsuite"`
}

type junitSet struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr,omitempty"`
	Time     float64     `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Time      float64       `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Error     *junitFailure `xml:"error,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// writeJUnit writes the supervisor's own verdict where CI collects JUnit files: one test case,
// `supervisor`, which fails whenever the job does (and, for a job of several server configurations,
// one case `supervisor[config K]` per configuration besides), so that a job that failed always leaves CI a failing
// case (a benchmark that crashed before pytest wrote its results.xml leaves none of its own). A
// failure of the test itself (class test or invalid) is a <failure>; anything that kept the job from
// producing a result (infrastructure, hang, setup, cancelled) is an <error>. The message is
// "CLASS: one-line root cause", the body the root-cause block.
func writeJUnit(path string, s Summary) error {
	class := "disagg-supervisor." + s.JobID
	c := junitCase{Name: "supervisor", ClassName: class, Time: s.DurationSeconds}
	set := junitSet{Name: "disagg-supervisor", Tests: 1, Time: s.DurationSeconds}
	if f := s.Failure; f != nil {
		var text strings.Builder
		WriteRootCause(&text, f)
		jf := &junitFailure{Message: junitText(string(f.Class)+": "+f.Error(), 1000), Type: string(f.Class),
			Text: junitText(text.String(), 64<<10)}
		if f.Class.IsFailure() {
			c.Failure = jf
			set.Failures = 1
		} else {
			c.Error = jf
			set.Errors = 1
		}
	}
	set.Cases = []junitCase{c}
	cases, failures, errs, skipped := configJUnitCases(s, class)
	set.Cases = append(set.Cases, cases...)
	set.Tests += len(cases)
	set.Failures += failures
	set.Errors += errs
	set.Skipped += skipped
	return writeJUnitFile(path, set)
}

// writeJUnitFile writes one test suite as a JUnit file, atomically.
func writeJUnitFile(path string, set junitSet) error {
	data, err := xml.MarshalIndent(junitSuites{Suites: []junitSet{set}}, "", "  ")
	if err != nil {
		return err
	}
	return coord.WriteFileAtomic(path, append([]byte(xml.Header), append(data, '\n')...))
}

// junitText bounds a text for the JUnit file. encoding/xml escapes markup and replaces bytes that XML
// cannot hold (control characters, invalid UTF-8) with U+FFFD, so any log line is safe in it.
func junitText(text string, limit int) string {
	if len(text) <= limit {
		return text
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return text[:cut] + "... (cut)"
}

// ReadSummary reads the summary.json of a run directory (finished or in progress).
func ReadSummary(dir string) (Summary, error) {
	var s Summary
	data, err := os.ReadFile(filepath.Join(dir, SummaryFile))
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("%s: %w", filepath.Join(dir, SummaryFile), err)
	}
	return s, nil
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
		fillConfigGPUSeconds(&s)
	}
	writeReport(w, s)
}

// writeReport is the body of the final report, which `status` shows again: the roles, the root
// cause, and the warnings.
func writeReport(w io.Writer, s Summary) {
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
