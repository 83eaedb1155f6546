package roles

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/disagg-supervisor/disagg-supervisor/internal/valid"
)

// HealthCheck is what one attempt of a readiness probe or of a liveness check tests, as --probe and
// --liveness spell it before their suffixes: the role's answer at an http URL or a tcp address, a
// file, or its log. Probe.HealthCheck and Liveness.HealthCheck give it back from a plan.
type HealthCheck struct {
	Type ProbeType
	// Target is the URL, host:port, path or regular expression.
	Target string
	// StatusMin and StatusMax bound a passing HTTP status; Body, when set, is a regular expression
	// the answer's body must match.
	StatusMin, StatusMax int
	Body                 string
}

// checkSpec is one parsed ROLE=TYPE:TARGET[@SUFFIX] of --probe or --liveness.
type checkSpec struct {
	input   string      // how to name the spec in errors
	pattern string      // role name or path.Match glob
	check   HealthCheck // Target still holds placeholders
	// The suffix: a probe's timeout; a liveness check's period and failures in a row.
	timeout  time.Duration
	period   time.Duration
	failures int
}

// checkGrammar is what tells --probe and --liveness apart: their names, defaults, suffix, whether an
// http target carries status= and body= options, and what a spec becomes on a role.
type checkGrammar struct {
	flag, env string
	noun      string // what "unknown ... type" calls one
	form      string // the message of a spec with no ROLE= or TYPE:
	defaults  checkSpec
	options   bool                                        // http targets take status= and body=
	suffix    func(s *checkSpec, v string) error          // parses what follows the last '@'
	attach    func(r *Role, s checkSpec, expanded string) // expanded: placeholders but {idx}
}

// checkSpecs collects the specs of one grammar, its environment variable's first and then its flags,
// so that a flag overrides the environment for the same role (later specs win).
func (b *builder) checkSpecs(g checkGrammar, flags []string) ([]checkSpec, error) {
	var specs []checkSpec
	entries := splitProbeList(b.getenv(g.env))
	for i, entry := range append(entries, flags...) {
		input := g.flag + " " + quote(entry)
		if i < len(entries) {
			input = g.env + " entry " + quote(entry)
		}
		s, err := g.parse(entry, input)
		if err != nil {
			return nil, err
		}
		specs = append(specs, s)
	}
	return specs, nil
}

// splitProbeList splits DISAGG_PROBES or DISAGG_LIVENESS into entries: by lines when it has several
// lines, so that a target may hold a ';' (a regular expression, a URL), else by ';'.
func splitProbeList(v string) []string {
	sep := ";"
	if strings.Contains(strings.TrimSpace(v), "\n") {
		sep = "\n"
	}
	var out []string
	for _, e := range strings.Split(v, sep) {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// parse parses ROLE=TYPE:TARGET[@SUFFIX]. Whatever follows the last '@' is the suffix: one that does
// not parse ("@20mins") is an error rather than part of the target, since a probe that waits 30
// minutes on a URL nobody serves is the worse outcome; a target that holds '@' takes an explicit
// suffix after it. With options, an http TARGET is the URL, then optionally, separated by spaces,
// status=CODE or status=LOW-HIGH, and body=REGEXP (last: the expression may hold spaces).
func (g checkGrammar) parse(spec, input string) (checkSpec, error) {
	s := g.defaults
	s.input = input
	pattern, rest, ok := strings.Cut(spec, "=")
	s.pattern = strings.TrimSpace(pattern)
	if !ok || s.pattern == "" {
		return s, &InputError{Input: input, Problem: g.form}
	}
	if _, err := path.Match(s.pattern, ""); err != nil {
		return s, inputErrorf(input, "role pattern %s: %v", quote(s.pattern), err)
	}
	typ, target, ok := strings.Cut(rest, ":")
	if !ok {
		return s, &InputError{Input: input, Problem: g.form}
	}
	s.check.Type = ProbeType(strings.TrimSpace(typ))
	if !s.check.Type.Valid() {
		return s, inputErrorf(input, "unknown %s type %s: want http, tcp, file or log", g.noun, quote(string(s.check.Type)))
	}
	if at := strings.LastIndexByte(target, '@'); at >= 0 {
		if err := g.suffix(&s, target[at+1:]); err != nil {
			return s, inputErrorf(input, "%v", err)
		}
		target = target[:at]
	}
	options := g.options && s.check.Type == ProbeHTTP
	// The URL's own blanks, with options, are where it ends.
	if err := checkTargetBlanks(s.check.Type, target, !options); err != nil {
		return s, inputErrorf(input, "%v", err)
	}
	if !options {
		s.check.Target = target
		return s, nil
	}
	if err := parseHTTPOptions(&s.check, target); err != nil {
		return s, inputErrorf(input, "%v", err)
	}
	return s, nil
}

// parseSuffixDuration parses the duration after a target's last '@' (a probe's TIMEOUT, a liveness
// check's PERIOD); what names it and an example go into the message of a suffix that is not one.
func parseSuffixDuration(v, what, example string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("@%s: not a duration: want @%s such as %s after the target (a target that holds '@' needs one)", clip(v), what, example)
	}
	if err := valid.Duration(d, ""); err != nil {
		return 0, fmt.Errorf("@%s: %w", v, err)
	}
	return d, nil
}

// checkTargetBlanks refuses an empty target, blanks around one (a stray space before the '@' or
// after the ':'), and, when inside, blanks inside an http or tcp target, which no URL or address
// holds.
func checkTargetBlanks(typ ProbeType, target string, inside bool) error {
	switch {
	case strings.TrimSpace(target) == "":
		return fmt.Errorf("empty %s target", typ)
	case strings.TrimSpace(target) != target:
		return fmt.Errorf("%s target %s: blanks around it", typ, quote(target))
	case inside && (typ == ProbeHTTP || typ == ProbeTCP) && strings.ContainsFunc(target, unicode.IsSpace):
		return fmt.Errorf("%s target %s holds a blank", typ, quote(target))
	}
	return nil
}

// parseHTTPOptions splits an http target into its URL and its status and body conditions.
func parseHTTPOptions(c *HealthCheck, target string) error {
	c.StatusMin, c.StatusMax = 200, 299
	url, opts, _ := strings.Cut(target, " ")
	c.Target = url
	for opts = strings.TrimLeft(opts, " "); opts != ""; opts = strings.TrimLeft(opts, " ") {
		if body, ok := strings.CutPrefix(opts, "body="); ok {
			if _, err := regexp.Compile(body); err != nil {
				return fmt.Errorf("body is not a regular expression: %v", err)
			}
			c.Body = body
			return nil
		}
		word, rest, _ := strings.Cut(opts, " ")
		status, ok := strings.CutPrefix(word, "status=")
		if !ok {
			return fmt.Errorf("http option %s: want status=CODE, status=LOW-HIGH or body=REGEXP", quote(word))
		}
		lo, hi, isRange := strings.Cut(status, "-")
		if !isRange {
			hi = lo
		}
		low, err1 := strconv.Atoi(lo)
		high, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil || low < 100 || high > 599 || low > high {
			return fmt.Errorf("status %s: want an HTTP status or a range such as 200-299", quote(status))
		}
		c.StatusMin, c.StatusMax = low, high
		opts = rest
	}
	return nil
}

// apply attaches each spec to the roles its pattern matches, with placeholders expanded for that
// role. {idx} stays for the supervisor to resolve at each server configuration's start: the target
// must be valid for any index, and is checked as 0. A role name that matches no role is an error: it
// is a typo or a check for a role this layout does not have, and either way the user expects a gate
// that would not exist; a glob such as CTX_* may match nothing by design, so that one list serves
// both the full and the gen-only layout.
func (g checkGrammar) apply(p *Plan, specs []checkSpec) error {
	for _, s := range specs {
		matched := false
		checked := map[string]bool{} // targets are often the same for many roles
		for i := range p.Roles {
			r := &p.Roles[i]
			if ok, _ := path.Match(s.pattern, r.Name); !ok {
				continue
			}
			matched = true
			expanded := placeholders(p, r).Replace(s.check.Target)
			if target := strings.ReplaceAll(expanded, PlaceholderIdx, "0"); !checked[target] {
				if err := checkTarget(s.check.Type, target); err != nil {
					return inputErrorf(s.input, "%s", err)
				}
				checked[target] = true
			}
			g.attach(r, s, expanded)
		}
		if !matched && !strings.ContainsAny(s.pattern, "*?[") {
			return inputErrorf(s.input, "role pattern %s matches no role of this plan", quote(s.pattern))
		}
	}
	return nil
}

// checkTarget checks what can be checked without touching the network or the files.
func checkTarget(typ ProbeType, target string) error {
	switch typ {
	case ProbeHTTP:
		u, err := url.Parse(target)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("http target %s is not an http:// or https:// URL", quote(target))
		}
	case ProbeTCP:
		host, port, err := net.SplitHostPort(target)
		if err != nil || host == "" || port == "" {
			return fmt.Errorf("tcp target %s is not host:port", quote(target))
		}
	case ProbeLog:
		if _, err := regexp.Compile(target); err != nil {
			return fmt.Errorf("log target is not a regular expression: %v", err)
		}
	}
	return nil
}

// placeholders expands {role} {node} {out} {workspace} {job} {token} for one role ({idx} is the
// supervisor's: see PlaceholderIdx).
func placeholders(p *Plan, r *Role) *strings.Replacer {
	return strings.NewReplacer(
		"{role}", r.Name,
		"{node}", r.Nodes[0],
		"{out}", p.OutputDir,
		"{workspace}", p.Workspace,
		"{job}", p.JobID,
		"{token}", p.RunToken,
	)
}
