package supervisor

import (
	"os"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/record"
)

// A summary.json that says "running" is only true while its supervisor lives: one killed with SIGKILL
// (the OOM killer, a node lost, a person) leaves it saying so forever. So the summary names its
// supervisor (host, pid, boot) and carries a heartbeat, updated_at, rewritten every HeartbeatPeriod
// even when nothing changes; `status` judges a run whose supervisor is not alive on this host, or
// whose heartbeat is older than HeartbeatStale, gone.

// currentSupervisor describes this process, started at start.
func currentSupervisor(start time.Time) record.SupervisorInfo {
	host, _ := os.Hostname()
	return record.SupervisorInfo{Host: host, PID: os.Getpid(), BootID: record.BootID(), StartedAt: start.UTC()}
}
