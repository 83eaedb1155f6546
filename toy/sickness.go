package toy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

// sickness is a fault that leaves the rank running but unwell, the way hangs look from outside: the
// CODE field of a fault spec names it instead of an exit code.
type sickness string

const (
	// sickHang: the server keeps its port and accepts connections, but no request gets an answer.
	sickHang sickness = "hang"
	// sickUnavailable: the server answers every request with 503, forever.
	sickUnavailable sickness = "unavailable"
	// sickNoWorkers: the router answers GET /health with 200 and "workers":0, and every
	// /generate with 503, as a router whose workers died.
	sickNoWorkers sickness = "noworkers"
	// sickStall: the benchmark, after its load, blocks reading a connection that never answers,
	// writing nothing more.
	sickStall sickness = "stall"
	// sickSilent: the rank stops writing anything (heartbeat included) but keeps running and serving.
	sickSilent sickness = "silent"
)

// check says whether the sickness makes sense for role.
func (s sickness) check(role string) error {
	switch s {
	case sickHang, sickUnavailable:
		if role == roleBenchmark {
			return fmt.Errorf("%s: only a server (GEN_i, CTX_i, %s) can be %s", s, roleServer, s)
		}
	case sickNoWorkers:
		if role != roleServer {
			return fmt.Errorf("%s: only %s has workers", s, roleServer)
		}
	case sickStall:
		if role != roleBenchmark {
			return fmt.Errorf("%s: only %s stalls on a dead connection", s, roleBenchmark)
		}
	}
	return nil
}

// sicken makes the rank sick: it records the fault's moment, says so, and from then on the
// middleware, the heartbeat and the output follow the sickness. It does not end the rank.
func (r *rank) sicken() {
	f := r.cfg.fault
	now := time.Now()
	path := faultTimeFile(r.cfg.outputDir, r.cfg.role, r.cfg.rank)
	if err := writeFileAtomic(path, strconv.FormatInt(now.UnixNano(), 10)); err != nil {
		r.printf(r.stderr, "toy: %s rank %d: cannot write fault time: %v", r.cfg.role, r.cfg.rank, err)
	}
	// The last line a silent rank writes says why the log stops.
	r.printf(r.stderr, "toy: injected sickness role=%s rank=%d spec=%s after=%v",
		r.cfg.role, r.cfg.rank, f, now.Sub(r.start).Round(time.Millisecond))
	r.sick.Store(true)
}

// isSick reports whether the rank's sickness has struck.
func (r *rank) isSick(s sickness) bool {
	return r.cfg.fault != nil && r.cfg.fault.Sickness == s && r.sick.Load()
}

// sickHandler wraps a server's handler with its sickness; ctx is the configuration's, which ends
// when the rank is told to stop, so that a hung handler does not hold up the shutdown.
func (r *rank) sickHandler(ctx context.Context, h http.Handler) http.Handler {
	if r.cfg.fault == nil || r.cfg.fault.Sickness == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch {
		case r.isSick(sickHang):
			select {
			case <-req.Context().Done():
			case <-ctx.Done():
			}
			return
		case r.isSick(sickUnavailable):
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "injected: unavailable"})
			return
		case r.isSick(sickNoWorkers):
			if req.URL.Path == "/health" {
				writeJSON(w, http.StatusOK, map[string]any{"role": r.cfg.role, "status": "ok", "workers": 0})
			} else {
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "no workers"})
			}
			return
		}
		h.ServeHTTP(w, req)
	})
}

// stallOnDeadConnection is the benchmark's stall: it connects to a listener that accepts and never
// answers, and waits for an answer until it is stopped.
func (r *rank) stallOnDeadConnection(ctx context.Context) error {
	ln, err := listen(ctx)
	if err != nil {
		return err
	}
	defer ln.Close()
	go func() {
		// Accept and hold the connection: the peer is alive to the kernel, dead to the benchmark.
		if c, err := ln.Accept(); err == nil {
			<-ctx.Done()
			c.Close()
		}
	}()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		return err
	}
	defer conn.Close()
	r.sicken()
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Now()) })
	defer stop()
	_, _ = conn.Read(make([]byte, 1))
	return context.Cause(ctx)
}

// heartbeat writes a line every period until ctx ends, as a live server logs its iterations: from rank
// 0 only, as multi-rank servers log from their first rank, so that a silent rank 0 leaves its role's
// log silent. A silent rank's heartbeat stops with the rest of its output.
func (r *rank) heartbeat(ctx context.Context) {
	if r.cfg.heartbeat <= 0 || r.cfg.rank != 0 {
		return
	}
	ticker := time.NewTicker(r.cfg.heartbeat)
	defer ticker.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			r.printf(r.stdout, "toy: %s rank %d: heartbeat %d", r.cfg.role, r.cfg.rank, n)
		}
	}
}

// dumpStacksOnUSR1 prints every goroutine's stack on SIGUSR1, as processes that support a dump signal
// do, until ctx ends. A silent rank stays silent: its stacks would be output too.
func (r *rank) dumpStacksOnUSR1(ctx context.Context, w io.Writer) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGUSR1)
	defer signal.Stop(sigs)
	for {
		select {
		case <-ctx.Done():
			return
		case <-sigs:
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			r.printf(w, "toy: %s rank %d: SIGUSR1: goroutine stacks follow\n%s", r.cfg.role, r.cfg.rank, buf)
		}
	}
}
