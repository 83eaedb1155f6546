package roles

import (
	"fmt"
	"io"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/internal/valid"
	"github.com/disagg-supervisor/disagg-supervisor/slurm"
	"github.com/disagg-supervisor/disagg-supervisor/taskopts"
	"github.com/disagg-supervisor/disagg-supervisor/verdict"
)

// The kinds of the pre-flight phase's steps. They run before every role and are not roles: the
// plan lists them apart (Plan.Preflight, Plan.Precheck), and the supervisor launches no server
// until every one of them has ended with 0.
const (
	// KindPreflight is a generic pre-flight check (--preflight NAME=COMMAND): one task on every node
	// of the allocation, before anything else, the install step included.
	KindPreflight Kind = "preflight"
	// KindPrecheck is one instance of the cache-transceiver precheck: GEN_PRECHECK_<i> or
	// CTX_PRECHECK_<i>, on the node slice and with the srun shape of the server it checks, after the
	// install step.
	KindPrecheck Kind = "precheck"
)

// Check is one step of the pre-flight phase: a role-shaped srun step (same task runner, same
// environment contract) with a bound on its run time and a name for its verdict.
type Check struct {
	Role
	// Check names the instance in the report and in its JUnit test case: gen_0, ctx_1 (as today's
	// precheck names its logs and status files), or the NAME of a --preflight check.
	Check string `json:"check"`
	// StatusFile is where a precheck instance may write its verdict (first line PASS, or what went
	// wrong); empty for a generic check, whose exit code is its verdict.
	StatusFile string `json:"status_file,omitempty"`
	// TimeoutSeconds bounds the step: still running then, it is stopped and fails the run.
	TimeoutSeconds float64 `json:"timeout_seconds"`
}

// Inputs and defaults of the pre-flight phase.
const (
	// DefaultPrecheckTimeout is today's ctPrecheckTimeout default.
	DefaultPrecheckTimeout = 900 * time.Second
	// PreflightDirName is the generic checks' directory under the output directory.
	PreflightDirName = "preflight"

	precheckEnabledVar = "ctPrecheckEnabled"
	precheckTimeoutVar = "ctPrecheckTimeout"
	precheckGenVar     = "pytestCommandGENPrecheck"
	precheckCtxVar     = "pytestCommandCTXPrecheck"
	preflightVar       = "DISAGG_PREFLIGHT"
)

// PrecheckLayout is the cache-transceiver precheck's directory, as today's precheck lays it out under
// the output directory. The plan names each instance's log and status file from it; the supervisor
// moves an earlier attempt's files out of the way by it. Its paths only join names, with slashes.
//
//	logs/<check>.log        an instance's log (check: gen_0, ctx_1, as Check.Check names it)
//	status/<check>.status   an instance's verdict: its first line is PASS, or what went wrong
//	status/*.json           the instances' detailed results
//	rendezvous/*.addr       the addresses the instances publish to find their peers
//	precheck.abort          written by a failing instance, to abort its peers
//	csv/                    the instances' transfer results
type PrecheckLayout string

// The names in a PrecheckLayout.
const (
	precheckDirName    = "cache_transceiver_precheck"
	precheckLogs       = "logs"
	precheckStatus     = "status"
	precheckAbort      = "precheck.abort"
	precheckCSV        = "csv"
	precheckRendezvous = "rendezvous"
)

// PrecheckDir is the precheck's layout under outputDir.
func PrecheckDir(outputDir string) PrecheckLayout {
	return PrecheckLayout(path.Join(outputDir, precheckDirName))
}

// Log is the log of the instance check.
func (l PrecheckLayout) Log(check string) string {
	return path.Join(string(l), precheckLogs, check+".log")
}

// StatusFile is where the instance check may write its verdict.
func (l PrecheckLayout) StatusFile(check string) string {
	return path.Join(string(l), precheckStatus, check+".status")
}

// StalePatterns are the glob patterns of the files an earlier attempt's instances leave that would
// mislead this attempt's: status files that give an instance a verdict it never wrote, rendezvous and
// abort files that mislead its peers.
func (l PrecheckLayout) StalePatterns() []string {
	return []string{
		path.Join(string(l), precheckStatus, "*.status"),
		path.Join(string(l), precheckStatus, "*.json"),
		path.Join(string(l), precheckRendezvous, "*.addr"),
		path.Join(string(l), precheckAbort),
	}
}

// CSVDir is the directory of the instances' results.
func (l PrecheckLayout) CSVDir() string {
	return path.Join(string(l), precheckCSV)
}

// CheckRoles returns the roles of the pre-flight phase's steps, generic checks first, in launch order.
func (p Plan) CheckRoles() []Role {
	out := make([]Role, 0, len(p.Preflight)+len(p.Precheck))
	for _, c := range p.Preflight {
		out = append(out, c.Role)
	}
	for _, c := range p.Precheck {
		out = append(out, c.Role)
	}
	return out
}

// checkName is what a --preflight NAME may hold: it names a step, a log file and a JUnit test case.
var checkName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// preflightChecks plans the generic checks: DISAGG_PREFLIGHT's entries (one per line), then the
// --preflight flags. Each runs its command through the task runner as one task on every node of
// the allocation, before the install step, so the task's own install gate and barrier are off.
func (b *builder) preflightChecks(p *Plan, lay layout, st srunSettings, task taskopts.Options, vars sharedVars, timeout time.Duration) ([]Check, error) {
	type entry struct{ spec, from string }
	var entries []entry
	for _, line := range strings.Split(b.getenv(preflightVar), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			entries = append(entries, entry{line, preflightVar + " entry " + quote(line)})
		}
	}
	for _, spec := range b.f.Preflight {
		entries = append(entries, entry{spec, "--preflight " + quote(spec)})
	}
	if len(entries) > maxChecks {
		return nil, inputErrorf(preflightVar+" / --preflight", "%d checks: more than %d, the most one plan takes", len(entries), maxChecks)
	}
	task.InstallCommand, task.Barrier = "", false
	var checks []Check
	seen := map[string]bool{}
	for _, e := range entries {
		name, cmd, ok := strings.Cut(e.spec, "=")
		name, cmd = strings.TrimSpace(name), strings.TrimSpace(cmd)
		switch {
		case !ok || cmd == "":
			return nil, inputErrorf(e.from, "want NAME=COMMAND")
		case !checkName.MatchString(name):
			return nil, inputErrorf(e.from, "NAME %s: want letters, digits, '_', '.' or '-'", quote(name))
		case seen[name]:
			return nil, inputErrorf(e.from, "a second check named %s", quote(name))
		}
		seen[name] = true
		if err := checkShell(cmd); err != nil {
			return nil, inputErrorf(e.from, "not valid shell: %v", err)
		}
		r := Role{
			Name:          "PREFLIGHT_" + name,
			Kind:          KindGen, // the task runner's kind: a multi-task step that keeps Slurm's variables
			Nodes:         slices.Clone(p.Nodes),
			NTasks:        len(p.Nodes),
			NTasksPerNode: 1,
			Command:       cmd,
			Log:           path.Join(p.OutputDir, PreflightDirName, name+".log"),
		}
		r = finishRole(p, r, lay, st, task, vars, "")
		r.Kind = KindPreflight
		checks = append(checks, Check{Role: r, Check: name, TimeoutSeconds: timeout.Seconds()})
	}
	return checks, nil
}

// prechecks plans today's cache-transceiver precheck when it is enabled (--precheck, else
// ctPrecheckEnabled=1): one step per GEN and CTX server, GEN_PRECHECK_<i> and CTX_PRECHECK_<i>, on
// exactly the server's nodes with its srun shape and task options, running the precheck command
// with " --server-idx <i>" appended. Gen-only-no-context skips it, as today's gate does.
func (b *builder) prechecks(p *Plan, lay layout, st srunSettings, task taskopts.Options, vars sharedVars, timeout time.Duration) ([]Check, error) {
	on, err := b.precheckEnabled()
	if err != nil || !on || lay.noContext {
		return nil, err
	}
	cmds := map[Kind]commandSource{}
	for _, k := range []struct {
		kind       Kind
		flag, from string
		env        string
	}{
		{KindGen, b.f.PrecheckGenCommand, "--precheck-gen-command", precheckGenVar},
		{KindCtx, b.f.PrecheckCtxCommand, "--precheck-ctx-command", precheckCtxVar},
	} {
		c := commandSource{k.flag, k.from}
		if c.v == "" {
			c = commandSource{b.env(k.env), k.env}
		}
		cmds[k.kind] = c
	}
	var checks []Check
	for _, server := range p.Roles {
		if !server.IsWorker() {
			continue
		}
		c := cmds[server.Kind]
		if c.v == "" {
			return nil, inputErrorf(envOrFlag(server.Kind), "not set: the precheck is on and %s_PRECHECK_%d needs a command; set it, or turn the precheck off (--no-precheck, ctPrecheckEnabled=0)",
				strings.ToUpper(string(server.Kind)), server.Index)
		}
		if err := checkShell(c.v); err != nil {
			return nil, inputErrorf(c.from, "not valid shell: %v", err)
		}
		check := fmt.Sprintf("%s_%d", server.Kind, server.Index)
		dir := PrecheckDir(p.OutputDir)
		r := server
		r.Name = fmt.Sprintf("%s_PRECHECK_%d", strings.ToUpper(string(server.Kind)), server.Index)
		r.Command = c.v + " --server-idx " + strconv.Itoa(server.Index)
		r.Log = dir.Log(check)
		r.Probe = nil
		r.Nodes = slices.Clone(server.Nodes)
		// Rendered as the server's kind (no --overlap, its --mpi, the task's worker behaviour), then
		// marked as what it is.
		r = finishRole(p, r, lay, st, task, vars, st.mpi)
		r.Kind = KindPrecheck
		checks = append(checks, Check{Role: r, Check: check,
			StatusFile:     dir.StatusFile(check),
			TimeoutSeconds: timeout.Seconds()})
	}
	return checks, nil
}

// envOrFlag names both inputs of a kind's precheck command, for the message of a missing one.
func envOrFlag(k Kind) string {
	if k == KindCtx {
		return precheckCtxVar + " / --precheck-ctx-command"
	}
	return precheckGenVar + " / --precheck-gen-command"
}

// precheckEnabled resolves --[no-]precheck, else ctPrecheckEnabled (1 or 0 as the generator exports
// it, or any word of the one switch grammar).
func (b *builder) precheckEnabled() (bool, error) {
	on, err := resolveInput(b, b.f.Precheck, "--precheck", []string{precheckEnabledVar}, valid.Bool, nil, "")
	return on.v, err
}

// checkTimeout resolves the bound of every pre-flight step: --precheck-timeout, else
// ctPrecheckTimeout in seconds, else DefaultPrecheckTimeout.
func (b *builder) checkTimeout() (time.Duration, error) {
	var flag *time.Duration
	if b.f.PrecheckTimeout != 0 {
		flag = &b.f.PrecheckTimeout
	}
	d, err := resolveInput(b, flag, "--precheck-timeout", []string{precheckTimeoutVar}, parseSeconds, nil, "")
	switch {
	case err != nil:
		return 0, err
	case !d.set():
		return DefaultPrecheckTimeout, nil
	case d.layer == layerFlag:
		if err := valid.Duration(d.v, ""); err != nil {
			return 0, &InputError{Input: d.from, Problem: err.Error()}
		}
	}
	return d.v, nil
}

// parseSeconds reads a positive number of seconds, as ctPrecheckTimeout holds it.
func parseSeconds(v string) (time.Duration, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("want a positive number of seconds, got %s", quote(v))
	}
	return time.Duration(n) * time.Second, nil
}

// checks plans the whole pre-flight phase into p.
func (b *builder) checks(p *Plan, lay layout, st srunSettings, task taskopts.Options, vars sharedVars) error {
	timeout, err := b.checkTimeout()
	if err != nil {
		return err
	}
	if p.Preflight, err = b.preflightChecks(p, lay, st, task, vars, timeout); err != nil {
		return err
	}
	p.Precheck, err = b.prechecks(p, lay, st, task, vars, timeout)
	return err
}

// writeCheckTable writes the pre-flight phase of a (redacted) plan as a table of its own, in launch
// order, before the roles: generic checks, then (after the install step) the precheck instances,
// each with its srun line.
func writeCheckTable(w io.Writer, p Plan) error {
	checks := append(slices.Clone(p.Preflight), p.Precheck...)
	if len(checks) == 0 {
		return nil
	}
	fmt.Fprintf(w, "pre-flight: every step must end with 0 within %s before any role is launched (else exit %d, or %d for a --preflight check failing on a node)\n",
		time.Duration(checks[0].TimeoutSeconds*float64(time.Second)), verdict.ExitPreflight, verdict.ExitInfrastructure)
	rows := make([]string, len(checks))
	sruns := make([][]string, len(checks))
	for i, c := range checks {
		rows[i] = fmt.Sprintf("%s\t%s\t%d (%d/node)\t%s\t%s", c.Name, slurm.CompressHostlist(c.Nodes), c.NTasks,
			c.NTasksPerNode, oneLineShown(c.Command), c.Log)
		sruns[i] = c.Srun
	}
	if err := writeSteps(w, "CHECK\tNODES\tTASKS\tCOMMAND\tLOG", rows, sruns); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w)
	return err
}
