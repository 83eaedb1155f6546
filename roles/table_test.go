package roles

import (
	"errors"
	"strings"
	"testing"
)

func TestWriteTable(t *testing.T) {
	env := contractEnv()
	env["pytestCommandBenchmark"] = "HF_TOKEN=hf_secret123 pytest \\\n  b.py"
	p, err := Build(Sources{
		Flags:  Flags{Probes: []string{"GEN_0=http:http://{node}:8000/health@20m"}},
		Getenv: getenv(env),
		Unique: "7",
	})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := WriteTable(&b, p); err != nil {
		t.Fatal(err)
	}
	w := testUnset + " TLLM_LOG_LEVEL=INFO HF_HOME=/tmp/hf " + testBase
	task := func(role, kind string) string {
		return " /lustre/ws/disagg/.disagg-supervisor/bin/disagg-supervisor task --role " + role + " --kind " + kind +
			" --coord-dir /lustre/ws/disagg/.disagg-supervisor/runs/4242.0.7"
	}
	want := `job 4242  restart 0  run token 4242.0.7
nodes 5 (gpu-a[01-03],gpu-b[7-8]), 5 used  gpus/node 4  benchmark e2e
workspace /lustre/ws/disagg  output /lustre/ws/disagg/out
task binary /lustre/ws/disagg/.disagg-supervisor/bin/disagg-supervisor
install /lustre/src/install.sh on every task of the job (20 tasks), log /lustre/ws/disagg/install.log
    srun /lustre/src/install.sh

ROLE           NODES           TASKS       COMMAND
GEN_0          gpu-a[01-02]    8 (4/node)  ` + w + `
    srun --mpi=pmix --kill-on-bad-exit=1 -N 2 -w 'gpu-a[01-02]' --ntasks=8 --ntasks-per-node=4` + task("GEN_0", "gen") + `
GEN_1          gpu-a03,gpu-b7  8 (4/node)  ` + w + `
    srun --mpi=pmix --kill-on-bad-exit=1 -N 2 -w gpu-a03,gpu-b7 --ntasks=8 --ntasks-per-node=4` + task("GEN_1", "gen") + `
CTX_0          gpu-b8          2 (2/node)  ` + w + `
    srun --mpi=pmix --kill-on-bad-exit=1 -N 1 -w gpu-b8 --ntasks=2 --ntasks-per-node=2` + task("CTX_0", "ctx") + `
DISAGG_SERVER  gpu-a01         1 (1/node)  TLLM_LOG_LEVEL=INFO ` + testNoWrap + `
    srun --kill-on-bad-exit=1 --overlap -N 1 -w gpu-a01 --ntasks=1 --ntasks-per-node=1` + task("DISAGG_SERVER", "server") + `
BENCHMARK      gpu-a01         1 (1/node)  HF_TOKEN=<redacted> pytest \\\n  b.py
    srun --kill-on-bad-exit=1 --overlap -N 1 -w gpu-a01 --ntasks=1 --ntasks-per-node=1` + task("BENCHMARK", "benchmark") + `
probe GEN_0: http http://gpu-a01:8000/health (timeout 20m0s)
`
	if got := b.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteTableError(t *testing.T) {
	p, err := Build(Sources{Getenv: getenv(contractEnv())})
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteTable(failingWriter{}, p); err == nil || err.Error() != "disk full" {
		t.Errorf("error %v, want disk full", err)
	}
}

// TestWriteTableModeAndInstall checks how the header shows the benchmark mode and where the
// install step runs.
func TestWriteTableModeAndInstall(t *testing.T) {
	for _, tt := range []struct {
		name          string
		plan          Plan
		mode, install string
	}{
		{
			name: "e2e, install on the job's tasks",
			plan: Plan{BenchmarkMode: BenchmarkE2E, Install: &Step{Command: "i.sh", Log: "/ws/install.log", NTasks: 8}},
			mode: "benchmark e2e", install: "install i.sh on every task of the job (8 tasks), log /ws/install.log",
		},
		{
			name: "gen_only, install on tasks Slurm decides",
			plan: Plan{BenchmarkMode: BenchmarkGenOnly, Install: &Step{Command: "i.sh", Log: "/ws/install.log"}},
			mode: "benchmark gen_only", install: "install i.sh on every task of the job (as many as Slurm starts), log /ws/install.log",
		},
		{
			name: "no context, install per node",
			plan: Plan{BenchmarkMode: BenchmarkGenOnly, GenOnlyNoContext: true,
				Install: &Step{Command: "i.sh", Log: "/ws/install.log", PerNode: true, NTasks: 2}},
			mode:    "benchmark gen_only, no CTX servers (gen_only_no_context)",
			install: "install i.sh on one task per node (2 tasks), log /ws/install.log",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.plan.Nodes, tt.plan.GPUsPerNode = []string{"n1", "n2"}, 4
			var b strings.Builder
			if err := WriteTable(&b, tt.plan); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(b.String(), "\n")
			if want := "nodes 2 (n[1-2]), 0 used  gpus/node 4  " + tt.mode; lines[1] != want {
				t.Errorf("header line\n got %s\nwant %s", lines[1], want)
			}
			if lines[4] != tt.install {
				t.Errorf("install line\n got %s\nwant %s", lines[4], tt.install)
			}
		})
	}
}

// TestWriteTableSrunLines checks the srun line under each step: redacted like the rest of the table,
// and quoted for bash word by word, on one line whatever a word holds.
func TestWriteTableSrunLines(t *testing.T) {
	env := contractEnv()
	// A value the plan assigns to a secret-looking name is masked wherever it shows.
	env["pytestCommandBenchmark"] = "HF_TOKEN=s3cr3t-value pytest b.py"
	p, err := Build(Sources{
		Flags: Flags{
			SrunArgs:  []string{"--container-image=nvcr.io/x:1", "--container-mounts=/a b:/a", "--comment=it's", "--export=ALL,HF_TOKEN=s3cr3t-value", "--comment=a\nb"},
			Preflight: []string{"disk=test -d /lustre"},
		},
		Getenv: getenv(env),
		Unique: "7",
	})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := WriteTable(&b, p); err != nil {
		t.Fatal(err)
	}
	table := b.String()
	user := `srun --container-image=nvcr.io/x:1 '--container-mounts=/a b:/a' '--comment=it'\''s' '--export=ALL,HF_TOKEN=<redacted>' $'--comment=a\nb' `
	lines := strings.Split(table, "\n")
	var sruns []string
	for i, line := range lines {
		if strings.HasPrefix(line, "    srun ") {
			sruns = append(sruns, line)
			if i == 0 || strings.HasPrefix(lines[i-1], " ") {
				t.Errorf("srun line %q is not under a step's line", line)
			}
		}
	}
	// The install step, the pre-flight check and the five roles.
	if len(sruns) != 7 {
		t.Fatalf("%d srun lines, want 7:\n%s", len(sruns), table)
	}
	if want := "    " + user + "/lustre/src/install.sh"; sruns[0] != want {
		t.Errorf("install srun line\n got %s\nwant %s", sruns[0], want)
	}
	for _, line := range sruns {
		if !strings.HasPrefix(line, "    "+user) {
			t.Errorf("srun line\n got %s\nwant it to start with %s", line, "    "+user)
		}
	}
	if strings.Contains(table, "s3cr3t-value") {
		t.Errorf("the table shows a secret:\n%s", table)
	}
	if !strings.HasPrefix(sruns[1], "    "+user+"--kill-on-bad-exit=1 -N 5 -w 'gpu-a[01-03],gpu-b[7-8]' --ntasks=5 --ntasks-per-node=1 ") {
		t.Errorf("pre-flight srun line %s", sruns[1])
	}
}

// TestShownWord checks the quoting of one word of a shown srun line.
func TestShownWord(t *testing.T) {
	for w, want := range map[string]string{
		"--ntasks=8": "--ntasks=8",
		"":           "''",
		"gpu[01-02]": "'gpu[01-02]'",
		"a b":        "'a b'",
		"it's":       `'it'\''s'`,
		"$HOME":      "'$HOME'",
		"a\nb's\\":   `$'a\nb\'s\\'`,
		"tab\there":  `$'tab\there'`,
		"bell\a":     `$'bell\u0007'`,
	} {
		if got := shownWord(w); got != want {
			t.Errorf("shownWord(%q) = %s, want %s", w, got, want)
		}
	}
}
