package roles

import (
	"strings"

	"github.com/disagg-supervisor/disagg-supervisor/slurm"
)

// topology reads the allocation from Slurm's environment and applies the flag overrides. Variables
// a flag overrides are hidden from the slurm package, so that a broken value the user is working
// around with a flag does not stop the plan. Problems are recorded: the nodes are nil when the node
// list is missing or bad, and envOK is false when Slurm's environment is malformed, so that what it
// would have given (GPUs per node) is unknown rather than missing.
func (b *builder) topology() (topo slurm.Topology, envOK bool) {
	f := b.f
	topo, err := slurm.TopologyFromEnvWithout(b.getenv, slurm.Overridden{
		Nodes: f.Nodelist != "", GPUsPerNode: f.GPUsPerNode != nil, JobID: f.JobID != "", RestartCount: f.RestartCount != nil,
	})
	envOK = err == nil
	if !envOK {
		b.probs.add(&InputError{Input: "environment", Problem: strings.ReplaceAll(err.Error(), "\n", "; ")})
		topo = slurm.Topology{}
	}
	if nodes, err := b.nodes(topo.Nodes, envOK); !b.probs.add(err) {
		topo.Nodes = nodes
	} else {
		topo.Nodes = nil
	}

	if f.GPUsPerNode != nil {
		if !b.probs.add(checkRange("--gpus-per-node", *f.GPUsPerNode, 1)) {
			topo.GPUsPerNode = *f.GPUsPerNode
		}
	}

	jobFrom := slurm.VarJobID
	switch {
	case f.JobID != "":
		topo.JobID, jobFrom = strings.TrimSpace(f.JobID), "--job-id"
	case topo.JobID == "":
		topo.JobID = DefaultJobID
	}
	b.probs.add(checkPathPart(jobFrom, topo.JobID))

	if f.RestartCount != nil {
		if !b.probs.add(checkRange("--restart-count", *f.RestartCount, 0)) {
			topo.RestartCount = *f.RestartCount
		}
	}
	return topo, envOK
}

// nodes applies --nodelist to the node list Slurm's environment gave (fromEnv), and checks the
// result. envOK false means the environment's list is unknown: only the flag is judged then.
func (b *builder) nodes(fromEnv []string, envOK bool) ([]string, error) {
	f := b.f
	nodes, nodesFrom := fromEnv, slurm.VarJobNodelist
	if f.Nodelist != "" {
		nodesFrom = "--nodelist"
		// Counted first: making a million names only to refuse them would take seconds.
		n, err := slurm.CountHostlist(f.Nodelist)
		if err != nil {
			return nil, &InputError{Input: "--nodelist", Problem: err.Error()}
		}
		if n > maxNodes {
			return nil, inputErrorf(nodesFrom, "%d nodes: more than %d, the most one plan takes", n, maxNodes)
		}
		if nodes, err = slurm.ExpandHostlist(f.Nodelist); err != nil {
			return nil, &InputError{Input: "--nodelist", Problem: err.Error()}
		}
		if len(nodes) == 0 {
			return nil, inputErrorf("--nodelist", "no nodes in %s", quote(f.Nodelist))
		}
	}
	if len(nodes) == 0 {
		if !envOK {
			return nil, nil // the environment's problem is reported already
		}
		return nil, missing(inNodelist, "")
	}
	if len(nodes) > maxNodes {
		return nil, inputErrorf(nodesFrom, "%d nodes: more than %d, the most one plan takes", len(nodes), maxNodes)
	}
	// Two slices holding one node would make srun fail after the earlier roles have started.
	seen := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		if seen[n] {
			return nil, inputErrorf(nodesFrom, "node %s is listed twice", quote(n))
		}
		seen[n] = true
	}
	return nodes, nil
}
