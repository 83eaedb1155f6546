package slurm

import (
	"slices"
	"strconv"
	"strings"
)

// StepSpec describes one srun step.
type StepSpec struct {
	Srun          string   // executable, usually "srun"; empty means "srun"
	UserArgs      []string // the user's srun args (container image, mounts...), placed first, verbatim
	MPI           string   // e.g. "pmix"; empty: no --mpi
	KillOnBadExit bool     // end the whole step when one task fails
	Overlap       bool     // share resources with the other steps
	Nodes         []string // -N len(Nodes) -w CompressHostlist(Nodes); none: both omitted
	NTasks        int      // --ntasks; 0: omitted
	NTasksPerNode int      // --ntasks-per-node; 0: omitted
	ContainerEnv  []string // each becomes --container-env=NAME (sorted, deduplicated)
	Command       []string // program and args, last
}

// The prefixes of pyxis's srun options, which run a step in a container.
const (
	containerArgPrefix = "--container-"
	containerEnvArg    = "--container-env="
)

// ContainerArg reports whether an srun argument is one of pyxis's container options
// (--container-image=..., --container-mounts=..., --container-env=...).
func ContainerArg(arg string) bool { return strings.HasPrefix(arg, containerArgPrefix) }

// ContainerEnvArg reports whether an srun argument is a --container-env=, as Argv writes one for each
// of ContainerEnv: it passes variables into a container, and runs none by itself.
func ContainerEnvArg(arg string) bool { return strings.HasPrefix(arg, containerEnvArg) }

// Argv returns the srun command line for s, program first, ready for exec
// without a shell. The user's own args come right after the program so
// that the options the supervisor computes follow them: srun takes the
// last value of a repeated option, and the node list and task counts must
// be the supervisor's. Nothing is quoted or joined; quote only for display.
func (s StepSpec) Argv() []string {
	srun := s.Srun
	if srun == "" {
		srun = "srun"
	}
	argv := make([]string, 0, 12+len(s.UserArgs)+len(s.ContainerEnv)+len(s.Command))
	argv = append(argv, srun)
	argv = append(argv, s.UserArgs...)
	if s.MPI != "" {
		argv = append(argv, "--mpi="+s.MPI)
	}
	if s.KillOnBadExit {
		argv = append(argv, "--kill-on-bad-exit=1")
	}
	if s.Overlap {
		argv = append(argv, "--overlap")
	}
	if len(s.Nodes) > 0 {
		argv = append(argv, "-N", strconv.Itoa(len(s.Nodes)), "-w", CompressHostlist(s.Nodes))
	}
	if s.NTasks > 0 {
		argv = append(argv, "--ntasks="+strconv.Itoa(s.NTasks))
	}
	if s.NTasksPerNode > 0 {
		argv = append(argv, "--ntasks-per-node="+strconv.Itoa(s.NTasksPerNode))
	}
	// Sorted so that the same spec always gives the same argv, which keeps
	// plans and logs comparable between runs.
	names := slices.Clone(s.ContainerEnv)
	slices.Sort(names)
	for _, name := range slices.Compact(names) {
		argv = append(argv, containerEnvArg+name)
	}
	return append(argv, s.Command...)
}
