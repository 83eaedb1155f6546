package task

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
	"github.com/disagg-supervisor/disagg-supervisor/slurm"
)

// barrier waits until every rank of this step has reached it. Nodes that finish their install at
// different times otherwise start the MPI world skewed: the framework's first import enters an MPI
// collective with a 300 s timeout under PMIx, and all ranks abort together. Waiting here costs the
// spread of install times once, before any model is loaded. The arrivals are keyed by job, step and
// (through the coordination directory) run token, so no other step's or attempt's arrivals count.
//
// The barrier asks the shared file system little, since hundreds of ranks may wait at once: each rank
// writes its arrival once and counts the arrivals once, right after; the rank that finds them all (the
// last to arrive) writes the step's release file. A waiting rank reads that one file at each poll, and
// every fourth poll on the grid also the one file that says an install failed somewhere; rank 0 counts
// the arrivals again every fourth poll on the grid too, in case the last rank's listing was stale (a
// network file system caches directories), and to say whom it waits for. The poll backs off to half
// of barrierGrid, then falls on the ticks of barrierGrid of the wall clock. The release names a tick
// of that grid when some rank has waited that long, and every rank leaves at the release's instant:
// ranks that look seldom still leave together, at most a grid period after the last one arrived.
func (r *runner) barrier(ctx context.Context) error {
	key := r.stepKey()
	dir := r.dir().BarrierDir(key)
	released := r.dir().BarrierReleased(key)
	mine := r.dir().Barrier(key, r.id.rank)
	if err := coord.WriteMarker(mine, r.id.marker(time.Now())); err != nil {
		return fail(exitFailure, "barrier of %s: write %s: %w", r.id.role, mine, err)
	}
	r.logf("barrier of %s: rank %d arrived; waiting for %d ranks, up to %s", r.id.role, r.id.rank, r.id.ntasks, r.opts.BarrierTimeout)

	var missing []int
	count := func() error {
		ranks, err := coord.Ranks(dir)
		if err != nil {
			return fail(exitFailure, "barrier of %s: list %s: %w", r.id.role, dir, err)
		}
		missing = missing[:0]
		for rank := 0; rank < r.id.ntasks; rank++ {
			if !slices.Contains(ranks, rank) {
				missing = append(missing, rank)
			}
		}
		return nil
	}
	release := func() (coord.Release, error) {
		rel := coord.Release{By: r.id.marker(time.Now()), At: r.releaseAt(dir, time.Now())}
		if err := coord.WriteRelease(released, rel); err != nil {
			return rel, fail(exitFailure, "barrier of %s: all %d ranks arrived, but the release %s could not be written: %w", r.id.role, r.id.ntasks, released, err)
		}
		return rel, nil
	}
	// check looks once; seldom is set for the polls on the grid, where only every fourth one looks
	// further than the release file.
	counted := false
	check := func(elapsed time.Duration, seldom, progressDue bool) (*coord.Release, error) {
		if rel, err := coord.ReadRelease(released); err == nil {
			return &rel, nil
		}
		if !seldom {
			// A failed install anywhere means some rank will never arrive.
			failed, err := r.failedInstalls()
			if err != nil {
				return nil, err
			}
			if len(failed) > 0 {
				return nil, fail(failed[0].Code, "install failed on %s; leaving the barrier of %s", describeFailed(failed), r.id.role)
			}
		}
		timedOut := elapsed >= r.opts.BarrierTimeout
		if !counted || timedOut || (r.id.rank == 0 && (!seldom || progressDue)) {
			counted = true
			if err := count(); err != nil {
				return nil, err
			}
			if len(missing) == 0 {
				rel, err := release()
				return &rel, err
			}
		}
		if timedOut {
			return nil, fail(exitWaited, "%s of %s did not arrive within %s%s", rankList(missing), r.id.role, r.opts.BarrierTimeout, r.whereMissing(missing))
		}
		return nil, nil
	}

	start := time.Now()
	lastProgress := start
	poll := r.backoff()
	if r.barrierGrid > 0 {
		poll.max = max(r.barrierGrid/2, r.poll)
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for onGrid := 0; ; {
		// Rank 0 alone reports progress, so that a role log shows one line per interval, not one per
		// rank.
		progressDue := r.id.rank == 0 && r.barrierProgress > 0 && time.Since(lastProgress) >= r.barrierProgress
		rel, err := check(time.Since(start), onGrid%4 != 0, progressDue)
		if err != nil {
			return err
		}
		if rel != nil {
			if wait := time.Until(rel.At); wait > 0 {
				timer.Reset(wait)
				select {
				case <-ctx.Done():
					return r.interrupted(ctx, "at the barrier of "+r.id.role)
				case <-timer.C:
				}
			}
			r.logf("barrier of %s: all %d ranks arrived; waited %s", r.id.role, r.id.ntasks, time.Since(start).Round(time.Millisecond))
			return nil
		}
		if progressDue {
			lastProgress = time.Now()
			r.logf("barrier of %s: still waiting for %s after %s of %s", r.id.role, rankList(missing), time.Since(start).Round(time.Second), r.opts.BarrierTimeout)
		}
		interval := poll.next()
		if r.barrierGrid > 0 && interval == poll.max {
			interval = time.Until(nextTick(time.Now(), r.barrierGrid))
			onGrid++
		}
		timer.Reset(interval)
		select {
		case <-ctx.Done():
			return r.interrupted(ctx, "at the barrier of "+r.id.role)
		case <-timer.C:
		}
	}
}

// releaseAt is the instant the ranks leave the barrier, decided by the rank that found every arrival
// at now: at once while every rank is still in its first, fast polls; else the first tick of the grid
// that leaves an eighth of it (releaseMargin) for the release file to be written and seen, since the
// ranks that have waited longer look only on the ticks.
func (r *runner) releaseAt(dir string, now time.Time) time.Time {
	if r.barrierGrid <= 0 {
		return now
	}
	if oldest, ok := coord.OldestRank(dir); ok && now.Sub(oldest) < r.barrierGrid/2 {
		return now
	}
	return nextTick(now.Add(releaseMargin(r.barrierGrid)), r.barrierGrid)
}

// releaseMargin is the least time between the release file's write and the tick the ranks leave on:
// 80 ms of the default grid, ample for one small file to reach the shared file system. A wider one
// costs every barrier that waited long its share of a grid period: the release comes, on average, half
// a period plus the margin after the last arrival (a quarter margin made that 50 ms more than a
// period in scripts/barrier-fsops.sh). A rank that misses the file at the tick still leaves at the
// next, at once.
func releaseMargin(grid time.Duration) time.Duration { return grid / 8 }

// nextTick is the first multiple of grid on the wall clock after t: the same instants on every node
// whose clock is synchronised.
func nextTick(t time.Time, grid time.Duration) time.Time {
	return t.Truncate(grid).Add(grid)
}

// failedInstalls lists the nodes whose install failed, for the waits that cannot complete once one
// did. It stats the one flag file that any failed install writes, and lists the install directory
// only once that exists.
func (r *runner) failedInstalls() ([]coord.FailedInstall, error) {
	flag := r.dir().AnyInstallFailed()
	if !exists(flag) {
		return nil, nil
	}
	failed, err := r.dir().FailedInstalls()
	if err != nil {
		return nil, fail(exitFailure, "list %s: %w", r.dir().InstallDir(), err)
	}
	if len(failed) == 0 {
		// The flag stands even when the node's own file cannot be found.
		failed = []coord.FailedInstall{{Node: "an unknown node", Code: coord.ReadExitCode(flag)}}
	}
	return failed, nil
}

// rankList is "rank 5" or "ranks 2-3,5".
func rankList(ranks []int) string {
	if len(ranks) == 1 {
		return fmt.Sprintf("rank %d", ranks[0])
	}
	return "ranks " + slurm.CompressRanks(ranks)
}

// whereMissing tells, for each missing rank, its node: from its start marker when it started (it is
// then most likely still in its node's install or setup), else from the step's layout in Slurm's
// environment (it never started: its node may be down or slow to launch).
func (r *runner) whereMissing(missing []int) string {
	started := map[string][]int{}
	notStarted := map[string][]int{}
	for _, rank := range missing {
		m, err := coord.ReadMarker(r.dir().Started(r.id.role, rank))
		switch {
		case notWritten(err):
			node := r.rankNode(rank)
			if node == "" {
				node = "unknown node"
			}
			notStarted[node] = append(notStarted[node], rank)
		case err != nil:
			started["unknown node"] = append(started["unknown node"], rank)
		default:
			started[m.Node] = append(started[m.Node], rank)
		}
	}
	var parts []string
	if len(started) > 0 {
		parts = append(parts, "started but not at the barrier: "+byNode(started))
	}
	if len(notStarted) > 0 {
		parts = append(parts, "never started: "+byNode(notStarted))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

// byNode renders ranks grouped by node as "2 on node2, 3,5 on node3", nodes sorted.
func byNode(ranks map[string][]int) string {
	nodes := make([]string, 0, len(ranks))
	for n := range ranks {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	where := make([]string, len(nodes))
	for i, n := range nodes {
		where[i] = slurm.CompressRanks(ranks[n]) + " on " + n
	}
	return strings.Join(where, ", ")
}

// rankNode is the node Slurm placed rank on, from the step's node list and tasks per node (the
// default block distribution); "" when the environment does not say.
func (r *runner) rankNode(rank int) string {
	list, _ := r.env.get("SLURM_STEP_NODELIST")
	perNode, _ := r.env.get("SLURM_STEP_TASKS_PER_NODE")
	if perNode == "" {
		perNode, _ = r.env.get("SLURM_TASKS_PER_NODE")
	}
	if list == "" || perNode == "" {
		return ""
	}
	nodes, err := slurm.ExpandHostlist(list)
	if err != nil {
		return ""
	}
	counts, err := slurm.ParseTasksPerNode(perNode)
	if err != nil {
		return ""
	}
	layout, err := slurm.BlockNodes(nodes, counts)
	if err != nil || rank >= len(layout) {
		return ""
	}
	return layout[rank]
}

// onNode is " on NODE" for rank's node when it is known.
func (r *runner) onNode(rank int) string {
	if n := r.rankNode(rank); n != "" {
		return " on " + n
	}
	return ""
}
