package integration

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
	"github.com/disagg-supervisor/disagg-supervisor/internal/proctable"
	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/roles"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

// TestSilentNodeEndsTheRun: a real local run with the fake srun, where every process of fake node2
// (GEN_1's two tasks and what they started) is frozen with SIGSTOP once the stack is up, as a node
// that hangs or dies leaves them: the run ends with 87, naming node2 and GEN_1, once node2's heartbeat
// has been silent for the node timeout, and never before. The benchmark is stuck (the toy's stall),
// so nothing else ends the run. The time from the freeze to the decision, and what the heartbeats
// cost in writes per node per second, are logged.
func TestSilentNodeEndsTheRun(t *testing.T) {
	const timeout = 3 * time.Second
	period := timeout / 6
	var (
		mu      sync.Mutex
		frozeAt time.Time
		frozen  []int
		frozeWS string
		rates   = map[string]float64{}
	)
	sc := scenario{fail: "BENCHMARK:0:stall", requests: 50,
		flags: func(f *roles.Flags) {
			d := timeout
			f.NodeTimeout = &d
		},
		watch: func(ctx context.Context, ws string) {
			token := ""
			for ; token == "" && ctx.Err() == nil; time.Sleep(20 * time.Millisecond) {
				token = runToken(ws)
			}
			waitFile(ctx, filepath.Join(ws, "hostnames-"+token, "DISAGG_SERVER.txt"))
			dir := coord.Dir(filepath.Join(ws, ".disagg-supervisor", "runs", token))
			// The cost: every write of every writer on node1 (GEN_0, DISAGG_SERVER and BENCHMARK)
			// and node2 (GEN_1), from the writers' sequence numbers, over ten periods.
			got := writeRates(ctx, dir, []string{"node1", "node2"}, 10*period)
			pids := nodeProcesses(ws, "node2")
			for _, pid := range pids {
				_ = syscall.Kill(pid, syscall.SIGSTOP)
			}
			mu.Lock()
			frozeAt, frozen, frozeWS, rates = time.Now(), pids, ws, got
			mu.Unlock()
			<-ctx.Done()
		},
	}
	t.Cleanup(func() {
		// Whatever the outcome, no frozen process outlives the test (the teardown kills them all
		// when it works): those of node2 still there.
		mu.Lock()
		defer mu.Unlock()
		for _, pid := range nodeProcesses(frozeWS, "node2") {
			if slices.Contains(frozen, pid) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	out := runScenario(t, sc)
	mu.Lock()
	defer mu.Unlock()
	if len(frozen) == 0 {
		t.Fatalf("no process of node2 was frozen; result %d, failure %+v", out.result.Code, out.summary.Failure)
	}
	f := out.summary.Failure
	if out.result.Code != verdict.ExitInfrastructure || f == nil || f.Class != verdict.ClassInfrastructure ||
		f.Node != "node2" || f.Role != "GEN_1" || !strings.Contains(f.Reason, "node node2 went silent") {
		t.Fatalf("exit code %d, failure %+v; want 87, infrastructure, GEN_1 on node2 silent", out.result.Code, f)
	}
	if !slices.ContainsFunc(f.Evidence, func(e string) bool { return strings.HasPrefix(e, "node-silent: node2: ") }) {
		t.Errorf("evidence %q, want a node-silent line for node2", f.Evidence)
	}
	if !slices.Equal(out.summary.BadNodes, []string{"node2"}) {
		t.Errorf("bad nodes %v, want node2", out.summary.BadNodes)
	}
	if data, err := os.ReadFile(filepath.Join(out.ws, record.BadNodesFile)); err != nil || string(data) != "node2\n" {
		t.Errorf("%s: %q, %v; want node2", record.BadNodesFile, data, err)
	}
	latency := out.summary.DecidedAt.Sub(frozeAt)
	t.Logf("node death to decision: %s (--node-timeout %s, heartbeat every %s); heartbeat writes per second: node1 %.2f, node2 %.2f",
		latency.Round(time.Millisecond), timeout, period, rates["node1"], rates["node2"])
	// The last write may precede the freeze by up to one period: the decision cannot come before the
	// timeout less that; it comes within the timeout and two periods of looking, plus a loaded
	// machine's slack.
	if latency < timeout-period || latency > timeout+2*period+2*time.Second {
		t.Errorf("decided %s after node2 froze, want between %s and %s", latency, timeout-period, timeout+2*period+2*time.Second)
	}
}

// runToken is the run token of the one attempt in the workspace, once its coordination directory
// exists.
func runToken(ws string) string {
	dirs, _ := filepath.Glob(filepath.Join(ws, ".disagg-supervisor", "runs", "*"))
	if len(dirs) != 1 {
		return ""
	}
	return filepath.Base(dirs[0])
}

// writeRates follows the heartbeat files of nodes for window and returns each node's writes per
// second: the sum over its writers of the sequence numbers they advanced by, over the writers' own
// times. A write replaced before it was seen still counts, since the next one's number says so.
func writeRates(ctx context.Context, dir coord.Dir, nodes []string, window time.Duration) map[string]float64 {
	type span struct {
		first, last coord.Heartbeat
	}
	seen := map[string]map[int]*span{}
	for end := time.Now().Add(window); time.Now().Before(end) && ctx.Err() == nil; time.Sleep(5 * time.Millisecond) {
		for _, n := range nodes {
			h, err := coord.ReadHeartbeat(dir.Heartbeat(n))
			if err != nil {
				continue
			}
			if seen[n] == nil {
				seen[n] = map[int]*span{}
			}
			if s := seen[n][h.Writer.PID]; s == nil {
				seen[n][h.Writer.PID] = &span{first: h, last: h}
			} else {
				s.last = h
			}
		}
	}
	rates := map[string]float64{}
	for n, writers := range seen {
		for _, s := range writers {
			if d := s.last.Time.Sub(s.first.Time).Seconds(); d > 0 {
				rates[n] += float64(s.last.Seq-s.first.Seq) / d
			}
		}
	}
	return rates
}

// nodeProcesses lists the processes of a fake node of the run in ws: its tasks (the fake srun gives
// them SLURMD_NODENAME) and everything they started (whose environment the task may have cleaned).
func nodeProcesses(ws, node string) []int {
	procs, err := proctable.Read()
	if err != nil {
		return nil
	}
	var pids []int
	for _, p := range procs {
		env, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p.PID), "environ"))
		env = append([]byte{0}, env...) // every variable, the first included, follows a NUL
		if err == nil && bytes.Contains(env, []byte("\x00SLURMD_NODENAME="+node+"\x00")) &&
			bytes.Contains(env, []byte("\x00jobWorkspace="+ws+"\x00")) {
			pids = append(pids, p.PID)
		}
	}
	// Their descendants, to a fixed point.
	for grew := true; grew; {
		grew = false
		for _, p := range procs {
			if slices.Contains(pids, p.PPID) && !slices.Contains(pids, p.PID) {
				pids = append(pids, p.PID)
				grew = true
			}
		}
	}
	return pids
}
