package roles

import (
	"fmt"
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
	d, err := resolveInput(b, b.f.NodeTimeout, "--node-timeout", []string{nodeTimeoutVar}, parseNodeTimeout, nil, "")
	switch {
	case err != nil:
		return 0, err
	case !d.set():
		return taskopts.DefaultNodeTimeout, nil
	case d.layer == layerFlag:
		if err := valid.Duration(d.v, "off"); err != nil {
			return 0, &InputError{Input: d.from, Problem: err.Error()}
		}
	}
	return d.v, nil
}

// parseNodeTimeout reads DISAGG_NODE_TIMEOUT: a duration such as 60s, or a number of seconds.
func parseNodeTimeout(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if n, nerr := strconv.Atoi(v); nerr == nil {
		d, err = time.Duration(n)*time.Second, nil
	}
	if err != nil || d < 0 {
		return 0, fmt.Errorf("want a duration such as 60s, a number of seconds, or 0 (off), got %s", quote(v))
	}
	return d, nil
}

// NodeTimeout is the plan's node timeout (0: the node watch is off).
func (p Plan) NodeTimeout() time.Duration {
	return time.Duration(p.NodeTimeoutSeconds * float64(time.Second))
}
