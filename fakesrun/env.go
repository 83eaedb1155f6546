// The environment of a step (--export) and of each of its tasks (SLURM_* as srun sets them).

package fakesrun

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/disagg-supervisor/disagg-supervisor/slurm"
)

// exportEnv is the step's environment for an --export value, as srun builds it: the named variables
// (with their value in env, or the value given), then, under ALL (the default), all of env, which
// overwrites the named ones; otherwise only env's SLURM* variables. Slurm documents that under ALL
// the caller's environment takes precedence over explicit values, and the fake keeps that, so that
// a plan relying on "--export=ALL,X=y" to change an X it already has fails here too.
func exportEnv(export string, env []string) []string {
	all := export == ""
	var named []string
	for _, tok := range splitExport(export) {
		if strings.EqualFold(tok, "ALL") {
			all = true
			continue
		}
		if strings.EqualFold(tok, "NONE") {
			break
		}
		if name, _, ok := strings.Cut(tok, "="); ok {
			named = withEnvVar(named, name, tok[len(name)+1:])
		} else if v, ok := lastEnvValue(env, tok); ok {
			named = withEnvVar(named, tok, v)
		}
	}
	out := named
	for _, kv := range env {
		name, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if all || strings.HasPrefix(name, "SLURM") {
			out = withEnvVar(out, name, v)
		}
	}
	return out
}

func lastEnvValue(env []string, name string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == name {
			return v, true
		}
	}
	return "", false
}

// splitExport splits an --export value at commas outside quotes, and drops quotes around a whole
// item, as srun does; so "A='x,y'" keeps its quotes and comma, while "'A=x,y'" becomes A=x,y.
func splitExport(s string) []string {
	var items []string
	var single, double bool
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) {
			switch s[i] {
			case '\'':
				if !double {
					single = !single
				}
				continue
			case '"':
				if !single {
					double = !double
				}
				continue
			case ',':
				if single || double {
					continue
				}
			default:
				continue
			}
		}
		item := s[start:i]
		if len(item) >= 2 && (item[0] == '\'' || item[0] == '"') && item[len(item)-1] == item[0] {
			item = item[1 : len(item)-1]
		}
		if item != "" {
			items = append(items, item)
		}
		start = i + 1
	}
	return items
}

// withEnvVar sets name in env, replacing an earlier value in place so that the order stays stable.
func withEnvVar(env []string, name, value string) []string {
	prefix := name + "="
	for i, kv := range env {
		if strings.HasPrefix(kv, prefix) {
			env[i] = prefix + value
			return env
		}
	}
	return append(env, prefix+value)
}

// taskEnv is the environment of one task: the step's, plus what slurmstepd sets for the task.
func (st *fakeStep) taskEnv(t fakeTask) []string {
	env := make([]string, len(st.env), len(st.env)+32)
	copy(env, st.env)
	jobID, stepID := st.jobID, strconv.Itoa(st.stepID)
	stepNodes := slurm.CompressHostlist(st.nodes)
	nnodes, ntasks := strconv.Itoa(len(st.nodes)), strconv.Itoa(len(st.tasks))
	perNode := tasksPerNodeString(st.perNode)
	for _, kv := range [][2]string{
		{"SLURM_JOB_ID", jobID},
		{"SLURM_JOBID", jobID},
		{"SLURM_JOB_NODELIST", slurm.CompressHostlist(st.jobNodes)},
		{"SLURM_JOB_NUM_NODES", strconv.Itoa(len(st.jobNodes))},
		{"SLURM_STEP_ID", stepID},
		{"SLURM_STEPID", stepID},
		{"SLURM_STEP_NODELIST", stepNodes},
		{"SLURM_NODELIST", stepNodes},
		{"SLURM_STEP_NUM_NODES", nnodes},
		{"SLURM_NNODES", nnodes},
		{"SLURM_STEP_NUM_TASKS", ntasks},
		{"SLURM_NTASKS", ntasks},
		{"SLURM_NPROCS", ntasks},
		{"SLURM_STEP_TASKS_PER_NODE", perNode},
		{"SLURM_TASKS_PER_NODE", perNode},
		{"SLURM_PROCID", strconv.Itoa(t.rank)},
		{"SLURM_LOCALID", strconv.Itoa(t.localID)},
		{"SLURM_NODEID", strconv.Itoa(t.nodeID)},
		{"SLURMD_NODENAME", t.node},
	} {
		env = withEnvVar(env, kv[0], kv[1])
	}
	if st.gpus > 0 {
		ids := make([]string, st.gpus)
		for i := range ids {
			ids[i] = strconv.Itoa(i)
		}
		list := strings.Join(ids, ",")
		env = withEnvVar(env, "SLURM_GPUS_ON_NODE", strconv.Itoa(st.gpus))
		env = withEnvVar(env, "SLURM_STEP_GPUS", list)
		env = withEnvVar(env, "CUDA_VISIBLE_DEVICES", list)
		env = withEnvVar(env, "GPU_DEVICE_ORDINAL", list)
		env = withEnvVar(env, "ROCR_VISIBLE_DEVICES", list)
	}
	if st.mpi != "" {
		env = withEnvVar(env, "SLURM_MPI_TYPE", st.mpi)
		if strings.HasPrefix(st.mpi, "pmix") {
			// The PMIx server is not emulated; the rank is there so that tasks looking for it find it.
			env = withEnvVar(env, "PMIX_RANK", strconv.Itoa(t.rank))
		}
	}
	return env
}

// tasksPerNodeString writes task counts per node as Slurm does in SLURM_TASKS_PER_NODE: runs of equal
// counts as "count(xN)", e.g. "2(x3),1".
func tasksPerNodeString(counts []int) string {
	var b strings.Builder
	for i := 0; i < len(counts); {
		j := i + 1
		for j < len(counts) && counts[j] == counts[i] {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(counts[i]))
		if j-i > 1 {
			fmt.Fprintf(&b, "(x%d)", j-i)
		}
		i = j
	}
	return b.String()
}
