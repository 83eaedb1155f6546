package supervisor

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestHeartbeatScanner plays a log's growth between the attempts of a log liveness check: each
// attempt passes only when a line completed since the last one matches, however many matching lines
// came before.
func TestHeartbeatScanner(t *testing.T) {
	type attempt struct {
		write string // appended to the log before the attempt
		pass  bool
	}
	for _, tt := range []struct {
		name     string
		header   string // before the check's start offset: never read
		limit    int64  // the read bound; 0 means the default
		attempts []attempt
	}{
		{
			name: "many heartbeats then silence: the next attempt fails",
			attempts: []attempt{
				{write: strings.Repeat("heartbeat\n", 50), pass: true},
				{write: "", pass: false},
				{write: "", pass: false},
			},
		},
		{
			name: "a heartbeat per attempt, then one missing, then back",
			attempts: []attempt{
				{write: "x\nheartbeat 1\n", pass: true},
				{write: "other output\n", pass: false},
				{write: "heartbeat 2\n", pass: true},
			},
		},
		{
			name:   "the earlier attempt's output before the start offset does not count",
			header: "heartbeat from an earlier attempt\n",
			attempts: []attempt{
				{write: "loading\n", pass: false},
			},
		},
		{
			name: "an unfinished line counts once its newline arrives",
			attempts: []attempt{
				{write: "heart", pass: false},
				{write: "beat\n", pass: true},
				{write: "", pass: false},
			},
		},
		{
			name: "an anchored pattern sees whole lines, without the newline",
			attempts: []attempt{
				{write: "noise heartbeat\n", pass: false},
				{write: "heartbeat\n", pass: true},
			},
		},
		{
			name:  "more than the read bound: the newest part is read, the cut line dropped",
			limit: 32,
			attempts: []attempt{
				// 40 bytes of heartbeats, then 40 of other output: the heartbeats are older
				// than the last 32 bytes.
				{write: strings.Repeat("heartbeat\n", 4) + strings.Repeat("other out\n", 4), pass: false},
				// The bound cuts a line just before "heartbeat": that fragment is not a line.
				{write: "01234567heartbeat\n" + strings.Repeat("z", 22) + "\n", pass: false},
				{write: strings.Repeat("x", 40) + "heartbeat\n", pass: false},
				{write: strings.Repeat("y", 40) + "\nheartbeat\n", pass: true},
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "role.log")
			if err := os.WriteFile(log, []byte(tt.header), 0o644); err != nil {
				t.Fatal(err)
			}
			s := newHeartbeatScanner(log, int64(len(tt.header)), regexp.MustCompile(`^heartbeat`))
			if tt.limit > 0 {
				s.limit = tt.limit
			}
			for i, a := range tt.attempts {
				appendFile(t, log, a.write)
				err := s.check()
				if a.pass != (err == nil) {
					t.Errorf("attempt %d after %q: %v, want pass %v", i+1, a.write, err, a.pass)
				}
				if err != nil && !errors.Is(err, errNoHeartbeat) {
					t.Errorf("attempt %d: %v, want no heartbeat", i+1, err)
				}
				if info, _ := os.Stat(log); s.offset != info.Size() {
					t.Errorf("attempt %d: offset %d, want the log's end %d", i+1, s.offset, info.Size())
				}
			}
		})
	}
}

// TestHeartbeatScannerTruncated: a log truncated under the check is read again from its start.
func TestHeartbeatScannerTruncated(t *testing.T) {
	log := filepath.Join(t.TempDir(), "role.log")
	appendFile(t, log, strings.Repeat("noise\n", 10))
	s := newHeartbeatScanner(log, 0, regexp.MustCompile(`heartbeat`))
	if err := s.check(); err == nil {
		t.Fatal("passed without a heartbeat")
	}
	if err := os.WriteFile(log, []byte("heartbeat\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.check(); err != nil {
		t.Errorf("heartbeat in the truncated log: %v", err)
	}
}

// TestHeartbeatScannerLongLine: a line longer than what is kept of it passes on its start, once.
func TestHeartbeatScannerLongLine(t *testing.T) {
	log := filepath.Join(t.TempDir(), "role.log")
	s := newHeartbeatScanner(log, 0, regexp.MustCompile(`^heartbeat x+$`))
	appendFile(t, log, "heartbeat "+strings.Repeat("x", logCheckLineLimit))
	if err := s.check(); err == nil {
		t.Error("passed before the line ended")
	}
	appendFile(t, log, strings.Repeat("x", 100)+"\n")
	if err := s.check(); err != nil {
		t.Errorf("a long heartbeat line: %v", err)
	}
	if err := s.check(); err == nil {
		t.Error("the long line passed twice")
	}
}

// TestHeartbeatScannerMissingLog: an attempt on a log that is not there says so.
func TestHeartbeatScannerMissingLog(t *testing.T) {
	s := newHeartbeatScanner(filepath.Join(t.TempDir(), "none.log"), 0, regexp.MustCompile(`x`))
	if err := s.check(); err == nil || errors.Is(err, errNoHeartbeat) || !strings.Contains(err.Error(), "none.log") {
		t.Errorf("check of a missing log: %v, want the open error", err)
	}
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}
