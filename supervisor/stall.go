package supervisor

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
	"github.com/disagg-supervisor/disagg-supervisor/record"
)

// stallWalkLimit bounds how many files of the output directory a look at it visits: a directory that
// holds more is still watched, through its first files and the role logs.
const stallWalkLimit = 20000

// stallInterval is how often the logs and the output directory are looked at: a tenth of the shortest
// bound, between 50 ms and 500 ms, so that a stall is found within its bound plus half a second.
func stallInterval(h HangSettings) time.Duration {
	shortest := h.StallTimeout
	for _, d := range h.StallRoles {
		if shortest == 0 || d < shortest {
			shortest = d
		}
	}
	return min(max(shortest/10, 50*time.Millisecond), 500*time.Millisecond)
}

// stallTracker is the loop's record of when each log, and the output directory, last grew.
type stallTracker struct {
	lastGrowth map[string]time.Time
	lastOutput time.Time
}

// startStallWatch starts looking at the logs and the output directory, from the benchmark's launch
// until the run is decided, when a stall bound is set.
func (r *run) startStallWatch() {
	if r.cfg.StallTimeout <= 0 && len(r.cfg.StallRoles) == 0 {
		return
	}
	start := r.hang.benchmarkAt
	r.hang.stall = &stallTracker{lastGrowth: map[string]time.Time{}, lastOutput: start}
	logs := map[string]string{}
	for _, s := range r.steps {
		if s.kind != kindInstall {
			r.hang.stall.lastGrowth[s.name] = start
			logs[s.name] = s.log
		}
	}
	// The supervisor's own files change at every event: they are not the run's progress.
	skip := map[string]bool{r.summaryPath: true, r.junitPath: true,
		filepath.Join(r.plan.Workspace, record.EventsFile): true}
	// ...and so do the temporary files they are written through (see coord.WriteFileAtomic).
	var skipPrefixes []string
	for _, path := range []string{r.summaryPath, r.junitPath} {
		skipPrefixes = append(skipPrefixes, filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+"."))
	}
	for _, s := range r.steps {
		skip[s.log] = true // watched on their own
	}
	own := filepath.FromSlash(coord.StateDir(r.plan.Workspace))
	// The watch ends with the decision, like the liveness checks.
	ctx, stop := context.WithCancel(r.groupCtx)
	r.hang.stopChecks = append(r.hang.stopChecks, stop)
	outDir, clock, every := r.plan.OutputDir, r.cfg.clock, stallInterval(r.cfg.HangSettings)
	r.group.Go(func() error {
		sizes := map[string]int64{}
		for name, path := range logs {
			sizes[name] = fileSize(path)
		}
		files := outputFiles(outDir, own, skip, skipPrefixes)
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-clock.After(every):
			}
			var m stallSample
			for name, path := range logs {
				if size := fileSize(path); size != sizes[name] {
					sizes[name] = size
					m.grown = append(m.grown, name)
				}
			}
			now := outputFiles(outDir, own, skip, skipPrefixes)
			m.outputGrew = !maps.EqualFunc(files, now, func(a, b fileMark) bool { return a.size == b.size && a.mtime.Equal(b.mtime) })
			files = now
			r.send(m)
		}
	})
}

// onStallSample records what grew and decides whether the run is hung.
func (r *run) onStallSample(m stallSample, now time.Time) {
	t := r.hang.stall
	if r.decided || t == nil {
		return
	}
	for _, name := range m.grown {
		t.lastGrowth[name] = now
	}
	if m.outputGrew {
		t.lastOutput = now
	}
	// Per-role bounds first: they name the role itself.
	for _, s := range r.steps {
		d, ok := r.cfg.StallRoles[s.name]
		if !ok || !s.alive() || s.stopRequested {
			continue
		}
		if quiet := now.Sub(t.lastGrowth[s.name]); quiet >= d {
			reason := fmt.Sprintf("hung: its log %s has not grown for %s while the benchmark ran (--stall %s=%s); logs by last growth: %s",
				s.log, quiet.Round(time.Millisecond), s.name, d, r.logsByGrowth(now))
			r.decideHung(s, reason, "", nil)
			return
		}
	}
	if r.cfg.StallTimeout <= 0 {
		return
	}
	last := t.lastOutput
	for _, at := range t.lastGrowth {
		if at.After(last) {
			last = at
		}
	}
	quiet := now.Sub(last)
	if quiet < r.cfg.StallTimeout {
		return
	}
	// The run as a whole is stuck while the benchmark runs: the benchmark is the phase that does not
	// progress; the reason names the logs that stopped first.
	var bench *step
	for _, s := range r.steps {
		if record.DecidesRun(s.kind) {
			bench = s
		}
	}
	reason := fmt.Sprintf("hung: no role's log and no file under %s has grown for %s while the benchmark ran (--stall-timeout %s); logs by last growth: %s",
		r.plan.OutputDir, quiet.Round(time.Millisecond), r.cfg.StallTimeout, r.logsByGrowth(now))
	r.decideHung(bench, reason, "", nil)
}

// logsByGrowth lists the live steps' logs, the one that stopped growing first first, with how long ago.
func (r *run) logsByGrowth(now time.Time) string {
	t := r.hang.stall
	var live []*step
	for _, s := range r.steps {
		if _, ok := t.lastGrowth[s.name]; ok && s.alive() {
			live = append(live, s)
		}
	}
	slices.SortStableFunc(live, func(a, b *step) int { return t.lastGrowth[a.name].Compare(t.lastGrowth[b.name]) })
	var parts []string
	for _, s := range live {
		at := t.lastGrowth[s.name]
		if !at.After(r.hang.benchmarkAt) {
			parts = append(parts, fmt.Sprintf("%s not since the benchmark's launch %s ago", s.name, now.Sub(at).Round(time.Millisecond)))
		} else {
			parts = append(parts, fmt.Sprintf("%s %s ago", s.name, now.Sub(at).Round(time.Millisecond)))
		}
	}
	if len(parts) == 0 {
		return "none running"
	}
	return strings.Join(parts, ", ")
}

// fileSize is the size of path, -1 when it cannot be read.
func fileSize(path string) int64 {
	info, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return info.Size()
}

// fileMark is what tells a file changed: its size and modification time.
type fileMark struct {
	size  int64
	mtime time.Time
}

// outputFiles marks the regular files under dir, but those in skip, starting with one of skipPrefixes,
// and under own.
func outputFiles(dir, own string, skip map[string]bool, skipPrefixes []string) map[string]fileMark {
	files := map[string]fileMark{}
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // a file that went away while walking is no reason to stop looking
		}
		if d.IsDir() {
			if path == own {
				return filepath.SkipDir
			}
			return nil
		}
		if len(files) >= stallWalkLimit {
			return filepath.SkipAll
		}
		if skip[path] || !d.Type().IsRegular() || slices.ContainsFunc(skipPrefixes, func(p string) bool { return strings.HasPrefix(path, p) }) {
			return nil
		}
		if info, err := d.Info(); err == nil {
			files[path] = fileMark{size: info.Size(), mtime: info.ModTime()}
		}
		return nil
	})
	return files
}
