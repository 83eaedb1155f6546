// Package examples_test keeps the files in examples/ true: each config is planned by the real binary with
// a fixed environment and the plan's roles, nodes and task counts are checked; the sbatch prefix and the
// launch draft are run by bash with a stand-in for the binary, which checks the hand-over line and plans
// what the exports describe.
package examples_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"mvdan.cc/sh/v3/syntax"
)

// bin is the disagg-supervisor binary TestMain builds.
var bin string

// TestMain builds the binary once: the examples are checked against what users run, not against a
// package API.
func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "disagg-supervisor-examples-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "examples_test:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin = filepath.Join(dir, "disagg-supervisor")
	build := exec.Command("go", "build", "-o", bin, "../cmd/disagg-supervisor")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "examples_test: go build: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// plan is the part of `plan --json` the examples promise.
type plan struct {
	Mode     string   `json:"mode"`
	JobID    string   `json:"job_id"`
	Nodes    []string `json:"nodes"`
	SrunArgs []string `json:"srun_args"`
	Roles    []role   `json:"roles"`
}

type role struct {
	Name          string            `json:"name"`
	Kind          string            `json:"kind"`
	Nodes         []string          `json:"nodes"`
	NTasks        int               `json:"ntasks"`
	NTasksPerNode int               `json:"ntasks_per_node"`
	Command       string            `json:"command"`
	Env           map[string]string `json:"env"`
}

// layout is what a reader checks first in a plan: each role's name, kind, nodes and tasks.
type layout struct {
	Name, Kind            string
	Nodes                 []string
	NTasks, NTasksPerNode int
}

func layoutOf(p plan) []layout {
	var l []layout
	for _, r := range p.Roles {
		l = append(l, layout{r.Name, r.Kind, r.Nodes, r.NTasks, r.NTasksPerNode})
	}
	return l
}

// fixedEnv is a clean environment: nothing of the test's own environment (a stray SLURM_* or
// numGenServers) may change a plan.
func fixedEnv(t *testing.T, vars ...string) []string {
	t.Helper()
	return append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, vars...)
}

// planJSON runs `disagg-supervisor plan --json ARGS` with env and decodes the plan.
func planJSON(t *testing.T, env []string, args ...string) plan {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"plan", "--json"}, args...)...)
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("plan --json %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return decodePlan(t, out)
}

func decodePlan(t *testing.T, out []byte) plan {
	t.Helper()
	var p plan
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("plan --json: %v\n%s", err, out)
	}
	return p
}

// TestDisaggConfig: examples/disagg.yaml on 6 nodes of 4 GPUs plans 2 GEN servers of 2 nodes, 1 CTX
// server of 1 node after them, and the router and benchmark on the first node; the config's
// environment strings go before the derived worker and server commands.
func TestDisaggConfig(t *testing.T) {
	const base = "trtllm-llmapi-launch pytest perf/test_perf_sanity.py::test_e2e[disagg_upload-e2e-my_config]"
	p := planJSON(t, fixedEnv(t, "SLURM_JOB_ID=4242", "SLURM_JOB_NODELIST=gpu[01-06]", "jobWorkspace=/ws",
		"pytestCommand="+base), "--config", "disagg.yaml")
	if p.Mode != "disaggregated" || p.JobID != "4242" {
		t.Errorf("mode %q, job %q; want disaggregated, 4242", p.Mode, p.JobID)
	}
	if len(p.Nodes) != 6 {
		t.Errorf("allocation %v; want the 6 nodes of gpu[01-06]", p.Nodes)
	}
	want := []layout{
		{"GEN_0", "gen", []string{"gpu01", "gpu02"}, 8, 4},
		{"GEN_1", "gen", []string{"gpu03", "gpu04"}, 8, 4},
		{"CTX_0", "ctx", []string{"gpu05"}, 4, 4},
		{"DISAGG_SERVER", "server", []string{"gpu01"}, 1, 1},
		{"BENCHMARK", "benchmark", []string{"gpu01"}, 1, 1},
	}
	if diff := cmp.Diff(want, layoutOf(p)); diff != "" {
		t.Errorf("layout (-want +got):\n%s", diff)
	}
	commands := map[string]string{}
	for _, r := range p.Roles {
		commands[r.Name] = r.Command
	}
	worker := "TLLM_LOG_LEVEL=INFO HF_HOME=/tmp/hf_home " + base
	for _, name := range []string{"GEN_0", "GEN_1", "CTX_0"} {
		if !strings.HasSuffix(commands[name], worker) {
			t.Errorf("%s command %q; want it to end in the config's worker_env_var and the base command %q", name, commands[name], worker)
		}
	}
	if got, want := commands["DISAGG_SERVER"], "TLLM_LOG_LEVEL=INFO pytest perf/test_perf_sanity.py::test_e2e[disagg_upload-e2e-my_config]"; got != want {
		t.Errorf("DISAGG_SERVER command %q; want %q (server_env_var, the base without the wrapper)", got, want)
	}
}

// TestAggregatedConfig: examples/aggregated.yaml plans one SERVER of its largest world (tensor 4 x
// pipeline 2 = 8 ranks) on the first 2 nodes of the allocation.
func TestAggregatedConfig(t *testing.T) {
	p := planJSON(t, fixedEnv(t, "SLURM_JOB_ID=4243", "SLURM_JOB_NODELIST=gpu[01-03]", "jobWorkspace=/ws",
		"pytestCommand=pytest perf/test_perf_sanity.py::test_e2e[aggr_upload-my_config]"), "--config", "aggregated.yaml")
	if p.Mode != "aggregated" {
		t.Errorf("mode %q; want aggregated", p.Mode)
	}
	want := []layout{{"SERVER", "aggregated", []string{"gpu01", "gpu02"}, 8, 4}}
	if diff := cmp.Diff(want, layoutOf(p)); diff != "" {
		t.Errorf("layout (-want +got):\n%s", diff)
	}
	if got := p.Roles[0].Env["world_size"]; got != "8" {
		t.Errorf("SERVER world_size %q; want 8", got)
	}
}

// handOver runs script with bash as sbatch would on the first node of a 5-node job, with stand-ins on
// PATH: nvidia-smi (a 4-GPU node) and disagg-supervisor, which records the arguments it was exec'd
// with and the srun arguments file they name, then runs the real `plan --json` with them (the script's
// own output, such as its echo, stays apart). It returns
// those arguments, the file's lines and the plan.
func handOver(t *testing.T, script string) handover {
	t.Helper()
	dir := t.TempDir()
	stub := `#!/bin/bash
printf '%s\n' "$@" > "$STUB_DIR/args"
[ "$1" = run ] && [ "$2" = --srun-args-file ] || exit 99
cat "$3" > "$STUB_DIR/srun-args"
shift 3
exec "$REAL_BIN" plan --json --srun-args-file "$STUB_DIR/srun-args" "$@" >"$STUB_DIR/plan.json"
`
	for name, text := range map[string]string{
		"disagg-supervisor": stub,
		"nvidia-smi":        "#!/bin/sh\necho 4\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("bash", script)
	cmd.Env = []string{
		"PATH=" + dir + string(os.PathListSeparator) + os.Getenv("PATH"), "HOME=" + dir,
		"STUB_DIR=" + dir, "REAL_BIN=" + bin,
		"SLURM_JOB_ID=777", "SLURM_JOB_NODELIST=gpu-b[01-05]", "SLURM_NODELIST=gpu-b[01-05]",
		"SLURM_JOB_NUM_NODES=5", "SLURM_GPUS_ON_NODE=4", "SLURM_NTASKS=20",
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bash %s: %v\n%s", script, err, out)
	}
	read := func(name string) []string {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%s: the script never exec'd disagg-supervisor: %v", name, err)
		}
		return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	}
	out, err := os.ReadFile(filepath.Join(dir, "plan.json"))
	if err != nil {
		t.Fatal(err)
	}
	return handover{args: read("args"), srunArgsFile: read("srun-args"), plan: decodePlan(t, out)}
}

// handover is what a batch script handed to disagg-supervisor: its arguments, the lines of the srun
// arguments file they name, and the plan of its exports.
type handover struct {
	args, srunArgsFile []string
	plan               plan
}

// The srunArgs array of examples/sbatch-prefix.sh, as printf '%q\n' writes it and as the plan reads it.
var (
	wantSrunArgsFile = []string{
		"--container-image=urm.example/sw-tensorrt-llm/release:gb200",
		"--container-workdir=/lustre/src/TensorRT-LLM/tests/integration/defs",
		"--container-mounts=/lustre:/lustre",
		"--container-env=NVIDIA_IMEX_CHANNELS",
		"--container-env=DISAGG_SERVING_TYPE",
		"--container-env=pytestCommand",
	}
	wantPrefixLayout = []layout{
		{"GEN_0", "gen", []string{"gpu-b01", "gpu-b02"}, 8, 4},
		{"GEN_1", "gen", []string{"gpu-b03", "gpu-b04"}, 8, 4},
		{"CTX_0", "ctx", []string{"gpu-b05"}, 4, 4},
		{"DISAGG_SERVER", "server", []string{"gpu-b01"}, 1, 1},
		{"BENCHMARK", "benchmark", []string{"gpu-b01"}, 1, 1},
	}
)

// checkPrefixPlan checks what the generated exports and srunArgs of examples/sbatch-prefix.sh plan.
func checkPrefixPlan(t *testing.T, h handover) {
	t.Helper()
	args, srunArgsFile, p := h.args, h.srunArgsFile, h.plan
	if len(args) != 3 || args[0] != "run" || args[1] != "--srun-args-file" || !strings.HasPrefix(args[2], "/dev/fd/") {
		t.Errorf("disagg-supervisor exec'd with %q; want run --srun-args-file /dev/fd/N (a process substitution)", args)
	}
	if diff := cmp.Diff(wantSrunArgsFile, srunArgsFile); diff != "" {
		t.Errorf("srun arguments file (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantSrunArgsFile, p.SrunArgs); diff != "" {
		t.Errorf("plan's srun_args (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantPrefixLayout, layoutOf(p)); diff != "" {
		t.Errorf("layout (-want +got):\n%s", diff)
	}
	for _, r := range p.Roles {
		if r.Kind == "gen" && !strings.HasPrefix(r.Command, "unset UCX_TLS UCX_NET_DEVICES UCX_CUDA_IPC_ENABLE_MNNVL && TLLM_LOG_LEVEL=INFO FLASHINFER_JIT_DIR=") {
			t.Errorf("%s command %q; want the exported pytestCommandGENWorker, used as given", r.Name, r.Command)
		}
		if (r.Kind == "server" || r.Kind == "benchmark") && strings.Contains(r.Command, "trtllm-llmapi-launch") {
			t.Errorf("%s command %q keeps the wrapper", r.Name, r.Command)
		}
	}
}

// TestSbatchPrefix: the example batch script is valid bash, ignores USR1 before its first export and
// its exec, asks Slurm for the drain signal, and hands over to `disagg-supervisor run` with srunArgs,
// whose exports plan the layout its #SBATCH lines allocate.
func TestSbatchPrefix(t *testing.T) {
	const script = "sbatch-prefix.sh"
	bashSyntax(t, script)
	data, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	if !strings.Contains(text, "\n#SBATCH --signal=B:USR1@300\n") {
		t.Errorf("%s: no #SBATCH --signal=B:USR1@300 line", script)
	}
	lines := strings.Split(strings.TrimSpace(text), "\n")
	trap, export, last := -1, -1, len(lines)-1
	for i, line := range lines {
		if trap < 0 && line == "trap '' USR1" {
			trap = i
		}
		if export < 0 && strings.HasPrefix(line, "export ") {
			export = i
		}
	}
	if trap < 0 || export < 0 || trap > export {
		t.Errorf("%s: trap '' USR1 at line %d, first export at line %d; want the trap first", script, trap+1, export+1)
	}
	if want := `exec disagg-supervisor run --srun-args-file <(printf '%q\n' "${srunArgs[@]}")`; lines[last] != want {
		t.Errorf("%s ends in %q; want the hand-over line %q", script, lines[last], want)
	}
	checkPrefixPlan(t, handOver(t, script))
}

// TestLaunchDraft: the draft is two commands, ignoring USR1 and then exec'ing `disagg-supervisor run`
// with srunArgs; appended to the generated prefix in place of its last line, it hands over exactly as
// the example batch script does.
func TestLaunchDraft(t *testing.T) {
	const draft = "launch-draft.sh"
	bashSyntax(t, draft)
	data, err := os.ReadFile(draft)
	if err != nil {
		t.Fatal(err)
	}
	f, err := syntax.NewParser().Parse(strings.NewReader(string(data)), draft)
	if err != nil {
		t.Fatal(err)
	}
	var stmts []string
	for _, st := range f.Stmts {
		var b strings.Builder
		if err := syntax.NewPrinter().Print(&b, st); err != nil {
			t.Fatal(err)
		}
		stmts = append(stmts, b.String())
	}
	want := []string{`trap '' USR1`, `exec disagg-supervisor run --srun-args-file <(printf '%q\n' "${srunArgs[@]}")`}
	if diff := cmp.Diff(want, stmts); diff != "" {
		t.Errorf("%s commands (-want +got):\n%s", draft, diff)
	}

	prefix, err := os.ReadFile("sbatch-prefix.sh")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(prefix), "\n"), "\n")
	if !strings.HasPrefix(lines[len(lines)-1], "exec ") {
		t.Fatalf("sbatch-prefix.sh does not end in its exec line: %q", lines[len(lines)-1])
	}
	generated := strings.Join(slices.Delete(lines, len(lines)-1, len(lines)), "\n") + "\n" + string(data)
	script := filepath.Join(t.TempDir(), "job.sh")
	if err := os.WriteFile(script, []byte(generated), 0o644); err != nil {
		t.Fatal(err)
	}
	checkPrefixPlan(t, handOver(t, script))
}

// bashSyntax fails the test when bash -n refuses file.
func bashSyntax(t *testing.T, file string) {
	t.Helper()
	if out, err := exec.Command("bash", "-n", file).CombinedOutput(); err != nil {
		t.Fatalf("bash -n %s: %v\n%s", file, err, out)
	}
}
