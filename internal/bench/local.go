package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/fakesrun"
	"github.com/disagg-supervisor/disagg-supervisor/record"
	"github.com/disagg-supervisor/disagg-supervisor/task"
)

// local runs the items that need no cluster: the supervisor binary in local mode, with its fake srun.
type local struct {
	bin, work string
	runs      int
	seq       int
}

// dir names a new directory for one run (the caller or the supervisor makes it).
func (l *local) dir(name string) string {
	l.seq++
	_ = os.MkdirAll(l.work, 0o755)
	return filepath.Join(l.work, fmt.Sprintf("%02d-%s", l.seq, name))
}

// fault is one injected failure of item 3: the toy's --fail spec and what it must produce.
type fault struct {
	role, spec         string
	rank, code         int
	localID, clusterID string
}

var faults = []fault{
	{"GEN_0", "GEN_0:1:3:2s", 1, 3, "3a", "3d"},
	{"CTX_0", "CTX_0:1:3:2s", 1, 3, "3b", "3e"},
	{"DISAGG_SERVER", "DISAGG_SERVER:0:3:2s", 0, 3, "3c", "3f"},
}

// failureSample is one failure run: the latency and where it went, from the event log.
type failureSample struct {
	latency float64 // fault → supervisor exited with nothing of the run left
	detect  float64 // fault → the supervisor saw the failing step end (its exit event)
	signal  float64 // → every other step asked to stop (teardown event)
	reap    float64 // → every step reaped (result event)
	exit    float64 // → supervisor process gone and nothing of the run left
	left    float64 // processes and steps of the run alive when the supervisor exited
	killed  float64 // steps that outlived the grace period (SIGKILL)
	stopped float64 // steps the teardown asked to stop
	slurm   float64 // Slurm commands the supervisor ran (summary.json slurm_calls); 0 in local mode
}

func (s failureSample) addParts(parts map[string][]float64) {
	for name, v := range map[string]float64{
		"latency minus grace (s)":                          s.latency - grace.Seconds(),
		"a. fault → failing step's exit seen (s)":          s.detect,
		"b. → every other step told to stop (s)":           s.signal,
		"c. → every step reaped (s)":                       s.reap,
		"d. → supervisor exited, nothing left (s)":         s.exit,
		"processes and steps alive at supervisor exit (#)": s.left,
		"steps killed after the grace period (#)":          s.killed,
		"steps the teardown asked to stop (#)":             s.stopped,
	} {
		parts[name] = append(parts[name], v)
	}
	if s.slurm > 0 {
		parts["Slurm commands the supervisor ran (#)"] = append(parts["Slurm commands the supervisor ran (#)"], s.slurm)
	}
}

// analyseFailure reads the fault instant and the event log of one failure run; exit is when the
// supervisor process had exited, gone when nothing of the run was left (Unix seconds).
func analyseFailure(ws string, f fault, exit, gone, left float64) (failureSample, error) {
	ns, err := readFloat(filepath.Join(ws, fmt.Sprintf("fault-%s-%d.time", f.role, f.rank)))
	if err != nil {
		return failureSample{}, fmt.Errorf("fault time: %w", err)
	}
	faultAt := ns / 1e9
	events, err := readEvents(ws)
	if err != nil {
		return failureSample{}, err
	}
	var seen, teardown, result, stopped float64
	for _, ev := range events {
		if ev.Event == record.EventTeardown && len(ev.Steps) > 0 {
			stopped = float64(len(ev.Steps))
		}
		switch {
		case ev.Event == record.EventExit && ev.Role == f.role && seen == 0:
			seen = ev.at
		case ev.Event == record.EventTeardown && teardown == 0:
			teardown = ev.at
		case ev.Event == record.EventResult:
			result = ev.at
		}
	}
	if seen == 0 || teardown == 0 || result == 0 {
		return failureSample{}, fmt.Errorf("event log of %s has no exit of %s, teardown or result", ws, f.role)
	}
	summary, err := record.ReadSummary(ws)
	if err != nil {
		return failureSample{}, err
	}
	end := math.Max(exit, gone)
	calls := 0
	for _, n := range summary.SlurmCalls {
		calls += n
	}
	return failureSample{latency: end - faultAt, detect: seen - faultAt, signal: teardown - seen,
		reap: result - teardown, exit: end - result, left: left, killed: float64(len(summary.IgnoredSIGTERM)), stopped: stopped,
		slurm: float64(calls)}, nil
}

func failureFigure(id string, latency []float64, parts map[string][]float64, refName string, refs []float64, allowance time.Duration) figure {
	f := fig(id, latency)
	f.against(refName, "s", refs)
	limit := (allowance + grace).Seconds()
	f.target(fmt.Sprintf("< %.1f s (%.1f s + grace %.0f s)", limit, allowance.Seconds(), grace.Seconds()), f.Median < limit)
	for name, xs := range parts {
		f.part(name, xs)
	}
	m := func(name string) float64 { return median(parts[name]) }
	f.note("Latency minus the grace period: %.3f s (worst run %.3f s), to compare with %.1f s. Where it goes (medians): the supervisor saw the failing step end %.3f s after the fault, told every other step to stop %.3f s later, had reaped them all %.3f s later, and its process was gone with nothing of the run left %.3f s after that.",
		f.Median-grace.Seconds(), slicesMax(latency)-grace.Seconds(), allowance.Seconds(), m("a. fault → failing step's exit seen (s)"),
		m("b. → every other step told to stop (s)"), m("c. → every step reaped (s)"), m("d. → supervisor exited, nothing left (s)"))
	if killed := slicesMax(parts["steps killed after the grace period (#)"]); killed == 0 {
		f.note("No step needed the grace period (the toy ranks end on SIGTERM), so the latency minus the grace period is negative: the run was over before SIGKILL would have been sent.")
	} else {
		f.note("In some runs up to %.0f steps outlived SIGTERM and were killed after the grace period.", killed)
	}
	return f
}

// failures measures item 3 in local mode.
func (l *local) failures() []figure {
	refs, err := l.fakeSrunSteps()
	var out []figure
	for _, f := range faults {
		fg := fig(f.localID, nil)
		if err != nil {
			out = append(out, failed(fg, err))
			continue
		}
		var latency []float64
		parts := map[string][]float64{}
		var rerr error
		for i := 0; i < l.runs && rerr == nil; i++ {
			logf("local failure detection %s, run %d/%d", f.spec, i+1, l.runs)
			var s failureSample
			if s, rerr = l.failureRun(f); rerr == nil {
				latency = append(latency, s.latency)
				s.addParts(parts)
			}
		}
		if rerr != nil {
			out = append(out, failed(fg, rerr))
			continue
		}
		out = append(out, failureFigure(f.localID, latency, parts, "fake srun: disagg-supervisor srun -N1 -n1 true", refs, 500*time.Millisecond))
	}
	return out
}

// failureRun runs the demo with f injected; extra are more demo flags (--aggregated).
func (l *local) failureRun(f fault, extra ...string) (failureSample, error) {
	ws := l.dir("fail")
	args := append([]string{"demo", "--workspace", ws, "--fail", f.spec, "--grace", grace.String(), "--requests", "100000"}, extra...)
	if err := os.MkdirAll(ws, 0o755); err != nil {
		return failureSample{}, err
	}
	state, err := l.runLogged(ws+".out", args...)
	if err != nil {
		return failureSample{}, err
	}
	exit := unixNow()
	if code := state.ExitCode(); code != f.code {
		return failureSample{}, fmt.Errorf("demo --fail %s exited %d, want %d (log %s.out)", f.spec, code, f.code, ws)
	}
	summary, err := record.ReadSummary(ws)
	if err != nil {
		return failureSample{}, err
	}
	gone, left, err := waitGone(summary.RunToken, exit)
	if err != nil {
		return failureSample{}, err
	}
	return analyseFailure(ws, f, exit, gone, left)
}

// runLogged runs the supervisor binary with args, its stdout and stderr to logPath, and waits for
// it to end. The error is about starting it; how it ended is the state returned.
func (l *local) runLogged(logPath string, args ...string) (*os.ProcessState, error) {
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	cmd := exec.Command(l.bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil && cmd.ProcessState == nil {
		return nil, err
	}
	return cmd.ProcessState, nil
}

// fakeSrunSteps times bare steps of the fake srun: the local reference of item 3.
func (l *local) fakeSrunSteps() ([]float64, error) {
	state := l.dir("fake-srun")
	env := fakesrun.AllocationEnv(os.Environ(), "1", []string{"node1", "node2", "node3", "node4"}, 2, state)
	var out []float64
	for i := 0; i < l.runs; i++ {
		cmd := exec.Command(l.bin, "srun", "-N1", "-n1", "true")
		cmd.Env = env
		start := time.Now()
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("fake srun reference: %v: %s", err, b)
		}
		out = append(out, time.Since(start).Seconds())
	}
	return out, nil
}

// waitGone waits until no live process carries the run token. It returns when that was (exit, if
// nothing was left then) and how many were alive at exit. Leftovers after 10 s are killed and make
// the run an error.
func waitGone(token string, exit float64) (float64, float64, error) {
	left := processesWithToken(token)
	if len(left) == 0 {
		return exit, 0, nil
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if len(processesWithToken(token)) == 0 {
			return unixNow(), float64(len(left)), nil
		}
	}
	still := processesWithToken(token)
	for _, pid := range still {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	return 0, 0, fmt.Errorf("processes of run %s still alive 10 s after the supervisor exited (killed): %v", token, still)
}

// processesWithToken lists the live processes whose environment holds the run token: every step, task
// and role command of a run does.
func processesWithToken(token string) []int {
	needle := []byte("TRTLLM_PERF_RUN_TOKEN=" + token + "\x00")
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !bytes.Contains(env, needle) {
			continue
		}
		if stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); bytes.Contains(stat, []byte(") Z ")) {
			continue // a zombie holds nothing; its parent is reaping it
		}
		pids = append(pids, pid)
	}
	return pids
}

// overheadArgs supervise 10 idle roles for 30 s: 8 GEN of 1 task, the server, a benchmark that sleeps.
var overheadArgs = []string{"--nodes-per-gen", "1", "--gpus-per-node-per-gen", "1", "--num-gen", "8", "--num-ctx", "0",
	"--gen-command", "sleep 600", "--server-command", "sleep 600", "--benchmark-command", "sleep 30"}

// overhead measures item 4. The runs go side by side: each figure is of one process alone, and an
// idle supervisor leaves the others the machine.
func (l *local) overhead() []figure {
	rss, cpu := fig("4a", nil), fig("4b", nil)
	logf("overhead: %d supervisors of 10 idle roles for 30 s, side by side", l.runs)
	type sample struct {
		hwm, cpu, wall, idle float64
		err                  error
	}
	samples := make([]sample, l.runs)
	var wg sync.WaitGroup
	for i := range samples {
		ws := l.dir("overhead")
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := &samples[i]
			args := append([]string{"run", "--local", "--nodes", "8", "--gpus-per-node", "1", "--workspace", ws, "--grace", "2s"}, overheadArgs...)
			s.hwm, s.cpu, s.wall, s.idle, s.err = watchSupervisor(l.bin, args, ws+".out")
		}()
	}
	wg.Wait()
	var hwm, cpus, walls, idle, planRSS []float64
	for _, s := range samples {
		if s.err != nil {
			return []figure{failed(rss, s.err), failed(cpu, s.err)}
		}
		hwm, cpus, walls, idle = append(hwm, s.hwm), append(cpus, s.cpu), append(walls, s.wall), append(idle, s.idle)
	}
	for i := 0; i < l.runs; i++ {
		args := append([]string{"plan", "--nodelist", "node[1-8]", "--gpus-per-node", "1", "--workspace", l.dir("plan")}, overheadArgs...)
		cmd := exec.Command(l.bin, args...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return []figure{failed(rss, fmt.Errorf("plan: %v: %s", err, out)), failed(cpu, err)}
		}
		planRSS = append(planRSS, float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss)/1024)
	}
	rss = fig("4a", hwm)
	rss.against("the same binary running plan for the same layout (peak RSS)", "MB", planRSS)
	rss.target("< 30 MB", rss.Median < 30)
	cpu = fig("4b", cpus)
	cpu.against("wall time of the run", "s", walls)
	cpu.RatioName = "of one core"
	cpu.target("< 1% of one core", cpu.Ratio < 0.01)
	cpu.part("CPU share while all roles run idle, 10 s to 28 s into the run (% of one core)", idle)
	used := fmt.Sprintf("%.3f%% of one core (median)", median(idle))
	if median(idle) == 0 {
		// /proc counts CPU time in 10 ms ticks: over 18 s one tick is 0.056% of a core.
		used = "no measurable CPU time (under one 10 ms clock tick in 18 s, i.e. under 0.06% of one core)"
	}
	cpu.note("Between 10 s and 28 s into the run, with every role started and nothing happening, the supervisor used %s: it waits on its children and timers; the one thing it polls is the benchmark's log, which it copies to the job's output, once a second while the log does not grow.", used)
	return []figure{rss, cpu}
}

// watchSupervisor runs the supervisor and samples its own /proc entries (children excluded) every
// 200 ms: peak RSS (MB), CPU time (s) and the wall time they cover, and the CPU share between 10 s
// and 28 s (percent of one core).
func watchSupervisor(bin string, args []string, logPath string) (hwm, cpu, wall, idle float64, err error) {
	log, err := os.Create(logPath)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	defer log.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, 0, 0, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var at10, at28 struct{ t, cpu float64 }
	for {
		select {
		case werr := <-done:
			if werr != nil {
				return 0, 0, 0, 0, fmt.Errorf("overhead run: %v (log %s)", werr, logPath)
			}
			if at28.t <= at10.t {
				return 0, 0, 0, 0, fmt.Errorf("overhead run ended after %.1f s, before its idle phase (log %s)", time.Since(start).Seconds(), logPath)
			}
			return hwm, cpu, wall, 100 * (at28.cpu - at10.cpu) / (at28.t - at10.t), nil
		case <-tick.C:
			h, c, ok := procUsage(cmd.Process.Pid)
			if !ok {
				continue
			}
			hwm, cpu, wall = h, c, time.Since(start).Seconds()
			if wall <= 10 || at10.t == 0 {
				at10.t, at10.cpu = wall, c
			}
			if wall <= 28 {
				at28.t, at28.cpu = wall, c
			}
		}
	}
}

// procUsage reads VmHWM (MB) and utime+stime (s) of one process, not counting its children.
func procUsage(pid int) (float64, float64, bool) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, false
	}
	var hwm float64
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			fmt.Sscan(v, &hwm)
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil || hwm == 0 {
		return 0, 0, false // exited: a zombie has no memory lines
	}
	// Fields after the command name: state is field 3, utime 14, stime 15, in clock ticks (USER_HZ,
	// 100 on Linux).
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return hwm / 1024, (utime + stime) / 100, true
}

// toyResults is what the toy benchmark writes to toy_benchmark_results.json.
type toyResults struct {
	ThroughputRPS float64 `json:"throughput_rps"`
	LatencyMS     struct {
		P50, P90, P99 float64
	} `json:"latency_ms"`
	Failed int `json:"failed"`
}

// throughput measures item 6.
func (l *local) throughput() []figure {
	const requests, concurrency, work = 2000, 8, 2 * time.Millisecond
	rps, p50 := fig("6a", nil), fig("6b", nil)
	var tput, lat, ideal, hold, p90, p99 []float64
	for i := 0; i < l.runs; i++ {
		logf("toy throughput, run %d/%d", i+1, l.runs)
		h := measureHold(work)
		ws := l.dir("demo")
		cmd := exec.Command(l.bin, "demo", "--workspace", ws, "--requests", strconv.Itoa(requests), "--concurrency", strconv.Itoa(concurrency))
		if out, err := cmd.CombinedOutput(); err != nil {
			err = fmt.Errorf("demo: %v: %s", err, lastLine(out))
			return []figure{failed(rps, err), failed(p50, err)}
		}
		var r toyResults
		data, err := os.ReadFile(filepath.Join(ws, "toy_benchmark_results.json"))
		if err == nil {
			err = json.Unmarshal(data, &r)
		}
		if err == nil && r.Failed > 0 {
			err = fmt.Errorf("%d toy requests failed", r.Failed)
		}
		if err != nil {
			return []figure{failed(rps, err), failed(p50, err)}
		}
		tput, lat, p90, p99 = append(tput, r.ThroughputRPS), append(lat, r.LatencyMS.P50), append(p90, r.LatencyMS.P90), append(p99, r.LatencyMS.P99)
		hold, ideal = append(hold, h*1000), append(ideal, concurrency/h)
	}
	rps = fig("6a", tput)
	rps.against(fmt.Sprintf("ideal: %d requests in flight / two measured 2 ms holds", concurrency), "req/s", ideal)
	rps.RatioName = "of ideal"
	p50 = fig("6b", lat)
	p50.against("two 2 ms holds back to back (time.Sleep), measured", "ms", hold)
	p50.part("p90 (ms)", p90)
	p50.part("p99 (ms)", p99)
	p50.note("p90 %.2f ms, p99 %.2f ms (medians over the runs). Each toy request is a POST to the router, a 2 ms prefill on the CTX worker and a 2 ms decode on a GEN worker, over loopback HTTP; what is above the reference is the router, HTTP and scheduling on %d cores shared with the %d-request client.",
		median(p90), median(p99), describeMachine().NProc, concurrency)
	return []figure{rps, p50}
}

// measureHold is the median time of two back-to-back sleeps of d: what a toy request's two worker
// steps cost at least on this machine.
func measureHold(d time.Duration) float64 {
	var xs []float64
	for i := 0; i < 50; i++ {
		start := time.Now()
		time.Sleep(d)
		time.Sleep(d)
		xs = append(xs, time.Since(start).Seconds())
	}
	return median(xs)
}

// pythonProbe times the task runner's default LD_LIBRARY_PATH probe (python3 importing tensorrt_llm),
// which every task of every step runs: the python3 found, wall time and CPU time (s) per probe.
func (l *local) pythonProbe() (string, []float64, []float64, error) {
	var python string
	var wall, cpu []float64
	for i := 0; i < l.runs; i++ {
		cmd, err := task.ProbeCommand(context.Background(), os.Environ())
		if err != nil {
			return "", nil, nil, err
		}
		python = cmd.Path
		start := time.Now()
		_ = cmd.Run() // without the package it fails, as it does in the benchmark's tasks
		wall = append(wall, time.Since(start).Seconds())
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		cpu = append(cpu, time.Duration(ru.Utime.Nano()+ru.Stime.Nano()).Seconds())
	}
	return python, wall, cpu, nil
}

// event is an event log entry with its instant in Unix seconds, the unit of the bench's figures.
type event struct {
	record.LogEntry
	at float64
}

func readEvents(ws string) ([]event, error) {
	entries, err := record.ReadEvents(ws)
	if err != nil {
		return nil, err
	}
	out := make([]event, len(entries))
	for i, e := range entries {
		out[i] = event{LogEntry: e, at: float64(e.Time.UnixNano()) / 1e9}
	}
	return out, nil
}

// lastRunning is the instant of the latest "running" event of a run, which must have one for each of
// n roles and have succeeded.
func lastRunning(ws string, n int) (float64, error) {
	events, err := readEvents(ws)
	if err != nil {
		return 0, err
	}
	latest, roles := 0.0, map[string]bool{}
	for _, ev := range events {
		if ev.Event == record.EventRunning {
			roles[ev.Role] = true
			latest = math.Max(latest, ev.at)
		}
	}
	if len(roles) != n {
		return 0, fmt.Errorf("%d of %d roles reported running", len(roles), n)
	}
	if s, err := record.ReadSummary(ws); err != nil || s.State != "succeeded" {
		return 0, fmt.Errorf("run did not succeed: state %q %v", s.State, err)
	}
	return latest, nil
}

func unixNow() float64 { return float64(time.Now().UnixNano()) / 1e9 }

func slicesMax(xs []float64) float64 {
	m := math.Inf(-1)
	for _, x := range xs {
		m = math.Max(m, x)
	}
	return m
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}
