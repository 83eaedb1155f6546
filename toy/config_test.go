package toy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseConfig(t *testing.T) {
	t.Parallel()
	base := fakeEnv{envJobID: "7", envOutputDir: "/out", envNodeName: "n3"}
	tests := []struct {
		name string
		args []string
		env  fakeEnv
		want config
	}{
		{
			name: "defaults",
			env:  base.with(envServingType, "GEN_0"),
			want: config{role: "GEN_0", node: "n3", jobID: "7", attempt: "7", outputDir: "/out", workspace: "/out",
				requests: 200, concurrency: 8, work: 2 * time.Millisecond, waitTimeout: 60 * time.Second, doneTimeout: 120 * time.Second, serverConfigs: 1},
		},
		{
			name: "everything set",
			args: []string{"--requests", "5", "-concurrency=2", "--work", "0s", "--wait-timeout", "3s",
				"--fail", "CTX_1:4:kill:1s", "--ignore-term", "CTX_1"},
			env: base.with(envServingType, "CTX_1", envProcID, "4", envWorkspace, "/ws", envCUDA, "2,3"),
			want: config{role: "CTX_1", rank: 4, node: "n3", jobID: "7", attempt: "7", outputDir: "/out", workspace: "/ws",
				cuda: "2,3", requests: 5, concurrency: 2, waitTimeout: 3 * time.Second, doneTimeout: 120 * time.Second, serverConfigs: 1,
				faults:     []fault{{Role: "CTX_1", Rank: 4, Code: 137, Kill: true, Delay: time.Second, DelaySet: true}},
				fault:      &fault{Role: "CTX_1", Rank: 4, Code: 137, Kill: true, Delay: time.Second, DelaySet: true},
				ignoreTerm: true},
		},
		{
			name: "job id from the run token when SLURM_* is unset",
			env:  fakeEnv{envServingType: roleBenchmark, envOutputDir: "/out", envRunToken: "350283.1.t5", envNodeName: "n3", envNumGen: "2"},
			want: config{role: roleBenchmark, node: "n3", jobID: "350283", attempt: "350283.1.t5", outputDir: "/out", workspace: "/out",
				numGen: 2, requests: 200, concurrency: 8, work: 2 * time.Millisecond, waitTimeout: 60 * time.Second, doneTimeout: 120 * time.Second, serverConfigs: 1},
		},
		{
			name: "SLURM_JOB_ID wins over the run token",
			env:  base.with(envServingType, "GEN_0", envRunToken, "1.0.x"),
			want: config{role: "GEN_0", node: "n3", jobID: "7", attempt: "1.0.x", outputDir: "/out", workspace: "/out",
				requests: 200, concurrency: 8, work: 2 * time.Millisecond, waitTimeout: 60 * time.Second, doneTimeout: 120 * time.Second, serverConfigs: 1},
		},
		{
			name: "server counts",
			env:  base.with(envServingType, roleServer, envNumGen, "2", envNumCtx, "3"),
			want: config{role: roleServer, node: "n3", jobID: "7", attempt: "7", outputDir: "/out", workspace: "/out",
				numGen: 2, numCtx: 3, requests: 200, concurrency: 8, work: 2 * time.Millisecond, waitTimeout: 60 * time.Second, doneTimeout: 120 * time.Second, serverConfigs: 1},
		},
		{
			name: "gen-only drops CTX servers",
			env:  base.with(envServingType, roleServer, envNumGen, "2", envNumCtx, "3", envGenOnly, "1"),
			want: config{role: roleServer, node: "n3", jobID: "7", attempt: "7", outputDir: "/out", workspace: "/out",
				numGen: 2, genOnly: true, requests: 200, concurrency: 8, work: 2 * time.Millisecond, waitTimeout: 60 * time.Second, doneTimeout: 120 * time.Second, serverConfigs: 1},
		},
		{
			name: "env faults and ignore-term for other roles and ranks",
			env: base.with(envServingType, "GEN_1", envProcID, "0",
				envFail, "GEN_1:1:3,CTX_0", envIgnoreTerm, "CTX_0"),
			want: config{role: "GEN_1", node: "n3", jobID: "7", attempt: "7", outputDir: "/out", workspace: "/out",
				requests: 200, concurrency: 8, work: 2 * time.Millisecond, waitTimeout: 60 * time.Second, doneTimeout: 120 * time.Second, serverConfigs: 1,
				faults: []fault{{Role: "GEN_1", Rank: 1, Code: 3, Delay: time.Second}, {Role: "CTX_0", Code: 1, Delay: time.Second}}},
		},
		{
			name: "protocol flags",
			args: []string{"--server-configs", "3", "--done-timeout", "5s"},
			env:  base.with(envServingType, roleBenchmark, envNumGen, "4"),
			want: config{role: roleBenchmark, node: "n3", jobID: "7", attempt: "7", outputDir: "/out", workspace: "/out",
				numGen: 4, requests: 200, concurrency: 8, work: 2 * time.Millisecond, waitTimeout: 60 * time.Second,
				doneTimeout: 5 * time.Second, serverConfigs: 3},
		},
		{
			// The benchmark needs no server counts when it waits for no .done files.
			name: "until stopped from the environment",
			env:  base.with(envServingType, roleBenchmark, envUntilStopped, "1"),
			want: config{role: roleBenchmark, node: "n3", jobID: "7", attempt: "7", outputDir: "/out", workspace: "/out",
				requests: 200, concurrency: 8, work: 2 * time.Millisecond, waitTimeout: 60 * time.Second,
				doneTimeout: 120 * time.Second, serverConfigs: 1, untilStopped: true},
		},
		{
			name: "until-stopped flag wins over the environment",
			args: []string{"--until-stopped=false"},
			env:  base.with(envServingType, "GEN_0", envUntilStopped, "1"),
			want: config{role: "GEN_0", node: "n3", jobID: "7", attempt: "7", outputDir: "/out", workspace: "/out",
				requests: 200, concurrency: 8, work: 2 * time.Millisecond, waitTimeout: 60 * time.Second,
				doneTimeout: 120 * time.Second, serverConfigs: 1},
		},
		{
			name: "benchmark rank 1 needs no numGenServers",
			env:  base.with(envServingType, roleBenchmark, envProcID, "1"),
			want: config{role: roleBenchmark, rank: 1, node: "n3", jobID: "7", attempt: "7", outputDir: "/out", workspace: "/out",
				requests: 200, concurrency: 8, work: 2 * time.Millisecond, waitTimeout: 60 * time.Second,
				doneTimeout: 120 * time.Second, serverConfigs: 1},
		},
		{
			name: "flags win over env, even when empty",
			args: []string{"--fail=", "--ignore-term="},
			env:  base.with(envServingType, "GEN_0", envFail, "GEN_0", envIgnoreTerm, "GEN_0"),
			want: config{role: "GEN_0", node: "n3", jobID: "7", attempt: "7", outputDir: "/out", workspace: "/out",
				requests: 200, concurrency: 8, work: 2 * time.Millisecond, waitTimeout: 60 * time.Second, doneTimeout: 120 * time.Second, serverConfigs: 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseConfig(tc.args, tc.env.get, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(&tc.want, got, cmp.AllowUnexported(config{})); diff != "" {
				t.Errorf("parseConfig (-want +got):\n%s", diff)
			}
		})
	}
}

func TestJobFromRunToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		token, want string
		wantErr     bool
	}{
		{token: "350283.0.t350283", want: "350283"},
		{token: "12.3.4567", want: "12"},
		{token: "my.job.0.99", want: "my.job"},
		{token: "12.x.4567", wantErr: true},
		{token: "12.4567", wantErr: true},
		{token: "12", wantErr: true},
		{token: ".0.1", wantErr: true},
	}
	for _, tc := range tests {
		got, err := jobFromRunToken(tc.token)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("jobFromRunToken(%q) = %q, %v; want %q, error %v", tc.token, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestParseConfigNodeFallback(t *testing.T) {
	t.Parallel()
	host, err := os.Hostname()
	if err != nil {
		t.Skip(err)
	}
	env := fakeEnv{envServingType: "GEN_0", envJobID: "7", envOutputDir: "/out"}
	got, err := parseConfig(nil, env.get, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got.node != host {
		t.Errorf("node = %q, want the host name %q", got.node, host)
	}
}

// TestUsageErrors checks that every wrong flag or variable makes Main return 2 with one line that
// names it, before printing anything else.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	good := fakeEnv{envServingType: "GEN_0", envJobID: "7", envOutputDir: t.TempDir()}
	tests := []struct {
		name string
		args []string
		env  fakeEnv
		want string
	}{
		{name: "unknown flag", args: []string{"--bogus"}, env: good, want: "-bogus"},
		{name: "bad int", args: []string{"--requests", "many"}, env: good, want: "-requests"},
		{name: "zero requests", args: []string{"--requests", "0"}, env: good, want: "-requests 0"},
		{name: "zero concurrency", args: []string{"--concurrency=0"}, env: good, want: "-concurrency 0"},
		{name: "bad duration", args: []string{"--work", "fast"}, env: good, want: "-work"},
		{name: "negative work", args: []string{"--work", "-1ms"}, env: good, want: "-work -1ms"},
		{name: "zero wait", args: []string{"--wait-timeout", "0s"}, env: good, want: "-wait-timeout"},
		{name: "positional", args: []string{"GEN_0"}, env: good, want: `unexpected argument "GEN_0"`},
		{name: "bad fail flag", args: []string{"--fail", "GEN_0:x"}, env: good, want: `-fail "GEN_0:x"`},
		{name: "bad TOY_FAIL", env: good.with(envFail, "NOPE"), want: `TOY_FAIL "NOPE"`},
		{name: "bad ignore-term", args: []string{"--ignore-term", "GEN"}, env: good, want: `-ignore-term: unknown role "GEN"`},
		{name: "bad TOY_IGNORE_TERM", env: good.with(envIgnoreTerm, "x"), want: "TOY_IGNORE_TERM"},
		{name: "no role", env: good.with(envServingType, ""), want: "DISAGG_SERVING_TYPE is not set"},
		{name: "unknown role", env: good.with(envServingType, "ROUTER"), want: `DISAGG_SERVING_TYPE: unknown role "ROUTER"`},
		{name: "bad role index", env: good.with(envServingType, "CTX_"), want: `DISAGG_SERVING_TYPE: role "CTX_"`},
		{name: "bad rank", env: good.with(envProcID, "one"), want: `SLURM_PROCID="one"`},
		{name: "no job id", env: good.with(envJobID, ""), want: "neither SLURM_JOB_ID nor TRTLLM_PERF_RUN_TOKEN is set"},
		{name: "bad run token", env: good.with(envJobID, "", envRunToken, "4242"), want: `TRTLLM_PERF_RUN_TOKEN="4242": not a run token`},
		{name: "no output dir", env: good.with(envOutputDir, ""), want: "testOutputDir is not set"},
		{name: "server without numGenServers", env: good.with(envServingType, roleServer), want: "numGenServers is not set"},
		{name: "server with zero GEN", env: good.with(envServingType, roleServer, envNumGen, "0"), want: `numGenServers="0"`},
		{name: "server with bad numCtxServers", env: good.with(envServingType, roleServer, envNumGen, "1", envNumCtx, "-1"), want: `numCtxServers="-1"`},
		{name: "benchmark without numGenServers", env: good.with(envServingType, roleBenchmark), want: "numGenServers is not set: BENCHMARK needs to know which gen_server_<i>.done files to wait for"},
		{name: "benchmark with zero GEN", env: good.with(envServingType, roleBenchmark, envNumGen, "0"), want: `numGenServers="0"`},
		{name: "zero done timeout", args: []string{"--done-timeout", "0s"}, env: good, want: "-done-timeout 0s"},
		{name: "zero server configs", args: []string{"--server-configs", "0"}, env: good, want: "-server-configs 0"},
		{name: "bad TOY_UNTIL_STOPPED", env: good.with(envUntilStopped, "yes"), want: `TOY_UNTIL_STOPPED="yes": want 1 or 0`},
		{name: "server configs until stopped", args: []string{"--server-configs", "2", "--until-stopped"}, env: good, want: "-server-configs 2: needs the end-of-benchmark protocol"},
		{name: "fault in a configuration the job does not run", args: []string{"--server-configs", "2", "--fail", "GEN_0:1:3:1s@2"}, env: good,
			want: `-fail "GEN_0:1:3:1s@2": GEN_0:1:3:1s@2 fires in configuration 2, but the job runs 2 (-server-configs)`},
		{name: "TOY_FAIL in a later configuration of one", env: good.with(envFail, "CTX_0@1"), want: `TOY_FAIL "CTX_0@1": CTX_0:0:1@1 fires in configuration 1, but the job runs 1`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := Main(context.Background(), tc.args, tc.env.get, &stdout, &stderr)
			if code != ExitUsage {
				t.Errorf("exit code = %d, want %d", code, ExitUsage)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
			lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "toy: ") || !strings.Contains(lines[0], tc.want) {
				t.Errorf("stderr = %q, want one line containing %q", stderr.String(), tc.want)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if code := Main(context.Background(), []string{"-h"}, fakeEnv{}.get, &stdout, &stderr); code != ExitOK {
		t.Errorf("exit code = %d, want %d", code, ExitOK)
	}
	for _, want := range []string{"-requests", "-concurrency", "-work", "-wait-timeout", "-fail", "-ignore-term",
		"-done-timeout", "-server-configs", "-until-stopped"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("usage lacks %s:\n%s", want, stdout.String())
		}
	}
}

// TestCancel checks that every kind of rank, whatever it is doing, stops promptly with 143 when its
// context is cancelled.
func TestCancel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		role  string
		rank  int
		env   fakeEnv
		ready func(dir string, r *running) bool
	}{
		{name: "serving worker", role: "GEN_0", ready: func(dir string, _ *running) bool { return fileExists(addressFile(dir, "GEN_0")) }},
		{name: "CTX worker", role: "CTX_3", ready: func(dir string, _ *running) bool { return fileExists(addressFile(dir, "CTX_3")) }},
		{name: "worker rank 2", role: "GEN_0", rank: 2},
		{name: "router waiting for workers", role: roleServer, env: fakeEnv{envNumGen: "1"}},
		{name: "benchmark waiting for router", role: roleBenchmark, env: fakeEnv{envNumGen: "1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			env := roleEnv(dir, tc.role, tc.rank)
			for k, v := range tc.env {
				env[k] = v
			}
			ctx, cancel := context.WithCancel(context.Background())
			r := start(ctx, tc.name, env, "--wait-timeout", "10s")
			ready := tc.ready
			if ready == nil {
				ready = func(string, *running) bool { return strings.Contains(r.stdout.String(), "toy: role=") }
			}
			eventually(t, testDeadline, tc.name+" to be up", func() bool { return ready(dir, r) })
			cancel()
			if code := r.wait(t, testDeadline); code != ExitTerminated {
				t.Errorf("exit code = %d, want %d; stderr:\n%s", code, ExitTerminated, r.stderr)
			}
			if tc.role == roleBenchmark && fileExists(statusFile(dir, 0)) {
				t.Error("a stopped benchmark wrote a status file; it has no verdict")
			}
		})
	}
}

func TestErrUsageWrapped(t *testing.T) {
	t.Parallel()
	_, err := parseConfig([]string{"--nope"}, fakeEnv{}.get, io.Discard)
	if !errors.Is(err, errUsage) {
		t.Errorf("error %v does not wrap errUsage", err)
	}
}
