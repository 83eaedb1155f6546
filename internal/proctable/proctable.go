// Package proctable reads the node's process table from /proc: each process's parent, process group,
// state, name and start time. The per-rank runner uses it to find its command's process tree, the fake srun to find the
// processes of its tasks' groups. Linux only: elsewhere Read fails and callers fall back.
package proctable

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the start time in /proc/PID/stat: the kernel's USER_HZ, which is 100 on every
// architecture the project runs on (x86-64, arm64, ppc64le); sysconf(_SC_CLK_TCK) would need cgo.
const userHZ = 100

// Proc is one process of the table.
type Proc struct {
	PID, PPID, PGRP int
	// State is the one-letter state of /proc/PID/stat: R, S, D, Z (a zombie) and so on.
	State string
	// Name is the process's command name (comm): its executable's name cut to 15 bytes, or what it
	// set for itself.
	Name string
	// Started is when the process started, as time since the boot (see Uptime); 0 when /proc did not
	// say.
	Started time.Duration
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

// parseStat reads "pid (comm) state ppid pgrp ... starttime ...": comm may hold anything, spaces and
// parentheses included, so the fields count from its last ')'.
func parseStat(pid int, data []byte) (Proc, bool) {
	start := bytes.IndexByte(data, '(')
	end := bytes.LastIndexByte(data, ')')
	if start < 0 || end < start {
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
	p := Proc{PID: pid, PPID: ppid, PGRP: pgrp, State: fields[0], Name: string(data[start+1 : end])}
	// starttime is field 22 of the line, the 20th after comm.
	if len(fields) >= 20 {
		if ticks, err := strconv.ParseUint(fields[19], 10, 63); err == nil {
			p.Started = time.Duration(ticks) * (time.Second / userHZ)
		}
	}
	return p, true
}

// Uptime is the time since the boot, the clock of Proc.Started: a process has run for Uptime() -
// p.Started.
func Uptime() (time.Duration, error) {
	data, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0, err
	}
	fields := strings.Fields(string(data))
	if len(fields) == 0 {
		return 0, fmt.Errorf("/proc/uptime is empty")
	}
	secs, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return 0, fmt.Errorf("/proc/uptime: %w", err)
	}
	return time.Duration(secs * float64(time.Second)), nil
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

// Ending reports whether a process has ended or is about to: /proc shows no such process, it is a
// zombie, it has begun to exit (PF_EXITING), or it has SIGKILL pending. The kernel marks every thread
// of a process with SIGKILL as soon as a signal whose action is to end it is delivered, before the
// process runs again to exit; on a busy machine that run can be well behind the signal. A process
// that handles or ignores the signal is not ending, nor is a stopped one, which a signal ends only
// once it is continued. False is only "may still run": for an instant between taking SIGKILL off its
// pending set and starting to exit, a process shows neither.
func Ending(pid int) bool {
	dir := "/proc/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return true
	}
	p, ok := parseStat(pid, stat)
	if !ok || p.State == "Z" || p.State == "X" || exiting(stat) {
		return true
	}
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return true // gone meanwhile
	}
	return killPending(status)
}

// pfExiting is the kernel's PF_EXITING flag in the flags field of /proc/PID/stat: set when the
// process starts to exit.
const pfExiting = 0x4

// exiting tells whether the flags of a /proc/PID/stat line (the 7th field after comm) hold
// PF_EXITING.
func exiting(stat []byte) bool {
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return false
	}
	fields := strings.Fields(string(stat[end+1:]))
	if len(fields) < 7 {
		return false
	}
	flags, err := strconv.ParseUint(fields[6], 10, 64)
	return err == nil && flags&pfExiting != 0
}

// killPending reads the SigPnd line of /proc/PID/status, the thread's pending signals as a
// hexadecimal mask (bit n-1 for signal n), and tells whether SIGKILL is among them.
func killPending(status []byte) bool {
	for line := range bytes.Lines(status) {
		mask, ok := bytes.CutPrefix(line, []byte("SigPnd:"))
		if !ok {
			continue
		}
		bits, err := strconv.ParseUint(strings.TrimSpace(string(mask)), 16, 64)
		return err == nil && bits&(1<<(9-1)) != 0
	}
	return false
}
