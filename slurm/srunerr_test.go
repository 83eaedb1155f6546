package slurm

import (
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseTaskFailures(t *testing.T) {
	text := "" +
		"starting server on port 8000\n" +
		"srun: error: node2: task 3: Exited with exit code 3\n" +
		"srun: error: node1: tasks 0-2: Killed\n" +
		"srun: Job step aborted: Waiting up to 32 seconds for job step to finish.\n" +
		"srun: error: node1: tasks 0,2-3: Terminated\r\n" +
		"srun: error: node3: task 1: Segmentation fault (core dumped)\n" +
		"[2024-05-01T10:00:00.123] srun: error: node3: task 4: Aborted\n" +
		"2024-05-01 10:00:01 GEN_0 | srun: error: gpu-h100-001: task 7: Out Of Memory\n" +
		"srun: error: node4: task 5: Interrupt\n" +
		"srun: error: node4: task 6: Real-time signal 2\n" +
		"srun: error: node4: task 8: Unknown signal 32\n" +
		"srun: error: node5: task 0: Nodes are busy\n" + // not a task's end
		"srun: error: Unable to create step for job 42: Invalid node name specified\n" +
		"srun: error: node5: task x: Killed\n" + // bad ranks
		"srun: error: node5: task 1: Exited with exit code 256\n" + // impossible code
		"srun: error: node5: task 1: Exited with exit code -1\n" +
		"srun: error: node5: task 1: Exited with exit code 0\n" +
		"srun: error: node5: rank 1: Killed\n" +
		"srun: error: node5: task 3-1: Killed\n" +
		"srun: error: : task 1: Killed\n" +
		"srun: error: node6: task 9: Killed" // no final newline
	want := []TaskFailure{
		{Node: "node2", Ranks: []int{3}, Code: 3, Status: "Exited with exit code 3", Line: "srun: error: node2: task 3: Exited with exit code 3"},
		{Node: "node1", Ranks: []int{0, 1, 2}, Code: 137, Status: "Killed", Line: "srun: error: node1: tasks 0-2: Killed"},
		{Node: "node1", Ranks: []int{0, 2, 3}, Code: 143, Status: "Terminated", Line: "srun: error: node1: tasks 0,2-3: Terminated"},
		{Node: "node3", Ranks: []int{1}, Code: 139, Status: "Segmentation fault (core dumped)", Line: "srun: error: node3: task 1: Segmentation fault (core dumped)"},
		{Node: "node3", Ranks: []int{4}, Code: 134, Status: "Aborted", Line: "[2024-05-01T10:00:00.123] srun: error: node3: task 4: Aborted"},
		{Node: "gpu-h100-001", Ranks: []int{7}, Code: 253, Status: "Out Of Memory", Line: "2024-05-01 10:00:01 GEN_0 | srun: error: gpu-h100-001: task 7: Out Of Memory"},
		{Node: "node4", Ranks: []int{5}, Code: 130, Status: "Interrupt", Line: "srun: error: node4: task 5: Interrupt"},
		{Node: "node4", Ranks: []int{6}, Code: 164, Status: "Real-time signal 2", Line: "srun: error: node4: task 6: Real-time signal 2"},
		{Node: "node4", Ranks: []int{8}, Code: 160, Status: "Unknown signal 32", Line: "srun: error: node4: task 8: Unknown signal 32"},
		{Node: "node6", Ranks: []int{9}, Code: 137, Status: "Killed", Line: "srun: error: node6: task 9: Killed"},
	}
	got := ParseTaskFailures(text)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseTaskFailures mismatch (-want +got):\n%s", diff)
	}
}

func TestParseTaskFailuresNone(t *testing.T) {
	for _, text := range []string{"", "\n\n", "all good\n", "srun: error: \n"} {
		if got := ParseTaskFailures(text); got != nil {
			t.Errorf("ParseTaskFailures(%q) = %+v, want none", text, got)
		}
	}
}

func TestParseTaskFailuresSignalCodes(t *testing.T) {
	tests := []struct {
		status string
		code   int
	}{
		{"Hangup", 129},
		{"Interrupt", 130},
		{"Quit", 131},
		{"Illegal instruction", 132},
		{"Aborted", 134},
		{"Aborted (core dumped)", 134},
		{"Bus error", 135},
		{"Floating point exception", 136},
		{"Killed", 137},
		{"User defined signal 1", 138},
		{"Segmentation fault", 139},
		{"User defined signal 2", 140},
		{"Broken pipe", 141},
		{"Terminated", 143},
		{"Bad system call (core dumped)", 159},
		{"Exited with exit code 1", 1},
		{"Exited with exit code 255", 255},
	}
	for _, tt := range tests {
		t.Run(tt.status, func(t *testing.T) {
			line := "srun: error: n1: task 0: " + tt.status
			got := ParseTaskFailures(line)
			want := []TaskFailure{{Node: "n1", Ranks: []int{0}, Code: tt.code, Status: tt.status, Line: line}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("ParseTaskFailures(%q) mismatch (-want +got):\n%s", line, diff)
			}
		})
	}
}

// TestSignalText pins the table to glibc's strsignal on Linux, which is
// what srun prints.
func TestSignalText(t *testing.T) {
	glibc := []string{
		1: "Hangup", "Interrupt", "Quit", "Illegal instruction", "Trace/breakpoint trap",
		"Aborted", "Bus error", "Floating point exception", "Killed", "User defined signal 1",
		"Segmentation fault", "User defined signal 2", "Broken pipe", "Alarm clock", "Terminated",
		"Stack fault", "Child exited", "Continued", "Stopped (signal)", "Stopped",
		"Stopped (tty input)", "Stopped (tty output)", "Urgent I/O condition", "CPU time limit exceeded",
		"File size limit exceeded", "Virtual timer expired", "Profiling timer expired", "Window changed",
		"I/O possible", "Power failure", "Bad system call", "Unknown signal 32", "Unknown signal 33",
	}
	for n := 34; n <= 64; n++ {
		glibc = append(glibc, fmt.Sprintf("Real-time signal %d", n-34))
	}
	for n := 1; n < len(glibc); n++ {
		if got := signalText(syscall.Signal(n)); got != glibc[n] {
			t.Errorf("signalText(%d) = %q, want %q", n, got, glibc[n])
		}
		// Every text must read back as its own signal.
		if code, ok := statusCode(glibc[n]); !ok || code != 128+n {
			t.Errorf("statusCode(%q) = %d, %v, want %d", glibc[n], code, ok, 128+n)
		}
	}
}

func TestRootCause(t *testing.T) {
	term := func(node string) TaskFailure {
		return TaskFailure{Node: node, Ranks: []int{0}, Code: 143, Status: "Terminated"}
	}
	killed := TaskFailure{Node: "n2", Ranks: []int{1}, Code: 137, Status: "Killed"}
	exited := TaskFailure{Node: "n3", Ranks: []int{2}, Code: 3, Status: "Exited with exit code 3"}
	tests := []struct {
		name     string
		failures []TaskFailure
		want     TaskFailure
		wantOK   bool
	}{
		{"none", nil, TaskFailure{}, false},
		{"first is the cause", []TaskFailure{exited, term("n1")}, exited, true},
		{"terminated ones are skipped", []TaskFailure{term("n1"), term("n4"), killed, exited}, killed, true},
		{"terminated with a core dump is still collateral", []TaskFailure{{Status: "Terminated (core dumped)"}, exited}, exited, true},
		{"all terminated", []TaskFailure{term("n1"), term("n4")}, term("n1"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := RootCause(tt.failures)
			if ok != tt.wantOK {
				t.Fatalf("RootCause ok = %v, want %v", ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("RootCause mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFormatTaskFailure(t *testing.T) {
	tests := []struct {
		node   string
		ranks  []int
		code   int
		signal syscall.Signal
		want   string
	}{
		{"node2", []int{3}, 3, 0, "srun: error: node2: task 3: Exited with exit code 3"},
		{"node1", []int{0, 1, 2}, 0, syscall.SIGKILL, "srun: error: node1: tasks 0-2: Killed"},
		{"node1", []int{3, 0, 2, 2}, 0, syscall.SIGTERM, "srun: error: node1: tasks 0,2-3: Terminated"},
		{"node3", []int{1}, 0, syscall.SIGSEGV, "srun: error: node3: task 1: Segmentation fault"},
		{"node3", []int{1, 1}, 0, syscall.SIGABRT, "srun: error: node3: task 1: Aborted"},
		{"node3", []int{0}, 139, syscall.Signal(7), "srun: error: node3: task 0: Bus error"},
		{"node4", []int{2}, 0, syscall.Signal(36), "srun: error: node4: task 2: Real-time signal 2"},
		{"node4", []int{2}, 0, syscall.Signal(99), "srun: error: node4: task 2: Unknown signal 99"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			got := FormatTaskFailure(tt.node, tt.ranks, tt.code, tt.signal)
			if got != tt.want {
				t.Errorf("FormatTaskFailure(%q, %v, %d, %d) = %q, want %q", tt.node, tt.ranks, tt.code, tt.signal, got, tt.want)
			}
		})
	}
}

// TestFormatParseRoundTrip checks that the fake srun's lines are read back
// as the failures it meant.
func TestFormatParseRoundTrip(t *testing.T) {
	tests := []struct {
		ranks    []int
		code     int
		signal   syscall.Signal
		wantCode int
	}{
		{[]int{0}, 1, 0, 1},
		{[]int{4, 5, 7}, 42, 0, 42},
		{[]int{0}, 0, syscall.SIGKILL, 137},
		{[]int{1, 2}, 0, syscall.SIGTERM, 143},
		{[]int{3}, 0, syscall.Signal(10), 138},
	}
	for _, tt := range tests {
		line := FormatTaskFailure("n1", tt.ranks, tt.code, tt.signal)
		got := ParseTaskFailures(line + "\n")
		if len(got) != 1 {
			t.Fatalf("ParseTaskFailures(%q) = %+v, want one failure", line, got)
		}
		want := TaskFailure{Node: "n1", Ranks: uniqueSorted(tt.ranks), Code: tt.wantCode, Status: got[0].Status, Line: line}
		if diff := cmp.Diff(want, got[0]); diff != "" {
			t.Errorf("round trip of %q mismatch (-want +got):\n%s", line, diff)
		}
	}
}

func TestCompressRanks(t *testing.T) {
	tests := []struct {
		ranks []int
		want  string
	}{
		{nil, ""},
		{[]int{0}, "0"},
		{[]int{0, 1, 2, 4}, "0-2,4"},
		{[]int{4, 2, 1, 0}, "0-2,4"},
		{[]int{1, 1, 2}, "1-2"},
		{[]int{0, 2, 4}, "0,2,4"},
		{[]int{7, 8, 10, 11, 12, 20}, "7-8,10-12,20"},
		{[]int{5}, "5"},
		{[]int{2, 3, 5}, "2-3,5"},
		{[]int{0, 1, 2, 3}, "0-3"},
		{[]int{1, 3, 5}, "1,3,5"},
		{[]int{0, 2, 3, 4, 7, 8, 10}, "0,2-4,7-8,10"},
	}
	for _, tt := range tests {
		input := append([]int(nil), tt.ranks...)
		if got := CompressRanks(tt.ranks); got != tt.want {
			t.Errorf("CompressRanks(%v) = %q, want %q", tt.ranks, got, tt.want)
		}
		if diff := cmp.Diff(input, tt.ranks); diff != "" {
			t.Errorf("CompressRanks changed its argument (-before +after):\n%s", diff)
		}
	}
}

// FuzzParseTaskFailures checks that arbitrary srun output never panics and
// that every failure read is complete and comes from the text.
func FuzzParseTaskFailures(f *testing.F) {
	f.Add("srun: error: node1: tasks 0,2-3: Terminated\nsrun: error: node3: task 1: Segmentation fault (core dumped)\n")
	f.Add("x srun: error: n: task 0-99999999999: Killed")
	f.Fuzz(func(t *testing.T, text string) {
		for _, fl := range ParseTaskFailures(text) {
			if fl.Node == "" || len(fl.Ranks) == 0 || fl.Code <= 0 || fl.Status == "" || !strings.Contains(text, fl.Line) {
				t.Fatalf("incomplete failure %+v from %q", fl, text)
			}
		}
	})
}

// TestTerminated: SIGTERM's status, with or without a core dump, and no other status.
func TestTerminated(t *testing.T) {
	for status, want := range map[string]bool{
		"Terminated": true, "Terminated (core dumped)": true, "Killed": false,
		"Exited with exit code 143": false, "Segmentation fault (core dumped)": false,
	} {
		if got := (TaskFailure{Status: status}).Terminated(); got != want {
			t.Errorf("Terminated() of %q = %v, want %v", status, got, want)
		}
	}
}
