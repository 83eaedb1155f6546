package logscan

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// healthy are lines of a healthy GEN server log, repeated to make large logs: they name NCCL, CUDA, UCX
// and errors without being errors, so the prefilter and the patterns have work to do.
var healthy = []string{
	"[11/30/2026-10:00:00] [TRT-LLM] [I] iter = 1234, global_rank = 0, rank = 0, currank_total_requests = 0/8, host_step_time = 23.4ms, prev_device_step_time = 22.1ms, num_scheduled_requests: 8, states = {'num_ctx_requests': 0, 'num_generation_tokens': 8}",
	"gpu-a01:1234:1300 [0] NCCL INFO Channel 00/0 : 0[0] -> 1[1] via P2P/CUMEM/read",
	"INFO:     10.0.0.5:51234 - \"POST /v1/completions HTTP/1.1\" 200 OK",
	"[TensorRT-LLM][INFO] CUDA graph replay done, errors=0, RuntimeErrorCount=0",
	"[1732960000.123456] [gpu-c03:7788 :0]     ucp_context.c:2190 UCX  INFO  Version 1.18.0",
	"[11/30/2026-10:00:00] [TRT-LLM] [I] Waiting for benchmark_status.0.txt",
}

// writeLog writes lines to a file in dir and returns its path and the byte offset of each line's start.
func writeLog(t testing.TB, lines []string) (string, []int64) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gen_server_0.log")
	var b strings.Builder
	var starts []int64
	for _, l := range lines {
		starts = append(starts, int64(b.Len()))
		b.WriteString(l + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, starts
}

func TestScanFileOffset(t *testing.T) {
	var lines []string
	for i := range 1000 {
		lines = append(lines, healthy[i%len(healthy)])
	}
	// The first attempt failed at line 100; the second starts at line 500 and fails at line 900.
	lines[99] = "RuntimeError: first attempt"
	lines[509] = "srun: error: gpu-a01: task 0: Exited with exit code 1 (second attempt)"
	lines[899] = "RuntimeError: second attempt"
	path, starts := writeLog(t, lines)
	m := defaultMatcher(t)

	for _, tc := range []struct {
		name   string
		offset int64
		want   []Line
	}{
		{"whole file", 0, expect(t, lines, want{100, "exception"}, want{510, "srun-error"}, want{900, "exception"})},
		{"from line 500", starts[499], expect(t, lines, want{510, "srun-error"}, want{900, "exception"})},
		{"from inside line 900", starts[899] + 7, []Line{{Number: 900, Text: "Error: second attempt", Pattern: "exception"}}},
		{"from the end", starts[999] + int64(len(lines[999])+1), nil},
	} {
		got, err := m.ScanFile(path, tc.offset, 0)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: ScanFile (-want +got):\n%s", tc.name, diff)
		}
	}

	for _, offset := range []int64{-1, starts[999] + 1000} {
		if _, err := m.ScanFile(path, offset, 0); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("ScanFile at offset %d: %v, want an error naming the file", offset, err)
		}
	}
	if _, err := m.ScanFile(filepath.Join(t.TempDir(), "missing.log"), 0, 0); !os.IsNotExist(err) {
		t.Errorf("ScanFile of a missing file: %v, want not-exist", err)
	}
}

// bigLog writes a log of about size bytes of healthy lines, with an error at line 10 (before the window of
// the last FileWindowBytes), one inside the line that the window's start cuts, and one near the end. It
// returns the path and the numbers of the lines that should be reported.
func bigLog(t testing.TB, size int64) (path string, want []Line) {
	t.Helper()
	// Every line has the same length, so that the cut line is known in advance.
	const width = 100
	line := func(s string) string { return (s + strings.Repeat(" ", width))[:width-1] + "\n" }
	nLines := size / width
	size = nLines * width
	cutLine := (size-FileWindowBytes)/width + 1 // 1-based; the window starts inside it unless it divides evenly
	if (size-FileWindowBytes)%width == 0 {
		t.Fatal("choose a size whose window starts inside a line")
	}
	endLine := nLines - 3

	path = filepath.Join(t.TempDir(), "big.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	filler := make([]string, len(healthy))
	for i, h := range healthy {
		filler[i] = line(h)
	}
	for n := int64(1); n <= nLines; n++ {
		switch n {
		case 10:
			w.WriteString(line("RuntimeError: early, before the window"))
		case cutLine:
			// The window starts a few bytes into this line: its rest is no line and is not reported.
			w.WriteString(line(strings.Repeat("x", 60) + " RuntimeError: cut"))
		case endLine:
			w.WriteString(line("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"))
		case endLine + 1:
			w.WriteString(line("srun: error: gpu-a01: task 0: Exited with exit code 1"))
		default:
			w.WriteString(filler[n%int64(len(filler))])
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path, []Line{
		{Number: int(endLine), Text: strings.TrimSuffix(line("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"), "\n"), Pattern: "exception"},
		{Number: int(endLine + 1), Text: strings.TrimSuffix(line("srun: error: gpu-a01: task 0: Exited with exit code 1"), "\n"), Pattern: "srun-error"},
	}
}

// TestScanFileLarge scans a 200 MB log whose errors are near its end: ScanFile finds them with their line
// numbers, reads only the last window for matching, and allocates a few hundred kilobytes whatever the size.
func TestScanFileLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 200 MB")
	}
	path, want := bigLog(t, 200_000_037)
	m := defaultMatcher(t)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	got, err := m.ScanFile(path, 0, 0)
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ScanFile (-want +got):\n%s", diff)
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("200 MB scanned in %v, %d KiB allocated", elapsed, allocated>>10)
	// The race detector's sync.Pool drops what it is given back at random, so that package regexp
	// allocates its matchers again and again: garbage, not memory held, but no bound to check.
	if !raceEnabled && allocated > 4<<20 {
		t.Errorf("ScanFile allocated %d bytes for a 200 MB file, want at most 4 MiB", allocated)
	}

	// From an offset near the end, only newlines are counted before it: the numbers are the same.
	offset := int64(want[0].Number-1) * 100 // every line of bigLog is 100 bytes
	start = time.Now()
	got, err = m.ScanFile(path, offset, 0)
	t.Logf("200 MB from offset %d scanned in %v", offset, time.Since(start))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ScanFile from offset %d (-want +got):\n%s", offset, diff)
	}
}

// BenchmarkScan measures the scan of healthy log lines, which is almost all of any log.
func BenchmarkScan(b *testing.B) {
	var sb strings.Builder
	for sb.Len() < 16<<20 {
		for _, h := range healthy {
			sb.WriteString(h + "\n")
		}
	}
	log := sb.String()
	m := defaultMatcher(b)
	b.SetBytes(int64(len(log)))
	b.ReportAllocs()
	for b.Loop() {
		if got, err := m.Scan(strings.NewReader(log), 1, 0); err != nil || len(got) != 0 {
			b.Fatal(got, err)
		}
	}
}

// BenchmarkScanFile200MB measures ScanFile on a 200 MB log with its errors near the end: a count of the
// newlines before the window, and a scan of the window.
func BenchmarkScanFile200MB(b *testing.B) {
	path, want := bigLog(b, 200_000_037)
	m := defaultMatcher(b)
	b.ReportAllocs()
	for b.Loop() {
		got, err := m.ScanFile(path, 0, 0)
		if err != nil || len(got) != len(want) {
			b.Fatal(fmt.Sprint(got), err)
		}
	}
}
