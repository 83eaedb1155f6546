package toy

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestAggregated runs an aggregated SERVER of four ranks in-process: rank 0 serves and measures
// itself over loopback, the other ranks end on its end file, and an injected fault of another rank
// keeps rank 0 from reporting success.
func TestAggregated(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  fakeEnv
		// wantCodes are the exit codes of ranks 0..3; -1: cancelled by the test (as srun's
		// --kill-on-bad-exit ends the others), so not checked.
		wantCodes []int
		wantEnd   string // content of SERVER.end; "" for none
		wantLine  string // a line of rank 0's stdout
	}{
		{name: "success", wantCodes: []int{0, 0, 0, 0}, wantEnd: statusOK,
			wantLine: "toy: SERVER: aggregated serving on 127.0.0.1:"},
		{name: "gen-only says so", env: fakeEnv{envGenOnly: "1"}, wantCodes: []int{0, 0, 0, 0}, wantEnd: statusOK,
			wantLine: "toy: SERVER: aggregated, gen-only (TRTLLM_DISAGG_BENCHMARK_GEN_ONLY=1) serving on 127.0.0.1:"},
		{name: "rank 3 exits 7", env: fakeEnv{envFail: "SERVER:3:7:10ms"}, wantCodes: []int{-1, -1, -1, 7},
			wantLine: "toy: SERVER: injected faults fired; waiting up to"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir, workspace := t.TempDir(), t.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var ranks []*running
			for rank := range 4 {
				env := roleEnv(dir, roleAggregated, rank).with(envWorkspace, workspace)
				for k, v := range tc.env {
					env[k] = v
				}
				ranks = append(ranks, start(ctx, fmt.Sprintf("SERVER rank %d", rank), env,
					"--work", "1ms", "--wait-timeout", "20s", "--requests", "30", "--concurrency", "3"))
			}
			if tc.wantCodes[3] != 0 {
				// The faulty rank ends first; srun's --kill-on-bad-exit would end the others.
				if code := ranks[3].wait(t, testDeadline); code != tc.wantCodes[3] {
					t.Errorf("rank 3 exit code %d, want %d\n%s", code, tc.wantCodes[3], ranks[3].stderr)
				}
				eventually(t, testDeadline, "rank 0 waiting to be stopped", func() bool {
					return strings.Contains(ranks[0].stdout.String(), tc.wantLine)
				})
				cancel()
			}
			for i, r := range ranks {
				code := r.wait(t, testDeadline)
				if want := tc.wantCodes[i]; want >= 0 && code != want {
					t.Errorf("rank %d exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", i, code, want, r.stdout, r.stderr)
				}
			}
			end := filepath.Join(dir, "hostnames-4242.0.t99", "SERVER.end")
			if tc.wantEnd == "" {
				if fileExists(end) {
					t.Errorf("%s exists after a fault: rank 0 reported an end", end)
				}
				return
			}
			if got := readFile(t, end); got != tc.wantEnd {
				t.Errorf("SERVER.end holds %q, want %q", got, tc.wantEnd)
			}
			out := ranks[0].stdout.String()
			if !strings.Contains(out, tc.wantLine) || !strings.Contains(out, "toy: benchmark requests=30 failed=0 concurrency=3 ") {
				t.Errorf("rank 0's stdout lacks %q or the benchmark line:\n%s", tc.wantLine, out)
			}
			res, err := ReadResults(workspace)
			if err != nil || res.Requests != 30 || res.Failed != 0 || res.ThroughputRPS <= 0 {
				t.Errorf("results %+v (%v), want 30 requests served, none failed", res, err)
			}
			for i := 1; i < 4; i++ {
				if !strings.Contains(ranks[i].stdout.String(), "SERVER.end appeared: exiting") {
					t.Errorf("rank %d did not end on SERVER.end:\n%s", i, ranks[i].stdout)
				}
			}
			if fileExists(filepath.Join(dir, "benchmark_status.0.txt")) {
				t.Error("the aggregated SERVER wrote the disaggregated benchmark's status file")
			}
		})
	}
}
