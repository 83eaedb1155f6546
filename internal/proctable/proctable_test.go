package proctable

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
)

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		stat string
		want Proc
		ok   bool
	}{
		{"42 (sleep) S 7 42 7 0", Proc{PID: 42, PPID: 7, PGRP: 42, State: "S"}, true},
		// comm may hold spaces and parentheses.
		{"43 (a) b (c)) Z 1 9 9 0", Proc{PID: 43, PPID: 1, PGRP: 9, State: "Z"}, true},
		{"44 (x) R", Proc{}, false},
		{"45 no parenthesis", Proc{}, false},
		{"46 (x) R one 2", Proc{}, false},
	} {
		var pid int
		for _, c := range tc.stat {
			if c < '0' || c > '9' {
				break
			}
			pid = pid*10 + int(c-'0')
		}
		got, ok := parseStat(pid, []byte(tc.stat))
		if ok != tc.ok || got != tc.want {
			t.Errorf("parseStat(%q) = %+v, %v; want %+v, %v", tc.stat, got, ok, tc.want, tc.ok)
		}
	}
}

// TestReadFindsAChild: a child started in its own process group is in the table with this process as
// its parent and its own pid as its group.
func TestReadFindsAChild(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	procs, err := Read()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		if p.PID == cmd.Process.Pid {
			if p.PPID != os.Getpid() || p.PGRP != cmd.Process.Pid {
				t.Errorf("child %+v, want parent %d and group %d", p, os.Getpid(), cmd.Process.Pid)
			}
			return
		}
	}
	t.Errorf("child %d not in the table of %d processes", cmd.Process.Pid, len(procs))
}
