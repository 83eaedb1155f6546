package supervisor

import (
	"bytes"
	"context"
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
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return
	}
	pause := followInterval
	timer := time.NewTimer(pause)
	defer timer.Stop()
	buf := make([]byte, 64<<10)
	var partial []byte
	for stopping := false; ; {
		grew := false
		for {
			n, err := f.Read(buf)
			if n > 0 {
				grew = true
				partial = append(partial, buf[:n]...)
				if i := bytes.LastIndexByte(partial, '\n'); i >= 0 {
					_, _ = w.Write(partial[:i+1])
					partial = append(partial[:0], partial[i+1:]...)
				} else if len(partial) > maxPartialLine {
					_, _ = w.Write(append(partial, '\n'))
					partial = partial[:0]
				}
			}
			if n == 0 || err != nil {
				break
			}
		}
		if stopping {
			if len(partial) > 0 {
				_, _ = w.Write(append(partial, '\n'))
			}
			return
		}
		if grew {
			pause = followInterval
		} else {
			pause = min(2*pause, followIdleInterval)
		}
		timer.Reset(pause)
		select {
		case <-ctx.Done():
			// One more read: the step has ended, and its last lines may have come since.
			stopping = true
		case <-timer.C:
		}
	}
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
