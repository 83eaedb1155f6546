package supervisor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/roles"
)

// TestWaitProbeFile: a file probe passes once its file exists, and times out, naming its target,
// when it never does. What the loop makes of a timeout is TestLoopDecisions' part.
func TestWaitProbeFile(t *testing.T) {
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready")
	if err := os.WriteFile(ready, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := waitProbe(context.Background(), roles.Probe{Type: "file", Target: ready, TimeoutSeconds: 5}, "", 0); err != nil {
		t.Errorf("probe of an existing file: %v", err)
	}
	never := filepath.Join(dir, "never-written")
	start := time.Now()
	err := waitProbe(context.Background(), roles.Probe{Type: "file", Target: never, TimeoutSeconds: 0.05}, "", 0)
	if err == nil || !strings.Contains(err.Error(), "timed out") || !strings.Contains(err.Error(), never) {
		t.Errorf("probe of a missing file: %v, want a timeout naming %s", err, never)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("a 50ms probe took %s to time out", took)
	}
}
