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
