package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/roles"
)

// TestEscapedDaemonIsStoppedAndReported: rank 0 of GEN_0 starts a daemon as the ones that outlive
// steps do (double fork, setsid, SIGTERM ignored, the step's stdout kept open) and goes on serving.
// The run succeeds; when GEN_0's command ends, its task stops the daemon, so the step ends and the
// daemon is gone (runScenario also finds no process of the run left); the event log has a leftover
// warning naming it, and summary.json lists it under the role.
func TestEscapedDaemonIsStoppedAndReported(t *testing.T) {
	var pidFile string
	out := runScenario(t, scenario{flags: func(f *roles.Flags) {
		pidFile = filepath.Join(f.Workspace, "daemon.pid")
		f.GenCommand = `if [ "$DISAGG_SERVING_TYPE$SLURM_PROCID" = GEN_00 ]; then ` +
			`( setsid sh -c 'echo $$ > ` + pidFile + `.tmp && mv ` + pidFile + `.tmp ` + pidFile + `; trap "" TERM; exec sleep 600' & ); fi; ` +
			"exec " + f.Command
	}})
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("the daemon did not start: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm"); err == nil && strings.TrimSpace(string(comm)) == "sleep" {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
		t.Errorf("the daemon (pid %d) outlived the run", pid)
	}
	if out.result.Code != 0 {
		t.Errorf("exit code %d, want 0", out.result.Code)
	}
	// The daemon would have held on for 600 s; its task's grace is 2 s.
	if out.elapsed > 45*time.Second {
		t.Errorf("the run took %s", out.elapsed)
	}

	events, err := record.ReadEvents(out.ws)
	if err != nil {
		t.Fatal(err)
	}
	var leftovers []record.LogEntry
	for _, e := range events {
		if e.Event == record.EventLeftover {
			leftovers = append(leftovers, e)
		}
	}
	if len(leftovers) != 1 {
		t.Fatalf("leftover events %+v, want one", leftovers)
	}
	e := leftovers[0]
	if e.Level != "warn" || e.Role != "GEN_0" || e.Nodes != "node1" || e.Process != "sleep" || e.PID != pid || e.RanS <= 0 ||
		!strings.Contains(e.Message, "process sleep (pid "+strconv.Itoa(pid)+") of rank 0 on node1 outlived the role command") {
		t.Errorf("leftover event %+v, want a warning naming sleep (pid %d) of GEN_0 rank 0 on node1", e, pid)
	}

	for _, r := range out.summary.Roles {
		want := 0
		if r.Name == "GEN_0" {
			want = 1
		}
		if len(r.Leftovers) != want {
			t.Errorf("%s lists leftovers %+v, want %d", r.Name, r.Leftovers, want)
		}
	}
	l := roleState(out.summary, "GEN_0").Leftovers
	if len(l) == 1 && (l[0].Name != "sleep" || l[0].PID != pid || l[0].Node != "node1" || l[0].Rank != 0 || l[0].RanSeconds <= 0 || l[0].FoundAt.IsZero()) {
		t.Errorf("GEN_0's leftovers %+v", l)
	}
}
