package roles

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRemoveWrapper(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"first word", "trtllm-llmapi-launch pytest a.py -vv", "pytest a.py -vv"},
		{"with a directory", "/opt/x/trtllm-llmapi-launch pytest a.py", "pytest a.py"},
		{"double quoted", `"trtllm-llmapi-launch" pytest a.py`, "pytest a.py"},
		{"single quoted", `'trtllm-llmapi-launch' pytest`, "pytest"},
		{"escaped", `trtllm\-llmapi-launch pytest`, "pytest"},
		{"after assignments", "A=1 B='x y' trtllm-llmapi-launch pytest a.py", "A=1 B='x y' pytest a.py"},
		{"absent", "pytest a.py -k 'x and y'", "pytest a.py -k 'x and y'"},
		{"only as an argument", "pytest --junit-xml=trtllm-llmapi-launch.xml", "pytest --junit-xml=trtllm-llmapi-launch.xml"},
		{"as a plain argument", "echo trtllm-llmapi-launch", "echo trtllm-llmapi-launch"},
		{"in a directory name", "/data/trtllm-llmapi-launch/run pytest", "/data/trtllm-llmapi-launch/run pytest"},
		{"longer name", "trtllm-llmapi-launch.sh pytest", "trtllm-llmapi-launch.sh pytest"},
		{"in the second command", "a && trtllm-llmapi-launch b", "a && b"},
		{"in a pipeline", "trtllm-llmapi-launch pytest | tee log", "pytest | tee log"},
		{"in a subshell", "(cd x; trtllm-llmapi-launch pytest)", "(cd x; pytest)"},
		{"in a command substitution", `echo "$(trtllm-llmapi-launch x)"`, `echo "$(x)"`},
		{"blanks and a continuation after it", "trtllm-llmapi-launch \t\\\n  pytest", "pytest"},
		{"redirect kept", "trtllm-llmapi-launch >out pytest", ">out pytest"},
		{"twice", "trtllm-llmapi-launch trtllm-llmapi-launch pytest", "pytest"},
		{"expansion is not the wrapper", "$LAUNCH pytest", "$LAUNCH pytest"},
		{"glob is not the wrapper", "trtllm-llmapi-launc? pytest", "trtllm-llmapi-launc? pytest"},
		{"keyword becomes the command", "trtllm-llmapi-launch if x", `\if x`},
		{"assignment-like word becomes the command", "trtllm-llmapi-launch X=1 prog", `\X=1 prog`},
		{"nothing left", "a && trtllm-llmapi-launch", "a && :"},
		{"nothing left but a redirect", "trtllm-llmapi-launch >log", ": >log"},
		{"multi-line", "cd /x\ntrtllm-llmapi-launch pytest \\\n  -vv\n", "cd /x\npytest \\\n  -vv\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := removeWrapper(tt.in, DefaultWrapper)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("removeWrapper(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
			if err := checkShell(got); err != nil {
				t.Errorf("result %q does not parse: %v", got, err)
			}
		})
	}
	if got, err := removeWrapper("mpirun-wrap pytest", "/usr/bin/mpirun-wrap"); err != nil || got != "pytest" {
		t.Errorf("custom wrapper given as a path: %q, %v", got, err)
	}
	if _, err := removeWrapper(`pytest "x`, DefaultWrapper); err == nil {
		t.Error("want an error for a command that does not parse")
	}
}

func TestSplitWords(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
		err      string
	}{
		// The inputs are what bash's printf '%q\n' writes.
		{name: "plain", in: "--container-image=img:1\n--container-env=X\n", want: []string{"--container-image=img:1", "--container-env=X"}},
		{name: "escaped comma", in: `--container-mounts=/lustre:/lustre\,/home/u:/home/u`, want: []string{"--container-mounts=/lustre:/lustre,/home/u:/home/u"}},
		{name: "escaped blanks and quotes", in: "a\\ b\nit\\'s\nx\\\"y\nback\\\\slash\n", want: []string{"a b", "it's", `x"y`, `back\slash`}},
		{name: "ANSI-C quoting", in: "$'tab\\there'\n$'new\\nline'\n", want: []string{"tab\there", "new\nline"}},
		{name: "empty word", in: "''\n", want: []string{""}},
		{name: "escaped specials", in: "star\\*\n\\~home\n\\{a\\,b\\}\n\\$HOME\n", want: []string{"star*", "~home", "{a,b}", "$HOME"}},
		{name: "several per line and comments", in: "# srun args\n-A acct  --exclusive 'x y'\n\n", want: []string{"-A", "acct", "--exclusive", "x y"}},
		{name: "nothing", in: "\n", want: nil},
		{name: "parameter", in: "--x=$HOME", err: `line 1: "--x=$HOME" is not a plain word`},
		{name: "command substitution", in: "a\n$(id)", err: `line 2: "$(id)" is not a plain word`},
		{name: "backquotes", in: "`id`", err: "line 1: \"`id`\" is not a plain word"},
		{name: "in double quotes", in: `"$HOME"`, err: `line 1: "\"$HOME\"" is not a plain word`},
		{name: "glob", in: "*.sh", err: `line 1: "*.sh" is not a plain word`},
		{name: "tilde", in: "~/x", err: `line 1: "~/x" is not a plain word`},
		{name: "braces", in: "{a,b}", err: `line 1: "{a,b}" is not a plain word`},
		{name: "operator", in: "a;b", err: "1:2: `;` is not a valid word"},
		{name: "unclosed quote", in: "'a", err: "1:1: reached EOF without closing quote `'`"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := splitWords(tt.in)
			if tt.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
					t.Fatalf("error %v, want one starting with %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("words (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDeriveCommands checks role commands derived from the base command and the env strings,
// through Build, as the generator derives them.
func TestDeriveCommands(t *testing.T) {
	const base = "trtllm-llmapi-launch pytest t.py"
	type cmds struct{ Gen, Ctx, Server, Benchmark string }
	tests := []struct {
		name  string
		env   map[string]string
		flags Flags
		want  cmds
	}{
		{
			name:  "base only",
			flags: Flags{Command: base},
			want:  cmds{testUnset + " " + base, testUnset + " " + base, "pytest t.py", "pytest t.py"},
		},
		{
			name:  "base without the wrapper",
			flags: Flags{Command: "pytest t.py"},
			want:  cmds{testUnset + " pytest t.py", testUnset + " pytest t.py", "pytest t.py", "pytest t.py"},
		},
		{
			name: "env strings",
			flags: Flags{Command: base, WorkerEnv: "W=1", GenEnv: "G=1 H='a b'", ServerEnv: "S=1",
				BenchmarkEnv: "B=1"},
			want: cmds{testUnset + " G=1 H='a b' " + base, testUnset + " W=1 " + base, "S=1 pytest t.py", "B=1 pytest t.py"},
		},
		{
			name:  "blank env strings leave no double spaces",
			flags: Flags{Command: "  " + base + " ", WorkerEnv: " ", ServerEnv: "\t", BenchmarkEnv: "  "},
			want:  cmds{testUnset + " " + base, testUnset + " " + base, "pytest t.py", "pytest t.py"},
		},
		{
			name:  "own unset list",
			flags: Flags{Command: base, Unset: ptr("A  B")},
			want:  cmds{"unset A B && " + base, "unset A B && " + base, "pytest t.py", "pytest t.py"},
		},
		{
			name:  "no unset",
			flags: Flags{Command: base, Unset: ptr("")},
			want:  cmds{base, base, "pytest t.py", "pytest t.py"},
		},
		{
			name:  "own wrapper",
			flags: Flags{Command: "mylaunch pytest t.py", Wrapper: "mylaunch"},
			want:  cmds{testUnset + " mylaunch pytest t.py", testUnset + " mylaunch pytest t.py", "pytest t.py", "pytest t.py"},
		},
		{
			name:  "gen-only without a config leaves the queue size out",
			flags: Flags{Command: base, GenOnly: ptr(true)},
			want: cmds{Gen: testUnset + " TRTLLM_DISAGG_BENCHMARK_GEN_ONLY=1 TRTLLM_DISABLE_KV_CACHE_TRANSFER_OVERLAP=1 " + base,
				Server: "TRTLLM_DISAGG_BENCHMARK_GEN_ONLY=1 pytest t.py", Benchmark: "pytest t.py"},
		},
		{
			name: "ready-made base without the wrapper",
			env:  map[string]string{"pytestCommand": base, "pytestCommandNoLLMAPILaunch": "pytest t.py --junit-xml=r.xml"},
			want: cmds{testUnset + " " + base, testUnset + " " + base, "pytest t.py --junit-xml=r.xml", "pytest t.py --junit-xml=r.xml"},
		},
		{
			name:  "--wrapper makes the ready-made base stale",
			env:   map[string]string{"pytestCommand": base, "pytestCommandNoLLMAPILaunch": "stale"},
			flags: Flags{Wrapper: "trtllm-llmapi-launch"},
			want:  cmds{testUnset + " " + base, testUnset + " " + base, "pytest t.py", "pytest t.py"},
		},
		{
			name: "role commands from the environment",
			env: map[string]string{"pytestCommand": base, "pytestCommandWorker": "w", "pytestCommandCTXWorker": "c",
				"pytestCommandDisaggServer": "s", "pytestCommandBenchmark": "b"},
			want: cmds{"w", "c", "s", "b"},
		},
		{
			name: "--command beats the environment's role commands",
			env: map[string]string{"pytestCommand": "old", "pytestCommandGENWorker": "g", "pytestCommandCTXWorker": "c",
				"pytestCommandDisaggServer": "s", "pytestCommandBenchmark": "b"},
			flags: Flags{Command: base},
			want:  cmds{testUnset + " " + base, testUnset + " " + base, "pytest t.py", "pytest t.py"},
		},
		{
			name: "--gen-env re-derives only GEN",
			env: map[string]string{"pytestCommand": base, "pytestCommandGENWorker": "g", "pytestCommandCTXWorker": "c",
				"pytestCommandDisaggServer": "s", "pytestCommandBenchmark": "b"},
			flags: Flags{GenEnv: "G=2"},
			want:  cmds{testUnset + " G=2 " + base, "c", "s", "b"},
		},
		{
			name:  "role command flags are used as given",
			env:   map[string]string{"pytestCommandGENWorker": "g"},
			flags: Flags{Command: base, GenCommand: "G", CtxCommand: "C", ServerCommand: "S", BenchmarkCommand: "B"},
			want:  cmds{"G", "C", "S", "B"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range tt.env {
				env[k] = v
			}
			f := tt.flags
			f.Nodelist, f.GPUsPerNode, f.Workspace = "n[1-3]", ptr(4), "/ws"
			f.NumGen, f.NodesPerGen = ptr(1), ptr(1)
			if f.GenOnly == nil {
				f.NumCtx, f.NodesPerCtx = ptr(1), ptr(1)
			}
			p, err := Build(Sources{Flags: f, Getenv: getenv(env)})
			if err != nil {
				t.Fatal(err)
			}
			var got cmds
			for _, r := range p.Roles {
				switch r.Kind {
				case KindGen:
					got.Gen = r.Command
				case KindCtx:
					got.Ctx = r.Command
				case KindServer:
					got.Server = r.Command
				case KindBenchmark:
					got.Benchmark = r.Command
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("commands (-want +got):\n%s", diff)
			}
		})
	}
}
