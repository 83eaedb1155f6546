package slurm

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The variables Slurm sets in a job that this package reads. Callers name them in messages and
// documentation; only this package reads them.
const (
	VarJobID         = "SLURM_JOB_ID"
	VarJobNodelist   = "SLURM_JOB_NODELIST"
	VarNodelist      = "SLURM_NODELIST" // older setups
	VarJobNumNodes   = "SLURM_JOB_NUM_NODES"
	VarNNodes        = "SLURM_NNODES" // older setups
	VarGPUsOnNode    = "SLURM_GPUS_ON_NODE"
	VarGPUsPerNode   = "SLURM_GPUS_PER_NODE"
	VarRestartCount  = "SLURM_RESTART_COUNT"
	VarNTasks        = "SLURM_NTASKS"
	VarNProcs        = "SLURM_NPROCS" // older setups
	VarNTasksPerNode = "SLURM_NTASKS_PER_NODE"
	// VarLaunchGPUsPerNode is the launch scripts' own GPUs per node, read after Slurm's.
	VarLaunchGPUsPerNode = "gpusPerNode"
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

	topo.JobID = strings.TrimSpace(getenv(VarJobID))

	listVar, list := lookup(VarJobNodelist, VarNodelist)
	if list != "" {
		nodes, err := ExpandHostlist(list)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", listVar, err))
		} else {
			topo.Nodes = nodes
		}
	}

	if _, v := lookup(VarJobNumNodes); v != "" {
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

	if gpuVar, v := lookup(VarGPUsOnNode, VarGPUsPerNode, VarLaunchGPUsPerNode); v != "" {
		n, err := ParseGPUCount(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%w", gpuVar, err))
		} else {
			topo.GPUsPerNode = n
		}
	}

	if v := strings.TrimSpace(getenv(VarRestartCount)); v != "" {
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

// Overridden names the parts of a Topology that the caller takes from elsewhere, its flags:
// TopologyFromEnvWithout neither reads nor judges the variables that would give them, so that a
// broken value the user works around with a flag does not stop the plan.
type Overridden struct {
	Nodes        bool // SLURM_JOB_NODELIST, SLURM_NODELIST and SLURM_JOB_NUM_NODES
	GPUsPerNode  bool // SLURM_GPUS_ON_NODE, SLURM_GPUS_PER_NODE and gpusPerNode
	JobID        bool // SLURM_JOB_ID
	RestartCount bool // SLURM_RESTART_COUNT
}

// hides reports whether the variable name gives an overridden part.
func (o Overridden) hides(name string) bool {
	switch name {
	case VarJobNodelist, VarNodelist, VarJobNumNodes:
		return o.Nodes
	case VarGPUsOnNode, VarGPUsPerNode, VarLaunchGPUsPerNode:
		return o.GPUsPerNode
	case VarJobID:
		return o.JobID
	case VarRestartCount:
		return o.RestartCount
	}
	return false
}

// TopologyFromEnvWithout is TopologyFromEnv without the overridden parts, which stay zero.
func TopologyFromEnvWithout(getenv func(string) string, o Overridden) (Topology, error) {
	return TopologyFromEnv(func(name string) string {
		if o.hides(name) {
			return ""
		}
		return getenv(name)
	})
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
