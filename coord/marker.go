package coord

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Marker is the identity a task writes into its start marker, its barrier arrival and the install
// gate's lock and ok files: enough to name the task in another task's or the supervisor's message.
type Marker struct {
	Role string
	Rank int
	Node string
	PID  int
	// Job and Step are Slurm's ids; empty outside Slurm (the fake srun sets them too). The supervisor
	// reads Step from the start markers to address the step with scancel.
	Job, Step string
	// Time is when the file was written, to the second; zero when unknown.
	Time time.Time
}

// Encode renders m as one line of key=value fields. Role, node, job and step go through Name, so that
// no value can hold a space or an '=' and every marker decodes; Time is stored in UTC to the second.
// Empty job and step and a zero time are left out.
func (m Marker) Encode() []byte {
	s := fmt.Sprintf("role=%s rank=%d node=%s pid=%d", Name(m.Role), m.Rank, Name(m.Node), m.PID)
	if m.Job != "" {
		s += " job=" + Name(m.Job)
	}
	if m.Step != "" {
		s += " step=" + Name(m.Step)
	}
	if !m.Time.IsZero() {
		s += " time=" + m.Time.UTC().Format(time.RFC3339)
	}
	return []byte(s + "\n")
}

// DecodeMarker parses what Encode wrote. Unknown fields are ignored, so that a newer task's marker
// still reads; role, rank and node, which name the task, are required.
func DecodeMarker(data []byte) (Marker, error) {
	var m Marker
	seen := map[string]bool{}
	for _, word := range strings.Fields(string(data)) {
		k, v, ok := strings.Cut(word, "=")
		if !ok {
			return Marker{}, fmt.Errorf("marker field %q is not key=value", word)
		}
		if seen[k] {
			return Marker{}, fmt.Errorf("marker has %s twice", k)
		}
		seen[k] = true
		var err error
		switch k {
		case "role":
			m.Role = v
		case "rank":
			m.Rank, err = nonNegative(v)
		case "node":
			m.Node = v
		case "pid":
			m.PID, err = nonNegative(v)
		case "job":
			m.Job = v
		case "step":
			m.Step = v
		case "time":
			m.Time, err = time.Parse(time.RFC3339, v)
		}
		if err != nil {
			return Marker{}, fmt.Errorf("marker field %s=%q: %w", k, v, err)
		}
	}
	var missing []string
	for _, k := range []string{"role", "rank", "node"} {
		if !seen[k] {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return Marker{}, fmt.Errorf("marker lacks %s", strings.Join(missing, ", "))
	}
	return m, nil
}

func nonNegative(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, errors.New("not a non-negative integer")
	}
	return n, nil
}

// ReadMarker reads and decodes the marker at path. A missing file gives an error that matches
// fs.ErrNotExist, which tells "not written yet" from "written but unreadable".
func ReadMarker(path string) (Marker, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Marker{}, err
	}
	m, err := DecodeMarker(data)
	if err != nil {
		return Marker{}, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// String renders the marker for a message, in the order and form of its file.
func (m Marker) String() string {
	return strings.TrimSpace(string(m.Encode()))
}
