package toy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestServerConfigs runs three server configurations in one job, as the harness does: for each
// configuration the servers publish their addresses in its own hostnames directory, the router writes
// DISAGG_SERVER.<idx>.addr, the benchmark measures it and writes its log, results and status file;
// the servers stop on that status file and only then serve the next configuration, and exit 0 after
// the last.
func TestServerConfigs(t *testing.T) {
	t.Parallel()
	const n = 3
	dir := t.TempDir()
	workspace := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	args := []string{"--wait-timeout", "5s", "--work", "1ms", "--server-configs", strconv.Itoa(n)}
	env := func(role string, rank int) fakeEnv {
		return stackEnv(dir, 1, 1)(role, rank).with(envWorkspace, workspace)
	}
	gen := []*running{start(ctx, "GEN_0 rank 0", env("GEN_0", 0), args...), start(ctx, "GEN_0 rank 1", env("GEN_0", 1), args...)}
	touchDoneWhenEnded(t, dir, 0, gen...)
	servers := append(gen, start(ctx, "CTX_0 rank 0", env("CTX_0", 0), args...), start(ctx, roleServer, env(roleServer, 0), args...))
	bench := start(ctx, roleBenchmark, env(roleBenchmark, 0), append(args, "--requests", "20", "--concurrency", "2")...)

	if code := bench.wait(t, testDeadline); code != ExitOK {
		t.Errorf("benchmark exit code = %d, want %d; stderr:\n%s", code, ExitOK, bench.stderr)
	}
	for _, s := range servers {
		if code := s.wait(t, testDeadline); code != ExitOK {
			t.Errorf("%s: exit code = %d, want %d; stderr:\n%s", s.name, code, ExitOK, s.stderr)
		}
		// Configuration idx starts only once idx-1 has ended, and the rank exits after the last.
		out := s.stdout.String()
		prev := 0
		for idx := range n {
			next := fmt.Sprintf("starting configuration %d", idx+1)
			if idx == n-1 {
				next = "exiting"
			}
			stopped := fmt.Sprintf("benchmark_status.%d.txt appeared: stopped serving configuration %d; %s", idx, idx, next)
			at := strings.Index(out, stopped)
			if at < prev {
				t.Errorf("%s: stdout lacks %q after the end of the configuration before:\n%s", s.name, stopped, out)
				break
			}
			if s.name != "GEN_0 rank 1" {
				// Only rank 0 serves; it publishes idx while serving it, that is between the
				// two status files.
				published := strings.Index(out[prev:], "hostnames-4242.0.t99-"+strconv.Itoa(idx)+"/")
				if published < 0 || prev+published > at {
					t.Errorf("%s: configuration %d not published between the status files of %d and %d:\n%s", s.name, idx, idx-1, idx, out)
				}
			}
			prev = at
		}
	}

	benchOut := bench.stdout.String()
	for idx := range n {
		if got := readFile(t, statusFile(dir, idx)); got != statusDone {
			t.Errorf("benchmark_status.%d.txt = %q, want %q", idx, got, statusDone)
		}
		for _, role := range []string{"GEN_0", "CTX_0", roleServer} {
			if !fileExists(configAddressFile(dir, idx, role)) {
				t.Errorf("configuration %d: no %s", idx, configAddressFile(dir, idx, role))
			}
		}
		router := strings.TrimSpace(readFile(t, configAddressFile(dir, idx, roleServer)))
		if got := readFile(t, filepath.Join(dir, "DISAGG_SERVER."+strconv.Itoa(idx)+".addr")); got != router {
			t.Errorf("DISAGG_SERVER.%d.addr = %q, want the router's address %q", idx, got, router)
		}
		want := fmt.Sprintf("toy: BENCHMARK: sending 20 requests to http://%s/generate at concurrency 2 server_config=%d", router, idx)
		if !strings.Contains(benchOut, want) {
			t.Errorf("benchmark stdout lacks %q:\n%s", want, benchOut)
		}
		log := readFile(t, filepath.Join(dir, "trtllm-benchmark."+strconv.Itoa(idx)+".toy.log"))
		if !strings.HasPrefix(log, want+"\n") || !strings.Contains(log, "toy: benchmark requests=20 failed=0 concurrency=2 ") ||
			!strings.HasSuffix(log, " server_config="+strconv.Itoa(idx)+"\n") {
			t.Errorf("trtllm-benchmark.%d.toy.log:\n%s", idx, log)
		}
		results := filepath.Join(workspace, "toy_benchmark_results."+strconv.Itoa(idx)+".json")
		if idx == 0 {
			results = filepath.Join(workspace, resultsFileName)
		}
		if _, err := os.Stat(results); err != nil {
			t.Errorf("results of configuration %d: %v", idx, err)
		}
	}
	// The first configuration is also where it always was: readiness probes look there.
	for _, role := range []string{"GEN_0", "CTX_0", roleServer} {
		first := filepath.Join(dir, "hostnames-4242.0.t99", role+".txt")
		if got, want := readFile(t, first), readFile(t, configAddressFile(dir, 0, role)); got != want {
			t.Errorf("%s = %q, want configuration 0's address %q", first, got, want)
		}
	}
	if fileExists(configAddressFile(dir, n, roleServer)) || fileExists(statusFile(dir, n)) {
		t.Errorf("files of a configuration %d the job does not run", n)
	}
}

// TestFaultFiresInItsConfig checks that a fault @CONFIG counts its delay from the role's readiness in
// that configuration, for rank 0 (its own publication) and for a rank above 0 (rank 0's address file
// of the configuration): with the servers held in configuration 0, it does not fire however short its
// delay; it fires once the test, standing in for the benchmark, ends configuration 0.
func TestFaultFiresInItsConfig(t *testing.T) {
	t.Parallel()
	for _, rank := range []int{0, 1} {
		t.Run("rank "+strconv.Itoa(rank), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			args := []string{"--wait-timeout", "5s", "--server-configs", "2", "--fail", fmt.Sprintf("GEN_0:%d:4:10ms@1", rank)}
			ranks := []*running{start(ctx, "GEN_0 rank 0", roleEnv(dir, "GEN_0", 0), args...), start(ctx, "GEN_0 rank 1", roleEnv(dir, "GEN_0", 1), args...)}
			faulted := ranks[rank]
			eventually(t, testDeadline, "configuration 0's address", func() bool { return fileExists(configAddressFile(dir, 0, "GEN_0")) })
			// Not a measurement: time in which a 10ms timer counted from readiness in
			// configuration 0 would certainly have fired.
			time.Sleep(200 * time.Millisecond)
			timeFile := filepath.Join(dir, "fault-GEN_0-"+strconv.Itoa(rank)+".time")
			if faulted.exited() || fileExists(timeFile) {
				t.Fatalf("the fault of configuration 1 fired in configuration 0; stderr:\n%s", faulted.stderr)
			}

			ended := time.Now()
			if err := writeFileAtomic(statusFile(dir, 0), statusDone); err != nil {
				t.Fatal(err)
			}
			if code := faulted.wait(t, testDeadline); code != 4 {
				t.Errorf("%s: exit code = %d, want 4; stderr:\n%s", faulted.name, code, faulted.stderr)
			}
			ns, err := strconv.ParseInt(readFile(t, timeFile), 10, 64)
			if err != nil {
				t.Fatalf("fault time file: %v", err)
			}
			if at := time.Unix(0, ns); at.Before(ended.Add(10 * time.Millisecond)) {
				t.Errorf("fault fired at %v, before configuration 0 ended (%v) + 10ms", at, ended)
			}
			if want := "spec=GEN_0:" + strconv.Itoa(rank) + ":4:10ms@1 "; !strings.Contains(faulted.stderr.String(), want) {
				t.Errorf("stderr lacks %q:\n%s", want, faulted.stderr)
			}
			cancel()
			for _, r := range ranks {
				r.wait(t, testDeadline)
			}
		})
	}
}

// TestFaultInLaterConfigStack runs a whole stack of two configurations with a fault of configuration
// 1: configuration 0 completes (its status file), the faulted rank moves on to configuration 1 and
// ends there with the fault's code, and the benchmark does not announce configuration 1 before the
// fault has fired.
func TestFaultInLaterConfigStack(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	args := []string{"--wait-timeout", "10s", "--work", "1ms", "--server-configs", "2", "--fail", "GEN_0:1:3:50ms@1"}
	env := stackEnv(dir, 1, 1)
	gen := []*running{start(ctx, "GEN_0 rank 0", env("GEN_0", 0), args...), start(ctx, "GEN_0 rank 1", env("GEN_0", 1), args...)}
	servers := append(gen, start(ctx, "CTX_0 rank 0", env("CTX_0", 0), args...), start(ctx, roleServer, env(roleServer, 0), args...))
	bench := start(ctx, roleBenchmark, env(roleBenchmark, 0), append(args, "--requests", "10", "--concurrency", "2")...)

	faulted := gen[1]
	if code := faulted.wait(t, testDeadline); code != 3 {
		t.Errorf("GEN_0 rank 1: exit code = %d, want 3; stderr:\n%s", code, faulted.stderr)
	}
	if want := "stopped serving configuration 0; starting configuration 1"; !strings.Contains(faulted.stdout.String(), want) {
		t.Errorf("GEN_0 rank 1 did not reach configuration 1 before its fault; stdout:\n%s", faulted.stdout)
	}
	if !fileExists(statusFile(dir, 0)) {
		t.Error("no benchmark_status.0.txt: configuration 0 did not complete")
	}
	// The benchmark holds configuration 1 open once the fault has fired, until it is stopped.
	if fileExists(statusFile(dir, 1)) {
		t.Error("benchmark_status.1.txt written although the benchmark was waiting to be stopped")
	}
	cancel()
	if code := bench.wait(t, testDeadline); code != ExitTerminated {
		t.Errorf("benchmark exit code = %d, want %d; stderr:\n%s", code, ExitTerminated, bench.stderr)
	}
	for _, s := range servers {
		s.wait(t, testDeadline)
	}
}

// TestBenchmarkFaultInEarlierConfig checks a benchmark fault without a delay in configuration 0 of 2:
// it fires at the end of that configuration, once it is measured and announced, and the benchmark
// measures nothing more.
func TestBenchmarkFaultInEarlierConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	args := []string{"--wait-timeout", "5s", "--work", "1ms", "--server-configs", "2", "--fail", "BENCHMARK::7@0"}
	gens, server := startGenOnly(ctx, dir, 1, args...)
	bench := start(ctx, roleBenchmark, stackEnv(dir, 1, 0)(roleBenchmark, 0), append(args, "--requests", "10")...)
	if code := bench.wait(t, testDeadline); code != 7 {
		t.Errorf("benchmark exit code = %d, want 7; stderr:\n%s", code, bench.stderr)
	}
	if !fileExists(filepath.Join(dir, resultsFileName)) || !fileExists(statusFile(dir, 0)) {
		t.Error("the fault fired before configuration 0 was measured and announced")
	}
	if strings.Contains(bench.stdout.String(), "server_config=1") || fileExists(statusFile(dir, 1)) {
		t.Errorf("the benchmark went on to configuration 1 after its fault:\n%s", bench.stdout)
	}
	cancel()
	for _, r := range append(gens, server) {
		r.wait(t, testDeadline)
	}
}

// TestParseFailSpecConfig checks that the launcher's view of a spec carries the configuration.
func TestParseFailSpecConfig(t *testing.T) {
	t.Parallel()
	got, err := ParseFailSpec("GEN_0:1:3:1s@1,DISAGG_SERVER:0:noworkers:1s,BENCHMARK::7@2")
	if err != nil {
		t.Fatal(err)
	}
	want := []FaultTarget{{Role: "GEN_0", Rank: 1, Config: 1}, {Role: "DISAGG_SERVER"}, {Role: "BENCHMARK", Config: 2}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseFailSpec (-want +got):\n%s", diff)
	}
}
