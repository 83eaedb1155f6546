// Package slurmdev gives tests the Slurm dev cluster (scripts/slurm-dev-cluster.sh): the paths of
// its commands, or a skip when it cannot be used. Tests of more than one package compare the code
// with real Slurm, and they should agree on when the cluster counts as usable.
package slurmdev

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// RequireEnv is the variable that turns a missing cluster from a skip into a failure. CI sets it,
// after it has started the cluster, so that a broken cluster cannot pass as a skipped test.
const RequireEnv = "DISAGG_REQUIRE_SLURM"

// Tools are the paths of the Slurm commands on PATH.
type Tools struct {
	Srun, Sbatch, Squeue, Scancel, Scontrol string
}

// Require returns the Slurm commands, or skips the test when the cluster cannot be used (a command
// missing, SLURM_CONF unset, sinfo failing); with DISAGG_REQUIRE_SLURM=1 that is a failure instead.
func Require(t testing.TB) Tools {
	t.Helper()
	unusable := func(format string, args ...any) {
		t.Helper()
		reason := fmt.Sprintf(format, args...)
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("real Slurm is not usable: %s (%s=1)", reason, RequireEnv)
		}
		t.Skipf("real Slurm is not usable: %s; start it with scripts/slurm-dev-cluster.sh up, "+
			"or set %s=1 to make this a failure", reason, RequireEnv)
	}
	paths := map[string]string{}
	for _, name := range []string{"srun", "sinfo", "sbatch", "squeue", "scancel", "scontrol"} {
		p, err := exec.LookPath(name)
		if err != nil {
			unusable("no %s on PATH", name)
		}
		paths[name] = p
	}
	if os.Getenv("SLURM_CONF") == "" {
		unusable("SLURM_CONF is not set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, paths["sinfo"], "-h", "-o", "%T").CombinedOutput()
	if err != nil {
		unusable("sinfo -h -o %%T: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return Tools{Srun: paths["srun"], Sbatch: paths["sbatch"], Squeue: paths["squeue"],
		Scancel: paths["scancel"], Scontrol: paths["scontrol"]}
}
