package toy

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// defaultFaultDelay is how long after its role is ready a rank fails when the spec gives no delay.
// Counting from readiness already makes the supervisor see a failure of a running role, not of a
// launch; the second on top leaves the benchmark time to send requests through the stack.
const defaultFaultDelay = time.Second

// faultGrammar is the form of one item of a --fail spec, for messages.
const faultGrammar = "ROLE[:RANK[:CODE[:DELAY]]][@CONFIG]"

// fault is one item of a --fail spec: ROLE[:RANK[:CODE[:DELAY]]][@CONFIG].
type fault struct {
	Role string
	Rank int
	// Code is the exit code, used unless Kill is set.
	Code int
	// Kill makes the rank send itself SIGKILL instead of exiting, as a crash or the OOM killer would.
	Kill bool
	// Sickness, when set, makes the rank sick instead of ending it (see sickness.go); Code and Kill
	// are then unused.
	Sickness sickness
	// Delay counts from the role's readiness, or from the start of the rank for BENCHMARK (see
	// armFault). DelaySet tells an explicit 0s from an absent delay, which means defaultFaultDelay
	// for most roles but "at the end of the run" for BENCHMARK.
	Delay    time.Duration
	DelaySet bool
	// Config is the server configuration the fault fires in: its delay counts from the role's
	// readiness in that configuration (see armFault).
	Config int
}

// String gives the spec back in its canonical form, for messages.
func (f fault) String() string {
	code := strconv.Itoa(f.Code)
	if f.Kill {
		code = "kill"
	}
	if f.Sickness != "" {
		code = string(f.Sickness)
	}
	s := fmt.Sprintf("%s:%d:%s", f.Role, f.Rank, code)
	if f.DelaySet {
		s += ":" + f.Delay.String()
	}
	if f.Config > 0 {
		s += "@" + strconv.Itoa(f.Config)
	}
	return s
}

// parseFaults parses a comma-separated list of fault specs. Empty fields take their defaults (rank 0,
// code 1), so "BENCHMARK::7" is rank 0 exiting 7. Two specs for the same role and rank are refused:
// which of them would fire is not obvious to the reader of a test.
func parseFaults(spec string) ([]fault, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, nil
	}
	var faults []fault
	seen := map[string]bool{}
	for item := range strings.SplitSeq(spec, ",") {
		item = strings.TrimSpace(item)
		f, err := parseFault(item)
		if err != nil {
			return nil, err
		}
		key := f.Role + ":" + strconv.Itoa(f.Rank)
		if seen[key] {
			return nil, fmt.Errorf("item %q: a second fault for %s rank %d", item, f.Role, f.Rank)
		}
		seen[key] = true
		faults = append(faults, f)
	}
	return faults, nil
}

// FaultTarget is the role and rank one item of a --fail spec strikes, and the server configuration
// it strikes in.
type FaultTarget struct {
	Role   string
	Rank   int
	Config int
}

// ParseFailSpec parses a --fail spec exactly as every toy rank will, so that a launcher can refuse a
// bad one before it starts anything, and returns the role, rank and configuration of each item, for
// checking them against its plan.
func ParseFailSpec(spec string) ([]FaultTarget, error) {
	faults, err := parseFaults(spec)
	if err != nil {
		return nil, err
	}
	targets := make([]FaultTarget, len(faults))
	for i, f := range faults {
		targets[i] = FaultTarget{Role: f.Role, Rank: f.Rank, Config: f.Config}
	}
	return targets, nil
}

func parseFault(item string) (fault, error) {
	if item == "" {
		return fault{}, fmt.Errorf("empty item: want %s", faultGrammar)
	}
	spec, config, hasConfig := strings.Cut(item, "@")
	fields := strings.Split(spec, ":")
	if len(fields) > 4 {
		return fault{}, fmt.Errorf("item %q: too many fields: want %s", item, faultGrammar)
	}
	for len(fields) < 4 {
		fields = append(fields, "")
	}
	f := fault{Role: fields[0], Code: 1, Delay: defaultFaultDelay}
	if err := checkRole(f.Role); err != nil {
		return fault{}, fmt.Errorf("item %q: %v", item, err)
	}
	if s := fields[1]; s != "" {
		rank, err := nonNegative(s)
		if err != nil {
			return fault{}, fmt.Errorf("item %q: rank: %v", item, err)
		}
		f.Rank = rank
	}
	switch s := fields[2]; s {
	case "":
	case "kill":
		f.Kill = true
		f.Code = 128 + int(syscall.SIGKILL)
	case string(sickHang), string(sickUnavailable), string(sickNoWorkers), string(sickStall), string(sickSilent):
		f.Sickness = sickness(s)
		if err := f.Sickness.check(f.Role); err != nil {
			return fault{}, fmt.Errorf("item %q: %v", item, err)
		}
	default:
		code, err := nonNegative(s)
		if err != nil || code > 255 {
			return fault{}, fmt.Errorf("item %q: code %q: want a number from 0 to 255, kill, hang, unavailable, noworkers, stall or silent", item, s)
		}
		f.Code = code
	}
	if s := fields[3]; s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return fault{}, fmt.Errorf("item %q: delay %q: want a non-negative duration such as 2s or 150ms", item, s)
		}
		f.Delay, f.DelaySet = d, true
	}
	if hasConfig {
		n, err := nonNegative(config)
		if err != nil {
			return fault{}, fmt.Errorf("item %q: configuration: %v", item, err)
		}
		if n > 0 && f.Role == roleAggregated {
			// Its ranks above 0 wait for the one address rank 0 publishes for every configuration.
			return fault{}, fmt.Errorf("item %q: configuration %d: the aggregated %s is ready once, for every configuration; its faults take @0 only", item, n, roleAggregated)
		}
		f.Config = n
	}
	return f, nil
}

// faultFor picks the fault of this role and rank, if any.
func faultFor(faults []fault, role string, rank int) *fault {
	for i := range faults {
		if faults[i].Role == role && faults[i].Rank == rank {
			return &faults[i]
		}
	}
	return nil
}

// faultTimeFile is where the rank of role writes the moment its fault fired: for whoever measures
// detection latency, and for the benchmark, which waits for it before announcing its end.
func faultTimeFile(outputDir, role string, rank int) string {
	return filepath.Join(outputDir, fmt.Sprintf("fault-%s-%d.time", role, rank))
}

// faultExit is the error a rank returns when its injected fault fires; Main turns it into the code.
type faultExit struct{ code int }

func (e *faultExit) Error() string { return fmt.Sprintf("injected failure, exit code %d", e.code) }

// inject records the moment of the fault and then fails the way the spec says. The time file is
// written before anything else so that latency measurements ("fault to detection") start at the
// failure, not at whatever unwinding follows it. With kill it does not return.
func (r *rank) inject() *faultExit {
	f := r.cfg.fault
	now := time.Now()
	path := faultTimeFile(r.cfg.outputDir, r.cfg.role, r.cfg.rank)
	if err := writeFileAtomic(path, strconv.FormatInt(now.UnixNano(), 10)); err != nil {
		// The failure itself matters more than its timestamp: say so and fail anyway.
		r.printf(r.stderr, "toy: %s rank %d: cannot write fault time: %v", r.cfg.role, r.cfg.rank, err)
	}
	r.printf(r.stderr, "toy: injected failure role=%s rank=%d spec=%s after=%v",
		r.cfg.role, r.cfg.rank, f, now.Sub(r.start).Round(time.Millisecond))
	if f.Kill {
		// SIGKILL cannot be caught, so the parent sees exactly what it sees when a real rank is
		// killed: no exit code, no cleanup, no final output.
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		for {
			time.Sleep(time.Hour)
		}
	}
	return &faultExit{code: f.Code}
}
