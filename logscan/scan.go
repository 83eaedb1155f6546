package logscan

import (
	"bytes"
	"errors"
	"hash/maphash"
	"io"
	"regexp"
	"slices"
	"unicode/utf8"
)

const (
	// readBytes is the read buffer: large enough that a read is cheap, small next to the logs.
	readBytes = 256 << 10
	// maxTracebackLines ends the tracking of a traceback whose last line never came (a rank killed while
	// printing it): deep stacks run to a few hundred lines, ranks interleaving without labels add more.
	maxTracebackLines = 2000
	// maxOpenTracebacks bounds the tracked tracebacks, one per rank label, whatever the number of ranks.
	maxOpenTracebacks = 1024
)

var (
	// tracebackEnd is the last line of a Python traceback: an exception class, maybe module-qualified, then
	// ": message" or nothing. The suffixes keep an interleaved "Loading: 100%" from another rank out; a
	// module-qualified name ("socket.timeout") needs none.
	tracebackEnd = regexp.MustCompile(
		`^(?:(?:[A-Za-z_]\w*\.)*(?:[A-Z]\w*)?(?:Error|Exception|Exit|Interrupt|Expired|Timeout|Failure|Failed|Warning|Iteration)` +
			`|(?:[A-Za-z_]\w*\.)+[A-Za-z_]\w*)(?::\s|:?$)`)
	// quotedSource is a Python source line as a traceback or pytest quotes it: it names exceptions because
	// it raises or catches them, which says nothing about what happened. See isQuotedSource.
	quotedSource = regexp.MustCompile(`^(?:>|\s)\s*(?:raise|except|assert)\b`)
	// keyboardInterrupt ends the traceback of a Python process stopped by SIGINT: teardown, not failure.
	keyboardInterrupt = regexp.MustCompile(`^KeyboardInterrupt(?::|$)`)
)

// The regular expressions above are anchored: a line whose first byte they cannot take is refused here,
// without a call into package regexp, which is most lines.

func isQuotedSource(body []byte) bool {
	return len(body) > 0 && (body[0] == '>' || body[0] == ' ' || body[0] == '\t') && quotedSource.Match(body)
}

func isTracebackEnd(body []byte) bool {
	return len(body) > 0 && isLetterByte(body[0]) && tracebackEnd.Match(body)
}

func isKeyboardInterrupt(body []byte) bool {
	return bytes.HasPrefix(body, []byte("KeyboardInterrupt")) && keyboardInterrupt.Match(body)
}

// Scan reads r to its end, or until limit lines are found, and returns the first error-shaped lines in the
// order of the log. firstLine is the line number of r's first line (1 for a whole file; less than 1 counts as
// 1). A limit of 0 or less means DefaultLimit. Lines whose text (without rank label) was already reported are
// skipped, so that the traceback of eight ranks is reported once, at its first occurrence; a line is reported
// once even if several patterns match it. A trailing "\r" is not part of a line; a carriage return inside a
// line (progress bars redraw with it) separates parts that are matched, and reported, one by one.
//
// Memory is bounded: each line is matched on at most its first MaxLineBytes, and Text is cut to MaxTextBytes.
// On a read error, Scan returns what it found before, and the error.
func (m *Matcher) Scan(r io.Reader, firstLine, limit int) ([]Line, error) {
	s := m.newScan(firstLine, limit)
	err := s.run(r, make([]byte, readBytes))
	return s.result(), err
}

// tbState follows one rank's traceback from its header to its last line.
type tbState struct {
	lines int // lines of this rank since the header
	// headerLine is the line number of the header if this traceback reported it and could still take it back
	// (a traceback of a KeyboardInterrupt); 0 otherwise.
	headerLine int
	headerKey  uint64
}

// scan is the state of one Scan: where it is in the log and what it found.
type scan struct {
	m     *Matcher
	limit int
	seed  maphash.Seed
	seen  map[uint64]bool // hashes of the reported texts, without rank labels
	out   []Line
	// open holds the tracebacks that have a header and no last line yet, by rank label.
	open map[string]*tbState
	// pending counts the open tracebacks whose header was reported among the first limit lines and may be
	// taken back: the scan must not stop before they end.
	pending int

	lineNo   int
	lineDone bool // a part of the current line was reported
	skipLine bool // the current line is the unknown rest of a line cut by the start of the window
	seg      []byte
	// next[i] is the position in the read buffer of the next occurrence of the prefilter's needle i (see
	// found); -1 when unknown.
	next []int
}

func (m *Matcher) newScan(firstLine, limit int) *scan {
	if limit <= 0 {
		limit = DefaultLimit
	}
	return &scan{
		m: m, limit: limit, seed: maphash.MakeSeed(),
		seen: map[uint64]bool{}, open: map[string]*tbState{},
		lineNo: max(firstLine, 1),
		next:   make([]int, len(m.needles)),
	}
}

// run feeds r to the scan, reusing buf.
func (s *scan) run(r io.Reader, buf []byte) error {
	for !s.done() {
		n, err := r.Read(buf)
		s.feed(buf[:n])
		if errors.Is(err, io.EOF) {
			// A last line without a newline is still a line.
			if len(s.seg) > 0 {
				s.segment(s.seg, s.m.prefilter(s.seg))
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// done reports whether the first limit lines are known: no more lines could enter them.
func (s *scan) done() bool {
	return len(s.out) >= s.limit && s.pending == 0
}

func (s *scan) result() []Line {
	if len(s.out) > s.limit {
		return s.out[:s.limit:s.limit]
	}
	return s.out
}

// feed splits data into lines and their carriage-return-separated parts.
func (s *scan) feed(data []byte) {
	// The needles' next occurrences are positions in data: a new buffer invalidates them.
	for i := range s.next {
		s.next[i] = -1
	}
	for pos := 0; pos < len(data) && !s.done(); {
		end, ended := len(data), false
		if i := bytes.IndexByte(data[pos:], '\n'); i >= 0 {
			end, ended = pos+i, true
		}
		for {
			i := bytes.IndexByte(data[pos:end], '\r')
			if i < 0 {
				break
			}
			s.piece(data, pos, pos+i, true)
			pos += i + 1
		}
		s.piece(data, pos, end, ended)
		pos = end
		if ended {
			pos++
			s.lineNo++
			s.lineDone, s.skipLine = false, false
		}
	}
}

// piece adds data[from:to] to the current part of a line; complete means that the part ends there.
func (s *scan) piece(data []byte, from, to int, complete bool) {
	if complete && len(s.seg) == 0 {
		// The whole part is in the read buffer: match it there, without copying.
		to = min(to, from+MaxLineBytes)
		s.segment(data[from:to], s.found(data, from, to))
		return
	}
	if room := MaxLineBytes - len(s.seg); room > 0 {
		s.seg = append(s.seg, data[from:min(to, from+room)]...)
	}
	if complete {
		s.segment(s.seg, s.m.prefilter(s.seg))
		s.seg = s.seg[:0]
	}
}

// found is the prefilter for data[from:to], a part of a line that lies whole in the read buffer. Instead of
// searching every needle in every line, it keeps each needle's next occurrence in the buffer and searches
// again only once a line has passed it: a needle absent from the buffer costs one fast pass over it, and
// most lines cost a comparison per needle. Needles hold no line ending, so an occurrence that starts in the
// part ends in it.
func (s *scan) found(data []byte, from, to int) uint64 {
	var found uint64
	for i, n := range s.m.needles {
		if s.next[i] < from {
			j := bytes.Index(data[from:], n)
			if j < 0 {
				s.next[i] = len(data) // none: past every part of this buffer
			} else {
				s.next[i] = from + j
			}
		}
		if s.next[i] < to {
			found |= needleBit(i)
		}
	}
	return found
}

// segment matches one part of a line (most lines have one part); found is what the prefilter found in it.
func (s *scan) segment(seg []byte, found uint64) {
	if s.skipLine || s.lineDone || len(seg) == 0 {
		return
	}
	hit := found != 0 || s.m.always
	if !hit && len(s.open) == 0 {
		return // the common case: nothing to look at
	}
	n := labelLen(seg)
	label, body := seg[:n], seg[n:]
	name := ""
	if st := s.open[string(label)]; st != nil {
		st.lines++
		switch {
		case len(body) > 0 && (body[0] == ' ' || body[0] == '\t'):
			// Inside the traceback: File lines and quoted source, which name exceptions without
			// having them.
			if st.lines > maxTracebackLines {
				s.close(string(label), st)
			}
			return
		case isTracebackEnd(body):
			if isKeyboardInterrupt(body) {
				s.retract(st)
				s.close(string(label), st)
				return
			}
			s.close(string(label), st)
			name = exceptionName
		case st.lines > maxTracebackLines:
			s.close(string(label), st)
		}
	}
	if name == "" && hit && !(s.m.python && isQuotedSource(body)) {
		name = s.m.match(body, found)
	}
	if name == "" {
		return
	}
	key, reported := s.report(seg, body, name)
	if name == tracebackName && s.m.python {
		s.opened(string(label), key, reported)
	}
}

// opened starts following a traceback whose header was just seen.
func (s *scan) opened(label string, key uint64, reported bool) {
	st := s.open[label]
	if st == nil {
		if len(s.open) >= maxOpenTracebacks {
			return
		}
		st = &tbState{}
		s.open[label] = st
	}
	st.lines = 0
	// Only a header among the first limit lines is worth waiting for: one after them is cut off anyway.
	if reported && len(s.out) <= s.limit {
		if st.headerLine == 0 {
			s.pending++
		}
		st.headerLine, st.headerKey = s.lineNo, key
	}
}

// close stops following a traceback.
func (s *scan) close(label string, st *tbState) {
	if st.headerLine != 0 {
		s.pending--
	}
	delete(s.open, label)
}

// retract takes back the reported header of a traceback that turned out to be teardown.
func (s *scan) retract(st *tbState) {
	if st.headerLine == 0 {
		return
	}
	i := slices.IndexFunc(s.out, func(l Line) bool { return l.Number == st.headerLine && l.Pattern == tracebackName })
	if i >= 0 {
		s.out = slices.Delete(s.out, i, i+1)
		delete(s.seen, st.headerKey)
	}
}

// report adds the line unless its text (without rank label) was reported before; it returns the text's
// hash and whether the line was added.
func (s *scan) report(seg, body []byte, name string) (uint64, bool) {
	key := maphash.Bytes(s.seed, body)
	if s.seen[key] {
		return key, false
	}
	s.seen[key] = true
	var text string
	var truncated bool
	if s.m.redact != nil {
		text = s.m.redact(string(seg))
		truncated = len(text) > MaxTextBytes
		text = text[:cutAt(text)]
	} else {
		truncated = len(seg) > MaxTextBytes
		text = string(seg[:cutAt(seg)])
	}
	s.out = append(s.out, Line{Number: s.lineNo, Text: text, Pattern: name, Truncated: truncated})
	s.lineDone = true
	return key, true
}

// cutAt returns where to cut b to at most MaxTextBytes without splitting a UTF-8 sequence.
func cutAt[T string | []byte](b T) int {
	if len(b) <= MaxTextBytes {
		return len(b)
	}
	i := MaxTextBytes
	// Back off to the start of the rune that the cut would split; at most UTFMax-1 bytes, so that invalid
	// UTF-8 cannot walk it far.
	for j := 0; j < utf8.UTFMax-1 && i > 0 && !utf8.RuneStart(b[i]); j++ {
		i--
	}
	return i
}

// labelLen returns the length of the rank label at the start of line, or 0. Launchers put one in front of
// every line of a rank: srun --label ("  3: "), Open MPI's --tag-output ("[1,3]<stderr>:") and torch
// ("[rank3]: "). It is written out rather than a regular expression because it runs on every line that
// may match.
func labelLen(line []byte) int {
	if rest, ok := bytes.CutPrefix(line, []byte("[rank")); ok {
		n := digits(rest)
		if n == 0 || !bytes.HasPrefix(rest[n:], []byte("]:")) {
			return 0
		}
		l := len("[rank") + n + len("]:")
		if l < len(line) && line[l] == ' ' {
			l++
		}
		return l
	}
	if rest, ok := bytes.CutPrefix(line, []byte("[")); ok {
		n := digits(rest)
		if n == 0 || n >= len(rest) || rest[n] != ',' {
			return 0
		}
		rest = rest[n+1:]
		m := digits(rest)
		if m == 0 || !bytes.HasPrefix(rest[m:], []byte("]<")) {
			return 0
		}
		rest = rest[m+2:]
		stream := 0
		for stream < len(rest) && 'a' <= rest[stream] && rest[stream] <= 'z' {
			stream++
		}
		if stream == 0 || !bytes.HasPrefix(rest[stream:], []byte(">:")) {
			return 0
		}
		return len(line) - len(rest) + stream + len(">:")
	}
	spaces := 0
	for spaces < len(line) && line[spaces] == ' ' {
		spaces++
	}
	n := digits(line[spaces:])
	if n == 0 || !bytes.HasPrefix(line[spaces+n:], []byte(": ")) {
		return 0
	}
	return spaces + n + len(": ")
}

// digits returns the number of ASCII digits at the start of b.
func digits(b []byte) int {
	n := 0
	for n < len(b) && '0' <= b[n] && b[n] <= '9' {
		n++
	}
	return n
}
