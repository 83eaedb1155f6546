package roles

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"mvdan.cc/sh/v3/syntax"
)

// FuzzDeriveCommands checks wrapper removal and derivation on arbitrary base commands: no panic;
// when the base parses, the result of removal parses, has no wrapper in command position, and
// every derived role command parses.
func FuzzDeriveCommands(f *testing.F) {
	for _, s := range []string{
		testBase,
		"A=1 trtllm-llmapi-launch pytest a.py | tee log && trtllm-llmapi-launch b",
		`"trtllm-llmapi-launch" /opt/trtllm-llmapi-launch pytest --junit-xml=trtllm-llmapi-launch.xml`,
		"trtllm-llmapi-launch if x; then y; fi",
		"{ trtllm-llmapi-launch; }",
		"cat <<EOF\ntrtllm-llmapi-launch\nEOF\ntrtllm-llmapi-launch \\\n x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, base string) {
		parsed, perr := parseShell(base)
		base = trimBlanks(base)
		out, err := removeWrapper(base, DefaultWrapper)
		if perr != nil {
			return
		}
		if err != nil {
			t.Fatalf("removeWrapper(%q): %v", base, err)
		}
		if err := checkShell(out); err != nil {
			t.Fatalf("removeWrapper(%q) = %q, which does not parse: %v", base, out, err)
		}
		if wrapperInCommandPosition(t, out) {
			t.Fatalf("removeWrapper(%q) = %q still runs the wrapper", base, out)
		}
		if runsNothing(parsed) {
			return // Build rejects such a base before deriving from it
		}
		d := derivation{
			base:      commandSource{v: base},
			noWrapper: commandSource{v: out},
			wrapper:   DefaultWrapper,
			unset:     strings.Fields(DefaultUnset),
		}
		for _, cmd := range []string{deriveGen(d), deriveCtx(d), deriveServer(d), deriveBenchmark(d)} {
			if err := checkShell(cmd); err != nil {
				t.Fatalf("derived %q from %q does not parse: %v", cmd, base, err)
			}
		}
		for _, cmd := range []string{deriveServer(d), deriveBenchmark(d)} {
			if wrapperInCommandPosition(t, cmd) {
				t.Fatalf("derived %q from %q runs the wrapper", cmd, base)
			}
		}
	})
}

// wrapperInCommandPosition reports whether any simple command of cmd runs the wrapper.
func wrapperInCommandPosition(t *testing.T, cmd string) bool {
	f, err := parseShell(cmd)
	if err != nil {
		t.Fatalf("%q does not parse: %v", cmd, err)
	}
	found := false
	syntax.Walk(f, func(n syntax.Node) bool {
		if call, ok := n.(*syntax.CallExpr); ok && len(call.Args) > 0 && isWrapper(call.Args[0], DefaultWrapper) {
			found = true
		}
		return !found
	})
	return found
}

// FuzzConfig checks that no config file makes parsing or planning panic, and that every error is a
// one-line *InputError.
func FuzzConfig(f *testing.F) {
	for _, name := range []string{"testdata/disagg-2gen-1ctx.yaml", "testdata/gen-only.yaml", "testdata/gen-only-no-context.yaml"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("hardware: {gpus_per_node: 4, num_gen_servers: 99999999999}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(err error) {
			if err == nil {
				return
			}
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v (%T), want an *InputError", err, err)
			}
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("error spans lines: %q", err)
			}
		}
		c, err := parseConfig("f.yaml", data)
		check(err)
		if err == nil {
			// What a parsed config hands on is within its bounds.
			if c.gpusPerGen < 1 || c.gpusPerGen > maxCount || c.gpusPerCtx < 1 || c.gpusPerCtx > maxCount || c.queueSize() < 1 {
				t.Fatalf("config out of bounds: %+v", c)
			}
			for _, n := range c.concurrency {
				if n < 1 || n > maxCount {
					t.Fatalf("concurrency %d out of bounds", n)
				}
			}
		}
		_, err = Build(Sources{
			Flags:    Flags{Config: "f.yaml", Nodelist: "n[1-64]", Command: "pytest", Workspace: "/ws"},
			ReadFile: func(string) ([]byte, error) { return data, nil },
		})
		check(err)
	})
}

// inputError fails t unless err is a one-line *InputError.
func inputError(t *testing.T, err error) {
	t.Helper()
	var ie *InputError
	if !errors.As(err, &ie) {
		t.Fatalf("error %v (%T), want an *InputError", err, err)
	}
	if strings.ContainsAny(err.Error(), "\n\r") {
		t.Fatalf("error spans lines: %q", err)
	}
}

// FuzzProbe checks the --probe grammar: every spec is refused with a one-line *InputError, or
// parses into a positive timeout and a target without stray blanks that, written back as
// ROLE=TYPE:TARGET@TIMEOUT, parses to the same probe.
func FuzzProbe(f *testing.F) {
	for _, s := range []string{
		"GEN_*=http:http://{node}:8000/health@20m", "DISAGG_SERVER=tcp:{node}:8000", "*=file:{out}/{role}.ready@1h",
		"CTX_0=log:user@host ready@30m", "GEN_0=http:http://h/health@20mins", "GEN_0=http:http://h/health @20m",
		"GEN_0=file:x@0s", "GEN_[=file:x", "=http:x", "GEN_0=log:@@", "GEN_0=file: x",
	} {
		f.Add(s)
	}
	const def = 30 * time.Minute
	f.Fuzz(func(t *testing.T, spec string) {
		p, err := probeGrammar(def).parse(spec, "--probe "+quote(spec))
		if err != nil {
			inputError(t, err)
			return
		}
		if p.timeout <= 0 || !p.check.Type.Valid() || strings.TrimSpace(p.check.Target) != p.check.Target || p.check.Target == "" {
			t.Fatalf("--probe %q parses to %+v", spec, p)
		}
		again := p.pattern + "=" + string(p.check.Type) + ":" + p.check.Target + "@" + p.timeout.String()
		q, err := probeGrammar(def).parse(again, "--probe")
		if err != nil {
			t.Fatalf("%q, written back from %q, does not parse: %v", again, spec, err)
		}
		if q.pattern != p.pattern || q.check != p.check || q.timeout != p.timeout {
			t.Fatalf("%q parses to %+v, written back as %q to %+v", spec, p, again, q)
		}
	})
}

// FuzzLiveness checks the --liveness grammar the same way: a one-line *InputError, or a check with
// a positive period and failure count that, written back, parses to the same check.
func FuzzLiveness(f *testing.F) {
	for _, s := range []string{
		`DISAGG_SERVER=http:http://{node}:8000/health status=200 body="workers": ?[1-9]@10s/3`,
		"GEN_*=log:heartbeat@2s", "GEN_0=tcp:{node}:9000@1s/5", "GEN_0=http:http://h:1/ status=2xx",
		"GEN_0=http:http://h/health@10sec/3", "GEN_0=log:user@host", "GEN_0=file:x@1s/0", "GEN_0=http:http://h/ status=500-599 body=a b@1m",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		l, err := livenessGrammar().parse(spec, "--liveness "+quote(spec))
		if err != nil {
			inputError(t, err)
			return
		}
		c := *l.liveness(l.check.Target)
		if c.PeriodSeconds <= 0 || c.Failures < 1 || !c.Type.Valid() || c.Target == "" {
			t.Fatalf("--liveness %q parses to %+v", spec, c)
		}
		target := c.Target
		if c.Type == ProbeHTTP {
			target += fmt.Sprintf(" status=%d-%d", c.StatusMin, c.StatusMax)
			if c.Body != "" {
				target += " body=" + c.Body
			}
		}
		again := fmt.Sprintf("%s=%s:%s@%s/%d", l.pattern, c.Type, target, c.Period(), c.Failures)
		m, err := livenessGrammar().parse(again, "--liveness")
		if err != nil {
			t.Fatalf("%q, written back from %q, does not parse: %v", again, spec, err)
		}
		mc := *m.liveness(m.check.Target)
		// The period goes through float seconds: a nanosecond either way is the same period.
		if d := mc.Period() - c.Period(); d < -time.Microsecond || d > time.Microsecond {
			t.Fatalf("%q: period %s, written back as %q: %s", spec, c.Period(), again, mc.Period())
		}
		mc.PeriodSeconds = c.PeriodSeconds
		if m.pattern != l.pattern || mc != c {
			t.Fatalf("%q parses to %+v, written back as %q to %+v", spec, c, again, mc)
		}
	})
}

// FuzzPreflight checks --preflight NAME=COMMAND through Build: a one-line *InputError, or one
// check step on every node whose name is a valid check name and whose command is valid shell.
func FuzzPreflight(f *testing.F) {
	for _, s := range []string{
		"disk=test $(df --output=avail -k . | tail -1) -gt 1000000", "gpus=nvidia-smi -L", "nvidia-smi",
		"a b=true", "x=", "=true", "n=echo \"x", "n.1-a_b=exit 3",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		p, err := Build(Sources{Flags: Flags{Nodelist: "n[1-3]", GPUsPerNode: ptr(2), NumGen: ptr(1), NodesPerGen: ptr(1),
			Command: "pytest x", Workspace: "/ws", Preflight: []string{spec}}})
		if err != nil {
			inputError(t, err)
			return
		}
		if len(p.Preflight) != 1 {
			t.Fatalf("%q: %d checks, want 1", spec, len(p.Preflight))
		}
		c := p.Preflight[0]
		if !checkName.MatchString(c.Check) || c.Name != "PREFLIGHT_"+c.Check || c.NTasks != 3 || len(c.Nodes) != 3 {
			t.Fatalf("%q: check %+v", spec, c)
		}
		if err := checkShell(c.Command); err != nil {
			t.Fatalf("%q: command %q does not parse: %v", spec, c.Command, err)
		}
	})
}
