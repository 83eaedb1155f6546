//go:build linux

package fakesrun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/disagg-supervisor/disagg-supervisor/internal/slurmdev"
	"github.com/disagg-supervisor/disagg-supervisor/slurm"
)

// TestFakeSrunMatchesRealSrun runs the same steps with real srun, on the Slurm dev cluster
// (scripts/slurm-dev-cluster.sh), and with the fake srun, and checks that they behave alike: same
// exit status, same task output, same messages once job-specific details are normalised.
//
// The real steps run inside one batch job shaped like the supervisor's (sbatch --nodes --ntasks
// --ntasks-per-node --gpus-per-node), so that each srun sees what a step of the supervisor sees,
// including the variables sbatch sets that srun reads as defaults (SLURM_NTASKS, SLURM_NNODES, ...).
// The fake runs in-process afterwards, in an allocation environment made from that job's: its job
// id, nodes and GPUs per node through AllocationEnv, plus srun's input variables.
//
// Differences that the fake makes on purpose are not tested here: srun answering SIGTERM by
// killing the tasks, and its "srun: Force Terminated" line after -K, which is dropped below. Nor
// are those where the fake is known to differ, which the supervisor's own command lines avoid:
// SLURM_NODELIST in a step on part of the job (real srun leaves the job's), steps the job's CPUs
// cannot hold, -N smaller than -w, --gpus-per-node=0 or typed (gpu:N), SLURM_NNODES with -w,
// --overlap=VALUE, the wording of some step creation errors, and the order of messages when
// several tasks fail at once under -K. Real srun's other variables (ZE_AFFINITY_MASK, TMPDIR,
// SLURM_CPUS_ON_NODE, ...) are not compared.
func TestFakeSrunMatchesRealSrun(t *testing.T) {
	tools := slurmdev.Require(t)
	cases := compareCases()

	start := time.Now()
	job := compareRunReal(t, tools, cases)
	realTime := time.Since(start)

	env := compareFakeEnv(t, job)
	start = time.Now()
	fake := make([]compareResult, len(cases))
	for i, c := range cases {
		fake[i] = compareRunFake(t, env, c.expand(job.nodes))
	}
	t.Logf("job %s on %s: real steps in %v, fake steps in %v", job.id, slurm.CompressHostlist(job.nodes),
		realTime.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			realRes, fakeRes := job.results[i], fake[i]
			if realRes.status != c.wantStatus {
				t.Errorf("real srun exited %d, but the case is about status %d: the cluster does not behave as "+
					"the case assumes\nstdout:\n%s\nstderr:\n%s", realRes.status, c.wantStatus, realRes.stdout, realRes.stderr)
			}
			want, got := c.normalize(realRes, job.id), c.normalize(fakeRes, job.id)
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(compareNormalized{})); diff != "" {
				t.Errorf("srun %s: the fake differs from real srun (-real +fake):\n%s\nreal stdout:\n%s\nreal stderr:\n%s\n"+
					"fake stdout:\n%s\nfake stderr:\n%s", compareShellWords(c.expand(job.nodes)), diff,
					realRes.stdout, realRes.stderr, fakeRes.stdout, fakeRes.stderr)
			}
		})
	}
}

// compareEnvScript prints the variables the supervisor and its tasks rely on, one line per task. Step
// ids are printed after the job id, so that normalisation hides them.
const compareEnvScript = `echo "$SLURM_PROCID $SLURM_LOCALID $SLURM_NODEID $SLURMD_NODENAME` +
	` job=$SLURM_JOB_ID,$SLURM_JOBID,$SLURM_JOB_NODELIST,$SLURM_JOB_NUM_NODES` +
	` step=$SLURM_JOB_ID.$SLURM_STEP_ID,$SLURM_JOB_ID.$SLURM_STEPID,$SLURM_STEP_NODELIST` +
	` nodes=$SLURM_STEP_NUM_NODES,$SLURM_NNODES tasks=$SLURM_STEP_NUM_TASKS,$SLURM_NTASKS,$SLURM_NPROCS` +
	` per-node=$SLURM_STEP_TASKS_PER_NODE/$SLURM_TASKS_PER_NODE` +
	` gpus=$SLURM_GPUS_ON_NODE/$SLURM_STEP_GPUS/$CUDA_VISIBLE_DEVICES/$GPU_DEVICE_ORDINAL/$ROCR_VISIBLE_DEVICES` +
	` mpi=$SLURM_MPI_TYPE/$PMIX_RANK inherited=$` + compareInheritedVar + `"`

const (
	// The batch job of the real side: two nodes with four tasks and four GPUs each.
	compareJobNodes        = 2
	compareJobTasksPerNode = 4
	compareJobGPUsPerNode  = 4
	// compareKillWait is the dev cluster's KillWait, given to the fake as its kill wait.
	compareKillWait = "5s"
	// compareInheritedVar is set in the environment of sbatch and of the fake, to tell whether a step
	// passes the caller's environment on.
	compareInheritedVar = "DISAGG_COMPARE_INHERITED"
	// compareJobTimeout bounds the wait for the batch job, which is longer only when the cluster is
	// busy with other jobs or broken.
	compareJobTimeout = 90 * time.Second
)

// compareCase is one srun command line run both ways.
type compareCase struct {
	name string
	// args are srun's arguments. "{node0}" and "{node1}" stand for the job's nodes, "{nodes}" for its
	// node list: the cluster is shared, so which nodes the job gets is known only once it runs.
	args []string
	// wantStatus is real srun's status in this case; another one means the cluster does not behave
	// as the case assumes, and the comparison proves less than it says.
	wantStatus int
	// unorderedErr compares the stderr lines after the first orderedErr ones as a set, task
	// failure lines one per rank: output of different tasks and nodes, and the grouping of task ends
	// on a node, depend on timing. Without it every stderr line must come in the same order.
	unorderedErr bool
	orderedErr   int
	// keep, when set, keeps only the stdout lines it matches, for commands that print a whole
	// environment.
	keep *regexp.Regexp
}

func compareCases() []compareCase {
	exportKeep := regexp.MustCompile(`^(PATH|HOME|SLURM_PROCID|SLURM_JOB_ID|DISAGG_COMPARE_[A-Z]+)=`)
	return []compareCase{
		{
			name: "task count from the job's SLURM_NTASKS",
			args: []string{"-N2", "--ntasks-per-node=2", "sh", "-c",
				`echo $SLURM_PROCID $SLURM_LOCALID $SLURM_NODEID $SLURMD_NODENAME $SLURM_NTASKS $SLURM_STEP_NUM_NODES $SLURM_STEP_NUM_TASKS`},
		},
		{
			name: "placement and environment",
			args: []string{"-N2", "-n4", "--ntasks-per-node=2", "sh", "-c", compareEnvScript},
		},
		{
			name: "worker step as the supervisor writes it",
			args: []string{"--mpi=pmix", "--kill-on-bad-exit=1", "-N", "2", "-w", "{nodes}", "--ntasks=8",
				"--ntasks-per-node=4", "sh", "-c", compareEnvScript},
		},
		{
			name: "server step as the supervisor writes it",
			args: []string{"--overlap", "-N", "1", "-w", "{node1}", "--ntasks=1", "--ntasks-per-node=1",
				"sh", "-c", compareEnvScript},
		},
		{
			name: "uneven tasks",
			args: []string{"-N2", "-n3", "sh", "-c", compareEnvScript},
		},
		{
			name: "node count from the job's SLURM_NNODES",
			args: []string{"-n2", "sh", "-c", compareEnvScript},
		},
		{
			name: "nodelist order",
			args: []string{"-N2", "-n2", "-w", "{node1},{node0}", "sh", "-c",
				`echo $SLURM_PROCID $SLURMD_NODENAME $SLURM_NODEID $SLURM_STEP_NODELIST`},
		},
		{
			name: "fewer GPUs than the job",
			args: []string{"-N1", "-n1", "--gpus-per-node=2", "sh", "-c", `echo $CUDA_VISIBLE_DEVICES $SLURM_GPUS_ON_NODE`},
		},
		{
			name: "the job's GPUs",
			args: []string{"-N1", "-n1", "sh", "-c", `echo $CUDA_VISIBLE_DEVICES $SLURM_GPUS_ON_NODE`},
		},
		{
			name: "GPUs on every task of a step",
			args: []string{"-N2", "-n4", "--ntasks-per-node=2", "--gpus-per-node=1", "sh", "-c", compareEnvScript},
		},
		{
			name:       "exit code without -K",
			args:       []string{"-N2", "--ntasks-per-node=2", "-n4", "bash", "-c", `if [ $SLURM_PROCID = 2 ]; then exit 3; fi; sleep 0.5`},
			wantStatus: 3,
		},
		{
			name: "-K and a failing task",
			args: []string{"--kill-on-bad-exit=1", "-N2", "--ntasks-per-node=2", "-n4", "bash", "-c",
				`if [ $SLURM_PROCID = 3 ]; then sleep 0.5; exit 3; fi; sleep 30`},
			wantStatus:   143,
			unorderedErr: true,
			orderedErr:   1,
		},
		{
			name: "-K and a killed task",
			args: []string{"--kill-on-bad-exit=1", "-N2", "--ntasks-per-node=2", "-n4", "bash", "-c",
				`if [ $SLURM_PROCID = 1 ]; then sleep 0.5; kill -9 $$; fi; sleep 30`},
			wantStatus:   143,
			unorderedErr: true,
			orderedErr:   1,
		},
		{
			name:       "segmentation fault without -K",
			args:       []string{"-N2", "--ntasks-per-node=2", "-n4", "bash", "-c", `if [ $SLURM_PROCID = 1 ]; then kill -SEGV $$; fi; sleep 0.5`},
			wantStatus: 139,
		},
		{
			// slurmstepd's message reaches srun through the task's output, the exit code by
			// another path: either may come first.
			name:         "command not found",
			args:         []string{"-N1", "-n1", "/nonexistent/disagg-compare"},
			wantStatus:   2,
			unorderedErr: true,
		},
		{
			name:         "stdout, stderr and labels",
			args:         []string{"-l", "-N2", "-n4", "sh", "-c", `echo out; echo err >&2`},
			unorderedErr: true,
		},
		{
			name: "--export=NONE",
			args: []string{"-N1", "-n1", "--export=NONE,DISAGG_COMPARE_SET=1", "/usr/bin/env"},
			keep: exportKeep,
		},
		{
			name: "--export=ALL with values",
			args: []string{"-N1", "-n1", "--export=ALL," + compareInheritedVar + "=override,DISAGG_COMPARE_SET=1", "/usr/bin/env"},
			keep: exportKeep,
		},
		{
			name:       "unknown option",
			args:       []string{"--disagg-no-such-option", "-N1", "true"},
			wantStatus: 255,
		},
		{
			name:       "missing option argument",
			args:       []string{"-N"},
			wantStatus: 255,
		},
		{
			name:       "no command",
			args:       []string{"-N1"},
			wantStatus: 1,
		},
		{
			name:       "bad --kill-on-bad-exit value",
			args:       []string{"--kill-on-bad-exit=x", "-N1", "-n1", "true"},
			wantStatus: 1,
		},
		{
			name: "fewer tasks than nodes",
			args: []string{"-N2", "-n1", "sh", "-c", `echo $SLURM_PROCID $SLURMD_NODENAME $SLURM_STEP_NUM_NODES`},
		},
	}
}

// comparePlaceholder matches the stand-ins for the job's nodes in a case's arguments.
var comparePlaceholder = regexp.MustCompile(`\{(node0|node1|nodes)\}`)

// expand returns the case's srun arguments for a job on nodes.
func (c compareCase) expand(nodes []string) []string {
	out := make([]string, len(c.args))
	for i, a := range c.args {
		out[i] = comparePlaceholder.ReplaceAllStringFunc(a, func(m string) string {
			switch m {
			case "{node0}":
				return nodes[0]
			case "{node1}":
				return nodes[1]
			}
			return slurm.CompressHostlist(nodes)
		})
	}
	return out
}

// compareShellArg writes a case's argument for bash, its placeholders taken from the batch script's
// variables.
func compareShellArg(a string) string {
	var b strings.Builder
	last := 0
	for _, m := range comparePlaceholder.FindAllStringIndex(a, -1) {
		if m[0] > last {
			b.WriteString(compareShellQuote(a[last:m[0]]))
		}
		switch a[m[0]:m[1]] {
		case "{node0}":
			b.WriteString(`"${nodes[0]}"`)
		case "{node1}":
			b.WriteString(`"${nodes[1]}"`)
		default:
			b.WriteString(`"$SLURM_JOB_NODELIST"`)
		}
		last = m[1]
	}
	if last < len(a) || a == "" {
		b.WriteString(compareShellQuote(a[last:]))
	}
	return b.String()
}

func compareShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// compareShellWords writes args for a message.
func compareShellWords(args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = a
		if a == "" || strings.ContainsAny(a, " \t\n'\"$\\;&|<>()*?[]{}") {
			quoted[i] = compareShellQuote(a)
		}
	}
	return strings.Join(quoted, " ")
}

// compareResult is what one srun did.
type compareResult struct {
	status         int
	stdout, stderr string
}

// compareNormalized is a compareResult without what legitimately differs between two runs.
type compareNormalized struct {
	status    int
	stdout    []string // sorted: tasks print concurrently
	stderr    []string // in order
	stderrSet []string // sorted, task failure lines one per rank
}

var (
	// compareCancelTime matches the time in slurmstepd's notice of a cancelled step.
	compareCancelTime = regexp.MustCompile(`CANCELLED AT \S+ \*\*\*`)
	// compareForceTerminated is real srun's last line after -K ends a step, which the fake does not
	// print.
	compareForceTerminated = regexp.MustCompile(`^srun: Force Terminated StepId=\S+$`)
	// compareStepRetry matches real srun's notes that a step waited for the resources of the previous
	// one, which the cluster may release a moment after that srun returned.
	compareStepRetry = regexp.MustCompile(`^srun: (Job \d+ step creation (temporarily|still) disabled, retrying|Step created for (StepId=\S+|job \d+)$)`)
)

// normalize hides what differs between two runs of the same step: step ids (after job id),
// timestamps, a core dump, the fake's missing "Force Terminated" line, and orders that depend on
// timing.
func (c compareCase) normalize(r compareResult, jobID string) compareNormalized {
	stepID := regexp.MustCompile(`\b` + regexp.QuoteMeta(jobID) + `\.\d+\b`)
	clean := func(s string) []string {
		var out []string
		for line := range strings.Lines(s) {
			line = strings.TrimSuffix(line, "\n")
			line = stepID.ReplaceAllString(line, jobID+".STEP")
			line = compareCancelTime.ReplaceAllString(line, "CANCELLED AT TIME ***")
			line = strings.ReplaceAll(line, " (core dumped)", "")
			if compareForceTerminated.MatchString(line) || compareStepRetry.MatchString(line) {
				continue
			}
			out = append(out, line)
		}
		return out
	}
	n := compareNormalized{status: r.status}
	for _, line := range clean(r.stdout) {
		if c.keep == nil || c.keep.MatchString(line) {
			n.stdout = append(n.stdout, line)
		}
	}
	slices.Sort(n.stdout)
	n.stderr = clean(r.stderr)
	if c.unorderedErr && len(n.stderr) > c.orderedErr {
		for _, line := range n.stderr[c.orderedErr:] {
			n.stderrSet = append(n.stderrSet, comparePerRank(line)...)
		}
		n.stderr = n.stderr[:c.orderedErr]
		slices.Sort(n.stderrSet)
	}
	return n
}

// comparePerRank splits a task failure line into one line per rank; other lines stay as they are.
func comparePerRank(line string) []string {
	failures := slurm.ParseTaskFailures(line)
	if len(failures) != 1 {
		return []string{line}
	}
	f := failures[0]
	out := make([]string, len(f.Ranks))
	for i, r := range f.Ranks {
		out[i] = fmt.Sprintf("srun: error: %s: task %d: %s", f.Node, r, f.Status)
	}
	return out
}

// compareJob is the batch job that ran the real steps.
type compareJob struct {
	id      string
	env     []string // the batch script's environment, where the supervisor would run
	nodes   []string
	results []compareResult
}

// compareBaseEnv is the caller's environment for sbatch and the fake: this process's, without what
// a surrounding job or an earlier fake would add, and with compareInheritedVar.
func compareBaseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case name == "SLURM_CONF":
		case strings.HasPrefix(name, "SLURM"), strings.HasPrefix(name, "SBATCH_"), strings.HasPrefix(name, "SALLOC_"),
			strings.HasPrefix(name, "SRUN_"), strings.HasPrefix(name, "DISAGG_COMPARE_"),
			name == StateDirEnv, name == KillWaitEnv:
			continue
		}
		env = append(env, kv)
	}
	return append(env, compareInheritedVar+"=1")
}

// compareRunReal runs every case as a step of one batch job, one after the other, and collects what
// each srun printed and returned.
func compareRunReal(t *testing.T, tools slurmdev.Tools, cases []compareCase) compareJob {
	t.Helper()
	dir := t.TempDir()
	var script strings.Builder
	script.WriteString("#!/bin/bash\n")
	script.WriteString("# One srun step per case of TestFakeSrunMatchesRealSrun.\n")
	script.WriteString("env -0 > batch.env\n")
	fmt.Fprintf(&script, "mapfile -t nodes < <(%s show hostnames \"$SLURM_JOB_NODELIST\")\n", compareShellQuote(tools.Scontrol))
	// srun named "srun", as when the supervisor finds it on PATH: getopt's messages start with argv[0].
	fmt.Fprintf(&script, "step() { local name=$1; shift; (exec -a srun %s \"$@\") > \"$name.out\" 2> \"$name.err\"; echo $? > \"$name.rc\"; }\n",
		compareShellQuote(tools.Srun))
	for i, c := range cases {
		fmt.Fprintf(&script, "step case%02d", i)
		for _, a := range c.args {
			script.WriteString(" " + compareShellArg(a))
		}
		script.WriteString("\n")
	}
	script.WriteString("touch done\n")
	scriptPath := filepath.Join(dir, "steps.sh")
	if err := os.WriteFile(scriptPath, []byte(script.String()), 0o755); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "batch.log")

	submit := exec.Command(tools.Sbatch, "--parsable", "--job-name=disagg-fakesrun-compare",
		"--nodes="+strconv.Itoa(compareJobNodes),
		"--ntasks="+strconv.Itoa(compareJobNodes*compareJobTasksPerNode),
		"--ntasks-per-node="+strconv.Itoa(compareJobTasksPerNode),
		"--gpus-per-node="+strconv.Itoa(compareJobGPUsPerNode),
		"--time=5", "--chdir="+dir, "--output="+logPath, scriptPath)
	submit.Env = compareBaseEnv()
	out, err := submit.CombinedOutput()
	if err != nil {
		t.Fatalf("sbatch: %v: %s", err, out)
	}
	// --parsable prints "id" or "id;cluster".
	id, _, _ := strings.Cut(strings.TrimSpace(string(out)), ";")
	if _, err := strconv.Atoi(id); err != nil {
		t.Fatalf("sbatch printed %q, not a job id", out)
	}
	t.Cleanup(func() {
		// Nothing to do for a finished job; a job left running by a failure must not hold nodes.
		_ = exec.Command(tools.Scancel, id).Run()
	})

	deadline := time.Now().Add(compareJobTimeout)
	nextCheck := time.Now().Add(2 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "done")); err == nil {
			break
		}
		now := time.Now()
		if now.After(deadline) {
			t.Fatalf("batch job %s did not finish its steps within %v (squeue: %s)\nlog:\n%s",
				id, compareJobTimeout, compareJobState(tools, id), compareReadFile(logPath))
		}
		if now.After(nextCheck) {
			nextCheck = now.Add(2 * time.Second)
			state := compareJobState(tools, id)
			switch {
			case strings.HasPrefix(state, "PENDING"), strings.HasPrefix(state, "RUNNING"),
				strings.HasPrefix(state, "CONFIGURING"), strings.HasPrefix(state, "COMPLETING"), state == "":
			default:
				// It may have just finished after writing done.
				if _, err := os.Stat(filepath.Join(dir, "done")); err != nil {
					t.Fatalf("batch job %s ended (%s) before its steps did\nlog:\n%s", id, state, compareReadFile(logPath))
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}

	job := compareJob{id: id, results: make([]compareResult, len(cases))}
	rawEnv, err := os.ReadFile(filepath.Join(dir, "batch.env"))
	if err != nil {
		t.Fatal(err)
	}
	for kv := range strings.SplitSeq(string(rawEnv), "\x00") {
		if kv != "" {
			job.env = append(job.env, kv)
		}
	}
	for i := range cases {
		base := filepath.Join(dir, fmt.Sprintf("case%02d", i))
		rc, err := os.ReadFile(base + ".rc")
		if err != nil {
			t.Fatalf("case %q: %v\nlog:\n%s", cases[i].name, err, compareReadFile(logPath))
		}
		status, err := strconv.Atoi(strings.TrimSpace(string(rc)))
		if err != nil {
			t.Fatalf("case %q: status %q: %v", cases[i].name, rc, err)
		}
		job.results[i] = compareResult{status: status, stdout: compareReadFile(base + ".out"), stderr: compareReadFile(base + ".err")}
	}
	topo, err := slurm.TopologyFromEnv(getenvFrom(job.env))
	if err != nil {
		t.Fatalf("the batch job's environment: %v", err)
	}
	if topo.JobID != id || len(topo.Nodes) != compareJobNodes || topo.GPUsPerNode != compareJobGPUsPerNode {
		t.Fatalf("batch job %s: the environment says job %q on %v with %d GPUs per node; want %d nodes with %d GPUs",
			id, topo.JobID, topo.Nodes, topo.GPUsPerNode, compareJobNodes, compareJobGPUsPerNode)
	}
	job.nodes = topo.Nodes
	return job
}

// compareJobState is squeue's state of a job and its reason, "" when squeue does not know it (any more).
func compareJobState(tools slurmdev.Tools, id string) string {
	out, err := exec.Command(tools.Squeue, "-h", "-t", "all", "-j", id, "-o", "%T %R").Output()
	if err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			return ""
		}
		return "squeue: " + err.Error()
	}
	return strings.TrimSpace(string(out))
}

func compareReadFile(path string) string {
	data, _ := os.ReadFile(path)
	return string(data)
}

// compareFakeEnv is the fake's allocation environment equivalent to the batch job's: the same job
// id, nodes and GPUs per node, with srun's input variables that sbatch set, and the cluster's kill
// wait.
func compareFakeEnv(t *testing.T, job compareJob) []string {
	t.Helper()
	getenv := getenvFrom(job.env)
	env := AllocationEnv(compareBaseEnv(), job.id, job.nodes, compareJobGPUsPerNode, t.TempDir())
	for _, name := range []string{"SLURM_NNODES", "SLURM_NTASKS", "SLURM_NPROCS", "SLURM_NTASKS_PER_NODE"} {
		if v := getenv(name); v != "" {
			env = append(env, name+"="+v)
		}
	}
	return append(env, KillWaitEnv+"="+compareKillWait)
}

// compareRunFake runs one case with the fake srun.
func compareRunFake(t *testing.T, env, args []string) compareResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	status := Run(ctx, args, env, &stdout, &stderr, nil)
	if ctx.Err() != nil {
		t.Errorf("fake srun %s: still running after a minute", compareShellWords(args))
	}
	return compareResult{status: status, stdout: stdout.String(), stderr: stderr.String()}
}
