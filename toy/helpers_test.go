package toy

import (
	"bytes"
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// helperEnv makes the test binary act as the toy command, so the process tests can run real ranks
// and deliver real signals without building the CLI.
const helperEnv = "TOY_TEST_HELPER"

// testDeadline bounds how long a test waits for a rank to reach a state. A healthy run takes a small
// fraction of it; it is generous because a loaded CI machine running the race detector is slow, and a
// deadline only decides how long a broken run takes to report.
const testDeadline = 10 * time.Second

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		// What the CLI does: SIGTERM and SIGINT cancel the context. stop is never called, so a
		// rank that ignores termination keeps catching SIGTERM instead of dying of it.
		ctx, _ := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		os.Exit(Main(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
	}
	// Every rank run in-process must leave nothing behind when Main returns.
	goleak.VerifyTestMain(m)
}

// fakeEnv is a getenv backed by a map.
type fakeEnv map[string]string

func (e fakeEnv) get(name string) string { return e[name] }

// with returns a copy of e with more variables set.
func (e fakeEnv) with(kv ...string) fakeEnv {
	out := make(fakeEnv, len(e)+len(kv)/2)
	for k, v := range e {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// jobEnv is the environment every rank of a test job shares.
func jobEnv(dir string) fakeEnv {
	return fakeEnv{
		envJobID:     "4242",
		envRunToken:  "4242.0.t99",
		envOutputDir: dir,
		envNodeName:  "node1",
	}
}

// roleEnv is jobEnv plus the role and rank.
func roleEnv(dir, role string, rank int) fakeEnv {
	return jobEnv(dir).with(envServingType, role, envProcID, strconv.Itoa(rank))
}

// syncBuffer is a bytes.Buffer the test can read while a rank writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// running is a rank started in a goroutine.
type running struct {
	name   string
	done   chan struct{} // closed when Main has returned
	code   int           // Main's result, set before done is closed
	stdout *syncBuffer
	stderr *syncBuffer
}

// start runs Main in a goroutine. The test must wait for every started rank (wait or waitAll), so
// no goroutine outlives it.
func start(ctx context.Context, name string, env fakeEnv, args ...string) *running {
	r := &running{name: name, done: make(chan struct{}), stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	go func() {
		defer close(r.done)
		r.code = Main(ctx, args, env.get, r.stdout, r.stderr)
	}()
	return r
}

// wait returns the rank's exit code, failing the test if it takes longer than d.
func (r *running) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-r.done:
		return r.code
	case <-time.After(d):
		t.Fatalf("%s still running after %v\nstdout:\n%s\nstderr:\n%s", r.name, d, r.stdout, r.stderr)
		return -1
	}
}

// exited reports whether the rank has returned, without waiting.
func (r *running) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// touchDoneWhenEnded plays the supervisor's part of the protocol for GEN_i: once every one of its
// ranks has returned, it writes gen_server_<i>.done. It gives up when the test ends, and the test's
// cleanup waits for it, so that it never writes into a temporary directory being removed.
func touchDoneWhenEnded(t *testing.T, dir string, i int, ranks ...*running) {
	ctx := t.Context()
	finished := make(chan struct{})
	t.Cleanup(func() { <-finished })
	go func() {
		defer close(finished)
		for _, r := range ranks {
			select {
			case <-r.done:
			case <-ctx.Done():
				return
			}
		}
		// A failed write shows as the benchmark's wait timing out, which names the file.
		_ = writeFileAtomic(filepath.Join(dir, doneFileName(i)), "")
	}()
}

// eventually polls cond until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// addressFile is where role publishes its address for the first server configuration, and where its
// peers look for it.
func addressFile(dir, role string) string {
	return configAddressFile(dir, 0, role)
}

// configAddressFile is where role publishes its address for server configuration idx.
func configAddressFile(dir string, idx int, role string) string {
	return filepath.Join(dir, "hostnames-4242.0.t99-"+strconv.Itoa(idx), role+".txt")
}

// statusFile is the benchmark's status file of server configuration idx.
func statusFile(dir string, idx int) string {
	return filepath.Join(dir, "benchmark_status."+strconv.Itoa(idx)+".txt")
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
