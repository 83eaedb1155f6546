package toy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// errBenchmarkDone is the cause with which a server configuration's context ends when the benchmark's
// status file for it appears: the normal end of that configuration, not a failure.
var errBenchmarkDone = errors.New("the benchmark announced its end")

// statusFile is benchmark_status.<idx>.txt, by which the benchmark announces that it is done with
// server configuration idx. It goes next to the logs, where the harness's ranks and the supervisor
// look for it.
func (r *rank) statusFile(idx int) string {
	return filepath.Join(r.cfg.outputDir, "benchmark_status."+strconv.Itoa(idx)+".txt")
}

// doneFileName is the file the supervisor writes once the step of GEN_i has ended.
func doneFileName(i int) string { return "gen_server_" + strconv.Itoa(i) + ".done" }

// eachConfig runs serve for every server configuration in turn, as the harness's server ranks do.
// serve gets a context that also ends, with cause errBenchmarkDone, when benchmark_status.<idx>.txt
// appears; the rank then moves on to the next configuration, and after the last one it returns nil,
// which is the normal end of a server rank. Any other end of serve ends the rank with its error. With
// -until-stopped there is one configuration, and nothing but ctx ends it.
func (r *rank) eachConfig(ctx context.Context, serve func(ctx context.Context, idx int) error) error {
	if r.cfg.untilStopped {
		return serve(ctx, 0)
	}
	for idx := range r.cfg.serverConfigs {
		if err := r.untilStatus(ctx, idx, serve); !errors.Is(err, errBenchmarkDone) {
			return err
		}
		next := "exiting"
		if idx+1 < r.cfg.serverConfigs {
			next = fmt.Sprintf("starting configuration %d", idx+1)
		}
		r.printf(r.stdout, "toy: %s rank %d: %s appeared: stopped serving configuration %d; %s",
			r.cfg.role, r.cfg.rank, filepath.Base(r.statusFile(idx)), idx, next)
	}
	return nil
}

// untilStatus runs serve for configuration idx with a context that ends when the status file of idx
// appears, and returns what serve returns.
func (r *rank) untilStatus(ctx context.Context, idx int, serve func(context.Context, int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	var wg sync.WaitGroup
	// Deferred first so that it runs last: the watcher ends once ctx is cancelled.
	defer wg.Wait()
	defer cancel(nil)
	wg.Go(func() {
		if pollFile(ctx, r.statusFile(idx)) {
			cancel(errBenchmarkDone)
		}
	})
	return serve(ctx, idx)
}

// statusDone is what the benchmark writes in its status files, as the harness does. The verdict is
// the benchmark's exit code, not the file's content.
const statusDone = "Done"

// announce writes the status file of configuration idx, which ends that configuration in every
// server rank. It is written even when requests failed: the servers must stop either way. With
// -until-stopped nothing is announced. A failure to write it is reported but does not change the
// exit code, which carries the verdict already.
func (r *rank) announce(idx int) {
	if r.cfg.untilStopped {
		return
	}
	path := r.statusFile(idx)
	if err := writeFileAtomic(path, statusDone); err != nil {
		r.printf(r.stderr, "toy: %s: writing %s: %v", r.cfg.role, path, err)
	}
}

// waitForFaults waits until every injected fault of server configuration idx (of any configuration
// when idx is negative) aimed at another role has fired (its time file exists). Without it a fast
// benchmark could announce the end of the configuration, and the servers could move on or exit 0,
// before the fault the test asked for had happened, and the run would pass. A fault fires its delay
// after its role is ready in its configuration, and every role is ready once the benchmark has run
// that configuration's load, so the wait is bounded by the longest delay plus -wait-timeout; a fault
// that still has not fired (its role is not in the job, or never got ready) is an error naming it.
func (r *rank) waitForFaults(ctx context.Context, idx int) error {
	var pending []fault
	var paths []string
	var longest time.Duration
	for _, f := range r.cfg.faults {
		if f.Role == roleBenchmark || idx >= 0 && f.Config != idx {
			continue
		}
		pending = append(pending, f)
		paths = append(paths, faultTimeFile(r.cfg.outputDir, f.Role, f.Rank))
		longest = max(longest, f.Delay)
	}
	if len(paths) == 0 {
		return nil
	}
	bound := longest + r.cfg.waitTimeout
	missing, err := waitForFiles(ctx, paths, bound, func(missing []string) {
		var specs []string
		for i, f := range pending {
			if slices.Contains(missing, paths[i]) {
				specs = append(specs, f.String())
			}
		}
		r.printf(r.stdout, "toy: %s: waiting for injected faults to fire before announcing the end: %s",
			r.cfg.role, strings.Join(specs, " "))
	})
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return fmt.Errorf("injected faults did not fire within %v (longest delay + -wait-timeout): no %s",
			bound, strings.Join(baseNames(missing), ", "))
	}
	// A real benchmark whose server has just failed does not report success either. Announcing the
	// end now would race the supervisor's view of the failure (a server that fails after the end
	// counts for nothing): wait, as a benchmark stuck on a dead server would, to be stopped.
	r.printf(r.stdout, "toy: %s: injected faults fired; waiting up to %v (-wait-timeout) to be stopped", r.cfg.role, r.cfg.waitTimeout)
	if sleepCtx(ctx, r.cfg.waitTimeout) {
		return fmt.Errorf("injected faults fired but nothing stopped the benchmark within %v (-wait-timeout)", r.cfg.waitTimeout)
	}
	return context.Cause(ctx)
}

// waitForDone waits, bounded by -done-timeout, for every gen_server_<i>.done: the supervisor writes
// one once the step of GEN_i has ended, and the harness parses the GEN logs only then. It prints the
// files it saw; the error names the ones still missing.
func (r *rank) waitForDone(ctx context.Context) error {
	paths := make([]string, r.cfg.numGen)
	for i := range paths {
		paths[i] = filepath.Join(r.cfg.outputDir, doneFileName(i))
	}
	missing, err := waitForFiles(ctx, paths, r.cfg.doneTimeout, nil)
	if err != nil {
		return err
	}
	var seen []string
	for _, p := range paths {
		if !slices.Contains(missing, p) {
			seen = append(seen, filepath.Base(p))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("gave up after %v (-done-timeout) waiting in %s for %s (saw: %s)",
			r.cfg.doneTimeout, r.cfg.outputDir, strings.Join(baseNames(missing), " "), orNone(seen))
	}
	r.printf(r.stdout, "toy: %s: saw %s", r.cfg.role, strings.Join(seen, " "))
	return nil
}

// waitForFiles polls until every path exists, ctx ends or bound has passed, and returns the paths
// still missing, in their order. If some are missing at the first look, waiting (when not nil) is
// called with them once, so the log says what the rank is waiting for. The error is ctx's cause.
func waitForFiles(ctx context.Context, paths []string, bound time.Duration, waiting func(missing []string)) ([]string, error) {
	start := time.Now()
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	missing := paths
	for first := true; ; first = false {
		var still []string
		for _, p := range missing {
			if !fileExists(p) {
				still = append(still, p)
			}
		}
		missing = still
		if len(missing) == 0 || time.Since(start) >= bound {
			return missing, nil
		}
		if first && waiting != nil {
			waiting(missing)
		}
		select {
		case <-ctx.Done():
			return missing, context.Cause(ctx)
		case <-ticker.C:
		}
	}
}

// pollFile waits until path exists and reports true, or false when ctx ends first. A stat is all
// it costs, every pollInterval.
func pollFile(ctx context.Context, path string) bool {
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		if fileExists(path) {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-ticker.C:
		}
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func baseNames(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = filepath.Base(p)
	}
	return out
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, " ")
}
