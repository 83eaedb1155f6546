package bench

import (
	"os"
	"path/filepath"
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
