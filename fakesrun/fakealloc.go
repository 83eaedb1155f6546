package fakesrun

import (
	"strconv"
	"strings"

	"github.com/disagg-supervisor/disagg-supervisor/slurm"
)

// AllocationEnv returns base without any SLURM_ variable of a real allocation, plus what sbatch
// would set for a job of the given id, nodes and GPUs per node. The fake srun reads its allocation from
// these, and keeps its step counter in stateDir.
func AllocationEnv(base []string, jobID string, nodes []string, gpusPerNode int, stateDir string) []string {
	out := make([]string, 0, len(base)+6)
	for _, kv := range base {
		if !strings.HasPrefix(kv, "SLURM_") && !strings.HasPrefix(kv, StateDirEnv+"=") {
			out = append(out, kv)
		}
	}
	return append(out,
		"SLURM_JOB_ID="+jobID,
		"SLURM_JOB_NODELIST="+slurm.CompressHostlist(nodes),
		"SLURM_JOB_NUM_NODES="+strconv.Itoa(len(nodes)),
		"SLURM_GPUS_ON_NODE="+strconv.Itoa(gpusPerNode),
		StateDirEnv+"="+stateDir,
	)
}

// StateDirEnv names the directory where the fake srun keeps the state of its fake job.
const StateDirEnv = "DISAGG_FAKE_SLURM_DIR"
