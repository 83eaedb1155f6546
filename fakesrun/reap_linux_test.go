//go:build linux

package fakesrun

import (
	"fmt"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestReapGroupsReapsOrphans: a task's shell that ends and leaves a child behind in its process
// group hands that child to the fake srun (its subreaper); reapGroups waits for it to end, reaps it,
// and then finds the group empty, without a process left for the deadline to name.
func TestReapGroupsReapsOrphans(t *testing.T) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Skipf("cannot become a child subreaper: %v", err)
	}
	cmd := exec.Command("sh", "-c", "sleep 0.3 >/dev/null & echo $!")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var orphan int
	if _, err := fmt.Sscan(string(out), &orphan); err != nil {
		t.Fatalf("orphan pid %q: %v", out, err)
	}
	pgid := cmd.Process.Pid

	left := reapGroups(map[int]bool{pgid: true}, time.Now().Add(5*time.Second))
	if len(left) > 0 {
		t.Fatalf("reapGroups left %v in group %d", left, pgid)
	}
	// Reaped, not merely ended: a zombie would still answer kill(pid, 0).
	if err := syscall.Kill(orphan, 0); err != syscall.ESRCH {
		t.Errorf("orphan %d after reapGroups: kill(0) = %v, want ESRCH (reaped)", orphan, err)
	}
	if err := syscall.Kill(-pgid, 0); err != syscall.ESRCH {
		t.Errorf("group %d after reapGroups: kill(0) = %v, want ESRCH (empty)", pgid, err)
	}
}

// TestReapGroupsNamesSurvivors: a member that outlives the deadline is named by its pid.
func TestReapGroupsNamesSurvivors(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	left := reapGroups(map[int]bool{cmd.Process.Pid: true}, time.Now().Add(50*time.Millisecond))
	if len(left) != 1 || left[0] != cmd.Process.Pid {
		t.Errorf("reapGroups = %v, want [%d]", left, cmd.Process.Pid)
	}
}
