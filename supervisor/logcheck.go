package supervisor

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
)

// logCheckReadLimit bounds what one attempt of a log liveness check reads. A role that wrote more
// than this since the last attempt has its older lines skipped: the check is about whether the role
// lives now, and its newest lines say that.
const logCheckReadLimit = 4 << 20

// logCheckLineLimit bounds how much of one unfinished line is kept between attempts; of a longer
// line, only its first logCheckLineLimit bytes are matched.
const logCheckLineLimit = 64 << 10

// heartbeatScanner is the state of a log liveness check. Each attempt reads the log from where the
// last one stopped to its current end, and passes when one of the lines completed since the last
// attempt matches: a role that printed many heartbeats and then went silent fails at the next
// attempt, rather than once a backlog of old heartbeats has been used up one per attempt.
type heartbeatScanner struct {
	path string
	re   *regexp.Regexp
	// offset is where the next attempt starts reading: every byte before it has been read once.
	offset int64
	// partial is the start of the last line read, still without its newline: it is matched once
	// the line is complete. cut says that line was longer than logCheckLineLimit.
	partial []byte
	cut     bool
	// limit is logCheckReadLimit, smaller in tests.
	limit int64
}

func newHeartbeatScanner(path string, offset int64, re *regexp.Regexp) *heartbeatScanner {
	return &heartbeatScanner{path: path, re: re, offset: offset, limit: logCheckReadLimit}
}

// errNoHeartbeat is the answer of an attempt that read the log and found no new matching line.
var errNoHeartbeat = errors.New("no new line matches")

// check is one attempt: nil when a line completed since the last attempt matches.
func (h *heartbeatScanner) check() error {
	f, err := os.Open(h.path)
	if err != nil {
		return fmt.Errorf("log check: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("log check: %w", err)
	}
	end := info.Size()
	if end < h.offset {
		// The log was truncated or replaced: what it holds now is all new.
		h.offset, h.partial, h.cut = 0, h.partial[:0], false
	}
	from, skip := h.offset, false
	if end-from > h.limit {
		// Too much to read in one attempt: read the newest part. One byte before it tells whether
		// it starts a line; the line it cuts (and any unfinished line kept) is dropped, since only
		// its end would be seen.
		from, skip = end-h.limit-1, true
		h.partial, h.cut = h.partial[:0], false
	}
	matched := false
	r := bufio.NewReaderSize(io.NewSectionReader(f, from, end-from), 64<<10)
	read := int64(0)
	for {
		chunk, err := r.ReadSlice('\n')
		read += int64(len(chunk))
		complete := err == nil
		switch {
		case skip:
			// Up to the first newline: the line the skip cut.
			skip = !complete
		default:
			h.add(chunk)
			if complete {
				line := bytes.TrimSuffix(h.partial, []byte("\n"))
				if h.re.Match(line) {
					matched = true
				}
				h.partial, h.cut = h.partial[:0], false
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			h.offset = from + read
			return fmt.Errorf("log check: read %s: %w", h.path, err)
		}
	}
	h.offset = from + read
	if !matched {
		return errNoHeartbeat
	}
	return nil
}

// add appends a piece of the current line, keeping at most logCheckLineLimit bytes of it (and its
// newline, so that a complete line is told from a cut one).
func (h *heartbeatScanner) add(chunk []byte) {
	if h.cut {
		if bytes.HasSuffix(chunk, []byte("\n")) {
			h.partial = append(h.partial, '\n')
		}
		return
	}
	if room := logCheckLineLimit - len(h.partial); len(chunk) > room {
		newline := bytes.HasSuffix(chunk, []byte("\n"))
		h.partial, h.cut = append(h.partial, chunk[:room]...), true
		if newline {
			h.partial = append(h.partial, '\n')
		}
		return
	}
	h.partial = append(h.partial, chunk...)
}
