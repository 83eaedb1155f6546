package verdict

import (
	"regexp"
	"strings"
)

// Evidence is a line that decided a failure's class, the rule that recognised it, and the node it
// names (empty when the line names none; the caller knows the failing node then).
type Evidence struct {
	Rule string
	Line string
	Node string
}

// The infrastructure rules. Each is conservative: it matches what Slurm, the driver or the kernel says
// when the cluster failed, never what a test prints about itself. docs/exit-codes.md lists them.
const (
	RuleNodeFailure  = "node-failure"   // srun: error: Node failure on NODE
	RuleTaskLaunch   = "task-launch"    // srun: error: Task launch for StepId=... failed on node NODE
	RuleStepCreate   = "step-create"    // srun: error: Unable to create step ..., while the job runs
	RuleNodeFailStep = "node-fail-step" // slurmstepd: *** ... CANCELLED AT ... DUE TO NODE FAILURE ***
	RuleGPUHardware  = "gpu-hardware"   // Xid, uncorrectable ECC, GPU fallen off the bus
	RulePMIStart     = "pmi-start"      // PMIx/PMI/MPI start failed before the rank's command started
	RuleNoSpace      = "no-space"       // ENOSPC/EDQUOT in the workspace or output directory
	RuleJobNodeFail  = "job-node-fail"  // scontrol: JobState=NODE_FAIL or Reason=NodeDown
	RulePreflight    = "preflight-node" // a --preflight check failed on a node
	RuleNodeSilent   = "node-silent"    // a node's heartbeat stopped while steps ran on it
	RuleRequeue      = "requeue-refused"
)

type lineRule struct {
	name string
	// needle is a literal every matching line contains: most lines contain none, and a substring
	// search is much cheaper than the expression.
	needle string
	re     *regexp.Regexp
	// node is the submatch that names the node; 0 when the line names none.
	node int
}

// lineRules are compiled once and never changed.
var lineRules = []lineRule{
	{RuleNodeFailure, "Node failure on", regexp.MustCompile(`srun: error: Node failure on ([^\s,:]+)`), 1},
	{RuleTaskLaunch, "Task launch for", regexp.MustCompile(`srun: error: Task launch for \S+ failed on node ([^\s,:]+)`), 1},
	{RuleTaskLaunch, "Application launch failed", regexp.MustCompile(`srun: error: Application launch failed`), 0},
	// 22.05's word when a node's slurmstepd could not set a step up (its PMIx directory, say): the
	// line names tasks, not their node.
	{RuleTaskLaunch, " launch failed: ", regexp.MustCompile(`srun: error: task \d+(?:-\d+)? launch failed: `), 0},
	{RuleStepCreate, "Unable to create step", regexp.MustCompile(`srun: error: Unable to create step for job \S+`), 0},
	// The node of this line is the one whose slurmstepd wrote it, which is alive: it names no bad node.
	{RuleNodeFailStep, "DUE TO NODE FAILURE", regexp.MustCompile(`\*\*\* (?:JOB|STEP) \S+ (?:ON \S+ )?CANCELLED AT \S+ DUE TO NODE FAILURE`), 0},
	{RuleGPUHardware, "Xid", regexp.MustCompile(`\bXid ?\(`), 0},
	{RuleGPUHardware, "ECC", regexp.MustCompile(`(?i)\buncorrectable ECC\b`), 0},
	{RuleGPUHardware, "fallen off the bus", regexp.MustCompile(`fallen off the bus`), 0},
}

// InfrastructureLine reports whether one line of a step's output says that the cluster failed: a node,
// a step launch, a GPU. A step that could not be created because the job is already ending is not
// such a line: Slurm is ending the job, which is a cancellation.
func InfrastructureLine(line string) (Evidence, bool) {
	for _, rule := range lineRules {
		if !strings.Contains(line, rule.needle) {
			continue
		}
		m := rule.re.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if rule.name == RuleStepCreate && strings.Contains(line, "completing") {
			continue
		}
		ev := Evidence{Rule: rule.name, Line: strings.TrimSpace(line)}
		if rule.node > 0 {
			ev.Node = m[rule.node]
		}
		return ev, true
	}
	return Evidence{}, false
}

// pmiStartLine matches what PMIx, PMI and MPI say when a rank's start failed.
var pmiStartLine = regexp.MustCompile(`(?i)(?:mpi/pmix\w*|pmixp_\w+|PMIx_Init|PMI2?_Init|MPI_Init(?:_thread)?)\b.*\b(?:fail(?:ed|ure)?|error|abort)`)

// PMIStartLine reports whether a line says that a rank's PMIx/PMI/MPI start failed. It decides
// infrastructure only for a rank whose command never started (the caller knows from the task
// runner's start markers): the same words from a running test are the test's.
func PMIStartLine(line string) (Evidence, bool) {
	if !pmiStartLine.MatchString(line) {
		return Evidence{}, false
	}
	return Evidence{Rule: RulePMIStart, Line: strings.TrimSpace(line)}, true
}

// NoSpaceLine reports whether a line says a write failed for want of space (ENOSPC, EDQUOT) in one of
// dirs: a full workspace or output directory fails any test, and retrying elsewhere helps. A full
// disk the line does not place in dirs (a node's /tmp, a cache) is left to the test.
func NoSpaceLine(line string, dirs ...string) (Evidence, bool) {
	if !strings.Contains(line, "No space left on device") && !strings.Contains(line, "Disk quota exceeded") {
		return Evidence{}, false
	}
	for _, dir := range dirs {
		if dir != "" && dir != "/" && strings.Contains(line, dir) {
			return Evidence{Rule: RuleNoSpace, Line: strings.TrimSpace(line)}, true
		}
	}
	return Evidence{}, false
}

// JobNodeFailed reports whether Slurm's state of the job says a node failed: NODE_FAIL, or a job
// ending with Reason=NodeDown.
func JobNodeFailed(state, reason string) bool {
	return state == "NODE_FAIL" || strings.HasPrefix(state, "NODE_FAIL") || reason == "NodeDown"
}

// Canceller names who ended a job from slurmstepd's CANCELLED line or the job's state and reason, in
// words for the root cause: "the time limit", "preemption", "a requeue", "a node failure", or
// "scancel" for a plain cancellation. It returns "" when neither says.
func Canceller(cancelledLine, state, reason string) string {
	switch {
	case strings.Contains(cancelledLine, "DUE TO TIME LIMIT"), state == "TIMEOUT":
		return "the time limit"
	case strings.Contains(cancelledLine, "DUE TO PREEMPTION"), state == "PREEMPTED":
		return "preemption"
	case strings.Contains(cancelledLine, "DUE TO JOB REQUEUE"), state == "REQUEUED", state == "REQUEUE_HOLD", state == "PENDING":
		return "a requeue"
	case strings.Contains(cancelledLine, "DUE TO NODE FAILURE"), JobNodeFailed(state, reason):
		return "a node failure"
	case cancelledLine != "", state == "CANCELLED":
		return "scancel"
	}
	return ""
}
