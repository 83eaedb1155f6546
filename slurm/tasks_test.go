package slurm

import (
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
