// Where the tasks' output goes (-o, -e): srun's file name patterns.

package fakesrun

import (
	"os"
	"os/user"
	"strconv"
	"strings"
)

// ioMode is where one output stream of the tasks goes.
type ioMode int

const (
	ioInherit ioMode = iota // srun's own stdout/stderr
	ioNull                  // "none": discarded
	ioOneTask               // a task number: only that task's output reaches srun's stream
	ioFile                  // a file name pattern
)

// ioSpec is a parsed -o/-e value.
type ioSpec struct {
	mode    ioMode
	task    int    // for ioOneTask
	pattern string // for ioFile
	literal bool   // backslashes were present: taken as is, without expansion
	perTask bool   // the pattern names a task, node or user, so each task may get its own file
}

// parseIOSpec reads -o/-e as srun's fname_create does: "all" or "-..." is the default, "none" discards,
// a number below the task count selects one task, anything else is a file name pattern.
func parseIOSpec(s string, ntasks int) ioSpec {
	switch {
	case s == "" || strings.HasPrefix(strings.ToLower(s), "all") || strings.HasPrefix(s, "-"):
		return ioSpec{mode: ioInherit}
	case strings.EqualFold(s, "none"):
		return ioSpec{mode: ioNull}
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 0 && n < ntasks && allDigits(s) {
		return ioSpec{mode: ioOneTask, task: n}
	}
	if strings.Contains(s, `\`) {
		return ioSpec{mode: ioFile, pattern: strings.ReplaceAll(s, `\`, ""), literal: true}
	}
	spec := ioSpec{mode: ioFile, pattern: s}
	spec.perTask = expandsPerTask(s)
	return spec
}

// expandsPerTask tells whether a pattern holds %t, %n, %N or %u, for which srun leaves the opening
// of the file to each task.
func expandsPerTask(p string) bool {
	for i := 0; i < len(p); i++ {
		if p[i] != '%' {
			continue
		}
		j := i + 1
		for j < len(p) && isDigit(p[j]) {
			j++
		}
		if j < len(p) {
			switch p[j] {
			case '%':
				if j == i+1 {
					i = j
				}
			case 't', 'n', 'N', 'u':
				return true
			}
		}
	}
	return false
}

// fileName expands a file pattern for task t: %j job id, %J job.step, %s step id, %t task id, %n node
// id within the step, %N node name, %u user name, %x job name, %% a percent sign. A number after "%"
// zero-pads numeric fields to that width (at most 10, as in Slurm). Other sequences stay as written.
func (st *fakeStep) fileName(spec ioSpec, t fakeTask) string {
	if spec.literal {
		return spec.pattern
	}
	p := spec.pattern
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] != '%' {
			b.WriteByte(p[i])
			continue
		}
		j := i + 1
		for j < len(p) && isDigit(p[j]) {
			j++
		}
		if j >= len(p) {
			b.WriteString(p[i:])
			break
		}
		width := 0
		if j > i+1 {
			width, _ = strconv.Atoi(p[i+1 : j])
			width = min(width, 10)
		}
		pad := func(s string) string {
			if _, err := strconv.Atoi(s); err != nil || len(s) >= width {
				return s
			}
			return strings.Repeat("0", width-len(s)) + s
		}
		switch p[j] {
		case '%':
			if j == i+1 {
				b.WriteByte('%')
			} else {
				b.WriteString(p[i : j+1])
			}
		case 'j':
			b.WriteString(pad(st.jobID))
		case 'J':
			b.WriteString(pad(st.jobID) + "." + strconv.Itoa(st.stepID))
		case 's':
			b.WriteString(pad(strconv.Itoa(st.stepID)))
		case 't':
			b.WriteString(pad(strconv.Itoa(t.rank)))
		case 'n':
			b.WriteString(pad(strconv.Itoa(t.nodeID)))
		case 'N':
			b.WriteString(t.node)
		case 'u':
			b.WriteString(currentUserName())
		case 'x':
			b.WriteString(st.jobName)
		default:
			b.WriteString(p[i : j+1])
		}
		i = j
	}
	return b.String()
}

func currentUserName() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return strconv.Itoa(os.Getuid())
}
