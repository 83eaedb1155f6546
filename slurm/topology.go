package slurm

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Topology is the allocation as Slurm describes it.
type Topology struct {
	JobID        string   // SLURM_JOB_ID
	Nodes        []string // the expanded node list, in Slurm's order
	GPUsPerNode  int      // 0 when no variable says
	RestartCount int      // how often Slurm requeued the job; 0 on the first run
}

// TopologyFromEnv reads the allocation from Slurm's environment, looked up
// through getenv (os.Getenv in production) so that tests and the fake srun
// can supply their own.
//
// The node list comes from SLURM_JOB_NODELIST, or SLURM_NODELIST on older
// setups, and must have SLURM_JOB_NUM_NODES names when that is set. GPUs
// per node come from SLURM_GPUS_ON_NODE, else SLURM_GPUS_PER_NODE, else the
// launch scripts' gpusPerNode. Missing variables leave their fields zero:
// the caller applies flag overrides and decides what is required. A
// present but malformed value is an error naming the variable and value;
// all such problems are reported together.
func TopologyFromEnv(getenv func(string) string) (Topology, error) {
	var topo Topology
	var errs []error
	lookup := func(names ...string) (name, value string) {
		for _, n := range names {
			if v := strings.TrimSpace(getenv(n)); v != "" {
				return n, v
			}
		}
		return "", ""
	}

	topo.JobID = strings.TrimSpace(getenv("SLURM_JOB_ID"))

	listVar, list := lookup("SLURM_JOB_NODELIST", "SLURM_NODELIST")
	if list != "" {
		nodes, err := ExpandHostlist(list)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", listVar, err))
		} else {
			topo.Nodes = nodes
		}
	}

	if _, v := lookup("SLURM_JOB_NUM_NODES"); v != "" {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil || n < 0:
			errs = append(errs, fmt.Errorf("SLURM_JOB_NUM_NODES=%q: not a node count", v))
		case list == "":
			// Nothing to check against; the caller decides whether a
			// missing node list is fatal.
		case topo.Nodes != nil && n != len(topo.Nodes):
			errs = append(errs, fmt.Errorf("SLURM_JOB_NUM_NODES=%q but %s=%q has %d nodes", v, listVar, list, len(topo.Nodes)))
		}
	}

	if gpuVar, v := lookup("SLURM_GPUS_ON_NODE", "SLURM_GPUS_PER_NODE", "gpusPerNode"); v != "" {
		n, err := ParseGPUCount(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%w", gpuVar, err))
		} else {
			topo.GPUsPerNode = n
		}
	}

	if v := strings.TrimSpace(getenv("SLURM_RESTART_COUNT")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			errs = append(errs, fmt.Errorf("SLURM_RESTART_COUNT=%q: not a restart count", v))
		} else {
			topo.RestartCount = n
		}
	}

	if len(errs) > 0 {
		return Topology{}, errors.Join(errs...)
	}
	return topo, nil
}

// ParseGPUCount reads a GPU count in the forms Slurm uses for GPUs per
// node: "4", "gpu:4", "h100:4", "gpu:h100:4", GRES detail such as
// "gpu:h100:4(IDX:0-3)", and comma-separated lists of these, whose counts
// add up ("gpu:a100:2,gpu:v100:2" is 4). The error quotes the value so
// that the caller can prefix the variable name: NAME=<error>.
func ParseGPUCount(value string) (int, error) {
	bad := func() (int, error) {
		return 0, fmt.Errorf("%q: not a GPU count", value)
	}
	items, ok := splitOutsideParens(value)
	if !ok {
		return bad()
	}
	total := 0
	for _, item := range items {
		// "(IDX:0-3)" and similar details describe which GPUs, not how
		// many.
		if open := strings.IndexByte(item, '('); open >= 0 {
			if !strings.HasSuffix(item, ")") {
				return bad()
			}
			item = item[:open]
		}
		fields := strings.Split(strings.TrimSpace(item), ":")
		if len(fields) > 3 {
			return bad()
		}
		for _, name := range fields[:len(fields)-1] {
			if name == "" || strings.ContainsAny(name, " \t") {
				return bad()
			}
		}
		n, err := strconv.Atoi(fields[len(fields)-1])
		if err != nil || n < 0 || total+n < total {
			return bad()
		}
		total += n
	}
	return total, nil
}

// splitOutsideParens splits s at commas that are not inside parentheses,
// since GRES detail such as "(IDX:0,2)" holds commas of its own. ok is
// false for unbalanced parentheses.
func splitOutsideParens(s string) (items []string, ok bool) {
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth < 0 {
				return nil, false
			}
		case ',':
			if depth == 0 {
				items = append(items, s[start:i])
				start = i + 1
			}
		}
	}
	if depth != 0 {
		return nil, false
	}
	return append(items, s[start:]), true
}
