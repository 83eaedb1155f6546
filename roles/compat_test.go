package roles

import (
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/syntax"
)

// generatedPrefix is what today's generator writes for one test; users hand it to the supervisor.
// It is a verbatim copy of the project's shared example, kept here so that the package's tests
// need nothing outside the module.
const generatedPrefix = "testdata/generated-prefix.example.sh"

// prefix is what a generated prefix gives the supervisor: its exported variables and srunArgs.
type prefix struct {
	env      map[string]string
	srunArgs []string
}

// loadPrefix reads the exports and the srunArgs array of a generated prefix, expanding values as
// bash would when the batch script runs with slurm's variables set. The one command substitution
// (GPU ids from nvidia-smi) answers as a 4-GPU node would.
func loadPrefix(t *testing.T, path string, slurm map[string]string) prefix {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := syntax.NewParser().Parse(strings.NewReader(string(data)), path)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for k, v := range slurm {
		vars[k] = v
	}
	cfg := &expand.Config{
		Env: expand.FuncEnviron(func(name string) string { return vars[name] }),
		CmdSubst: func(w io.Writer, cs *syntax.CmdSubst) error {
			var b strings.Builder
			if err := syntax.NewPrinter().Print(&b, cs.Stmts[0]); err != nil {
				return err
			}
			if !strings.HasPrefix(b.String(), "seq -s, 0 ") {
				return fmt.Errorf("unexpected command substitution %q", b.String())
			}
			_, err := io.WriteString(w, "0,1,2,3")
			return err
		},
	}
	p := prefix{env: map[string]string{}}
	for k, v := range slurm {
		p.env[k] = v
	}
	for _, st := range f.Stmts {
		switch cmd := st.Cmd.(type) {
		case *syntax.DeclClause:
			if cmd.Variant.Value != "export" {
				continue
			}
			for _, as := range cmd.Args {
				if as.Name == nil || as.Value == nil {
					continue
				}
				v, err := expand.Literal(cfg, as.Value)
				if err != nil {
					t.Fatalf("export %s: %v", as.Name.Value, err)
				}
				vars[as.Name.Value], p.env[as.Name.Value] = v, v
			}
		case *syntax.CallExpr:
			if len(cmd.Args) != 0 || len(cmd.Assigns) != 1 || cmd.Assigns[0].Name.Value != "srunArgs" {
				continue
			}
			for _, el := range cmd.Assigns[0].Array.Elems {
				v, err := expand.Literal(cfg, el.Value)
				if err != nil {
					t.Fatalf("srunArgs: %v", err)
				}
				p.srunArgs = append(p.srunArgs, v)
			}
		}
	}
	return p
}

// printfQ writes words as `printf '%q\n' "${srunArgs[@]}"` does for the words of the example.
func printfQ(words []string) string {
	var b strings.Builder
	for _, w := range words {
		// The generator's words need no quoting but for commas, which bash's %q escapes.
		b.WriteString(strings.ReplaceAll(w, ",", `\,`))
		b.WriteByte('\n')
	}
	return b.String()
}

// prefixSlurm is the batch step's Slurm environment for the example's 5-node allocation.
var prefixSlurm = map[string]string{
	"SLURM_JOB_ID":        "90210",
	"SLURM_JOB_NODELIST":  "gb200-[0101-0105]",
	"SLURM_JOB_NUM_NODES": "5",
	"SLURM_NODELIST":      "gb200-[0101-0105]",
	// What sbatch sets for the example's --ntasks=20 --ntasks-per-node=4.
	"SLURM_NTASKS":          "20",
	"SLURM_NTASKS_PER_NODE": "4",
}

// TestGeneratedPrefix runs the plan on what users' prefixes export today: the server and
// benchmark commands lack the wrapper and lose nothing else, workers keep it, the layout is the
// prefix's, and the plan's variables are forwarded into the pyxis container.
func TestGeneratedPrefix(t *testing.T) {
	pre := loadPrefix(t, generatedPrefix, prefixSlurm)
	const wrapped = "trtllm-llmapi-launch "
	base := pre.env["pytestCommand"]
	if !strings.HasPrefix(base, wrapped) {
		t.Fatalf("the example's pytestCommand should start with the wrapper: %q", base)
	}
	bare := strings.TrimPrefix(base, wrapped)
	workerEnv := "TLLM_LOG_LEVEL=INFO FLASHINFER_JIT_DIR=/tmp/flashinfer_jit_cache_${SLURM_LOCALID} HF_HOME=/tmp/hf_home"
	wantCmds := map[string]string{
		"GEN_0":         "unset UCX_TLS UCX_NET_DEVICES UCX_CUDA_IPC_ENABLE_MNNVL && " + workerEnv + " " + base,
		"GEN_1":         "unset UCX_TLS UCX_NET_DEVICES UCX_CUDA_IPC_ENABLE_MNNVL && " + workerEnv + " " + base,
		"CTX_0":         "unset UCX_TLS UCX_NET_DEVICES UCX_CUDA_IPC_ENABLE_MNNVL && " + workerEnv + " " + base,
		"DISAGG_SERVER": "TLLM_LOG_LEVEL=INFO " + bare,
		"BENCHMARK":     bare,
	}

	for _, tt := range []struct {
		name string
		drop []string // variables removed from the prefix, so that Build derives instead
		want map[string]string
	}{
		{name: "role commands as the generator wrote them", want: wantCmds},
		{
			name: "derived from pytestCommand alone",
			drop: []string{"pytestCommandNoLLMAPILaunch", "pytestCommandGENWorker", "pytestCommandCTXWorker", "pytestCommandDisaggServer", "pytestCommandBenchmark"},
			want: map[string]string{
				"GEN_0":         "unset UCX_TLS UCX_NET_DEVICES UCX_CUDA_IPC_ENABLE_MNNVL && " + base,
				"GEN_1":         "unset UCX_TLS UCX_NET_DEVICES UCX_CUDA_IPC_ENABLE_MNNVL && " + base,
				"CTX_0":         "unset UCX_TLS UCX_NET_DEVICES UCX_CUDA_IPC_ENABLE_MNNVL && " + base,
				"DISAGG_SERVER": bare,
				"BENCHMARK":     bare,
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range pre.env {
				env[k] = v
			}
			for _, k := range tt.drop {
				delete(env, k)
			}
			p, err := Build(Sources{
				Flags:    Flags{SrunArgsFile: "/dev/fd/63"},
				Getenv:   getenv(env),
				ReadFile: readFiles(map[string]string{"/dev/fd/63": printfQ(pre.srunArgs)}),
				Unique:   "4711",
			})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, r := range p.Roles {
				got[r.Name] = r.Command
				if r.Env["pytestCommand"] != r.Command {
					t.Errorf("%s: pytestCommand env %q differs from its command", r.Name, r.Env["pytestCommand"])
				}
				hasWrapper := strings.Contains(r.Command, "trtllm-llmapi-launch")
				if hasWrapper != r.IsWorker() {
					t.Errorf("%s: command has the wrapper: %v, want %v", r.Name, hasWrapper, r.IsWorker())
				}
				if !containsAll(r.Srun, "--container-env=pytestCommand", "--container-env=DISAGG_SERVING_TYPE", "--container-env=TRTLLM_PERF_RUN_TOKEN") {
					t.Errorf("%s: plan variables not forwarded into the container: %q", r.Name, r.Srun)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("commands (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(pre.srunArgs, p.SrunArgs); diff != "" {
				t.Errorf("srun args read back from the printf %%q file (-want +got):\n%s", diff)
			}
			layout := map[string]string{}
			for _, r := range p.Roles {
				layout[r.Name] = fmt.Sprintf("%v %d/%d", r.Nodes, r.NTasks, r.NTasksPerNode)
			}
			wantLayout := map[string]string{
				"GEN_0":         "[gb200-0101 gb200-0102] 8/4",
				"GEN_1":         "[gb200-0103 gb200-0104] 8/4",
				"CTX_0":         "[gb200-0105] 4/4",
				"DISAGG_SERVER": "[gb200-0101] 1/1",
				"BENCHMARK":     "[gb200-0101] 1/1",
			}
			if diff := cmp.Diff(wantLayout, layout); diff != "" {
				t.Errorf("layout (-want +got):\n%s", diff)
			}
			if p.Install == nil || p.Install.Command != pre.env["installScript"] || p.OutputDir != pre.env["testOutputDir"] {
				t.Errorf("install %+v, output %q", p.Install, p.OutputDir)
			}
			// The launch draft's install: every task of the job, the log in the workspace.
			wantInstall := &Step{
				Command: pre.env["installScript"],
				Srun:    concat([]string{"srun"}, pre.srunArgs, []string{pre.env["installScript"]}),
				Log:     pre.env["jobWorkspace"] + "/install.log",
				NTasks:  20,
			}
			if diff := cmp.Diff(wantInstall, p.Install); diff != "" {
				t.Errorf("install step (-want +got):\n%s", diff)
			}
			if p.BenchmarkMode != BenchmarkE2E || p.GenOnlyNoContext {
				t.Errorf("mode %q, no-context %v; want the test id's e2e with CTX servers", p.BenchmarkMode, p.GenOnlyNoContext)
			}
			if r := p.Roles[0]; r.Env["NVIDIA_VISIBLE_DEVICES"] != "0,1,2,3" || r.Env["llmSrcNode"] != "/lustre/src/TensorRT-LLM" {
				t.Errorf("GEN_0 env %v", r.Env)
			}
		})
	}
}

// TestGeneratedPrefixDefect feeds Build what today's generator writes when the wrapper is the
// first word of pytestCommand: the `export pytestCommandNoLLMAPILaunch=...` line loses its name,
// so the variable is empty and the server and benchmark commands are their env strings alone.
// Build must refuse that rather than run "TLLM_LOG_LEVEL=INFO" as the server.
func TestGeneratedPrefixDefect(t *testing.T) {
	pre := loadPrefix(t, generatedPrefix, prefixSlurm)
	env := pre.env
	delete(env, "pytestCommandNoLLMAPILaunch")
	env["pytestCommandDisaggServer"] = "TLLM_LOG_LEVEL=INFO "
	env["pytestCommandBenchmark"] = " "
	_, err := Build(Sources{Getenv: getenv(env)})
	want := `pytestCommandDisaggServer: "TLLM_LOG_LEVEL=INFO" runs no command, only assignments (is the variable it was built from empty?)`
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
	// Without the broken server command, the benchmark's empty one is derived again, correctly.
	delete(env, "pytestCommandDisaggServer")
	p, err := Build(Sources{Getenv: getenv(env)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.Roles[len(p.Roles)-1].Command, strings.TrimPrefix(env["pytestCommand"], "trtllm-llmapi-launch "); got != want {
		t.Errorf("benchmark command %q, want %q", got, want)
	}
}

func containsAll(list []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, s := range list {
			found = found || s == w
		}
		if !found {
			return false
		}
	}
	return true
}
