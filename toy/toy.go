package toy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Exit codes of Main besides the ones a fault spec asks for.
const (
	// ExitOK means the rank finished its job: the benchmark succeeded, or a server rank stopped
	// after the benchmark's status file of the last server configuration appeared.
	ExitOK = 0
	// ExitFailed means the run failed: a peer never became ready, a request failed, a file could
	// not be written, a .done file or an injected fault's time file never appeared.
	ExitFailed = 1
	// ExitUsage means a flag or an environment variable is wrong; nothing was started.
	ExitUsage = 2
	// ExitTerminated is what a shell reports for a process ended by SIGTERM (128+15); a rank returns it
	// when its context is cancelled, so the supervisor sees the same code from the toy run in-process
	// or as a process.
	ExitTerminated = 143
)

// Main runs one rank of the toy stack and returns its exit code; `precheck` as the first argument runs
// one rank of the toy precheck instead (see Precheck).
//
// The role comes from DISAGG_SERVING_TYPE and the rank from SLURM_PROCID, read through getenv; the
// package documentation has the whole flag and environment contract.
//
// ctx stands for SIGTERM and SIGINT: when it is cancelled the rank stops its servers and returns
// ExitTerminated. The exception is a rank whose role is named by -ignore-term (or TOY_IGNORE_TERM): it
// notes the request on stderr and carries on as if nothing had happened, so a worker or the router
// then serves until the benchmark's last status file appears or the process is killed (with
// -until-stopped, Main then never returns; a benchmark finishes its run). To model "step ignored
// SIGTERM" the caller must keep catching the signal while Main runs (with signal.NotifyContext: do not
// call stop before Main returns) and must not exit on it.
//
// stdout and stderr may be the same writer; Main serialises its own writes, line by line.
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "precheck" {
		return Precheck(ctx, args[1:], getenv, stdout, stderr)
	}
	start := time.Now()
	// One lock for both streams: the supervisor usually sends them to the same log file, where
	// interleaved halves of lines would be unreadable.
	var mu sync.Mutex
	out := &lockedWriter{mu: &mu, w: stdout}
	errOut := &lockedWriter{mu: &mu, w: stderr}

	cfg, err := parseConfig(args, getenv, out)
	if err != nil {
		fmt.Fprintf(errOut, "toy: %v\n", err)
		return ExitUsage
	}
	if cfg == nil {
		return ExitOK
	}
	r := &rank{cfg: cfg, start: start, stdout: out, stderr: errOut,
		ready: make([]chan struct{}, cfg.serverConfigs), readyOnce: make([]sync.Once, cfg.serverConfigs)}
	for i := range r.ready {
		r.ready[i] = make(chan struct{})
	}
	r.printf(out, "toy: role=%s rank=%d node=%s pid=%d cuda_visible_devices=%s",
		cfg.role, cfg.rank, cfg.node, os.Getpid(), cfg.cuda)
	return r.run(ctx)
}

// rank is one running process of a role.
type rank struct {
	cfg    *config
	start  time.Time
	stdout io.Writer
	stderr io.Writer

	// The fault can fire from its timer and, for the benchmark, at the end of the run; once makes
	// sure it is recorded and reported a single time whichever comes first.
	faultOnce sync.Once
	faulted   *faultExit

	// ready[idx] is closed when rank 0 of a worker, the router or the aggregated SERVER publishes
	// its address for server configuration idx: the moment a fault of idx counts its delay from.
	ready     []chan struct{}
	readyOnce []sync.Once
	// sick is set once the rank's sickness (a fault that leaves it running) has struck.
	sick atomic.Bool
}

// run arms the fault and the SIGTERM handling around the role's own work and maps the outcome to an
// exit code.
func (r *rank) run(parent context.Context) int {
	var wg sync.WaitGroup
	// Deferred first so that it runs last: the helpers below end once ctx is cancelled.
	defer wg.Wait()

	ctx := parent
	if r.cfg.ignoreTerm {
		ctx = context.WithoutCancel(parent)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	if r.cfg.ignoreTerm {
		wg.Go(func() {
			select {
			case <-parent.Done():
				r.printf(r.stderr, "toy: %s rank %d: termination requested; ignoring it (-ignore-term %s), running until killed",
					r.cfg.role, r.cfg.rank, r.cfg.role)
			case <-ctx.Done():
			}
		})
	}

	if f := r.cfg.fault; f != nil && f.Sickness != sickStall && (r.cfg.role != roleBenchmark || f.DelaySet || f.Sickness != "") {
		// Without a delay the benchmark fails at the end of its run (see benchmark), and stalls
		// after its load; every other fault fires on a timer.
		wg.Go(func() { r.armFault(ctx, cancel, f) })
	}
	wg.Go(func() { r.heartbeat(ctx) })
	wg.Go(func() { r.dumpStacksOnUSR1(ctx, r.stderr) })

	var err error
	switch {
	case r.cfg.role == roleAggregated:
		// Its ranks above 0 end on rank 0's end file, not on the benchmark's status files.
		err = r.aggregated(ctx)
	case r.cfg.rank > 0:
		// The other ranks stand for the rest of a multi-rank world: they only have to be there,
		// to go away when told to (or when their fault fires), and to end with rank 0 when the
		// benchmark announces its end.
		err = r.eachConfig(ctx, func(ctx context.Context, _ int) error {
			<-ctx.Done()
			return context.Cause(ctx)
		})
	case isWorker(r.cfg.role):
		err = r.eachConfig(ctx, r.worker)
	case r.cfg.role == roleServer:
		err = r.eachConfig(ctx, r.server)
	default:
		err = r.benchmark(ctx)
	}
	return r.exitCode(ctx, err)
}

// exitCode maps the role's error to the code of the rank. A fault wins over everything else because
// it is what the test asked for; cancellation comes next, then real failures.
func (r *rank) exitCode(ctx context.Context, err error) int {
	if err == nil {
		return ExitOK
	}
	var fe *faultExit
	if errors.As(err, &fe) || errors.As(context.Cause(ctx), &fe) {
		return fe.code
	}
	if ctx.Err() != nil {
		r.printf(r.stderr, "toy: %s rank %d: stopped on request", r.cfg.role, r.cfg.rank)
		return ExitTerminated
	}
	r.printf(r.stderr, "toy: %s rank %d: %v", r.cfg.role, r.cfg.rank, err)
	return ExitFailed
}

// armFault fires the rank's fault after its delay. The benchmark counts the delay of a fault of the
// first configuration from its start, as it always has, and of a later configuration CONFIG from the
// moment it starts measuring CONFIG (the status file of CONFIG-1 exists). Every other role counts it
// from its readiness in CONFIG, so that a fault asked for always hits a running role of the
// configuration asked for, however long the launch took: from the address rank 0 publishes for
// CONFIG, or, for the other ranks, from the moment rank 0 of the same role has published it.
func (r *rank) armFault(ctx context.Context, cancel context.CancelCauseFunc, f *fault) {
	from := r.start
	if r.cfg.role != roleBenchmark || f.Config > 0 {
		if !r.waitReady(ctx, f.Config) {
			return
		}
		from = time.Now()
	}
	t := time.NewTimer(f.Delay - time.Since(from))
	defer t.Stop()
	select {
	case <-t.C:
		if f.Sickness != "" {
			r.sicken()
			return
		}
		cancel(r.fail())
	case <-ctx.Done():
	}
}

// waitReady waits until the rank's role is ready in server configuration idx and reports whether it
// is; false means ctx ended first.
func (r *rank) waitReady(ctx context.Context, idx int) bool {
	if r.cfg.role == roleBenchmark {
		// The benchmark starts a configuration once it has announced the end of the one before.
		return pollFile(ctx, r.statusFile(idx-1))
	}
	if r.cfg.rank == 0 {
		select {
		case <-r.ready[idx]:
			return true
		case <-ctx.Done():
			return false
		}
	}
	// Rank 0 has no way to tell the others; its address file, which the run token keeps apart from
	// any earlier attempt's, is the shared signal.
	return pollFile(ctx, r.addressFile(idx, r.cfg.role))
}

// markReady records that this rank's role is ready in server configuration idx; only the first call
// for idx counts.
func (r *rank) markReady(idx int) {
	r.readyOnce[idx].Do(func() { close(r.ready[idx]) })
}

// fail injects the configured fault once and returns its exit.
func (r *rank) fail() *faultExit {
	r.faultOnce.Do(func() { r.faulted = r.inject() })
	return r.faulted
}

// printf writes one whole line.
func (r *rank) printf(w io.Writer, format string, args ...any) {
	if r.isSick(sickSilent) {
		return
	}
	fmt.Fprintf(w, format+"\n", args...)
}

// lockedWriter lets the rank's goroutines (fault timer, HTTP error log, main flow) share the caller's
// writers, which need not be safe for concurrent use.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
