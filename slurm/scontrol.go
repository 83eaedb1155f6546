package slurm

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultKillWait is Slurm's own default for KillWait, used when the cluster's value cannot be read.
const DefaultKillWait = 30 * time.Second

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

// JobStatus is what the controller says about a job: its state (RUNNING, COMPLETING, CANCELLED,
// TIMEOUT, NODE_FAIL, PENDING after a requeue, ...) and the reason it gives (NodeDown, ...).
type JobStatus struct {
	State  string
	Reason string
}

// ParseJobState reads the JobState and Reason fields of `scontrol show job`.
func ParseJobState(out string) (JobStatus, error) {
	var st JobStatus
	for _, field := range strings.Fields(out) {
		if state, ok := strings.CutPrefix(field, "JobState="); ok && st.State == "" {
			st.State = state
		}
		if reason, ok := strings.CutPrefix(field, "Reason="); ok && st.Reason == "" {
			st.Reason = reason
		}
	}
	if st.State == "" {
		return JobStatus{}, fmt.Errorf("scontrol show job: no JobState field")
	}
	if st.Reason == "None" {
		st.Reason = ""
	}
	return st, nil
}

// ParseNodeStates reads sinfo's "NODE STATE" lines.
func ParseNodeStates(out string) map[string]string {
	states := map[string]string{}
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) == 2 {
			states[f[0]] = strings.ToLower(f[1])
		}
	}
	return states
}

// NodeFailed reports whether a node state, as sinfo gives it, says the node failed: down, failing,
// or not responding (a trailing *).
func NodeFailed(state string) bool {
	return strings.HasSuffix(state, "*") || strings.HasPrefix(state, "down") || strings.HasPrefix(state, "fail")
}

// JobEnding reports whether a job state, read while the job's batch script still runs, means Slurm
// is ending the job (scancel, requeue, time limit, preemption, node failure): only RUNNING means it
// is not.
func JobEnding(state string) bool {
	return state != "" && state != "RUNNING"
}
