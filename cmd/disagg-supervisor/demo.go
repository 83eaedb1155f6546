package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"mvdan.cc/sh/v3/syntax"

	"github.com/disagg-supervisor/disagg-supervisor/mode"
	"github.com/disagg-supervisor/disagg-supervisor/roles"
	"github.com/disagg-supervisor/disagg-supervisor/toy"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

type demoCmd struct {
	Workspace   string        `help:"Where the run writes everything (default: a new directory under the system temp dir)."`
	Fail        string        `help:"Inject a failure: ROLE[:RANK[:CODE[:DELAY]]], e.g. GEN_0:1:3:2s, CTX_0:0:kill:2s, DISAGG_SERVER:0:0:1s, BENCHMARK:0:7, or SERVER:3:7:1s with --aggregated. CODE kill means SIGKILL. CODE may name a sickness instead, which keeps the rank running: hang (a server keeps its port, answers nothing), unavailable (503 forever), noworkers (DISAGG_SERVER: /health 200 with no workers), stall (BENCHMARK: stuck on a dead connection after its load), silent (stops writing, keeps running). The demo's router has a liveness check (http /health with a workers match, every 1s, 3 failures), so the first three end the run with exit 6; stall needs --stall-timeout, silent needs --heartbeat and --stall ROLE=DURATION."`
	Aggregated  bool          `help:"Run an aggregated test instead: one SERVER of 2 nodes x 2 ranks that serves and measures itself."`
	Requests    int           `default:"200" help:"Requests the toy benchmark sends."`
	Concurrency int           `default:"8" help:"Concurrent requests of the toy benchmark."`
	Grace       time.Duration `default:"2s" help:"Time between SIGTERM and SIGKILL when steps are stopped."`
	Precheck    string        `placeholder:"SPEC" help:"Run the toy cache-transceiver precheck before the servers: [ROLE=]VARIANT[:DURATION],... with VARIANT pass, fail, status (a failing verdict in the status file) or hang, e.g. pass or CTX_PRECHECK_0=status. A failing or hung instance (timeout 10s) ends the demo with exit code 5."`
	Heartbeat   time.Duration `zero:"never" help:"Rank 0 of every toy role writes a heartbeat line this often (default 0: never)."`
	hangFlags
}

// Run runs the toy stack under the real supervisor code path: a fake 4-node allocation with 2 GPUs per
// node, 2 GEN servers and 1 CTX server of 1 node x 2 tasks, the router and the benchmark, with file
// probes on the addresses the toy roles publish.
func (d *demoCmd) Run(e env) error {
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
	port, err := toyRouterPort()
	if err != nil {
		return &exitError{code: verdict.ExitInternal, err: err}
	}
	command := []string{roles.TaskBinaryPath(ws), "toy", "--requests", strconv.Itoa(d.Requests),
		"--concurrency", strconv.Itoa(d.Concurrency), "--server-port", strconv.Itoa(port)}
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
		check, err := quoteWords([]string{roles.TaskBinaryPath(ws), "toy", "precheck", "--variant", d.Precheck})
		if err != nil {
			return badInput(err)
		}
		yes := true
		flags.Precheck, flags.PrecheckGenCommand, flags.PrecheckCtxCommand = &yes, check, check
		flags.PrecheckTimeout = 10 * time.Second
	}
	nodes := 4
	if d.Aggregated {
		if d.Precheck != "" {
			// The precheck mirrors GEN and CTX servers, of which an aggregated test has none.
			return badInput(fmt.Errorf("--precheck: the aggregated demo has no GEN or CTX server to check"))
		}
		flags, nodes = aggregatedDemoFlags(ws, quoted), 2
	}
	fmt.Fprintf(e.stderr, "demo: workspace %s\n", ws)
	err = supervise(e, flags,
		superviseFlags{Grace: d.Grace, LaunchGate: mode.Never, LaunchGateTimeout: time.Minute, DrainSignal: "USR1", TailLines: 15,
			EndMarkers: []string{"{out}/benchmark_status*"}, hangFlags: d.hangFlags},
		localFlags{Local: true, Nodes: nodes})
	if res, rerr := toy.ReadResults(ws); rerr == nil {
		fmt.Fprintf(e.stderr, "demo: toy benchmark: %d requests (%d failed) at concurrency %d in %.2fs: %.0f req/s, latency p50 %.1f ms, p99 %.1f ms\n",
			res.Requests, res.Failed, res.Concurrency, res.DurationSeconds, res.ThroughputRPS, res.LatencyMS.P50, res.LatencyMS.P99)
	}
	fmt.Fprintf(e.stderr, "demo: see %s/summary.json, or run: disagg-supervisor status %s\n", ws, ws)
	return err
}

// toyRouterPort is a loopback port free at this moment, for the toy router, so that its liveness check can
// be written into the plan.
func toyRouterPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port for the toy router: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
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
