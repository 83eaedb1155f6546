package roles

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/disagg-supervisor/disagg-supervisor/slurm"
)

// WriteTable writes p for people: a header with the job, the allocation and the supervisor's own
// paths, then one line per role (ROLE, NODES, TASKS, COMMAND) and the probes. It redacts p itself,
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
	} else {
		ew.printf("install none\n")
	}
	ew.printf("\n")
	if err := writeCheckTable(ew, p); err != nil {
		return err
	}

	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ROLE\tNODES\tTASKS\tCOMMAND")
	for _, r := range p.Roles {
		fmt.Fprintf(tw, "%s\t%s\t%d (%d/node)\t%s\n",
			r.Name, slurm.CompressHostlist(r.Nodes), r.NTasks, r.NTasksPerNode, oneLineShown(r.Command))
	}
	if err := tw.Flush(); err != nil {
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
