package toy

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Role names that are not indexed. GEN_i and CTX_i are built with genRole and ctxRole.
const (
	roleServer    = "DISAGG_SERVER"
	roleBenchmark = "BENCHMARK"
)

// Environment variables the toy reads. They are the ones the real harness reads, so the supervisor
// exercises the same launch environment with the toy as with pytest.
const (
	envServingType  = "DISAGG_SERVING_TYPE"
	envProcID       = "SLURM_PROCID"
	envNodeName     = "SLURMD_NODENAME"
	envJobID        = "SLURM_JOB_ID"
	envOutputDir    = "testOutputDir"
	envNumGen       = "numGenServers"
	envNumCtx       = "numCtxServers"
	envGenOnly      = "TRTLLM_DISAGG_BENCHMARK_GEN_ONLY"
	envCUDA         = "CUDA_VISIBLE_DEVICES"
	envRunToken     = "TRTLLM_PERF_RUN_TOKEN"
	envWorkspace    = "jobWorkspace"
	envFail         = "TOY_FAIL"
	envIgnoreTerm   = "TOY_IGNORE_TERM"
	envUntilStopped = "TOY_UNTIL_STOPPED"
)

// errUsage marks errors in flags or environment: the invocation is wrong, not the run.
var errUsage = errors.New("usage")

// config is everything one rank needs, read once from flags and environment.
type config struct {
	role  string
	rank  int
	node  string
	jobID string
	// attempt keys the hostnames directory: the run token when there is one, so that a requeued
	// job's roles never find the addresses an earlier attempt published; else the job id.
	attempt     string
	outputDir   string
	workspace   string
	cuda        string
	numGen      int
	numCtx      int
	genOnly     bool
	requests    int
	concurrency int
	work        time.Duration
	waitTimeout time.Duration
	// doneTimeout bounds the benchmark's wait for the gen_server_<i>.done files.
	doneTimeout time.Duration
	// serverConfigs is how many server configurations the job runs, one after another.
	serverConfigs int
	// untilStopped turns the end-of-benchmark protocol off: servers serve one configuration until
	// they are stopped, and the benchmark neither writes status files nor waits for .done files.
	untilStopped bool
	// faults is the whole --fail spec: every rank gets the same one, so the benchmark knows which
	// faults of other roles it must see fire before it announces its end.
	faults []fault
	// fault is the --fail spec for this role and rank, nil when none applies.
	fault *fault
	// ignoreTerm is set when this rank must keep running after its context is cancelled.
	ignoreTerm bool
	// heartbeat, when positive, is how often every rank writes a line, as live servers log their
	// iterations; serverPort, when positive, is the router's port (0: the kernel picks), so that a
	// liveness check can be written before the run.
	heartbeat  time.Duration
	serverPort int
}

// parseConfig reads flags and environment. An error wraps errUsage and is one line naming the input.
// A nil config with a nil error means -h was asked for and usage has been written to stdout.
func parseConfig(args []string, getenv func(string) string, stdout io.Writer) (*config, error) {
	fs := flag.NewFlagSet("toy", flag.ContinueOnError)
	// The flag package would print its own error followed by the whole usage text; the caller wants
	// one line naming the bad flag, so errors are reported by the caller and usage only on -h.
	fs.SetOutput(io.Discard)
	requests := fs.Int("requests", 200, "number of POST /generate requests the BENCHMARK sends")
	concurrency := fs.Int("concurrency", 8, "number of requests the BENCHMARK keeps in flight")
	work := fs.Duration("work", 2*time.Millisecond, "simulated work per request in each worker")
	waitTimeout := fs.Duration("wait-timeout", 60*time.Second, "bound on waiting for peers and on each call to a peer")
	doneTimeout := fs.Duration("done-timeout", 120*time.Second, "bound on the BENCHMARK's wait for every gen_server_<i>.done")
	serverConfigs := fs.Int("server-configs", 1, "server configurations served one after another")
	untilStopped := fs.Bool("until-stopped", false, "serve until stopped: no benchmark_status files, no wait for .done files (default from $"+envUntilStopped+")")
	failSpec := fs.String("fail", "", "fault injection "+faultGrammar+",... (default from $"+envFail+")")
	heartbeat := fs.Duration("heartbeat", 0, "every rank writes a heartbeat line this often (0: never)")
	serverPort := fs.Int("server-port", 0, "port of "+roleServer+" on 127.0.0.1 (0: the kernel picks one)")
	ignoreTerm := fs.String("ignore-term", "", "ROLE whose ranks keep running after SIGTERM (default from $"+envIgnoreTerm+")")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, "usage: toy [flags]  (role from $"+envServingType+")")
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return nil, nil
		}
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%w: unexpected argument %q: the toy takes flags only", errUsage, fs.Arg(0))
	}
	switch {
	case *requests < 1:
		return nil, fmt.Errorf("%w: -requests %d: must be at least 1", errUsage, *requests)
	case *concurrency < 1:
		return nil, fmt.Errorf("%w: -concurrency %d: must be at least 1", errUsage, *concurrency)
	case *work < 0:
		return nil, fmt.Errorf("%w: -work %v: must not be negative", errUsage, *work)
	case *waitTimeout <= 0:
		return nil, fmt.Errorf("%w: -wait-timeout %v: must be positive", errUsage, *waitTimeout)
	case *doneTimeout <= 0:
		return nil, fmt.Errorf("%w: -done-timeout %v: must be positive", errUsage, *doneTimeout)
	case *serverConfigs < 1:
		return nil, fmt.Errorf("%w: -server-configs %d: must be at least 1", errUsage, *serverConfigs)
	case *heartbeat < 0:
		return nil, fmt.Errorf("%w: -heartbeat %v: must not be negative", errUsage, *heartbeat)
	case *serverPort < 0 || *serverPort > 65535:
		return nil, fmt.Errorf("%w: -server-port %d: want a port from 0 to 65535", errUsage, *serverPort)
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })

	c := &config{
		requests:      *requests,
		concurrency:   *concurrency,
		work:          *work,
		waitTimeout:   *waitTimeout,
		doneTimeout:   *doneTimeout,
		serverConfigs: *serverConfigs,
		untilStopped:  *untilStopped,
		heartbeat:     *heartbeat,
		serverPort:    *serverPort,
		jobID:         getenv(envJobID),
		outputDir:     getenv(envOutputDir),
		workspace:     getenv(envWorkspace),
		cuda:          getenv(envCUDA),
		node:          getenv(envNodeName),
		genOnly:       getenv(envGenOnly) == "1",
	}

	servingType := getenv(envServingType)
	if servingType == "" {
		return nil, fmt.Errorf("%w: %s is not set: it names the role of this rank (GEN_i, CTX_i, %s or %s)",
			errUsage, envServingType, roleServer, roleBenchmark)
	}
	if err := checkRole(servingType); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", errUsage, envServingType, err)
	}
	c.role = servingType

	if s := getenv(envProcID); s != "" {
		rank, err := nonNegative(s)
		if err != nil {
			return nil, fmt.Errorf("%w: %s=%q: %v", errUsage, envProcID, s, err)
		}
		c.rank = rank
	}
	if c.jobID == "" {
		// The launcher unsets SLURM_* (all but SLURM_PROCID) for DISAGG_SERVER and BENCHMARK, as the
		// harness's run script does, so they learn the job id from the run token, which it keeps.
		token := getenv(envRunToken)
		if token == "" {
			return nil, fmt.Errorf("%w: neither %s nor %s is set: the job id names the hostnames directory the roles share",
				errUsage, envJobID, envRunToken)
		}
		job, err := jobFromRunToken(token)
		if err != nil {
			return nil, fmt.Errorf("%w: %s=%q: %v", errUsage, envRunToken, token, err)
		}
		c.jobID = job
	}
	c.attempt = c.jobID
	if token := getenv(envRunToken); token != "" {
		c.attempt = token
	}
	if c.outputDir == "" {
		return nil, fmt.Errorf("%w: %s is not set: it is where the roles publish their addresses", errUsage, envOutputDir)
	}
	if c.workspace == "" {
		c.workspace = c.outputDir
	}
	if c.node == "" {
		// Outside Slurm (the local demo) there is no SLURMD_NODENAME; the host name still tells where
		// the rank ran.
		if h, err := os.Hostname(); err == nil {
			c.node = h
		}
	}

	if !given["until-stopped"] {
		switch s := getenv(envUntilStopped); s {
		case "", "0":
		case "1":
			c.untilStopped = true
		default:
			return nil, fmt.Errorf("%w: %s=%q: want 1 or 0", errUsage, envUntilStopped, s)
		}
	}
	if c.untilStopped && c.serverConfigs > 1 {
		// Ranks move to the next configuration when the benchmark's status file appears; without
		// the protocol nothing would ever tell them to.
		return nil, fmt.Errorf("%w: -server-configs %d: needs the end-of-benchmark protocol, which -until-stopped turns off",
			errUsage, c.serverConfigs)
	}

	// Only the router and the benchmark's rank 0 need numGenServers (the router to wait for the GEN
	// servers, the benchmark to wait for their .done files); the other ranks do not look at it, so
	// a missing count must not stop them.
	if c.role == roleBenchmark && c.rank == 0 && !c.untilStopped {
		s := getenv(envNumGen)
		if s == "" {
			return nil, fmt.Errorf("%w: %s is not set: %s needs to know which gen_server_<i>.done files to wait for",
				errUsage, envNumGen, roleBenchmark)
		}
		n, err := nonNegative(s)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%w: %s=%q: must be a positive integer", errUsage, envNumGen, s)
		}
		c.numGen = n
	}
	if c.role == roleServer {
		s := getenv(envNumGen)
		if s == "" {
			return nil, fmt.Errorf("%w: %s is not set: %s needs to know how many GEN servers to wait for",
				errUsage, envNumGen, roleServer)
		}
		n, err := nonNegative(s)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%w: %s=%q: must be a positive integer", errUsage, envNumGen, s)
		}
		c.numGen = n
		if s := getenv(envNumCtx); s != "" {
			n, err := nonNegative(s)
			if err != nil {
				return nil, fmt.Errorf("%w: %s=%q: %v", errUsage, envNumCtx, s, err)
			}
			c.numCtx = n
		}
		if c.genOnly {
			// Gen-only runs launch no CTX servers even when the count is left over from the config.
			c.numCtx = 0
		}
	}

	spec, source := *failSpec, "-fail"
	if !given["fail"] {
		spec, source = getenv(envFail), envFail
	}
	faults, err := parseFaults(spec)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %q: %v", errUsage, source, spec, err)
	}
	for _, f := range faults {
		if f.Config >= c.serverConfigs {
			// Its role would never be ready in that configuration, and the benchmark would wait
			// for it in vain.
			return nil, fmt.Errorf("%w: %s %q: %s fires in configuration %d, but the job runs %d (-server-configs)",
				errUsage, source, spec, f, f.Config, c.serverConfigs)
		}
	}
	c.faults = faults
	c.fault = faultFor(faults, c.role, c.rank)

	ignore, source := *ignoreTerm, "-ignore-term"
	if !given["ignore-term"] {
		ignore, source = getenv(envIgnoreTerm), envIgnoreTerm
	}
	if ignore != "" {
		if err := checkRole(ignore); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", errUsage, source, err)
		}
		c.ignoreTerm = ignore == c.role
	}
	return c, nil
}

// jobFromRunToken takes the job id out of a run token JOB.RESTART.UNIQUE. It cuts from the right, where
// the fields are known to hold no dot, so a job id given by hand may contain one.
func jobFromRunToken(token string) (string, error) {
	rest, _, ok := cutLast(token, ".")
	if ok {
		var restart string
		rest, restart, ok = cutLast(rest, ".")
		if _, err := nonNegative(restart); err != nil {
			ok = false
		}
	}
	if !ok || rest == "" {
		return "", fmt.Errorf("not a run token JOB.RESTART.UNIQUE")
	}
	return rest, nil
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}

// checkRole accepts the role names the harness uses: GEN_i, CTX_i, DISAGG_SERVER, BENCHMARK, and SERVER
// (aggregated).
func checkRole(role string) error {
	if role == roleServer || role == roleBenchmark || role == roleAggregated {
		return nil
	}
	for _, prefix := range []string{"GEN_", "CTX_"} {
		if idx, ok := strings.CutPrefix(role, prefix); ok {
			if _, err := nonNegative(idx); err != nil {
				return fmt.Errorf("role %q: index %q: %v", role, idx, err)
			}
			return nil
		}
	}
	return fmt.Errorf("unknown role %q: want GEN_i, CTX_i, %s, %s or %s", role, roleServer, roleBenchmark, roleAggregated)
}

// nonNegative parses a plain decimal number. strconv.Atoi alone would also take "+1" and "-0", which
// no launcher writes and which would name a different file than the one peers look for.
func nonNegative(s string) (int, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a non-negative integer", s)
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is out of range", s)
	}
	return n, nil
}

func isWorker(role string) bool {
	return strings.HasPrefix(role, "GEN_") || strings.HasPrefix(role, "CTX_")
}

func isCtx(role string) bool { return strings.HasPrefix(role, "CTX_") }

func genRole(i int) string { return "GEN_" + strconv.Itoa(i) }

func ctxRole(i int) string { return "CTX_" + strconv.Itoa(i) }
