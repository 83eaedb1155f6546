package toy

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// What the benchmark writes in jobWorkspace, where the harness keeps its results: one results file per
// server configuration.
const (
	resultsFileName = "toy_benchmark_results.json"
)

// resultsFile is the results file of server configuration idx: toy_benchmark_results.json for the
// first, the name ReadResults reads, and toy_benchmark_results.<idx>.json for the later ones.
func (r *rank) resultsFile(idx int) string {
	name := resultsFileName
	if idx > 0 {
		name = strings.TrimSuffix(resultsFileName, ".json") + "." + strconv.Itoa(idx) + ".json"
	}
	return filepath.Join(r.cfg.workspace, name)
}

// Results is the schema of toy_benchmark_results.json, which the benchmark writes in jobWorkspace.
type Results struct {
	Requests        int       `json:"requests"`
	Failed          int       `json:"failed"`
	Concurrency     int       `json:"concurrency"`
	DurationSeconds float64   `json:"duration_seconds"`
	ThroughputRPS   float64   `json:"throughput_rps"`
	LatencyMS       Latencies `json:"latency_ms"`
}

// ReadResults reads the toy benchmark's results (of the first server configuration) from a workspace.
func ReadResults(workspace string) (Results, error) {
	var r Results
	data, err := os.ReadFile(filepath.Join(workspace, resultsFileName))
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("%s: %w", filepath.Join(workspace, resultsFileName), err)
	}
	return r, nil
}

// Latencies holds percentiles of the successful requests' latencies, in milliseconds.
type Latencies struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
}

// benchmarkLogFile is trtllm-benchmark.<idx>.toy.log, the benchmark's log of server configuration
// idx, named as the harness names its clients' logs (trtllm-benchmark.<idx>.<client>.log).
func (r *rank) benchmarkLogFile(idx int) string {
	return filepath.Join(r.cfg.outputDir, "trtllm-benchmark."+strconv.Itoa(idx)+".toy.log")
}

// benchmark is the BENCHMARK role: the only role that finishes on its own and whose exit code is the
// test's result. For each server configuration in turn it waits for the router, runs its load, writes
// the results, waits for the faults of that configuration to fire and announces the end of the
// configuration; then it waits for the GEN steps to end (their .done files) and exits with its verdict.
func (r *rank) benchmark(ctx context.Context) error {
	client := newClient(r.cfg.waitTimeout, r.cfg.concurrency)
	defer client.CloseIdleConnections()

	last := r.cfg.serverConfigs - 1
	f := r.cfg.fault
	// verdict is the first reason the test fails; the run goes on through every configuration, as
	// the harness does, and reports it at the end.
	var verdict error
	begun := r.start
	for idx := range r.cfg.serverConfigs {
		if idx > 0 {
			begun = time.Now()
		}
		res, firstErr, err := r.measure(ctx, client, idx)
		if ctx.Err() != nil {
			// Stopped or faulted in the middle of the run: like a killed process, leave no verdict.
			return context.Cause(ctx)
		}
		if err != nil {
			// Nothing more can be measured; the servers are still told to stop.
			r.announce(idx)
			return err
		}
		if res.Failed > 0 && verdict == nil {
			verdict = fmt.Errorf("%s%d of %d requests failed; first failure: %v",
				r.configPrefix(idx), res.Failed, res.Requests, firstErr)
		}
		if f != nil && idx == f.Config && f.Sickness == sickStall {
			// Stuck on a dead connection after the load (at DELAY after the configuration's start
			// at the earliest): no status file, no verdict, no more output, until stopped.
			if f.DelaySet && !sleepCtx(ctx, f.Delay-time.Since(begun)) {
				return context.Cause(ctx)
			}
			return r.stallOnDeadConnection(ctx)
		}
		if err := r.waitForFaults(ctx, idx); err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			if verdict != nil {
				// The exit code reports the earlier failure; this one still belongs in the log.
				r.printf(r.stderr, "toy: %s: %v", r.cfg.role, err)
			}
			verdict = cmp.Or(verdict, err)
		}
		r.announce(idx)
		if f != nil && idx == f.Config && f.Sickness == "" && idx < last {
			// A fault of the benchmark without a delay fires at the end of its configuration; in
			// the last one, after the wait for the .done files below.
			return r.fail()
		}
	}

	var doneErr error
	if !r.cfg.untilStopped {
		doneErr = r.waitForDone(ctx)
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
	}
	if doneErr != nil && (verdict != nil || f != nil) {
		// The exit code reports the other failure; this one still belongs in the log.
		r.printf(r.stderr, "toy: %s: %v", r.cfg.role, doneErr)
	}
	if f != nil && f.Sickness == "" {
		// A fault without a delay (or with one longer than the run) fires here, at the very end:
		// the case of a benchmark that measured everything and still exits non-zero.
		return r.fail()
	}
	return cmp.Or(verdict, doneErr)
}

// measure waits for the router of server configuration idx, sends the load through it, prints the
// summary and writes the results, and both lines in the configuration's log. It returns the results
// with the first failed request's error; err is set when the configuration could not be measured at
// all.
func (r *rank) measure(ctx context.Context, client *http.Client, idx int) (res Results, firstErr, err error) {
	addrs, err := r.waitForPeers(ctx, client, idx, []string{roleServer})
	if err != nil {
		return res, nil, err
	}
	url := "http://" + addrs[roleServer] + "/generate"
	sending := fmt.Sprintf("toy: %s: sending %d requests to %s at concurrency %d%s",
		r.cfg.role, r.cfg.requests, url, r.cfg.concurrency, r.configSuffix(idx))
	r.printf(r.stdout, "%s", sending)

	res, firstErr = r.load(ctx, client, url)
	if ctx.Err() != nil {
		return res, nil, context.Cause(ctx)
	}
	summary := fmt.Sprintf("toy: benchmark requests=%d failed=%d concurrency=%d duration=%.3fs throughput=%.1f req/s latency_ms p50=%.3f p90=%.3f p99=%.3f%s",
		res.Requests, res.Failed, res.Concurrency, res.DurationSeconds, res.ThroughputRPS,
		res.LatencyMS.P50, res.LatencyMS.P90, res.LatencyMS.P99, r.configSuffix(idx))
	r.printf(r.stdout, "%s", summary)
	if err := r.writeResults(idx, res); err != nil {
		return res, nil, err
	}
	log := sending + "\n" + summary + "\n"
	if firstErr != nil {
		log += "toy: first failure: " + firstErr.Error() + "\n"
	}
	path := r.benchmarkLogFile(idx)
	if err := writeFileAtomic(path, log); err != nil {
		return res, nil, fmt.Errorf("writing %s: %w", path, err)
	}
	return res, firstErr, nil
}

// configSuffix and configPrefix name the server configuration in messages, when there is more than
// one: a single-configuration job reads as it always has.
func (r *rank) configSuffix(idx int) string {
	if r.cfg.serverConfigs == 1 {
		return ""
	}
	return " server_config=" + strconv.Itoa(idx)
}

func (r *rank) configPrefix(idx int) string {
	if r.cfg.serverConfigs == 1 {
		return ""
	}
	return "server configuration " + strconv.Itoa(idx) + ": "
}

// clientTally is what one client of the load saw. Each client keeps its own, so that memory grows with
// the requests actually sent, not with -requests: tests ask for 100000000 to mean "until stopped".
type clientTally struct {
	latencies []time.Duration // of the requests that succeeded
	failed    int
}

// load sends the requests with a fixed number of clients and returns the measurements and the first
// failure seen. When ctx ends it returns at once with ctx's cause and no measurements: the caller
// leaves no results then, and summarising a long run would only delay the exit past the grace period.
func (r *rank) load(ctx context.Context, client *http.Client, url string) (Results, error) {
	n := r.cfg.requests
	tallies := make([]clientTally, min(r.cfg.concurrency, n))
	var next atomic.Int64
	var errMu sync.Mutex
	var firstErr error

	var wg sync.WaitGroup
	start := time.Now()
	for c := range tallies {
		tally := &tallies[c]
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				if err := generate(ctx, client, url, i); err != nil {
					tally.failed++
					errMu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("request %d: %w", i, err)
					}
					errMu.Unlock()
					continue
				}
				tally.latencies = append(tally.latencies, time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if ctx.Err() != nil {
		return Results{}, context.Cause(ctx)
	}

	var good []time.Duration
	failed := 0
	for _, t := range tallies {
		good = append(good, t.latencies...)
		failed += t.failed
	}
	slices.Sort(good)
	res := Results{
		Requests:        n,
		Failed:          failed,
		Concurrency:     r.cfg.concurrency,
		DurationSeconds: elapsed.Seconds(),
		LatencyMS: Latencies{
			P50: percentileMS(good, 50),
			P90: percentileMS(good, 90),
			P99: percentileMS(good, 99),
		},
	}
	if elapsed > 0 {
		res.ThroughputRPS = float64(len(good)) / elapsed.Seconds()
	}
	return res, firstErr
}

// generate sends one POST /generate and wants a 200.
func generate(ctx context.Context, client *http.Client, url string, id int64) error {
	body := []byte(`{"id":` + strconv.FormatInt(id, 10) + `}`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /generate: %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// percentileMS is the nearest-rank percentile of sorted durations, in milliseconds; 0 when empty.
func percentileMS(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	i = max(0, min(i, len(sorted)-1))
	return float64(sorted[i]) / float64(time.Millisecond)
}
