package roles

import (
	"errors"
	"os"
	"strings"
	"testing"

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
		_, err := parseConfig("f.yaml", data)
		check(err)
		_, err = Build(Sources{
			Flags:    Flags{Config: "f.yaml", Nodelist: "n[1-64]", Command: "pytest", Workspace: "/ws"},
			ReadFile: func(string) ([]byte, error) { return data, nil },
		})
		check(err)
	})
}
