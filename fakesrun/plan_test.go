package fakesrun

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/disagg-supervisor/disagg-supervisor/slurm"
)

// TestLayoutStep checks the whole layout, every task's rank, local id and node, for srun's options
// in a job.
func TestLayoutStep(t *testing.T) {
	job := slurm.Topology{JobID: "77", Nodes: []string{"n1", "n2", "n3"}, GPUsPerNode: 4}
	task := func(rank, localID, nodeID int, node string) fakeTask {
		return fakeTask{rank: rank, localID: localID, nodeID: nodeID, node: node}
	}
	for _, tc := range []struct {
		name         string
		args         []string
		job          slurm.Topology
		want         stepLayout
		wantWarnings []string
		wantErr      string
	}{
		{name: "one task per node of the job", job: job,
			want: stepLayout{jobID: "77", jobNodes: job.Nodes, nodes: job.Nodes, perNode: []int{1, 1, 1}, gpus: 4,
				tasks: []fakeTask{task(0, 0, 0, "n1"), task(1, 0, 1, "n2"), task(2, 0, 2, "n3")}}},
		{name: "block layout, first nodes get the rest", args: []string{"-N2", "-n5"}, job: job,
			want: stepLayout{jobID: "77", jobNodes: job.Nodes, nodes: []string{"n1", "n2"}, perNode: []int{3, 2}, gpus: 4,
				tasks: []fakeTask{task(0, 0, 0, "n1"), task(1, 1, 0, "n1"), task(2, 2, 0, "n1"),
					task(3, 0, 1, "n2"), task(4, 1, 1, "n2")}}},
		{name: "nodelist in the job's order", args: []string{"-w", "n3,n1", "--ntasks-per-node=2", "--gpus-per-node=1"}, job: job,
			want: stepLayout{jobID: "77", jobNodes: job.Nodes, nodes: []string{"n1", "n3"}, perNode: []int{2, 2}, gpus: 1,
				tasks: []fakeTask{task(0, 0, 0, "n1"), task(1, 1, 0, "n1"), task(2, 0, 1, "n3"), task(3, 1, 1, "n3")}}},
		{name: "fewer tasks than nodes", args: []string{"-N3", "-n2"}, job: job,
			want: stepLayout{jobID: "77", jobNodes: job.Nodes, nodes: []string{"n1", "n2"}, perNode: []int{1, 1}, gpus: 4,
				tasks: []fakeTask{task(0, 0, 0, "n1"), task(1, 0, 1, "n2")}},
			wantWarnings: []string{"can't run 2 processes on 3 nodes, setting nnodes to 2"}},
		{name: "no job: the nodelist is the job", args: []string{"-w", "a[1-2]"},
			want: stepLayout{jobID: "1", jobNodes: []string{"a1", "a2"}, nodes: []string{"a1", "a2"}, perNode: []int{1, 1},
				tasks: []fakeTask{task(0, 0, 0, "a1"), task(1, 0, 1, "a2")}}},
		{name: "no job at all",
			want: stepLayout{jobID: "1", jobNodes: []string{"localhost"}, nodes: []string{"localhost"}, perNode: []int{1},
				tasks: []fakeTask{task(0, 0, 0, "localhost")}}},
		{name: "warning, then error", args: []string{"-N1", "-n3", "--ntasks-per-node=2", "--gpus-per-node=8"}, job: job,
			wantWarnings: []string{"can't honor --ntasks-per-node set to 2 which doesn't match the requested tasks 3 " +
				"with the number of requested nodes 1. Ignoring --ntasks-per-node."},
			wantErr: "srun: error: Unable to create step for job 77: Invalid generic resource (gres) specification"},
		{name: "node outside the job", args: []string{"-w", "n4"}, job: job,
			wantErr: "srun: error: Unable to create step for job 77: Requested node configuration is not available"},
		{name: "more nodes than the job", args: []string{"-N4"}, job: job,
			wantErr: "srun: error: Unable to create step for job 77: Requested node configuration is not available"},
		{name: "tasks cannot cover the nodelist", args: []string{"-w", "n[1-3]", "-n2"}, job: job,
			wantErr: "srun: error: fake srun: 2 tasks cannot cover the 3 nodes of --nodelist=n[1-3]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts, err := parseSrunArgs(append(tc.args, "true"))
			if err != nil {
				t.Fatal(err)
			}
			got, warnings, err := layoutStep(opts, tc.job)
			if gotErr := errText(err); gotErr != tc.wantErr {
				t.Errorf("error %q, want %q", gotErr, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(stepLayout{}, fakeTask{})); diff != "" {
				t.Errorf("layout (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantWarnings, warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestPlanStepTaskEnv checks the environment each task gets: the step's, from --export, then what
// slurmstepd sets for the task.
func TestPlanStepTaskEnv(t *testing.T) {
	jobEnv := []string{"SLURM_JOB_ID=77", "SLURM_JOB_NODELIST=node[1-3]", "SLURM_GPUS_ON_NODE=2", "HOME=/home/u"}
	stepVars := func(stepNodes, nnodes, ntasks, perNode string) []string {
		return []string{
			"SLURM_JOBID=77",
			"SLURM_JOB_NUM_NODES=3",
			"SLURM_STEP_ID=5",
			"SLURM_STEPID=5",
			"SLURM_STEP_NODELIST=" + stepNodes,
			"SLURM_NODELIST=" + stepNodes,
			"SLURM_STEP_NUM_NODES=" + nnodes,
			"SLURM_NNODES=" + nnodes,
			"SLURM_STEP_NUM_TASKS=" + ntasks,
			"SLURM_NTASKS=" + ntasks,
			"SLURM_NPROCS=" + ntasks,
			"SLURM_STEP_TASKS_PER_NODE=" + perNode,
			"SLURM_TASKS_PER_NODE=" + perNode,
		}
	}
	for _, tc := range []struct {
		name string
		args []string
		want [][]string // per task
	}{
		{name: "pmix, GPUs of the job",
			args: []string{"--mpi=pmix", "-N2", "-n3"},
			want: [][]string{
				join([]string{"SLURM_JOB_ID=77", "SLURM_JOB_NODELIST=node[1-3]", "SLURM_GPUS_ON_NODE=2", "HOME=/home/u"},
					stepVars("node[1-2]", "2", "3", "2,1"),
					[]string{"SLURM_PROCID=0", "SLURM_LOCALID=0", "SLURM_NODEID=0", "SLURMD_NODENAME=node1",
						"SLURM_STEP_GPUS=0,1", "CUDA_VISIBLE_DEVICES=0,1", "GPU_DEVICE_ORDINAL=0,1", "ROCR_VISIBLE_DEVICES=0,1",
						"SLURM_MPI_TYPE=pmix", "PMIX_RANK=0"}),
				join([]string{"SLURM_JOB_ID=77", "SLURM_JOB_NODELIST=node[1-3]", "SLURM_GPUS_ON_NODE=2", "HOME=/home/u"},
					stepVars("node[1-2]", "2", "3", "2,1"),
					[]string{"SLURM_PROCID=1", "SLURM_LOCALID=1", "SLURM_NODEID=0", "SLURMD_NODENAME=node1",
						"SLURM_STEP_GPUS=0,1", "CUDA_VISIBLE_DEVICES=0,1", "GPU_DEVICE_ORDINAL=0,1", "ROCR_VISIBLE_DEVICES=0,1",
						"SLURM_MPI_TYPE=pmix", "PMIX_RANK=1"}),
				join([]string{"SLURM_JOB_ID=77", "SLURM_JOB_NODELIST=node[1-3]", "SLURM_GPUS_ON_NODE=2", "HOME=/home/u"},
					stepVars("node[1-2]", "2", "3", "2,1"),
					[]string{"SLURM_PROCID=2", "SLURM_LOCALID=0", "SLURM_NODEID=1", "SLURMD_NODENAME=node2",
						"SLURM_STEP_GPUS=0,1", "CUDA_VISIBLE_DEVICES=0,1", "GPU_DEVICE_ORDINAL=0,1", "ROCR_VISIBLE_DEVICES=0,1",
						"SLURM_MPI_TYPE=pmix", "PMIX_RANK=2"}),
			}},
		// --export=NONE keeps only the SLURM variables of the caller; --gpus-per-node=0 shows none.
		{name: "export none, no GPUs",
			args: []string{"--export=NONE", "-w", "node3", "--gpus-per-node=0"},
			want: [][]string{
				join([]string{"SLURM_JOB_ID=77", "SLURM_JOB_NODELIST=node[1-3]", "SLURM_GPUS_ON_NODE=2"},
					stepVars("node3", "1", "1", "1"),
					[]string{"SLURM_PROCID=0", "SLURM_LOCALID=0", "SLURM_NODEID=0", "SLURMD_NODENAME=node3"}),
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts, err := parseSrunArgs(append(tc.args, "true"))
			if err != nil {
				t.Fatal(err)
			}
			st, warnings, err := planStep(opts, jobEnv)
			if err != nil || len(warnings) > 0 {
				t.Fatalf("planStep: %v, warnings %q", err, warnings)
			}
			st.stepID = 5 // claimStep's part
			var got [][]string
			for _, task := range st.tasks {
				got = append(got, st.taskEnv(task))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("task environments (-want +got):\n%s", diff)
			}
		})
	}
}

func join(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// TestPlanStepLeavesOptions checks that srun's input variables fill in a copy of the options, not
// the caller's.
func TestPlanStepLeavesOptions(t *testing.T) {
	opts, err := parseSrunArgs([]string{"true"})
	if err != nil {
		t.Fatal(err)
	}
	before := *opts
	if _, _, err := planStep(opts, []string{"SLURM_JOB_NODELIST=n1", "SLURM_NTASKS=2"}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, *opts, cmp.AllowUnexported(srunOptions{})); diff != "" {
		t.Errorf("options changed (-before +after):\n%s", diff)
	}
}

// TestPlanStepSettings checks the rest of the plan that needs no I/O: the kill wait, the state
// directory, outputs and the job name.
func TestPlanStepSettings(t *testing.T) {
	opts, err := parseSrunArgs([]string{"-o", "out-%t.log", "-e", "none", "/bin/echo", "hi"})
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := planStep(opts, []string{"SLURM_JOB_NODELIST=n1", KillWaitEnv + "=1.5", StateDirEnv + "=/state"})
	if err != nil {
		t.Fatal(err)
	}
	type settings struct {
		KillWait       time.Duration
		StateDir, Name string
		Stdout, Stderr ioSpec
	}
	got := settings{st.killWait, st.stateDir, st.jobName, st.stdoutSpec, st.stderrSpec}
	want := settings{1500 * time.Millisecond, "/state", "echo",
		ioSpec{mode: ioFile, pattern: "out-%t.log", perTask: true}, ioSpec{mode: ioNull}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(ioSpec{})); diff != "" {
		t.Errorf("settings (-want +got):\n%s", diff)
	}
	if _, _, err := planStep(opts, []string{KillWaitEnv + "=soon"}); err == nil {
		t.Errorf("planStep with %s=soon: no error", KillWaitEnv)
	}
}

// TestStepFileRedacted: the step file records the step's command line with the secrets of the step's
// environment, and tokens of well-known formats, masked.
func TestStepFileRedacted(t *testing.T) {
	token := "hf_" + strings.Repeat("Wq4", 12)
	st := &fakeStep{stateDir: t.TempDir(), env: []string{"GH_PAT=pat-s3cret", "PATH=/bin"},
		argv: []string{"srun", "-w", "node1", "task", "--task-after", "push pat-s3cret " + token}}
	if err := st.claimStep(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(st.stepFile)
	if err != nil {
		t.Fatal(err)
	}
	want := `argv=["srun" "-w" "node1" "task" "--task-after" "push <redacted> <redacted>"]`
	if !strings.Contains(string(data), want) {
		t.Errorf("step file %q lacks %q", data, want)
	}
}

// TestClaimStepAfterHighest: a step takes the id after the highest the job's state directory holds,
// gaps and other files notwithstanding, as Slurm never gives a step id out twice; concurrent claims
// still get one id each.
func TestClaimStepAfterHighest(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"step-0", "step-7", "step-x", "step-", "notes"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const n = 8
	ids := make(chan int, n)
	errs := make(chan error, n)
	for range n {
		go func() {
			st := &fakeStep{stepLayout: stepLayout{jobID: "5"}, stateDir: dir}
			errs <- st.claimStep()
			ids <- st.stepID
		}()
	}
	var got []int
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		got = append(got, <-ids)
	}
	slices.Sort(got)
	want := []int{8, 9, 10, 11, 12, 13, 14, 15}
	if !slices.Equal(got, want) {
		t.Errorf("claimed %v, want %v", got, want)
	}
}
