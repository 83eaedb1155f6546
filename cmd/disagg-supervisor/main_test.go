package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// binDir holds the disagg-supervisor binary that TestMain builds for the scripts.
var binDir string

// TestMain builds the real binary once. The scripts run it as a separate process rather than through
// testscript's in-process command map, because the supervisor re-executes its own binary
// (os.Executable) as srun, task and toy: that must be disagg-supervisor, not the test binary.
func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "disagg-supervisor-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "main_test:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	goTool, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintln(os.Stderr, "main_test: the go command is needed to build the binary under test:", err)
		return 1
	}
	build := exec.Command(goTool, "build", "-o", filepath.Join(dir, "disagg-supervisor"), ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "main_test: go build: %v\n%s", err, out)
		return 1
	}
	binDir = dir
	return m.Run()
}

// TestScripts runs the CLI scenarios in testdata/script, one script per theme.
//
// Every script starts in an empty $WORK with the binary first on PATH, HOME=$WORK/home,
// $SUPERVISOR_BIN naming the binary, and no SLURM_* variable (a script that wants an allocation sets
// it with env), so that plans do not depend on where the tests run.
//
// Commands the scripts get on top of testscript's own:
//
//	exitcode N PROG [ARGS...]
//	    runs PROG like exec and fails unless it exits with status exactly N (exec and ! exec only
//	    tell zero from non-zero). Its stdout and stderr are kept for the stdout, stderr, cp and
//	    lines commands that follow, as after exec.
//	lines FILE N
//	    FILE (or the last command's stdout or stderr) has exactly N lines.
//	jsonfield FILE PATH WANT
//	    the value at PATH in the JSON document FILE (or stdout) is WANT. PATH is dot-separated
//	    object keys and array indexes (roles.0.nodes.1); len(PATH) is the length of the array or
//	    object there (len(roles)). A string value is compared as it is, any other value as compact
//	    JSON without HTML escaping (["gpu-a01","gpu-a02"], 4, false). ! jsonfield: the value
//	    differs or is absent.
//	junitcase FILE NAME pass|failure|error
//	    FILE is well-formed JUnit XML with a test case NAME that passed, failed (<failure>) or erred (<error>).
//	replace FILE REGEXP REPLACEMENT
//	    rewrites FILE in place, replacing every match of REGEXP (Go syntax; $1 in REPLACEMENT is a
//	    group), e.g. to pin the pid part of a run token before cmp with a golden file. Fails when
//	    nothing matches, so a pattern that went stale cannot hide a difference.
func TestScripts(t *testing.T) {
	// The scripts' work directories live in a directory of this test's own, removed at the end even
	// when -run selects some scripts only (testscript then leaves its own parent directory behind).
	// With testscript's -testwork flag they are kept, and logged.
	root, err := os.MkdirTemp("", "disagg-supervisor-script-")
	if err != nil {
		t.Fatal(err)
	}
	if f := flag.Lookup("testwork"); f != nil && f.Value.String() == "true" {
		t.Logf("work directories kept under %s", root)
	} else {
		t.Cleanup(func() { os.RemoveAll(root) })
	}
	testscript.Run(t, testscript.Params{
		Dir:         "testdata/script",
		WorkdirRoot: root,
		Setup: func(env *testscript.Env) error {
			home := filepath.Join(env.WorkDir, "home")
			if err := os.MkdirAll(home, 0o777); err != nil {
				return err
			}
			path := binDir + string(os.PathListSeparator) + env.Getenv("PATH")
			// testscript starts from a small environment of its own; drop any SLURM_* all the same,
			// and replace PATH and HOME rather than adding second entries.
			vars := env.Vars[:0]
			for _, kv := range env.Vars {
				name, _, _ := strings.Cut(kv, "=")
				if strings.HasPrefix(name, "SLURM_") || name == "PATH" || name == "HOME" {
					continue
				}
				vars = append(vars, kv)
			}
			env.Vars = vars
			env.Setenv("PATH", path)
			env.Setenv("HOME", home)
			env.Setenv("SUPERVISOR_BIN", filepath.Join(binDir, "disagg-supervisor"))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode":  cmdExitcode,
			"lines":     cmdLines,
			"jsonfield": cmdJSONField,
			"junitcase": cmdJUnitCase,
			"replace":   cmdReplace,
		},
	})
}

func cmdExitcode(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! exitcode (say which code)")
	}
	if len(args) < 2 {
		ts.Fatalf("usage: exitcode N PROG [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil || want < 0 || want > 255 {
		ts.Fatalf("exitcode: %q is not an exit status", args[0])
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exitcode: %s did not run: %v", args[1], err)
		}
		got = ee.ExitCode()
		if got < 0 {
			ts.Fatalf("exitcode: %s was killed: %v", args[1], err)
		}
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}

func cmdLines(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: lines FILE N")
	}
	want, err := strconv.Atoi(args[1])
	if err != nil || want < 0 {
		ts.Fatalf("lines: %q is not a line count", args[1])
	}
	text := ts.ReadFile(args[0])
	got := strings.Count(text, "\n")
	if text != "" && !strings.HasSuffix(text, "\n") {
		got++
	}
	if (got == want) == neg {
		if neg {
			ts.Fatalf("%s has %d lines, want any other count", args[0], got)
		}
		ts.Fatalf("%s has %d lines, want %d", args[0], got, want)
	}
}

func cmdJSONField(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: jsonfield FILE PATH WANT")
	}
	dec := json.NewDecoder(strings.NewReader(ts.ReadFile(args[0])))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		ts.Fatalf("jsonfield: %s is not JSON: %v", args[0], err)
	}
	got, err := jsonAt(doc, args[1])
	if err != nil {
		if neg {
			return
		}
		ts.Fatalf("jsonfield: %s: %v", args[0], err)
	}
	if (got == args[2]) == neg {
		if neg {
			ts.Fatalf("%s: %s is %s, want anything else", args[0], args[1], got)
		}
		ts.Fatalf("%s: %s\n got: %s\nwant: %s", args[0], args[1], got, args[2])
	}
}

// jsonAt renders the value at path in doc: a string as it is, anything else as compact JSON;
// len(path) renders the length of the array or object at path.
func jsonAt(doc any, path string) (string, error) {
	inner, length := strings.CutPrefix(path, "len(")
	if length {
		var ok bool
		if path, ok = strings.CutSuffix(inner, ")"); !ok {
			return "", fmt.Errorf("%s: want len(PATH)", path)
		}
	}
	v := doc
	parts := strings.Split(path, ".")
	for i, p := range parts {
		at := strings.Join(parts[:i+1], ".")
		switch c := v.(type) {
		case map[string]any:
			next, ok := c[p]
			if !ok {
				return "", fmt.Errorf("%s: no such key", at)
			}
			v = next
		case []any:
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 || n >= len(c) {
				return "", fmt.Errorf("%s: no such index (length %d)", at, len(c))
			}
			v = c[n]
		default:
			return "", fmt.Errorf("%s: cannot index a %T", at, v)
		}
	}
	if length {
		switch c := v.(type) {
		case []any:
			return strconv.Itoa(len(c)), nil
		case map[string]any:
			return strconv.Itoa(len(c)), nil
		default:
			return "", fmt.Errorf("%s: not an array or object", path)
		}
	}
	if s, ok := v.(string); ok {
		return s, nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

func cmdReplace(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! replace")
	}
	if len(args) != 3 {
		ts.Fatalf("usage: replace FILE REGEXP REPLACEMENT")
	}
	re, err := regexp.Compile(args[1])
	if err != nil {
		ts.Fatalf("replace: %v", err)
	}
	if args[0] == "stdout" || args[0] == "stderr" {
		ts.Fatalf("replace: cp %s to a file first", args[0])
	}
	name := ts.MkAbs(args[0])
	text := ts.ReadFile(args[0])
	if !re.MatchString(text) {
		ts.Fatalf("replace: no match for %q in %s", args[1], args[0])
	}
	ts.Check(os.WriteFile(name, []byte(re.ReplaceAllString(text, args[2])), 0o666))
}

func cmdJUnitCase(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 || (args[2] != "pass" && args[2] != "failure" && args[2] != "error") {
		ts.Fatalf("usage: junitcase FILE NAME pass|failure|error")
	}
	var doc struct {
		Suites []struct {
			Cases []struct {
				Name    string    `xml:"name,attr"`
				Failure *struct{} `xml:"failure"`
				Error   *struct{} `xml:"error"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	data := ts.ReadFile(args[0])
	if err := xml.Unmarshal([]byte(data), &doc); err != nil {
		ts.Fatalf("junitcase: %s is not well-formed XML: %v", args[0], err)
	}
	var names []string
	for _, suite := range doc.Suites {
		for _, c := range suite.Cases {
			if c.Name != args[1] {
				names = append(names, c.Name)
				continue
			}
			got := "pass"
			switch {
			case c.Failure != nil && c.Error != nil:
				got = "failure and error"
			case c.Failure != nil:
				got = "failure"
			case c.Error != nil:
				got = "error"
			}
			if got != args[2] {
				ts.Fatalf("junitcase: %s: test case %s: %s, want %s", args[0], c.Name, got, args[2])
			}
			return
		}
	}
	ts.Fatalf("junitcase: %s has no test case %s (it has %v)", args[0], args[1], names)
}
