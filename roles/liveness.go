package roles

import (
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Defaults of a liveness check that gives no period or failure count.
const (
	DefaultLivenessPeriod   = 10 * time.Second
	DefaultLivenessFailures = 3
)

// Liveness is a check that a role, once ready, is still well: it runs every period until the role ends
// or the teardown starts, and that many failures in a row fail the run (exit code 85).
type Liveness struct {
	// Type and Target are as a readiness probe's, placeholders expanded. For log, the check passes
	// when the log gained a matching line since the previous check: a heartbeat.
	Type   ProbeType `json:"type"`
	Target string    `json:"target"`
	// PeriodSeconds is the time between checks; Failures how many failed checks in a row make the
	// role unhealthy.
	PeriodSeconds float64 `json:"period_seconds"`
	Failures      int     `json:"failures"`
	// StatusMin and StatusMax bound the HTTP status of a passing http check (200-299 by default).
	StatusMin int `json:"status_min,omitempty"`
	StatusMax int `json:"status_max,omitempty"`
	// Body, when set, is a regular expression the HTTP answer's body must match, so that a router
	// answering 200 with no workers behind it fails.
	Body string `json:"body,omitempty"`
}

// Period is PeriodSeconds as a duration.
func (l Liveness) Period() time.Duration {
	return time.Duration(l.PeriodSeconds * float64(time.Second))
}

// String is the check as the plan table and a root cause show it.
func (l Liveness) String() string {
	s := fmt.Sprintf("%s %s", l.Type, l.Target)
	if l.Type == ProbeHTTP {
		if l.StatusMin != 200 || l.StatusMax != 299 {
			s += fmt.Sprintf(" status=%d-%d", l.StatusMin, l.StatusMax)
		}
		if l.Body != "" {
			s += " body=" + l.Body
		}
	}
	return s + fmt.Sprintf(" every %s, %d failures in a row", l.Period(), l.Failures)
}

// livenessSpec is one parsed ROLE=TYPE:TARGET[@PERIOD[/FAILURES]].
type livenessSpec struct {
	input   string
	pattern string
	check   Liveness // Target still holds placeholders
}

const livenessForm = `want ROLE=TYPE:TARGET[@PERIOD[/FAILURES]], e.g. DISAGG_SERVER=http:http://{node}:8000/health status=200 body="workers":[1-9]@10s/3`

// livenessSpecs collects the liveness specs, DISAGG_LIVENESS first and then the --liveness flags, so
// that a flag overrides the environment for the same role (later specs win), as probes do.
func (b *builder) livenessSpecs() ([]livenessSpec, error) {
	var specs []livenessSpec
	for _, entry := range splitProbeList(b.getenv("DISAGG_LIVENESS")) {
		s, err := parseLiveness(entry, "DISAGG_LIVENESS entry "+quote(entry))
		if err != nil {
			return nil, err
		}
		specs = append(specs, s)
	}
	for _, flag := range b.f.Liveness {
		s, err := parseLiveness(flag, "--liveness "+quote(flag))
		if err != nil {
			return nil, err
		}
		specs = append(specs, s)
	}
	return specs, nil
}

// parseLiveness parses ROLE=TYPE:TARGET[@PERIOD[/FAILURES]]. As with probes, whatever follows the
// last '@' is PERIOD[/FAILURES], so a target that holds '@' takes an explicit one. An http TARGET is
// the URL, then optionally, separated by spaces, status=CODE or status=LOW-HIGH, and body=REGEXP
// (last: the expression may hold spaces).
func parseLiveness(spec, input string) (livenessSpec, error) {
	s := livenessSpec{input: input, check: Liveness{PeriodSeconds: DefaultLivenessPeriod.Seconds(),
		Failures: DefaultLivenessFailures}}
	pattern, rest, ok := strings.Cut(spec, "=")
	s.pattern = strings.TrimSpace(pattern)
	if !ok || s.pattern == "" {
		return s, &InputError{Input: input, Problem: livenessForm}
	}
	if _, err := path.Match(s.pattern, ""); err != nil {
		return s, inputErrorf(input, "role pattern %s: %v", quote(s.pattern), err)
	}
	typ, target, ok := strings.Cut(rest, ":")
	if !ok {
		return s, &InputError{Input: input, Problem: livenessForm}
	}
	s.check.Type = ProbeType(strings.TrimSpace(typ))
	if !s.check.Type.Valid() {
		return s, inputErrorf(input, "unknown check type %s: want http, tcp, file or log", quote(string(s.check.Type)))
	}
	if at := strings.LastIndexByte(target, '@'); at >= 0 {
		period, failures, hasFailures := strings.Cut(target[at+1:], "/")
		d, err := parseSuffixDuration(period, "PERIOD", "@10s")
		if err != nil {
			return s, inputErrorf(input, "%v", err)
		}
		s.check.PeriodSeconds = d.Seconds()
		if hasFailures {
			n, err := strconv.Atoi(failures)
			if err != nil || n < 1 || n > maxCount {
				return s, inputErrorf(input, "failures %s: want a positive integer", quote(failures))
			}
			s.check.Failures = n
		}
		target = target[:at]
	}
	if s.check.Type != ProbeHTTP {
		if err := checkTargetBlanks(s.check.Type, target); err != nil {
			return s, inputErrorf(input, "%v", err)
		}
		s.check.Target = target
		return s, nil
	}
	if strings.TrimSpace(target) != target || strings.TrimSpace(target) == "" {
		// The URL's own blanks are checked once it is split from its options.
		if err := checkTargetBlanks(s.check.Type, target); err != nil {
			return s, inputErrorf(input, "%v", err)
		}
	}
	return s, parseHTTPCheck(&s.check, target, input)
}

// parseHTTPCheck splits an http target into its URL and its status and body conditions.
func parseHTTPCheck(c *Liveness, target, input string) error {
	c.StatusMin, c.StatusMax = 200, 299
	url, opts, _ := strings.Cut(strings.TrimSpace(target), " ")
	c.Target = url
	for opts = strings.TrimLeft(opts, " "); opts != ""; opts = strings.TrimLeft(opts, " ") {
		if body, ok := strings.CutPrefix(opts, "body="); ok {
			if _, err := regexp.Compile(body); err != nil {
				return inputErrorf(input, "body is not a regular expression: %v", err)
			}
			c.Body = body
			return nil
		}
		word, rest, _ := strings.Cut(opts, " ")
		status, ok := strings.CutPrefix(word, "status=")
		if !ok {
			return inputErrorf(input, "http option %s: want status=CODE, status=LOW-HIGH or body=REGEXP", quote(word))
		}
		lo, hi, isRange := strings.Cut(status, "-")
		if !isRange {
			hi = lo
		}
		low, err1 := strconv.Atoi(lo)
		high, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil || low < 100 || high > 599 || low > high {
			return inputErrorf(input, "status %s: want an HTTP status or a range such as 200-299", quote(status))
		}
		c.StatusMin, c.StatusMax = low, high
		opts = rest
	}
	return nil
}

// applyLiveness attaches each spec to the roles its pattern matches, with placeholders expanded, by
// the same rules as probes: a glob may match nothing, a name must match a role.
func applyLiveness(p *Plan, specs []livenessSpec) error {
	for _, s := range specs {
		matched := false
		for i := range p.Roles {
			r := &p.Roles[i]
			if ok, _ := path.Match(s.pattern, r.Name); !ok {
				continue
			}
			matched = true
			check := s.check
			check.Target = placeholders(p, r).Replace(s.check.Target)
			// {idx} stays for the supervisor to resolve at each server configuration's start; the
			// target must be valid for any index.
			if err := checkProbeTarget(check.Type, strings.ReplaceAll(check.Target, PlaceholderIdx, "0")); err != nil {
				return inputErrorf(s.input, "%s", err)
			}
			r.Liveness = &check
		}
		if !matched && !strings.ContainsAny(s.pattern, "*?[") {
			return inputErrorf(s.input, "role pattern %s matches no role of this plan", quote(s.pattern))
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
