package roles

import (
	"path"
	"strings"

	"github.com/disagg-supervisor/disagg-supervisor/coord"
)

// PlaceholderIdx is the server configuration's index (server_idx) in a liveness target: the
// supervisor resolves it at each configuration's start, since several configurations run one after
// another in the same steps. A readiness probe has it resolved as 0 at the launch, and is awaited
// again, with it resolved anew, at each later configuration's start (Probe.ConfigTarget).
const PlaceholderIdx = "{idx}"

// ExpandJobPlaceholders replaces the placeholders that name a place of the whole job ({out},
// {workspace}, {job}, {token}) in a path or pattern, as probe targets do. {role} and {node} belong to
// one role and are left as they are.
func (p Plan) ExpandJobPlaceholders(s string) string {
	return strings.NewReplacer(
		"{out}", p.OutputDir,
		"{workspace}", p.Workspace,
		"{job}", p.JobID,
		"{token}", p.RunToken,
	).Replace(s)
}

// EndMarkers expands the patterns of the files by which the benchmark announces its end. Each must be
// a valid glob pattern that lies under the output directory or the workspace, outside the
// supervisor's state directory, and matches no role log: the supervisor moves the files that match
// when the run starts (an earlier attempt's) out of the way, so a pattern reaching anywhere else
// would move files the run does not own, and one matching a log would announce the end at once.
// input names the flag or variable they came from, for the error. The patterns come back cleaned.
func (p Plan) EndMarkers(input string, patterns []string) ([]string, error) {
	var out []string
	for _, pattern := range patterns {
		if strings.TrimSpace(pattern) == "" {
			continue
		}
		expanded := p.ExpandJobPlaceholders(pattern)
		if _, err := path.Match(expanded, ""); err != nil {
			return nil, inputErrorf(input, "%s is not a valid file pattern: %v", quote(pattern), err)
		}
		if !path.IsAbs(expanded) {
			return nil, inputErrorf(input, "%s is not an absolute path; start it with {out} or {workspace}", quote(pattern))
		}
		// Cleaned, "{out}/../x" is what it names: a file beside the output directory, not in it.
		cleaned := path.Clean(expanded)
		named := quote(pattern)
		if cleaned != pattern {
			named += " (" + cleaned + ")"
		}
		if !within(p.OutputDir, cleaned) && !within(p.Workspace, cleaned) {
			return nil, inputErrorf(input, "%s lies outside the output directory %s and the workspace %s: the supervisor moves an earlier attempt's end markers out of the way at start and touches nothing the run does not own; start it with {out} or {workspace}",
				named, p.OutputDir, p.Workspace)
		}
		if state := coord.StateDir(p.Workspace); cleaned == state || within(state, cleaned) {
			return nil, inputErrorf(input, "%s lies in the supervisor's own state directory %s", named, state)
		}
		for _, role := range append(p.CheckRoles(), p.Roles...) {
			if ok, _ := path.Match(cleaned, role.Log); ok {
				return nil, inputErrorf(input, "%s matches %s, the log of %s: the benchmark's end would be announced as soon as it starts",
					quote(pattern), role.Log, role.Name)
			}
		}
		out = append(out, cleaned)
	}
	return out, nil
}

// within reports whether the cleaned absolute path name lies strictly inside the directory dir.
func within(dir, name string) bool {
	if dir == "" {
		return false
	}
	dir = path.Clean(dir)
	return strings.HasPrefix(name, strings.TrimSuffix(dir, "/")+"/") && name != dir
}
