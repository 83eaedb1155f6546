package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"mvdan.cc/sh/v3/syntax"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
	"github.com/disagg-supervisor/disagg-supervisor/fakesrun"
	"github.com/disagg-supervisor/disagg-supervisor/mode"
	"github.com/disagg-supervisor/disagg-supervisor/roles"
	"github.com/disagg-supervisor/disagg-supervisor/supervisor"
	"github.com/disagg-supervisor/disagg-supervisor/toy"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

type demoCmd struct {
	Workspace   string        `help:"Where the run writes everything (default: a new directory under the system temp dir)."`
	Fail        string        `help:"Inject a failure: ROLE[:RANK[:CODE[:DELAY]]][@CONFIG], e.g. GEN_0:1:3:2s, CTX_0:0:kill:2s, DISAGG_SERVER:0:0:1s, BENCHMARK:0:7, or SERVER:3:7:1s with --aggregated. CODE kill means SIGKILL. CODE may name a sickness instead, which keeps the rank running: hang (a server keeps its port, answers nothing), unavailable (503 forever), noworkers (DISAGG_SERVER: /health 200 with no workers), stall (BENCHMARK: stuck on a dead connection after its load), silent (stops writing, keeps running). The demo's router has a liveness check (http /health with a workers match, every 1s, 3 failures), so the first three end the run with exit 85; stall needs --stall-timeout, silent needs --heartbeat and --stall ROLE=DURATION. @CONFIG is the server configuration the fault fires in (default 0, less than --server-configs): DELAY counts from the role's readiness in it, e.g. GEN_0:1:3:1s@1."`
	Aggregated  bool          `help:"Run an aggregated test instead: one SERVER of 2 nodes x 2 ranks that serves and measures itself."`
	Requests    int           `default:"200" help:"Requests the toy benchmark sends."`
	Concurrency int           `default:"8" help:"Concurrent requests of the toy benchmark."`
	Grace       time.Duration `default:"2s" help:"Time between SIGTERM and SIGKILL when steps are stopped."`
	Precheck    string        `placeholder:"SPEC" help:"Run the toy cache-transceiver precheck before the servers: [ROLE=]VARIANT[:DURATION],... with VARIANT pass, fail, status (a failing verdict in the status file) or hang, e.g. pass or CTX_PRECHECK_0=status. A failing or hung instance (timeout 10s) ends the demo with exit code 82."`
	Heartbeat   time.Duration `zero:"never" help:"Rank 0 of every toy role writes a heartbeat line this often (default 0: never)."`
	// ServerConfigs is the job's number of server configurations, run one after another in the same
	// steps as the harness runs them.
	ServerConfigs int `default:"1" help:"Server configurations the toy stack runs one after another in the same steps: the servers stop after benchmark_status.<idx>.txt and serve the next one, and end after the last."`
	hangFlags
}

// demoTailLines is how much of the failing role's log the demo's report shows: the toy's logs are
// short, and a shorter report fits a terminal.
const demoTailLines = 15

// Run runs the toy stack under the real supervisor code path: a fake 4-node allocation with 2 GPUs per
// node, 2 GEN servers and 1 CTX server of 1 node x 2 tasks, the router and the benchmark, with file
// probes on the addresses the toy roles publish. Every flag is checked before anything is created or
// launched, and the job's variables of the user's shell are not read (see demoEnv).
func (d *demoCmd) Run(e env) error {
	if err := d.check(); err != nil {
		return badInput(err)
	}
	e = demoEnv(e)
	ws := d.Workspace
	if ws == "" {
		dir, err := os.MkdirTemp("", "disagg-demo-")
		if err != nil {
			return &exitError{code: verdict.ExitInternal, err: err}
		}
		ws = dir
	}
	ws, err := filepath.Abs(ws)
	if err != nil {
		return badInput(fmt.Errorf("--workspace: %w", err))
	}
	port, err := toy.RouterPort()
	if err != nil {
		return &exitError{code: verdict.ExitInternal, err: err}
	}
	command := []string{coord.TaskBinary(ws), "toy", "--requests", strconv.Itoa(d.Requests),
		"--concurrency", strconv.Itoa(d.Concurrency), "--server-port", strconv.Itoa(port),
		"--server-configs", strconv.Itoa(d.ServerConfigs)}
	if d.Heartbeat > 0 {
		command = append(command, "--heartbeat", d.Heartbeat.String())
	}
	if d.Fail != "" {
		command = append(command, "--fail", d.Fail)
	}
	quoted, err := quoteWords(command)
	if err != nil {
		return badInput(err)
	}
	two, one := 2, 1
	flags := roles.Flags{
		GPUsPerNode:       &two,
		NumGen:            &two,
		NumCtx:            &one,
		NodesPerGen:       &one,
		NodesPerCtx:       &one,
		GPUsPerNodePerGen: &two,
		GPUsPerNodePerCtx: &two,
		Command:           quoted,
		Workspace:         ws,
		Probes: []string{
			"GEN_*=file:{out}/hostnames-{token}/{role}.txt",
			"CTX_*=file:{out}/hostnames-{token}/{role}.txt",
			"DISAGG_SERVER=file:{out}/hostnames-{token}/DISAGG_SERVER.txt",
		},
		ProbeTimeout: 20 * time.Second,
		// A healthy router reports its workers on /health; one that lost them, or hangs, fails this.
		Liveness: []string{fmt.Sprintf(`DISAGG_SERVER=http:http://127.0.0.1:%d/health body="workers":[1-9]@1s/3`, port)},
	}
	if d.Precheck != "" {
		check, err := quoteWords([]string{coord.TaskBinary(ws), "toy", "precheck", "--variant", d.Precheck})
		if err != nil {
			return badInput(err)
		}
		yes := true
		flags.Precheck, flags.PrecheckGenCommand, flags.PrecheckCtxCommand = &yes, check, check
		flags.PrecheckTimeout = 10 * time.Second
	}
	nodes := 4
	if d.Aggregated {
		flags, nodes = aggregatedDemoFlags(ws, quoted), 2
	}
	cfg, stop, err := prepareRun(e, flags,
		superviseFlags{Grace: d.Grace, LaunchGate: mode.Never, LaunchGateTimeout: supervisor.DefaultLaunchGateTimeout,
			DrainSignal: signalName(supervisor.DefaultDrainSignal), TailLines: demoTailLines,
			EndMarkers: []string{supervisor.DefaultEndMarker}, ServerConfigs: d.ServerConfigs, hangFlags: d.hangFlags},
		localFlags{Local: true, Nodes: nodes})
	defer stop()
	if err == nil {
		if perr := d.checkAgainst(cfg.Plan); perr != nil {
			err = badInput(perr)
		}
	}
	if err != nil {
		if d.Workspace == "" {
			_ = os.Remove(ws) // the empty directory made above; nothing else was created
		}
		return err
	}
	fmt.Fprintf(e.stderr, "demo: workspace %s\n", ws)
	err = runPrepared(cfg)
	var ee *exitError
	if errors.As(err, &ee) && ee.code == verdict.ExitBadInput {
		// The workspace is another run's, or holds what cannot be moved aside: nothing of this run
		// is there to point at.
		return err
	}
	if res, rerr := toy.ReadResults(ws); rerr == nil {
		fmt.Fprintf(e.stderr, "demo: toy benchmark: %d requests (%d failed) at concurrency %d in %.2fs: %.0f req/s, latency p50 %.1f ms, p99 %.1f ms\n",
			res.Requests, res.Failed, res.Concurrency, res.DurationSeconds, res.ThroughputRPS, res.LatencyMS.P50, res.LatencyMS.P99)
	}
	fmt.Fprintf(e.stderr, "demo: see %s/summary.json, or run: disagg-supervisor status %s\n", ws, ws)
	return err
}

// check checks the demo's own flags, before anything is created: a bad one would otherwise surface
// as a role's failure, its cause in a log tail, or as a fault that never fires. Its numbers were
// checked with every command's (checkNumbers).
func (d *demoCmd) check() error {
	switch {
	case d.Aggregated && d.Precheck != "":
		// The precheck mirrors GEN and CTX servers, of which an aggregated test has none.
		return fmt.Errorf("--precheck: the aggregated demo has no GEN or CTX server to check")
	}
	targets, err := toy.ParseFailSpec(d.Fail)
	if err != nil {
		return fmt.Errorf("--fail %q: %w", d.Fail, err)
	}
	for _, t := range targets {
		if t.Config >= d.ServerConfigs {
			// The role would never be ready in that configuration, and the benchmark would wait
			// for the fault in vain.
			return fmt.Errorf("--fail %q: %s:%d fires in configuration %d, but the demo runs %d (--server-configs)",
				d.Fail, t.Role, t.Rank, t.Config, d.ServerConfigs)
		}
	}
	if d.Precheck != "" {
		if _, err := toy.PrecheckTargets(d.Precheck); err != nil {
			return fmt.Errorf("--precheck %w", err)
		}
	}
	return nil
}

// checkAgainst checks that every role and rank the demo's --fail and --precheck name is in its plan:
// a fault for a role the demo does not run would never fire, and the benchmark would wait for it.
func (d *demoCmd) checkAgainst(plan roles.Plan) error {
	ntasks := map[string]int{}
	var names []string
	for _, role := range plan.Roles {
		ntasks[role.Name] = role.NTasks
		names = append(names, role.Name)
	}
	targets, _ := toy.ParseFailSpec(d.Fail) // checked already
	for _, t := range targets {
		n, ok := ntasks[t.Role]
		switch {
		case !ok:
			return fmt.Errorf("--fail %q: %s is not a role of the demo (%s)", d.Fail, t.Role, strings.Join(names, " "))
		case t.Rank >= n:
			return fmt.Errorf("--fail %q: %s has ranks 0-%d, not %d", d.Fail, t.Role, n-1, t.Rank)
		}
	}
	if d.Precheck == "" {
		return nil
	}
	var checks []string
	for _, c := range plan.Precheck {
		checks = append(checks, c.Name)
	}
	named, _ := toy.PrecheckTargets(d.Precheck) // checked already
	for _, name := range named {
		if !slices.Contains(checks, name) {
			return fmt.Errorf("--precheck %q: %s is not a precheck instance of the demo (%s)", d.Precheck, name, strings.Join(checks, " "))
		}
	}
	return nil
}

// demoEnv is the demo's environment: it reads none of the job's variables (every input is a flag it
// sets), and its steps start from a few variables of the user's shell only: what a process needs to
// run (PATH, HOME, the locale, the temporary directory), the Go runtime's settings and the fake srun's
// own setting. Every other variable is left out, the job's above all: the demo plays a whole job
// itself, and a stray numGenServers, pytestCommand*, SLURM_*, jobWorkspace or TOY_FAIL exported in
// the shell must not change it.
//
// The one variable the supervisor reads is the demo's own: DISAGG_SERVER_CONFIGS, the number of server
// configurations, given as the variable because run has no flag for it yet.
func demoEnv(e env) env {
	keep := []string{"PATH", "HOME", "USER", "LOGNAME", "SHELL", "TMPDIR", "TZ", "TERM", "LANG", "LANGUAGE",
		"GOCOVERDIR", "GORACE", "GOTRACEBACK", fakesrun.KillWaitEnv}
	var kept []string
	for _, kv := range e.environ() {
		name, _, _ := strings.Cut(kv, "=")
		if slices.Contains(keep, name) || strings.HasPrefix(name, "LC_") {
			kept = append(kept, kv)
		}
	}
	e.getenv = func(string) string { return "" }
	e.environ = func() []string { return slices.Clone(kept) }
	return e
}

// quoteWords joins words into a shell command that splits back into exactly them.
func quoteWords(words []string) (string, error) {
	out := ""
	for i, w := range words {
		q, err := syntax.Quote(w, syntax.LangBash)
		if err != nil {
			return "", fmt.Errorf("cannot quote %q for the shell: %w", w, err)
		}
		if i > 0 {
			out += " "
		}
		out += q
	}
	return out, nil
}

// toyMain runs one toy rank; SIGTERM and SIGINT cancel it, as the supervisor's teardown expects.
func toyMain(args []string, e env) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return toy.Main(ctx, args, os.Getenv, e.stdout, e.stderr)
}
