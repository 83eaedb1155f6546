package task

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
	"github.com/disagg-supervisor/disagg-supervisor/taskopts"
)

// identity is who this task is, read once from the Slurm environment.
type identity struct {
	role    string
	kind    taskopts.Kind
	rank    int
	localID int
	ntasks  int
	node    string
	jobID   string
	stepID  string
	pid     int
	// notes says which values were assumed because Slurm did not set them, for the identity line.
	notes []string
}

// readIdentity reads the task's identity from env. Role and kind come from opts (already checked);
// SLURMD_NODENAME names the node because all nodes of a test cluster, and the nodes of some real
// ones, share a host name.
func readIdentity(opts Options, env *environ, hostname func() (string, error)) (identity, error) {
	id := identity{role: opts.Role, kind: opts.Kind, pid: os.Getpid()}
	id.jobID, _ = env.get("SLURM_JOB_ID")
	id.stepID, _ = env.get("SLURM_STEP_ID")

	var err error
	if id.rank, err = intVar(env, "SLURM_PROCID", 0, &id.notes); err != nil {
		return id, err
	}
	if id.localID, err = intVar(env, "SLURM_LOCALID", 0, &id.notes); err != nil {
		return id, err
	}
	// The step's own count is preferred: SLURM_NTASKS also exists in the batch job's environment,
	// where it counts the job's tasks, not this step's.
	ntasksVar := "SLURM_STEP_NUM_TASKS"
	if v, _ := env.get(ntasksVar); v == "" {
		ntasksVar = "SLURM_NTASKS"
	}
	if id.ntasks, err = intVar(env, ntasksVar, 1, &id.notes); err != nil {
		return id, err
	}
	if id.ntasks < 1 {
		return id, fmt.Errorf("%s=%d: a step has at least one task", ntasksVar, id.ntasks)
	}
	if id.rank >= id.ntasks {
		return id, fmt.Errorf("SLURM_PROCID=%d is not below %s=%d", id.rank, ntasksVar, id.ntasks)
	}

	if id.node, _ = env.get("SLURMD_NODENAME"); id.node == "" {
		h, err := hostname()
		if err != nil || h == "" {
			return id, fmt.Errorf("SLURMD_NODENAME is unset and the host name is unknown: %w", err)
		}
		id.node = h
		id.notes = append(id.notes, "node from host name")
	}
	return id, nil
}

// intVar reads a non-negative integer variable, or def (with a note) when it is unset.
func intVar(env *environ, name string, def int, notes *[]string) (int, error) {
	v, _ := env.get(name)
	if v == "" {
		*notes = append(*notes, fmt.Sprintf("%s unset, assumed %d", name, def))
		return def, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s=%q is not a non-negative integer", name, v)
	}
	return n, nil
}

// line is the one identity line printed at start, in key=value form so logs can be grepped.
func (id identity) line(coordDir string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "task: role=%s kind=%s rank=%d localid=%d ntasks=%d node=%s pid=%d", id.role, id.kind, id.rank, id.localID, id.ntasks, id.node, id.pid)
	if id.jobID != "" {
		fmt.Fprintf(&b, " job=%s", id.jobID)
	}
	if id.stepID != "" {
		fmt.Fprintf(&b, " step=%s", id.stepID)
	}
	fmt.Fprintf(&b, " coord=%s", coordDir)
	if len(id.notes) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(id.notes, "; "))
	}
	return b.String()
}

// who prefixes error messages, so that every failure line in an interleaved role log says which task
// wrote it.
func (id identity) who() string {
	return fmt.Sprintf("role %s rank %d on %s", id.role, id.rank, id.node)
}

// marker is what the task writes into its start marker, barrier arrival and install files: enough to
// name it in another task's error message, and its Slurm step for the supervisor.
func (id identity) marker(now time.Time) coord.Marker {
	return coord.Marker{Role: id.role, Rank: id.rank, Node: id.node, PID: id.pid, Job: id.jobID, Step: id.stepID, Time: now}
}
