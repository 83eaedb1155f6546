package logscan

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// ScanFile scans the log at path from byte offset on, as Scan does, and reports line numbers of the file:
// the newlines before offset are counted, fast, rather than scanned. offset is where the part of interest
// starts (the supervisor's log of this attempt, say); if it falls inside a line, that line is scanned from
// offset. When more than FileWindowBytes follow offset, only the last FileWindowBytes are scanned (from the
// first line that starts in them), so that a log of gigabytes costs a count of its newlines and one window.
// The file is scanned up to the size it had when ScanFile opened it, also while it is still growing.
func (m *Matcher) ScanFile(path string, offset int64, limit int) ([]Line, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := info.Size()
	if offset < 0 || offset > size {
		return nil, fmt.Errorf("logscan: offset %d is outside %s (%d bytes)", offset, path, size)
	}
	start := max(offset, size-FileWindowBytes)
	buf := make([]byte, readBytes)
	newlines, lastByte, err := countNewlines(f, start, buf)
	if err != nil {
		return nil, fmt.Errorf("logscan: reading %s: %w", path, err)
	}
	s := m.newScan(1+newlines, limit)
	// The window cuts a line in two: its first part is not in the window and its rest is not a line.
	s.skipLine = start > offset && lastByte != '\n'
	if err := s.run(io.NewSectionReader(f, start, size-start), buf); err != nil {
		return s.result(), fmt.Errorf("logscan: reading %s: %w", path, err)
	}
	return s.result(), nil
}

// countNewlines counts the newlines in the first n bytes of f and returns the last of those bytes ('\n'
// when n is 0, since the file's start is a line's start).
func countNewlines(f io.ReaderAt, n int64, buf []byte) (int, byte, error) {
	count, last := 0, byte('\n')
	for pos := int64(0); pos < n; {
		chunk := buf[:min(int64(len(buf)), n-pos)]
		got, err := f.ReadAt(chunk, pos)
		count += bytes.Count(chunk[:got], []byte{'\n'})
		if got > 0 {
			last = chunk[got-1]
		}
		pos += int64(got)
		if err != nil && (err != io.EOF || pos < n) {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // the file shrank under us
			}
			return 0, 0, err
		}
	}
	return count, last, nil
}
