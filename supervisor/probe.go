package supervisor

import (
	"context"
	"errors"
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
	check, err := newCheck(checkSpec{forReadiness, probe.HealthCheck()}, logPath, logStart)
	if err != nil {
		return err
	}
	err = runCheck(ctx, realClock{}, check, policy{period: probeInterval, timeout: timeout})
	if f := (*checkFailed)(nil); errors.As(err, &f) {
		return fmt.Errorf("readiness probe timed out after %s: %s %s: %v", timeout, probe.Type, probe.Target, f.last)
	}
	return err
}
