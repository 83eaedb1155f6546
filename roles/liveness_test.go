package roles

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseLiveness(t *testing.T) {
	def := DefaultLivenessPeriod.Seconds()
	tests := []struct {
		spec string
		want Liveness
		err  string
	}{
		{spec: "DISAGG_SERVER=http:http://{node}:8000/health",
			want: Liveness{Type: ProbeHTTP, Target: "http://{node}:8000/health", PeriodSeconds: def, Failures: 3, StatusMin: 200, StatusMax: 299}},
		{spec: `DISAGG_SERVER=http:http://{node}:8000/health status=200 body="workers": ?[1-9]@2s/4`,
			want: Liveness{Type: ProbeHTTP, Target: "http://{node}:8000/health", PeriodSeconds: 2, Failures: 4, StatusMin: 200, StatusMax: 200, Body: `"workers": ?[1-9]`}},
		{spec: "GEN_*=http:http://{node}:8000/health status=200-399@500ms",
			want: Liveness{Type: ProbeHTTP, Target: "http://{node}:8000/health", PeriodSeconds: 0.5, Failures: 3, StatusMin: 200, StatusMax: 399}},
		{spec: "GEN_*=tcp:{node}:8000@1m/1", want: Liveness{Type: ProbeTCP, Target: "{node}:8000", PeriodSeconds: 60, Failures: 1}},
		{spec: "GEN_0=log:iteration \\d+@30s", want: Liveness{Type: ProbeLog, Target: "iteration \\d+", PeriodSeconds: 30, Failures: 3}},
		// An '@' not followed by a period is part of the target.
		{spec: "GEN_0=log:user@host@10s", want: Liveness{Type: ProbeLog, Target: "user@host", PeriodSeconds: def, Failures: 3}},
		{spec: "GEN_0=log:user@host", err: `--liveness "GEN_0=log:user@host": @host: not a duration: want @PERIOD such as @10s after the target (a target that holds '@' needs one)`},
		{spec: "GEN_0=http:http://h/health@10sec/3", err: `--liveness "GEN_0=http:http://h/health@10sec/3": @10sec: not a duration: want @PERIOD such as @10s after the target (a target that holds '@' needs one)`},
		{spec: "GEN_0=file:x @10s", err: `--liveness "GEN_0=file:x @10s": file target "x ": blanks around it`},
		{spec: "GEN_0=http:http://h/health @10s", err: `--liveness "GEN_0=http:http://h/health @10s": http target "http://h/health ": blanks around it`},
		{spec: "GEN_0=file:x@1s/0", err: `--liveness "GEN_0=file:x@1s/0": failures "0": want a positive integer`},
		{spec: "GEN_0", err: `--liveness "GEN_0": ` + livenessForm},
		{spec: "GEN_0=exec:true", err: `--liveness "GEN_0=exec:true": unknown check type "exec": want http, tcp, file or log`},
		{spec: "GEN_0=file:x@0s", err: `--liveness "GEN_0=file:x@0s": @0s: want a positive duration, got 0s`},
		{spec: "GEN_0=file:x@1s/0", err: `--liveness "GEN_0=file:x@1s/0": failures "0": want a positive integer`},
		{spec: "GEN_0=file:@1s", err: `--liveness "GEN_0=file:@1s": empty file target`},
		{spec: "GEN_0=http:http://h:1/ status=2xx", err: `--liveness "GEN_0=http:http://h:1/ status=2xx": status "2xx": want an HTTP status or a range such as 200-299`},
		{spec: "GEN_0=http:http://h:1/ status=300-200", err: `--liveness "GEN_0=http:http://h:1/ status=300-200": status "300-200": want an HTTP status or a range such as 200-299`},
		{spec: "GEN_0=http:http://h:1/ code=200", err: `--liveness "GEN_0=http:http://h:1/ code=200": http option "code=200": want status=CODE, status=LOW-HIGH or body=REGEXP`},
		{spec: "GEN_0=http:http://h:1/ body=(", err: "--liveness \"GEN_0=http:http://h:1/ body=(\": body is not a regular expression: error parsing regexp: missing closing ): `(`"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := livenessGrammar().parse(tt.spec, "--liveness "+quote(tt.spec))
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Errorf("error\n got: %v\nwant: %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, *got.liveness(got.check.Target)); diff != "" {
				t.Errorf("check (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLivenessOnPlan checks matching, placeholders, the environment and the flag's precedence.
func TestLivenessOnPlan(t *testing.T) {
	env := contractEnv()
	env["DISAGG_LIVENESS"] = "GEN_*=tcp:{node}:9000@5s;DISAGG_SERVER=tcp:{node}:1"
	p, err := Build(Sources{
		Flags:  Flags{Liveness: []string{"DISAGG_SERVER=http:http://{node}:8000/health body=\"workers\":[1-9]@2s/2"}},
		Getenv: getenv(env),
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*Liveness{}
	for _, r := range p.Roles {
		got[r.Name] = r.Liveness
	}
	want := map[string]*Liveness{
		"GEN_0":         {Type: ProbeTCP, Target: "gpu-a01:9000", PeriodSeconds: 5, Failures: 3},
		"GEN_1":         {Type: ProbeTCP, Target: "gpu-a03:9000", PeriodSeconds: 5, Failures: 3},
		"CTX_0":         nil,
		"DISAGG_SERVER": {Type: ProbeHTTP, Target: "http://gpu-a01:8000/health", PeriodSeconds: 2, Failures: 2, StatusMin: 200, StatusMax: 299, Body: `"workers":[1-9]`},
		"BENCHMARK":     nil,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("liveness (-want +got):\n%s", diff)
	}
	if d := got["GEN_0"].Period(); d != 5*time.Second {
		t.Errorf("period %s, want 5s", d)
	}
}

func TestLivenessTargetErrors(t *testing.T) {
	for _, tt := range []struct{ spec, want string }{
		{"GEN_0=tcp:{node}", `--liveness "GEN_0=tcp:{node}": tcp target "gpu-a01" is not host:port`},
		{"GEN_9=file:x", `--liveness "GEN_9=file:x": role pattern "GEN_9" matches no role of this plan`},
	} {
		_, err := Build(Sources{Flags: Flags{Liveness: []string{tt.spec}}, Getenv: getenv(contractEnv())})
		if err == nil || err.Error() != tt.want {
			t.Errorf("error\n got: %v\nwant: %s", err, tt.want)
		}
	}
	env := contractEnv()
	env["DISAGG_LIVENESS"] = "GEN_0=nope:x"
	_, err := Build(Sources{Getenv: getenv(env)})
	if want := `DISAGG_LIVENESS entry "GEN_0=nope:x": unknown check type "nope": want http, tcp, file or log`; err == nil || err.Error() != want {
		t.Errorf("error\n got: %v\nwant: %s", err, want)
	}
}

// TestLivenessInPlanTable: the plan's table shows each role's check with its conditions.
func TestLivenessInPlanTable(t *testing.T) {
	p, err := Build(Sources{Flags: Flags{Liveness: []string{`DISAGG_SERVER=http:http://{node}:8000/health status=200 body="workers":[1-9]@2s/2`}},
		Getenv: getenv(contractEnv())})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := WriteTable(&b, p); err != nil {
		t.Fatal(err)
	}
	want := `liveness DISAGG_SERVER: http http://gpu-a01:8000/health status=200-200 body="workers":[1-9] every 2s, 2 failures in a row` + "\n"
	if !strings.Contains(b.String(), want) {
		t.Errorf("table lacks %q:\n%s", want, b.String())
	}
}

// TestIdxPlaceholder: {idx} stays in a liveness target for the supervisor to resolve at each server
// configuration's start (checked as index 0), and is 0 in a readiness probe at the launch, whose
// ConfigTarget keeps it for the later configurations; a probe without it has no ConfigTarget.
func TestIdxPlaceholder(t *testing.T) {
	p, err := Build(Sources{Flags: Flags{Liveness: []string{"DISAGG_SERVER=tcp:{node}:800{idx}@2s"},
		Probes: []string{"DISAGG_SERVER=file:{out}/server.{idx}.addr", "GEN_*=file:{out}/{role}.up"}}, Getenv: getenv(contractEnv())})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range p.Roles {
		if r.Name != "DISAGG_SERVER" {
			continue
		}
		if r.Liveness == nil || r.Liveness.Target != "gpu-a01:800{idx}" {
			t.Errorf("liveness %+v, want target gpu-a01:800{idx}", r.Liveness)
		}
		if r.Probe == nil || !strings.HasSuffix(r.Probe.Target, "/server.0.addr") || !strings.HasSuffix(r.Probe.ConfigTarget, "/server.{idx}.addr") ||
			strings.Contains(r.Probe.ConfigTarget, "{out}") {
			t.Errorf("probe %+v, want {idx} as 0, and kept (the rest expanded) in its config target", r.Probe)
		}
	}
	for _, r := range p.Roles {
		if r.Kind == KindGen && (r.Probe == nil || r.Probe.ConfigTarget != "") {
			t.Errorf("%s probe %+v, want no config target (no {idx})", r.Name, r.Probe)
		}
	}
	if _, err := Build(Sources{Flags: Flags{Liveness: []string{"DISAGG_SERVER=tcp:{node}{idx}"}}, Getenv: getenv(contractEnv())}); err == nil {
		t.Error("a tcp target without a port passed with {idx}")
	}
}
