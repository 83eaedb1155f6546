package roles

import (
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/disagg-supervisor/disagg-supervisor/slurm"
)

// srunSettings are the srun choices shared by all steps.
type srunSettings struct {
	userArgs   []string
	mpi        string // "" for no --mpi
	pin        string
	forwardEnv bool
}

func (b *builder) srunSettings(nodes []string) (srunSettings, error) {
	var st srunSettings
	if name := b.f.SrunArgsFile; name != "" {
		input := "--srun-args-file " + name
		data, err := b.read(name)
		if err != nil {
			return st, inputErrorf("--srun-args-file", "cannot read it: %v", err)
		}
		if err := checkFileSize("--srun-args-file", name, data); err != nil {
			return st, err
		}
		words, err := splitWords(string(data))
		if err != nil {
			return st, &InputError{Input: input, Problem: err.Error()}
		}
		// `printf '%q\n' "${srunArgs[@]}"` of an empty array writes one empty word (''): that is
		// no arguments, not an empty program name for srun.
		if len(words) == 1 && words[0] == "" {
			words = nil
		}
		if err := checkUserArgs(input, words); err != nil {
			return st, err
		}
		st.userArgs = words
	}
	if err := checkUserArgs("--srun-arg", b.f.SrunArgs); err != nil {
		return st, err
	}
	st.userArgs = append(st.userArgs, b.f.SrunArgs...)

	switch b.f.MPI {
	case "":
		st.mpi = DefaultMPI
	case "none":
	default:
		if strings.ContainsAny(b.f.MPI, " \t\n=") {
			return st, inputErrorf("--mpi", "%s is not an MPI type", quote(b.f.MPI))
		}
		st.mpi = b.f.MPI
	}

	st.pin = nodes[0]
	if b.f.PinNode != "" {
		if !slices.Contains(nodes, b.f.PinNode) {
			return st, inputErrorf("--pin-node", "%s is not in the allocation (%s)", quote(b.f.PinNode), clip(slurm.CompressHostlist(nodes)))
		}
		st.pin = b.f.PinNode
	}

	if f := b.f.ForwardContainerEnv; f != "" && !f.Valid() {
		return st, inputErrorf("--forward-container-env", "want auto, always or never, got %s", quote(string(f)))
	}
	// pyxis needs --container-env to let the plan's values through; plain Slurm rejects it.
	st.forwardEnv = b.f.ForwardContainerEnv.On(
		slices.ContainsFunc(st.userArgs, slurm.ContainerArg))
	return st, nil
}

// checkUserArgs rejects the srun options every step of the plan sets itself: a user's copy would
// silently reshape the steps.
func checkUserArgs(input string, args []string) error {
	for _, a := range args {
		if a == "" {
			// srun would take an empty word for the program to run, and every step would fail.
			return inputErrorf(input, "an empty argument: srun would run it as the program")
		}
		if opt, owner, ok := plannedOption(a); ok {
			return inputErrorf(input, "%s sets %s, which %s", quote(a), opt, owner)
		}
	}
	return nil
}

// Who sets the srun options that a user's srun argument must not: srun takes the last of two
// copies, and the plan's come after the user's, so a user's copy would be silently overridden.
const (
	shapeOwner = "the plan sets for every step (-N, -w, --ntasks, --ntasks-per-node)"
	mpiOwner   = "the plan sets for the worker steps: use the --mpi flag (--mpi none leaves it out)"
	killOwner  = "the plan sets for every step (--kill-on-bad-exit=1: a failing rank ends its step at once)"
)

// plannedOption reports whether the srun argument a is one of the options the plan sets, and
// says who sets it.
func plannedOption(a string) (opt, owner string, ok bool) {
	if strings.HasPrefix(a, "--") {
		name, _, _ := strings.Cut(a[2:], "=")
		switch name {
		case "nodes", "nodelist", "ntasks", "ntasks-per-node":
			return "--" + name, shapeOwner, true
		case "mpi":
			return "--mpi", mpiOwner, true
		case "kill-on-bad-exit":
			return "--kill-on-bad-exit", killOwner, true
		}
		return "", "", false
	}
	if len(a) >= 2 && a[0] == '-' {
		switch a[1] {
		case 'N', 'w', 'n':
			return a[:2], shapeOwner, true
		case 'K':
			return "-K (--kill-on-bad-exit)", killOwner, true
		}
	}
	return "", "", false
}

// installStep plans the install script. By default it runs as today's launch draft runs it: srun
// with no node or task options, so that every task of the job runs it (the install script
// serialises per node itself); --install-per-node runs it on one task per node of the plan. The
// log goes to the workspace, where the draft writes it.
func (b *builder) installStep(p *Plan, st srunSettings) (*Step, error) {
	in := b.text(b.f.InstallScript, "--install-script", "installScript")
	if !in.set() {
		return nil, nil
	}
	script, from := in.v, in.from
	argv, err := splitWords(script)
	if err != nil {
		return nil, &InputError{Input: from, Problem: err.Error()}
	}
	// An empty first word would be srun's program name, and every task would fail to start it.
	if len(argv) == 0 || argv[0] == "" {
		return nil, inputErrorf(from, "no command in %s", quote(script))
	}
	step := &Step{Command: script, Log: path.Join(p.Workspace, "install.log"), PerNode: b.f.InstallPerNode}
	spec := slurm.StepSpec{Srun: "srun", UserArgs: st.userArgs, Command: argv}
	if step.PerNode {
		spec.Nodes, spec.NTasks, spec.NTasksPerNode = p.Nodes, len(p.Nodes), 1
		step.NTasks = len(p.Nodes)
	} else if step.NTasks, err = b.jobTasks(); err != nil {
		return nil, err
	}
	step.Srun = spec.Argv()
	return step, nil
}

// jobTasks is the number of tasks srun starts in this job when the step names none, as srun reads
// it from the job's environment: SLURM_NTASKS (SLURM_NPROCS on old setups), else
// SLURM_NTASKS_PER_NODE on each of SLURM_JOB_NUM_NODES nodes. 0 means the environment does not
// say (no allocation, or a job without a task count, where srun starts one task per node).
func (b *builder) jobTasks() (int, error) {
	return slurm.JobTasks(b.getenv, func(name, v string) (int, error) {
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, inputErrorf(name, "want an integer, got %s", quote(v))
		}
		return n, checkRange(name, n, 1)
	})
}
