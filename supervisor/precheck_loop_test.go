package supervisor

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/roles"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

const precheckTimeout = 5 * time.Minute

// withChecks plans a --preflight check, the precheck of the 3 servers (GEN_0, GEN_1, CTX_0) and,
// when install is set, an install script.
func withChecks(install bool) func(*roles.Flags) {
	return func(f *roles.Flags) {
		yes := true
		f.Precheck = &yes
		f.PrecheckGenCommand, f.PrecheckCtxCommand = "check --side gen", "check --side ctx"
		f.PrecheckTimeout = precheckTimeout
		f.Preflight = []string{"disk=df ."}
		if install {
			f.InstallScript = "install.sh"
		}
	}
}

var prechecks = []string{"CTX_PRECHECK_0", "GEN_PRECHECK_0", "GEN_PRECHECK_1"}

// check returns the plan's pre-flight step of that name.
func (h *harness) check(name string) roles.Check {
	h.t.Helper()
	for _, c := range append(slices.Clone(h.plan.Preflight), h.plan.Precheck...) {
		if c.Name == name {
			return c
		}
	}
	h.t.Fatalf("no check %s", name)
	return roles.Check{}
}

// launchedNow lists the steps launched so far, sorted.
func (h *harness) launchedNow() []string {
	return h.calls("start")
}

func (h *harness) checkResult(name string) record.CheckResult {
	h.t.Helper()
	for _, c := range h.summary().Checks {
		if c.Name == name {
			return c
		}
	}
	h.t.Fatalf("no check %s in the summary", name)
	return record.CheckResult{}
}

// junitCases reads a JUnit file of the workspace: each test case's name and what it holds
// (pass, failure:MESSAGE or skipped:MESSAGE).
func (h *harness) junitCases(file string) map[string]string {
	h.t.Helper()
	data, err := os.ReadFile(filepath.Join(h.plan.Workspace, file))
	if err != nil {
		h.t.Fatal(err)
	}
	// The file as CI's JUnit readers see it, decoded without the writer's own types.
	type message struct {
		Message string `xml:"message,attr"`
	}
	var doc struct {
		Suites []struct {
			Cases []struct {
				Name    string   `xml:"name,attr"`
				Failure *message `xml:"failure"`
				Skipped *message `xml:"skipped"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil {
		h.t.Fatalf("%s: %v", file, err)
	}
	out := map[string]string{}
	for _, set := range doc.Suites {
		for _, c := range set.Cases {
			switch {
			case c.Failure != nil:
				out[c.Name] = "failure:" + c.Failure.Message
			case c.Skipped != nil:
				out[c.Name] = "skipped:" + c.Skipped.Message
			default:
				out[c.Name] = "pass"
			}
		}
	}
	return out
}

func TestPrecheckPhaseOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, options{flags: withChecks(true), noProbes: true})
		defer h.drain()
		if got := h.launchedNow(); !slices.Equal(got, []string{"PREFLIGHT_disk"}) {
			t.Fatalf("launched first %v, want only the pre-flight check", got)
		}
		h.exit("PREFLIGHT_disk", 0)
		if got := h.launchedNow(); !slices.Equal(got, []string{"INSTALL", "PREFLIGHT_disk"}) {
			t.Fatalf("after the check: %v, want the install step next", got)
		}
		h.exit("INSTALL", 0)
		want := append([]string{"INSTALL"}, prechecks...)
		want = append(want, "PREFLIGHT_disk")
		slices.Sort(want)
		if got := h.launchedNow(); !slices.Equal(got, want) {
			t.Fatalf("after the install: %v, want every precheck instance at once: %v", got, want)
		}
		for _, name := range prechecks[:2] {
			h.exit(name, 0)
			if h.launched("GEN_0") {
				t.Fatalf("GEN_0 launched after %s passed, before every instance had", name)
			}
		}
		// A long status file: its first line is the verdict.
		status := "PASS gen_1 bandwidth 12 GB/s\n" + strings.Repeat("detail\n", 2000)
		if err := os.WriteFile(h.check("GEN_PRECHECK_1").StatusFile, []byte(status), 0o644); err != nil {
			t.Fatal(err)
		}
		h.exit("GEN_PRECHECK_1", 0)
		for _, name := range []string{"GEN_0", "GEN_1", "CTX_0"} {
			if !h.launched(name) {
				t.Errorf("%s not launched once every precheck instance passed", name)
			}
		}
		if got := h.checkResult("GEN_PRECHECK_1"); !got.Passed || got.Verdict != "PASS gen_1 bandwidth 12 GB/s" {
			t.Errorf("GEN_PRECHECK_1: passed %v, verdict %q; want the status file's first line", got.Passed, got.Verdict)
		}
		if got := h.checkResult("CTX_PRECHECK_0"); !got.Passed || got.Verdict != "exit code 0" {
			t.Errorf("CTX_PRECHECK_0 (no status file): passed %v, verdict %q", got.Passed, got.Verdict)
		}
		cases := h.junitCases(record.PrecheckJUnitFile)
		for _, c := range []string{"gen_0", "gen_1", "ctx_0"} {
			if cases["cache_transceiver_precheck["+c+"]"] != "pass" {
				t.Errorf("JUnit %s: %v", c, cases)
			}
		}
		if h.junitCases(record.PreflightJUnitFile)["preflight[disk]"] != "pass" {
			t.Errorf("preflight JUnit: %v", h.junitCases(record.PreflightJUnitFile))
		}
		h.up()
		h.announceEnd()
		h.exit("BENCHMARK", 0)
		if res := h.result(); res.Code != 0 {
			t.Errorf("exit code %d, want 0", res.Code)
		}
	})
}

func TestPrecheckFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, options{flags: withChecks(false), noProbes: true})
		defer h.drain()
		h.exit("PREFLIGHT_disk", 0)
		h.writeCheckLog("CTX_PRECHECK_0", "UCX  WARN  falling back to sw-emul\nTraceback (most recent call last):\n"+
			"  File \"run_precheck.py\", line 3\nRuntimeError: TRANSFER_ERROR: no route\n"+
			"srun: error: node3: task 1: Exited with exit code 1\n")
		if err := os.WriteFile(h.check("CTX_PRECHECK_0").StatusFile, []byte("FAIL: TRANSFER_ERROR no route\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		h.exit("CTX_PRECHECK_0", 1)
		if s := h.summary(); s.State != record.RunRunning || len(h.calls("stop")) > 0 {
			t.Fatalf("state %s, stops %v after the first failing instance; want the others to end with their own verdicts",
				s.State, h.calls("stop"))
		}
		h.exit("GEN_PRECHECK_0", 0)
		h.exit("GEN_PRECHECK_1", 0)
		if res := h.result(); res.Code != verdict.ExitPreflight {
			t.Errorf("exit code %d, want %d", res.Code, verdict.ExitPreflight)
		}
		s := h.summary()
		if s.Failure == nil || s.Failure.Role != "CTX_PRECHECK_0" || s.Failure.Code != verdict.ExitPreflight ||
			s.Failure.Node != "node3" || !strings.Contains(s.Failure.Reason, "FAIL: TRANSFER_ERROR no route") {
			t.Errorf("failure %+v", s.Failure)
		}
		for _, name := range []string{"INSTALL", "GEN_0", "GEN_1", "CTX_0", "DISAGG_SERVER", "BENCHMARK"} {
			if h.launched(name) {
				t.Errorf("%s launched after the precheck failed", name)
			}
		}
		res := h.checkResult("CTX_PRECHECK_0")
		if res.Passed || res.Verdict != "FAIL: TRANSFER_ERROR no route" || len(res.FirstErrors) == 0 ||
			res.FirstErrors[0].Text != "Traceback (most recent call last):" || !contains(res.LogTail, "RuntimeError: TRANSFER_ERROR") {
			t.Errorf("CTX_PRECHECK_0 result %+v", res)
		}
		if len(s.UCXRedFlags) != 1 || !strings.Contains(s.UCXRedFlags[0].Text, "sw-emul") {
			t.Errorf("red flags %+v", s.UCXRedFlags)
		}
		cases := h.junitCases(record.PrecheckJUnitFile)
		if cases["cache_transceiver_precheck[ctx_0]"] != "failure:FAIL: TRANSFER_ERROR no route" ||
			cases["cache_transceiver_precheck[gen_0]"] != "pass" || len(cases) != 3 {
			t.Errorf("JUnit %v", cases)
		}
		if !contains(h.messages(record.EventCheck), "CTX_PRECHECK_0: ctx_0 FAILED: FAIL: TRANSFER_ERROR no route") {
			t.Errorf("check events %v", h.messages(record.EventCheck))
		}
	})
}

func TestPrecheckTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, options{flags: withChecks(false), noProbes: true})
		defer h.drain()
		h.exit("PREFLIGHT_disk", 0)
		h.exit("GEN_PRECHECK_0", 0)
		h.advance(precheckTimeout - time.Second)
		if s := h.summary(); s.State != record.RunRunning {
			t.Fatalf("state %s a second before the timeout", s.State)
		}
		h.advance(time.Second)
		s := h.summary()
		if s.State != record.RunFailed || s.ExitCode == nil || *s.ExitCode != verdict.ExitPreflight {
			t.Fatalf("state %s, code %v at the timeout; want failed, 5", s.State, s.ExitCode)
		}
		if got := h.calls("stop"); !slices.Equal(got, []string{"CTX_PRECHECK_0", "GEN_PRECHECK_1"}) {
			t.Errorf("stopped %v, want the two hung instances", got)
		}
		if s.Failure == nil || !strings.Contains(s.Failure.Reason, "hangs: timed out after 5m0s") {
			t.Errorf("failure %+v", s.Failure)
		}
		h.exit("GEN_PRECHECK_1", 143) // ends on the teardown's SIGTERM
		res := h.result()
		if res.Code != verdict.ExitPreflight {
			t.Errorf("exit code %d", res.Code)
		}
		for _, name := range []string{"CTX_PRECHECK_0", "GEN_PRECHECK_1"} {
			if c := h.checkResult(name); !c.TimedOut || c.Passed || !strings.HasPrefix(c.Verdict, "timed out after 5m0s") {
				t.Errorf("%s: %+v", name, c)
			}
		}
		if h.launched("GEN_0") {
			t.Error("GEN_0 launched")
		}
		if cases := h.junitCases(record.PrecheckJUnitFile); !strings.HasPrefix(cases["cache_transceiver_precheck[ctx_0]"], "failure:timed out") {
			t.Errorf("JUnit %v", cases)
		}
	})
}

func TestPreflightFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, options{flags: withChecks(true), noProbes: true})
		defer h.drain()
		h.writeCheckLog("PREFLIGHT_disk", "srun: error: node2: task 1: Exited with exit code 3\n")
		h.exit("PREFLIGHT_disk", 3)
		if res := h.result(); res.Code != verdict.ExitInfrastructure {
			t.Errorf("exit code %d, want %d: a --preflight check that fails on a node is the node's failure", res.Code, verdict.ExitInfrastructure)
		}
		if s := h.summary(); s.Failure == nil || s.Failure.Class != verdict.ClassInfrastructure || !slices.Equal(s.BadNodes, []string{"node2"}) {
			t.Errorf("summary failure %+v, bad nodes %v; want an infrastructure failure naming the node", s.Failure, s.BadNodes)
		}
		if got := h.launchedNow(); !slices.Equal(got, []string{"PREFLIGHT_disk"}) {
			t.Errorf("launched %v, want nothing after the failed check", got)
		}
		if c := h.checkResult("PREFLIGHT_disk"); c.Verdict != "exit code 3" {
			t.Errorf("verdict %q", c.Verdict)
		}
		if c := h.checkResult("GEN_PRECHECK_0"); c.Verdict != "not run" {
			t.Errorf("GEN_PRECHECK_0 verdict %q, want not run", c.Verdict)
		}
		if h.junitCases(record.PreflightJUnitFile)["preflight[disk]"] != "failure:exit code 3" {
			t.Errorf("JUnit %v", h.junitCases(record.PreflightJUnitFile))
		}
		if _, err := os.Stat(filepath.Join(h.plan.Workspace, record.PrecheckJUnitFile)); err == nil {
			t.Error("a precheck JUnit file for a precheck that never ran")
		}
	})
}

func TestPrecheckInterrupted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, options{flags: withChecks(false), noProbes: true})
		defer h.drain()
		h.exit("PREFLIGHT_disk", 0)
		h.signal(syscall.SIGTERM)
		if res := h.result(); res.Code != 143 {
			t.Errorf("exit code %d, want 143", res.Code)
		}
		if c := h.checkResult("GEN_PRECHECK_0"); c.Passed || !c.Stopped || !strings.HasPrefix(c.Verdict, "stopped before it ended") {
			t.Errorf("GEN_PRECHECK_0 %+v", c)
		}
		if got := h.junitCases(record.PrecheckJUnitFile)["cache_transceiver_precheck[gen_0]"]; !strings.HasPrefix(got, "skipped:stopped") {
			t.Errorf("JUnit gen_0: %q, want skipped", got)
		}
	})
}

func TestPrecheckFailureAskedOfSlurm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, options{flags: withChecks(false), noProbes: true, slurm: true})
		defer h.drain()
		h.exit("PREFLIGHT_disk", 0)
		h.exit("GEN_PRECHECK_0", 0)
		h.exit("GEN_PRECHECK_1", 0)
		h.exit("CTX_PRECHECK_0", 143)
		if s := h.summary(); s.State != record.RunRunning {
			t.Fatalf("state %s before Slurm answered", s.State)
		}
		h.answer("RUNNING", nil)
		if res := h.result(); res.Code != verdict.ExitPreflight {
			t.Errorf("exit code %d, want 82", res.Code)
		}
	})
}

// writeCheckLog appends text to a pre-flight step's log.
func (h *harness) writeCheckLog(name, text string) {
	h.t.Helper()
	f, err := os.OpenFile(h.check(name).Log, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		h.t.Fatal(err)
	}
}

// TestPrecheckNotApplicable: a precheck phase whose instances all passed without writing a status file
// found nothing to check in this config: skipped, not passed, in the summary, the console and JUnit;
// the roles are launched as after a pass.
func TestPrecheckNotApplicable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, options{flags: withChecks(true), noProbes: true})
		defer h.drain()
		h.exit("PREFLIGHT_disk", 0)
		h.exit("INSTALL", 0)
		for _, name := range prechecks {
			h.exit(name, 0)
		}
		if !h.launched("GEN_0") {
			t.Fatal("GEN_0 not launched after a precheck phase that was not applicable")
		}
		for _, name := range prechecks {
			if got := h.checkResult(name); !got.Skipped || got.Verdict != notApplicable {
				t.Errorf("%s: skipped %v, verdict %q; want skipped: not applicable", name, got.Skipped, got.Verdict)
			}
		}
		cases := h.junitCases(record.PrecheckJUnitFile)
		for _, c := range []string{"gen_0", "gen_1", "ctx_0"} {
			if got := cases["cache_transceiver_precheck["+c+"]"]; got != "skipped:"+notApplicable {
				t.Errorf("JUnit %s: %q, want skipped", c, got)
			}
		}
		// The generic pre-flight check has no status file of its own: it passed.
		if h.junitCases(record.PreflightJUnitFile)["preflight[disk]"] != "pass" {
			t.Errorf("preflight JUnit: %v", h.junitCases(record.PreflightJUnitFile))
		}
		var out strings.Builder
		record.WriteReport(&out, h.summary())
		if !strings.Contains(out.String(), "GEN_PRECHECK_0     gen_0    skipped skipped: not applicable") {
			t.Errorf("console:\n%s", out.String())
		}
		h.up()
		h.announceEnd()
		h.exit("BENCHMARK", 0)
		if res := h.result(); res.Code != 0 {
			t.Errorf("exit code %d, want 0", res.Code)
		}
	})
}
