// Where a step's tasks run: its nodes and the tasks on each, from srun's options and the job.

package fakesrun

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/slurm"
)

// fakeStep is one step worked out from srun's command line and environment, before anything runs.
type fakeStep struct {
	stepLayout
	stepID     int // set by claimStep
	stepFile   string
	mpi        string
	killOnBad  bool
	label      bool
	killWait   time.Duration
	stateDir   string
	argv       []string
	dir        string   // the tasks' working directory; "" is srun's
	env        []string // the step's environment, from --export, before the per-task variables
	stdoutSpec ioSpec
	stderrSpec ioSpec
	appendOut  bool
	jobName    string
}

// stepLayout is where a step's tasks run. It follows from srun's options and the job alone, so
// Slurm's placement rules are worked out (and tested) without touching the machine.
type stepLayout struct {
	jobID    string
	jobNodes []string
	nodes    []string // the step's nodes, in the job's order
	perNode  []int    // tasks on each step node
	tasks    []fakeTask
	gpus     int // GPUs per node the tasks see; 0: none
}

// fakeTask is one task of a step.
type fakeTask struct {
	rank    int // SLURM_PROCID
	localID int // SLURM_LOCALID
	nodeID  int // SLURM_NODEID: the index of its node in the step
	node    string
}

// getenvFrom returns a getenv over env in which the last of repeated names wins, as it does for exec.
func getenvFrom(env []string) func(string) string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return func(name string) string { return m[name] }
}

// planFakeStep lays out the step (planStep), then settles what depends on this machine: the
// default state directory and the working directory of --chdir. warn receives srun's warnings,
// worded as srun words them, before any error, as srun prints them.
func planFakeStep(o *srunOptions, env []string, warn func(string)) (*fakeStep, error) {
	st, warnings, err := planStep(o, env)
	for _, w := range warnings {
		warn(w)
	}
	if err != nil {
		return nil, err
	}
	if st.stateDir == "" {
		st.stateDir = filepath.Join(os.TempDir(), "disagg-fake-slurm-"+safeFileName(st.jobID))
	}
	if o.chdir != "" {
		dir, err := filepath.Abs(o.chdir)
		if err == nil {
			var info os.FileInfo
			if info, err = os.Stat(dir); err == nil && !info.IsDir() {
				err = syscall.ENOTDIR
			}
		}
		if err != nil {
			return nil, fmt.Errorf("srun: error: fake srun: --chdir=%s: %v", o.chdir, err)
		}
		st.dir = dir
	}
	return st, nil
}

// planStep works out the step from srun's options and environment alone: its layout, the step's
// environment and output, and the fake's settings. The state directory is left empty when env does
// not name one. warnings are srun's, also when there is an error.
func planStep(o *srunOptions, env []string) (st *fakeStep, warnings []string, err error) {
	getenv := getenvFrom(env)
	topo, err := slurm.TopologyFromEnv(getenv)
	if err != nil {
		return nil, nil, fmt.Errorf("srun: error: fake srun: cannot read the job from the environment: %w", err)
	}
	// A copy, so that the caller's options still say what its command line said.
	opts := *o
	if err := applyInputEnv(&opts, getenv); err != nil {
		return nil, nil, err
	}
	layout, warnings, err := layoutStep(&opts, topo)
	if err != nil {
		return nil, warnings, err
	}
	st = &fakeStep{
		stepLayout: layout,
		mpi:        o.mpi,
		killOnBad:  o.killOnBadExit,
		label:      o.label,
		argv:       o.argv,
		appendOut:  o.appendOutput,
		stateDir:   getenv(StateDirEnv),
	}
	if st.killWait, err = fakeKillWait(getenv(KillWaitEnv)); err != nil {
		return nil, warnings, err
	}
	export := o.export
	if !o.exportSet {
		// srun's default comes from this variable, which sbatch --export sets for the job's steps.
		export = getenv("SLURM_EXPORT_ENV")
	}
	st.env = exportEnv(export, env)

	st.stdoutSpec = parseIOSpec(o.output, len(st.tasks))
	st.stderrSpec = st.stdoutSpec
	if o.errorOutput != "" {
		st.stderrSpec = parseIOSpec(o.errorOutput, len(st.tasks))
	}
	st.jobName = o.jobName
	if st.jobName == "" {
		st.jobName = getenv("SLURM_JOB_NAME")
	}
	if st.jobName == "" {
		st.jobName = filepath.Base(o.argv[0])
	}
	return st, warnings, nil
}

// layoutStep places a step's tasks as Slurm does for srun's options (after applyInputEnv) in the
// job topo describes: the step's nodes, the task count, and the tasks on the nodes. warnings are
// srun's, also when there is an error.
func layoutStep(o *srunOptions, topo slurm.Topology) (l stepLayout, warnings []string, err error) {
	l.jobID = topo.JobID
	if l.jobID == "" {
		l.jobID = defaultFakeJobID
	}
	wanted, err := wantedNodes(o.nodelist)
	if err != nil {
		return stepLayout{}, nil, err
	}
	l.jobNodes = topo.Nodes
	switch {
	case len(l.jobNodes) > 0:
	case wanted != nil:
		l.jobNodes = wanted
	default:
		l.jobNodes = []string{defaultFakeNode}
	}
	if l.nodes, err = stepNodes(o, l.jobID, l.jobNodes, wanted); err != nil {
		return stepLayout{}, nil, err
	}

	nodes := len(l.nodes)
	ntasks := o.ntasks
	if perNode := o.ntasksPerNode; perNode > 0 {
		switch {
		case ntasks == 0:
			ntasks = nodes * perNode
		case ntasks > nodes*perNode:
			// Slurm 22.05 warns only when the tasks do not fit; fewer tasks are laid out as below,
			// which never puts more than perNode on a node.
			warnings = append(warnings, fmt.Sprintf("can't honor --ntasks-per-node set to %d which doesn't match "+
				"the requested tasks %d with the number of requested nodes %d. Ignoring --ntasks-per-node.", perNode, ntasks, nodes))
		}
	}
	if ntasks == 0 {
		ntasks = nodes
	}
	if ntasks < nodes {
		if wanted != nil {
			return stepLayout{}, warnings, fmt.Errorf("srun: error: fake srun: %d tasks cannot cover the %d nodes of --nodelist=%s",
				ntasks, nodes, o.nodelist)
		}
		warnings = append(warnings, fmt.Sprintf("can't run %d processes on %d nodes, setting nnodes to %d", ntasks, nodes, ntasks))
		l.nodes = l.nodes[:ntasks]
	}
	l.perNode, l.tasks = blockLayout(l.nodes, ntasks)

	l.gpus = topo.GPUsPerNode
	if o.gpusSet {
		if topo.GPUsPerNode > 0 && o.gpusPerNode > topo.GPUsPerNode {
			return stepLayout{}, warnings, unavailable(l.jobID, "Invalid generic resource (gres) specification")
		}
		l.gpus = o.gpusPerNode
	}
	return l, warnings, nil
}

// unavailable is srun's error when the controller refuses to create the step.
func unavailable(jobID, why string) error {
	return fmt.Errorf("srun: error: Unable to create step for job %s: %s", jobID, why)
}

// wantedNodes are the distinct nodes of --nodelist, nil without one.
func wantedNodes(nodelist string) ([]string, error) {
	if nodelist == "" {
		return nil, nil
	}
	hosts, err := slurm.ExpandHostlist(nodelist)
	if err != nil {
		return nil, fmt.Errorf("srun: error: Invalid node name specified: %w", err)
	}
	wanted := dedupeNodes(hosts)
	if len(wanted) == 0 {
		return nil, fmt.Errorf("srun: error: Invalid node name specified: --nodelist=%q names no node", nodelist)
	}
	return wanted, nil
}

// stepNodes picks the step's nodes among the job's: those of --nodelist (wanted), or the first -N
// (by default as many as the job has, or as the tasks when there are fewer).
func stepNodes(o *srunOptions, jobID string, jobNodes, wanted []string) ([]string, error) {
	if wanted == nil {
		n := o.nodes
		if n == 0 {
			n = len(jobNodes)
			if o.ntasks > 0 && o.ntasks < n && o.ntasksPerNode == 0 {
				n = o.ntasks
			}
		}
		if n > len(jobNodes) {
			return nil, unavailable(jobID, "Requested node configuration is not available")
		}
		return jobNodes[:n], nil
	}
	switch {
	case o.nodes > 0 && o.nodes < len(wanted):
		// Real srun drops nodes from the list and then fails to create the step, as -w requires
		// all of them.
		return nil, fmt.Errorf("srun: error: Required nodelist includes more nodes than permitted by max-node count (%d > %d). "+
			"Eliminating nodes from the nodelist.\n%w",
			len(wanted), o.nodes, unavailable(jobID, "Requested node configuration is not available"))
	case o.nodes > len(wanted):
		// Real srun would add nodes of the allocation; a plan whose -N and -w disagree is a bug
		// worth stopping for.
		return nil, fmt.Errorf("srun: error: fake srun: -N %d asks for more nodes than --nodelist=%s names (%d); "+
			"it does not add nodes to a nodelist", o.nodes, o.nodelist, len(wanted))
	}
	// A step's nodes are always in the allocation, and in its order whatever the order of -w.
	index := make(map[string]int, len(jobNodes))
	for i, n := range jobNodes {
		if _, ok := index[n]; !ok {
			index[n] = i
		}
	}
	taken := make([]bool, len(jobNodes))
	for _, n := range wanted {
		i, ok := index[n]
		if !ok {
			return nil, unavailable(jobID, "Requested node configuration is not available")
		}
		taken[i] = true
	}
	var nodes []string
	for i, n := range jobNodes {
		if taken[i] {
			nodes = append(nodes, n)
		}
	}
	return nodes, nil
}

// blockLayout is Slurm's block distribution of ntasks over nodes: counts dealt round-robin (so the
// first nodes get one more when the tasks do not divide evenly), then consecutive ranks per node.
func blockLayout(nodes []string, ntasks int) (perNode []int, tasks []fakeTask) {
	perNode = make([]int, len(nodes))
	for i := range perNode {
		perNode[i] = ntasks / len(nodes)
		if i < ntasks%len(nodes) {
			perNode[i]++
		}
	}
	rank := 0
	for nodeID, count := range perNode {
		for local := 0; local < count; local++ {
			tasks = append(tasks, fakeTask{rank: rank, localID: local, nodeID: nodeID, node: nodes[nodeID]})
			rank++
		}
	}
	return perNode, tasks
}

func dedupeNodes(names []string) []string {
	seen := make(map[string]bool, len(names))
	out := make([]string, 0, len(names))
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// safeFileName keeps a job id usable inside a file name whatever the environment says.
func safeFileName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == 0 {
			return '_'
		}
		return r
	}, s)
}
