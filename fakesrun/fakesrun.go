package fakesrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/redact"
	"github.com/disagg-supervisor/disagg-supervisor/slurm"
)

// KillWaitEnv names the variable that sets the fake srun's grace between the signal that ends a
// step and SIGKILL, as a Go duration ("500ms") or in seconds ("2"). Slurm's KillWait plays this part
// on a cluster; tests shorten it.
const KillWaitEnv = "DISAGG_FAKE_SRUN_KILL_WAIT"

const (
	// defaultFakeKillWait is shorter than Slurm's usual KillWait (30 s) because local runs are
	// interactive and nothing there needs long to flush.
	defaultFakeKillWait = 2 * time.Second
	defaultFakeJobID    = "1"
	defaultFakeNode     = "localhost"
	// maxStepIDs bounds the search for a free step id, so that an unwritable state directory fails
	// rather than loops.
	maxStepIDs = 1 << 20
)

// Run runs one step the way srun would, with every task a local process. It returns srun's exit
// status.
//
// args are srun's arguments without the program name; env is srun's environment, which describes the
// fake job (SLURM_JOB_ID, SLURM_JOB_NODELIST, SLURM_GPUS_ON_NODE, ...) and is what the tasks inherit
// under --export=ALL. Task output goes to stdout and stderr, or to the files of -o/-e. srun's own
// messages go to stderr, worded as Slurm 22.05 words them, so that whatever reads a real srun's log
// reads this one too.
//
// SIGTERM, SIGHUP, SIGQUIT or SIGINT on signals, or cancelling ctx, ends the step: the same signal
// (SIGTERM for ctx) goes to every task's process group, SIGKILL after the kill wait. This is gentler
// than Slurm 22.05, whose srun answers SIGTERM with SIGKILL at once and needs two SIGINTs within a
// second; local runs rely on tasks being able to stop cleanly. Any other signal is passed on to the
// tasks, as srun does.
//
// Each task runs in its own process group with SIGKILL as its parent-death signal, so a fake srun that
// dies takes its tasks with it. The kernel keeps that setting per thread, though: a multithreaded task
// that execs from a thread other than its main one (a Go program calling syscall.Exec outside the
// main goroutine locked to the main thread) loses it. When Run returns, every process of every
// task's process group is gone and reaped: to reap processes orphaned inside a task, Run makes
// the calling process a child subreaper (PR_SET_CHILD_SUBREAPER), which stays set. A process that
// leaves its task's process group (setsid) is not followed, as Slurm's cgroups would; avoid it in tasks.
func Run(ctx context.Context, args []string, env []string, stdout, stderr io.Writer, signals <-chan os.Signal) int {
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	opts, err := parseSrunArgs(args)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return srunExitStatus(err)
	}
	if opts.help {
		io.WriteString(stdout, fakeSrunUsage)
		return 0
	}
	if len(opts.ignored) > 0 {
		fmt.Fprintf(stderr, "srun: warning: fake srun ignores container options: %s\n", strings.Join(opts.ignored, ", "))
	}
	step, err := planFakeStep(opts, env, func(msg string) { fmt.Fprintln(stderr, "srun: Warning: "+msg) })
	if err != nil {
		fmt.Fprintln(stderr, err)
		return srunExitStatus(err)
	}
	return runFakeStep(ctx, step, stdout, stderr, signals)
}

// Main is Run for the process: os.Args-style args (without the program name),
// os.Environ, the process's stdio, and SIGTERM/SIGINT/SIGHUP from the OS forwarded.
//
// SIGQUIT, SIGUSR1 and SIGUSR2 are handled too, as real srun handles them: SIGQUIT ends the step,
// the user signals are passed on to the tasks.
func Main(args []string) int {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(signals)
	return Run(context.Background(), args, os.Environ(), os.Stdout, os.Stderr, signals)
}

const fakeSrunUsage = `Usage: srun [OPTIONS...] executable [args...]

This is disagg-supervisor's fake srun: it runs every task of the step as a
local process, as if each node of the fake job were this machine.

  -N, --nodes=N               number of nodes of the step
  -w, --nodelist=HOSTLIST     the step's nodes (a Slurm hostlist)
  -n, --ntasks=N              number of tasks
      --ntasks-per-node=N     tasks per node
      --overlap               accepted (steps always share the machine)
  -K, --kill-on-bad-exit[=0|1] end the step when a task exits non-zero
      --mpi=TYPE              accepted; pmix sets PMIX_RANK
      --gpus-per-node=[TYPE:]N GPUs per node (CUDA_VISIBLE_DEVICES=0..N-1)
      --export=ALL|NONE|NAME[=VALUE][,...]
                              environment passed to the tasks
  -o, --output=PATTERN        task stdout (and stderr) file; %j %J %s %t %n %N %u %x %%
  -e, --error=PATTERN         task stderr file
      --open-mode=append|truncate
  -l, --label                 prefix output lines with the task rank
  -J, --job-name=NAME         accepted
  -D, --chdir=DIR             the tasks' working directory
  -u, --unbuffered            accepted (output is never buffered)
      --container-*           accepted and ignored, with a warning
  -h, --help                  this text

Job: SLURM_JOB_ID, SLURM_JOB_NODELIST and SLURM_GPUS_ON_NODE from the environment.
Step ids: claimed in $DISAGG_FAKE_SLURM_DIR. Grace before SIGKILL: $DISAGG_FAKE_SRUN_KILL_WAIT.
`

// srunExitError is a problem srun reports before it runs anything, with the status it then exits with:
// 255 for what its option parser rejects, 1 for the rest, as Slurm 22.05 does.
type srunExitError struct {
	msg    string
	status int
}

func (e *srunExitError) Error() string { return e.msg }

func srunExitStatus(err error) int {
	var e *srunExitError
	if errors.As(err, &e) {
		return e.status
	}
	return 1
}

// srunOptions is what the fake srun understood of its command line.
type srunOptions struct {
	nodes         int // 0: not given
	nodelist      string
	ntasks        int // 0: not given
	ntasksPerNode int // 0: not given
	killOnBadExit bool
	mpi           string
	gpusPerNode   int
	gpusSet       bool
	export        string
	exportSet     bool
	output        string
	errorOutput   string
	appendOutput  bool
	label         bool
	jobName       string
	chdir         string
	help          bool
	ignored       []string // container options, each named once, in order of appearance
	argv          []string
}

type argKind int

const (
	argNone argKind = iota
	argRequired
	argOptional // only as --name=value or -Xvalue, as getopt_long does
)

// srunOption is one option the fake srun accepts. name is the long name, short its letter or 0.
type srunOption struct {
	name  string
	short byte
	arg   argKind
	apply func(o *srunOptions, value string) error
}

// srunOptionTable lists the options the fake srun emulates. It is built per call so that the package
// holds no mutable state.
func srunOptionTable() []srunOption {
	return []srunOption{
		{"nodes", 'N', argRequired, func(o *srunOptions, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return &srunExitError{msg: fmt.Sprintf("srun: error: %q is not a valid node count", v), status: 255}
			}
			o.nodes = n
			return nil
		}},
		{"nodelist", 'w', argRequired, func(o *srunOptions, v string) error { o.nodelist = v; return nil }},
		{"ntasks", 'n', argRequired, func(o *srunOptions, v string) (err error) {
			o.ntasks, err = positiveOption("--ntasks", v)
			return err
		}},
		{"ntasks-per-node", 0, argRequired, func(o *srunOptions, v string) (err error) {
			o.ntasksPerNode, err = positiveOption("--ntasks-per-node", v)
			return err
		}},
		{"overlap", 0, argNone, func(*srunOptions, string) error { return nil }},
		{"kill-on-bad-exit", 'K', argOptional, func(o *srunOptions, v string) error {
			if v == "" {
				o.killOnBadExit = true
				return nil
			}
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("srun: error: Invalid numeric value %q for --kill-on-bad-exit.", v)
			}
			o.killOnBadExit = n != 0
			return nil
		}},
		{"mpi", 0, argRequired, func(o *srunOptions, v string) error { o.mpi = v; return nil }},
		{"gpus-per-node", 0, argRequired, func(o *srunOptions, v string) error {
			n, err := slurm.ParseGPUCount(v)
			if err != nil {
				return fmt.Errorf("srun: error: Invalid --gpus-per-node specification: %v", err)
			}
			o.gpusPerNode, o.gpusSet = n, true
			return nil
		}},
		{"export", 0, argRequired, func(o *srunOptions, v string) error { o.export, o.exportSet = v, true; return nil }},
		{"output", 'o', argRequired, func(o *srunOptions, v string) error { o.output = v; return nil }},
		{"error", 'e', argRequired, func(o *srunOptions, v string) error { o.errorOutput = v; return nil }},
		{"open-mode", 0, argRequired, func(o *srunOptions, v string) error {
			// Slurm reads only the first letter.
			switch {
			case strings.HasPrefix(v, "a") || strings.HasPrefix(v, "A"):
				o.appendOutput = true
			case strings.HasPrefix(v, "t") || strings.HasPrefix(v, "T"):
				o.appendOutput = false
			default:
				return fmt.Errorf("srun: error: Invalid --open-mode argument: %s. Ignored", v)
			}
			return nil
		}},
		{"label", 'l', argNone, func(o *srunOptions, _ string) error { o.label = true; return nil }},
		{"job-name", 'J', argRequired, func(o *srunOptions, v string) error { o.jobName = v; return nil }},
		{"chdir", 'D', argRequired, func(o *srunOptions, v string) error { o.chdir = v; return nil }},
		{"unbuffered", 'u', argNone, func(*srunOptions, string) error { return nil }},
		{"help", 'h', argNone, func(o *srunOptions, _ string) error { o.help = true; return nil }},
	}
}

// containerOptionArg tells how a container option takes its value: pyxis's options with a value
// take it from the next word too ("--container-image IMG"), its switches never do. Slurm's own
// --container takes a path. Options pyxis may add later are switches unless written with "=".
func containerOptionArg(name string) (argKind, bool) {
	switch name {
	case "container", "container-image", "container-mounts", "container-workdir", "container-name",
		"container-save", "container-env":
		return argRequired, true
	}
	if strings.HasPrefix(name, "container-") || strings.HasPrefix(name, "no-container-") {
		return argNone, true
	}
	return argNone, false
}

func positiveOption(name, v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("srun: error: Invalid numeric value %q for %s.", v, name)
	}
	return n, nil
}

// getoptError words a command line getopt_long rejects, followed by srun's hint.
func getoptError(format string, args ...any) error {
	return &srunExitError{msg: fmt.Sprintf("srun: "+format+"\nTry \"srun --help\" for more information", args...), status: 255}
}

// parseSrunArgs reads srun's command line as srun's getopt_long does: options stop at the first word
// that is not one (srun's option string starts with "+"), or after "--"; short options may be
// bundled ("-lK") and take their value attached or from the next word; long options take "=value",
// or the next word when the value is required. Unlike getopt_long, abbreviated long options are not
// accepted: a prefix that is unique here may be ambiguous to real srun.
func parseSrunArgs(args []string) (*srunOptions, error) {
	table := srunOptionTable()
	byName := make(map[string]*srunOption, len(table))
	byShort := make(map[byte]*srunOption, len(table))
	for i := range table {
		byName[table[i].name] = &table[i]
		if table[i].short != 0 {
			byShort[table[i].short] = &table[i]
		}
	}
	o := &srunOptions{}
	i := 0
	for ; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			i++
			break
		}
		if len(arg) < 2 || arg[0] != '-' {
			break
		}
		if strings.HasPrefix(arg, "--") {
			name, value, hasValue := strings.Cut(arg[2:], "=")
			opt := byName[name]
			kind := argNone
			if opt != nil {
				kind = opt.arg
			} else if k, ok := containerOptionArg(name); ok {
				kind = k
				if hasValue {
					kind = argRequired
				}
			} else {
				return nil, getoptError("unrecognized option '%s'", arg)
			}
			switch kind {
			case argNone:
				if hasValue {
					return nil, getoptError("option '--%s' doesn't allow an argument", name)
				}
			case argRequired:
				if !hasValue {
					if i+1 >= len(args) {
						return nil, getoptError("option '--%s' requires an argument", name)
					}
					i++
					value = args[i]
				}
			}
			if opt == nil {
				o.ignoreContainerOption("--" + name)
				continue
			}
			if err := opt.apply(o, value); err != nil {
				return nil, err
			}
			continue
		}
		for j := 1; j < len(arg); j++ {
			opt := byShort[arg[j]]
			if opt == nil {
				return nil, getoptError("invalid option -- '%c'", arg[j])
			}
			value := ""
			switch opt.arg {
			case argRequired:
				value = arg[j+1:]
				if value == "" {
					if i+1 >= len(args) {
						return nil, getoptError("option requires an argument -- '%c'", arg[j])
					}
					i++
					value = args[i]
				}
				j = len(arg)
			case argOptional:
				value = arg[j+1:]
				j = len(arg)
			}
			if err := opt.apply(o, value); err != nil {
				return nil, err
			}
		}
	}
	o.argv = args[i:]
	if len(o.argv) == 0 && !o.help {
		return nil, errors.New("srun: fatal: No command given to execute.")
	}
	return o, nil
}

func (o *srunOptions) ignoreContainerOption(name string) {
	for _, seen := range o.ignored {
		if seen == name {
			return
		}
	}
	o.ignored = append(o.ignored, name)
}

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

// applyInputEnv takes the step's shape from srun's input variables where the command line says
// nothing, as srun does. Inside a batch job sbatch sets them, so a step without --ntasks gets the
// job's task count (and a mismatch warning if that does not fit its nodes), as it would on a cluster.
func applyInputEnv(o *srunOptions, getenv func(string) string) error {
	for _, v := range []struct {
		names []string
		dst   *int
	}{
		{[]string{"SLURM_NTASKS", "SLURM_NPROCS"}, &o.ntasks},
		{[]string{"SLURM_NTASKS_PER_NODE"}, &o.ntasksPerNode},
		{[]string{"SLURM_NNODES"}, &o.nodes},
	} {
		if *v.dst != 0 {
			continue
		}
		for _, name := range v.names {
			value := getenv(name)
			if value == "" {
				continue
			}
			if name == "SLURM_NNODES" && o.nodelist != "" {
				// With -w, real srun would add nodes of the allocation up to this count; the fake
				// runs on the named nodes only.
				break
			}
			n, err := positiveOption(name, value)
			if err != nil {
				return err
			}
			*v.dst = n
			break
		}
	}
	return nil
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

func fakeKillWait(v string) (time.Duration, error) {
	if v == "" {
		return defaultFakeKillWait, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		secs, ferr := strconv.ParseFloat(v, 64)
		if ferr != nil {
			return 0, fmt.Errorf("srun: error: fake srun: %s=%q is neither a duration nor seconds", KillWaitEnv, v)
		}
		d = time.Duration(secs * float64(time.Second))
	}
	if d < 0 {
		return 0, fmt.Errorf("srun: error: fake srun: %s=%q is negative", KillWaitEnv, v)
	}
	return d, nil
}

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

// ioMode is where one output stream of the tasks goes.
type ioMode int

const (
	ioInherit ioMode = iota // srun's own stdout/stderr
	ioNull                  // "none": discarded
	ioOneTask               // a task number: only that task's output reaches srun's stream
	ioFile                  // a file name pattern
)

// ioSpec is a parsed -o/-e value.
type ioSpec struct {
	mode    ioMode
	task    int    // for ioOneTask
	pattern string // for ioFile
	literal bool   // backslashes were present: taken as is, without expansion
	perTask bool   // the pattern names a task, node or user, so each task may get its own file
}

// parseIOSpec reads -o/-e as srun's fname_create does: "all" or "-..." is the default, "none" discards,
// a number below the task count selects one task, anything else is a file name pattern.
func parseIOSpec(s string, ntasks int) ioSpec {
	switch {
	case s == "" || strings.HasPrefix(strings.ToLower(s), "all") || strings.HasPrefix(s, "-"):
		return ioSpec{mode: ioInherit}
	case strings.EqualFold(s, "none"):
		return ioSpec{mode: ioNull}
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 0 && n < ntasks && allDigits(s) {
		return ioSpec{mode: ioOneTask, task: n}
	}
	if strings.Contains(s, `\`) {
		return ioSpec{mode: ioFile, pattern: strings.ReplaceAll(s, `\`, ""), literal: true}
	}
	spec := ioSpec{mode: ioFile, pattern: s}
	spec.perTask = expandsPerTask(s)
	return spec
}

// expandsPerTask tells whether a pattern holds %t, %n, %N or %u, for which srun leaves the opening
// of the file to each task.
func expandsPerTask(p string) bool {
	for i := 0; i < len(p); i++ {
		if p[i] != '%' {
			continue
		}
		j := i + 1
		for j < len(p) && isDigit(p[j]) {
			j++
		}
		if j < len(p) {
			switch p[j] {
			case '%':
				if j == i+1 {
					i = j
				}
			case 't', 'n', 'N', 'u':
				return true
			}
		}
	}
	return false
}

// fileName expands a file pattern for task t: %j job id, %J job.step, %s step id, %t task id, %n node
// id within the step, %N node name, %u user name, %x job name, %% a percent sign. A number after "%"
// zero-pads numeric fields to that width (at most 10, as in Slurm). Other sequences stay as written.
func (st *fakeStep) fileName(spec ioSpec, t fakeTask) string {
	if spec.literal {
		return spec.pattern
	}
	p := spec.pattern
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] != '%' {
			b.WriteByte(p[i])
			continue
		}
		j := i + 1
		for j < len(p) && isDigit(p[j]) {
			j++
		}
		if j >= len(p) {
			b.WriteString(p[i:])
			break
		}
		width := 0
		if j > i+1 {
			width, _ = strconv.Atoi(p[i+1 : j])
			width = min(width, 10)
		}
		pad := func(s string) string {
			if _, err := strconv.Atoi(s); err != nil || len(s) >= width {
				return s
			}
			return strings.Repeat("0", width-len(s)) + s
		}
		switch p[j] {
		case '%':
			if j == i+1 {
				b.WriteByte('%')
			} else {
				b.WriteString(p[i : j+1])
			}
		case 'j':
			b.WriteString(pad(st.jobID))
		case 'J':
			b.WriteString(pad(st.jobID) + "." + strconv.Itoa(st.stepID))
		case 's':
			b.WriteString(pad(strconv.Itoa(st.stepID)))
		case 't':
			b.WriteString(pad(strconv.Itoa(t.rank)))
		case 'n':
			b.WriteString(pad(strconv.Itoa(t.nodeID)))
		case 'N':
			b.WriteString(t.node)
		case 'u':
			b.WriteString(currentUserName())
		case 'x':
			b.WriteString(st.jobName)
		default:
			b.WriteString(p[i : j+1])
		}
		i = j
	}
	return b.String()
}

func currentUserName() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return strconv.Itoa(os.Getuid())
}

// claimStep takes the next free step id of the fake job: step files are created with O_EXCL in the
// job's state directory, so concurrent fake sruns of one job never share an id, as Slurm's
// controller guarantees for real steps.
func (st *fakeStep) claimStep() error {
	if err := os.MkdirAll(st.stateDir, 0o755); err != nil {
		return fmt.Errorf("srun: error: fake srun: step directory: %w", err)
	}
	for id := 0; id < maxStepIDs; id++ {
		name := filepath.Join(st.stateDir, "step-"+strconv.Itoa(id))
		f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("srun: error: fake srun: claim step %d: %w", id, err)
		}
		st.stepID, st.stepFile = id, name
		// What ran as this step, for whoever debugs a local run; the command line can carry secrets
		// (an after command with a token in it), which stay out of the file.
		text := redact.NewText(st.env)
		argv := make([]string, len(st.argv))
		for i, arg := range st.argv {
			argv[i] = text.String(arg)
		}
		fmt.Fprintf(f, "StepId=%s.%d pid=%d nodes=%s tasks=%d argv=%q\n",
			st.jobID, id, os.Getpid(), slurm.CompressHostlist(st.nodes), len(st.tasks), argv)
		return f.Close()
	}
	return fmt.Errorf("srun: error: fake srun: no free step id in %s", st.stateDir)
}

// recordExit appends srun's status to the step file.
func (st *fakeStep) recordExit(status int) {
	if st.stepFile == "" {
		return
	}
	f, err := os.OpenFile(st.stepFile, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return
	}
	fmt.Fprintf(f, "exit=%d\n", status)
	f.Close()
}

// stepName is the step as srun names it in its messages.
func (st *fakeStep) stepName() string {
	return fmt.Sprintf("StepId=%s.%d", st.jobID, st.stepID)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// allDigits rejects what strconv.Atoi accepts but srun does not read as a task number ("+1").
func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}
