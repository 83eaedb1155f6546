package slurm

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseTasksPerNode reads a task count per node as Slurm writes it in SLURM_STEP_TASKS_PER_NODE and
// SLURM_TASKS_PER_NODE: counts separated by commas, a run of equal counts as "count(xN)", e.g.
// "2(x3),1" for 2, 2, 2, 1.
func ParseTasksPerNode(s string) ([]int, error) {
	var out []int
	for _, item := range strings.Split(strings.TrimSpace(s), ",") {
		count, repeat := item, "1"
		if i := strings.IndexByte(item, '('); i >= 0 {
			rep, ok := strings.CutPrefix(item[i:], "(x")
			if !ok || !strings.HasSuffix(rep, ")") {
				return nil, fmt.Errorf("tasks per node %q: %q is not COUNT or COUNT(xN)", s, item)
			}
			count, repeat = item[:i], strings.TrimSuffix(rep, ")")
		}
		c, err1 := strconv.Atoi(count)
		n, err2 := strconv.Atoi(repeat)
		if err1 != nil || err2 != nil || c < 0 || n < 1 {
			return nil, fmt.Errorf("tasks per node %q: %q is not COUNT or COUNT(xN)", s, item)
		}
		for range n {
			out = append(out, c)
		}
	}
	return out, nil
}

// BlockNodes gives the node of every rank of a step whose tasks Slurm laid out with its default
// block distribution: the first perNode[0] ranks on nodes[0], the next perNode[1] on nodes[1], and
// so on. It is an error when the two lists disagree in length.
func BlockNodes(nodes []string, perNode []int) ([]string, error) {
	if len(nodes) != len(perNode) {
		return nil, fmt.Errorf("%d nodes but %d task counts", len(nodes), len(perNode))
	}
	var out []string
	for i, n := range perNode {
		for range n {
			out = append(out, nodes[i])
		}
	}
	return out, nil
}

// JobTasks is the number of tasks srun starts in the job when a step names none, as srun reads it
// from the job's environment: SLURM_NTASKS (SLURM_NPROCS on old setups), else SLURM_NTASKS_PER_NODE
// on each of SLURM_JOB_NUM_NODES (SLURM_NNODES) nodes. 0 means the environment does not say (no
// allocation, or a job without a task count, where srun starts one task per node). count reads and
// judges each value used (blank ones count as unset), so that the caller's rules and messages apply;
// its error is returned as it is.
func JobTasks(getenv func(string) string, count func(name, value string) (int, error)) (int, error) {
	read := func(name string) (int, bool, error) {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return 0, false, nil
		}
		n, err := count(name, v)
		return n, err == nil, err
	}
	for _, name := range []string{VarNTasks, VarNProcs} {
		if n, ok, err := read(name); err != nil || ok {
			return n, err
		}
	}
	perNode, ok, err := read(VarNTasksPerNode)
	if err != nil || !ok {
		return 0, err
	}
	for _, name := range []string{VarJobNumNodes, VarNNodes} {
		if nodes, ok, err := read(name); err != nil || ok {
			return nodes * perNode, err
		}
	}
	return 0, nil
}
