package bench

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// sampleSource is the test file the sample outputs below were printed by (go1.26, -test.v); its line
// numbers matter.
const sampleSource = `package gts

import (
	"os"
	"testing"
	"time"
)

func check(t *testing.T, ok bool) {
	t.Helper()
	if !ok {
		t.Fatalf("helper failed")
	}
}

func TestA(t *testing.T) {
	t.Parallel()
	t.Log("info from A")
	time.Sleep(20 * time.Millisecond)
	if os.Getenv("FAILA") != "" {
		t.Errorf("A failed:\nsecond line")
	}
}

func TestB(t *testing.T) {
	t.Parallel()
	t.Logf("info from B")
	check(t, os.Getenv("FAILB") == "")
}

func TestSubs(t *testing.T) {
	for _, n := range []string{"one thing", "two"} {
		t.Run(n, func(t *testing.T) {
			t.Parallel()
			t.Log("sub info", n)
			time.Sleep(10 * time.Millisecond)
			if n == "two" && os.Getenv("FAILSUB") != "" {
				t.Error("sub two failed")
			}
		})
	}
}

func finish(t *testing.T, bad bool) {
	t.Helper()
	t.Logf("job %d ended %s", 42, "X")
	if bad {
		t.Fatalf("summary: %v",
			"broken")
	}
}

func TestFinish(t *testing.T) {
	finish(t,
		os.Getenv("FAILFINISH") != "")
}
`

// sampleOutput is two runs (-test.count 2): the first with every failure on, the second with none.
const sampleOutput = `=== RUN   TestA
=== PAUSE TestA
=== RUN   TestB
=== PAUSE TestB
=== RUN   TestSubs
=== RUN   TestSubs/one_thing
=== PAUSE TestSubs/one_thing
=== RUN   TestSubs/two
=== PAUSE TestSubs/two
=== CONT  TestSubs/one_thing
    a_test.go:35: sub info one thing
=== CONT  TestSubs/two
    a_test.go:35: sub info two
    a_test.go:38: sub two failed
--- FAIL: TestSubs (0.00s)
    --- PASS: TestSubs/one_thing (0.01s)
    --- FAIL: TestSubs/two (0.01s)
=== RUN   TestFinish
    a_test.go:54: job 42 ended X
    a_test.go:54: summary: broken
--- FAIL: TestFinish (0.00s)
=== CONT  TestA
    a_test.go:18: info from A
=== CONT  TestB
    a_test.go:27: info from B
    a_test.go:28: helper failed
--- FAIL: TestB (0.00s)
=== NAME  TestA
    a_test.go:21: A failed:
        second line
--- FAIL: TestA (0.02s)
=== RUN   TestA
=== PAUSE TestA
=== RUN   TestB
=== PAUSE TestB
=== RUN   TestSubs
=== RUN   TestSubs/one_thing
=== PAUSE TestSubs/one_thing
=== RUN   TestSubs/two
=== PAUSE TestSubs/two
=== CONT  TestSubs/one_thing
    a_test.go:35: sub info one thing
=== CONT  TestSubs/two
    a_test.go:35: sub info two
--- PASS: TestSubs (0.00s)
    --- PASS: TestSubs/one_thing (0.01s)
    --- PASS: TestSubs/two (0.01s)
=== RUN   TestFinish
    a_test.go:54: job 42 ended X
--- PASS: TestFinish (0.00s)
=== CONT  TestA
    a_test.go:18: info from A
=== CONT  TestB
    a_test.go:27: info from B
--- PASS: TestB (0.00s)
=== NAME  TestA
--- PASS: TestA (0.02s)
FAIL
`

func sampleIndex(t *testing.T) *sourceIndex {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a_test.go"), []byte(sampleSource), 0o644); err != nil {
		t.Fatal(err)
	}
	return newSourceIndex(dir)
}

func byName(ss []stressScenario) map[string]stressScenario {
	out := map[string]stressScenario{}
	for _, s := range ss {
		out[s.Name] = s
	}
	return out
}

func TestParseTestLog(t *testing.T) {
	log := parseTestLog(strings.NewReader(sampleOutput), sampleIndex(t))
	got := byName(log.scenarios("local", 2, 1, "gts", nil))
	want := map[string]struct {
		passed  int
		message string
	}{
		"TestA":              {1, "run 1: a_test.go:21: A failed:"},
		"TestB":              {1, "run 1: a_test.go:28: helper failed"},
		"TestSubs":           {1, "run 1: two: a_test.go:38: sub two failed"},
		"TestSubs/one_thing": {2, ""},
		"TestSubs/two":       {1, "run 1: a_test.go:38: sub two failed"},
		"TestFinish":         {1, "run 1: a_test.go:54: summary: broken"},
	}
	if len(got) != len(want) {
		t.Errorf("scenarios %v, want the %d of the sample", got, len(want))
	}
	for name, w := range want {
		s := got[name]
		if s.Runs != 2 || s.Passed != w.passed {
			t.Errorf("%s: %d/%d, want %d/2", name, s.Passed, s.Runs, w.passed)
		}
		if msg := strings.Join(s.Failures, "|"); msg != w.message {
			t.Errorf("%s: failures %q, want %q", name, msg, w.message)
		}
	}
}

func TestParseTestLogUnfinished(t *testing.T) {
	out := `=== RUN   TestA
=== PAUSE TestA
=== RUN   TestB
    a_test.go:27: info from B
--- PASS: TestB (0.00s)
=== CONT  TestA
panic: test timed out after 1s
	running tests:
		TestA (1s)

goroutine 1 [running]:
`
	got := byName(parseTestLog(strings.NewReader(out), sampleIndex(t)).scenarios("slurm", 3, 2, "gts", []string{"TestA", "TestC"}))
	if a := got["TestA"]; a.Runs != 3 || a.Passed != 0 || !strings.Contains(a.Failures[0], "run 1: panic: test timed out after 1s") ||
		!strings.Contains(a.Failures[1], "run 2: not reached: the test binary exited 2: panic: test timed out") {
		t.Errorf("TestA %+v, want 3 failing runs, the first timed out", a)
	}
	if b := got["TestB"]; b.Runs != 3 || b.Passed != 1 {
		t.Errorf("TestB %+v, want 1/3", b)
	}
	if c := got["TestC"]; c.Runs != 3 || c.Passed != 0 || !strings.HasPrefix(c.Failures[0], "run 1: never ran: ") {
		t.Errorf("TestC %+v, want 0/3, never ran", c)
	}
}

func TestParseTestLogBinaryFailure(t *testing.T) {
	out := "=== RUN   TestB\n--- PASS: TestB (0.00s)\nPASS\ngoleak: found unexpected goroutines:\n[Goroutine 7 in state sleep]\n"
	ss := parseTestLog(strings.NewReader(out), sampleIndex(t)).scenarios("local", 1, 1, "supervisor", nil)
	if len(ss) != 2 || ss[1].Name != "go test ./supervisor (the test binary)" || ss[1].Failed() != 1 ||
		ss[1].Failures[0] != "run 1: the test binary exited 1: goleak: found unexpected goroutines:" {
		t.Errorf("scenarios %+v, want TestB and a failing binary that names the leak", ss)
	}
}

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
