package roles

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// precheckEnv is today's generator's environment with the precheck on.
func precheckEnv() map[string]string {
	env := contractEnv()
	maps.Copy(env, map[string]string{
		"ctPrecheckEnabled":        "1",
		"ctPrecheckTimeout":        "600",
		"pytestCommandGENPrecheck": "UCX_TLS=rc python3 run_precheck.py --side gen",
		"pytestCommandCTXPrecheck": "UCX_TLS=rc python3 run_precheck.py --side ctx",
	})
	return env
}

func TestPrecheckMirrorsTheServers(t *testing.T) {
	p, err := Build(Sources{Getenv: getenv(precheckEnv())})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(p.Precheck), 3; got != want {
		t.Fatalf("%d precheck steps, want %d (2 GEN + 1 CTX)", got, want)
	}
	servers := map[string]Role{}
	for _, r := range p.Roles {
		servers[r.Name] = r
	}
	for _, c := range p.Precheck {
		kind, idx, _ := strings.Cut(c.Name, "_PRECHECK_")
		server := servers[kind+"_"+idx]
		if c.Kind != KindPrecheck {
			t.Errorf("%s: kind %q, want precheck", c.Name, c.Kind)
		}
		if c.Check != strings.ToLower(kind)+"_"+idx {
			t.Errorf("%s: check %q", c.Name, c.Check)
		}
		// The same node slice and srun shape as the server, up to the role name after "task".
		cut := func(argv []string) []string { return argv[:slices.Index(argv, "--role")+1] }
		if diff := cmp.Diff(cut(server.Srun), cut(c.Srun)); diff != "" {
			t.Errorf("%s: srun differs from %s's (-server +precheck):\n%s", c.Name, server.Name, diff)
		}
		if c.Env["DISAGG_SERVING_TYPE"] != c.Name {
			t.Errorf("%s: DISAGG_SERVING_TYPE=%q", c.Name, c.Env["DISAGG_SERVING_TYPE"])
		}
		wantCmd := "UCX_TLS=rc python3 run_precheck.py --side " + strings.ToLower(kind) + " --server-idx " + idx
		if c.Command != wantCmd || c.Env["pytestCommand"] != wantCmd {
			t.Errorf("%s: command %q, pytestCommand %q, want %q", c.Name, c.Command, c.Env["pytestCommand"], wantCmd)
		}
		dir := "/lustre/ws/disagg/out/cache_transceiver_precheck/"
		if c.Log != dir+"logs/"+c.Check+".log" || c.StatusFile != dir+"status/"+c.Check+".status" {
			t.Errorf("%s: log %s, status %s", c.Name, c.Log, c.StatusFile)
		}
		if c.TimeoutSeconds != 600 {
			t.Errorf("%s: timeout %v s, want ctPrecheckTimeout's 600", c.Name, c.TimeoutSeconds)
		}
	}
}

func TestPrecheckSwitches(t *testing.T) {
	yes, no := true, false
	for _, tc := range []struct {
		name  string
		env   map[string]string
		flags Flags
		want  int
	}{
		{"off by default", map[string]string{"ctPrecheckEnabled": ""}, Flags{}, 0},
		{"off", map[string]string{"ctPrecheckEnabled": "0"}, Flags{}, 0},
		{"on", nil, Flags{}, 3},
		{"flag turns it off", nil, Flags{Precheck: &no}, 0},
		{"flag turns it on", map[string]string{"ctPrecheckEnabled": "0"}, Flags{Precheck: &yes}, 3},
		{"gen-only-no-context skips it", map[string]string{"TRTLLM_DISAGG_BENCHMARK_GEN_ONLY": "1", "totalNodes": "", "totalGpus": ""}, Flags{}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := precheckEnv()
			maps.Copy(env, tc.env)
			p, err := Build(Sources{Flags: tc.flags, Getenv: getenv(env)})
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Precheck) != tc.want {
				t.Errorf("%d precheck steps, want %d", len(p.Precheck), tc.want)
			}
		})
	}
}

func TestPreflightChecks(t *testing.T) {
	env := contractEnv()
	env["DISAGG_PREFLIGHT"] = "gpus=nvidia-smi -L | grep -c GPU\n\n"
	p, err := Build(Sources{Flags: Flags{Preflight: []string{"disk=test -w \"$jobWorkspace\""}}, Getenv: getenv(env)})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Precheck) != 0 {
		t.Errorf("precheck planned without ctPrecheckEnabled")
	}
	var names []string
	for _, c := range p.Preflight {
		names = append(names, c.Name)
		if c.Kind != KindPreflight || c.NTasks != 5 || c.NTasksPerNode != 1 || !slices.Equal(c.Nodes, p.Nodes) {
			t.Errorf("%s: kind %s, %d tasks (%d/node) on %v, want one task on each of %v", c.Name, c.Kind, c.NTasks, c.NTasksPerNode, c.Nodes, p.Nodes)
		}
		if slices.Contains(c.Srun, "--install-command") || slices.ContainsFunc(c.Srun, func(a string) bool { return strings.HasPrefix(a, "--mpi") }) {
			t.Errorf("%s: srun %v: a check before the install runs no install gate and no MPI", c.Name, c.Srun)
		}
		if c.TimeoutSeconds != DefaultPrecheckTimeout.Seconds() {
			t.Errorf("%s: timeout %v s", c.Name, c.TimeoutSeconds)
		}
	}
	if want := []string{"PREFLIGHT_gpus", "PREFLIGHT_disk"}; !slices.Equal(names, want) {
		t.Errorf("checks %v, want %v (the environment's first)", names, want)
	}
	if got := p.Preflight[0].Command; got != "nvidia-smi -L | grep -c GPU" {
		t.Errorf("command %q", got)
	}
}

func TestPrecheckBadInput(t *testing.T) {
	for _, tc := range []struct {
		name  string
		env   map[string]string
		flags Flags
		input string
		msg   string
	}{
		{"enabled not a switch", map[string]string{"ctPrecheckEnabled": "maybe"}, Flags{},
			"ctPrecheckEnabled", `want 1/0, true/false, yes/no or on/off, got "maybe"`},
		{"timeout not seconds", map[string]string{"ctPrecheckTimeout": "15m"}, Flags{},
			"ctPrecheckTimeout", `want a positive number of seconds, got "15m"`},
		{"timeout flag negative", nil, Flags{PrecheckTimeout: -1},
			"--precheck-timeout", "want a positive duration"},
		{"no CTX command", map[string]string{"pytestCommandCTXPrecheck": ""}, Flags{},
			"pytestCommandCTXPrecheck / --precheck-ctx-command", "not set: the precheck is on and CTX_PRECHECK_0 needs a command"},
		{"command not shell", nil, Flags{PrecheckGenCommand: `run "x`},
			"--precheck-gen-command", "not valid shell"},
		{"preflight without =", nil, Flags{Preflight: []string{"nvidia-smi"}},
			`--preflight "nvidia-smi"`, "want NAME=COMMAND"},
		{"preflight bad name", nil, Flags{Preflight: []string{"a b=true"}},
			`--preflight "a b=true"`, `NAME "a b": want letters`},
		{"preflight twice", map[string]string{"DISAGG_PREFLIGHT": "gpus=true"}, Flags{Preflight: []string{"gpus=false"}},
			`--preflight "gpus=false"`, `a second check named "gpus"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := precheckEnv()
			maps.Copy(env, tc.env)
			_, err := Build(Sources{Flags: tc.flags, Getenv: getenv(env)})
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v, want an InputError", err)
			}
			if ie.Input != tc.input || !strings.Contains(ie.Problem, tc.msg) {
				t.Errorf("got %q, want input %q and a problem containing %q", err, tc.input, tc.msg)
			}
		})
	}
}

func TestChecksRedacted(t *testing.T) {
	env := precheckEnv()
	env["pytestCommandGENPrecheck"] = "HF_TOKEN=hf_secret123 python3 run_precheck.py"
	p, err := Build(Sources{Getenv: getenv(env)})
	if err != nil {
		t.Fatal(err)
	}
	r := p.Redacted()
	for _, c := range r.Precheck {
		if strings.Contains(c.Command, "hf_secret123") || strings.Contains(c.Env["pytestCommand"], "hf_secret123") {
			t.Errorf("%s: secret shown: %q", c.Name, c.Command)
		}
	}
	for _, role := range r.Roles {
		if strings.Contains(strings.Join(role.Srun, " "), "hf_secret123") {
			t.Errorf("%s: secret in srun", role.Name)
		}
	}
	if !strings.Contains(p.Precheck[0].Command, "hf_secret123") {
		t.Errorf("Redacted changed the plan itself")
	}
}

// TestSwitchGrammar checks that every switch variable takes the same words: 1/0, true/false,
// yes/no, on/off, in any case (ctPrecheckEnabled once took 1 or 0 only, while
// TRTLLM_DISAGG_BENCHMARK_GEN_ONLY took them all).
func TestSwitchGrammar(t *testing.T) {
	for _, tc := range []struct {
		word string
		on   bool
	}{{"1", true}, {"0", false}, {"true", true}, {"False", false}, {"YES", true}, {"no", false}, {"on", true}, {"off", false}} {
		env := precheckEnv()
		env["ctPrecheckEnabled"] = tc.word
		p, err := Build(Sources{Getenv: getenv(env)})
		if err != nil {
			t.Fatalf("ctPrecheckEnabled=%s: %v", tc.word, err)
		}
		if got := len(p.Precheck) > 0; got != tc.on {
			t.Errorf("ctPrecheckEnabled=%s: precheck %v, want %v", tc.word, got, tc.on)
		}
		env = contractEnv()
		env["TRTLLM_DISAGG_BENCHMARK_GEN_ONLY"] = tc.word
		delete(env, "totalNodes") // the generator's totals describe the layout with CTX servers
		delete(env, "totalGpus")
		p, err = Build(Sources{Getenv: getenv(env)})
		if err != nil {
			t.Fatalf("TRTLLM_DISAGG_BENCHMARK_GEN_ONLY=%s: %v", tc.word, err)
		}
		if p.GenOnlyNoContext != tc.on {
			t.Errorf("TRTLLM_DISAGG_BENCHMARK_GEN_ONLY=%s: gen-only-no-context %v, want %v", tc.word, p.GenOnlyNoContext, tc.on)
		}
	}
}

// TestPrecheckLayout: every path of today's precheck directory, as the plan names an instance's files
// and the supervisor finds an earlier attempt's, in the order they are moved.
func TestPrecheckLayout(t *testing.T) {
	l := PrecheckDir("/out")
	const dir = "/out/cache_transceiver_precheck/"
	for _, tt := range []struct{ name, got, want string }{
		{"dir", string(l), "/out/cache_transceiver_precheck"},
		{"Log", l.Log("ctx_1"), dir + "logs/ctx_1.log"},
		{"StatusFile", l.StatusFile("gen_0"), dir + "status/gen_0.status"},
		{"CSVDir", l.CSVDir(), dir + "csv"},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.name, tt.got, tt.want)
		}
	}
	want := []string{dir + "status/*.status", dir + "status/*.json", dir + "rendezvous/*.addr", dir + "precheck.abort"}
	if diff := cmp.Diff(want, l.StalePatterns()); diff != "" {
		t.Errorf("StalePatterns (-want +got):\n%s", diff)
	}
}
