package toy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
)

// roleAggregated is the one role of an aggregated test: a multi-rank server that measures itself.
const roleAggregated = "SERVER"

// What SERVER.end holds: the verdict, which its ranks above 0 do not look at but a reader of the
// workspace may.
const (
	statusOK     = "ok"
	statusFailed = "failed"
)

// endFile is where rank 0 of the aggregated SERVER tells the other ranks that the test is over, with
// the verdict. It lives in the attempt's hostnames directory, so a requeued job's ranks never end on
// an earlier attempt's file.
func (r *rank) endFile() string {
	return filepath.Join(r.firstHostnamesDir(), roleAggregated+".end")
}

// aggregated is a rank of the aggregated SERVER. Rank 0 serves POST /generate (prefill then decode in
// one process, as an aggregated server does) on loopback and publishes its address, which makes the
// role ready; then its own client sends the load through that address, for each server configuration
// in turn, and it writes the results as the benchmark does. Once every injected fault aimed at the
// job has fired (see waitForFaults) it writes the end file with the verdict, stops serving and
// returns the verdict. The other ranks stand for the rest of the MPI world: they end with 0 when the
// end file appears, as the workers of a finished test do.
func (r *rank) aggregated(ctx context.Context) error {
	if r.cfg.rank > 0 {
		end := r.endFile()
		if !pollFile(ctx, end) {
			return context.Cause(ctx)
		}
		r.printf(r.stdout, "toy: %s rank %d: %s appeared: exiting", r.cfg.role, r.cfg.rank, filepath.Base(end))
		return nil
	}

	ln, err := listen(ctx)
	if err != nil {
		return err
	}
	mux := r.healthMux()
	mux.HandleFunc("POST /generate", r.handleAggregated)
	serveCtx, stopServing := context.WithCancelCause(ctx)
	defer stopServing(nil)
	served := make(chan error, 1)
	go func() { served <- r.serve(serveCtx, 0, ln, mux) }()
	select {
	case <-r.ready[0]:
	case err := <-served:
		return err
	}
	mode := "aggregated"
	if r.cfg.genOnly {
		mode += ", gen-only (" + envGenOnly + "=1)"
	}
	addr := ln.Addr().String()
	r.printf(r.stdout, "toy: %s: %s serving on %s; measuring it in-process", r.cfg.role, mode, addr)

	verdict := r.measureAggregated(ctx, "http://"+addr+"/generate")
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if err := r.waitForFaults(ctx, -1); err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		verdict = errors.Join(verdict, err)
	}
	status := statusOK
	if verdict != nil {
		status = statusFailed
	}
	if err := writeFileAtomic(r.endFile(), status); err != nil {
		verdict = errors.Join(verdict, fmt.Errorf("writing %s: %w", r.endFile(), err))
	}
	stopServing(errBenchmarkDone)
	<-served
	return verdict
}

// measureAggregated sends the load of every server configuration through url and writes each one's
// results; it returns the first reason the test fails.
func (r *rank) measureAggregated(ctx context.Context, url string) error {
	client := newClient(r.cfg.waitTimeout, r.cfg.concurrency)
	defer client.CloseIdleConnections()
	var verdict error
	for idx := range r.cfg.serverConfigs {
		r.printf(r.stdout, "toy: %s: sending %d requests to %s at concurrency %d%s",
			r.cfg.role, r.cfg.requests, url, r.cfg.concurrency, r.configSuffix(idx))
		res, firstErr := r.load(ctx, client, url)
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		r.printf(r.stdout, "toy: benchmark requests=%d failed=%d concurrency=%d duration=%.3fs throughput=%.1f req/s latency_ms p50=%.3f p90=%.3f p99=%.3f%s",
			res.Requests, res.Failed, res.Concurrency, res.DurationSeconds, res.ThroughputRPS,
			res.LatencyMS.P50, res.LatencyMS.P90, res.LatencyMS.P99, r.configSuffix(idx))
		if err := r.writeResults(idx, res); err != nil {
			return err
		}
		if res.Failed > 0 && verdict == nil {
			verdict = fmt.Errorf("%s%d of %d requests failed; first failure: %v", r.configPrefix(idx), res.Failed, res.Requests, firstErr)
		}
	}
	return verdict
}

// handleAggregated is one request to an aggregated server: prefill and decode in the same process,
// each holding the request for -work.
func (r *rank) handleAggregated(w http.ResponseWriter, req *http.Request) {
	_, _ = io.Copy(io.Discard, io.LimitReader(req.Body, maxBody))
	for range 2 {
		if !sleepCtx(req.Context(), r.cfg.work) {
			return
		}
	}
	writeJSON(w, http.StatusOK, generateResponse{Gen: r.cfg.role, PromptTokens: prefillTokens, Tokens: decodeTokens})
}

// writeResults writes the results of server configuration idx where the benchmark writes its own.
func (r *rank) writeResults(idx int, res Results) error {
	path := r.resultsFile(idx)
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding results: %w", err)
	}
	if err := writeFileAtomic(path, string(b)+"\n"); err != nil {
		return fmt.Errorf("writing results %s: %w", path, err)
	}
	return nil
}
