package supervisor

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/roles"
)

// probeInterval is how often a readiness probe is retried. Probes poll by nature (a server that is not
// up yet cannot tell us when it will be); failure detection does not depend on them.
const probeInterval = 100 * time.Millisecond

// waitProbe retries the probe until it passes, its timeout passes, or ctx ends.
func waitProbe(ctx context.Context, probe roles.Probe, logPath string, logStart int64) error {
	timeout := time.Duration(probe.TimeoutSeconds * float64(time.Second))
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	ticker := time.NewTicker(probeInterval)
	defer ticker.Stop()
	check, err := newCheck(readinessSpec(probe), logPath, logStart)
	if err != nil {
		return err
	}
	var last error
	for {
		if last = check(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("readiness probe timed out after %s: %s %s: %v", timeout, probe.Type, probe.Target, last)
		case <-ticker.C:
		}
	}
}

// logScanner is a log readiness probe's collector: it looks for a regular expression in the lines
// a log gained since the step's launch, reading each byte once, an unfinished line included.
type logScanner struct {
	path    string
	offset  int64
	partial string
	re      *regexp.Regexp
}

func (l *logScanner) check(context.Context) error {
	f, err := os.Open(l.path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Seek(l.offset, io.SeekStart); err != nil {
		return err
	}
	reader := bufio.NewReader(f)
	for {
		chunk, err := reader.ReadString('\n')
		l.offset += int64(len(chunk))
		line := l.partial + chunk
		if err != nil {
			// An unfinished line is kept and matched once the rest of it arrives.
			l.partial = line
			break
		}
		l.partial = ""
		if l.re.MatchString(line) {
			return nil
		}
	}
	if l.partial != "" && l.re.MatchString(l.partial) {
		return nil
	}
	return fmt.Errorf("no line of %s matches %q yet", l.path, l.re)
}
