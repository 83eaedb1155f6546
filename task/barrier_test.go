package task

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
)

func TestBarrierAllArrive(t *testing.T) {
	cdir := t.TempDir()
	var opts []Options
	var envs [][]string
	for rank := range 4 {
		o := baseOpts(cdir)
		o.Barrier = true
		o.InstallCommand = "sleep 0.1"
		opts = append(opts, o)
		// Two nodes, so ranks leave their installs at different times.
		envs = append(envs, slurmEnv(rank, rank%2, 4, []string{"node1", "node2"}[rank/2]))
	}
	for i, res := range runAll(t.Context(), opts, envs) {
		if res.code != 0 || res.exec == nil {
			t.Errorf("rank %d: code %d, exec %v; stderr:\n%s", i, res.code, res.exec != nil, res.stderr)
		}
		if !strings.Contains(res.stderr, "task: barrier of GEN_0: all 4 ranks arrived; waited ") {
			t.Errorf("rank %d: stderr:\n%s", i, res.stderr)
		}
	}
	for rank := range 4 {
		if !exists(coord.Dir(cdir).Barrier(coord.StepKey{Role: "GEN_0", Job: "42", Step: "3"}, rank)) {
			t.Errorf("no barrier file for rank %d", rank)
		}
	}
}

// TestBarrierTimeoutNamesMissingRanks: of six ranks on three nodes, 1 and 4 are already at the barrier
// when rank 0 arrives; rank 2 started on node2 (stuck before the barrier), ranks 3 and 5 never
// started, and their nodes come from the step's layout in Slurm's environment. The other ranks'
// files are written beforehand so that a slow machine cannot change which ranks are missing.
func TestBarrierTimeoutNamesMissingRanks(t *testing.T) {
	cdir := t.TempDir()
	stuck := identity{role: "GEN_0", rank: 2, node: "node2", pid: 4242}
	if err := coord.WriteMarker(coord.Dir(cdir).Started("GEN_0", 2), stuck.marker(time.Now())); err != nil {
		t.Fatal(err)
	}
	for _, rank := range []int{1, 4} {
		if err := coord.WriteMarker(coord.Dir(cdir).Barrier(coord.StepKey{Role: "GEN_0", Job: "42", Step: "3"}, rank), coord.Marker{Role: "GEN_0", Rank: rank, Node: "node1"}); err != nil {
			t.Fatal(err)
		}
	}
	opts := baseOpts(cdir)
	opts.Barrier = true
	opts.BarrierTimeout = 300 * time.Millisecond
	res := runTask(t.Context(), opts, slurmEnv(0, 0, 6, "node1", "SLURM_STEP_NODELIST=node[1-3]", "SLURM_STEP_TASKS_PER_NODE=2(x3)"))
	if res.code != exitWaited || res.exec != nil {
		t.Errorf("code %d, exec %v; want %d; stderr:\n%s", res.code, res.exec != nil, exitWaited, res.stderr)
	}
	want := "task: error: role GEN_0 rank 0 on node1: ranks 2-3,5 of GEN_0 did not arrive within 300ms (started but not at the barrier: 2 on node2; never started: 3 on node2, 5 on node3)\n"
	if !strings.HasSuffix(res.stderr, want) {
		t.Errorf("stderr ends\n%s\nwant it to end\n%s", res.stderr, want)
	}
}

func TestBarrierFailsFastOnFailedInstall(t *testing.T) {
	tests := []struct {
		name string
		// lockOwnNode makes the task a waiter for its own node's install when it arrives.
		lockOwnNode bool
		barrier     bool
		code        int
		stderr      string
	}{
		{
			name:    "at the barrier",
			barrier: true,
			code:    3,
			stderr:  "task: error: role GEN_0 rank 0 on node1: install failed on node9 (exit code 3); leaving the barrier of GEN_0\n",
		},
		{
			name:        "waiting for own install",
			lockOwnNode: true,
			barrier:     true,
			code:        3,
			stderr:      "task: error: role GEN_0 rank 0 on node1: install failed on node9 (exit code 3); not waiting for the install on node1, the barrier cannot complete\n",
		},
		{
			// Without a barrier another node's install is none of this task's business.
			name:        "no barrier",
			lockOwnNode: true,
			code:        exitWaited,
			stderr:      "install on node1 did not finish within 300ms",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cdir := t.TempDir()
			if err := coord.WriteFailed(coord.Dir(cdir).Install("node9").Failed, 3); err != nil {
				t.Fatal(err)
			}
			if tt.lockOwnNode {
				if err := os.WriteFile(coord.Dir(cdir).Install("node1").Lock, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			opts := baseOpts(cdir)
			opts.Barrier = tt.barrier
			opts.InstallCommand = "true"
			opts.InstallTimeout = 300 * time.Millisecond
			opts.BarrierTimeout = time.Minute
			res := runTask(t.Context(), opts, slurmEnv(0, 0, 2, "node1"))
			if res.code != tt.code || res.exec != nil {
				t.Fatalf("code %d, exec %v; want %d; stderr:\n%s", res.code, res.exec != nil, tt.code, res.stderr)
			}
			if res.elapsed > 5*time.Second {
				t.Errorf("took %s", res.elapsed)
			}
			if !strings.Contains(res.stderr, tt.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderr, res.stderr)
			}
		})
	}
}

// TestRankList: the barrier's wording around slurm.CompressRanks, which slurm's tests cover.
func TestRankList(t *testing.T) {
	if got := rankList([]int{5}); got != "rank 5" {
		t.Errorf("rankList([5]) = %q", got)
	}
	if got := rankList([]int{2, 3, 5}); got != "ranks 2-3,5" {
		t.Errorf("rankList([2 3 5]) = %q", got)
	}
}

// TestReleaseAt: once a rank has waited half a grid period (it polls only on the grid's ticks), the
// release names the first tick at least an eighth of a period after the last arrival; before that,
// every rank still polls fast and the release is at once.
func TestReleaseAt(t *testing.T) {
	const grid = 640 * time.Millisecond
	tick := time.Unix(1_800_000_000, 0).Truncate(grid).Add(100 * grid)
	tests := []struct {
		name   string
		waited time.Duration // how long the oldest arrival is before now
		now    time.Time
		want   time.Time
	}{
		{"fast polls yet", grid / 4, tick.Add(-grid / 2), tick.Add(-grid / 2)},
		{"margin fits before the next tick", grid, tick.Add(-grid / 6), tick},
		{"margin crosses the next tick", grid, tick.Add(-grid / 16), tick.Add(grid)},
		{"just after a tick", 10 * grid, tick.Add(time.Millisecond), tick.Add(grid)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			arrival := filepath.Join(dir, "0")
			if err := os.WriteFile(arrival, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			oldest := tt.now.Add(-tt.waited)
			if err := os.Chtimes(arrival, oldest, oldest); err != nil {
				t.Fatal(err)
			}
			r := &runner{seams: seams{barrierGrid: grid}}
			if got := r.releaseAt(dir, tt.now); !got.Equal(tt.want) {
				t.Errorf("releaseAt(now = tick%+v) = tick%+v, want tick%+v", tt.now.Sub(tick), got.Sub(tick), tt.want.Sub(tick))
			}
		})
	}
}
