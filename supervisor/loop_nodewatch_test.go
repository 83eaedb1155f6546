package supervisor

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

// TestLoopNodeWatch plays the node watch with the fake clock: the tasks' heartbeats are files the
// case writes, one write per node per second, and the loop looks every sixth of the timeout. The
// harness's stack runs GEN_0, DISAGG_SERVER and BENCHMARK on node1, GEN_1 on node2, CTX_0 on node3.
func TestLoopNodeWatch(t *testing.T) {
	const timeout = 3 * time.Second
	for _, tt := range []struct {
		name string
		opts options
		play func(t *testing.T, h *harness, beat func(nodes ...string))
		want outcome
	}{
		{
			name: "a node silent past the timeout: infrastructure, naming it and its role",
			opts: options{noProbes: true, nodeTimeout: timeout},
			play: func(t *testing.T, h *harness, beat func(nodes ...string)) {
				beat("node1", "node2", "node3")
				h.advance(time.Second) // the loop sees every node's first heartbeat
				for range 3 {
					beat("node1", "node3") // node2 stops
					h.advance(time.Second)
				}
				if s := h.summary(); s.State != record.RunRunning {
					t.Fatalf("state %s with node2 silent for exactly the timeout, want running", s.State)
				}
				beat("node1", "node3")
				h.advance(time.Second)
				f := h.summary().Failure
				if f == nil || f.Node != "node2" || !contains(f.Evidence, "last heartbeat: role=GEN_1") {
					t.Errorf("failure %+v; want node2 and its last heartbeat", f)
				}
				if !contains(h.calls("stop"), "GEN_1") {
					t.Errorf("stopped %v, want every step", h.calls("stop"))
				}
			},
			want: outcome{state: record.RunFailed, code: verdict.ExitInfrastructure, role: "GEN_1", reason: "node node2 went silent",
				class: verdict.ClassInfrastructure, evidence: "node-silent: node2: heartbeat unchanged for 4s (--node-timeout 3s) while GEN_1 ran on it",
				badNodes: []string{"node2"}},
		},
		{
			name: "a node never heard from is not judged: its tasks may not have started (a container being imported)",
			opts: options{noProbes: true, nodeTimeout: timeout},
			play: func(t *testing.T, h *harness, beat func(nodes ...string)) {
				for range 30 {
					beat("node1", "node2") // nothing from node3 for ten timeouts
					h.advance(time.Second)
				}
				if s := h.summary(); s.State != record.RunRunning {
					t.Fatalf("state %s, want running: node3 never started a heartbeat", s.State)
				}
				beat("node3") // its tasks start: from now on node3 is watched
				for range 8 {
					beat("node1", "node2")
					h.advance(time.Second)
				}
			},
			want: outcome{state: record.RunFailed, code: verdict.ExitInfrastructure, role: "CTX_0", reason: "running CTX_0",
				class: verdict.ClassInfrastructure, evidence: "last heartbeat: role=CTX_0", badNodes: []string{"node3"}},
		},
		{
			name: "several roles on a silent node: all named, the first one blamed",
			opts: options{noProbes: true, nodeTimeout: timeout},
			play: func(t *testing.T, h *harness, beat func(nodes ...string)) {
				beat("node1", "node2", "node3")
				h.advance(time.Second)
				for range 4 {
					beat("node2", "node3")
					h.advance(time.Second)
				}
			},
			want: outcome{state: record.RunFailed, code: verdict.ExitInfrastructure, role: "GEN_0",
				reason: "running GEN_0, DISAGG_SERVER, BENCHMARK", class: verdict.ClassInfrastructure, badNodes: []string{"node1"}},
		},
		{
			name: "every node refreshing: nothing happens, the benchmark decides",
			opts: options{noProbes: true, nodeTimeout: timeout},
			play: func(t *testing.T, h *harness, beat func(nodes ...string)) {
				for range 30 {
					beat("node1", "node2", "node3")
					h.advance(time.Second)
				}
				finish(h)
			},
			want: outcome{state: record.RunSucceeded, code: 0},
		},
		{
			name: "a node whose steps all ended is no longer watched",
			opts: options{noProbes: true, nodeTimeout: timeout},
			play: func(t *testing.T, h *harness, beat func(nodes ...string)) {
				beat("node1", "node2", "node3")
				h.advance(time.Second)
				h.announceEnd()
				h.exit("GEN_1", 0) // node2's only step finished; node2 goes quiet for good
				for range 10 {
					beat("node1", "node3")
					h.advance(time.Second)
				}
				if s := h.summary(); s.State != record.RunRunning {
					t.Fatalf("state %s with node2 silent after its step ended, want running", s.State)
				}
				finish(h)
			},
			want: outcome{state: record.RunSucceeded, code: 0},
		},
		{
			name: "--node-timeout 0: no watch, whatever the nodes write",
			opts: options{noProbes: true},
			play: func(t *testing.T, h *harness, beat func(nodes ...string)) {
				h.advance(time.Hour)
				if s := h.summary(); s.State != record.RunRunning {
					t.Fatalf("state %s with no heartbeat for an hour and no node watch, want running", s.State)
				}
				finish(h)
			},
			want: outcome{state: record.RunSucceeded, code: 0},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, tt.opts)
				defer h.drain()
				seq := map[string]uint64{}
				beat := func(nodes ...string) {
					for _, n := range nodes {
						seq[n]++
						hb := coord.Heartbeat{Writer: coord.Marker{Role: firstRoleOn(h, n), Node: n, PID: 100}, Seq: seq[n], Time: h.clock.Now()}
						if err := coord.WriteHeartbeat(coord.Dir(h.plan.CoordDir).Heartbeat(n), hb); err != nil {
							t.Fatal(err)
						}
					}
				}
				tt.play(t, h, beat)
				checkOutcome(t, h, h.result(), tt.want)
				if tt.want.code == verdict.ExitInfrastructure {
					data, err := os.ReadFile(filepath.Join(h.plan.Workspace, record.BadNodesFile))
					if want := strings.Join(tt.want.badNodes, "\n") + "\n"; err != nil || string(data) != want {
						t.Errorf("%s: %q, %v; want %q", record.BadNodesFile, data, err, want)
					}
				}
			})
		})
	}
}

// finish ends the stack the harness's way: the benchmark announces its end, the servers finish, the
// benchmark passes.
func finish(h *harness) {
	h.announceEnd()
	for _, name := range []string{"GEN_0", "GEN_1", "CTX_0", "DISAGG_SERVER", "BENCHMARK"} {
		h.exit(name, 0) // once: a step that ended already stays as it ended
	}
}

// firstRoleOn names the first role of the plan on node, as the heartbeat's writer.
func firstRoleOn(h *harness, node string) string {
	for _, r := range h.plan.Roles {
		for _, n := range r.Nodes {
			if n == node {
				return r.Name
			}
		}
	}
	panic(fmt.Sprintf("no role on %s", node))
}
