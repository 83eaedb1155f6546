package record

import (
	"cmp"
	"encoding/xml"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
)

// configJUnitCases are the test cases supervisor[config K], one per configuration, when the job has
// several: passing when it completed, failing or erring as the run did while it was in progress,
// skipped when it never started.
func configJUnitCases(s Summary, class string) (cases []junitCase, failures, errs, skipped int) {
	if len(s.ServerConfigs) < 2 {
		return nil, 0, 0, 0
	}
	for _, c := range s.ServerConfigs {
		jc := junitCase{Name: fmt.Sprintf("supervisor[config %d]", c.Index), ClassName: class, Time: c.DurationSeconds}
		msg := BoundText(string(c.Verdict)+": "+cmp.Or(c.Reason, string(c.Verdict)), 1000)
		body := BoundText(configDetail(c), 64<<10)
		switch c.Verdict {
		case ConfigCompleted:
		case ConfigFailed:
			jc.Failure = &junitFailure{Message: msg, Type: string(c.Verdict), Text: body}
			failures++
		case ConfigHung, ConfigInterrupted:
			jc.Error = &junitFailure{Message: msg, Type: string(c.Verdict), Text: body}
			errs++
		default:
			jc.Skipped = &junitSkipped{Message: msg}
			skipped++
		}
		cases = append(cases, jc)
	}
	return cases, failures, errs, skipped
}

type junitSuites struct {
	XMLName xml.Name   `xml:"testsuites"`
	Suites  []junitSet `xml:"testsuite"`
}

type junitSet struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr,omitempty"`
	Time     float64     `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Time      float64       `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Error     *junitFailure `xml:"error,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// writeJUnit writes the supervisor's own verdict where CI collects JUnit files: one test case,
// `supervisor`, which fails whenever the job does (and, for a job of several server configurations,
// one case `supervisor[config K]` per configuration besides), so that a job that failed always leaves CI a failing
// case (a benchmark that crashed before pytest wrote its results.xml leaves none of its own). A
// failure of the test itself (class test or invalid) is a <failure>; anything that kept the job from
// producing a result (infrastructure, hang, setup, cancelled) is an <error>. The message is
// "CLASS: one-line root cause", the body the root-cause block.
func WriteJUnit(path string, s Summary) error {
	class := "disagg-supervisor." + s.JobID
	c := junitCase{Name: "supervisor", ClassName: class, Time: s.DurationSeconds}
	set := junitSet{Name: "disagg-supervisor", Tests: 1, Time: s.DurationSeconds}
	if f := s.Failure; f != nil {
		var text strings.Builder
		WriteRootCause(&text, f)
		jf := &junitFailure{Message: BoundText(string(f.Class)+": "+f.Error(), 1000), Type: string(f.Class),
			Text: BoundText(text.String(), 64<<10)}
		if f.Class.IsFailure() {
			c.Failure = jf
			set.Failures = 1
		} else {
			c.Error = jf
			set.Errors = 1
		}
	}
	set.Cases = []junitCase{c}
	cases, failures, errs, skipped := configJUnitCases(s, class)
	set.Cases = append(set.Cases, cases...)
	set.Tests += len(cases)
	set.Failures += failures
	set.Errors += errs
	set.Skipped += skipped
	return writeJUnitFile(path, set)
}

// writeJUnitFile writes one test suite as a JUnit file, atomically.
func writeJUnitFile(path string, set junitSet) error {
	data, err := xml.MarshalIndent(junitSuites{Suites: []junitSet{set}}, "", "  ")
	if err != nil {
		return err
	}
	return coord.WriteFileAtomic(path, append([]byte(xml.Header), append(data, '\n')...))
}

// BoundText bounds a text for the JUnit file. encoding/xml escapes markup and replaces bytes that XML
// cannot hold (control characters, invalid UTF-8) with U+FFFD, so any log line is safe in it.
func BoundText(text string, limit int) string {
	if len(text) <= limit {
		return text
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return text[:cut] + "... (cut)"
}

// WriteChecksJUnit writes the JUnit file of one pre-flight phase, with a test case caseName[check]
// per instance: passing, failing (its verdict, first errors and log tail) or skipped (not run, or
// stopped because of something else).
func WriteChecksJUnit(path, jobID, caseName string, results []CheckResult) error {
	set := junitSet{Name: caseName}
	for _, res := range results {
		c := junitCase{Name: caseName + "[" + res.Check + "]", ClassName: "disagg-supervisor." + jobID,
			Time: res.DurationSeconds}
		switch {
		case res.Skipped:
			c.Skipped = &junitSkipped{Message: BoundText(res.Verdict, 1000)}
			set.Skipped++
		case res.Passed:
		case res.Stopped, res.ExitCode == nil && !res.TimedOut:
			c.Skipped = &junitSkipped{Message: BoundText(res.Verdict, 1000)}
			set.Skipped++
		default:
			var text strings.Builder
			writeCheckDetail(&text, res)
			c.Failure = &junitFailure{Message: BoundText(res.Verdict, 1000), Type: caseName, Text: BoundText(text.String(), 64<<10)}
			set.Failures++
		}
		set.Tests++
		set.Time = max(set.Time, res.DurationSeconds)
		set.Cases = append(set.Cases, c)
	}
	return writeJUnitFile(path, set)
}
