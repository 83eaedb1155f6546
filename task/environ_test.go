package task

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/disagg-supervisor/disagg-supervisor/taskopts"
)

func TestUnsetSlurm(t *testing.T) {
	launcherVars := []string{"PMI_RANK=3", "PMIX_NAMESPACE=slurm.pmix.42.3", "MPI_LOCALRANKID=1", "OMPI_COMM_WORLD_RANK=3", "SLURM_STEP_ID=3", "SLURMD_NODENAME=node2"}
	kept := []string{"SLURM_PROCID", "PATH", "UCX_TLS", "CUDA_VISIBLE_DEVICES"}
	tests := []struct {
		name     string
		mode     taskopts.UnsetMode
		role     string
		numNodes string
		unset    bool
		why      string
	}{
		{name: "auto multi-node worker", mode: taskopts.UnsetAuto, role: "GEN_0", numNodes: "2", unset: false, why: "(multi-node gen worker)"},
		{name: "auto single-node worker", mode: taskopts.UnsetAuto, role: "CTX_0", numNodes: "1", unset: true, why: "(single-node job)"},
		{name: "auto server", mode: taskopts.UnsetAuto, role: "DISAGG_SERVER", numNodes: "2", unset: true, why: "(kind server runs outside MPI)"},
		{name: "auto benchmark", mode: taskopts.UnsetAuto, role: "BENCHMARK", numNodes: "4", unset: true, why: "(kind benchmark runs outside MPI)"},
		{name: "always", mode: taskopts.UnsetAlways, role: "GEN_0", numNodes: "2", unset: true, why: "(--unset-slurm=always)"},
		{name: "never", mode: taskopts.UnsetNever, role: "BENCHMARK", numNodes: "1", unset: false, why: "(--unset-slurm=never)"},
		{name: "empty means auto", mode: "", role: "BENCHMARK", numNodes: "2", unset: true, why: "(kind benchmark runs outside MPI)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := baseOpts(t.TempDir())
			opts.Role, opts.UnsetSlurm = tt.role, tt.mode
			env := slurmEnv(3, 1, 4, "node2", append([]string{"SLURM_JOB_NUM_NODES=" + tt.numNodes, "UCX_TLS=rc", "CUDA_VISIBLE_DEVICES=0,1"}, launcherVars...)...)
			res := runTask(t.Context(), opts, env)
			if res.exec == nil {
				t.Fatalf("code %d; stderr:\n%s", res.code, res.stderr)
			}
			for _, kv := range launcherVars {
				name, _, _ := strings.Cut(kv, "=")
				if _, present := res.envValue(name); present == tt.unset {
					t.Errorf("%s present = %v, want %v", name, present, !tt.unset)
				}
			}
			for _, name := range kept {
				if _, present := res.envValue(name); !present {
					t.Errorf("%s was removed", name)
				}
			}
			if v, _ := res.envValue("SLURM_PROCID"); v != "3" {
				t.Errorf("SLURM_PROCID = %q, want 3", v)
			}
			if !strings.Contains(res.stderr, tt.why) {
				t.Errorf("stderr lacks the reason %q:\n%s", tt.why, res.stderr)
			}
		})
	}
}

// hfToken is shaped as a Hugging Face token, which is masked under any name.
var hfToken = "hf_" + strings.Repeat("Tk9", 12)

func TestEnvDump(t *testing.T) {
	env := []string{
		"ZZ_LAST=z", "PATH=" + testPath, "HF_TOKEN=abc123secret", "SLURM_PROCID=0", "SLURM_NTASKS=1",
		"SLURMD_NODENAME=node1", "AWS_SECRET_ACCESS_KEY=xyz", "MULTI=line1\nline2", "pytestCommand=true",
		"TRTLLM_PERF_RUN_TOKEN=42.0.7", "GH_PAT=my-pat-value", "PASSWD=pw-value", "DB_CREDENTIALS=user:creds",
		// A token under a name that says nothing, and a known secret inside another value.
		"MODEL_ACCESS=" + hfToken, "HUB_URL=https://x:abc123secret@hub",
	}
	secrets := []string{"abc123secret", "my-pat-value", "pw-value", "user:creds", hfToken}
	t.Run("on", func(t *testing.T) {
		opts := baseOpts(t.TempDir())
		opts.EnvDump = true
		res := runTask(t.Context(), opts, env)
		if res.exec == nil {
			t.Fatalf("code %d; stderr:\n%s", res.code, res.stderr)
		}
		want := strings.Join([]string{
			"task: environment begin",
			"AWS_SECRET_ACCESS_KEY=<redacted>",
			"DB_CREDENTIALS=<redacted>",
			"DISAGG_SERVING_TYPE=GEN_0",
			"GH_PAT=<redacted>",
			"HF_TOKEN=<redacted>",
			"HUB_URL=https://x:<redacted>@hub",
			"MODEL_ACCESS=<redacted>",
			`MULTI=line1\nline2`,
			"PASSWD=<redacted>",
			"PATH=" + testPath,
			"SLURMD_NODENAME=node1",
			"SLURM_NTASKS=1",
			"SLURM_PROCID=0",
			"TRTLLM_PERF_RUN_TOKEN=42.0.7",
			"ZZ_LAST=z",
			"pytestCommand=true",
			"task: environment end",
		}, "\n") + "\n"
		if diff := cmp.Diff(want, res.stdout); diff != "" {
			t.Errorf("dump mismatch (-want +got):\n%s", diff)
		}
		for _, secret := range secrets {
			if strings.Contains(res.stdout+res.stderr, secret) {
				t.Errorf("the task's output shows %q", secret)
			}
		}
		// Redaction is for the log only; the command still gets its token.
		if v, _ := res.envValue("HF_TOKEN"); v != "abc123secret" {
			t.Errorf("HF_TOKEN given to the command = %q", v)
		}
		if v, _ := res.envValue("MODEL_ACCESS"); v != hfToken {
			t.Errorf("MODEL_ACCESS given to the command = %q", v)
		}
	})
	t.Run("off", func(t *testing.T) {
		res := runTask(t.Context(), baseOpts(t.TempDir()), env)
		if res.exec == nil || res.stdout != "" {
			t.Errorf("code %d, stdout %q; want exec and no dump", res.code, res.stdout)
		}
	})
}

func TestLLMSrcSetup(t *testing.T) {
	for _, enabled := range []bool{true, false} {
		src := t.TempDir()
		launch := filepath.Join(src, llmapiLaunchPath)
		defs := filepath.Join(src, testDefsPath)
		if err := os.MkdirAll(filepath.Dir(launch), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(defs, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(launch, []byte("#!/bin/bash\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		opts := baseOpts(t.TempDir())
		opts.LLMSrcSetup = enabled
		res := runTask(t.Context(), opts, slurmEnv(0, 0, 1, "node1", "llmSrcNode="+src))
		if res.exec == nil {
			t.Fatalf("enabled=%v: code %d; stderr:\n%s", enabled, res.code, res.stderr)
		}
		fi, err := os.Stat(launch)
		if err != nil {
			t.Fatal(err)
		}
		wantMode, wantDir := os.FileMode(0o755), defs
		if !enabled {
			wantMode, wantDir = 0o644, ""
		}
		if fi.Mode().Perm() != wantMode {
			t.Errorf("enabled=%v: launcher mode %v, want %v", enabled, fi.Mode().Perm(), wantMode)
		}
		if res.workdir != wantDir {
			t.Errorf("enabled=%v: workdir %q, want %q", enabled, res.workdir, wantDir)
		}
		if pwd, _ := res.envValue("PWD"); pwd != wantDir {
			t.Errorf("enabled=%v: PWD %q, want %q", enabled, pwd, wantDir)
		}
	}

	t.Run("missing paths are skipped", func(t *testing.T) {
		opts := baseOpts(t.TempDir())
		opts.LLMSrcSetup = true
		res := runTask(t.Context(), opts, slurmEnv(0, 0, 1, "node1", "llmSrcNode="+t.TempDir()))
		if res.exec == nil || res.workdir != "" {
			t.Errorf("code %d, workdir %q; stderr:\n%s", res.code, res.workdir, res.stderr)
		}
	})
}

// TestLDLibraryPath uses a fake python3 that prints a version banner, as tensorrt_llm does on import,
// and records whether it saw Slurm variables.
func TestLDLibraryPath(t *testing.T) {
	bash, err := lookPath("bash", newEnviron([]string{"PATH=" + testPath}))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		script string // fake python3; "" for none
		libs   bool   // create <pkg>/libs
		oldLD  string
		wantLD string // with PKG for the package dir; "" means unset
		stderr string
		noSrc  bool // llmSrcNode unset
	}{
		{
			name:   "not a TensorRT-LLM job",
			script: "echo PKG\n",
			libs:   true,
			oldLD:  "/opt/lib",
			wantLD: "/opt/lib",
			stderr: "task: LD_LIBRARY_PATH unchanged: llmSrcNode is not set, so there is no TensorRT-LLM install to look for\n",
			noSrc:  true,
		},
		{
			name:   "prepends",
			script: "echo '[TensorRT-LLM] TensorRT-LLM version: 1.0'\necho PKG\n",
			libs:   true,
			oldLD:  "/usr/local/cuda/lib64",
			wantLD: "PKG/libs:/usr/local/cuda/lib64",
			stderr: "task: LD_LIBRARY_PATH: prepended PKG/libs\n",
		},
		{
			name:   "sets",
			script: "echo PKG\n",
			libs:   true,
			wantLD: "PKG/libs",
		},
		{
			name:   "import fails",
			script: "echo 'Traceback (most recent call last):' >&2\necho \"ModuleNotFoundError: No module named 'tensorrt_llm'\" >&2\nexit 1\n",
			oldLD:  "/opt/lib",
			wantLD: "/opt/lib",
			stderr: "cannot import tensorrt_llm (exit status 1): ModuleNotFoundError: No module named 'tensorrt_llm'\n",
		},
		{
			name:   "no libs directory",
			script: "echo PKG\n",
			stderr: "task: LD_LIBRARY_PATH unchanged: tensorrt_llm is at \"PKG\" but PKG/libs is not a directory\n",
		},
		{
			name:   "no python3",
			stderr: "task: LD_LIBRARY_PATH unchanged: python3 not found in PATH",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bin, pkg, seen := t.TempDir(), t.TempDir(), filepath.Join(t.TempDir(), "seen")
			if err := os.Symlink(bash, filepath.Join(bin, "bash")); err != nil {
				t.Fatal(err)
			}
			if tt.script != "" {
				script := "#!" + bash + "\necho \"${SLURM_JOB_ID-none}\" > " + seen + "\n" + strings.ReplaceAll(tt.script, "PKG", pkg)
				if err := os.WriteFile(filepath.Join(bin, "python3"), []byte(script), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if tt.libs {
				if err := os.Mkdir(filepath.Join(pkg, "libs"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			env := slurmEnv(0, 0, 1, "node1")
			env[0] = "PATH=" + bin
			if !tt.noSrc {
				env = append(env, "llmSrcNode="+t.TempDir())
			}
			if tt.oldLD != "" {
				env = append(env, "LD_LIBRARY_PATH="+tt.oldLD)
			}
			opts := baseOpts(t.TempDir())
			opts.LDLibraryPath = true
			res := runTask(t.Context(), opts, env)
			if res.exec == nil {
				t.Fatalf("code %d; stderr:\n%s", res.code, res.stderr)
			}
			got, _ := res.envValue("LD_LIBRARY_PATH")
			if want := strings.ReplaceAll(tt.wantLD, "PKG", pkg); got != want {
				t.Errorf("LD_LIBRARY_PATH = %q, want %q", got, want)
			}
			if want := strings.ReplaceAll(tt.stderr, "PKG", pkg); !strings.Contains(res.stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
			}
			if n := strings.Count(res.stderr, "LD_LIBRARY_PATH"); n != 1 {
				t.Errorf("%d LD_LIBRARY_PATH log lines, want 1:\n%s", n, res.stderr)
			}
			if tt.noSrc {
				if _, err := os.Stat(seen); err == nil {
					t.Error("python3 ran although llmSrcNode is unset")
				}
			} else if tt.script != "" {
				if got := readFile(t, seen); got != "none\n" {
					t.Errorf("the probe saw SLURM_JOB_ID=%q; launcher variables must be kept from it", got)
				}
			}
		})
	}
}

func TestNewEnvironFirstWins(t *testing.T) {
	e := newEnviron([]string{"A=1", "B=2", "A=3", "malformed", "=x"})
	if diff := cmp.Diff([]string{"A=1", "B=2"}, e.list()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	e.set("B", "4")
	e.set("C", "5")
	if diff := cmp.Diff([]string{"A=1", "B=4", "C=5"}, e.list()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
