package proctable

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		stat string
		want Proc
		ok   bool
	}{
		{"42 (sleep) S 7 42 7 0", Proc{PID: 42, PPID: 7, PGRP: 42, State: "S", Name: "sleep"}, true},
		// comm may hold spaces and parentheses.
		{"43 (a) b (c)) Z 1 9 9 0", Proc{PID: 43, PPID: 1, PGRP: 9, State: "Z", Name: "a) b (c)"}, true},
		// A whole line: starttime (field 22) is in clock ticks of 1/100 s.
		{"47 (python3) R 1 47 47 0 -1 4194560 100 0 0 0 5 1 0 0 20 0 3 0 123456 1000 10 18446744073709551615",
			Proc{PID: 47, PPID: 1, PGRP: 47, State: "R", Name: "python3", Started: 1234560 * time.Millisecond}, true},
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
			if p.PPID != os.Getpid() || p.PGRP != cmd.Process.Pid || p.Name != "sleep" {
				t.Errorf("child %+v, want sleep with parent %d and group %d", p, os.Getpid(), cmd.Process.Pid)
			}
			up, err := Uptime()
			if err != nil {
				t.Fatal(err)
			}
			// Started a moment ago: allow for a loaded machine and the clock's 10 ms steps.
			if age := up - p.Started; age < -time.Second || age > time.Minute {
				t.Errorf("child started %s before now, want about now (uptime %s, started %s)", age, up, p.Started)
			}
			return
		}
	}
	t.Errorf("child %d not in the table of %d processes", cmd.Process.Pid, len(procs))
}

func TestExiting(t *testing.T) {
	for _, tc := range []struct {
		stat string
		want bool
	}{
		{"42 (sleep) R 7 42 7 0 -1 4194564 100", true},
		{"42 (a) b) S 7 42 7 0 -1 4194560 100", false},
		{"42 (sleep) S 7 42", false},
		{"42 sleep", false},
	} {
		if got := exiting([]byte(tc.stat)); got != tc.want {
			t.Errorf("exiting(%q) = %v, want %v", tc.stat, got, tc.want)
		}
	}
}

func TestKillPending(t *testing.T) {
	for _, tc := range []struct {
		status string
		want   bool
	}{
		{"Name:\tsleep\nSigPnd:\t0000000000000100\nShdPnd:\t0000000000004000\n", true},
		{"Name:\tsleep\nSigPnd:\t0000000000000000\nShdPnd:\t0000000000004000\n", false},
		{"SigPnd:\t0000000000004100", true},
		{"Name:\tsleep\n", false},
		{"SigPnd:\tnot hex\n", false},
	} {
		if got := killPending([]byte(tc.status)); got != tc.want {
			t.Errorf("killPending(%q) = %v, want %v", tc.status, got, tc.want)
		}
	}
}

// TestEnding: a running child is not ending; once killed it is, as a zombie and once reaped.
func TestEnding(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if Ending(pid) {
		t.Errorf("a running sleep (pid %d) is ending", pid)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	// Ending may miss the instant between the dequeue of SIGKILL and the start of the exit.
	deadline := time.Now().Add(5 * time.Second)
	for !Ending(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("a killed sleep (pid %d), not reaped yet, is not ending", pid)
		}
		time.Sleep(time.Millisecond)
	}
	_ = cmd.Wait()
	if !Ending(pid) {
		t.Errorf("a reaped sleep (pid %d) is not ending", pid)
	}
}
