package toy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
)

// serverConnsPerHost sizes the router's connection pool per worker. The router does not know the
// benchmark's concurrency, so it keeps enough for any toy load.
const serverConnsPerHost = 256

// peer is a worker the router sends work to.
type peer struct {
	role string
	addr string
}

// router is the DISAGG_SERVER's request path: prefill on a CTX worker, then decode on a GEN worker.
type router struct {
	client  *http.Client
	ctx     []peer // empty in gen-only mode
	gen     []peer
	nextCtx atomic.Uint64
	nextGen atomic.Uint64
}

// generateResponse is the body of POST /generate.
type generateResponse struct {
	Ctx          string `json:"ctx,omitempty"`
	Gen          string `json:"gen"`
	PromptTokens int    `json:"prompt_tokens"`
	Tokens       int    `json:"tokens"`
}

// server is DISAGG_SERVER serving server configuration idx: it waits for every worker of idx, then
// routes /generate until ctx ends (told to stop, or the benchmark announced the end of idx).
func (r *rank) server(ctx context.Context, idx int) error {
	var genRoles, ctxRoles []string
	for i := range r.cfg.numGen {
		genRoles = append(genRoles, genRole(i))
	}
	for i := range r.cfg.numCtx {
		ctxRoles = append(ctxRoles, ctxRole(i))
	}
	client := newClient(r.cfg.waitTimeout, serverConnsPerHost)
	defer client.CloseIdleConnections()

	addrs, err := r.waitForPeers(ctx, client, idx, append(append([]string{}, genRoles...), ctxRoles...))
	if err != nil {
		return err
	}
	rt := &router{client: client}
	var layout []string
	for _, role := range genRoles {
		rt.gen = append(rt.gen, peer{role: role, addr: addrs[role]})
		layout = append(layout, role+"="+addrs[role])
	}
	for _, role := range ctxRoles {
		rt.ctx = append(rt.ctx, peer{role: role, addr: addrs[role]})
		layout = append(layout, role+"="+addrs[role])
	}
	mode := "disaggregated (prefill on CTX, decode on GEN)"
	if len(rt.ctx) == 0 {
		mode = "gen-only (decode on GEN)"
	}
	r.printf(r.stdout, "toy: %s: workers ready: %s; routing %s", r.cfg.role, strings.Join(layout, " "), mode)

	ln, err := listenPort(ctx, r.cfg.serverPort)
	if err != nil {
		return err
	}
	mux := r.healthMux()
	mux.HandleFunc("POST /generate", rt.generate)
	return r.serve(ctx, idx, ln, mux)
}

// generate serves one request: 200 with the combined answer, or 502 naming the worker that failed.
func (rt *router) generate(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, maxBody))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "reading request: " + err.Error()})
		return
	}
	var resp generateResponse
	if len(rt.ctx) > 0 {
		p := rt.ctx[int((rt.nextCtx.Add(1)-1)%uint64(len(rt.ctx)))]
		wr, err := rt.call(req.Context(), p, "/prefill", body)
		if err != nil {
			writeJSON(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
			return
		}
		resp.Ctx, resp.PromptTokens = wr.Role, wr.Tokens
	}
	p := rt.gen[int((rt.nextGen.Add(1)-1)%uint64(len(rt.gen)))]
	wr, err := rt.call(req.Context(), p, "/decode", body)
	if err != nil {
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
		return
	}
	resp.Gen, resp.Tokens = wr.Role, wr.Tokens
	writeJSON(w, http.StatusOK, resp)
}

// call posts body to one worker endpoint; the error names the worker and its address.
func (rt *router) call(ctx context.Context, p peer, path string, body []byte) (workResponse, error) {
	var wr workResponse
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+p.addr+path, bytes.NewReader(body))
	if err != nil {
		return wr, fmt.Errorf("%s at %s: %w", p.role, p.addr, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := rt.client.Do(req)
	if err != nil {
		return wr, fmt.Errorf("%s at %s: %w", p.role, p.addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
		return wr, fmt.Errorf("%s at %s: POST %s: %s", p.role, p.addr, path, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(&wr); err != nil {
		return wr, fmt.Errorf("%s at %s: POST %s: decoding answer: %w", p.role, p.addr, path, err)
	}
	// Drain what the decoder left (the trailing newline) so the connection goes back to the pool.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	return wr, nil
}
