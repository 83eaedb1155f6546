package coord

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

const leftoversDir = "leftovers"

// Leftover is one process that was still running when its task's role command and after commands
// had ended: something the command started that escaped it (a daemon that double-forked and called
// setsid, a worker whose parent died). The task stops it and records it here.
type Leftover struct {
	// Name is the process's command name, as the kernel keeps it (at most 15 bytes).
	Name string `json:"name"`
	PID  int    `json:"pid"`
	// Ran is how long it had run when the task found it; 0 when unknown.
	Ran time.Duration `json:"ran_ns"`
}

// RanText says how long the process had run, as the task's log line and the supervisor's event both
// say it: to 10 ms (the kernel's clock ticks), or "an unknown time" when the task could not tell.
func (l Leftover) RanText() string {
	if l.Ran <= 0 {
		return "an unknown time"
	}
	return l.Ran.Round(10 * time.Millisecond).String()
}

// Leftovers is one task's leftovers file: the task that found them and the processes, in the order
// it found them. A task writes it only when it found some, before it stops them, so that the record
// exists even if the task is killed while it waits for them.
type Leftovers struct {
	Role string `json:"role"`
	Rank int    `json:"rank"`
	Node string `json:"node"`
	// Job and Step are Slurm's ids of the task's step; empty when unknown.
	Job  string `json:"job,omitempty"`
	Step string `json:"step,omitempty"`
	// Time is when the task found them.
	Time      time.Time  `json:"time"`
	Processes []Leftover `json:"processes"`
}

// LeftoversDir holds the leftovers files of the step k, one per rank that found any.
func (d Dir) LeftoversDir(k StepKey) string {
	return filepath.Join(string(d), leftoversDir, Name(k.Role), k.name())
}

// LeftoversFile is one rank's file in LeftoversDir.
func (d Dir) LeftoversFile(k StepKey, rank int) string {
	return filepath.Join(d.LeftoversDir(k), strconv.Itoa(rank))
}

// Encode renders l as the file's JSON, one line.
func (l Leftovers) Encode() ([]byte, error) {
	data, err := json.Marshal(l)
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// DecodeLeftovers parses what Encode wrote. Role and node, which name the task, are required, and
// every process has a pid: a file without them cannot be reported.
func DecodeLeftovers(data []byte) (Leftovers, error) {
	var l Leftovers
	if err := json.Unmarshal(data, &l); err != nil {
		return Leftovers{}, fmt.Errorf("leftovers file: %w", err)
	}
	switch {
	case l.Role == "" || l.Node == "":
		return Leftovers{}, errors.New("leftovers file does not name its task's role and node")
	case l.Rank < 0:
		return Leftovers{}, fmt.Errorf("leftovers file has rank %d", l.Rank)
	}
	for _, p := range l.Processes {
		if p.PID <= 0 {
			return Leftovers{}, fmt.Errorf("leftovers file has a process without a pid (%q)", p.Name)
		}
	}
	return l, nil
}

// WriteLeftovers writes l to path (a LeftoversFile), atomically.
func WriteLeftovers(path string, l Leftovers) error {
	data, err := l.Encode()
	if err != nil {
		return err
	}
	return writeInDir(path, data)
}

// ReadLeftovers reads and decodes the leftovers file at path.
func ReadLeftovers(path string) (Leftovers, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Leftovers{}, err
	}
	l, err := DecodeLeftovers(data)
	if err != nil {
		return Leftovers{}, fmt.Errorf("%s: %w", path, err)
	}
	return l, nil
}

// RoleLeftovers reads the leftovers files of every step of role, ordered by step directory and
// rank. None yet is no error. A file that cannot be read or decoded is left out and named in the
// error, which joins every such failure; the others are returned all the same.
func (d Dir) RoleLeftovers(role string) ([]Leftovers, error) {
	base := filepath.Join(string(d), leftoversDir, Name(role))
	steps, err := os.ReadDir(base)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Leftovers
	var errs []error
	for _, step := range steps {
		if !step.IsDir() || strings.HasPrefix(step.Name(), ".") {
			continue
		}
		dir := filepath.Join(base, step.Name())
		ranks, err := Ranks(dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, rank := range ranks {
			l, err := ReadLeftovers(filepath.Join(dir, strconv.Itoa(rank)))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out = append(out, l)
		}
	}
	return out, errors.Join(errs...)
}
