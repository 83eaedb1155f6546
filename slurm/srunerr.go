package slurm

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

// TaskFailure is one "srun: error: NODE: task(s) RANKS: STATUS" line.
type TaskFailure struct {
	Node   string // the node the tasks ran on
	Ranks  []int  // the tasks' ranks within the step, ascending
	Code   int    // the exit code, or 128+signal for a signal
	Status string // srun's words, e.g. "Killed" or "Exited with exit code 3"
	Line   string // the whole line, for reports
}

// Terminated reports whether srun says SIGTERM ended the tasks: srun or Slurm stopped them, often
// because another task failed, rather than their failing by themselves.
func (f TaskFailure) Terminated() bool {
	return strings.TrimSuffix(f.Status, coreSuffix) == terminated
}

// signalTexts are glibc's strsignal texts, which srun prints for tasks
// ended by a signal. The numbers are
// Linux's, written out rather than taken from package syscall, because
// srun runs on Linux whatever system this program was built for.
var signalTexts = [...]struct {
	sig  syscall.Signal
	text string
}{
	{1, "Hangup"},
	{2, "Interrupt"},
	{3, "Quit"},
	{4, "Illegal instruction"},
	{5, "Trace/breakpoint trap"},
	{6, "Aborted"},
	{7, "Bus error"},
	{8, "Floating point exception"},
	{9, "Killed"},
	{10, "User defined signal 1"},
	{11, "Segmentation fault"},
	{12, "User defined signal 2"},
	{13, "Broken pipe"},
	{14, "Alarm clock"},
	{15, "Terminated"},
	{16, "Stack fault"},
	{17, "Child exited"},
	{18, "Continued"},
	{19, "Stopped (signal)"},
	{20, "Stopped"},
	{21, "Stopped (tty input)"},
	{22, "Stopped (tty output)"},
	{23, "Urgent I/O condition"},
	{24, "CPU time limit exceeded"},
	{25, "File size limit exceeded"},
	{26, "Virtual timer expired"},
	{27, "Profiling timer expired"},
	{28, "Window changed"},
	{29, "I/O possible"},
	{30, "Power failure"},
	{31, "Bad system call"},
}

// sigRTMin is the first real-time signal as glibc numbers it: glibc keeps
// the kernel's first two for itself, and strsignal counts from here.
const sigRTMin = 34

// SrunErrorMark starts srun's own error lines, those that report a task's end among them.
const SrunErrorMark = "srun: error: "

const (
	exitedPrefix = "Exited with exit code "
	coreSuffix   = " (core dumped)"
	terminated   = "Terminated"
	// outOfMemory is what srun prints for a task the kernel's OOM killer
	// ended. slurmstepd reports such a task with the pseudo-signal 125
	// (return code 253), and srun turns a signal into 128+signal.
	outOfMemory = "Out Of Memory"
	oomSignal   = syscall.Signal(125)
	// maxRanks bounds the ranks read from one line, so that a corrupt
	// "tasks 0-999999999" cannot exhaust memory.
	maxRanks = 1 << 20
)

// signalText returns what strsignal prints for sig.
func signalText(sig syscall.Signal) string {
	for _, s := range signalTexts {
		if s.sig == sig {
			return s.text
		}
	}
	if sig >= sigRTMin && sig <= 64 {
		return fmt.Sprintf("Real-time signal %d", sig-sigRTMin)
	}
	return fmt.Sprintf("Unknown signal %d", int(sig))
}

// statusCode turns srun's status words into an exit code the way a shell
// does: the exit code itself, or 128+signal. ok is false for words srun
// does not print for a task's end.
func statusCode(status string) (code int, ok bool) {
	if rest, found := strings.CutPrefix(status, exitedPrefix); found {
		n, err := strconv.Atoi(rest)
		// srun reports exit code 0 as "Completed", never as a failure.
		if err != nil || n < 1 || n > 255 {
			return 0, false
		}
		return n, true
	}
	if status == outOfMemory {
		return verdict.Signal(oomSignal), true
	}
	text := strings.TrimSuffix(status, coreSuffix)
	for _, s := range signalTexts {
		if s.text == text {
			return verdict.Signal(s.sig), true
		}
	}
	if rest, found := strings.CutPrefix(text, "Real-time signal "); found {
		if n, err := strconv.Atoi(rest); err == nil && n >= 0 && sigRTMin+n <= 64 {
			return verdict.Signal(syscall.Signal(sigRTMin + n)), true
		}
	}
	if rest, found := strings.CutPrefix(text, "Unknown signal "); found {
		if n, err := strconv.Atoi(rest); err == nil && n > 0 && n < 128 {
			return verdict.Signal(syscall.Signal(n)), true
		}
	}
	return 0, false
}

// ParseTaskFailures returns the task failures srun reported in text, in
// order of appearance. Other lines, and lines whose status srun would not
// print for a task's end, are ignored. Text before "srun: error: ", such as
// a timestamp or a log prefix, is allowed.
func ParseTaskFailures(text string) []TaskFailure {
	var failures []TaskFailure
	for line := range strings.Lines(text) {
		line = strings.TrimRight(line, "\r\n")
		if f, ok := parseTaskFailure(line); ok {
			failures = append(failures, f)
		}
	}
	return failures
}

func parseTaskFailure(line string) (TaskFailure, bool) {
	at := strings.LastIndex(line, SrunErrorMark)
	if at < 0 {
		return TaskFailure{}, false
	}
	node, rest, found := strings.Cut(line[at+len(SrunErrorMark):], ": ")
	if !found || node == "" || strings.ContainsAny(node, " \t") {
		return TaskFailure{}, false
	}
	// srun says "task" for one rank and "tasks" for more; either is read.
	switch {
	case strings.HasPrefix(rest, "task "):
		rest = rest[len("task "):]
	case strings.HasPrefix(rest, "tasks "):
		rest = rest[len("tasks "):]
	default:
		return TaskFailure{}, false
	}
	rankText, status, found := strings.Cut(rest, ": ")
	if !found {
		return TaskFailure{}, false
	}
	ranks, ok := parseRanks(rankText)
	if !ok {
		return TaskFailure{}, false
	}
	status = strings.TrimRight(status, " \t")
	code, ok := statusCode(status)
	if !ok {
		return TaskFailure{}, false
	}
	return TaskFailure{Node: node, Ranks: ranks, Code: code, Status: status, Line: line}, true
}

// parseRanks reads srun's rank list, e.g. "0,2-3".
func parseRanks(text string) ([]int, bool) {
	var ranks []int
	for part := range strings.SplitSeq(text, ",") {
		loText, hiText, isRange := strings.Cut(part, "-")
		lo, err := strconv.Atoi(loText)
		if err != nil || lo < 0 || !allDigits(loText) {
			return nil, false
		}
		hi := lo
		if isRange {
			if hi, err = strconv.Atoi(hiText); err != nil || hi < lo || !allDigits(hiText) {
				return nil, false
			}
		}
		if len(ranks)+(hi-lo+1) > maxRanks {
			return nil, false
		}
		for r := lo; r <= hi; r++ {
			ranks = append(ranks, r)
		}
	}
	return ranks, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

// RootCause picks the failure most likely to have started the collapse.
// Tasks that srun terminated because another task failed report
// "Terminated", so the first failure with any other status is the cause;
// if every failure is "Terminated", the first one is. ok is false when
// there are no failures.
func RootCause(failures []TaskFailure) (TaskFailure, bool) {
	if len(failures) == 0 {
		return TaskFailure{}, false
	}
	for _, f := range failures {
		if !f.Terminated() {
			return f, true
		}
	}
	return failures[0], true
}

// FormatTaskFailure writes the line srun prints when tasks end badly on a
// node, so that the fake srun is indistinguishable from the real one. A
// nonzero signal is reported by its strsignal text and code is then
// ignored; otherwise the line reports exit code code, which should not be
// 0: srun prints no error for tasks that succeed. Ranks are printed as
// srun does, sorted and compressed, with "task" for one and "tasks" for
// more.
func FormatTaskFailure(node string, ranks []int, code int, signal syscall.Signal) string {
	word := "task"
	if len(uniqueSorted(ranks)) > 1 {
		word = "tasks"
	}
	status := exitedPrefix + strconv.Itoa(code)
	if signal != 0 {
		status = signalText(signal)
	}
	return fmt.Sprintf("%s%s: %s %s: %s", SrunErrorMark, node, word, CompressRanks(ranks), status)
}

// CompressRanks writes ranks as srun does in its messages: ascending,
// without duplicates, with runs as ranges, e.g. "0-2,4".
func CompressRanks(ranks []int) string {
	sorted := uniqueSorted(ranks)
	var b strings.Builder
	for i := 0; i < len(sorted); {
		j := i + 1
		for j < len(sorted) && sorted[j] == sorted[j-1]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(sorted[i]))
		if j > i+1 {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(sorted[j-1]))
		}
		i = j
	}
	return b.String()
}

// uniqueSorted returns the distinct ranks in ascending order, leaving the
// caller's slice alone.
func uniqueSorted(ranks []int) []int {
	sorted := slices.Clone(ranks)
	slices.Sort(sorted)
	return slices.Compact(sorted)
}
