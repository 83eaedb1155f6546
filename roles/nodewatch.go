package roles

import (
	"strconv"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/internal/valid"
	"github.com/disagg-supervisor/disagg-supervisor/taskopts"
)

// nodeTimeoutVar is the variable of --node-timeout, for a job that cannot change the batch line.
const nodeTimeoutVar = "DISAGG_NODE_TIMEOUT"

// nodeTimeout resolves the node watch's bound: --node-timeout, else DISAGG_NODE_TIMEOUT (a duration
// such as 60s, or a number of seconds), else taskopts.DefaultNodeTimeout; 0 turns the watch, and the
// tasks' heartbeats, off.
func (b *builder) nodeTimeout() (time.Duration, error) {
	if d := b.f.NodeTimeout; d != nil {
		if err := valid.Duration(*d, "off"); err != nil {
			return 0, &InputError{Input: "--node-timeout", Problem: err.Error()}
		}
		return *d, nil
	}
	v := b.env(nodeTimeoutVar)
	if v == "" {
		return taskopts.DefaultNodeTimeout, nil
	}
	d, err := time.ParseDuration(v)
	if n, nerr := strconv.Atoi(v); nerr == nil {
		d, err = time.Duration(n)*time.Second, nil
	}
	if err != nil || d < 0 {
		return 0, inputErrorf(nodeTimeoutVar, "want a duration such as 60s, a number of seconds, or 0 (off), got %s", quote(v))
	}
	return d, nil
}

// NodeTimeout is the plan's node timeout (0: the node watch is off).
func (p Plan) NodeTimeout() time.Duration {
	return time.Duration(p.NodeTimeoutSeconds * float64(time.Second))
}
