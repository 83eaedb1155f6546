package slurm

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestStepSpecArgv(t *testing.T) {
	tests := []struct {
		name string
		spec StepSpec
		want []string
	}{
		{
			name: "everything",
			spec: StepSpec{
				Srun:          "/usr/bin/srun",
				UserArgs:      []string{"--container-image=nvcr.io/x:1", "--container-mounts=/a:/b,/c:/d", "--container-workdir=/w"},
				MPI:           "pmix",
				KillOnBadExit: true,
				Overlap:       true,
				Nodes:         []string{"node01", "node02", "node03", "node05"},
				NTasks:        16,
				NTasksPerNode: 4,
				ContainerEnv:  []string{"pytestCommand", "DISAGG_SERVING_TYPE", "NVIDIA_IMEX_CHANNELS", "pytestCommand"},
				Command:       []string{"bash", "-c", "echo $RANK && run 'quoted arg'"},
			},
			want: []string{
				"/usr/bin/srun",
				"--container-image=nvcr.io/x:1", "--container-mounts=/a:/b,/c:/d", "--container-workdir=/w",
				"--mpi=pmix", "--kill-on-bad-exit=1", "--overlap",
				"-N", "4", "-w", "node[01-03,05]",
				"--ntasks=16", "--ntasks-per-node=4",
				"--container-env=DISAGG_SERVING_TYPE", "--container-env=NVIDIA_IMEX_CHANNELS", "--container-env=pytestCommand",
				"bash", "-c", "echo $RANK && run 'quoted arg'",
			},
		},
		{
			name: "minimal",
			spec: StepSpec{Nodes: []string{"n1"}, NTasks: 1, NTasksPerNode: 1, Command: []string{"true"}},
			want: []string{"srun", "-N", "1", "-w", "n1", "--ntasks=1", "--ntasks-per-node=1", "true"},
		},
		{
			name: "server overlapping a used node",
			spec: StepSpec{Srun: "srun", Overlap: true, Nodes: []string{"gpu7"}, NTasks: 1, NTasksPerNode: 1, Command: []string{"server", "--port", "8000"}},
			want: []string{"srun", "--overlap", "-N", "1", "-w", "gpu7", "--ntasks=1", "--ntasks-per-node=1", "server", "--port", "8000"},
		},
		{
			name: "unset counts and nodes are left to Slurm",
			spec: StepSpec{Command: []string{"hostname"}},
			want: []string{"srun", "hostname"},
		},
		{
			name: "node order kept in -w",
			spec: StepSpec{Nodes: []string{"n3", "n1", "n2"}, NTasks: 3, NTasksPerNode: 1, Command: []string{"x"}},
			want: []string{"srun", "-N", "3", "-w", "n[3,1-2]", "--ntasks=3", "--ntasks-per-node=1", "x"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.spec.Argv()); diff != "" {
				t.Errorf("Argv mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestStepSpecArgvLeavesSpecAlone guards the sort of ContainerEnv from
// reordering the caller's slice.
func TestStepSpecArgvLeavesSpecAlone(t *testing.T) {
	env := []string{"B", "A", "B"}
	spec := StepSpec{ContainerEnv: env, Command: []string{"x"}}
	spec.Argv()
	if diff := cmp.Diff([]string{"B", "A", "B"}, env); diff != "" {
		t.Errorf("Argv changed ContainerEnv (-before +after):\n%s", diff)
	}
}

// TestContainerArg: pyxis's options are container arguments; --container-env= alone runs no
// container, and Argv's own --container-env= arguments are recognised as such.
func TestContainerArg(t *testing.T) {
	for _, tt := range []struct {
		arg       string
		container bool
		env       bool
	}{
		{"--container-image=nvcr.io/x:1", true, false},
		{"--container-mounts=/a:/a", true, false},
		{"--container-env=FOO", true, true},
		{"--mpi=pmix", false, false},
		{"--overlap", false, false},
	} {
		if got := ContainerArg(tt.arg); got != tt.container {
			t.Errorf("ContainerArg(%q) = %v, want %v", tt.arg, got, tt.container)
		}
		if got := ContainerEnvArg(tt.arg); got != tt.env {
			t.Errorf("ContainerEnvArg(%q) = %v, want %v", tt.arg, got, tt.env)
		}
	}
	argv := StepSpec{ContainerEnv: []string{"B", "A"}, Command: []string{"true"}}.Argv()
	if n := len(slices.DeleteFunc(slices.Clone(argv), func(a string) bool { return !ContainerEnvArg(a) })); n != 2 {
		t.Errorf("Argv %q: %d --container-env= arguments, want 2", argv, n)
	}
}
