package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"

	"mvdan.cc/sh/v3/syntax"
)

// jobSpec is one scenario's batch job. Zero fields take the defaults named in their comments.
type jobSpec struct {
	Name         string
	Nodes        int      // #SBATCH --nodes; default: what the layout needs
	TasksPerNode int      // ranks per node of every worker, = #SBATCH --ntasks-per-node; default 2
	GPUsPerNode  int      // #SBATCH --gpus-per-node and gpusPerNode; default 2
	Time         string   // #SBATCH --time; default 5 (minutes)
	SBATCH       []string // more #SBATCH options
	NumGen       int      // numGenServers; default 1
	NumCtx       int      // numCtxServers
	NodesPerGen  int      // nodesPerGenServer; default 1
	NodesPerCtx  int      // nodesPerCtxServer; default 1
	GenOnly      bool     // export TRTLLM_DISAGG_BENCHMARK_GEN_ONLY=1
	// Aggregated exports the aggregated contract instead of the disaggregated one: gpusPerNodePerServer
	// (TasksPerNode), totalNodes (Nodes, default 2), world_size (WorldSize, when set), no numGenServers.
	Aggregated bool
	WorldSize  int

	// The toy command: --requests (default 100) --concurrency 4 [--work] [--fail].
	Requests string
	Work     string
	Fail     string
	ToyFlags string // more toy flags, e.g. --ignore-term CTX_0
	// Command replaces the toy command; it is put inside double quotes in the script.
	Command string
	// Probes is DISAGG_PROBES; default: the toy's address files of the roles the layout has.
	Probes string

	Setup      []string // shell lines before the exports
	BeforeExec []string // shell lines after the exports, before exec
	RunFlags   string   // shell text after `disagg-supervisor run --srun-args-file ...`

	// Filled in by submit.
	Workspace string
	BinDir    string
}

func (s *jobSpec) defaults() {
	if s.TasksPerNode == 0 {
		s.TasksPerNode = 2
	}
	if s.GPUsPerNode == 0 {
		s.GPUsPerNode = 2
	}
	if s.Time == "" {
		s.Time = "5"
	}
	if s.NumGen == 0 {
		s.NumGen = 1
	}
	if s.NodesPerGen == 0 {
		s.NodesPerGen = 1
	}
	if s.NodesPerCtx == 0 {
		s.NodesPerCtx = 1
	}
	if s.Nodes == 0 && s.Aggregated {
		s.Nodes = 2
	}
	if s.Nodes == 0 {
		s.Nodes = s.NumGen * s.NodesPerGen
		if !s.GenOnly {
			s.Nodes += s.NumCtx * s.NodesPerCtx
		}
	}
	if s.Requests == "" {
		s.Requests = "100"
	}
	if s.Command == "" {
		s.Command = binary + " toy --requests " + s.Requests + " --concurrency 4"
		if s.Work != "" {
			s.Command += " --work " + s.Work
		}
		if s.Fail != "" {
			s.Command += " --fail " + s.Fail
		}
		if s.ToyFlags != "" {
			s.Command += " " + s.ToyFlags
		}
	}
	if s.Probes == "" && s.Aggregated {
		s.Probes = "SERVER=file:{out}/hostnames-{token}/SERVER.txt"
	}
	if s.Probes == "" {
		// A probe pattern that matches no role is an input error, so CTX_* only when there are CTX roles.
		probes := []string{"GEN_*=file:{out}/hostnames-{token}/{role}.txt"}
		if s.NumCtx > 0 && !s.GenOnly {
			probes = append(probes, "CTX_*=file:{out}/hostnames-{token}/{role}.txt")
		}
		probes = append(probes, "DISAGG_SERVER=file:{out}/hostnames-{token}/DISAGG_SERVER.txt")
		s.Probes = strings.Join(probes, ";")
	}
}

var jobTemplate = template.Must(template.New("job.sh.tmpl").Funcs(template.FuncMap{
	"q":   func(s string) (string, error) { return syntax.Quote(s, syntax.LangBash) },
	"mul": func(a, b int) int { return a * b },
}).ParseFiles(filepath.Join("testdata", "job.sh.tmpl")))

// job is a submitted batch job.
type job struct {
	t  *testing.T
	id string
	ws string
	// ended is set once the job reached a final state, so the cleanup does not cancel it.
	ended bool
	// serverLog is the aggregated SERVER's log name: gen_server_0.log in gen-only.
	serverLog string
}

// submit renders the scenario's job script into a fresh workspace and submits it with sbatch.
func submit(t *testing.T, spec jobSpec) *job {
	t.Helper()
	spec.defaults()
	// A workspace of its own for every run of the test: with -count N (scripts/stress.sh) a second run
	// must not find the first one's summary or logs.
	ws, err := os.MkdirTemp(suiteDir, strings.NewReplacer("/", "-", " ", "_").Replace(t.Name())+"-")
	if err != nil {
		t.Fatal(err)
	}
	// MkdirTemp makes it private; the job and its steps read and write it like any shared workspace.
	if err := os.Chmod(ws, 0o755); err != nil {
		t.Fatal(err)
	}
	spec.Workspace, spec.BinDir = ws, binDir
	var script bytes.Buffer
	if err := jobTemplate.Execute(&script, spec); err != nil {
		t.Fatalf("render job script: %v", err)
	}
	path := filepath.Join(ws, "job.sh")
	if err := os.WriteFile(path, script.Bytes(), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := slurmCmd(ws, "sbatch", "--parsable", path)
	if err != nil {
		t.Fatalf("sbatch: %v", err)
	}
	id, _, _ := strings.Cut(strings.TrimSpace(out), ";")
	if _, err := strconv.Atoi(id); err != nil {
		t.Fatalf("sbatch --parsable printed %q, want a job id", out)
	}
	j := &job{t: t, id: id, ws: ws, serverLog: "aggregated_server.log"}
	if spec.Aggregated && spec.GenOnly {
		j.serverLog = "gen_server_0.log"
	}
	t.Logf("job %s submitted, workspace %s", id, ws)
	t.Cleanup(func() {
		if !j.ended {
			_, _ = slurmCmd("", "scancel", id)
		}
		if t.Failed() {
			j.dump()
		}
	})
	return j
}

// dump logs the job's output and the workspace's files, for diagnosing a failure.
func (j *job) dump() {
	j.t.Helper()
	outs, _ := filepath.Glob(filepath.Join(j.ws, "slurm-*.out"))
	for _, out := range outs {
		data, err := os.ReadFile(out)
		if err != nil {
			continue
		}
		// The tasks' environment dumps make it long; the supervisor's own lines are what matters.
		var kept []string
		for _, line := range strings.Split(string(data), "\n") {
			if !strings.HasPrefix(strings.TrimSpace(line), "| ") || strings.Contains(line, "toy:") || strings.Contains(line, "srun") || strings.Contains(line, "task:") {
				kept = append(kept, line)
			}
		}
		j.t.Logf("----- %s (environment lines left out)\n%s", out, strings.Join(kept, "\n"))
	}
	var files []string
	_ = filepath.WalkDir(j.ws, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(j.ws, p)
			files = append(files, rel)
		}
		return nil
	})
	j.t.Logf("----- files in %s: %v", j.ws, files)
}

// jobRecord is what `scontrol show job` says about a job.
type jobRecord struct {
	State    string // JobState, e.g. COMPLETED
	ExitCode string // ExitCode, "code:signal"
	Nodes    []string
	Restarts int
	fields   map[string]string
}

var fieldRE = regexp.MustCompile(`(?:^|\s)([A-Za-z:]+)=(\S*)`)

// record reads the job's record; ok is false once Slurm has forgotten the job.
func (j *job) record() (jobRecord, bool, error) {
	out, err := slurmCmd("", "scontrol", "show", "job", "-o", j.id)
	if err != nil {
		if strings.Contains(out+err.Error(), "Invalid job id") {
			return jobRecord{}, false, nil
		}
		return jobRecord{}, false, err
	}
	rec := jobRecord{fields: map[string]string{}}
	for _, m := range fieldRE.FindAllStringSubmatch(out, -1) {
		if _, seen := rec.fields[m[1]]; !seen {
			rec.fields[m[1]] = m[2]
		}
	}
	rec.State = rec.fields["JobState"]
	rec.ExitCode = rec.fields["ExitCode"]
	rec.Restarts, _ = strconv.Atoi(rec.fields["Restarts"])
	return rec, true, nil
}

// nodes expands the job's node list with Slurm's own `scontrol show hostnames`.
func (rec *jobRecord) nodes() error {
	nl := rec.fields["NodeList"]
	if nl == "" || nl == "(null)" {
		return nil
	}
	hosts, err := slurmCmd("", "scontrol", "show", "hostnames", nl)
	if err != nil {
		return err
	}
	rec.Nodes = strings.Fields(hosts)
	return nil
}

// finalStates are the job states from which a job does not come back by itself.
var finalStates = []string{"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED",
	"OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE"}

// wait polls the job every 0.5 s until it reaches a final state, and returns its last record, with the
// node list it ran on expanded.
func (j *job) wait(timeout time.Duration) jobRecord {
	j.t.Helper()
	deadline := time.Now().Add(timeout)
	var last jobRecord
	for {
		rec, ok, err := j.record()
		switch {
		case err != nil:
			j.t.Logf("scontrol show job %s: %v", j.id, err)
		case !ok:
			j.t.Fatalf("job %s vanished from scontrol before it was seen ending (last state %q)", j.id, last.State)
		default:
			last = rec
			if slices.Contains(finalStates, rec.State) {
				j.ended = true
				if err := rec.nodes(); err != nil {
					j.t.Fatalf("job %s: %v", j.id, err)
				}
				return rec
			}
		}
		if time.Now().After(deadline) {
			j.t.Fatalf("job %s did not end within %s (state %q)", j.id, timeout, last.State)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// waitSummary polls summary.json until cond holds for it.
func (j *job) waitSummary(timeout time.Duration, what string, cond func(summary) bool) summary {
	j.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if s, err := readSummary(j.ws); err == nil && cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			rec, _, _ := j.record()
			j.t.Fatalf("job %s: summary.json never showed %s within %s (job state %q)", j.id, what, timeout, rec.State)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// slurmCmd runs a Slurm client with a bounded time; the output is stdout, or stderr on failure.
func slurmCmd(dir string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = clientEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String() + stderr.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// clientEnv is this process's environment without the variables of any job it may run inside, so
// that sbatch starts a job of its own.
func clientEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SLURM_") && !strings.HasPrefix(kv, "SLURM_CONF=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// summary is summary.json as docs/outputs.md documents it.
type summary struct {
	JobID           string        `json:"job_id"`
	RunToken        string        `json:"run_token"`
	Workspace       string        `json:"workspace"`
	OutputDir       string        `json:"output_dir"`
	State           string        `json:"state"`
	ExitCode        *int          `json:"exit_code"`
	StartedAt       time.Time     `json:"started_at"`
	DecidedAt       *time.Time    `json:"decided_at"`
	EndedAt         *time.Time    `json:"ended_at"`
	DurationSeconds float64       `json:"duration_seconds"`
	Roles           []roleSummary `json:"roles"`
	Failure         *failure      `json:"failure"`
	IgnoredSIGTERM  []string      `json:"ignored_sigterm"`
	Warnings        []string      `json:"warnings"`
	Errors          []string      `json:"errors"`
	BadNodes        []string      `json:"bad_nodes"`
	ServerConfigs   []struct {
		Index   int    `json:"index"`
		Status  string `json:"status"`
		Verdict string `json:"verdict"`
	} `json:"server_configs"`
	SlurmCalls map[string]int `json:"slurm_calls"`
}

type roleSummary struct {
	Name       string     `json:"name"`
	Kind       string     `json:"kind"`
	Nodes      []string   `json:"nodes"`
	NTasks     int        `json:"ntasks"`
	State      string     `json:"state"`
	LaunchedAt *time.Time `json:"launched_at"`
	RunningAt  *time.Time `json:"running_at"`
	ReadyAt    *time.Time `json:"ready_at"`
	EndedAt    *time.Time `json:"ended_at"`
	ExitCode   *int       `json:"exit_code"`
	SrunStatus *int       `json:"srun_status"`
	Log        string     `json:"log"`
}

type failure struct {
	Role     string   `json:"role"`
	Kind     string   `json:"kind"`
	Nodes    []string `json:"nodes"`
	Node     string   `json:"node"`
	Ranks    []int    `json:"ranks"`
	Code     int      `json:"code"`
	Reason   string   `json:"reason"`
	SrunLine string   `json:"srun_line"`
	Log      string   `json:"log"`
	Class    string   `json:"class"`
	Origin   string   `json:"origin"`
	Evidence []string `json:"evidence"`
	// FirstErrors are the first error-shaped lines of the role's log, with their line numbers.
	FirstErrors []struct {
		Line int    `json:"line"`
		Text string `json:"text"`
	} `json:"first_errors"`
	LogTail []string `json:"log_tail"`
}

func readSummary(ws string) (summary, error) {
	var s summary
	data, err := os.ReadFile(filepath.Join(ws, "summary.json"))
	if err != nil {
		return s, err
	}
	err = json.Unmarshal(data, &s)
	return s, err
}

func (s summary) role(name string) (roleSummary, bool) {
	for _, r := range s.Roles {
		if r.Name == name {
			return r, true
		}
	}
	return roleSummary{}, false
}

func (s summary) roleNames() []string {
	var names []string
	for _, r := range s.Roles {
		names = append(names, r.Name)
	}
	return names
}

// roleRunning reports whether the role's tasks have all started (and not ended).
func (s summary) roleRunning(name string) bool {
	r, ok := s.role(name)
	return ok && (r.State == "running" || r.State == "ready")
}

// event is one line of supervisor.events.jsonl.
type event struct {
	Time    time.Time `json:"time"`
	Level   string    `json:"level"`
	Event   string    `json:"event"`
	Role    string    `json:"role"`
	Nodes   string    `json:"nodes"`
	Step    int       `json:"step"`
	Code    *int      `json:"code"`
	Signal  string    `json:"signal"`
	Message string    `json:"message"`
}

// attemptEvents returns the events of the attempt with the given run token: the event log is appended
// to by every attempt, each starting with a plan event that names its token.
func attemptEvents(t *testing.T, ws, token string) []event {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(ws, "supervisor.events.jsonl"))
	if err != nil {
		t.Fatalf("event log: %v", err)
	}
	var all []event
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var ev event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("event log line %q: %v", line, err)
		}
		all = append(all, ev)
	}
	var mine []event
	in := false
	for _, ev := range all {
		if ev.Event == "plan" && strings.Contains(ev.Message, "run token ") {
			in = strings.HasSuffix(ev.Message, "run token "+token)
		}
		if in {
			mine = append(mine, ev)
		}
	}
	if len(mine) == 0 {
		t.Fatalf("event log has no attempt with run token %s", token)
	}
	return mine
}

// logName is the log file of a role, with today's names.
func logName(role string) string {
	switch {
	case strings.Contains(role, "_PRECHECK_"):
		kind, idx, _ := strings.Cut(role, "_PRECHECK_")
		return "cache_transceiver_precheck/logs/" + strings.ToLower(kind) + "_" + idx + ".log"
	case strings.HasPrefix(role, "PREFLIGHT_"):
		return "preflight/" + strings.TrimPrefix(role, "PREFLIGHT_") + ".log"
	case strings.HasPrefix(role, "GEN_"):
		return "gen_server_" + strings.TrimPrefix(role, "GEN_") + ".log"
	case strings.HasPrefix(role, "CTX_"):
		return "ctx_server_" + strings.TrimPrefix(role, "CTX_") + ".log"
	case role == "DISAGG_SERVER":
		return "disagg_server.log"
	case role == "BENCHMARK":
		return "benchmark.log"
	case role == "INSTALL":
		return "install.log"
	}
	return ""
}

// header is the line that opens an attempt's part of a role log.
func header(role, token string) string {
	return "=== disagg-supervisor: " + role + " attempt " + token + " launched at "
}

// attemptLog returns the part of a role's log that belongs to the attempt with the given token.
func attemptLog(t *testing.T, path, role, token string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("role log: %v", err)
	}
	text := string(data)
	i := strings.Index(text, header(role, token))
	if i < 0 {
		t.Fatalf("%s has no header for attempt %s", path, token)
	}
	text = text[i+1:]
	if next := strings.Index(text, "\n=== disagg-supervisor: "+role+" attempt "); next >= 0 {
		text = text[:next]
	}
	return text
}

// checkRun checks what every finished run must leave behind: the supervisor's exit code in
// summary.json, a complete summary, an event log with launch, exit and result events, the role logs
// under their usual names, and nothing of the job still running.
func checkRun(t *testing.T, j *job, s summary, wantCode int) {
	t.Helper()
	if s.JobID != j.id {
		t.Errorf("summary job_id %q, want %q", s.JobID, j.id)
	}
	if s.ExitCode == nil || *s.ExitCode != wantCode {
		t.Errorf("summary exit_code %v, want %d", ptrString(s.ExitCode), wantCode)
	}
	if s.EndedAt == nil || s.State == "running" {
		t.Errorf("summary is not final: state %q ended_at %v", s.State, s.EndedAt)
	}
	if !strings.HasPrefix(s.RunToken, j.id+".") {
		t.Errorf("run token %q does not start with the job id %s", s.RunToken, j.id)
	}

	events := attemptEvents(t, j.ws, s.RunToken)
	count := map[string]int{}
	ended := map[string]bool{}
	launched := map[string]bool{}
	for _, ev := range events {
		count[ev.Event]++
		switch ev.Event {
		case "launch":
			launched[ev.Role] = true
		case "exit", "stopped", "finished":
			ended[ev.Role] = true
		case "result":
			if ev.Code == nil || *ev.Code != wantCode {
				t.Errorf("result event code %v, want %d: %s", ptrString(ev.Code), wantCode, ev.Message)
			}
		}
	}
	fileExists(t, filepath.Join(j.ws, "results-disagg-supervisor.xml"))
	if count["result"] != 1 || count["done"] != 1 {
		t.Errorf("event log of attempt %s has %d result and %d done events, want 1 each", s.RunToken, count["result"], count["done"])
	}

	for _, r := range s.Roles {
		want := filepath.Join(j.ws, logName(r.Name))
		if r.Name == "SERVER" {
			want = filepath.Join(j.ws, j.serverLog)
		}
		if r.Log != want {
			t.Errorf("%s: log %s, want %s", r.Name, r.Log, want)
		}
		if r.LaunchedAt == nil {
			if launched[r.Name] {
				t.Errorf("%s: launch event but no launched_at in the summary", r.Name)
			}
			continue
		}
		if r.State == "abandoned" && s.State == "interrupted" {
			// Slurm was ending the job and the step had not ended when the supervisor had to exit
			// inside KillWait (an srun caught starting a step waits up to KillWait + 2 s): the
			// record says so, and Slurm ends the step with the job.
			continue
		}
		if !launched[r.Name] || !ended[r.Name] {
			t.Errorf("%s: launched at %v, but the event log has launch %v and exit/stopped %v", r.Name, r.LaunchedAt, launched[r.Name], ended[r.Name])
		}
		if r.EndedAt == nil || !slices.Contains([]string{"exited", "stopped", "finished"}, r.State) {
			t.Errorf("%s: state %q ended_at %v after the run, want exited, stopped or finished", r.Name, r.State, r.EndedAt)
		}
		data, err := os.ReadFile(r.Log)
		if err != nil {
			t.Errorf("%s: %v", r.Name, err)
		} else if !strings.Contains(string(data), header(r.Name, s.RunToken)) {
			t.Errorf("%s: %s has no header line for attempt %s", r.Name, r.Log, s.RunToken)
		}
	}
	checkNothingLeft(t, j, s.RunToken)
}

// checkNothingLeft: Slurm lists no step of the job, and no process on this machine (the cluster's
// nodes are processes of it) carries the job's id or a run token in its environment.
func checkNothingLeft(t *testing.T, j *job, tokens ...string) {
	t.Helper()
	out, err := slurmCmd("", "squeue", "-h", "-s", "-j", j.id)
	if err != nil && !strings.Contains(out+err.Error(), "Invalid job id") {
		t.Errorf("squeue -h -s -j %s: %v", j.id, err)
	}
	if strings.TrimSpace(out) != "" && err == nil {
		t.Errorf("squeue still lists steps of job %s:\n%s", j.id, out)
	}
	needles := map[string]bool{"SLURM_JOB_ID=" + j.id: true}
	for _, tok := range tokens {
		needles["TRTLLM_PERF_RUN_TOKEN="+tok] = true
	}
	// The kernel may need a moment to reap the last tasks of a step that just ended.
	deadline := time.Now().Add(3 * time.Second)
	for {
		left := processesWith(needles)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("processes of job %s are still alive:\n%s", j.id, strings.Join(left, "\n"))
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// processesWith lists live (non-zombie) processes that have one of the variables in their environment.
func processesWith(needles map[string]bool) []string {
	var left []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		environ, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		hit := ""
		for _, kv := range bytes.Split(environ, []byte{0}) {
			if needles[string(kv)] {
				hit = string(kv)
				break
			}
		}
		if hit == "" {
			continue
		}
		stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 && bytes.HasPrefix(stat[i:], []byte(") Z")) {
			continue // a zombie holds nothing; its parent reaps it
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		left = append(left, fmt.Sprintf("  pid %d (%s): %s", pid, hit, bytes.TrimSpace(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))))
	}
	sort.Strings(left)
	return left
}

// checkJob compares Slurm's record of the job with the wanted state and exit code.
func checkJob(t *testing.T, rec jobRecord, state, exitCode string) {
	t.Helper()
	if rec.State != state || rec.ExitCode != exitCode {
		t.Errorf("job ended %s with ExitCode=%s, want %s with ExitCode=%s", rec.State, rec.ExitCode, state, exitCode)
	}
}

// checkFailure compares the summary's root cause.
func checkFailure(t *testing.T, s summary, role, node string, ranks []int, code int) {
	t.Helper()
	f := s.Failure
	if f == nil {
		t.Errorf("summary has no failure, want %s failing with %d", role, code)
		return
	}
	if f.Role != role || f.Node != node || !slices.Equal(f.Ranks, ranks) || f.Code != code {
		t.Errorf("failure: role %s node %q ranks %v code %d, want role %s node %q ranks %v code %d (reason %q, srun %q)",
			f.Role, f.Node, f.Ranks, f.Code, role, node, ranks, code, f.Reason, f.SrunLine)
	}
}

// faultTime reads the time the toy wrote when it injected its fault.
func faultTime(t *testing.T, ws, role string, rank int) time.Time {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(ws, fmt.Sprintf("fault-%s-%d.time", role, rank)))
	if err != nil {
		t.Fatalf("fault time: %v", err)
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		t.Fatalf("fault time: %v", err)
	}
	return time.Unix(0, ns)
}

func ptrString(p *int) string {
	if p == nil {
		return "null"
	}
	return strconv.Itoa(*p)
}

// fileExists fails the test unless path exists.
func fileExists(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("%v", err)
	}
}

// fileAbsent fails the test if path exists.
func fileAbsent(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s exists (or cannot be checked: %v), want none", path, err)
	}
}
