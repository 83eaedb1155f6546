// Package proctable reads the node's process table from /proc: each process's parent, process group
// and state. The per-rank runner uses it to find its command's process tree, the fake srun to find the
// processes of its tasks' groups. Linux only: elsewhere Read fails and callers fall back.
package proctable

import (
	"bytes"
	"os"
	"strconv"
	"strings"
)

// Proc is one process of the table.
type Proc struct {
	PID, PPID, PGRP int
	// State is the one-letter state of /proc/PID/stat: R, S, D, Z (a zombie) and so on.
	State string
}

// Read lists every process that /proc shows; processes that end while it reads are left out.
func Read() ([]Proc, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var procs []Proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		if p, ok := parseStat(pid, data); ok {
			procs = append(procs, p)
		}
	}
	return procs, nil
}

// parseStat reads "pid (comm) state ppid pgrp ...": comm may hold anything, spaces and parentheses
// included, so the fields count from its last ')'.
func parseStat(pid int, data []byte) (Proc, bool) {
	end := bytes.LastIndexByte(data, ')')
	if end < 0 {
		return Proc{}, false
	}
	fields := strings.Fields(string(data[end+1:]))
	if len(fields) < 3 {
		return Proc{}, false
	}
	ppid, err1 := strconv.Atoi(fields[1])
	pgrp, err2 := strconv.Atoi(fields[2])
	if err1 != nil || err2 != nil {
		return Proc{}, false
	}
	return Proc{PID: pid, PPID: ppid, PGRP: pgrp, State: fields[0]}, true
}

// Lookup reads one process; false when /proc shows no such process (it never existed, or it has
// been reaped).
func Lookup(pid int) (Proc, bool) {
	if pid <= 0 {
		return Proc{}, false
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Proc{}, false
	}
	return parseStat(pid, data)
}
