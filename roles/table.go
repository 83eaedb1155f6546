package roles

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/disagg-supervisor/disagg-supervisor/slurm"
)

// WriteTable writes p for people: a header with the job, the allocation and the supervisor's own
// paths, then one line per role (ROLE, NODES, TASKS, COMMAND) with the srun line of its step under
// it, and the probes. It redacts p itself,
// since a table only ever goes to a terminal or a log.
func WriteTable(w io.Writer, p Plan) error {
	p = p.Redacted()
	ew := &errWriter{w: w}
	ew.printf("job %s  restart %d  run token %s\n", p.JobID, p.RestartCount, p.RunToken)
	used := 0
	for _, r := range p.Roles {
		if r.IsWorker() || r.Kind == KindAggregated {
			used += len(r.Nodes)
		}
	}
	mode := string(p.BenchmarkMode)
	if p.GenOnlyNoContext {
		mode += ", no CTX servers (gen_only_no_context)"
	}
	ew.printf("nodes %d (%s), %d used  gpus/node %d  benchmark %s\n",
		len(p.Nodes), slurm.CompressHostlist(p.Nodes), used, p.GPUsPerNode, mode)
	if p.Mode == ModeAggregated {
		ew.printf("%s\n", aggregatedLine(p))
	}
	ew.printf("workspace %s  output %s\n", p.Workspace, p.OutputDir)
	ew.printf("task binary %s\n", p.TaskBinary)
	if in := p.Install; in != nil {
		var where string
		switch {
		case in.PerNode:
			where = fmt.Sprintf("on one task per node (%d tasks)", in.NTasks)
		case in.NTasks > 0:
			where = fmt.Sprintf("on every task of the job (%d tasks)", in.NTasks)
		default:
			where = "on every task of the job (as many as Slurm starts)"
		}
		ew.printf("install %s %s, log %s\n", oneLineShown(in.Command), where, in.Log)
		ew.printf("%s%s\n", srunIndent, shownArgv(in.Srun))
	} else {
		ew.printf("install none\n")
	}
	ew.printf("\n")
	if err := writeCheckTable(ew, p); err != nil {
		return err
	}

	rows := make([]string, len(p.Roles))
	sruns := make([][]string, len(p.Roles))
	for i, r := range p.Roles {
		rows[i] = fmt.Sprintf("%s\t%s\t%d (%d/node)\t%s",
			r.Name, slurm.CompressHostlist(r.Nodes), r.NTasks, r.NTasksPerNode, oneLineShown(r.Command))
		sruns[i] = r.Srun
	}
	if err := writeSteps(ew, "ROLE\tNODES\tTASKS\tCOMMAND", rows, sruns); err != nil {
		return err
	}
	for _, r := range p.Roles {
		if r.Probe == nil {
			continue
		}
		timeout := time.Duration(r.Probe.TimeoutSeconds * float64(time.Second))
		ew.printf("probe %s: %s %s (timeout %s)\n", r.Name, r.Probe.Type, oneLineShown(r.Probe.Target), timeout)
	}
	for _, r := range p.Roles {
		if l := r.Liveness; l != nil {
			ew.printf("liveness %s: %s\n", r.Name, oneLineShown(l.String()))
		}
	}
	return ew.err
}

// srunIndent starts the line of a step's srun argv, under the step's own line.
const srunIndent = "    "

// writeSteps writes a table of steps: the header, then each row (cells separated by tabs) with its
// srun argv on the line under it. The columns are aligned over all the rows, as if the srun lines
// were not there.
func writeSteps(w io.Writer, header string, rows []string, sruns [][]string) error {
	var table strings.Builder
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, row := range rows {
		fmt.Fprintln(tw, row)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	lines := strings.Split(strings.TrimSuffix(table.String(), "\n"), "\n")
	var out strings.Builder
	out.WriteString(lines[0] + "\n")
	for i, line := range lines[1:] {
		out.WriteString(line + "\n")
		out.WriteString(srunIndent + shownArgv(sruns[i]) + "\n")
	}
	_, err := io.WriteString(w, out.String())
	return err
}

// shownArgv shows an argv as one shell line for people to read or paste, each word quoted as bash
// needs it (shownWord). The supervisor never runs this text: it passes the argv itself.
func shownArgv(argv []string) string {
	words := make([]string, len(argv))
	for i, a := range argv {
		words[i] = shownWord(a)
	}
	return strings.Join(words, " ")
}

// shownWord quotes one word for bash: bare when it holds only characters bash takes literally,
// else in single quotes, else, when it holds a line break or another control character, as $'...'
// with escapes, so that the line stays one line.
func shownWord(w string) string {
	if w != "" && strings.IndexFunc(w, func(r rune) bool { return !plainShellRune(r) }) < 0 {
		return w
	}
	if strings.IndexFunc(w, unicode.IsControl) < 0 {
		return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
	}
	var b strings.Builder
	b.WriteString("$'")
	for _, r := range w {
		switch {
		case r == '\\' || r == '\'':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case unicode.IsControl(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// plainShellRune reports whether bash takes r literally anywhere in a word of an argument list.
func plainShellRune(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	}
	return strings.ContainsRune("-_./:=,+@%", r)
}

// oneLineShown shows a command on one table line: line breaks and tabs would break the columns,
// so they are written as escapes.
func oneLineShown(s string) string {
	if !strings.ContainsAny(s, "\n\r\t") {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// errWriter keeps the first write error so that the table code reads straight.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(b []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(b)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) {
	fmt.Fprintf(e, format, args...)
}
