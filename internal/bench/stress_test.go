package bench

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestCheckDemo(t *testing.T) {
	ws := t.TempDir()
	write := func(s string) {
		if err := os.WriteFile(filepath.Join(ws, "summary.json"), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"state":"failed","exit_code":3,"failure":{"role":"GEN_0"}}`)
	if m := checkDemo(ws, 3, 3, "GEN_0", ""); m != "" {
		t.Errorf("a run as wanted: %q", m)
	}
	if m := checkDemo(ws, 3, 3, "CTX_0", ""); m != "summary.json failure.role GEN_0, want CTX_0" {
		t.Errorf("wrong role: %q", m)
	}
	write(`{"state":"succeeded","exit_code":0}`)
	if m := checkDemo(ws, 0, 3, "GEN_0", ""); m != `exit code 0, want 3; summary.json has no failure (state "succeeded"), want failure.role GEN_0` {
		t.Errorf("no failure: %q", m)
	}
	if m := checkDemo(ws, 0, 0, "", "succeeded"); m != "" {
		t.Errorf("a successful run: %q", m)
	}
	if m := checkDemo(ws, 5, 0, "", "succeeded"); !strings.Contains(m, "summary.json exit_code 0, but the process exited 5") {
		t.Errorf("a summary that disagrees with the exit code: %q", m)
	}
}

func TestStressMarkdown(t *testing.T) {
	st := stressResults{N: 2, Load: 2, Machine: machine{NProc: 2}, Parts: []stressPart{{Kind: "slurm", Skipped: "--only local"}},
		Scenarios: []stressScenario{{Name: "TestA", Kind: "local", Runs: 2, Passed: 1, Failures: []string{"run 1: a|b"}}}}
	md := markdown(results{}, &st, "")
	for _, want := range []string{"## Under load: scripts/stress.sh", "| TestA | local | 1/2 | run 1: a\\|b |", "slurm part: not run (--only local)", "1 of 1 scenarios failed"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(markdown(results{}, nil, ""), "Under load") {
		t.Error("a stress section without bench/stress.json")
	}
}

// TestMarkdownAppendsByScript: the figures of bench/by-script.md close every rendering, so that a new
// run of the suite keeps them.
func TestMarkdownAppendsByScript(t *testing.T) {
	md := markdown(results{}, nil, "## From a script\n\n- 1.5 s\n")
	if !strings.HasSuffix(md, "\n## From a script\n\n- 1.5 s\n") {
		t.Errorf("rendering does not end with the by-script figures:\n%s", md)
	}
}

// TestReadPartsLoop: the supervisor's decision tables, which scripts/stress.sh runs from their own
// test binary beside the local process-level scenarios, are a part of their own, read before the others.
func TestReadPartsLoop(t *testing.T) {
	raw := t.TempDir()
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "a_test.go"), []byte(sampleSource), 0o644); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"loop.log":      "=== RUN   TestB\n--- PASS: TestB (0.00s)\nPASS\n",
		"loop.src":      src,
		"loop.exit":     "0",
		"loop.seconds":  "3",
		"loop.optional": "TestB\nTestGone",
		"local.skipped": "--only slurm",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(raw, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	parts, scenarios, err := readParts(raw, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 2 || parts[0].Kind != "loop" || parts[0].Seconds != 3 || !slices.Equal(parts[0].Absent, []string{"TestGone"}) ||
		parts[1].Kind != "local" || parts[1].Skipped != "--only slurm" {
		t.Errorf("parts %+v, want loop (3 s, TestGone absent) then local (skipped)", parts)
	}
	if len(scenarios) != 1 || scenarios[0].Name != "TestB" || scenarios[0].Kind != "loop" || scenarios[0].Passed != 1 {
		t.Errorf("scenarios %+v, want TestB of the loop part, passed once", scenarios)
	}
}
