package toy

import (
	"bytes"
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
	"sync"
	"sync/atomic"
	"time"
)

// File names the benchmark writes. The results file goes to jobWorkspace, where the harness keeps its
// results; the status file goes next to the logs, where the supervisor and the workers look.
const (
	resultsFileName = "toy_benchmark_results.json"
	statusFileName  = "benchmark.status"
	statusOK        = "ok"
	statusFailed    = "failed"
)

// Results is the schema of toy_benchmark_results.json, which the benchmark writes in jobWorkspace.
type Results struct {
	Requests        int       `json:"requests"`
	Failed          int       `json:"failed"`
	Concurrency     int       `json:"concurrency"`
	DurationSeconds float64   `json:"duration_seconds"`
	ThroughputRPS   float64   `json:"throughput_rps"`
	LatencyMS       Latencies `json:"latency_ms"`
}

// ReadResults reads the toy benchmark's results from a workspace.
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

// benchmark is the BENCHMARK role: the only role that finishes on its own and whose exit code is the
// test's result.
func (r *rank) benchmark(ctx context.Context) error {
	client := newClient(r.cfg.waitTimeout, r.cfg.concurrency)
	defer client.CloseIdleConnections()

	addrs, err := r.waitForPeers(ctx, client, []string{roleServer})
	if err != nil {
		if ctx.Err() == nil {
			r.writeStatus(statusFailed)
		}
		return err
	}
	url := "http://" + addrs[roleServer] + "/generate"
	r.printf(r.stdout, "toy: %s: sending %d requests to %s at concurrency %d",
		r.cfg.role, r.cfg.requests, url, r.cfg.concurrency)

	res, firstErr := r.load(ctx, client, url)
	if ctx.Err() != nil {
		// Stopped or faulted in the middle of the run: like a killed process, leave no results.
		return context.Cause(ctx)
	}
	r.printf(r.stdout, "toy: benchmark requests=%d failed=%d concurrency=%d duration=%.3fs throughput=%.1f req/s latency_ms p50=%.3f p90=%.3f p99=%.3f",
		res.Requests, res.Failed, res.Concurrency, res.DurationSeconds, res.ThroughputRPS,
		res.LatencyMS.P50, res.LatencyMS.P90, res.LatencyMS.P99)
	resultsPath := filepath.Join(r.cfg.workspace, resultsFileName)
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding results: %w", err)
	}
	if err := writeFileAtomic(resultsPath, string(b)+"\n"); err != nil {
		r.writeStatus(statusFailed)
		return fmt.Errorf("writing results %s: %w", resultsPath, err)
	}

	if r.cfg.fault != nil {
		// A fault without a delay (or with one longer than the run) fires here, after the results:
		// the case of a benchmark that measured everything and still exits non-zero.
		r.writeStatus(statusFailed)
		return r.fail()
	}
	if res.Failed > 0 {
		r.writeStatus(statusFailed)
		return fmt.Errorf("%d of %d requests failed; first failure: %v", res.Failed, res.Requests, firstErr)
	}
	r.writeStatus(statusOK)
	return nil
}

// load sends the requests with a fixed number of clients and returns the measurements and the first
// failure seen.
func (r *rank) load(ctx context.Context, client *http.Client, url string) (Results, error) {
	n := r.cfg.requests
	latencies := make([]time.Duration, n)
	ok := make([]bool, n)
	var next atomic.Int64
	var errMu sync.Mutex
	var firstErr error

	var wg sync.WaitGroup
	start := time.Now()
	for range min(r.cfg.concurrency, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				err := generate(ctx, client, url, i)
				latencies[i] = time.Since(t0)
				if err != nil {
					errMu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("request %d: %w", i, err)
					}
					errMu.Unlock()
					continue
				}
				ok[i] = true
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	var good []time.Duration
	for i, d := range latencies {
		if ok[i] {
			good = append(good, d)
		}
	}
	slices.Sort(good)
	res := Results{
		Requests:        n,
		Failed:          n - len(good),
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
func generate(ctx context.Context, client *http.Client, url string, id int) error {
	body := []byte(`{"id":` + strconv.Itoa(id) + `}`)
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

// writeStatus records the benchmark's verdict for the supervisor and the workers. A failure to write
// it is reported but does not change the exit code, which already carries the verdict.
func (r *rank) writeStatus(status string) {
	path := filepath.Join(r.cfg.outputDir, statusFileName)
	if err := writeFileAtomic(path, status); err != nil {
		r.printf(r.stderr, "toy: %s: writing %s: %v", r.cfg.role, path, err)
	}
}
