package supervisor

import (
	"bytes"
	"context"
	"io"
	"os"
	"time"
)

// followInterval is how often a followed log is read for new output. The log lives on a shared file
// system where change notifications do not cross nodes; a person watching the job's output does not
// notice a tenth of a second.
const followInterval = 100 * time.Millisecond

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
	ticker := time.NewTicker(followInterval)
	defer ticker.Stop()
	buf := make([]byte, 64<<10)
	var partial []byte
	for stopping := false; ; {
		for {
			n, err := f.Read(buf)
			if n > 0 {
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
		select {
		case <-ctx.Done():
			// One more read: the step has ended, and its last lines may have come since.
			stopping = true
		case <-ticker.C:
		}
	}
}
