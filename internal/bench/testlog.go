package bench

// The parser of `go test -v` output that stress-report counts scenarios from, and the index of a
// test package's source that tells its failure messages from its log lines.

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// testRun is one run of one test or subtest in `go test -v` output.
type testRun struct {
	name     string
	parent   *testRun
	children []*testRun
	result   string // PASS, FAIL, SKIP; "" while no result line was seen
	message  string // first failure message of the run itself
	first    string // first output line of the run, whatever it is
}

// testLog is a parsed `go test -v` output.
type testLog struct {
	order []string              // names in the order they first ran
	runs  map[string][]*testRun // every run of each name, in order
	// other is the output that belongs to no test (TestMain's, goleak's, the final FAIL), which
	// explains a binary that failed with every test passing.
	other []string
}

var (
	runLine    = regexp.MustCompile(`^=== (RUN|PAUSE|CONT|NAME)\s+(\S+)`)
	resultLine = regexp.MustCompile(`^\s*--- (PASS|FAIL|SKIP): (\S+) \(`)
	// A test's own output in -v mode is indented by four spaces and starts with its file and line;
	// deeper indentation continues a multi-line message.
	logLine     = regexp.MustCompile(`^ {4}(\S+\.go):(\d+): (.*)$`)
	runningLine = regexp.MustCompile(`^\t\t(\S+) \(`)
)

// parseTestLog reads `go test -v` output (parallel tests and -test.count included): go test names
// whose output follows in its `=== RUN/CONT/NAME` lines, and a test's result comes in a `--- PASS`,
// `--- FAIL` or `--- SKIP` line, indented for subtests. src tells failure messages from log lines.
func parseTestLog(r io.Reader, src *sourceIndex) *testLog {
	l := &testLog{runs: map[string][]*testRun{}}
	latest := map[string]*testRun{}
	current := ""
	// justFailed are the runs whose FAIL line came last: a panic that follows is why they failed.
	var justFailed []*testRun
	timedOut, inRunning := "", false
	start := func(name string) *testRun {
		r := &testRun{name: name}
		for p := name; strings.Contains(p, "/"); {
			p = p[:strings.LastIndex(p, "/")]
			if parent := latest[p]; parent != nil {
				r.parent = parent
				parent.children = append(parent.children, r)
				break
			}
		}
		if _, ok := l.runs[name]; !ok {
			l.order = append(l.order, name)
		}
		l.runs[name] = append(l.runs[name], r)
		latest[name] = r
		return r
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if inRunning {
			// After "panic: test timed out", the tests still running are listed one a line.
			if m := runningLine.FindStringSubmatch(line); m != nil {
				if r := latest[m[1]]; r != nil && r.result == "" {
					r.result, r.message = "FAIL", timedOut
				}
				continue
			}
			inRunning = strings.TrimSpace(line) == "running tests:"
		}
		switch m := runLine.FindStringSubmatch(line); {
		case m != nil && m[1] == "RUN":
			start(m[2])
			current, justFailed = m[2], nil
			continue
		case m != nil:
			current, justFailed = m[2], nil
			continue
		}
		if m := resultLine.FindStringSubmatch(line); m != nil {
			r := latest[m[2]]
			if r == nil || r.result != "" {
				r = start(m[2])
			}
			r.result, current = m[1], m[2]
			if r.result == "FAIL" {
				justFailed = append(justFailed, r)
			}
			continue
		}
		if m := logLine.FindStringSubmatch(line); m != nil {
			r := latest[current]
			if r == nil {
				l.other = append(l.other, strings.TrimSpace(line))
				continue
			}
			msg := m[1] + ":" + m[2] + ": " + m[3]
			if r.first == "" {
				r.first = msg
			}
			lineNo, _ := strconv.Atoi(m[2])
			if r.message == "" && src.isFailure(m[1], lineNo, m[3]) {
				r.message = msg
			}
			justFailed = nil
			continue
		}
		if strings.HasPrefix(line, "panic: ") {
			if strings.HasPrefix(line, "panic: test timed out") {
				timedOut, inRunning = line, true
			}
			for _, r := range justFailed {
				if r.message == "" {
					r.message = line
				}
			}
			justFailed = nil
		}
		if line != "" && !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "\t") {
			l.other = append(l.other, line)
		}
	}
	return l
}

// failureMessage is why a failing run failed: its own first failure message, else that of its first
// failing subtest (a parent fails because a subtest did), else its first line.
func (r *testRun) failureMessage() string {
	if r.message != "" {
		return r.message
	}
	for _, c := range r.children {
		if c.result == "FAIL" {
			if m := c.failureMessage(); m != "" {
				return strings.TrimPrefix(c.name, r.name+"/") + ": " + m
			}
		}
	}
	return r.first
}

// sourceIndex tells, from a test package's source, whether a `file.go:N: text` line of test output
// is a failure (t.Error, t.Fatal) or a log line (t.Log), which the output alone does not say.
type sourceIndex struct {
	fset  *token.FileSet
	calls map[string]map[int][]*ast.CallExpr // by file base name and line
	funcs map[string][]*ast.FuncDecl         // by name, methods included
	memo  map[*ast.FuncDecl]*callKinds
}

// callKinds is what a call can print: log lines, failures, and the formats of each.
type callKinds struct {
	log, fail             bool
	logFormats, failForms []*regexp.Regexp
}

var (
	logMethods  = map[string]bool{"Log": true, "Logf": true, "Skip": true, "Skipf": true}
	failMethods = map[string]bool{"Error": true, "Errorf": true, "Fatal": true, "Fatalf": true, "Fail": true, "FailNow": true}
)

// newSourceIndex parses the *_test.go files of dir; a directory it cannot read gives an index that
// takes every line for a failure.
func newSourceIndex(dir string) *sourceIndex {
	x := &sourceIndex{fset: token.NewFileSet(), calls: map[string]map[int][]*ast.CallExpr{},
		funcs: map[string][]*ast.FuncDecl{}, memo: map[*ast.FuncDecl]*callKinds{}}
	if dir == "" {
		return x
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
	for _, path := range paths {
		f, err := parser.ParseFile(x.fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			continue
		}
		base := filepath.Base(path)
		x.calls[base] = map[int][]*ast.CallExpr{}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				// testing reports a call at the line where the call starts.
				line := x.fset.Position(n.Pos()).Line
				x.calls[base][line] = append(x.calls[base][line], n)
			case *ast.FuncDecl:
				x.funcs[n.Name.Name] = append(x.funcs[n.Name.Name], n)
			}
			return true
		})
	}
	return x
}

// isFailure says whether the output line `file:line: text` is a failure message. testing reports a
// t.Helper function's output at its caller's line, so a call of a package function there is judged
// by what that function can print: only failures, only logs, or both (then by the text matching one
// of its formats). Lines it cannot place count as failures, so that no failure is ever hidden.
func (x *sourceIndex) isFailure(file string, line int, text string) bool {
	for _, call := range x.calls[file][line] {
		k := x.kinds(call, 0)
		switch {
		case k.fail && !k.log:
			return true
		case k.log && !k.fail:
			return false
		case k.log && k.fail:
			return !matchesAny(k.logFormats, text) || matchesAny(k.failForms, text)
		}
	}
	return true
}

// maxHelperDepth bounds how deep helpers calling helpers are followed.
const maxHelperDepth = 4

func (x *sourceIndex) kinds(call *ast.CallExpr, depth int) callKinds {
	var name string
	switch fn := call.Fun.(type) {
	case *ast.SelectorExpr:
		name = fn.Sel.Name
		format := formatRegexp(call)
		if logMethods[name] {
			return callKinds{log: true, logFormats: format}
		}
		if failMethods[name] {
			return callKinds{fail: true, failForms: format}
		}
	case *ast.Ident:
		name = fn.Name
	}
	var k callKinds
	if depth >= maxHelperDepth {
		return k
	}
	for _, decl := range x.funcs[name] {
		k.merge(x.funcKinds(decl, depth+1))
	}
	return k
}

func (x *sourceIndex) funcKinds(decl *ast.FuncDecl, depth int) callKinds {
	if k, ok := x.memo[decl]; ok {
		if k == nil {
			return callKinds{} // recursion: already being summed up
		}
		return *k
	}
	x.memo[decl] = nil
	var k callKinds
	if decl.Body != nil {
		ast.Inspect(decl.Body, func(n ast.Node) bool {
			if call, ok := n.(*ast.CallExpr); ok {
				k.merge(x.kinds(call, depth))
			}
			return true
		})
	}
	x.memo[decl] = &k
	return k
}

func (k *callKinds) merge(o callKinds) {
	k.log, k.fail = k.log || o.log, k.fail || o.fail
	k.logFormats = append(k.logFormats, o.logFormats...)
	k.failForms = append(k.failForms, o.failForms...)
}

// verb is a fmt verb with its flags, width, precision and argument index.
var verb = regexp.MustCompile(`%[-+# 0]*(?:\[\d+\])?(?:\d+|\*)?(?:\.(?:\d+|\*)?)?(?:\[\d+\])?[a-zA-Z%]`)

// formatRegexp turns a call's literal first argument into a regexp for the first line it prints:
// each verb may stand for anything. A call without a literal gives none.
func formatRegexp(call *ast.CallExpr) []*regexp.Regexp {
	if len(call.Args) == 0 {
		return nil
	}
	lit, ok := call.Args[0].(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return nil
	}
	s, err := strconv.Unquote(lit.Value)
	if err != nil {
		return nil
	}
	s, _, _ = strings.Cut(s, "\n")
	var b strings.Builder
	b.WriteString("^")
	last := 0
	for _, m := range verb.FindAllStringIndex(s, -1) {
		b.WriteString(regexp.QuoteMeta(s[last:m[0]]))
		if s[m[0]:m[1]] == "%%" {
			b.WriteString("%")
		} else {
			b.WriteString(".*")
		}
		last = m[1]
	}
	b.WriteString(regexp.QuoteMeta(s[last:]))
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil
	}
	return []*regexp.Regexp{re}
}

func matchesAny(res []*regexp.Regexp, s string) bool {
	for _, re := range res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}
