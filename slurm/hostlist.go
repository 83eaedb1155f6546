package slurm

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxHosts bounds how many names one hostlist may expand to. Real
// allocations are far smaller; the bound keeps a typo such as
// "node[1-999999999]" from exhausting memory.
const MaxHosts = 1 << 20

// maxDigits bounds the digits of a range number so that arithmetic on it
// cannot overflow an int64.
const maxDigits = 18

// HostlistError reports a hostlist expression that cannot be expanded.
type HostlistError struct {
	Expr    string // the whole expression as given
	Problem string // what is wrong with it
}

// Error names the expression so that a bad SLURM_JOB_NODELIST or -w value
// can be found in the logs.
func (e *HostlistError) Error() string {
	return fmt.Sprintf("hostlist %q: %s", e.Expr, e.Problem)
}

// numRange is one "lo-hi" or "n" inside brackets. width is the length of lo
// as written, which is how Slurm decides the zero padding of every number in
// the range.
type numRange struct {
	lo, hi int64
	width  int
}

// pattern is one element of a hostlist: literal texts before bracket
// groups, texts[i] coming before groups[i]. Slurm allows no text after the
// last group, so there are as many texts as groups, or one text and no
// group for a plain name.
type pattern struct {
	texts  []string
	groups [][]numRange
	counts []int64 // names each group yields
}

// ExpandHostlist expands a Slurm hostlist expression, such as
// "node[01-03,7],rack[1-2]-gpu[0-1]", into host names exactly as
// `scontrol show hostnames` prints them. Elements are expanded left to
// right and duplicates are kept. Within an element with several bracket
// groups Slurm's order is kept too: the last group varies fastest, and the
// groups before it from the second-to-last (slowest) to the first, so
// "a[1-2]b[3-4]" gives a1b3 a1b4 a2b3 a2b4 but "x[1-2]y[1-2]z[1-2]" starts
// x1y1z1 x1y1z2 x2y1z1. Commas and whitespace outside brackets separate
// elements. An empty or all-blank expression yields no hosts.
//
// Slurm rejects text after the last "]" (as in "node[1-2]-ib"), and so does
// ExpandHostlist. It is stricter than Slurm where Slurm guesses: an
// unclosed "[", a stray "]", empty elements, an open range such as "[3-]"
// and blanks inside brackets are errors here rather than silently mended.
// It allows up to MaxHosts names, where Slurm limits one range to 65536.
func ExpandHostlist(expr string) ([]string, error) {
	patterns, total, err := parseHostlist(expr)
	if err != nil {
		return nil, err
	}
	hosts := make([]string, 0, total)
	for _, p := range patterns {
		hosts = p.appendNames(hosts)
	}
	return hosts, nil
}

// CountHostlist returns how many names ExpandHostlist gives for expr, and its error, without making
// the names: a caller with a smaller bound refuses a large list in microseconds.
func CountHostlist(expr string) (int, error) {
	_, total, err := parseHostlist(expr)
	return int(total), err
}

// parseHostlist parses expr into its patterns and their total count, bounded by MaxHosts.
func parseHostlist(expr string) ([]pattern, int64, error) {
	fail := func(err error) error {
		return &HostlistError{Expr: expr, Problem: err.Error()}
	}
	elems, err := splitElements(expr)
	if err != nil {
		return nil, 0, fail(err)
	}
	patterns := make([]pattern, 0, len(elems))
	var total int64
	for _, el := range elems {
		p, n, err := parseElement(el)
		if err != nil {
			return nil, 0, fail(err)
		}
		total += n
		if total > MaxHosts {
			return nil, 0, fail(fmt.Errorf("expands to more than %d hosts", MaxHosts))
		}
		patterns = append(patterns, p)
	}
	return patterns, total, nil
}

// splitElements splits an expression at commas and whitespace that are
// outside brackets. Whitespace only separates, as in Slurm, but a comma
// with no element before or after it is rejected: Slurm skips it, yet it
// only ever comes from a broken script.
func splitElements(expr string) ([]string, error) {
	var elems []string
	depth := 0
	start := -1      // start of the current element, -1 when between elements
	sawComma := true // a comma, or the start, precedes with no element since
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		switch {
		case c == '[':
			if depth > 0 {
				return nil, fmt.Errorf(`nested "[" at offset %d`, i)
			}
			depth++
		case c == ']':
			if depth == 0 {
				return nil, fmt.Errorf(`"]" without "[" at offset %d`, i)
			}
			depth--
		case depth == 0 && (c == ',' || isBlank(c)):
			if start >= 0 {
				elems = append(elems, expr[start:i])
				start = -1
				sawComma = false
			}
			if c == ',' {
				if sawComma {
					return nil, fmt.Errorf("empty element at offset %d", i)
				}
				sawComma = true
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	if depth > 0 {
		return nil, fmt.Errorf(`unclosed "["`)
	}
	if start >= 0 {
		elems = append(elems, expr[start:])
	} else if sawComma && len(elems) > 0 {
		return nil, fmt.Errorf("empty element at the end")
	}
	return elems, nil
}

func isBlank(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

// parseElement parses one element such as "rack[1-2]-gpu[0-1]" and counts
// the names it yields.
func parseElement(el string) (pattern, int64, error) {
	var p pattern
	count := int64(1)
	for {
		open := strings.IndexByte(el, '[')
		if open < 0 {
			if len(p.groups) == 0 {
				p.texts = append(p.texts, el)
			} else if el != "" {
				return pattern{}, 0, fmt.Errorf(`text %q after the last "]": Slurm allows brackets only at the end of a name`, el)
			}
			return p, count, nil
		}
		// splitElements guarantees a matching "]" with no "[" between.
		end := open + strings.IndexByte(el[open:], ']')
		ranges, n, err := parseRanges(el[open+1 : end])
		if err != nil {
			return pattern{}, 0, err
		}
		if count*n > MaxHosts {
			return pattern{}, 0, fmt.Errorf("expands to more than %d hosts", MaxHosts)
		}
		count *= n
		p.texts = append(p.texts, el[:open])
		p.groups = append(p.groups, ranges)
		p.counts = append(p.counts, n)
		el = el[end+1:]
	}
}

// parseRanges parses the inside of one bracket group, e.g. "1-3,5,07-09".
func parseRanges(body string) ([]numRange, int64, error) {
	if body == "" {
		return nil, 0, fmt.Errorf(`empty "[]"`)
	}
	var ranges []numRange
	var total int64
	for part := range strings.SplitSeq(body, ",") {
		r, err := parseRange(part)
		if err != nil {
			return nil, 0, err
		}
		total += r.hi - r.lo + 1
		if total > MaxHosts {
			return nil, 0, fmt.Errorf("range %q: expands to more than %d hosts", body, MaxHosts)
		}
		ranges = append(ranges, r)
	}
	return ranges, total, nil
}

func parseRange(part string) (numRange, error) {
	if part == "" {
		return numRange{}, fmt.Errorf("empty range in brackets")
	}
	loText, hiText, isRange := strings.Cut(part, "-")
	lo, err := parseRangeNumber(loText)
	if err != nil {
		return numRange{}, fmt.Errorf("range %q: %w", part, err)
	}
	hi := lo
	if isRange {
		if hi, err = parseRangeNumber(hiText); err != nil {
			return numRange{}, fmt.Errorf("range %q: %w", part, err)
		}
		if hi < lo {
			return numRange{}, fmt.Errorf("range %q: end is before start", part)
		}
	}
	return numRange{lo: lo, hi: hi, width: len(loText)}, nil
}

func parseRangeNumber(s string) (int64, error) {
	if s == "" {
		return 0, fmt.Errorf("missing number")
	}
	if len(s) > maxDigits {
		return 0, fmt.Errorf("number %q has more than %d digits", s, maxDigits)
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, fmt.Errorf("%q is not a number", s)
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

// appendNames appends the names of p in Slurm's order. Slurm takes the
// last group as the innermost loop and then nests the earlier groups from
// right to left around it, so the outermost loop is the second-to-last
// group.
func (p pattern) appendNames(hosts []string) []string {
	k := len(p.groups)
	if k == 0 {
		return append(hosts, p.texts[0])
	}
	values := make([][]string, k)
	var buf []byte
	for g, ranges := range p.groups {
		values[g] = make([]string, 0, p.counts[g])
		for _, r := range ranges {
			for n := r.lo; n <= r.hi; n++ {
				buf = appendPadded(buf[:0], n, r.width)
				values[g] = append(values[g], string(buf))
			}
		}
	}
	// order lists the groups from the slowest to the fastest varying.
	order := make([]int, 0, k)
	for g := k - 2; g >= 0; g-- {
		order = append(order, g)
	}
	order = append(order, k-1)

	index := make([]int, k)
	for {
		buf = buf[:0]
		for g := range k {
			buf = append(buf, p.texts[g]...)
			buf = append(buf, values[g][index[g]]...)
		}
		hosts = append(hosts, string(buf))
		// Advance the odometer, fastest group first.
		i := k - 1
		for ; i >= 0; i-- {
			g := order[i]
			index[g]++
			if index[g] < len(values[g]) {
				break
			}
			index[g] = 0
		}
		if i < 0 {
			return hosts
		}
	}
}

// appendPadded appends n in decimal, zero padded to width, as printf's
// "%0*d" does.
func appendPadded(buf []byte, n int64, width int) []byte {
	var digits [20]byte
	d := strconv.AppendInt(digits[:0], n, 10)
	for i := len(d); i < width; i++ {
		buf = append(buf, '0')
	}
	return append(buf, d...)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// hostNumber is a host name split before its trailing digits, the part
// Slurm puts in brackets.
type hostNumber struct {
	prefix, digits string
	num            int64
}

// splitHost splits h before its trailing digits. ok is false when h does
// not end in a usable number, or holds characters that a hostlist cannot
// carry next to brackets.
func splitHost(h string) (hostNumber, bool) {
	if strings.ContainsAny(h, "[], \t\n\r") {
		return hostNumber{}, false
	}
	start := len(h)
	for start > 0 && isDigit(h[start-1]) {
		start--
	}
	digits := h[start:]
	if digits == "" || len(digits) > maxDigits {
		return hostNumber{}, false
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return hostNumber{}, false
	}
	return hostNumber{prefix: h[:start], digits: digits, num: n}, true
}

// CompressHostlist writes hosts as a Slurm hostlist expression, for display
// and for srun's -w. Order and duplicates are preserved exactly: only hosts
// that are next to each other in the input are merged, so
// ExpandHostlist(CompressHostlist(hosts)) returns hosts again. Names that
// differ only in their trailing number share one bracket group, each run
// keeping the zero padding of its first number, e.g. "node[01-03,7,9-10]".
// Names without a trailing number are written as they are, because Slurm
// rejects text after "]".
//
// Names holding commas, blanks or brackets cannot be expressed and are
// written unchanged; ExpandHostlist never produces them.
func CompressHostlist(hosts []string) string {
	var b strings.Builder
	parts := make([]hostNumber, len(hosts))
	ok := make([]bool, len(hosts))
	for i, h := range hosts {
		parts[i], ok[i] = splitHost(h)
	}
	for i := 0; i < len(hosts); {
		if i > 0 {
			b.WriteByte(',')
		}
		// j ends the group of hosts sharing a prefix.
		j := i + 1
		for ok[i] && j < len(hosts) && ok[j] && parts[j].prefix == parts[i].prefix {
			j++
		}
		if j == i+1 {
			b.WriteString(hosts[i])
			i = j
			continue
		}
		b.WriteString(parts[i].prefix)
		b.WriteByte('[')
		writeRuns(&b, parts[i:j])
		b.WriteByte(']')
		i = j
	}
	return b.String()
}

// writeRuns writes "lo-hi" runs of consecutive numbers. A run keeps the
// width of its first number, and a number joins it only if padding it to
// that width gives back its digits exactly.
func writeRuns(b *strings.Builder, parts []hostNumber) {
	var scratch []byte
	for i := 0; i < len(parts); {
		if i > 0 {
			b.WriteByte(',')
		}
		width := len(parts[i].digits)
		j := i + 1
		for j < len(parts) && parts[j].num == parts[j-1].num+1 {
			scratch = appendPadded(scratch[:0], parts[j].num, width)
			if string(scratch) != parts[j].digits {
				break
			}
			j++
		}
		b.WriteString(parts[i].digits)
		if j > i+1 {
			b.WriteByte('-')
			b.WriteString(parts[j-1].digits)
		}
		i = j
	}
}
