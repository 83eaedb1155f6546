package task

import (
	"context"
	"fmt"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
)

// The node heartbeat: the supervisor hears from a node only through srun, and Slurm takes its
// SlurmdTimeout (minutes) to notice a node that died, holding the whole allocation meanwhile. So the
// tasks keep one file per node fresh in the coordination directory (coord.Heartbeat), and the
// supervisor judges a node whose file stopped changing failed.
//
// Local rank 0 of every step writes it, every --node-heartbeat, from the task's start to its end:
// each step's tasks on a node start and end together, so one writer per step and node keeps the
// file fresh while the step runs there, and the writes stay one per step on the node per period
// instead of one per task (eight GPUs, eight tasks). Steps that share a node each write the one
// file; their renames replace each other harmlessly, and any of them keeps it fresh.

// startHeartbeat starts refreshing the node's heartbeat file when this task is its step's writer on
// the node, and returns what stops it: stop ends the writes and returns once the last one is done,
// so that no write outlives the task.
func (r *runner) startHeartbeat() (stop func()) {
	period := r.opts.NodeHeartbeat
	if period <= 0 || r.id.localID != 0 {
		return func() {}
	}
	path := r.dir().Heartbeat(r.id.node)
	writer := r.id.marker(time.Time{})
	who := r.id.who()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		ticker := time.NewTicker(period)
		defer ticker.Stop()
		failing := false
		for seq := uint64(1); ; seq++ {
			err := coord.WriteHeartbeat(path, coord.Heartbeat{Writer: writer, Seq: seq, Time: time.Now()})
			// One line when writing starts failing and one when it works again: a file system that
			// refuses every write must not flood the role's log. The lines name only the task and
			// the path (no secrets), and go straight to stderr: the environment the masking reads is
			// the main goroutine's.
			switch {
			case err != nil && !failing:
				fmt.Fprintf(r.stderr, "task: %s: node heartbeat: cannot write %s: %v (trying again every %s; the supervisor judges a node silent for its --node-timeout failed)\n",
					who, path, err, period)
			case err == nil && failing:
				fmt.Fprintf(r.stderr, "task: %s: node heartbeat: %s written again\n", who, path)
			}
			failing = err != nil
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
