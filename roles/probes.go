package roles

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/disagg-supervisor/disagg-supervisor/internal/valid"
)

// probeSpec is one parsed ROLE=TYPE:TARGET[@TIMEOUT].
type probeSpec struct {
	input   string // how to name the spec in errors
	pattern string // role name or path.Match glob
	typ     ProbeType
	target  string // with placeholders
	timeout time.Duration
}

// probeSpecs collects the probe specs, DISAGG_PROBES first and then the --probe flags, so that a
// flag overrides the environment for the same role (later specs win).
func (b *builder) probeSpecs() ([]probeSpec, error) {
	def := b.f.ProbeTimeout
	if def == 0 {
		def = DefaultProbeTimeout
	}
	var specs []probeSpec
	for _, entry := range splitProbeList(b.getenv("DISAGG_PROBES")) {
		s, err := parseProbe(entry, "DISAGG_PROBES entry "+quote(entry), def)
		if err != nil {
			return nil, err
		}
		specs = append(specs, s)
	}
	for _, flag := range b.f.Probes {
		s, err := parseProbe(flag, "--probe "+quote(flag), def)
		if err != nil {
			return nil, err
		}
		specs = append(specs, s)
	}
	return specs, nil
}

// splitProbeList splits DISAGG_PROBES into entries: by lines when it has several lines, so that a
// target may hold a ';' (a regular expression, a URL), else by ';'.
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

// parseProbe parses ROLE=TYPE:TARGET[@TIMEOUT]. TIMEOUT is a Go duration with a unit ("90s",
// "5m"). Whatever follows the last '@' is the timeout: a suffix that is not one ("@20mins") is an
// error rather than part of the target, since a probe that waits 30 minutes on a URL nobody
// serves is the worse outcome; a target that holds '@' takes an explicit @TIMEOUT after it.
func parseProbe(spec, input string, def time.Duration) (probeSpec, error) {
	const form = "want ROLE=TYPE:TARGET[@TIMEOUT], e.g. GEN_*=http:http://{node}:8000/health@20m"
	s := probeSpec{input: input, timeout: def}
	pattern, rest, ok := strings.Cut(spec, "=")
	s.pattern = strings.TrimSpace(pattern)
	if !ok || s.pattern == "" {
		return s, &InputError{Input: input, Problem: form}
	}
	if _, err := path.Match(s.pattern, ""); err != nil {
		return s, inputErrorf(input, "role pattern %s: %v", quote(s.pattern), err)
	}
	typ, target, ok := strings.Cut(rest, ":")
	if !ok {
		return s, &InputError{Input: input, Problem: form}
	}
	s.typ = ProbeType(strings.TrimSpace(typ))
	if !s.typ.Valid() {
		return s, inputErrorf(input, "unknown probe type %s: want http, tcp, file or log", quote(string(s.typ)))
	}
	if at := strings.LastIndexByte(target, '@'); at >= 0 {
		d, err := parseSuffixDuration(target[at+1:], "TIMEOUT", "@20m")
		if err != nil {
			return s, inputErrorf(input, "%v", err)
		}
		s.timeout, target = d, target[:at]
	}
	if err := checkTargetBlanks(s.typ, target); err != nil {
		return s, inputErrorf(input, "%v", err)
	}
	s.target = target
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
// after the ':'), and blanks inside an http or tcp target, which no URL or address holds.
func checkTargetBlanks(typ ProbeType, target string) error {
	switch {
	case strings.TrimSpace(target) == "":
		return fmt.Errorf("empty %s target", typ)
	case strings.TrimSpace(target) != target:
		return fmt.Errorf("%s target %s: blanks around it", typ, quote(target))
	case (typ == ProbeHTTP || typ == ProbeTCP) && strings.ContainsFunc(target, unicode.IsSpace):
		return fmt.Errorf("%s target %s holds a blank", typ, quote(target))
	}
	return nil
}

// applyProbes attaches each spec to the roles its pattern matches, with placeholders expanded for
// that role. A role name that matches no role is an error: it is a typo or a probe for a role this
// layout does not have, and either way the user expects a gate that would not exist.
func applyProbes(p *Plan, specs []probeSpec) error {
	for _, s := range specs {
		matched := false
		checked := map[string]bool{} // targets are often the same for many roles
		for i := range p.Roles {
			r := &p.Roles[i]
			if ok, _ := path.Match(s.pattern, r.Name); !ok {
				continue
			}
			matched = true
			// At the launch the probe is of the first server configuration; a target that names
			// the configuration is kept as well, to be awaited again at each later one's start.
			expanded := placeholders(p, r).Replace(s.target)
			target := strings.ReplaceAll(expanded, PlaceholderIdx, "0")
			if !checked[target] {
				if err := checkProbeTarget(s.typ, target); err != nil {
					return inputErrorf(s.input, "%s", err)
				}
				checked[target] = true
			}
			r.Probe = &Probe{Type: s.typ, Target: target, TimeoutSeconds: s.timeout.Seconds()}
			if expanded != target {
				r.Probe.ConfigTarget = expanded
			}
		}
		// A role name that matches nothing is a typo; a glob such as CTX_* may match nothing by
		// design, so that one probe list serves both the full and the gen-only layout.
		if !matched && !strings.ContainsAny(s.pattern, "*?[") {
			return inputErrorf(s.input, "role pattern %s matches no role of this plan", quote(s.pattern))
		}
	}
	return nil
}

// checkProbeTarget checks what can be checked without touching the network or the files.
func checkProbeTarget(typ ProbeType, target string) error {
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
