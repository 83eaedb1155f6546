package taskopts

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestArgs(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want []string
	}{
		{name: "defaults", opts: Defaults(), want: nil},
		{name: "zero values mean the defaults, but for the booleans and the heartbeat (none)", opts: Options{},
			want: []string{"--barrier=false", "--env-dump=false", "--llmsrc-setup=false", "--ld-library-path=false", "--node-heartbeat", "0s"}},
		{
			name: "everything",
			opts: Options{
				Role: "GEN_0", Kind: KindGen, CoordDir: "/ws/.disagg-supervisor/runs/42.0.7", InstallCommand: "pip install -e .",
				InstallTimeout: 45 * time.Minute, Barrier: true, BarrierTimeout: 90 * time.Second, UnsetSlurm: UnsetNever,
				Setup: "/opt/env.sh:setup_env", Rank0: "make coverage", After: []string{"drain", "classify"},
				AfterRank0: []string{"perf_check"}, AfterTimeout: time.Minute, AfterDecides: true,
				CommandVar: "cmd", NodeHeartbeat: 500 * time.Millisecond,
			},
			want: []string{
				"--role", "GEN_0", "--kind", "gen", "--coord-dir", "/ws/.disagg-supervisor/runs/42.0.7",
				"--install-command", "pip install -e .", "--install-timeout", "45m0s",
				"--barrier-timeout", "1m30s", "--setup", "/opt/env.sh:setup_env", "--rank0", "make coverage",
				"--after", "drain", "--after", "classify", "--after-rank0", "perf_check", "--after-timeout", "1m0s",
				"--after-decides", "--unset-slurm", "never",
				"--env-dump=false", "--llmsrc-setup=false", "--ld-library-path=false", "--command-var", "cmd",
				"--node-heartbeat", "500ms",
			},
		},
		{
			name: "values equal to the defaults are left out",
			opts: func() Options {
				o := Defaults()
				o.Role, o.Kind, o.CoordDir = "BENCHMARK", KindBenchmark, "/c"
				o.InstallTimeout, o.UnsetSlurm, o.CommandVar = DefaultInstallTimeout, UnsetAuto, DefaultCommandVar
				return o
			}(),
			want: []string{"--role", "BENCHMARK", "--kind", "benchmark", "--coord-dir", "/c"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.opts.Args()
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Args (-want +got):\n%s", diff)
			}
			back, err := Parse(got)
			if err != nil {
				t.Fatalf("Parse(%q): %v", got, err)
			}
			if diff := cmp.Diff(tt.opts.WithDefaults(), back); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRoundTripAwkwardValues: values that look like flags, are empty-ish or hold shell syntax pass
// through argv unchanged.
func TestRoundTripAwkwardValues(t *testing.T) {
	for _, v := range []string{"-x", "--", "--barrier", " ", "a b", "'quoted' \"x\" $HOME; rm -rf /", "=", "ü"} {
		o := Defaults()
		o.Role, o.CoordDir, o.InstallCommand, o.CommandVar = v, v, v, v
		got, err := Parse(o.Args())
		if err != nil {
			t.Fatalf("Parse(%q): %v", o.Args(), err)
		}
		if diff := cmp.Diff(o, got); diff != "" {
			t.Errorf("value %q (-want +got):\n%s", v, diff)
		}
	}
}

func FuzzRoundTrip(f *testing.F) {
	f.Add("GEN_0", uint8(0), "/c", "pip install .", int64(time.Minute), true, int64(time.Second), uint8(2), true, false, true, "pytestCommand", "prep", "drain", int64(time.Second), true)
	f.Add("", uint8(4), "", "", int64(0), false, int64(-1), uint8(3), false, false, false, "", "", "", int64(0), false)
	f.Fuzz(func(t *testing.T, role string, kind uint8, coordDir, install string, installTimeout int64, barrier bool,
		barrierTimeout int64, unset uint8, envDump, llmSrc, ldPath bool, commandVar, rank0, after string, afterTimeout int64, decides bool) {
		kinds := []Kind{KindGen, KindCtx, KindServer, KindBenchmark, ""}
		modes := []UnsetMode{UnsetAuto, UnsetAlways, UnsetNever, ""}
		o := Options{
			Role: role, Kind: kinds[int(kind)%len(kinds)], CoordDir: coordDir, InstallCommand: install,
			InstallTimeout: time.Duration(installTimeout), Barrier: barrier, BarrierTimeout: time.Duration(barrierTimeout),
			UnsetSlurm: modes[int(unset)%len(modes)], EnvDump: envDump, LLMSrcSetup: llmSrc, LDLibraryPath: ldPath,
			CommandVar: commandVar, Rank0: rank0, AfterTimeout: time.Duration(afterTimeout), AfterDecides: decides,
		}
		if after != "" {
			// A command that is given is kept as it is, empty included, in the order given.
			o.After, o.AfterRank0 = []string{after, ""}, []string{after}
		}
		args := o.Args()
		got, err := Parse(args)
		if err != nil {
			t.Fatalf("Parse(%q): %v", args, err)
		}
		if diff := cmp.Diff(o.WithDefaults(), got); diff != "" {
			t.Errorf("round trip of %q (-want +got):\n%s", args, diff)
		}
	})
}

func TestParseErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--kind=worker"}, `invalid value "worker" for flag -kind: must be one of gen, ctx, server, benchmark, aggregated`},
		{[]string{"--unset-slurm=sometimes"}, `invalid value "sometimes" for flag -unset-slurm: must be one of auto, always, never`},
		{[]string{"--install-timeout=0s"}, `invalid value "0s" for flag -install-timeout: want a positive duration, got 0s`},
		{[]string{"--barrier-timeout=soon"}, `invalid value "soon" for flag -barrier-timeout: not a duration`},
		{[]string{"--command-var="}, "flag --command-var must not be empty"},
		{[]string{"--role", "GEN_0", "bash"}, `unexpected argument "bash": the role command comes from $pytestCommand`},
		{[]string{"--no-such-flag"}, "flag provided but not defined: -no-such-flag"},
		{[]string{"--role"}, "flag needs an argument: -role"},
		{[]string{"--setup", ":f"}, `flag --setup: ":f": no file`},
		{[]string{"--setup", "/x.sh:1f"}, `flag --setup: "/x.sh:1f": "1f" after the last colon is not a function name`},
		{[]string{"--after-timeout=0s"}, `invalid value "0s" for flag -after-timeout: want a positive duration, got 0s`},
		{[]string{"--barrier-timeout=-1m"}, `invalid value "-1m" for flag -barrier-timeout: want a positive duration, got -1m0s`},
		{[]string{"--node-heartbeat=-1s"}, `invalid value "-1s" for flag -node-heartbeat: want a positive duration or 0 (off), got -1s`},
		{[]string{"--node-heartbeat=often"}, `invalid value "often" for flag -node-heartbeat: not a duration`},
	} {
		_, err := Parse(tt.args)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want an error with %q", tt.args, err, tt.want)
		}
	}
	if _, err := Parse([]string{"--help"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help: %v, want flag.ErrHelp", err)
	}
}

// TestHelpShowsTheDefaults: the help lists every flag Parse knows, once, with the defaults Parse
// gives and a name for its value.
func TestHelpShowsTheDefaults(t *testing.T) {
	got := map[string]FlagHelp{}
	var names []string
	for _, h := range Help() {
		if _, dup := got[h.Name]; dup {
			t.Errorf("--%s is listed twice", h.Name)
		}
		got[h.Name] = h
		names = append(names, h.Name)
		if h.Help == "" || strings.Contains(h.Help, "`") {
			t.Errorf("--%s: help %q", h.Name, h.Help)
		}
		if h.Bool == (h.Placeholder != "") {
			t.Errorf("--%s: bool %v, placeholder %q: want a placeholder exactly for a flag with a value", h.Name, h.Bool, h.Placeholder)
		}
	}
	opts := Defaults()
	fs := newFlagSet(&opts, io.Discard)
	fs.VisitAll(func(f *flag.Flag) {
		if _, ok := got[f.Name]; !ok {
			t.Errorf("--%s is missing from the help", f.Name)
		}
	})
	if names[0] != "role" || names[1] != "kind" || names[2] != "coord-dir" {
		t.Errorf("help order %v: want the order of definition, role, kind and coord-dir first", names)
	}
	for name, want := range map[string]FlagHelp{
		"install-timeout": {Default: "30m0s", Placeholder: "DURATION", Duration: true},
		"barrier-timeout": {Default: "1h0m0s", Placeholder: "DURATION", Duration: true},
		"after-timeout":   {Default: "5m0s", Placeholder: "DURATION", Duration: true},
		"node-heartbeat":  {Default: "10s", Placeholder: "DURATION", Duration: true},
		"unset-slurm":     {Default: "auto", Placeholder: "VALUE"},
		"command-var":     {Default: "pytestCommand", Placeholder: "STRING"},
		"barrier":         {Default: "true", Bool: true},
		"env-dump":        {Default: "true", Bool: true},
		"after-decides":   {Default: "false", Bool: true},
		"role":            {Placeholder: "ROLE"},
		"setup":           {Placeholder: "FILE[:FUNCTION]"},
		"after":           {Placeholder: "COMMAND"},
	} {
		h := got[name]
		if h.Default != want.Default || h.Placeholder != want.Placeholder || h.Bool != want.Bool || h.Duration != want.Duration {
			t.Errorf("--%s: %+v, want default %q, placeholder %q, bool %v, duration %v",
				name, h, want.Default, want.Placeholder, want.Bool, want.Duration)
		}
	}
}

func TestUnsetModes(t *testing.T) {
	for _, m := range strings.Split(UnsetModes, ",") {
		if !UnsetMode(m).Valid() {
			t.Errorf("UnsetModes lists %q, which is not valid", m)
		}
	}
	if UnsetMode("").Valid() || UnsetMode("sometimes").Valid() {
		t.Error("an empty or unknown mode is valid")
	}
}

func TestSplitSetup(t *testing.T) {
	for _, tt := range []struct{ in, file, fn string }{
		{"/opt/env.sh", "/opt/env.sh", ""},
		{"/opt/env.sh:setup_env", "/opt/env.sh", "setup_env"},
		{"c:/odd:name.sh:fix-ucx", "c:/odd:name.sh", "fix-ucx"},
	} {
		file, fn, err := SplitSetup(tt.in)
		if err != nil || file != tt.file || fn != tt.fn {
			t.Errorf("SplitSetup(%q) = %q, %q, %v; want %q, %q", tt.in, file, fn, err, tt.file, tt.fn)
		}
	}
}

// TestJSONRoundTrip: plan --json shows every option with its effective value, and reads back.
func TestJSONRoundTrip(t *testing.T) {
	o := Options{Role: "GEN_0", Kind: KindGen, CoordDir: "/c", Setup: "/e.sh:f", After: []string{"a"}, AfterDecides: true}
	data, err := o.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"barrier":false`, `"barrier_timeout":"1h0m0s"`, `"node_heartbeat":"0s"`, `"after":["a"]`, `"after_timeout":"5m0s"`, `"setup":"/e.sh:f"`, `"unset_slurm":"auto"`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("JSON lacks %s: %s", want, data)
		}
	}
	var back Options
	if err := back.UnmarshalJSON(data); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(o.WithDefaults(), back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

// TestNodeHeartbeat: the heartbeat comes HeartbeatsPerTimeout times per node timeout, never more often
// than every 100 ms, and not at all without a node watch; the default period is the default
// timeout's, so that a plan with the default timeout renders no flag.
func TestNodeHeartbeat(t *testing.T) {
	for _, tt := range []struct{ timeout, want time.Duration }{
		{DefaultNodeTimeout, DefaultNodeHeartbeat}, {3 * time.Second, 500 * time.Millisecond},
		{300 * time.Second, 50 * time.Second}, {time.Millisecond, 100 * time.Millisecond}, {0, 0},
	} {
		if got := NodeHeartbeat(tt.timeout); got != tt.want {
			t.Errorf("NodeHeartbeat(%s) = %s, want %s", tt.timeout, got, tt.want)
		}
	}
	if got := Defaults().NodeHeartbeat; got != 10*time.Second {
		t.Errorf("default heartbeat %s, want 10s", got)
	}
	// A plan of an older version has no node_heartbeat: its tasks had the default.
	var o Options
	if err := o.UnmarshalJSON([]byte(`{"role":"GEN_0"}`)); err != nil || o.NodeHeartbeat != DefaultNodeHeartbeat {
		t.Errorf("no node_heartbeat: %s, %v; want the default", o.NodeHeartbeat, err)
	}
}
