package slurm

import (
	"strconv"
	"strings"
)

// FakeAllocationEnv returns base without any SLURM_ variable of a real allocation, plus what sbatch
// would set for a job of the given id, nodes and GPUs per node. The fake srun reads its allocation from
// these, and keeps its step counter in stateDir.
func FakeAllocationEnv(base []string, jobID string, nodes []string, gpusPerNode int, stateDir string) []string {
	out := make([]string, 0, len(base)+6)
	for _, kv := range base {
		if !strings.HasPrefix(kv, "SLURM_") && !strings.HasPrefix(kv, FakeStateDirEnv+"=") {
			out = append(out, kv)
		}
	}
	return append(out,
		"SLURM_JOB_ID="+jobID,
		"SLURM_JOB_NODELIST="+CompressHostlist(nodes),
		"SLURM_JOB_NUM_NODES="+strconv.Itoa(len(nodes)),
		"SLURM_GPUS_ON_NODE="+strconv.Itoa(gpusPerNode),
		FakeStateDirEnv+"="+stateDir,
	)
}

// FakeStateDirEnv names the directory where the fake srun keeps the state of its fake job.
const FakeStateDirEnv = "DISAGG_FAKE_SLURM_DIR"
