package toy

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Precheck plays one rank of today's cache-transceiver precheck, as `disagg-supervisor toy precheck
// [flags] --server-idx I` (the supervisor appends --server-idx), so that every path of the
// supervisor's pre-flight phase can be run locally and on the dev cluster. It returns the rank's exit
// code.
//
// The instance comes from DISAGG_SERVING_TYPE (GEN_PRECHECK_<i> or CTX_PRECHECK_<i>, whose i must be
// the --server-idx) and is named gen_<i> or ctx_<i>; the rank from SLURM_PROCID. Rank 0 writes the
// instance's verdict to <testOutputDir>/cache_transceiver_precheck/status/<instance>.status, as the
// real precheck does. What each instance does is chosen by -variant, a comma-separated list of
// [ROLE=]VARIANT[:DURATION], where a VARIANT without ROLE applies to the instances no entry names
// (default: pass):
//
//	pass    after DURATION, rank 0 writes "PASS <instance>" to the status file; every rank exits 0
//	fail    after DURATION, rank 0 prints a UCX warning and a Python traceback ending in
//	        "RuntimeError: TRANSFER_ERROR ..."; every rank exits 1; no status file
//	status  as fail, and rank 0 also writes "FAIL: TRANSFER_ERROR ..." to the status file
//	hang    never ends by itself: every rank waits until it is stopped (SIGTERM: exit 143)
//
// A bad flag or environment variable is exit code 2 with one line on stderr.
func Precheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var mu sync.Mutex
	out := &lockedWriter{mu: &mu, w: stdout}
	errOut := &lockedWriter{mu: &mu, w: stderr}
	pc, err := parsePrecheck(args, getenv)
	if err != nil {
		fmt.Fprintf(errOut, "toy precheck: %v\n", err)
		return ExitUsage
	}
	fmt.Fprintf(out, "toy precheck: %s rank %d: variant %s, after %s\n", pc.instance, pc.rank, pc.variant, pc.after)
	if pc.variant == "hang" {
		fmt.Fprintf(out, "toy precheck: %s rank %d: waiting for a peer that never answers\n", pc.instance, pc.rank)
		<-ctx.Done()
		fmt.Fprintf(errOut, "toy precheck: %s rank %d: stopped on request\n", pc.instance, pc.rank)
		return ExitTerminated
	}
	t := time.NewTimer(pc.after)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		fmt.Fprintf(errOut, "toy precheck: %s rank %d: stopped on request\n", pc.instance, pc.rank)
		return ExitTerminated
	}
	problem := fmt.Sprintf("TRANSFER_ERROR: toy precheck %s failed on purpose (-variant %s)", pc.instance, pc.variant)
	var status string
	code := ExitOK
	switch pc.variant {
	case "pass":
		status = "PASS " + pc.instance
	case "status":
		status = "FAIL: " + problem
		code = ExitFailed
	case "fail":
		code = ExitFailed
	}
	if pc.rank == 0 {
		if code != ExitOK {
			fmt.Fprintf(errOut, "[1764620000.000000] [%s:1] UCX  WARN  transport rc_mlx5 unavailable, falling back to sw-emul\n", pc.node)
			fmt.Fprintf(errOut, "Traceback (most recent call last):\n  File \"run_precheck.py\", line 1, in <module>\nRuntimeError: %s\n", problem)
		}
		if status != "" {
			if err := writeFileAtomic(pc.statusFile, status+"\n"); err != nil {
				fmt.Fprintf(errOut, "toy precheck: %s: %v\n", pc.instance, err)
				return ExitFailed
			}
		}
		if code != ExitOK {
			_ = writeFileAtomic(pc.reported, "")
		}
	} else if code != ExitOK {
		// srun's --kill-on-bad-exit kills every rank once one fails: a rank that failed before rank 0
		// had reported would cut rank 0's report, which is what the pre-flight phase reads.
		waitForFile(ctx, pc.reported, 10*time.Second)
	}
	fmt.Fprintf(out, "toy precheck: %s rank %d: exit %d\n", pc.instance, pc.rank, code)
	return code
}

// precheckRun is one precheck rank's settings.
type precheckRun struct {
	instance   string
	rank       int
	node       string
	variant    string
	after      time.Duration
	statusFile string
	// reported is written by rank 0 once it has printed its failure, for the other ranks to wait for.
	reported string
}

// waitForFile waits until path exists, ctx ends or limit passes.
func waitForFile(ctx context.Context, path string, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var precheckRole = regexp.MustCompile(`^(GEN|CTX)_PRECHECK_([0-9]+)$`)

func parsePrecheck(args []string, getenv func(string) string) (*precheckRun, error) {
	fs := flag.NewFlagSet("toy precheck", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	spec := fs.String("variant", "pass", "[ROLE=]VARIANT[:DURATION],...: pass, fail, status or hang")
	idx := fs.Int("server-idx", -1, "the server index (the supervisor appends it)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	role := getenv(envServingType)
	m := precheckRole.FindStringSubmatch(role)
	if m == nil {
		return nil, fmt.Errorf("%s=%q: want GEN_PRECHECK_<i> or CTX_PRECHECK_<i>", envServingType, role)
	}
	if strconv.Itoa(*idx) != m[2] {
		return nil, fmt.Errorf("--server-idx %d does not match %s=%s", *idx, envServingType, role)
	}
	pc := &precheckRun{instance: strings.ToLower(m[1]) + "_" + m[2], variant: "pass", node: getenv(envNodeName)}
	if s := getenv(envProcID); s != "" {
		rank, err := nonNegative(s)
		if err != nil {
			return nil, fmt.Errorf("%s=%q: %v", envProcID, s, err)
		}
		pc.rank = rank
	}
	out := getenv(envOutputDir)
	if out == "" {
		return nil, fmt.Errorf("%s is not set: the status file goes under it", envOutputDir)
	}
	pc.statusFile = filepath.Join(out, "cache_transceiver_precheck", "status", pc.instance+".status")
	// Keyed by the attempt: a requeued attempt must not take an earlier attempt's file for its own.
	pc.reported = filepath.Join(out, "cache_transceiver_precheck", "toy-reported", pc.instance+"."+getenv("TRTLLM_PERF_RUN_TOKEN"))
	entries, err := parseVariants(*spec)
	if err != nil {
		return nil, fmt.Errorf("-variant %w", err)
	}
	matched := false
	for _, e := range entries {
		switch {
		case e.target != "" && e.target == role:
			pc.variant, pc.after, matched = e.variant, e.after, true
		case e.target == "" && !matched:
			pc.variant, pc.after = e.variant, e.after
		}
	}
	if pc.node == "" {
		pc.node, _ = os.Hostname()
	}
	return pc, nil
}

// variantEntry is one item of a precheck --variant spec: [ROLE=]VARIANT[:DURATION].
type variantEntry struct {
	target, variant string
	after           time.Duration
}

// parseVariants parses a --variant spec; an error starts with the quoted spec.
func parseVariants(spec string) ([]variantEntry, error) {
	var entries []variantEntry
	for _, entry := range strings.Split(spec, ",") {
		target, v, named := strings.Cut(entry, "=")
		if !named {
			target, v = "", entry
		} else if !precheckRole.MatchString(target) {
			return nil, fmt.Errorf("%q: %q is not GEN_PRECHECK_<i> or CTX_PRECHECK_<i>", spec, target)
		}
		variant, after, timed := strings.Cut(v, ":")
		switch variant {
		case "pass", "fail", "status", "hang":
		default:
			return nil, fmt.Errorf("%q: %q is not pass, fail, status or hang", spec, variant)
		}
		var d time.Duration
		if timed {
			var err error
			if d, err = time.ParseDuration(after); err != nil || d < 0 {
				return nil, fmt.Errorf("%q: %q is not a duration", spec, after)
			}
		}
		entries = append(entries, variantEntry{target: target, variant: variant, after: d})
	}
	return entries, nil
}

// PrecheckTargets parses a precheck --variant spec exactly as every toy precheck rank will, so that
// a launcher can refuse a bad one before it starts anything, and returns the instances it names
// (GEN_PRECHECK_<i>, CTX_PRECHECK_<i>), for checking them against its plan.
func PrecheckTargets(spec string) ([]string, error) {
	entries, err := parseVariants(spec)
	if err != nil {
		return nil, err
	}
	var named []string
	for _, e := range entries {
		if e.target != "" {
			named = append(named, e.target)
		}
	}
	return named, nil
}
