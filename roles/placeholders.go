package roles

import (
	"path"
	"strings"
)

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
// a valid glob pattern; input names the flag or variable they came from, for the error.
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
		out = append(out, expanded)
	}
	return out, nil
}
