package supervisor

import (
	"context"
	"fmt"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/roles"
)

// probeInterval is how often a readiness probe is retried. Probes poll by nature (a server that is not
// up yet cannot tell us when it will be); failure detection does not depend on them.
const probeInterval = 100 * time.Millisecond

// waitProbe retries the probe until it passes, its timeout passes, or ctx ends.
func waitProbe(ctx context.Context, probe roles.Probe, logPath string, logStart int64) error {
	timeout := time.Duration(probe.TimeoutSeconds * float64(time.Second))
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	ticker := time.NewTicker(probeInterval)
	defer ticker.Stop()
	check, err := newCheck(readinessSpec(probe), logPath, logStart)
	if err != nil {
		return err
	}
	var last error
	for {
		if last = check(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("readiness probe timed out after %s: %s %s: %v", timeout, probe.Type, probe.Target, last)
		case <-ticker.C:
		}
	}
}
