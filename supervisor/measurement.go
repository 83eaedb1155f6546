package supervisor

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

// ResultRule is a --result-require or --result-reject rule: a pattern the benchmark's output must
// contain, or must not.
type ResultRule struct {
	Require bool
	Pattern *regexp.Regexp
}

// String is the rule as given on the command line.
func (rr ResultRule) String() string {
	if rr.Require {
		return "--result-require " + rr.Pattern.String()
	}
	return "--result-reject " + rr.Pattern.String()
}

// Measurement is summary.json's "measurement": the window from the benchmark's launch to its end
// marker (or its end), what disturbed it, and whether its result holds. An aggregated test's SERVER
// stands for the benchmark.
type Measurement struct {
	Role      string     `json:"role"`
	StartedAt time.Time  `json:"started_at"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
	// EndedBy says what closed the window: "end marker PATH", "the benchmark's end", "the decision".
	EndedBy         string  `json:"ended_by,omitempty"`
	DurationSeconds float64 `json:"duration_seconds"`
	// StatusFile and Status are the first end marker and its first line ("Done"; newer harnesses
	// "SUCCESS" or "FAILED").
	StatusFile string `json:"status_file,omitempty"`
	Status     string `json:"status,omitempty"`
	// Disturbances are what happened inside the window that may have bent the figures: a server step
	// that ended, a warning (a liveness check that failed once, a stall).
	Disturbances []string     `json:"disturbances,omitempty"`
	Rules        []RuleResult `json:"rules,omitempty"`
	// Valid is set once the benchmark has ended with 0: false when a rule failed or the status file
	// says the benchmark failed (exit 86).
	Valid *bool `json:"valid,omitempty"`
}

// RuleResult is one result rule's verdict on the benchmark's output.
type RuleResult struct {
	Rule   string `json:"rule"`
	Passed bool   `json:"passed"`
	// Line is the line that matched: the evidence of a passed require or a failed reject.
	Line string `json:"line,omitempty"`
}

// resultScanBytes bounds how much of the benchmark's output the result rules read: its summary comes
// at its end.
const resultScanBytes = 64 << 20

// maxDisturbances bounds the disturbances a window records; the event log has them all.
const maxDisturbances = 50

// measuring reports whether the measurement window is open: the benchmark runs and has not written
// its end marker, and the run is not decided.
func (r *run) measuring() bool {
	return r.measure != nil && r.measure.EndedAt == nil && !r.decided && !r.benchmarkAnnouncedEnd()
}

// noteDisturbance records an event that happened inside the open window.
func (r *run) noteDisturbance(ev Event) {
	disturbs := ev.Name == EventWarning ||
		(ev.Name == EventExit || ev.Name == EventStopped) && ev.Role != "" && (r.measure == nil || ev.Role != r.measure.Role)
	if disturbs && !ev.Debug {
		r.noteConfigDisturbance(ev)
	}
	if !disturbs || ev.Debug || r.measure == nil || !r.measuring() || len(r.measure.Disturbances) >= maxDisturbances {
		return
	}
	text := fmt.Sprintf("+%.2fs %s", ev.Time.Sub(r.measure.StartedAt).Seconds(), ev.Name)
	if ev.Role != "" {
		text += " " + ev.Role
	}
	r.measure.Disturbances = append(r.measure.Disturbances, text+": "+ev.Message)
}

// startMeasurement opens the window at the launch of the step that decides the run.
func (r *run) startMeasurement(s *step) {
	r.measure = &Measurement{Role: s.name, StartedAt: s.launchedAt.UTC()}
}

// closeMeasurement closes the window when the deciding step ends (or the run is decided first): at
// the end marker's time when there is one, reads its status, and judges the result rules. It
// returns the reason the result is invalid, "" when it holds or does not count (a failed benchmark).
func (r *run) closeMeasurement(s *step, now time.Time) string {
	m := r.measure
	if m == nil || m.EndedAt != nil {
		return ""
	}
	end, by := now, "the decision"
	if s != nil {
		end, by = s.endedAt, "the benchmark's end"
	}
	if path, at, ok := r.closingEndMarker(); ok {
		end, by = at, "end marker "+path
		m.StatusFile, m.Status = path, firstLine(path)
	}
	if end.Before(m.StartedAt) {
		end = m.StartedAt
	}
	m.EndedAt, m.EndedBy = timePtr(end), by
	m.DurationSeconds = end.Sub(m.StartedAt).Seconds()
	if s == nil {
		return ""
	}
	raw, _ := readTail(s.log, s.logStart, resultScanBytes)
	out := ownOutput(raw)
	var broken []string
	for _, rule := range r.cfg.ResultRules {
		loc := rule.Pattern.FindStringIndex(out)
		res := RuleResult{Rule: rule.String(), Passed: (loc != nil) == rule.Require}
		if loc != nil {
			res.Line = r.redactor.String(lineAround(out, loc[0]))
		}
		m.Rules = append(m.Rules, res)
		if !res.Passed {
			if rule.Require {
				broken = append(broken, rule.String()+": no line matches")
			} else {
				broken = append(broken, fmt.Sprintf("%s: %q", rule, res.Line))
			}
		}
	}
	if s.code != 0 {
		return ""
	}
	if statusSaysFailed(m.Status) {
		broken = append(broken, fmt.Sprintf("status file %s says %q", m.StatusFile, m.Status))
	}
	for _, p := range r.configs.phases {
		// Every configuration's status counts, not only the one that closed the window.
		if p.marker != m.StatusFile && statusSaysFailed(p.status) {
			broken = append(broken, fmt.Sprintf("status file %s (server configuration %d) says %q", p.marker, p.index, p.status))
		}
	}
	valid := len(broken) == 0
	m.Valid = &valid
	if valid {
		return ""
	}
	return "the benchmark ended with 0, but its result is invalid: " + strings.Join(broken, "; ")
}

// statusSaysFailed reports whether a status file's first line says the benchmark failed, as newer
// harnesses write it (FAILED); today's "Done" and "SUCCESS" do not.
func statusSaysFailed(status string) bool {
	return strings.Contains(strings.ToUpper(status), "FAIL")
}

// closingEndMarker is the end marker that closes the window: the last configuration's when their
// number is known and it was seen, else the earliest end marker.
func (r *run) closingEndMarker() (string, time.Time, bool) {
	c := &r.configs
	if c.total > 0 && len(c.phases) >= c.total {
		if last := c.phases[c.total-1]; last.marker != "" {
			if info, err := os.Stat(last.marker); err == nil {
				return last.marker, info.ModTime(), true
			}
		}
	}
	return r.firstEndMarker()
}

// firstEndMarker is the earliest end marker (regular file) and its modification time.
func (r *run) firstEndMarker() (string, time.Time, bool) {
	var best string
	var bestAt time.Time
	for _, pattern := range r.cfg.EndMarkers {
		matches, _ := filepath.Glob(pattern)
		for _, name := range matches {
			info, err := os.Stat(name)
			if err != nil || !info.Mode().IsRegular() {
				continue
			}
			if best == "" || info.ModTime().Before(bestAt) {
				best, bestAt = name, info.ModTime()
			}
		}
	}
	return best, bestAt, best != ""
}

// lineAround is the line of text that holds byte i, bounded for the record.
func lineAround(text string, i int) string {
	start := strings.LastIndexByte(text[:i], '\n') + 1
	end := strings.IndexByte(text[i:], '\n')
	if end < 0 {
		end = len(text)
	} else {
		end += i
	}
	return junitText(strings.TrimSpace(text[start:end]), 400)
}

// invalidResult decides the run as invalid: the benchmark passed, its result does not hold.
func (r *run) invalidResult(s *step, reason string) {
	r.decide(RunFailed, verdict.ExitInvalid, r.failureOf(s, verdict.ExitInvalid, reason))
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

// ownOutput is the benchmark's own output from its log: without the per-rank runner's lines and its
// environment dump (which holds the command, whose text a rule would otherwise match), the
// supervisor's attempt header, and srun's and slurmstepd's messages.
func ownOutput(log string) string {
	var b strings.Builder
	inEnv := false
	for line := range strings.Lines(log) {
		body := strings.TrimSpace(line)
		switch {
		case body == "task: environment begin":
			inEnv = true
		case body == "task: environment end":
			inEnv = false
		case inEnv, strings.HasPrefix(body, "task: "), strings.HasPrefix(body, "=== disagg-supervisor: "),
			strings.HasPrefix(body, "srun: "), strings.HasPrefix(body, "slurmstepd"):
		default:
			b.WriteString(line)
		}
	}
	return b.String()
}
