package roles

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseProbe(t *testing.T) {
	const def = 30 * time.Minute
	tests := []struct {
		spec string
		want checkSpec
		err  string
	}{
		{spec: "GEN_*=http:http://{node}:8000/health", want: checkSpec{pattern: "GEN_*", check: HealthCheck{Type: "http", Target: "http://{node}:8000/health"}, timeout: def}},
		{spec: "DISAGG_SERVER=tcp:{node}:8000@90s", want: checkSpec{pattern: "DISAGG_SERVER", check: HealthCheck{Type: "tcp", Target: "{node}:8000"}, timeout: 90 * time.Second}},
		{spec: "*=file:{out}/{role}.ready@1h", want: checkSpec{pattern: "*", check: HealthCheck{Type: "file", Target: "{out}/{role}.ready"}, timeout: time.Hour}},
		{spec: "CTX_0=log:Uvicorn running on .*@5m", want: checkSpec{pattern: "CTX_0", check: HealthCheck{Type: "log", Target: "Uvicorn running on .*"}, timeout: 5 * time.Minute}},
		// What follows the last '@' is the timeout: a target that holds '@' gives one.
		{spec: "CTX_0=log:user@host ready@30m", want: checkSpec{pattern: "CTX_0", check: HealthCheck{Type: "log", Target: "user@host ready"}, timeout: def}},
		{spec: "CTX_0=log:user@host ready", err: `--probe "CTX_0=log:user@host ready": @host ready: not a duration: want @TIMEOUT such as @20m after the target (a target that holds '@' needs one)`},
		{spec: "GEN_0=http:http://h/health@20mins", err: `--probe "GEN_0=http:http://h/health@20mins": @20mins: not a duration: want @TIMEOUT such as @20m after the target (a target that holds '@' needs one)`},
		{spec: "GEN_0=http:http://h/health@", err: `--probe "GEN_0=http:http://h/health@": @: not a duration: want @TIMEOUT such as @20m after the target (a target that holds '@' needs one)`},
		{spec: "GEN_0=http:http://h/health @20m", err: `--probe "GEN_0=http:http://h/health @20m": http target "http://h/health ": blanks around it`},
		{spec: "GEN_0=http: http://h/health", err: `--probe "GEN_0=http: http://h/health": http target " http://h/health": blanks around it`},
		{spec: "GEN_0=http:http://h/he alth", err: `--probe "GEN_0=http:http://h/he alth": http target "http://h/he alth" holds a blank`},
		{spec: "GEN_0=tcp:h :80", err: `--probe "GEN_0=tcp:h :80": tcp target "h :80" holds a blank`},
		{spec: "GEN_0=file:x@-1m", err: `--probe "GEN_0=file:x@-1m": @-1m: want a positive duration, got -1m0s`},
		{spec: "CTX_0=http:http://u@h:1/x@2m", want: checkSpec{pattern: "CTX_0", check: HealthCheck{Type: "http", Target: "http://u@h:1/x"}, timeout: 2 * time.Minute}},
		{spec: "GEN_0", err: `--probe "GEN_0": want ROLE=TYPE:TARGET[@TIMEOUT], e.g. GEN_*=http:http://{node}:8000/health@20m`},
		{spec: "=http:x", err: `--probe "=http:x": want ROLE=TYPE:TARGET[@TIMEOUT], e.g. GEN_*=http:http://{node}:8000/health@20m`},
		{spec: "GEN_0=http", err: `--probe "GEN_0=http": want ROLE=TYPE:TARGET[@TIMEOUT], e.g. GEN_*=http:http://{node}:8000/health@20m`},
		{spec: "GEN_[=file:x", err: `--probe "GEN_[=file:x": role pattern "GEN_[": syntax error in pattern`},
		{spec: "GEN_0=exec:true", err: `--probe "GEN_0=exec:true": unknown probe type "exec": want http, tcp, file or log`},
		{spec: "GEN_0=file:", err: `--probe "GEN_0=file:": empty file target`},
		{spec: "GEN_0=file:@5m", err: `--probe "GEN_0=file:@5m": empty file target`},
		{spec: "GEN_0=file:x@0s", err: `--probe "GEN_0=file:x@0s": @0s: want a positive duration, got 0s`},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			input := "--probe " + quote(tt.spec)
			got, err := probeGrammar(def).parse(tt.spec, input)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Errorf("error\n got: %v\nwant: %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.want.input = input
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(checkSpec{})); diff != "" {
				t.Errorf("spec (-want +got):\n%s", diff)
			}
		})
	}
}

// TestProbesOnPlan checks matching, placeholders, overrides and DISAGG_PROBES.
func TestProbesOnPlan(t *testing.T) {
	env := contractEnv()
	env["DISAGG_PROBES"] = "*=file:{out}/{role}.up@10m;  GEN_*=tcp:{node}:9000 ;"
	p, err := Build(Sources{
		Flags: Flags{
			ProbeTimeout: 2 * time.Minute,
			Probes: []string{
				"GEN_*=http:http://{node}:8000/health",
				"GEN_1=log:^{job} ready on {node}$@30s",
				"DISAGG_SERVER=http:http://{node}:8000/health",
			},
		},
		Getenv: getenv(env),
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*Probe{}
	for _, r := range p.Roles {
		got[r.Name] = r.Probe
	}
	want := map[string]*Probe{
		"GEN_0":         {Type: "http", Target: "http://gpu-a01:8000/health", TimeoutSeconds: 120},
		"GEN_1":         {Type: "log", Target: "^4242 ready on gpu-a03$", TimeoutSeconds: 30},
		"CTX_0":         {Type: "file", Target: "/lustre/ws/disagg/out/CTX_0.up", TimeoutSeconds: 600},
		"DISAGG_SERVER": {Type: "http", Target: "http://gpu-a01:8000/health", TimeoutSeconds: 120},
		"BENCHMARK":     {Type: "file", Target: "/lustre/ws/disagg/out/BENCHMARK.up", TimeoutSeconds: 600},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("probes (-want +got):\n%s", diff)
	}

	// Entries on separate lines may hold ';'.
	env["DISAGG_PROBES"] = "GEN_0=log:a;b\nCTX_0=file:{workspace}/x\n"
	p, err = Build(Sources{Getenv: getenv(env)})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Roles[0].Probe; got == nil || got.Target != "a;b" || got.TimeoutSeconds != DefaultProbeTimeout.Seconds() {
		t.Errorf("GEN_0 probe %+v", got)
	}
	if got := p.Roles[2].Probe; got == nil || got.Target != "/lustre/ws/disagg/x" {
		t.Errorf("CTX_0 probe %+v", got)
	}
}

// TestProbeGlobMayMatchNothing: one probe list serves the full and the gen-only layout.
func TestProbeGlobMayMatchNothing(t *testing.T) {
	env := contractEnv()
	env["TRTLLM_DISAGG_BENCHMARK_GEN_ONLY"] = "1"
	delete(env, "totalNodes")
	delete(env, "totalGpus")
	p, err := Build(Sources{Flags: Flags{Probes: []string{"CTX_*=file:x", "GEN_*=file:y"}}, Getenv: getenv(env)})
	if err != nil {
		t.Fatal(err)
	}
	if p.Roles[0].Probe == nil || p.Roles[0].Probe.Target != "y" {
		t.Errorf("GEN_0 probe %+v, want file y", p.Roles[0].Probe)
	}
}

func TestProbeTargetErrors(t *testing.T) {
	for _, tt := range []struct{ probe, want string }{
		{"GEN_0=tcp:{node}", `--probe "GEN_0=tcp:{node}": tcp target "gpu-a01" is not host:port`},
		{"GEN_0=http:{node}:80", `--probe "GEN_0=http:{node}:80": http target "gpu-a01:80" is not an http:// or https:// URL`},
		{"GEN_0=log:(", "--probe \"GEN_0=log:(\": log target is not a regular expression: error parsing regexp: missing closing ): `(`"},
		{"CTX_0=file:x", `--probe "CTX_0=file:x": role pattern "CTX_0" matches no role of this plan`},
	} {
		env := contractEnv()
		if tt.probe[:3] == "CTX" {
			env["TRTLLM_DISAGG_BENCHMARK_GEN_ONLY"] = "1"
			delete(env, "totalNodes")
			delete(env, "totalGpus")
		}
		_, err := Build(Sources{Flags: Flags{Probes: []string{tt.probe}}, Getenv: getenv(env)})
		if err == nil || err.Error() != tt.want {
			t.Errorf("error\n got: %v\nwant: %s", err, tt.want)
		}
	}
}
