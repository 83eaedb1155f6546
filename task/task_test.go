package task

import (
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
	"github.com/disagg-supervisor/disagg-supervisor/taskopts"
)

// mainEnv makes the test binary act as the task binary: TestMain hands the arguments to Main, so the
// end-to-end tests exercise flag parsing, signals and the real syscall.Exec.
const mainEnv = "DISAGG_TASK_TEST_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(mainEnv) == "1" {
		os.Exit(Main(os.Args[1:]))
	}
	// Installers, waiters and output copiers are goroutines and child processes; none may outlive
	// its task.
	goleak.VerifyTestMain(m)
}

func TestParseArgs(t *testing.T) {
	defaults := Options{
		InstallTimeout: 30 * time.Minute,
		Barrier:        true,
		BarrierTimeout: time.Hour,
		AfterTimeout:   5 * time.Minute,
		UnsetSlurm:     "auto",
		EnvDump:        true,
		LLMSrcSetup:    true,
		LDLibraryPath:  true,
		CommandVar:     "pytestCommand",
		NodeHeartbeat:  10 * time.Second,
	}
	tests := []struct {
		name    string
		args    []string
		want    func(o *Options)
		wantErr string
	}{
		{name: "defaults", args: nil, want: func(*Options) {}},
		{
			name: "all flags",
			args: []string{
				"--role=CTX_1", "--kind", "ctx", "--coord-dir=/shared/coord/42.0.7",
				"--install-command", "pip install -e .", "--install-timeout=5m",
				"--barrier", "--barrier-timeout=90s", "--unset-slurm=always",
				"--env-dump=false", "--llmsrc-setup=false", "--ld-library-path=false",
				"--command-var=pytestCommandWorker", "--node-heartbeat=500ms",
			},
			want: func(o *Options) {
				*o = Options{
					Role: "CTX_1", Kind: "ctx", CoordDir: "/shared/coord/42.0.7",
					InstallCommand: "pip install -e .", InstallTimeout: 5 * time.Minute,
					Barrier: true, BarrierTimeout: 90 * time.Second, UnsetSlurm: "always",
					AfterTimeout: 5 * time.Minute, CommandVar: "pytestCommandWorker",
					NodeHeartbeat: 500 * time.Millisecond,
				}
			},
		},
		{name: "bad kind", args: []string{"--kind=worker"}, wantErr: "-kind"},
		{name: "bad unset mode", args: []string{"--unset-slurm=sometimes"}, wantErr: "-unset-slurm"},
		{name: "bad duration", args: []string{"--install-timeout=soon"}, wantErr: "-install-timeout"},
		{name: "zero timeout", args: []string{"--barrier-timeout=0s"}, wantErr: "-barrier-timeout"},
		{name: "negative timeout", args: []string{"--install-timeout=-1m"}, wantErr: "-install-timeout"},
		{name: "negative heartbeat", args: []string{"--node-heartbeat=-1s"}, wantErr: "-node-heartbeat"},
		{name: "unknown flag", args: []string{"--retries=3"}, wantErr: "-retries"},
		{name: "empty command var", args: []string{"--command-var="}, wantErr: "--command-var"},
		{name: "positional argument", args: []string{"--role=GEN_0", "pytest"}, wantErr: `unexpected argument "pytest"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseArgs(tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseArgs(%q) error = %v, want one naming %q", tt.args, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseArgs(%q): %v", tt.args, err)
			}
			want := defaults
			tt.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("ParseArgs(%q) mismatch (-want +got):\n%s", tt.args, diff)
			}
		})
	}
	if _, err := ParseArgs([]string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("ParseArgs(-h) = %v, want flag.ErrHelp", err)
	}
}

func TestIdentityAndStartMarker(t *testing.T) {
	tests := []struct {
		name   string
		opts   func(o *Options)
		env    []string
		code   int
		stderr []string // substrings
		marker string   // path under the coordination directory; "" when none must be written
	}{
		{
			name:   "from slurm",
			env:    slurmEnv(3, 1, 8, "node2"),
			stderr: []string{"task: role=GEN_0 kind=gen rank=3 localid=1 ntasks=8 node=node2 pid=", " job=42 step=3 coord="},
			marker: "started/GEN_0/3",
		},
		{
			name:   "step task count wins over the job's",
			env:    slurmEnv(5, 1, 2, "node2", "SLURM_STEP_NUM_TASKS=8"),
			stderr: []string{"rank=5 localid=1 ntasks=8 node=node2"},
			marker: "started/GEN_0/5",
		},
		{
			name:   "node from host name",
			env:    []string{"SLURM_PROCID=0", "SLURM_LOCALID=0", "SLURM_NTASKS=1", "pytestCommand=true", "PATH=" + testPath},
			stderr: []string{"node=testhost", "(node from host name)"},
			marker: "started/GEN_0/0",
		},
		{
			name:   "outside slurm",
			env:    []string{"pytestCommand=true", "PATH=" + testPath},
			stderr: []string{"rank=0 localid=0 ntasks=1", "SLURM_PROCID unset, assumed 0", "SLURM_NTASKS unset, assumed 1"},
			marker: "started/GEN_0/0",
		},
		{
			name:   "role and kind from DISAGG_SERVING_TYPE",
			opts:   func(o *Options) { o.Role = "" },
			env:    slurmEnv(0, 0, 1, "node4", "DISAGG_SERVING_TYPE=DISAGG_SERVER"),
			stderr: []string{"task: role=DISAGG_SERVER kind=server rank=0"},
			marker: "started/DISAGG_SERVER/0",
		},
		{
			name:   "no role",
			opts:   func(o *Options) { o.Role = "" },
			env:    slurmEnv(0, 0, 1, "node1"),
			code:   exitUsage,
			stderr: []string{"task: error: no role: set --role or DISAGG_SERVING_TYPE"},
		},
		{
			name:   "role disagrees with the environment",
			env:    slurmEnv(0, 0, 1, "node1", "DISAGG_SERVING_TYPE=CTX_0"),
			code:   exitUsage,
			stderr: []string{"--role GEN_0 disagrees with DISAGG_SERVING_TYPE=CTX_0"},
		},
		{
			name:   "unknown role needs a kind",
			opts:   func(o *Options) { o.Role = "ROUTER" },
			env:    slurmEnv(0, 0, 1, "node1"),
			code:   exitUsage,
			stderr: []string{"role ROUTER: --kind is required"},
		},
		{
			name:   "bad rank",
			env:    slurmEnv(0, 0, 4, "node1", "SLURM_PROCID=x"),
			code:   exitUsage,
			stderr: []string{`role GEN_0: SLURM_PROCID="x" is not a non-negative integer`},
		},
		{
			name:   "rank beyond the step",
			env:    slurmEnv(4, 0, 4, "node1"),
			code:   exitUsage,
			stderr: []string{"SLURM_PROCID=4 is not below SLURM_NTASKS=4"},
		},
		{
			name:   "no coordination directory",
			opts:   func(o *Options) { o.CoordDir = "" },
			env:    slurmEnv(0, 0, 1, "node1"),
			code:   exitUsage,
			stderr: []string{"role GEN_0: --coord-dir is required"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cdir := t.TempDir()
			opts := baseOpts(cdir)
			if tt.opts != nil {
				tt.opts(&opts)
			}
			res := runTask(t.Context(), opts, tt.env)
			if res.code != tt.code {
				t.Fatalf("code = %d, want %d; stderr:\n%s", res.code, tt.code, res.stderr)
			}
			for _, s := range tt.stderr {
				if !strings.Contains(res.stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, res.stderr)
				}
			}
			if tt.marker == "" {
				if entries, _ := os.ReadDir(filepath.Dir(coord.Dir(cdir).StartedDir("GEN_0"))); len(entries) > 0 {
					t.Errorf("a task that failed its configuration wrote start markers")
				}
				return
			}
			marker := readFile(t, filepath.Join(cdir, tt.marker))
			if !strings.Contains(marker, "pid="+strconv.Itoa(os.Getpid())) {
				t.Errorf("start marker %q does not name the task", marker)
			}
			if tmp := tempFiles(t, cdir); len(tmp) > 0 {
				t.Errorf("temporary files left: %v", tmp)
			}
		})
	}
}

func TestRoleIsExportedToTheCommand(t *testing.T) {
	res := runTask(t.Context(), baseOpts(t.TempDir()), slurmEnv(0, 0, 1, "node1"))
	if v, _ := res.envValue("DISAGG_SERVING_TYPE"); v != "GEN_0" {
		t.Errorf("DISAGG_SERVING_TYPE = %q, want GEN_0 (the command reads its role from it)", v)
	}
}

func TestExecCommand(t *testing.T) {
	bash, err := lookPath("bash", newEnviron([]string{"PATH=" + testPath}))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		commandVar string
		env        []string
		execErr    error
		code       int
		argv       []string
		stderr     string
	}{
		{
			name: "default variable",
			env:  slurmEnv(0, 0, 1, "node1"),
			argv: []string{"bash", "-c", "pytest perf/test_perf_sanity.py::test_e2e -vv"},
		},
		{
			name:       "worker variable",
			commandVar: "pytestCommandWorker",
			env:        slurmEnv(0, 0, 1, "node1", "pytestCommandWorker=unset UCX_TLS && $pytestCommand"),
			argv:       []string{"bash", "-c", "unset UCX_TLS && $pytestCommand"},
		},
		{
			name:   "empty",
			env:    slurmEnv(0, 0, 1, "node1", "pytestCommand="),
			code:   exitUsage,
			stderr: "task: error: role GEN_0 rank 0 on node1: $pytestCommand is empty\n",
		},
		{
			name:   "blank",
			env:    slurmEnv(0, 0, 1, "node1", "pytestCommand=  "),
			code:   exitUsage,
			stderr: "task: error: role GEN_0 rank 0 on node1: $pytestCommand is empty\n",
		},
		{
			name:       "unset",
			commandVar: "pytestCommandBenchmark",
			env:        slurmEnv(0, 0, 1, "node1"),
			code:       exitUsage,
			stderr:     "task: error: role GEN_0 rank 0 on node1: $pytestCommandBenchmark is empty\n",
		},
		{
			name:    "start fails",
			env:     slurmEnv(0, 0, 1, "node1"),
			execErr: syscall.ENOEXEC,
			code:    127,
			argv:    []string{"bash", "-c", "pytest perf/test_perf_sanity.py::test_e2e -vv"},
			stderr:  "task: error: role GEN_0 rank 0 on node1: start " + bash + ": exec format error\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := baseOpts(t.TempDir())
			opts.CommandVar = tt.commandVar
			res := runTaskWith(t.Context(), opts, tt.env, testSeams(), tt.execErr, &lockedBuffer{})
			if res.code != tt.code {
				t.Fatalf("code = %d, want %d; stderr:\n%s", res.code, tt.code, res.stderr)
			}
			if tt.stderr != "" && !strings.HasSuffix(res.stderr, tt.stderr) {
				t.Errorf("stderr ends\n%s\nwant it to end\n%s", res.stderr, tt.stderr)
			}
			if tt.argv == nil {
				if res.exec != nil {
					t.Errorf("exec called with %q", res.exec.argv)
				}
				return
			}
			if res.exec == nil {
				t.Fatalf("exec not called; stderr:\n%s", res.stderr)
			}
			if res.exec.argv0 != bash {
				t.Errorf("argv0 = %q, want %q", res.exec.argv0, bash)
			}
			if diff := cmp.Diff(tt.argv, res.exec.argv); diff != "" {
				t.Errorf("argv mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInterruptedBeforeExec(t *testing.T) {
	ctx, cancel := context.WithCancelCause(t.Context())
	cancel(signalError{syscall.SIGTERM})
	res := runTask(ctx, baseOpts(t.TempDir()), slurmEnv(0, 0, 1, "node1"))
	if res.code != 143 || res.exec != nil {
		t.Fatalf("code = %d, exec = %v; want 143 and no exec; stderr:\n%s", res.code, res.exec, res.stderr)
	}
	if !strings.Contains(res.stderr, "interrupted before starting the role command: received signal terminated") {
		t.Errorf("stderr:\n%s", res.stderr)
	}
}

// mainProcess prepares the test binary to run Main with args in env.
func mainProcess(t *testing.T, args []string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append([]string{mainEnv + "=1", "PATH=" + testPath}, env...)
	return cmd
}

// TestMainRunsTheCommand proves the real path: Main runs bash as its child in its own process group
// (the task leads its group, as srun makes it), so the command's parent is the task and its process
// group the task's; it starts in the prepared directory, and its exit code is the task's.
func TestMainRunsTheCommand(t *testing.T) {
	cdir := t.TempDir()
	src := t.TempDir()
	defs := filepath.Join(src, testDefsPath)
	if err := os.MkdirAll(defs, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := mainProcess(t,
		[]string{"--role=BENCHMARK", "--coord-dir=" + cdir, "--install-command=echo installing", "--ld-library-path=false"},
		"SLURM_PROCID=0", "SLURM_NTASKS=1", "SLURMD_NODENAME=node1", "SLURM_JOB_NUM_NODES=2",
		"llmSrcNode="+src, "HF_TOKEN=abc123secret",
		`pytestCommand=read -r _ _ _ _ pgrp _ < /proc/$$/stat; echo "ppid=$PPID pgrp=$pgrp pwd=$(pwd) procid=${SLURM_PROCID-} node=${SLURMD_NODENAME-unset}"; exit 7`,
	)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stdout, stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 7 {
		t.Fatalf("exit = %v, want exit code 7; stderr:\n%s", err, stderr.String())
	}
	pid := strconv.Itoa(cmd.Process.Pid)
	want := "ppid=" + pid + " pgrp=" + pid + " pwd=" + defs + " procid=0 node=unset\n"
	if !strings.HasSuffix(stdout.String(), want) {
		t.Errorf("stdout ends\n%s\nwant it to end %q", stdout.String(), want)
	}
	for _, s := range []string{"installing\n", "task: environment begin\n", "HF_TOKEN=<redacted>\n"} {
		if !strings.Contains(stdout.String(), s) {
			t.Errorf("stdout lacks %q:\n%s", s, stdout.String())
		}
	}
	if strings.Contains(stdout.String()+stderr.String(), "abc123secret") {
		t.Errorf("the secret was printed")
	}
	if !exists(coord.Dir(cdir).Install("node1").OK) || !exists(coord.Dir(cdir).Started("BENCHMARK", 0)) {
		t.Errorf("coordination files missing under %s", cdir)
	}
}

// TestMainUsageErrors: a bad option ends the task with 81 and one line starting "task: error:" (the
// prefix by which logscan and the root cause find the runner's own failures), and nothing on stdout.
func TestMainUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"--kind=router"}, {"--no-such-flag"}, {"--install-timeout=0s"}} {
		stdout, stderr, code := runMain(t, args)
		want := map[string]string{
			"--kind=router":        `task: error: invalid value "router" for flag -kind: must be one of gen, ctx, server, benchmark, aggregated` + "\n",
			"--no-such-flag":       "task: error: flag provided but not defined: -no-such-flag\n",
			"--install-timeout=0s": `task: error: invalid value "0s" for flag -install-timeout: want a positive duration, got 0s` + "\n",
		}[args[0]]
		if code != exitUsage || stderr != want || stdout != "" {
			t.Errorf("Main(%q) = %d, stdout %q, stderr %q; want %d, nothing and %q", args, code, stdout, stderr, exitUsage, want)
		}
	}
}

// TestMainHelp: -h and --help print the task's help on stdout, in the form of every command's, with
// every flag and its default, and end with 0.
func TestMainHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help"} {
		stdout, stderr, code := runMain(t, []string{"--role=GEN_0", arg})
		if code != 0 || stderr != "" {
			t.Errorf("Main(%s) = %d, stderr %q; want 0 and nothing", arg, code, stderr)
		}
		for _, want := range []string{
			"Usage: disagg-supervisor task [flags]\n",
			"\n  -h, --help ",
			"\n      --role=ROLE ",
			"\n      --install-timeout=30m0s ",
			"\n      --barrier ",
			"\n      --unset-slurm=\"auto\" ",
			"\n      --node-heartbeat=10s ",
			`"task: error:"`,
		} {
			if !strings.Contains(stdout, want) {
				t.Errorf("Main(%s) help lacks %q:\n%s", arg, want, stdout)
			}
		}
		for _, h := range taskopts.Help() {
			if !strings.Contains(stdout, "\n      --"+h.Name) {
				t.Errorf("Main(%s) help lacks --%s:\n%s", arg, h.Name, stdout)
			}
		}
	}
}

// runMain runs Main in a process of its own with args and returns its stdout, stderr and exit code.
func runMain(t *testing.T, args []string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := mainProcess(t, args)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

// TestMainSignalDuringInstall: srun stops a step with SIGTERM. An installer that gets it must stop its
// install and publish the failure, so tasks of other steps on the node do not wait for it in vain.
func TestMainSignalDuringInstall(t *testing.T) {
	cdir := t.TempDir()
	began := filepath.Join(t.TempDir(), "began")
	cmd := mainProcess(t,
		[]string{"--role=GEN_0", "--coord-dir=" + cdir, "--install-command=touch " + began + "; sleep 30; echo not reached", "--env-dump=false", "--ld-library-path=false"},
		"SLURM_PROCID=0", "SLURM_NTASKS=1", "SLURMD_NODENAME=node1", "pytestCommand=true",
	)
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, began)
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 143 {
		t.Fatalf("exit = %v, want 143; stderr:\n%s", err, stderr.String())
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %s to stop after SIGTERM", took)
	}
	if got := coord.ReadExitCode(coord.Dir(cdir).Install("node1").Failed); got != 143 {
		t.Errorf("failed marker = %d, want 143", got)
	}
	if !strings.Contains(stderr.String(), "task: error: role GEN_0 rank 0 on node1: install on node1 failed with exit code 143") ||
		!strings.Contains(stderr.String(), "interrupted during install: received signal terminated") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
}
