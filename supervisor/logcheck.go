package supervisor

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
)

// logCheckReadLimit bounds what one attempt of a log liveness check reads. A role that wrote more
// than this since the last attempt has its older lines skipped: the check is about whether the role
// lives now, and its newest lines say that.
const logCheckReadLimit = 4 << 20

// logCheckLineLimit bounds how much of one unfinished line a log liveness check keeps between
// attempts; of a longer line, only its first logCheckLineLimit bytes are matched.
const logCheckLineLimit = 64 << 10

// logScanner is the collector of log probes and log liveness checks. Each attempt reads the log from
// where the last one stopped to its current end, each byte once, and passes when one of the lines
// completed since the last attempt matches. For a liveness check that is a heartbeat: a role that
// printed many heartbeats and then went silent fails at the next attempt, rather than once a backlog
// of old heartbeats has been used up one per attempt. A readiness probe, which stops at its first
// pass, thus passes on any line since the step's launch; it also matches the unfinished last line,
// and reads and keeps lines whole.
type logScanner struct {
	path string
	re   *regexp.Regexp
	// offset is where the next attempt starts reading: every byte before it has been read once.
	offset int64
	// partial is the start of the last line read, still without its newline: it is matched once
	// the line is complete. cut says that line was longer than lineLimit.
	partial []byte
	cut     bool
	// limit bounds what one attempt reads (logCheckReadLimit; smaller in tests), lineLimit what is
	// kept of one line; matchUnfinished also matches the unfinished last line.
	limit           int64
	lineLimit       int
	matchUnfinished bool
}

// newHeartbeatScanner is a log liveness check's collector.
func newHeartbeatScanner(path string, offset int64, re *regexp.Regexp) *logScanner {
	return &logScanner{path: path, re: re, offset: offset, limit: logCheckReadLimit, lineLimit: logCheckLineLimit}
}

// newReadinessScanner is a log probe's collector.
func newReadinessScanner(path string, offset int64, re *regexp.Regexp) *logScanner {
	return &logScanner{path: path, re: re, offset: offset, limit: math.MaxInt64 - 1, lineLimit: math.MaxInt, matchUnfinished: true}
}

// errNoHeartbeat is the answer of an attempt that read the log and found no new matching line.
var errNoHeartbeat = errors.New("no new line matches")

// check is one attempt: nil when a line completed since the last attempt matches (or, with
// matchUnfinished, the unfinished last line does).
func (h *logScanner) check() error {
	f, err := os.Open(h.path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
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
			return fmt.Errorf("read %s: %w", h.path, err)
		}
	}
	h.offset = from + read
	if h.matchUnfinished && len(h.partial) > 0 && h.re.Match(h.partial) {
		matched = true
	}
	if !matched {
		return errNoHeartbeat
	}
	return nil
}

// add appends a piece of the current line, keeping at most lineLimit bytes of it (and its newline, so
// that a complete line is told from a cut one).
func (h *logScanner) add(chunk []byte) {
	if h.cut {
		if bytes.HasSuffix(chunk, []byte("\n")) {
			h.partial = append(h.partial, '\n')
		}
		return
	}
	if room := h.lineLimit - len(h.partial); len(chunk) > room {
		newline := bytes.HasSuffix(chunk, []byte("\n"))
		h.partial, h.cut = append(h.partial, chunk[:room]...), true
		if newline {
			h.partial = append(h.partial, '\n')
		}
		return
	}
	h.partial = append(h.partial, chunk...)
}
