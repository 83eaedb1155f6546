package slurm

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// DefaultKillWait is Slurm's own default for KillWait, used when the cluster's value cannot be read.
const DefaultKillWait = 30 * time.Second

// KillWait asks the cluster (scontrol show config) how long Slurm waits between the SIGTERM of a
// cancellation, requeue or time limit and the SIGKILL that ends the job. The supervisor must finish
// its teardown and its record inside that time.
func KillWait(ctx context.Context, scontrol string) (time.Duration, error) {
	out, err := exec.CommandContext(ctx, scontrol, "show", "config").Output()
	if err != nil {
		return 0, fmt.Errorf("%s show config: %w", scontrol, err)
	}
	return ParseKillWait(string(out))
}

// ParseKillWait reads the "KillWait = 30 sec" line of `scontrol show config`.
func ParseKillWait(config string) (time.Duration, error) {
	for line := range strings.Lines(config) {
		name, value, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(name) != "KillWait" {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) == 0 {
			break
		}
		n, err := strconv.Atoi(fields[0])
		if err != nil || n < 0 {
			return 0, fmt.Errorf("scontrol show config: KillWait %q is not a number of seconds", strings.TrimSpace(value))
		}
		return time.Duration(n) * time.Second, nil
	}
	return 0, fmt.Errorf("scontrol show config: no KillWait line")
}

// JobState asks the controller for a job's state (scontrol show job), e.g. RUNNING, COMPLETING,
// CANCELLED, TIMEOUT, PENDING (after a requeue).
func JobState(ctx context.Context, scontrol, jobID string) (string, error) {
	out, err := exec.CommandContext(ctx, scontrol, "show", "job", "--oneliner", jobID).Output()
	if err != nil {
		return "", fmt.Errorf("%s show job %s: %w", scontrol, jobID, err)
	}
	return ParseJobState(string(out))
}

// ParseJobState reads the JobState field of `scontrol show job`.
func ParseJobState(out string) (string, error) {
	for _, field := range strings.Fields(out) {
		if state, ok := strings.CutPrefix(field, "JobState="); ok && state != "" {
			return state, nil
		}
	}
	return "", fmt.Errorf("scontrol show job: no JobState field")
}

// JobEnding reports whether a job state, read while the job's batch script still runs, means Slurm
// is ending the job (scancel, requeue, time limit, preemption, node failure): only RUNNING means it
// is not.
func JobEnding(state string) bool {
	return state != "" && state != "RUNNING"
}
