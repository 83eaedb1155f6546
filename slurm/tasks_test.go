package slurm

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseTasksPerNode(t *testing.T) {
	for in, want := range map[string][]int{
		"4": {4}, "2(x3),1": {2, 2, 2, 1}, "1,2(x2)": {1, 2, 2}, " 3 ": {3},
	} {
		got, err := ParseTasksPerNode(in)
		if err != nil || !cmp.Equal(got, want) {
			t.Errorf("ParseTasksPerNode(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "2(x)", "2(3)", "2(x0)", "-1", "2(x2"} {
		if got, err := ParseTasksPerNode(bad); err == nil {
			t.Errorf("ParseTasksPerNode(%q) = %v, want an error", bad, got)
		}
	}
}

func TestBlockNodes(t *testing.T) {
	got, err := BlockNodes([]string{"a", "b"}, []int{2, 1})
	if err != nil || !cmp.Equal(got, []string{"a", "a", "b"}) {
		t.Errorf("BlockNodes = %v, %v", got, err)
	}
	if _, err := BlockNodes([]string{"a"}, []int{1, 1}); err == nil {
		t.Error("BlockNodes accepted lists of different lengths")
	}
}

// TestJobTasks checks which variables give the job's task count and in which order, and that the
// caller's reader judges every value used.
func TestJobTasks(t *testing.T) {
	atoi := func(name, v string) (int, error) {
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, fmt.Errorf("%s: %q", name, v)
		}
		return n, nil
	}
	for _, tt := range []struct {
		env     map[string]string
		want    int
		wantErr string
	}{
		{env: map[string]string{}, want: 0},
		{env: map[string]string{"SLURM_NTASKS": "20", "SLURM_NPROCS": "9", "SLURM_NTASKS_PER_NODE": "4"}, want: 20},
		{env: map[string]string{"SLURM_NTASKS": " ", "SLURM_NPROCS": "9"}, want: 9},
		{env: map[string]string{"SLURM_NTASKS_PER_NODE": "4", "SLURM_JOB_NUM_NODES": "5", "SLURM_NNODES": "7"}, want: 20},
		{env: map[string]string{"SLURM_NTASKS_PER_NODE": "4", "SLURM_NNODES": "3"}, want: 12},
		{env: map[string]string{"SLURM_NTASKS_PER_NODE": "4"}, want: 0},
		{env: map[string]string{"SLURM_JOB_NUM_NODES": "5"}, want: 0},
		{env: map[string]string{"SLURM_NTASKS": "20(x2)"}, wantErr: `SLURM_NTASKS: "20(x2)"`},
		{env: map[string]string{"SLURM_NTASKS_PER_NODE": "4", "SLURM_JOB_NUM_NODES": "x"}, wantErr: `SLURM_JOB_NUM_NODES: "x"`},
	} {
		got, err := JobTasks(func(name string) string { return tt.env[name] }, atoi)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("%v: error %v, want %s", tt.env, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%v: %d, %v; want %d", tt.env, got, err, tt.want)
		}
	}
}
