package coord

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Node heartbeats: the task runners of each node keep one file per node fresh,
//
//	nodes/<node>   a Heartbeat: who wrote it, its sequence number and the writer's time
//
// rewritten every period by local rank 0 of every step running on the node (WriteFileAtomic, so a
// reader sees a whole line). The supervisor learns that a node is gone from the file's content no
// longer changing, by its own clock: a node's clock may be off, and a shared file system's mtime can
// be cached or set by the server, so neither the time inside nor the file's mtime decides.
const nodesDir = "nodes"

// Heartbeat is the content of a node's heartbeat file.
type Heartbeat struct {
	// Writer is the task that wrote it (role, rank, node, pid, Slurm job and step); its Time is
	// not used: Time below is the write's.
	Writer Marker
	// Seq counts the writer's writes from 1, so that every write changes the file even when two
	// land within the clock's resolution.
	Seq uint64
	// Time is the writer's clock at the write, for people reading the file and the root cause.
	Time time.Time
}

// HeartbeatDir holds the heartbeat files of every node.
func (d Dir) HeartbeatDir() string {
	return filepath.Join(string(d), nodesDir)
}

// Heartbeat is the heartbeat file of node.
func (d Dir) Heartbeat(node string) string {
	return filepath.Join(d.HeartbeatDir(), Name(node))
}

// Encode renders h as one line of key=value fields: the writer's marker fields (without its time),
// then seq and the time in UTC to the nanosecond.
func (h Heartbeat) Encode() []byte {
	w := h.Writer
	w.Time = time.Time{}
	line := strings.TrimSpace(string(w.Encode()))
	return fmt.Appendf(nil, "%s seq=%d time=%s\n", line, h.Seq, h.Time.UTC().Format(time.RFC3339Nano))
}

// String renders h for a message, as its file holds it.
func (h Heartbeat) String() string {
	return strings.TrimSpace(string(h.Encode()))
}

// DecodeHeartbeat parses what Encode wrote; unknown fields are ignored, as in a marker.
func DecodeHeartbeat(data []byte) (Heartbeat, error) {
	m, err := DecodeMarker(data)
	if err != nil {
		return Heartbeat{}, fmt.Errorf("heartbeat: %w", err)
	}
	h := Heartbeat{Time: m.Time}
	m.Time = time.Time{}
	h.Writer = m
	seq := ""
	for _, word := range strings.Fields(string(data)) {
		if v, ok := strings.CutPrefix(word, "seq="); ok {
			seq = v
		}
	}
	if seq == "" {
		return Heartbeat{}, errors.New("heartbeat lacks seq")
	}
	if h.Seq, err = strconv.ParseUint(seq, 10, 64); err != nil {
		return Heartbeat{}, fmt.Errorf("heartbeat field seq=%q: not a non-negative integer", seq)
	}
	if h.Time.IsZero() {
		return Heartbeat{}, errors.New("heartbeat lacks time")
	}
	return h, nil
}

// WriteHeartbeat writes h to path, creating the heartbeat directory when it is the first.
func WriteHeartbeat(path string, h Heartbeat) error {
	return writeInDir(path, h.Encode())
}

// ReadHeartbeat reads a node's heartbeat file by opening it: open() is what shared file systems keep
// coherent across hosts (close-to-open), where attributes such as mtime may be cached. A missing file
// gives an error that matches fs.ErrNotExist: the node has not written one yet.
func ReadHeartbeat(path string) (Heartbeat, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Heartbeat{}, err
	}
	h, err := DecodeHeartbeat(data)
	if err != nil {
		return Heartbeat{}, fmt.Errorf("%s: %w", path, err)
	}
	return h, nil
}
