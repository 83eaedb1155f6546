package roles

import (
	"slices"

	"github.com/disagg-supervisor/disagg-supervisor/redact"
	"mvdan.cc/sh/v3/syntax"
)

// Redacted returns a deep copy of p that is safe to print or write as JSON: environment values of
// secret-looking names are masked, and so is every occurrence of those values, or of values that
// commands assign to secret-looking names (HF_TOKEN=... in an env string), in commands, srun argv,
// probe targets and other environment values (pytestCommand holds the command); so are tokens of
// well-known formats (hf_..., ghp_..., JWTs), whatever holds them.
func (p Plan) Redacted() Plan {
	var secrets []string
	collect := func(env map[string]string) {
		for name, v := range env {
			secrets = append(secrets, name+"="+v)
		}
	}
	for _, r := range append(p.CheckRoles(), p.Roles...) {
		collect(r.Env)
		secrets = append(secrets, assignedSecrets(r.Command)...)
	}
	if p.Install != nil {
		secrets = append(secrets, assignedSecrets(p.Install.Command)...)
	}
	text := redact.NewText(secrets)

	out := p
	out.Nodes = slices.Clone(p.Nodes)
	out.SrunArgs = maskAll(text, p.SrunArgs)
	if p.Install != nil {
		install := *p.Install
		install.Command = text.String(install.Command)
		install.Srun = maskAll(text, install.Srun)
		out.Install = &install
	}
	out.Preflight = redactChecks(text, p.Preflight)
	out.Precheck = redactChecks(text, p.Precheck)
	out.Roles = make([]Role, len(p.Roles))
	for i, r := range p.Roles {
		out.Roles[i] = redactRole(text, r)
	}
	if p.Roles == nil {
		out.Roles = nil
	}
	return out
}

// maskAll returns a copy of list with secrets masked.
func maskAll(text *redact.Text, list []string) []string {
	if list == nil {
		return nil
	}
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = text.String(s)
	}
	return out
}

// assignedSecrets finds assignments to secret-looking names in a shell command and returns them as
// NAME=VALUE entries, with the value both as bash sees it and as written (quotes included), since
// either can appear in what is printed.
func assignedSecrets(cmd string) []string {
	f, err := parseShell(cmd)
	if err != nil {
		return nil
	}
	var out []string
	syntax.Walk(f, func(n syntax.Node) bool {
		as, ok := n.(*syntax.Assign)
		if !ok || as.Name == nil || as.Value == nil || !redact.IsSecretName(as.Name.Value) {
			return true
		}
		raw := cmd[as.Value.Pos().Offset():as.Value.End().Offset()]
		out = append(out, as.Name.Value+"="+raw)
		if v, ok := literal(as.Value); ok {
			out = append(out, as.Name.Value+"="+v)
		}
		return true
	})
	return out
}

// redactRole returns a copy of r with its secrets masked (see Plan.Redacted).
func redactRole(text *redact.Text, r Role) Role {
	r.Nodes = slices.Clone(r.Nodes)
	r.Command = text.String(r.Command)
	r.Srun = maskAll(text, r.Srun)
	if r.Env != nil {
		env := redact.Env(r.Env)
		for name, v := range env {
			env[name] = text.String(v)
		}
		r.Env = env
	}
	if r.Probe != nil {
		probe := *r.Probe
		probe.Target = text.String(probe.Target)
		r.Probe = &probe
	}
	if r.Liveness != nil {
		check := *r.Liveness
		check.Target = text.String(check.Target)
		check.Body = text.String(check.Body)
		r.Liveness = &check
	}
	return r
}

// redactChecks returns a copy of checks with their secrets masked.
func redactChecks(text *redact.Text, checks []Check) []Check {
	if checks == nil {
		return nil
	}
	out := make([]Check, len(checks))
	for i, c := range checks {
		c.Role = redactRole(text, c.Role)
		out[i] = c
	}
	return out
}
