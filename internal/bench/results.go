package bench

import (
	"fmt"
	"sort"
)

// results is bench/results.json.
type results struct {
	Date         string   `json:"date"`
	Command      string   `json:"command"`
	Runs         int      `json:"runs"`
	GraceSeconds float64  `json:"grace_seconds"`
	SuiteSeconds float64  `json:"suite_seconds"`
	Machine      machine  `json:"machine"`
	Figures      []figure `json:"figures"`
}

// machine is where the figures were measured.
type machine struct {
	CPU      string `json:"cpu"`
	NProc    int    `json:"nproc"`
	MemoryGB string `json:"memory_gib"`
	Kernel   string `json:"kernel"`
	Go       string `json:"go"`
	Slurm    string `json:"slurm,omitempty"`
}

// figure is one measured quantity: its samples, median, reference, ratio and target.
type figure struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Method    string     `json:"method"`
	Unit      string     `json:"unit"`
	Median    float64    `json:"median"`
	Samples   []float64  `json:"samples,omitempty"`
	Reference *reference `json:"reference,omitempty"`
	// Ratio is Median / Reference.Median; RatioName says what it means when it is not a plain ratio.
	Ratio     float64 `json:"ratio,omitempty"`
	RatioName string  `json:"ratio_name,omitempty"`
	Target    string  `json:"target,omitempty"`
	Met       *bool   `json:"met,omitempty"`
	// Parts are diagnostic samples (a breakdown, a floor) that explain the figure.
	Parts       map[string][]float64 `json:"parts,omitempty"`
	Notes       []string             `json:"notes,omitempty"`
	NotMeasured string               `json:"not_measured,omitempty"`
}

// reference is what a figure is compared with, measured in the same run.
type reference struct {
	Name    string    `json:"name"`
	Unit    string    `json:"unit"`
	Median  float64   `json:"median"`
	Samples []float64 `json:"samples"`
}

func newFigure(id, name, unit, method string, samples []float64) figure {
	return figure{ID: id, Name: name, Unit: unit, Method: method, Samples: samples, Median: median(samples)}
}

func (f *figure) against(name, unit string, samples []float64) {
	f.Reference = &reference{Name: name, Unit: unit, Samples: samples, Median: median(samples)}
	if f.Reference.Median != 0 {
		f.Ratio = f.Median / f.Reference.Median
	}
}

func (f *figure) target(text string, met bool) {
	f.Target = text
	f.Met = &met
}

func (f *figure) part(name string, samples []float64) {
	if f.Parts == nil {
		f.Parts = map[string][]float64{}
	}
	f.Parts[name] = samples
}

func (f *figure) note(format string, args ...any) {
	f.Notes = append(f.Notes, fmt.Sprintf(format, args...))
}

// failed turns a figure whose runs did not all succeed into a not-measured one.
func failed(f figure, err error) figure {
	f.Samples, f.Median, f.Reference, f.Ratio = nil, 0, nil, 0
	f.NotMeasured = err.Error()
	return f
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}
