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
// different times otherwise start the MPI world skewed, and PMIx fences time out; waiting here
// costs the spread of install times once, before any model is loaded.
func (r *runner) barrier(ctx context.Context) error {
	dir := r.dir().BarrierDir(r.id.role)
	mine := r.dir().Barrier(r.id.role, r.id.rank)
	if err := coord.WriteMarker(mine, r.id.marker(time.Now())); err != nil {
		return fail(exitFailure, "barrier of %s: write %s: %w", r.id.role, mine, err)
	}
	r.logf("barrier of %s: rank %d arrived; waiting for %d ranks, up to %s", r.id.role, r.id.rank, r.id.ntasks, r.opts.BarrierTimeout)

	var missing []int
	check := func(elapsed time.Duration) (bool, error) {
		// A failed install anywhere means some rank will never arrive.
		failed, err := r.dir().FailedInstalls()
		if err != nil {
			return false, fail(exitFailure, "barrier of %s: list %s: %w", r.id.role, r.dir().InstallDir(), err)
		}
		if len(failed) > 0 {
			return false, fail(failed[0].Code, "install failed on %s; leaving the barrier of %s", describeFailed(failed), r.id.role)
		}
		ranks, err := coord.Ranks(dir)
		if err != nil {
			return false, fail(exitFailure, "barrier of %s: list %s: %w", r.id.role, dir, err)
		}
		missing = missing[:0]
		for rank := 0; rank < r.id.ntasks; rank++ {
			if !slices.Contains(ranks, rank) {
				missing = append(missing, rank)
			}
		}
		if len(missing) == 0 {
			r.logf("barrier of %s: all %d ranks arrived; waited %s", r.id.role, r.id.ntasks, elapsed.Round(time.Millisecond))
			return true, nil
		}
		if elapsed >= r.opts.BarrierTimeout {
			return false, fail(exitTimeout, "%s of %s did not arrive within %s%s", rankList(missing), r.id.role, r.opts.BarrierTimeout, r.whereMissing(missing))
		}
		return false, nil
	}
	progress := func(elapsed time.Duration) {
		r.logf("barrier of %s: still waiting for %s after %s of %s", r.id.role, rankList(missing), elapsed, r.opts.BarrierTimeout)
	}
	return r.wait(ctx, "at the barrier of "+r.id.role, check, progress)
}

// rankList is "rank 5" or "ranks 2-3,5".
func rankList(ranks []int) string {
	if len(ranks) == 1 {
		return fmt.Sprintf("rank %d", ranks[0])
	}
	return "ranks " + slurm.CompressRanks(ranks)
}

// whereMissing tells, from the start markers, which missing ranks are running (and on which node:
// most likely still in their node's install) and which never started at all.
func (r *runner) whereMissing(missing []int) string {
	byNode := map[string][]int{}
	var notStarted []int
	for _, rank := range missing {
		m, err := coord.ReadMarker(r.dir().Started(r.id.role, rank))
		if notWritten(err) {
			notStarted = append(notStarted, rank)
			continue
		}
		node := m.Node
		if err != nil {
			node = "unknown node"
		}
		byNode[node] = append(byNode[node], rank)
	}
	var parts []string
	if len(byNode) > 0 {
		nodes := make([]string, 0, len(byNode))
		for n := range byNode {
			nodes = append(nodes, n)
		}
		sort.Strings(nodes)
		where := make([]string, len(nodes))
		for i, n := range nodes {
			where[i] = slurm.CompressRanks(byNode[n]) + " on " + n
		}
		parts = append(parts, "started but not at the barrier: "+strings.Join(where, ", "))
	}
	if len(notStarted) > 0 {
		parts = append(parts, "never started: "+slurm.CompressRanks(notStarted))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}
