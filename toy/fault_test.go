package toy

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		spec    string
		want    []fault
		wantErr string
	}{
		{spec: "", want: nil},
		{spec: "  ", want: nil},
		{spec: "GEN_0", want: []fault{{Role: "GEN_0", Code: 1, Delay: time.Second}}},
		{spec: "GEN_0:1:3:2s", want: []fault{{Role: "GEN_0", Rank: 1, Code: 3, Delay: 2 * time.Second, DelaySet: true}}},
		{spec: "CTX_1:2", want: []fault{{Role: "CTX_1", Rank: 2, Code: 1, Delay: time.Second}}},
		{spec: "BENCHMARK::7", want: []fault{{Role: "BENCHMARK", Code: 7, Delay: time.Second}}},
		{spec: "BENCHMARK:0:7", want: []fault{{Role: "BENCHMARK", Code: 7, Delay: time.Second}}},
		{spec: "DISAGG_SERVER:0:0:0s", want: []fault{{Role: "DISAGG_SERVER", Code: 0, DelaySet: true}}},
		{spec: "GEN_0::kill:150ms", want: []fault{{Role: "GEN_0", Code: 137, Kill: true, Delay: 150 * time.Millisecond, DelaySet: true}}},
		{spec: "CTX_0:::3s", want: []fault{{Role: "CTX_0", Code: 1, Delay: 3 * time.Second, DelaySet: true}}},
		{spec: "GEN_0:1:255", want: []fault{{Role: "GEN_0", Rank: 1, Code: 255, Delay: time.Second}}},
		{
			spec: "GEN_0:1:3:2s, CTX_0::kill",
			want: []fault{
				{Role: "GEN_0", Rank: 1, Code: 3, Delay: 2 * time.Second, DelaySet: true},
				{Role: "CTX_0", Code: 137, Kill: true, Delay: time.Second},
			},
		},
		{spec: "GEN_0:0:3,GEN_0:1:4", want: []fault{
			{Role: "GEN_0", Code: 3, Delay: time.Second},
			{Role: "GEN_0", Rank: 1, Code: 4, Delay: time.Second},
		}},
		{spec: "GEN_0:1:3:1s@1", want: []fault{{Role: "GEN_0", Rank: 1, Code: 3, Delay: time.Second, DelaySet: true, Config: 1}}},
		{spec: "DISAGG_SERVER:0:noworkers:1s@1", want: []fault{{Role: "DISAGG_SERVER", Sickness: sickNoWorkers, Code: 1, Delay: time.Second, DelaySet: true, Config: 1}}},
		{spec: "CTX_0@2", want: []fault{{Role: "CTX_0", Code: 1, Delay: time.Second, Config: 2}}},
		{spec: "BENCHMARK::7@1", want: []fault{{Role: "BENCHMARK", Code: 7, Delay: time.Second, Config: 1}}},
		{spec: "GEN_0:1:3@0", want: []fault{{Role: "GEN_0", Rank: 1, Code: 3, Delay: time.Second}}},
		{spec: "SERVER:3:7:1s@0", want: []fault{{Role: "SERVER", Rank: 3, Code: 7, Delay: time.Second, DelaySet: true}}},
		{spec: "GEN_0:0:3@1,GEN_0:1:4", want: []fault{
			{Role: "GEN_0", Code: 3, Delay: time.Second, Config: 1},
			{Role: "GEN_0", Rank: 1, Code: 4, Delay: time.Second},
		}},
		{spec: "GEN_0@", wantErr: `item "GEN_0@": configuration: "" is not a non-negative integer`},
		{spec: "GEN_0:1:3@x", wantErr: `item "GEN_0:1:3@x": configuration: "x"`},
		{spec: "GEN_0:1:3@-1", wantErr: `configuration: "-1"`},
		{spec: "GEN_0:1:3@1@2", wantErr: `configuration: "1@2"`},
		{spec: "GEN_0:1:3:1s:2@1", wantErr: "too many fields: want ROLE[:RANK[:CODE[:DELAY]]][@CONFIG]"},
		{spec: "SERVER:3:7:1s@1", wantErr: "configuration 1: the aggregated SERVER is ready once, for every configuration; its faults take @0 only"},
		{spec: "GEN_0:0:3@0,GEN_0::4@1", wantErr: `item "GEN_0::4@1": a second fault for GEN_0 rank 0`},
		{spec: "WORKER", wantErr: `item "WORKER": unknown role "WORKER"`},
		{spec: "GEN_x", wantErr: `role "GEN_x": index "x"`},
		{spec: "gen_0", wantErr: `unknown role "gen_0"`},
		{spec: "GEN_0:-1", wantErr: `item "GEN_0:-1": rank: "-1" is not a non-negative integer`},
		{spec: "GEN_0:a", wantErr: `rank: "a"`},
		{spec: "GEN_0:0:256", wantErr: `code "256": want a number from 0 to 255, kill, hang, unavailable, noworkers, stall or silent`},
		{spec: "GEN_0:0:segv", wantErr: `code "segv"`},
		{spec: "GEN_0:0:1:soon", wantErr: `delay "soon"`},
		{spec: "GEN_0:0:1:-1s", wantErr: `delay "-1s"`},
		{spec: "GEN_0:0:1:1s:extra", wantErr: "too many fields"},
		{spec: "GEN_0,,CTX_0", wantErr: "empty item"},
		{spec: "GEN_0:0:3,GEN_0::4", wantErr: `item "GEN_0::4": a second fault for GEN_0 rank 0`},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			got, err := parseFaults(tc.spec)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseFaults(%q) error = %v, want one containing %q", tc.spec, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseFaults(%q): %v", tc.spec, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("parseFaults(%q) (-want +got):\n%s", tc.spec, diff)
			}
		})
	}
}

// TestInjectedFailure runs single ranks with a short fault: each must fail with the asked code, write
// the fault time just before, and say so on stderr.
func TestInjectedFailure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		role string
		rank int
		// peers are roles that a fake server stands in for: it answers /health and its address is
		// published before the rank starts, so the rank gets ready.
		peers    []string
		env      fakeEnv
		args     []string
		wantCode int
	}{
		{name: "worker rank 1 exits 3", role: "GEN_0", rank: 1, peers: []string{"GEN_0"}, args: []string{"--fail", "GEN_0:1:3:50ms"}, wantCode: 3},
		{name: "serving rank exits 0 early", role: "CTX_0", env: fakeEnv{envFail: "CTX_0::0:50ms"}, wantCode: 0},
		{name: "router fails while serving", role: roleServer, peers: []string{"GEN_0"}, env: fakeEnv{envNumGen: "1", envFail: "DISAGG_SERVER:0:5:50ms"}, wantCode: 5},
		{name: "benchmark delay fires mid-wait", role: roleBenchmark, env: fakeEnv{envNumGen: "1"}, args: []string{"--fail", "BENCHMARK::9:50ms"}, wantCode: 9},
		{name: "flag wins over TOY_FAIL", role: "GEN_0", env: fakeEnv{envFail: "GEN_0::4:1h"}, args: []string{"--fail", "GEN_0::6:50ms"}, wantCode: 6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for _, role := range tc.peers {
				publishFake(t, dir, role)
			}
			env := roleEnv(dir, tc.role, tc.rank)
			for k, v := range tc.env {
				env[k] = v
			}
			before := time.Now()
			r := start(context.Background(), tc.name, env, append([]string{"--wait-timeout", "5s"}, tc.args...)...)
			code := r.wait(t, testDeadline)
			after := time.Now()
			if code != tc.wantCode {
				t.Errorf("exit code = %d, want %d; stderr:\n%s", code, tc.wantCode, r.stderr)
			}
			wantMsg := "toy: injected failure role=" + tc.role + " rank=" + strconv.Itoa(tc.rank)
			if !strings.Contains(r.stderr.String(), wantMsg) {
				t.Errorf("stderr lacks %q:\n%s", wantMsg, r.stderr)
			}
			path := filepath.Join(dir, "fault-"+tc.role+"-"+strconv.Itoa(tc.rank)+".time")
			ns, err := strconv.ParseInt(readFile(t, path), 10, 64)
			if err != nil {
				t.Fatalf("fault time file: %v", err)
			}
			if at := time.Unix(0, ns); at.Before(before.Add(50*time.Millisecond)) || at.After(after) {
				t.Errorf("fault time %v not within [start+50ms, end] = [%v, %v]", at, before.Add(50*time.Millisecond), after)
			}
		})
	}
}

// TestFaultForOtherRank checks that a fault aimed at another rank of the same role leaves this one alone.
func TestFaultForOtherRank(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	r := start(ctx, "GEN_0 rank 0", roleEnv(dir, "GEN_0", 0), "--fail", "GEN_0:1:3:10ms")
	time.Sleep(150 * time.Millisecond)
	if r.exited() {
		t.Errorf("rank 0 exited on rank 1's fault; stderr:\n%s", r.stderr)
	}
	cancel()
	if code := r.wait(t, testDeadline); code != ExitTerminated {
		t.Errorf("exit code = %d, want %d", code, ExitTerminated)
	}
	if fileExists(filepath.Join(dir, "fault-GEN_0-0.time")) || fileExists(filepath.Join(dir, "fault-GEN_0-1.time")) {
		t.Error("a fault time file was written though no fault fired")
	}
}

// publishFake stands in for rank 0 of role: a server that answers /health, published where peers look
// for the role in the first server configuration.
func publishFake(t *testing.T, dir, role string) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, `{"status":"ok"}`)
	}))
	t.Cleanup(srv.Close)
	if err := writeFileAtomic(addressFile(dir, role), strings.TrimPrefix(srv.URL, "http://")); err != nil {
		t.Fatal(err)
	}
}

// TestFaultDelayCountsFromReadiness checks that a rank above 0 does not fire its fault, however short
// the delay, before rank 0 of its role has published an address, and fires it the delay after that.
func TestFaultDelayCountsFromReadiness(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := start(context.Background(), "CTX_0 rank 1", roleEnv(dir, "CTX_0", 1), "--fail", "CTX_0:1:4:10ms")
	eventually(t, testDeadline, "the first line", func() bool { return strings.Contains(r.stdout.String(), "toy: role=") })
	// Not a measurement: time in which a start-relative 10ms timer would certainly have fired.
	time.Sleep(200 * time.Millisecond)
	if r.exited() || fileExists(filepath.Join(dir, "fault-CTX_0-1.time")) {
		t.Fatalf("the fault fired before CTX_0 was ready; stderr:\n%s", r.stderr)
	}
	published := time.Now()
	publishFake(t, dir, "CTX_0")
	if code := r.wait(t, testDeadline); code != 4 {
		t.Errorf("exit code = %d, want 4; stderr:\n%s", code, r.stderr)
	}
	ns, err := strconv.ParseInt(readFile(t, filepath.Join(dir, "fault-CTX_0-1.time")), 10, 64)
	if err != nil {
		t.Fatalf("fault time file: %v", err)
	}
	if at := time.Unix(0, ns); at.Before(published.Add(10 * time.Millisecond)) {
		t.Errorf("fault fired at %v, before the address was published (%v) + 10ms", at, published)
	}
}

// FuzzParseFaults checks the demo's --fail grammar: every spec is refused with an error, or parses
// into faults that, written back in their canonical form and joined with commas, parse to the
// same faults.
func FuzzParseFaults(f *testing.F) {
	for _, s := range []string{
		"GEN_0:1:3:2s", "CTX_0::kill:150ms", "DISAGG_SERVER:0:noworkers:1s", "BENCHMARK:0:stall", "GEN_0:0:silent",
		"BENCHMARK::7", "GEN_0:0:3,GEN_0:1:4", "SERVER:3:7:1s", "GEN_0:0:256", "GEN_0,,CTX_0", "GEN_0:-1", "CTX_1:2:hang:0s",
		"GEN_0:1:3:1s@1", "DISAGG_SERVER:0:noworkers:1s@1", "CTX_0@0", "GEN_0@", "GEN_0@1@2", "SERVER:3:7@1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		faults, err := parseFaults(spec)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("error spans lines: %q", err)
			}
			return
		}
		items := make([]string, len(faults))
		for i, fl := range faults {
			if fl.Rank < 0 || fl.Delay < 0 || fl.Code < 0 || fl.Code > 255 && !fl.Kill || fl.Config < 0 {
				t.Fatalf("%q: fault %+v out of bounds", spec, fl)
			}
			items[i] = fl.String()
		}
		again := strings.Join(items, ",")
		got, err := parseFaults(again)
		if err != nil {
			t.Fatalf("%q, written back from %q, does not parse: %v", again, spec, err)
		}
		if diff := cmp.Diff(faults, got); diff != "" {
			t.Fatalf("%q written back as %q (-first +again):\n%s", spec, again, diff)
		}
	})
}
