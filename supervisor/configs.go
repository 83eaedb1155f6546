package supervisor

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/roles"
)

// Several server configurations in one job: the harness runs them one after another inside the same
// steps. Configuration k starts at the benchmark's launch (k = 0) or at the end marker of k-1, and
// ends at its own end marker (benchmark_status.<k>.txt); between markers every server rank stops the
// server of configuration k and starts the one of k+1, so no step ends. Each configuration is a phase
// of the run: a server step that ends before the last marker is an early exit of the configuration in
// progress, a liveness failure between markers fails the run as before the first, and a hang names the
// configuration, what it waited for and which configurations completed.

// configPollPeriod is how often the end markers are looked for while the benchmark runs: a
// configuration's end (and the next one's start, its liveness checks and deadline) is noticed within
// this. One glob of the output directory per period; step ends and decisions look at once.
const configPollPeriod = time.Second

// configPhase is the loop's record of one configuration.
type configPhase struct {
	index              int
	startedAt, endedAt time.Time
	marker, status     string
	disturbances       []string
	verdict            record.ConfigVerdict
	reason             string
	// tentative: started by a marker while the number of configurations is unknown; it may be
	// no configuration at all, but the harness's shutdown after the last one.
	tentative bool
}

// configTracker is the run's record of its server configurations; only the loop touches it.
type configTracker struct {
	// total is the number of configurations, 0 when unknown.
	total  int
	phases []*configPhase
	// seen are the end-marker files already counted.
	seen map[string]bool
	// liveGen and liveStop are each role's current liveness check (a new one at each
	// configuration's start) and how to stop it: answers of an older check are ignored.
	liveGen  map[string]int
	liveStop map[string]context.CancelFunc
	// probeStop stops each role's readiness probe of the configuration in progress (probeConfig).
	probeStop map[string]context.CancelFunc
}

type (
	// configTick is a look for new end markers.
	configTick struct{}
	// configTimedOut: configuration index has run for --config-timeout.
	configTimedOut struct{ index int }
)

func (configTick) isMessage()     {}
func (configTimedOut) isMessage() {}

// current is the configuration in progress, nil when there is none.
func (c *configTracker) current() *configPhase {
	if n := len(c.phases); n > 0 && c.phases[n-1].endedAt.IsZero() {
		return c.phases[n-1]
	}
	return nil
}

// currentIndex is the index of the configuration in progress (or the last one), 0 before any.
func (c *configTracker) currentIndex() int {
	if n := len(c.phases); n > 0 {
		return c.phases[n-1].index
	}
	return 0
}

// ended counts the configurations that have ended by their marker.
func (c *configTracker) ended() int {
	n := 0
	for _, p := range c.phases {
		if p.marker != "" || p.verdict == record.ConfigCompleted {
			n++
		}
	}
	return n
}

// allEnded reports whether the benchmark has announced the end of its last configuration: all of them
// when their number is known, else any (today's rule: after a marker servers may stop).
func (c *configTracker) allEnded() bool {
	ended := c.ended()
	if c.total == 0 {
		return ended > 0
	}
	return ended >= c.total
}

// several reports whether the job has more than one configuration, known or seen: only then do the
// reasons, the console and JUnit speak of configurations.
func (c *configTracker) several() bool {
	return c.total > 1 || len(c.phases) > 1
}

// completedList names the completed configurations.
func (c *configTracker) completedList() string {
	var done []string
	for _, p := range c.phases {
		if p.verdict == record.ConfigCompleted {
			done = append(done, strconv.Itoa(p.index))
		}
	}
	if len(done) == 0 {
		return "none"
	}
	return strings.Join(done, ", ")
}

// startConfigs begins configuration 0 at the launch of the step whose end decides the run, and the
// look for end markers.
func (r *run) startConfigs(at time.Time) {
	c := &r.configs
	c.total = cmp.Or(r.cfg.ServerConfigs, r.plan.ServerConfigs)
	c.seen = map[string]bool{}
	r.beginConfig(0, at, false)
	ctx, stop := context.WithCancel(r.groupCtx)
	// The look ends with the decision: configurations are settled then.
	r.hang.stopChecks = append(r.hang.stopChecks, stop)
	clock := r.cfg.clock
	r.group.Go(func() error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-clock.After(configPollPeriod):
			}
			r.send(configTick{})
		}
	})
}

// beginConfig starts configuration index: its deadline, and (after the first) its liveness checks
// and the readiness probes that name it anew, with {idx} resolved for it.
func (r *run) beginConfig(index int, at time.Time, tentative bool) {
	c := &r.configs
	for len(c.phases) <= index {
		c.phases = append(c.phases, &configPhase{index: len(c.phases), startedAt: at, verdict: record.ConfigRunning, tentative: tentative})
	}
	if d := r.cfg.ConfigTimeout; d > 0 {
		r.cfg.clock.AfterFunc(d, func() { r.send(configTimedOut{index: index}) })
	}
	if index == 0 {
		return
	}
	msg := fmt.Sprintf("server configuration %d started", index)
	if tentative {
		msg += " (if there is one: the number of configurations is unknown, see --server-configs)"
	}
	r.emit(Event{Name: record.EventConfig, Message: msg})
	for _, s := range r.steps {
		// The servers restart for the new configuration inside their steps: their checks
		// start over, with the new target. After a marker whose configuration may have been the
		// last (their number unknown) failures are warnings only, as they were: only a check
		// with {idx} needs its new target then.
		if s.liveness == nil || !s.alive() || !s.ready() || s.stopRequested ||
			(tentative && !strings.Contains(s.liveness.Target, roles.PlaceholderIdx)) {
			continue
		}
		r.startLiveness(s)
	}
	r.probeConfig(index)
}

// markerFile is an end marker and the configuration its name gives (-1: none, the next one).
type markerFile struct {
	path  string
	index int
}

// markerIndexPattern finds the configuration index in a marker's name: benchmark_status.<k>.txt.
var markerIndexPattern = regexp.MustCompile(`\.(\d+)\.`)

// markerIndex is the configuration index of an end marker's file name, -1 when it has none.
func markerIndex(path string) int {
	m := markerIndexPattern.FindAllStringSubmatch(filepath.Base(path), -1)
	if len(m) == 0 {
		return -1
	}
	k, err := strconv.Atoi(m[len(m)-1][1])
	if err != nil || k > 1<<20 {
		return -1
	}
	return k
}

// syncConfigs counts the end markers that appeared since the last look: each ends its configuration
// and starts the next one. It reports whether anything changed. Settled configurations (after the
// decision) no longer change.
func (r *run) syncConfigs() bool {
	c := &r.configs
	if len(c.phases) == 0 || r.decided {
		return false
	}
	var fresh []markerFile
	for _, pattern := range r.cfg.EndMarkers {
		matches, _ := filepath.Glob(pattern)
		for _, name := range matches {
			if c.seen[name] {
				continue
			}
			if info, err := os.Stat(name); err != nil || !info.Mode().IsRegular() {
				continue
			}
			c.seen[name] = true
			fresh = append(fresh, markerFile{path: name, index: markerIndex(name)})
		}
	}
	if len(fresh) == 0 {
		return false
	}
	// Several at once (a look missed a short configuration): in their order, unnumbered last.
	slices.SortFunc(fresh, func(a, b markerFile) int {
		ka, kb := a.index, b.index
		if ka < 0 {
			ka = 1 << 30
		}
		if kb < 0 {
			kb = 1 << 30
		}
		return cmp.Or(cmp.Compare(ka, kb), strings.Compare(a.path, b.path))
	})
	now := r.cfg.clock.Now()
	for _, m := range fresh {
		r.endConfig(m, now)
	}
	return true
}

// endConfig ends the configuration an end marker names (and any before it still open), and starts the
// next unless it was the last.
func (r *run) endConfig(m markerFile, now time.Time) {
	c := &r.configs
	index := m.index
	if index < 0 {
		index = c.ended()
	}
	if index < c.ended() {
		// A second marker of a configuration already ended (another pattern matched it too).
		return
	}
	if c.total > 0 && index >= c.total {
		r.warn("", fmt.Sprintf("end marker %s names server configuration %d, but the job has %d (--server-configs)", m.path, index, c.total))
	}
	if index >= len(c.phases) {
		r.beginConfig(index, now, c.total == 0)
	}
	for _, p := range c.phases[:index+1] {
		if !p.endedAt.IsZero() {
			continue
		}
		p.endedAt, p.verdict = now, record.ConfigCompleted
		if p.index != index {
			p.reason = "no end marker of its own: a later configuration's ended it"
			continue
		}
		p.marker, p.status = m.path, firstLine(m.path)
		if statusSaysFailed(p.status) {
			p.verdict, p.reason = record.ConfigFailed, fmt.Sprintf("its status file %s says %q", m.path, p.status)
		}
	}
	msg := fmt.Sprintf("server configuration %d ended: %s", index, m.path)
	if status := c.phases[index].status; status != "" {
		msg += fmt.Sprintf(" (%q)", status)
	}
	r.emit(Event{Name: record.EventConfig, Message: msg})
	if c.total == 0 || index+1 < c.total {
		r.beginConfig(index+1, now, c.total == 0)
	}
}

// onConfigMessage handles the look for end markers and the configuration deadline.
func (r *run) onConfigMessage(msg message, now time.Time) {
	switch m := msg.(type) {
	case configTick:
		if r.syncConfigs() {
			r.writeSummary()
		}
	case configTimedOut:
		r.syncConfigs()
		cur := r.configs.current()
		if r.decided || cur == nil || cur.index != m.index || r.shutdownAfterLast() {
			return
		}
		bench := r.decidingStep()
		if bench == nil || !bench.alive() {
			return
		}
		reason := fmt.Sprintf("server configuration %d still running %s after its start (--config-timeout %s): the benchmark had not written its end marker; still running: %s",
			cur.index, now.Sub(cur.startedAt).Round(time.Millisecond), r.cfg.ConfigTimeout, r.stillRunning(now))
		r.decideHung(bench, reason, "", nil)
	}
}

// decidingStep is the step whose end decides the run: the benchmark, or an aggregated SERVER.
func (r *run) decidingStep() *step {
	for _, s := range r.steps {
		if record.DecidesRun(s.kind) {
			return s
		}
	}
	return nil
}

// shutdownAfterLast reports whether a tentative configuration (the number unknown) is the harness's
// shutdown after the last one instead: a server has finished, or the benchmark has ended.
func (r *run) shutdownAfterLast() bool {
	cur := r.configs.current()
	if cur == nil || !cur.tentative {
		return false
	}
	for _, s := range r.steps {
		if s.finished() || (record.DecidesRun(s.kind) && s.exited()) {
			return true
		}
	}
	return false
}

// settleConfigs fixes the configurations' verdicts as the run is decided, and names the configuration
// in progress in the root cause when the job has several. It runs before the decision is recorded.
func (r *run) settleConfigs(state record.RunState, failure *record.Failure) {
	r.syncConfigs()
	c := &r.configs
	cur := c.current()
	if cur == nil {
		return
	}
	if r.shutdownAfterLast() {
		c.phases = c.phases[:len(c.phases)-1]
		return
	}
	now := r.cfg.clock.Now()
	cur.endedAt = now
	switch {
	case state == record.RunSucceeded:
		cur.verdict = record.ConfigFailed
		cur.reason = "the benchmark ended with 0 before it wrote this configuration's end marker"
		if c.several() {
			r.warn("", fmt.Sprintf("the benchmark ended with 0 during server configuration %d, before its end marker; configurations completed: %s", cur.index, c.completedList()))
		}
	case failure != nil && failure.Hung:
		cur.verdict = record.ConfigHung
	case state == record.RunInterrupted:
		cur.verdict = record.ConfigInterrupted
	default:
		cur.verdict = record.ConfigFailed
	}
	if failure == nil {
		return
	}
	cur.reason = failure.Where()
	if c.several() {
		failure.Reason += r.configContext(cur, now)
	}
}

// configContext is what a root cause adds when the job has several configurations: the one in
// progress, what it waited for, and those that completed.
func (r *run) configContext(p *configPhase, now time.Time) string {
	of := ""
	if r.configs.total > 0 {
		of = fmt.Sprintf(" of %d", r.configs.total)
	}
	return fmt.Sprintf(" [in server configuration %d (index %d%s), running for %s, waiting for its end marker (%s); configurations completed: %s]",
		p.index, p.index, of, now.Sub(p.startedAt).Round(time.Millisecond), strings.Join(r.cfg.EndMarkers, " "), r.configs.completedList())
}

// noteConfigDisturbance records an event that disturbs the configuration in progress.
func (r *run) noteConfigDisturbance(ev Event) {
	cur := r.configs.current()
	if cur == nil || r.decided || len(cur.disturbances) >= maxDisturbances {
		return
	}
	text := fmt.Sprintf("+%.2fs %s", ev.Time.Sub(cur.startedAt).Seconds(), ev.Name)
	if ev.Role != "" {
		text += " " + ev.Role
	}
	cur.disturbances = append(cur.disturbances, text+": "+ev.Message)
}

// configSummary is summary.json's server_configs: every configuration begun, and those not started
// when their number is known.
func (r *run) configSummary(now time.Time) []record.ServerConfig {
	c := &r.configs
	if len(c.phases) == 0 {
		return nil
	}
	var out []record.ServerConfig
	for _, p := range c.phases {
		sc := record.ServerConfig{Index: p.index, StartedAt: timePtr(p.startedAt), EndedAt: timePtr(p.endedAt),
			StatusFile: p.marker, Status: p.status, Disturbances: slices.Clone(p.disturbances), Verdict: p.verdict,
			Reason: r.redactor.String(p.reason)}
		end := now
		if !p.endedAt.IsZero() {
			end = p.endedAt
		}
		sc.DurationSeconds = end.Sub(p.startedAt).Seconds()
		out = append(out, sc)
	}
	for k := len(c.phases); k < c.total; k++ {
		out = append(out, record.ServerConfig{Index: k, Verdict: record.ConfigNotStarted})
	}
	return out
}

// currentCheck reports whether a liveness check of a role is the current one: a check replaced at a
// configuration's start may still report an answer.
func (r *run) currentCheck(name string, gen int) bool {
	return r.configs.liveGen[name] == gen
}
