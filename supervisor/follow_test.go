package supervisor

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer that followLog's goroutine and the test can share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestFollowLog: whole lines from the offset on, output that comes after the follower has backed off
// to its idle pace still arrives, and the unfinished last line is written when the step ends.
func TestFollowLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "benchmark.log")
	if err := os.WriteFile(path, []byte("an earlier attempt\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	log, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan struct{})
	go func() {
		followLog(ctx, path, int64(len("an earlier attempt\n")), &out)
		close(done)
	}()
	waitOutput := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.HasSuffix(out.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("output %q, want it to end with %q", out.String(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	_, _ = log.WriteString("first line\nhalf ")
	waitOutput("first line\n")
	// Idle for longer than the longest pause: the follower is at its idle pace.
	time.Sleep(followIdleInterval + followIdleInterval/2)
	_, _ = log.WriteString("a line\n")
	waitOutput("first line\nhalf a line\n")
	_, _ = log.WriteString("no newline at the end")
	cancel()
	<-done
	if got, want := out.String(), "first line\nhalf a line\nno newline at the end\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
}

// TestLogReaderWindow: a reader with a window reads whole lines from its offset, and a log that grew
// by more than the window since the last read is read from its last window bytes only.
func TestLogReaderWindow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gen.log")
	if err := os.WriteFile(path, []byte("old\nfirst\nhal"), 0o644); err != nil {
		t.Fatal(err)
	}
	lr, err := openLogReader(path, int64(len("old\n")), 16)
	if err != nil {
		t.Fatal(err)
	}
	defer lr.Close()
	var got []string
	emit := func(lines []byte) { got = append(got, string(lines)) }
	if !lr.read(emit, false) || !slices.Equal(got, []string{"first\n"}) {
		t.Fatalf("first read %q, want [first\\n]", got)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, _ = f.WriteString("f\n" + strings.Repeat("noise\n", 10) + "last line\n")
	got = nil
	if !lr.read(emit, false) || !slices.Equal(got, []string{"noise\nlast line\n"}) {
		t.Errorf("read after a burst %q, want the last 16 bytes", got)
	}
	got = nil
	if lr.read(emit, true) || len(got) > 0 {
		t.Errorf("read with nothing new %q, want nothing", got)
	}
}
