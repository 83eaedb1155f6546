package supervisor

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"time"
)

// followInterval is how often a followed log is read for new output while it grows. The log lives on a
// shared file system where change notifications do not cross nodes; a person watching the job's output
// does not notice a tenth of a second. While nothing comes the pause doubles up to followIdleInterval,
// so that an idle benchmark costs the supervisor one read a second.
const (
	followInterval     = 100 * time.Millisecond
	followIdleInterval = time.Second
)

// maxPartialLine bounds how much of an unfinished line is held back waiting for its newline.
const maxPartialLine = 64 << 10

// followLog copies what is written to the log at path from offset on to w, whole lines at a time,
// until ctx is done; then it copies what is left and returns. The step writes its log directly (no
// pipe through the supervisor), so a slow reader here can never block the step.
func followLog(ctx context.Context, path string, offset int64, w io.Writer) {
	lr, err := openLogReader(path, offset, 0)
	if err != nil {
		return
	}
	defer lr.Close()
	emit := func(lines []byte) { _, _ = w.Write(lines) }
	pause := followInterval
	timer := time.NewTimer(pause)
	defer timer.Stop()
	for {
		if lr.read(emit, false) {
			pause = followInterval
		} else {
			pause = min(2*pause, followIdleInterval)
		}
		timer.Reset(pause)
		select {
		case <-ctx.Done():
			// One more read: the step has ended, and its last lines may have come since.
			lr.read(emit, true)
			return
		case <-timer.C:
		}
	}
}

// logReader reads what a growing log gains, whole lines at a time, from an offset on: the follower
// that copies the benchmark's output, and the watch for srun's failing-task lines (srunline.go).
type logReader struct {
	f   *os.File
	pos int64 // where the next read starts
	buf []byte
	// partial is the unfinished last line, held back until its newline comes.
	partial []byte
	// window, when positive, bounds what one read takes in: when the log has grown by more since the
	// last read, the read starts at its last window bytes and what came before is not seen. Zero reads
	// everything.
	window int64
}

func openLogReader(path string, offset, window int64) (*logReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("follow log: %w", err)
	}
	return &logReader{f: f, pos: offset, buf: make([]byte, 64<<10), window: window}, nil
}

func (lr *logReader) Close() error { return lr.f.Close() }

// read passes what the log gained since the last read to emit, as whole lines (one call may hold
// several; a line longer than maxPartialLine comes in parts, each ended by a newline). final passes
// the unfinished last line too, with a newline. emit must not keep the slice it gets. read reports
// whether the log grew.
func (lr *logReader) read(emit func(lines []byte), final bool) bool {
	if lr.window > 0 {
		if info, err := lr.f.Stat(); err == nil && info.Size()-lr.pos > lr.window {
			lr.pos = info.Size() - lr.window
			lr.partial = lr.partial[:0]
		}
	}
	grew := false
	for {
		n, err := lr.f.ReadAt(lr.buf, lr.pos)
		if n > 0 {
			grew = true
			lr.pos += int64(n)
			lr.partial = append(lr.partial, lr.buf[:n]...)
			if i := bytes.LastIndexByte(lr.partial, '\n'); i >= 0 {
				emit(lr.partial[:i+1])
				lr.partial = append(lr.partial[:0], lr.partial[i+1:]...)
			} else if len(lr.partial) > maxPartialLine {
				emit(append(lr.partial, '\n'))
				lr.partial = lr.partial[:0]
			}
		}
		if n == 0 || err != nil {
			break
		}
	}
	if final && len(lr.partial) > 0 {
		emit(append(lr.partial, '\n'))
		lr.partial = lr.partial[:0]
	}
	return grew
}

// redactingWriter masks secrets in what it passes on to w. followLog writes whole lines, so a secret is
// not split between two writes (unless a line outgrows maxPartialLine).
type redactingWriter struct {
	w      io.Writer
	redact func(string) string
}

func (rw redactingWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(rw.w, rw.redact(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}
