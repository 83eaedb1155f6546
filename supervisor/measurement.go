package supervisor

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/logscan"
	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

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
	disturbs := ev.Name == record.EventWarning ||
		(ev.Name == record.EventExit || ev.Name == record.EventStopped) && ev.Role != "" && (r.measure == nil || ev.Role != r.measure.Role)
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
	r.measure = &record.Measurement{Role: s.name, StartedAt: s.launchedAt.UTC()}
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
		res := record.RuleResult{Rule: rule.String(), Passed: (loc != nil) == rule.Require}
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
	return record.BoundText(strings.TrimSpace(text[start:end]), 400)
}

// invalidResult decides the run as invalid: the benchmark passed, its result does not hold.
func (r *run) invalidResult(s *step, reason string) {
	r.decide(record.RunFailed, verdict.ExitInvalid, r.failureOf(s, verdict.ExitInvalid, reason))
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
		case body == logscan.TaskEnvBegin:
			inEnv = true
		case body == logscan.TaskEnvEnd:
			inEnv = false
		case inEnv, strings.HasPrefix(body, "task: "), strings.HasPrefix(body, attemptHeaderPrefix),
			strings.HasPrefix(body, "srun: "), strings.HasPrefix(body, "slurmstepd"):
		default:
			b.WriteString(line)
		}
	}
	return b.String()
}
