package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestNodeCrash: a node of a running job crashes (its slurmd, slurmstepds and tasks are SIGKILLed, as
// the dev cluster allows). Slurm finds the node silent after its SlurmdTimeout and ends the job
// NODE_FAIL; the supervisor calls that an infrastructure failure (87), names the node in bad_nodes and
// bad-nodes.txt, and its JUnit case is an <error> of class infrastructure, never a role's failure.
//
// Not parallel: a node goes down, which the other scenarios' jobs would feel. It brings the node back
// (scripts/slurm-dev-cluster.sh up) before it ends.
func TestNodeCrash(t *testing.T) {
	requireSlurm(t)
	start := time.Now()
	j := submit(t, jobSpec{Name: "node-crash", NumGen: 2, Requests: longToy, Work: "50ms", SBATCH: []string{"--no-requeue"}})
	node, crashed := crashGEN1Node(t, j)

	rec, s := finish(t, j, start)
	t.Logf("crash of %s to the end of the job: %s (Slurm's SlurmdTimeout is 30 s here)", node, time.Since(crashed).Round(100*time.Millisecond))
	if rec.State != "NODE_FAIL" {
		t.Errorf("job ended %s, want NODE_FAIL", rec.State)
	}
	if s.ExitCode == nil || *s.ExitCode != 87 || s.State != "failed" {
		t.Errorf("summary state %s exit code %s, want failed with 87", s.State, ptrString(s.ExitCode))
	}
	f := s.Failure
	if f == nil || f.Class != "infrastructure" || f.Role != "" || !strings.Contains(f.Reason, node) {
		t.Fatalf("failure %+v, want class infrastructure naming %s and no role", f, node)
	}
	if !slices.Contains(s.BadNodes, node) {
		t.Errorf("bad_nodes %v, want %s among them", s.BadNodes, node)
	}
	if data, err := os.ReadFile(filepath.Join(j.ws, "bad-nodes.txt")); err != nil || !strings.Contains(string(data), node+"\n") {
		t.Errorf("bad-nodes.txt (%v): %q, want %s", err, data, node)
	}
	junit, _ := os.ReadFile(filepath.Join(j.ws, "results-disagg-supervisor.xml"))
	if !strings.Contains(string(junit), `<error message="infrastructure: `) {
		t.Errorf("JUnit lacks an <error> of class infrastructure:\n%s", junit)
	}
	t.Logf("root cause: %s; evidence %q", f.Reason, f.Evidence)
}

// TestNodeCrashHeartbeat: the same crash with --node-timeout 8s: the node watch finds the node silent
// long before Slurm's SlurmdTimeout (30 s here, 300 s by default), and ends the run 87 naming it (rule
// node-silent). Logs the time from the crash to the decision (target: the node timeout + 2 s).
func TestNodeCrashHeartbeat(t *testing.T) {
	requireSlurm(t)
	start := time.Now()
	j := submit(t, jobSpec{Name: "node-crash-hb", NumGen: 2, Requests: longToy, Work: "50ms", SBATCH: []string{"--no-requeue"},
		RunFlags: "--node-timeout 8s"})
	node, crashed := crashGEN1Node(t, j)
	s := j.waitSummary(2*time.Minute, "the run decided", func(s summary) bool { return s.DecidedAt != nil })
	took := s.DecidedAt.Sub(crashed)
	t.Logf("crash of %s to the decision: %s (--node-timeout 8s; Slurm's SlurmdTimeout is 30 s here)", node, took.Round(10*time.Millisecond))
	rec, s := finish(t, j, start)
	t.Logf("Slurm ended the job %s ExitCode=%s", rec.State, rec.ExitCode)
	if s.ExitCode == nil || *s.ExitCode != 87 {
		t.Errorf("summary exit code %s, want 87", ptrString(s.ExitCode))
	}
	f := s.Failure
	if f == nil || f.Class != "infrastructure" || f.Node != node ||
		!slices.ContainsFunc(f.Evidence, func(e string) bool { return strings.HasPrefix(e, "node-silent: "+node+": ") }) {
		t.Fatalf("failure %+v, want class infrastructure, node %s, node-silent evidence", f, node)
	}
	if !slices.Contains(s.BadNodes, node) {
		t.Errorf("bad_nodes %v, want %s", s.BadNodes, node)
	}
	// The bound is generous for a loaded machine; the point is to beat Slurm's 30 s by far.
	if took > 20*time.Second {
		t.Errorf("decided %s after the crash, want well before Slurm's 30 s", took)
	}
}

// crashGEN1Node waits until j's benchmark sends its requests, then crashes GEN_1's node (a node of its
// own: the batch shell and the supervisor run on GEN_0's), and brings it back at the test's end.
func crashGEN1Node(t *testing.T, j *job) (string, time.Time) {
	t.Helper()
	s := j.waitSummary(jobTimeout, "the benchmark sending requests", func(s summary) bool { return benchmarkSending(j, s) })
	gen1, ok := s.role("GEN_1")
	if !ok || len(gen1.Nodes) != 1 {
		t.Fatalf("GEN_1 %+v, want one node", gen1)
	}
	node := gen1.Nodes[0]
	script := devClusterScript(t)
	t.Cleanup(func() { restoreNode(t, script, node) })
	if out, err := exec.Command(script, "crash", node).CombinedOutput(); err != nil {
		t.Fatalf("crash %s: %v\n%s", node, err, out)
	}
	return node, time.Now()
}

// devClusterScript is the dev cluster's script, whose commands crash a node or stop the controller.
func devClusterScript(t *testing.T) string {
	t.Helper()
	script, err := filepath.Abs("../scripts/slurm-dev-cluster.sh")
	if err != nil {
		t.Fatal(err)
	}
	return script
}

// restoreNode starts the crashed node's slurmd again and waits until Slurm has it back in service, so
// that the scenarios after this one have four nodes.
func restoreNode(t *testing.T, script, node string) {
	t.Helper()
	if out, err := exec.Command(script, "up").CombinedOutput(); err != nil {
		t.Errorf("bringing %s back: %v\n%s", node, err, out)
		return
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, _ := slurmCmd("", "sinfo", "-h", "-N", "-n", node, "-o", "%T")
		state := strings.TrimSpace(out)
		if state == "idle" {
			return
		}
		if strings.HasPrefix(state, "down") || strings.HasPrefix(state, "drain") {
			_, _ = slurmCmd("", "scontrol", "update", "NodeName="+node, "State=RESUME")
		}
		if time.Now().After(deadline) {
			t.Errorf("%s is %q two minutes after its slurmd was started again", node, state)
			return
		}
		time.Sleep(time.Second)
	}
}

// TestControllerDownAtFailure: a GEN rank exits 3 while slurmctld is down. srun's kill-on-bad-exit
// request is lost with the controller, so srun and the other rank keep running; the supervisor decides
// on srun's failing-task line once srun has outlived it by KillWait + 5 s, with the task's own code,
// node and rank, instead of waiting for the time limit. The controller comes back afterwards.
//
// Not parallel: every job of the cluster loses its controller meanwhile.
func TestControllerDownAtFailure(t *testing.T) {
	requireSlurm(t)
	start := time.Now()
	j := submit(t, jobSpec{Name: "ctld-down", NumGen: 1, Requests: longToy, Work: "50ms", Fail: "GEN_0:1:3:15s",
		SBATCH: []string{"--no-requeue"}})
	j.waitSummary(jobTimeout, "the benchmark sending requests", func(s summary) bool { return benchmarkSending(j, s) })
	script := devClusterScript(t)
	restored := false
	restore := func() {
		if restored {
			return
		}
		restored = true
		if out, err := exec.Command(script, "up").CombinedOutput(); err != nil {
			t.Errorf("starting slurmctld again: %v\n%s", err, out)
		}
	}
	t.Cleanup(restore)
	if out, err := exec.Command(script, "ctld-down").CombinedOutput(); err != nil {
		t.Fatalf("ctld-down: %v\n%s", err, out)
	}
	// The fault fires 15 s after GEN_0's readiness, with the controller down; the decision must come
	// from the line, within KillWait (5 s here) + 5 s of it, while the controller is still down.
	s := j.waitSummary(2*time.Minute, "the run decided", func(s summary) bool { return s.DecidedAt != nil })
	fault := faultTime(t, j.ws, "GEN_0", 1)
	took := s.DecidedAt.Sub(fault)
	t.Logf("fault to decision with the controller down: %s", took.Round(10*time.Millisecond))
	restore()

	rec, s := finish(t, j, start)
	if s.ExitCode == nil || *s.ExitCode != 3 {
		t.Errorf("summary exit code %s, want 3 (the task's own code)", ptrString(s.ExitCode))
	}
	checkFailure(t, s, "GEN_0", rec.Nodes[0], []int{1}, 3)
	if f := s.Failure; f == nil || f.Class != "test" || !strings.Contains(f.Reason, "decided on srun's line") {
		t.Errorf("failure %+v, want class test, decided on srun's line", f)
	}
	if took < 10*time.Second || took > 40*time.Second {
		t.Errorf("decided %s after the fault, want after the 10 s wait (KillWait 5 s + 5 s) and well before the time limit", took)
	}
	var said bool
	for _, ev := range attemptEvents(t, j.ws, s.RunToken) {
		said = said || (ev.Event == "warning" && strings.Contains(ev.Message, "deciding on the line"))
	}
	if !said {
		t.Error("no warning event says the run was decided on srun's line")
	}
}
