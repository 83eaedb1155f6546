package bench

// The stress modes of disagg-bench, the Go half of scripts/stress.sh. The script runs the scenarios
// under load and leaves their raw output in one directory; these modes judge and count it, so that
// the counting is tested Go code rather than shell text processing:
//
//	disagg-bench stress-check  --name NAME --workspace DIR --exit CODE (--want-role R | --want-state S) --want-exit W --out FILE
//	disagg-bench stress-report --in DIR --n N --load K --command CMD [--stress-json F] [--json F] [--md F]
//
// stress-check judges one `disagg-supervisor demo` run by its exit code and its summary.json, and
// appends the verdict to FILE (JSON lines). stress-report reads the raw directory, writes
// bench/stress.json, prints each scenario's pass count and every failing run's first message, and
// renders BENCHMARKS.md again from bench/results.json and bench/stress.json.
//
// The raw directory holds, for each part P of the suite (loop, local, slurm):
//
//	P.log      the output of `go test -c` binary run with -test.v (stdout and stderr)
//	P.exit     that binary's exit status
//	P.src      the package directory the binary was built from (its *_test.go tell failure messages from logs)
//	P.seconds  wall time of the whole part, in seconds
//	P.expect   top-level tests that must appear, one a line (a test that never ran fails all its runs)
//	P.optional top-level tests that may not exist in this tree, one a line (reported as absent)
//	P.skipped  why the part did not run (then nothing else of P is read)
//	P.demo     stress-check's verdicts (JSON lines), counted under kind P
//
// Every file is optional; a part with none of them is left out.

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// stressResults is bench/stress.json: what scripts/stress.sh ran and how often each scenario passed.
type stressResults struct {
	Date    string `json:"date"`
	Command string `json:"command"`
	// N is the runs asked for each scenario; Load the busy loops that kept the cores busy.
	N         int              `json:"n"`
	Load      int              `json:"load"`
	Machine   machine          `json:"machine"`
	Parts     []stressPart     `json:"parts"`
	Scenarios []stressScenario `json:"scenarios"`
}

// stressPart is one part of the suite: how long it took, or why it did not run.
type stressPart struct {
	Kind    string  `json:"kind"`
	Seconds float64 `json:"seconds,omitempty"`
	Skipped string  `json:"skipped,omitempty"`
	// Absent lists the tests the script asked for that this tree does not have (yet).
	Absent []string `json:"absent,omitempty"`
}

// stressScenario is one test, subtest or demo run, and its pass count.
type stressScenario struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	Runs    int    `json:"runs"`
	Passed  int    `json:"passed"`
	Skipped int    `json:"skipped,omitempty"`
	// Failures holds the first message of up to maxStoredFailures failing runs, "run K: message".
	Failures []string `json:"failures,omitempty"`
	// all is every failing run's message, for the console.
	all []string
}

// Failed is the number of runs that neither passed nor were skipped.
func (s stressScenario) Failed() int { return s.Runs - s.Passed - s.Skipped }

const (
	maxStoredFailures = 3
	// maxMessage keeps one message to a readable line in the report.
	maxMessage = 300
)

// StressCommand runs the stress mode (stress-check or stress-report) with its arguments; the code is
// the process's exit status, and err, when not nil, what to print before exiting with it.
func StressCommand(mode string, args []string) (int, error) {
	switch mode {
	case "stress-check":
		return 0, stressCheck(args)
	case "stress-report":
		return stressReport(args)
	}
	return 2, fmt.Errorf("unknown mode %q (want stress-check or stress-report)", mode)
}

// demoVerdict is one line of a P.demo file.
type demoVerdict struct {
	Name    string `json:"name"`
	Passed  bool   `json:"passed"`
	Message string `json:"message,omitempty"`
}

// demoSummary is the part of summary.json the demo checks read. It is declared here rather than
// taken from the supervisor package so that the check states what the file must hold, whatever the
// package's own type becomes.
type demoSummary struct {
	State    string `json:"state"`
	ExitCode *int   `json:"exit_code"`
	Failure  *struct {
		Role string `json:"role"`
	} `json:"failure"`
}

func stressCheck(args []string) error {
	flags := flag.NewFlagSet("stress-check", flag.ContinueOnError)
	name := flags.String("name", "", "scenario name")
	ws := flags.String("workspace", "", "the demo's --workspace")
	exit := flags.Int("exit", -1, "the demo's exit status")
	wantExit := flags.Int("want-exit", 0, "the exit status it must have")
	wantRole := flags.String("want-role", "", "summary.json's failure.role it must have")
	wantState := flags.String("want-state", "", "summary.json's state it must have")
	out := flags.String("out", "", "JSON-lines file the verdict is appended to")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *name == "" || *ws == "" || *out == "" || *exit < 0 {
		return errors.New("stress-check: --name, --workspace, --exit and --out are required")
	}
	v := demoVerdict{Name: *name, Message: checkDemo(*ws, *exit, *wantExit, *wantRole, *wantState)}
	v.Passed = v.Message == ""
	line, err := json.Marshal(v)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(*out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return err
	}
	if v.Passed {
		fmt.Printf("ok    %s\n", v.Name)
	} else {
		fmt.Printf("FAIL  %s: %s (workspace %s)\n", v.Name, v.Message, *ws)
	}
	return f.Close()
}

// timeoutStatus is timeout(1)'s exit status, which the script's time limit on a demo run gives.
const timeoutStatus = 124

// checkDemo returns what is wrong with a demo run, or "" when it ended as wanted.
func checkDemo(ws string, exit, wantExit int, wantRole, wantState string) string {
	var problems []string
	if exit != wantExit {
		p := fmt.Sprintf("exit code %d, want %d", exit, wantExit)
		if exit == timeoutStatus {
			p += " (124: the demo was still running at the script's time limit and was killed)"
		}
		problems = append(problems, p)
	}
	data, err := os.ReadFile(filepath.Join(ws, "summary.json"))
	if err != nil {
		return strings.Join(append(problems, fmt.Sprintf("summary.json: %v", err)), "; ")
	}
	var s demoSummary
	if err := json.Unmarshal(data, &s); err != nil {
		return strings.Join(append(problems, fmt.Sprintf("summary.json: %v", err)), "; ")
	}
	// The summary is the run's record: it must agree with what the process said, unless the
	// process was killed from outside before it could finish the record.
	if exit != timeoutStatus && (s.ExitCode == nil || *s.ExitCode != exit) {
		problems = append(problems, fmt.Sprintf("summary.json exit_code %s, but the process exited %d", intOrNull(s.ExitCode), exit))
	}
	if wantRole != "" {
		switch {
		case s.Failure == nil:
			problems = append(problems, fmt.Sprintf("summary.json has no failure (state %q), want failure.role %s", s.State, wantRole))
		case s.Failure.Role != wantRole:
			problems = append(problems, fmt.Sprintf("summary.json failure.role %s, want %s", s.Failure.Role, wantRole))
		}
	}
	if wantState != "" && s.State != wantState {
		problems = append(problems, fmt.Sprintf("summary.json state %q, want %q", s.State, wantState))
	}
	return strings.Join(problems, "; ")
}

func intOrNull(p *int) string {
	if p == nil {
		return "null"
	}
	return strconv.Itoa(*p)
}

func stressReport(args []string) (int, error) {
	flags := flag.NewFlagSet("stress-report", flag.ContinueOnError)
	in := flags.String("in", "", "raw directory written by scripts/stress.sh")
	n := flags.Int("n", 0, "runs asked for each scenario")
	load := flags.Int("load", 0, "busy loops during the runs")
	command := flags.String("command", "scripts/stress.sh", "the command that ran the suite, for the report")
	stressOut := flags.String("stress-json", "bench/stress.json", "where the pass counts go")
	resultsIn := flags.String("json", "bench/results.json", "the benchmark results BENCHMARKS.md is rendered from")
	mdOut := flags.String("md", "BENCHMARKS.md", "where the report goes")
	if err := flags.Parse(args); err != nil {
		return 2, err
	}
	if *in == "" || *n < 1 {
		return 2, errors.New("stress-report: --in is required and --n must be at least 1")
	}
	st := stressResults{Date: time.Now().UTC().Format(time.RFC3339), Command: *command, N: *n, Load: *load, Machine: describeMachine()}
	parts, scenarios, err := readParts(*in, *n)
	if err != nil {
		return 2, err
	}
	st.Parts, st.Scenarios = parts, scenarios
	if err := writeJSON(*stressOut, st); err != nil {
		return 2, err
	}
	failing := printStress(os.Stdout, st)

	// BENCHMARKS.md is one document: the stress section joins the benchmark figures, which stay as
	// results.json has them.
	if data, err := os.ReadFile(*resultsIn); err != nil {
		logf("%s not rendered: %v", *mdOut, err)
	} else {
		var res results
		if err := json.Unmarshal(data, &res); err != nil {
			return 2, fmt.Errorf("%s: %w", *resultsIn, err)
		}
		byScript, err := readByScript(*resultsIn)
		if err != nil {
			return 2, err
		}
		if err := os.WriteFile(*mdOut, []byte(markdown(res, &st, byScript)), 0o644); err != nil {
			return 2, err
		}
	}
	if failing > 0 {
		return 1, fmt.Errorf("%d of %d scenarios failed at least one run", failing, len(st.Scenarios))
	}
	return 0, nil
}

// readStress reads bench/stress.json; a missing file is no stress section (nil, nil).
func readStress(path string) (*stressResults, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var st stressResults
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &st, nil
}

// readParts reads the raw files of every part the script may leave, in the order it runs them: the
// supervisor's decision tables (loop), the local process-level scenarios and demos (local), the
// cluster's scenarios (slurm).
func readParts(dir string, n int) ([]stressPart, []stressScenario, error) {
	var parts []stressPart
	var scenarios []stressScenario
	for _, kind := range []string{"loop", "local", "slurm"} {
		part, ss, err := readPart(dir, kind, n)
		if err != nil {
			return nil, nil, err
		}
		if part != nil {
			parts = append(parts, *part)
			scenarios = append(scenarios, ss...)
		}
	}
	return parts, scenarios, nil
}

// readPart reads the raw files of one part; nil when the script left none.
func readPart(dir, kind string, n int) (*stressPart, []stressScenario, error) {
	file := func(ext string) string { return filepath.Join(dir, kind+"."+ext) }
	text := func(ext string) (string, bool) {
		data, err := os.ReadFile(file(ext))
		return strings.TrimSpace(string(data)), err == nil
	}
	part := &stressPart{Kind: kind}
	present := false
	if why, ok := text("skipped"); ok {
		part.Skipped = why
		return part, nil, nil
	}
	if s, ok := text("seconds"); ok {
		present = true
		part.Seconds, _ = strconv.ParseFloat(s, 64)
	}
	var out []stressScenario
	if f, err := os.Open(file("log")); err == nil {
		present = true
		src, _ := text("src")
		status := 0
		if s, ok := text("exit"); ok {
			status, _ = strconv.Atoi(s)
		}
		expect, _ := text("expect")
		optional, _ := text("optional")
		log := parseTestLog(f, newSourceIndex(src))
		f.Close()
		out = log.scenarios(kind, n, status, filepath.Base(src), strings.Fields(expect))
		for _, name := range strings.Fields(optional) {
			if _, ok := log.runs[name]; !ok {
				part.Absent = append(part.Absent, name)
			}
		}
	}
	if f, err := os.Open(file("demo")); err == nil {
		present = true
		demos, err := readDemo(f, kind)
		f.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", file("demo"), err)
		}
		out = append(out, demos...)
	}
	if !present {
		return nil, nil, nil
	}
	return part, out, nil
}

// readDemo counts stress-check's verdicts by scenario, in the order they first appear.
func readDemo(r io.Reader, kind string) ([]stressScenario, error) {
	var out []stressScenario
	index := map[string]int{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var v demoVerdict
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			return nil, err
		}
		i, ok := index[v.Name]
		if !ok {
			i = len(out)
			index[v.Name] = i
			out = append(out, stressScenario{Name: v.Name, Kind: kind})
		}
		s := &out[i]
		s.Runs++
		if v.Passed {
			s.Passed++
		} else {
			s.fail(s.Runs, v.Message)
		}
	}
	return out, sc.Err()
}

// fail records the first message of failing run k.
func (s *stressScenario) fail(k int, msg string) {
	msg = fmt.Sprintf("run %d: %s", k, firstLine(msg))
	s.all = append(s.all, msg)
	if len(s.Failures) < maxStoredFailures {
		s.Failures = append(s.Failures, msg)
	}
}

// firstLine is the first line of a failure message, cut to what a stress table shows.
func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return truncate(s, maxMessage)
}

// scenarios counts each name's runs. status is the binary's exit status and pkg its package, for
// the runs that never got a result; expect are top-level tests that must have run.
func (l *testLog) scenarios(kind string, n, status int, pkg string, expect []string) []stressScenario {
	why := l.why(status)
	var out []stressScenario
	anyFailed := false
	for _, name := range append(append([]string(nil), l.order...), missing(expect, l.runs)...) {
		s := stressScenario{Name: name, Kind: kind}
		runs := l.runs[name]
		for k, r := range runs {
			switch r.result {
			case "PASS":
				s.Passed++
			case "SKIP":
				s.Skipped++
			case "FAIL":
				s.fail(k+1, orDefault(r.failureMessage(), "failed without a message"))
			default:
				s.fail(k+1, "no result: "+why)
			}
		}
		s.Runs = len(runs)
		// A top-level test runs once per count; the runs the binary never reached failed too.
		if !strings.Contains(name, "/") {
			for k := len(runs); k < n; k++ {
				if len(runs) == 0 {
					s.fail(k+1, "never ran: "+why)
				} else {
					s.fail(k+1, "not reached: "+why)
				}
				s.Runs++
			}
		}
		anyFailed = anyFailed || s.Failed() > 0
		out = append(out, s)
	}
	// A binary that failed with every test passing (a goroutine leak found by TestMain, a build
	// in TestMain that failed before any test) is a failure of its own.
	if status != 0 && !anyFailed {
		s := stressScenario{Name: "go test ./" + pkg + " (the test binary)", Kind: kind, Runs: 1}
		s.fail(1, why)
		out = append(out, s)
	}
	return out
}

func missing(names []string, runs map[string][]*testRun) []string {
	var out []string
	for _, name := range names {
		if _, ok := runs[name]; !ok {
			out = append(out, name)
		}
	}
	return out
}

// ignoredOther are lines of the test binaries' TestMain that every run prints, pass or fail: they
// say nothing about why a binary failed.
var ignoredOther = []string{"PASS", "FAIL", "ok ", "exit status", "integration: suite wall time", "integration: kept"}

// why describes how the binary ended, for runs without a result of their own.
func (l *testLog) why(status int) string {
	first := ""
	for _, line := range l.other {
		ignored := false
		for _, p := range ignoredOther {
			ignored = ignored || strings.HasPrefix(line, p)
		}
		if !ignored {
			first = line
			break
		}
	}
	switch {
	case first != "":
		return fmt.Sprintf("the test binary exited %d: %s", status, first)
	case status != 0:
		return fmt.Sprintf("the test binary exited %d", status)
	}
	return "the test binary exited 0 without it"
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// printStress prints each scenario's pass count and every failing run's first message; it returns
// how many scenarios failed at least one run.
func printStress(w io.Writer, st stressResults) int {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	failing := 0
	for _, p := range st.Parts {
		if p.Skipped != "" {
			fmt.Fprintf(tw, "%s\t(skipped: %s)\t\n", p.Kind, p.Skipped)
		}
	}
	for _, s := range st.Scenarios {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Kind, s.Name, passCount(s))
		if s.Failed() > 0 {
			failing++
		}
	}
	tw.Flush()
	for _, s := range st.Scenarios {
		if len(s.all) > 0 {
			fmt.Fprintf(w, "%s failed %d of %d runs:\n", s.Name, s.Failed(), s.Runs)
			for _, m := range s.all {
				fmt.Fprintf(w, "    %s\n", m)
			}
		}
	}
	for _, p := range st.Parts {
		if len(p.Absent) > 0 {
			fmt.Fprintf(w, "%s: not in this tree: %s\n", p.Kind, strings.Join(p.Absent, ", "))
		}
	}
	fmt.Fprintf(w, "stress: %d scenarios, %d failed at least one run (each ran %s %s)\n", len(st.Scenarios), failing, times(st.N), strings.ReplaceAll(loadText(st), "`", ""))
	return failing
}

func times(n int) string {
	if n == 1 {
		return "once"
	}
	return fmt.Sprintf("%d times", n)
}

// loadText says what else kept the machine busy during the runs.
func loadText(st stressResults) string {
	if st.Load == 0 {
		return "with no added load"
	}
	return fmt.Sprintf("while %d busy loops (`yes > /dev/null`) ran on the machine's %d cores", st.Load, st.Machine.NProc)
}

func passCount(s stressScenario) string {
	c := fmt.Sprintf("%d/%d", s.Passed, s.Runs)
	if s.Skipped > 0 {
		c += fmt.Sprintf(" (%d skipped)", s.Skipped)
	}
	return c
}

// stressMarkdown is BENCHMARKS.md's section on bench/stress.json.
func stressMarkdown(st stressResults) string {
	var b strings.Builder
	b.WriteString("\n## Under load: scripts/stress.sh\n\n")
	fmt.Fprintf(&b, "Generated from `bench/stress.json`. `scripts/stress.sh` ran each scenario %s %s: ", times(st.N), loadText(st))
	b.WriteString("the Slurm integration scenarios (`go test ./integration` against the dev cluster) and the local failure scenarios " +
		"(the process-level tests of integration/local_*_test.go, with the fake srun, and `disagg-supervisor demo --fail …`, judged by exit code and summary.json), " +
		"and the supervisor package's decision tables (loop). " +
		"A subtest counts under its full name; its parent fails whenever it does.\n\n")
	fmt.Fprintf(&b, "- Date: %s\n- Command: `%s`\n", st.Date, st.Command)
	for _, p := range st.Parts {
		if p.Skipped != "" {
			fmt.Fprintf(&b, "- %s part: not run (%s)\n", p.Kind, p.Skipped)
			continue
		}
		fmt.Fprintf(&b, "- %s part: %.0f s", p.Kind, p.Seconds)
		if len(p.Absent) > 0 {
			fmt.Fprintf(&b, "; not in this tree: %s", strings.Join(p.Absent, ", "))
		}
		b.WriteString("\n")
	}
	failing := 0
	b.WriteString("\n| scenario | kind | passed | first message of failing runs (up to 3) |\n|---|---|---|---|\n")
	for _, s := range st.Scenarios {
		if s.Failed() > 0 {
			failing++
		}
		msgs := make([]string, len(s.Failures))
		for i, m := range s.Failures {
			msgs[i] = mdCell(m)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", mdCell(s.Name), s.Kind, passCount(s), orDash(strings.Join(msgs, "<br>")))
	}
	if failing == 0 {
		fmt.Fprintf(&b, "\nAll %d scenarios passed every run.\n", len(st.Scenarios))
	} else {
		fmt.Fprintf(&b, "\n%d of %d scenarios failed at least one run.\n", failing, len(st.Scenarios))
	}
	return b.String()
}

// mdCell keeps text inside one table cell.
func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
