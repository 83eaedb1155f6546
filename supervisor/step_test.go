package supervisor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFinishRecognisesSlurmsCancellation reads step logs as srun and slurmstepd leave them and checks
// which ends count as Slurm's cancellation of the job rather than a failure of the role.
func TestFinishRecognisesSlurmsCancellation(t *testing.T) {
	const cancel = "slurmstepd: error: *** STEP 41.2 ON node1 CANCELLED AT 2026-11-30T05:20:25 ***\n"
	noise := strings.Repeat("toy: CTX_0 rank 1: flushing a long shutdown report line\n", 40000) // ~2 MB
	for _, tt := range []struct {
		name string
		log  string
		want bool
	}{
		{"scancel, tasks terminated", "toy: serving\nsrun: Job step aborted: Waiting up to 7 seconds for job step to finish.\n" + cancel +
			"srun: error: node1: tasks 0-1: Terminated\n", true},
		{"scancel before any task started", "srun: Job step aborted: Waiting up to 7 seconds for job step to finish.\n" + cancel, true},
		// A task that exits 143 by itself under --kill-on-bad-exit leaves the same lines as a scancel
		// whose tasks exit 143 on SIGTERM: the run loop asks Slurm about these.
		{"tasks exited 143", cancel + "srun: error: node1: tasks 0-1: Exited with exit code 143\n", false},
		{"tasks killed", cancel + "srun: error: node1: task 0: Killed\n", false},
		{"requeue says why", "srun: error: node1: task 1: Exited with exit code 3\n" +
			"slurmstepd: error: *** STEP 41.2 ON node1 CANCELLED AT 2026-11-30T05:20:25 DUE TO JOB REQUEUE ***\n", true},
		{"kill-on-bad-exit after a real failure", "srun: error: node1: task 1: Exited with exit code 3\n" + cancel +
			"srun: error: node1: task 0: Terminated\n", false},
		{"no cancellation line", "srun: error: node1: task 0: Exited with exit code 143\n", false},
		{"cancellation line pushed out of the tail", cancel + noise + "srun: error: node1: task 0: Terminated\n", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ctx_server_0.log")
			header := "=== disagg-supervisor: CTX_0 attempt 41.0.1 launched ===\n"
			if err := os.WriteFile(path, []byte(header+tt.log), 0o644); err != nil {
				t.Fatal(err)
			}
			s := &step{name: "CTX_0", log: path, logStart: int64(len(header))}
			s.finish(1, "", time.Now())
			if got := s.cancelledBySlurm != ""; got != tt.want {
				t.Errorf("cancelled by Slurm: %v (%q), want %v", got, s.cancelledBySlurm, tt.want)
			}
		})
	}
}
