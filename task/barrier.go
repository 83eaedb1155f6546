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
func (r *runner) barrier(ctx context.Context) error {
	key := r.stepKey()
	dir := r.dir().BarrierDir(key)
	mine := r.dir().Barrier(key, r.id.rank)
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
			return false, fail(exitWaited, "%s of %s did not arrive within %s%s", rankList(missing), r.id.role, r.opts.BarrierTimeout, r.whereMissing(missing))
		}
		return false, nil
	}
	// Rank 0 alone reports progress, so that a role log shows one line per interval, not one per rank.
	progress := func(elapsed time.Duration) {
		if r.id.rank == 0 {
			r.logf("barrier of %s: still waiting for %s after %s of %s", r.id.role, rankList(missing), elapsed, r.opts.BarrierTimeout)
		}
	}
	return r.waitEvery(ctx, "at the barrier of "+r.id.role, r.barrierProgress, r.barrierFastPoll, check, progress)
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
