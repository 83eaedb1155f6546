package record

import (
	"regexp"
	"time"
)

// ResultRule is a --result-require or --result-reject rule: a pattern the benchmark's output must
// contain, or must not.
type ResultRule struct {
	Require bool
	Pattern *regexp.Regexp
}

// String is the rule as given on the command line.
func (rr ResultRule) String() string {
	if rr.Require {
		return "--result-require " + rr.Pattern.String()
	}
	return "--result-reject " + rr.Pattern.String()
}

// Measurement is summary.json's "measurement": the window from the benchmark's launch to its end
// marker (or its end), what disturbed it, and whether its result holds. An aggregated test's SERVER
// stands for the benchmark.
type Measurement struct {
	Role      string     `json:"role"`
	StartedAt time.Time  `json:"started_at"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
	// EndedBy says what closed the window: "end marker PATH", "the benchmark's end", "the decision".
	EndedBy         string  `json:"ended_by,omitempty"`
	DurationSeconds float64 `json:"duration_seconds"`
	// StatusFile and Status are the first end marker and its first line ("Done"; newer harnesses
	// "SUCCESS" or "FAILED").
	StatusFile string `json:"status_file,omitempty"`
	Status     string `json:"status,omitempty"`
	// Disturbances are what happened inside the window that may have bent the figures: a server step
	// that ended, a warning (a liveness check that failed once, a stall).
	Disturbances []string     `json:"disturbances,omitempty"`
	Rules        []RuleResult `json:"rules,omitempty"`
	// Valid is set once the benchmark has ended with 0: false when a rule failed or the status file
	// says the benchmark failed (exit 86).
	Valid *bool `json:"valid,omitempty"`
}

// RuleResult is one result rule's verdict on the benchmark's output.
type RuleResult struct {
	Rule   string `json:"rule"`
	Passed bool   `json:"passed"`
	// Line is the line that matched: the evidence of a passed require or a failed reject.
	Line string `json:"line,omitempty"`
}
