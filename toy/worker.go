package toy

import (
	"context"
	"io"
	"net/http"
)

// Token counts the workers report. They are fixed: the toy measures the plumbing, not a model.
const (
	prefillTokens = 128
	decodeTokens  = 32
)

// workResponse is the body of POST /prefill and POST /decode.
type workResponse struct {
	Role   string `json:"role"`
	Tokens int    `json:"tokens"`
}

// worker is rank 0 of GEN_i or CTX_i serving server configuration idx: it serves its endpoint until
// ctx ends, which is when it is told to stop or when the benchmark announces the end of idx (see
// eachConfig). It never stops on its own: a worker that exits before the benchmark's announcement is a
// failure in the supervisor's eyes.
func (r *rank) worker(ctx context.Context, idx int) error {
	ln, err := listen(ctx)
	if err != nil {
		return err
	}
	mux := r.healthMux()
	if isCtx(r.cfg.role) {
		mux.HandleFunc("POST /prefill", r.handleWork(prefillTokens))
	} else {
		mux.HandleFunc("POST /decode", r.handleWork(decodeTokens))
	}
	return r.serve(ctx, idx, ln, mux)
}

// handleWork simulates one step of model work: it holds the request for -work, then answers.
func (r *rank) handleWork(tokens int) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, io.LimitReader(req.Body, maxBody))
		if !sleepCtx(req.Context(), r.cfg.work) {
			// The caller gave up or the server is closing; nobody reads an answer.
			return
		}
		writeJSON(w, http.StatusOK, workResponse{Role: r.cfg.role, Tokens: tokens})
	}
}
