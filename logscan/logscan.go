// Package logscan finds the first error-shaped lines of a log, with their line numbers in the file, because the tail
// of a crashed MPI job is mostly shutdown noise. It owns the patterns that say what looks like an error.
package logscan

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

// Line is one reported line of a log.
type Line struct {
	// Number is the line's 1-based number in the file, also when the scan started at a byte offset.
	Number int `json:"line"`
	// Text is the line as written (or, for a line that a progress bar split with carriage returns, the part
	// that matched), without its line ending and cut to MaxTextBytes. It is neither redacted nor escaped
	// unless the Matcher has a redactor (see WithRedactor).
	Text string `json:"text"`
	// Pattern names what matched: one of the names listed in the Matcher docs, or an extra pattern's source.
	// It lets a caller order or filter (say, put "exception" first, or drop "srun-error"); it is not part of
	// the JSON form, which is the {"line", "text"} pair of summary.json's failure.first_errors.
	Pattern string `json:"-"`
	// Truncated reports that Text was cut to MaxTextBytes.
	Truncated bool `json:"-"`
}

const (
	// MaxTextBytes bounds Line.Text: a report quotes a line, it does not reproduce a megabyte of tensor dump.
	MaxTextBytes = 400
	// MaxLineBytes is how much of one line (or one carriage-return-separated part of a line) is matched.
	// Longer parts are matched on their first MaxLineBytes only, so that memory stays bounded whatever the log.
	MaxLineBytes = 1 << 20
	// FileWindowBytes bounds what ScanFile reads after the offset: when more follows it, only the last
	// FileWindowBytes of the file are scanned, because a crash ends a log and a long log is long because of
	// healthy output before it. Newlines before the window are still counted, for the line numbers.
	FileWindowBytes = 64 << 20
	// DefaultLimit is the number of lines reported when the caller passes a limit of 0 or less.
	DefaultLimit = 10
)

// A Matcher decides which lines are error-shaped and scans logs for them. It is immutable and safe for
// concurrent use.
//
// The default matcher (Default, NewMatcher) reports lines matching these patterns, named as in Line.Pattern:
//
//	traceback       Traceback (most recent call last):
//	exception       the line that ends a Python traceback ("RuntimeError: CUDA error: ...",
//	                "subprocess.TimeoutExpired: ..."), and any line that starts with a capitalised or
//	                module-qualified name ending in Error or Exception followed by ": " or nothing, as
//	                pytest's "E   " lines do
//	fatal-python    Fatal Python error (faulthandler)
//	mpi-abort       MPI_ABORT (Open MPI), MPI_Abort( (MPICH)
//	mpir-err        MPIR_Err (MPICH's error stack)
//	srun-error      srun: error
//	oom-kill        slurmstepd's "Detected N oom_kill event"
//	segfault        Segmentation fault
//	cuda-oom        CUDA out of memory
//	cuda-error      CUDA error, CUDA runtime error, CUDA driver error
//	nccl-error      NCCL error; NCCL WARN lines that say error, failure or failed ("Cuda failure
//	                'out of memory'"); ncclInternalError, ncclSystemError and the other ncclResult_t
//	                failure names (NCCL INFO lines are not reported)
//	ucx-error       UCX  ERROR (one or more spaces)
//	trtllm-error    [TensorRT-LLM][ERROR] (C++) and [TRT-LLM] [E] (Python), TensorRT-LLM's error level
//	runtime-error   RuntimeError
//	assertion-error AssertionError
//	address-in-use  Address already in use (uvicorn lowercases it: "address already in use")
//	init-error      INIT_ERROR
//	transfer-error  TRANSFER_ERROR
//	task-error      the per-rank runner's own failure ("task: error: ...")
//	gpu-hardware    NVRM Xid reports ("Xid (PCI:...)"), uncorrectable ECC errors, "fallen off the bus"
//	no-space        No space left on device, Disk quota exceeded
//
// A line that several patterns match is reported once, named after the first of them in this list.
// Names are matched case-sensitively and as whole words, so "error_handler.py", "RuntimeErrorCount" or
// "NCCL INFO" are not reported.
//
// What is not reported, because it is how a healthy process shows its code or its teardown:
//   - the body of a Python traceback (its "File ..." lines and source lines), only its header and its
//     last line; a traceback that ends in KeyboardInterrupt (a signal-driven teardown) is not reported at all;
//   - Python source lines that pytest quotes (">       raise RuntimeError(...)", "    except ...").
//
// Everything else that matches is reported, including srun's own "srun: error: node: task 0: Exited with
// exit code 143" and Open MPI's MPI_ABORT banner: they can be the only trace of a failure, and ordering or
// dropping them is left to the caller (see Line.Pattern).
//
// Patterns see a line without the rank label that srun --label ("3: "), Open MPI's --tag-output
// ("[1,3]<stderr>:") or torch ("[rank3]: ") put in front of it, so that the same traceback printed by eight
// ranks is recognised as one; the reported text keeps the label.
type Matcher struct {
	patterns []pattern
	// needles is a prefilter: a line that contains none of them cannot match, and most lines contain none.
	// Those that contain some are tried only against the patterns that need one of those (masks).
	needles [][]byte
	// masks[i] has the bits of the needles one of which patterns[i] needs; 0 means it is always tried.
	masks []uint64
	// always is set when a pattern has no needle, so that every line must be tried.
	always bool
	// python turns on the Python-aware rules: traceback tracking and skipping quoted source lines.
	python bool
	redact func(string) string
}

// pattern is one named rule. Most rules start with a literal: the scanner finds it with bytes.Index and
// checks the rest where it stands. A regular expression that starts with \b gets no literal-prefix search
// from package regexp and is tried at every position of every line, which made the scan ten times slower.
type pattern struct {
	name string
	// lit is the literal every match starts with; nil for a rule that is a regular expression only.
	lit []byte
	// left, if set, rejects the byte before lit (a \b that package regexp cannot see from lit's position).
	left func(byte) bool
	// right, if set, rejects the byte after lit: a trailing \b without running a regular expression.
	right func(byte) bool
	// re is matched where lit starts (it is anchored and includes lit), or on the whole line when lit is nil;
	// nil means lit alone is the match.
	re *regexp.Regexp
	// then, if set, must follow lit somewhere before re is tried: "CUDA graph ..." and "UCX  INFO" lines are
	// common, and a literal search is much cheaper than a regular expression.
	then []byte
	// first, if set, must accept the line's first byte before re (anchored) is tried on a lit-less rule.
	first func(byte) bool
	// needles are substrings one of which a match of a lit-less rule contains: the prefilter's share.
	needles [][]byte
}

// at is a rule that starts with the literal lit, preceded by a byte that left does not reject (nil: any),
// and goes on with tail, a regular expression ("" for nothing).
func at(name string, left func(byte) bool, lit, tail string) pattern {
	p := pattern{name: name, lit: []byte(lit), left: left}
	switch tail {
	case "":
	case `\b`:
		// The only tail of most rules, and lit ends in a word character: \b is "no word character next".
		if !isWordByte(lit[len(lit)-1]) {
			panic("logscan: \\b after a non-word character: " + lit)
		}
		p.right = isWordByte
	default:
		p.re = regexp.MustCompile(`^` + regexp.QuoteMeta(lit) + `(?:` + tail + `)`)
	}
	return p
}

// followedBy returns p, which needs lit after its own literal.
func (p pattern) followedBy(lit string) pattern {
	p.then = []byte(lit)
	return p
}

// isLetterByte accepts what can start a Python name.
func isLetterByte(b byte) bool {
	return b == '_' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z'
}

// isWordByte is \b's idea of a word character: ASCII letters, digits and '_'.
func isWordByte(b byte) bool {
	return b == '_' || '0' <= b && b <= '9' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z'
}

// isAlnumByte accepts '_' before a name, so that a prefixed CT_INIT_ERROR is still an INIT_ERROR.
func isAlnumByte(b byte) bool {
	return b != '_' && isWordByte(b)
}

// match reports whether the line (without its rank label) matches p.
func (p *pattern) match(body []byte) bool {
	if p.lit == nil {
		// The prefilter checked the needles.
		return (p.first == nil || len(body) > 0 && p.first(body[0])) && p.re.Match(body)
	}
	for off := 0; ; {
		i := bytes.Index(body[off:], p.lit)
		if i < 0 {
			return false
		}
		i += off
		end := i + len(p.lit)
		if (p.left == nil || i == 0 || !p.left(body[i-1])) &&
			(p.right == nil || end == len(body) || !p.right(body[end])) &&
			(p.then == nil || bytes.Contains(body[end:], p.then)) &&
			(p.re == nil || p.re.Match(body[i:])) {
			return true
		}
		off = i + 1
	}
}

// The names of the two rules that the scanner also applies itself, to follow a traceback to its end.
const (
	tracebackName = "traceback"
	exceptionName = "exception"
)

// defaultPatterns are compiled once and never modified; matchers copy the slice before adding to it.
var defaultPatterns = []pattern{
	at(tracebackName, nil, "Traceback (most recent call last):", ""),
	{
		name:    exceptionName,
		re:      regexp.MustCompile(`^(?:E\s+)?(?:[A-Za-z_]\w*\.)*(?:[A-Z]\w*)?(?:Error|Exception)(?::\s|:?$)`),
		first:   isLetterByte,
		needles: [][]byte{[]byte("Error"), []byte("Exception")},
	},
	at("fatal-python", nil, "Fatal Python error", ""),
	at("mpi-abort", isWordByte, "MPI_ABORT", `\b`),
	at("mpi-abort", isWordByte, "MPI_Abort(", ""),
	at("mpir-err", isWordByte, "MPIR_Err", ""),
	at("srun-error", isWordByte, "srun: error", `\b`),
	at("oom-kill", isWordByte, "Detected ", `\d+ oom[-_]kill event`).followedBy("kill event"),
	at("segfault", nil, "Segmentation fault", ""),
	at("cuda-oom", nil, "CUDA out of memory", ""),
	at("cuda-error", isWordByte, "CUDA error", `\b`),
	at("cuda-error", isWordByte, "CUDA runtime error", `\b`),
	at("cuda-error", isWordByte, "CUDA driver error", `\b`),
	at("nccl-error", isWordByte, "NCCL error", `\b`),
	at("nccl-error", isWordByte, "NCCL WARN", `\b.*\b(?:error|Error|ERROR|failure|Failure|failed|Failed)\b`),
	at("nccl-error", isWordByte, "nccl", `(?:UnhandledCudaError|SystemError|InternalError|InvalidArgument|InvalidUsage|RemoteError)\b`).
		followedBy("Error"),
	at("ucx-error", isWordByte, "UCX ", ` *ERROR\b`).followedBy("ERROR"),
	at("trtllm-error", nil, "[TensorRT-LLM][ERROR]", ""),
	at("trtllm-error", nil, "[TRT-LLM] [E]", ""),
	at("runtime-error", isWordByte, "RuntimeError", `\b`),
	at("assertion-error", isWordByte, "AssertionError", `\b`),
	at("address-in-use", isWordByte, "Address already in use", `\b`),
	at("address-in-use", isWordByte, "address already in use", `\b`),
	at("init-error", isAlnumByte, "INIT_ERROR", `\b`),
	at("transfer-error", isAlnumByte, "TRANSFER_ERROR", `\b`),
	at(TaskErrorName, nil, TaskErrorPrefix, ""),
	at(GPUHardwareName, isWordByte, "Xid", ` ?\(`),
	at(GPUHardwareName, nil, "uncorrectable ECC", ""),
	at(GPUHardwareName, nil, "Uncorrectable ECC", ""),
	at(GPUHardwareName, nil, "fallen off the bus", ""),
	at(NoSpaceName, nil, "No space left on device", ""),
	at(NoSpaceName, nil, "Disk quota exceeded", ""),
}

// Names of the rules whose lines decide a failure's class, exported so that the caller does not
// spell them again; those of the infrastructure rules are package verdict's, so that a line's
// pattern and the evidence it becomes have one name.
const (
	// TaskErrorName: the per-rank runner's own failure line, TaskErrorPrefix and the reason.
	TaskErrorName = "task-error"
	// GPUHardwareName: the driver's Xid reports, uncorrectable ECC errors, a GPU fallen off the bus.
	GPUHardwareName = verdict.RuleGPUHardware
	// NoSpaceName: a write failed with ENOSPC or EDQUOT.
	NoSpaceName = verdict.RuleNoSpace
)

// TaskErrorPrefix starts the one line the per-rank runner prints when it fails by itself (bad options,
// setup, a wait that ran out) rather than passing its command's status on.
const TaskErrorPrefix = "task: error: "

// TaskEnvBegin and TaskEnvEnd are the lines around the per-rank runner's environment dump, which the
// supervisor leaves out of the benchmark's own output: the dump holds the command, whose text a
// result rule would otherwise match.
const (
	TaskEnvBegin = "task: environment begin"
	TaskEnvEnd   = "task: environment end"
)

// redFlagPatterns are the UCX warning signs that the cache-transceiver precheck looks for across logs:
// sw-emul means UCX fell back to emulating in software what the transport should do in hardware.
var redFlagPatterns = []pattern{
	at("sw-emul", nil, "sw-emul", ""),
	at("ucx-error", isWordByte, "UCX ", ` *ERROR\b`).followedBy("ERROR"),
	at("ucx-warn", isWordByte, "UCX ", ` *WARN\b`).followedBy("WARN"),
}

// Default returns the default matcher (see Matcher).
func Default() *Matcher {
	return newMatcher(defaultPatterns, true)
}

// NewMatcher returns the default matcher (see Matcher) extended with extra patterns: Go regular expressions
// (package regexp syntax), each reported under its own source as Line.Pattern, after the default patterns.
// They follow the same rules: they see a line without its rank label, and are not tried on the body of a
// Python traceback or on quoted source. A pattern that does not compile, or that is empty and would match
// every line, is an error that names it.
func NewMatcher(extra []string) (*Matcher, error) {
	patterns := slices.Clone(defaultPatterns)
	var errs []error
	for _, src := range extra {
		if src == "" {
			errs = append(errs, errors.New("logscan: empty pattern would match every line"))
			continue
		}
		re, err := regexp.Compile(src)
		if err != nil {
			errs = append(errs, fmt.Errorf("logscan: pattern %q: %w", src, err))
			continue
		}
		p := pattern{name: src, re: re}
		// A literal prefix must begin every match, so it is a valid needle: lines without it skip the
		// expression. Go reports none for case-folded expressions.
		if prefix, _ := re.LiteralPrefix(); prefix != "" {
			p.needles = [][]byte{[]byte(prefix)}
		}
		patterns = append(patterns, p)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return newMatcher(patterns, true), nil
}

// RedFlags returns the matcher for UCX red flags: sw-emul, "UCX  ERROR" and "UCX  WARN" (one or more
// spaces), named "sw-emul", "ucx-error" and "ucx-warn". It has no Python rules.
func RedFlags() *Matcher {
	return newMatcher(redFlagPatterns, false)
}

func newMatcher(patterns []pattern, python bool) *Matcher {
	m := &Matcher{patterns: patterns, python: python}
	var needles []string
	for _, p := range patterns {
		needles = append(needles, p.needleStrings()...)
	}
	// A needle that contains another is redundant in the prefilter: the shorter one is found whenever the
	// longer one is. Fewer needles is fewer passes over every line.
	slices.Sort(needles)
	needles = slices.Compact(needles)
	for _, n := range needles {
		if !slices.ContainsFunc(needles, func(o string) bool { return o != n && strings.Contains(n, o) }) {
			m.needles = append(m.needles, []byte(n))
		}
	}
	for _, p := range patterns {
		var mask uint64
		for _, n := range p.needleStrings() {
			i := slices.IndexFunc(m.needles, func(kept []byte) bool { return strings.Contains(n, string(kept)) })
			mask |= needleBit(i)
		}
		if mask == 0 {
			m.always = true
		}
		m.masks = append(m.masks, mask)
	}
	return m
}

// needleStrings returns what a match of p must contain.
func (p *pattern) needleStrings() []string {
	if p.lit != nil {
		return []string{string(p.lit)}
	}
	var out []string
	for _, n := range p.needles {
		out = append(out, string(n))
	}
	return out
}

// needleBit is the prefilter's bit for needle i; needles past the 64th share the last bit, which then
// means "one of them".
func needleBit(i int) uint64 {
	return 1 << min(i, 63)
}

// WithRedactor returns a copy of m that passes each reported line through redact before cutting it to
// MaxTextBytes. Redacting after the cut would be too late: a secret value cut in half is no longer found by
// a redactor that looks for whole values (as redact.Text does), and its first half would be shown.
func (m *Matcher) WithRedactor(redact func(string) string) *Matcher {
	c := *m
	c.redact = redact
	return &c
}

// prefilter returns the bits of the needles that line contains; a line for which it returns 0 cannot match
// unless the matcher has a pattern without needles (always).
func (m *Matcher) prefilter(line []byte) uint64 {
	var found uint64
	for i, n := range m.needles {
		if bytes.Contains(line, n) {
			found |= needleBit(i)
		}
	}
	return found
}

// match returns the name of the first pattern that matches body, or "". found is what the prefilter
// found in the line: patterns whose needles are not in it are skipped.
func (m *Matcher) match(body []byte, found uint64) string {
	for i := range m.patterns {
		if m.masks[i] != 0 && m.masks[i]&found == 0 {
			continue
		}
		if m.patterns[i].match(body) {
			return m.patterns[i].name
		}
	}
	return ""
}
