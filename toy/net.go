package toy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

const (
	// pollInterval is how often a waiting rank looks for its peers: short enough that readiness
	// costs no noticeable time, long enough not to load a shared file system.
	pollInterval = 50 * time.Millisecond
	// healthTimeout bounds one GET /health while waiting; a peer that is up answers at once.
	healthTimeout = time.Second
	// shutdownGrace is how long in-flight requests get to finish after a termination request.
	shutdownGrace = 2 * time.Second
	// maxBody bounds what a toy endpoint reads from a request; real payloads are a few bytes.
	maxBody = 1 << 20
)

// hostnamesDir is where the roles of one job attempt publish their addresses for server configuration
// idx: hostnames-<attempt>-<idx>, as the harness names it per configuration. Each configuration has
// its own directory because its servers listen on new ports: a peer of configuration 1 must not find
// an address of configuration 0, whose servers are gone.
func (r *rank) hostnamesDir(idx int) string {
	return filepath.Join(r.cfg.outputDir, "hostnames-"+r.cfg.attempt+"-"+strconv.Itoa(idx))
}

// firstHostnamesDir is hostnames-<attempt>, where the first configuration's addresses are also
// published: the name the toy used before it kept one directory per configuration, which readiness
// probes ({out}/hostnames-{token}/{role}.txt) and the aggregated SERVER's end file still use.
func (r *rank) firstHostnamesDir() string {
	return filepath.Join(r.cfg.outputDir, "hostnames-"+r.cfg.attempt)
}

// addressFile is where role publishes its address for server configuration idx, and where its
// peers read it.
func (r *rank) addressFile(idx int, role string) string {
	return filepath.Join(r.hostnamesDir(idx), role+".txt")
}

// routerAddrFile is DISAGG_SERVER.<idx>.addr, where the harness's router reports its address for
// configuration idx. The toy writes it for whoever reads the workspace as the harness's; its own
// benchmark reads the attempt's hostnames directory instead, which no earlier attempt can have
// written.
func (r *rank) routerAddrFile(idx int) string {
	return filepath.Join(r.cfg.outputDir, roleServer+"."+strconv.Itoa(idx)+".addr")
}

// publish makes this role's address for server configuration idx visible to its peers, which makes
// the role ready in idx: the moment a fault of idx counts its delay from. The per-configuration file
// comes first, so that once a file of the first directory (what probes wait for) exists, peers find
// the address too.
func (r *rank) publish(idx int, addr string) error {
	paths := []string{r.addressFile(idx, r.cfg.role)}
	if idx == 0 {
		paths = append(paths, filepath.Join(r.firstHostnamesDir(), r.cfg.role+".txt"))
	}
	if r.cfg.role == roleServer {
		paths = append(paths, r.routerAddrFile(idx))
	}
	for _, path := range paths {
		if err := writeFileAtomic(path, addr); err != nil {
			return fmt.Errorf("publishing address %s: %w", addr, err)
		}
	}
	r.printf(r.stdout, "toy: %s rank %d: listening on %s, published in %s", r.cfg.role, r.cfg.rank, addr, strings.Join(paths, " "))
	r.markReady(idx)
	return nil
}

// writeFileAtomic writes content to path through a temporary file in the same directory and a
// rename, so a reader polling for path sees either nothing or the whole content, never a prefix.
// Parent directories are created as needed. It is the toy's own, not coord.WriteFileAtomic: the toy
// stands in for the served model and shares no code with the supervisor it is tested under, and its
// address files are read by peers on other nodes the moment they appear, hence the sync.
func writeFileAtomic(path, content string) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.WriteString(content); err != nil {
		return err
	}
	// Sync before the rename: on a shared file system a peer on another node may open the file as
	// soon as the name appears.
	if err := f.Sync(); err != nil {
		return err
	}
	// CreateTemp makes the file private; the files are for every rank and for humans reading the run.
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// waitForPeers waits until every role in roles has published an address for server configuration
// idx that answers GET /health with 200, and returns the addresses by role. Checking health, not just
// the file, keeps a file left over from an earlier attempt with the same job id from sending traffic
// to a dead port. It gives up after the wait timeout with an error that names every role still
// missing and why.
func (r *rank) waitForPeers(ctx context.Context, client *http.Client, idx int, roles []string) (map[string]string, error) {
	dir := r.hostnamesDir(idx)
	deadline := time.Now().Add(r.cfg.waitTimeout)
	ready := make(map[string]string, len(roles))
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		var missing []string
		for _, role := range roles {
			if _, ok := ready[role]; ok {
				continue
			}
			addr, err := readAddress(filepath.Join(dir, role+".txt"))
			if err == nil {
				err = checkHealth(ctx, client, addr)
				if err != nil {
					err = fmt.Errorf("%s not healthy: %w", addr, err)
				}
			}
			if err != nil {
				missing = append(missing, role+" ("+err.Error()+")")
				continue
			}
			ready[role] = addr
		}
		if len(missing) == 0 {
			return ready, nil
		}
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("gave up after %v (-wait-timeout) waiting in %s for %s",
				r.cfg.waitTimeout, dir, strings.Join(missing, ", "))
		}
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-ticker.C:
		}
	}
}

// readAddress reads a published host:port.
func readAddress(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("no address file %s", filepath.Base(path))
	}
	if err != nil {
		return "", err
	}
	addr := strings.TrimSpace(string(b))
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", fmt.Errorf("address file %s holds %q, not host:port", filepath.Base(path), addr)
	}
	return addr, nil
}

func checkHealth(ctx context.Context, client *http.Client, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/health", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /health: %s", resp.Status)
	}
	return nil
}

// newClient returns a client for calls to peers. Each call is bounded by the wait timeout, so a hung
// peer turns into a failed request instead of a hung rank. The pool keeps up to conns connections per
// peer so that the benchmark's concurrency does not turn into a stream of new connections and
// TIME_WAIT sockets. No proxy: every peer is on loopback.
func newClient(timeout time.Duration, conns int) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:          4 * conns,
			MaxIdleConnsPerHost:   conns,
			IdleConnTimeout:       30 * time.Second,
			ResponseHeaderTimeout: timeout,
		},
	}
}

// listen opens a loopback listener on a port the kernel picks, so ranks sharing a node never collide.
func listen(ctx context.Context) (net.Listener, error) {
	return listenPort(ctx, 0)
}

// listenPort opens a loopback listener on port, or on one the kernel picks when port is 0.
func listenPort(ctx context.Context, port int) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return nil, fmt.Errorf("listening on 127.0.0.1: %w", err)
	}
	return ln, nil
}

// serve runs h on ln, publishes the address for server configuration idx, and returns when ctx is
// cancelled or the server fails. A termination request or the benchmark's end drains in-flight
// requests; an injected fault drops them, as a crash would.
func (r *rank) serve(ctx context.Context, idx int, ln net.Listener, h http.Handler) error {
	// Shutdown waits for handlers but does not cancel them; handlers derive from this context so a
	// crash, or a drain that runs out of time, also ends the simulated work still in progress.
	handlerCtx, cancelHandlers := context.WithCancel(context.Background())
	defer cancelHandlers()
	srv := &http.Server{
		Handler:           r.sickHandler(ctx, h),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(r.stderr, "toy: "+r.cfg.role+" http: ", 0),
		BaseContext:       func(net.Listener) context.Context { return handlerCtx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	if err := r.publish(idx, ln.Addr().String()); err != nil {
		srv.Close()
		<-errc
		return err
	}

	select {
	case err := <-errc:
		return fmt.Errorf("serving on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	var fe *faultExit
	if errors.As(context.Cause(ctx), &fe) {
		cancelHandlers()
		srv.Close()
	} else {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		if err := srv.Shutdown(sctx); err != nil {
			cancelHandlers()
			srv.Close()
		}
		cancel()
	}
	<-errc
	return context.Cause(ctx)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// sleepCtx waits d unless ctx ends first, and reports whether the full time passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// healthMux is the start of every toy server: GET /health answers 200 with the role, which is what
// peers and readiness probes wait for.
func (r *rank) healthMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		body := map[string]any{"role": r.cfg.role, "status": "ok"}
		if r.cfg.role == roleServer {
			// What a liveness check can match, so that a router whose workers are gone fails it.
			body["workers"] = r.cfg.numGen + r.cfg.numCtx
		}
		writeJSON(w, http.StatusOK, body)
	})
	return mux
}
