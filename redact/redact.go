// Package redact keeps the values of secret-looking variables out of everything the project writes.
package redact

import (
	"sort"
	"strings"
)

// Mask replaces a secret value wherever one would be shown.
const Mask = "<redacted>"

// runTokenName is the supervisor's own attempt identifier (job.restart.unique). It names no credential,
// and tests and users need to see it to tell attempts apart, so it is shown although its name holds TOKEN.
const runTokenName = "TRTLLM_PERF_RUN_TOKEN"

// IsSecretName reports whether the value of the variable name must never be shown: names that contain
// TOKEN, SECRET, KEY or PASSWORD, in any case.
func IsSecretName(name string) bool {
	if name == runTokenName {
		return false
	}
	upper := strings.ToUpper(name)
	for _, word := range []string{"TOKEN", "SECRET", "KEY", "PASSWORD"} {
		if strings.Contains(upper, word) {
			return true
		}
	}
	return false
}

// Env returns a copy of env with secret values masked.
func Env(env map[string]string) map[string]string {
	out := make(map[string]string, len(env))
	for name, value := range env {
		if IsSecretName(name) && value != "" {
			value = Mask
		}
		out[name] = value
	}
	return out
}

// EnvList masks secret values in a list of NAME=VALUE entries, as os.Environ returns them.
func EnvList(env []string) []string {
	out := make([]string, len(env))
	for i, kv := range env {
		name, value, ok := strings.Cut(kv, "=")
		if ok && IsSecretName(name) && value != "" {
			kv = name + "=" + Mask
		}
		out[i] = kv
	}
	return out
}

// Text masks secret values wherever they occur in free text, such as a log tail: a secret can be
// printed by a program under a name we cannot see.
type Text struct {
	secrets []string
}

// NewText collects the secret values of the NAME=VALUE entries in env.
func NewText(env []string) *Text {
	var secrets []string
	for _, kv := range env {
		name, value, ok := strings.Cut(kv, "=")
		// Very short values would mask unrelated text and hide nothing worth hiding.
		if ok && IsSecretName(name) && len(value) >= 4 {
			secrets = append(secrets, value)
		}
	}
	// Longest first, so a secret that contains another is masked whole.
	sort.Slice(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
	return &Text{secrets: secrets}
}

// String returns s with every known secret value masked.
func (t *Text) String(s string) string {
	if t == nil {
		return s
	}
	for _, secret := range t.secrets {
		s = strings.ReplaceAll(s, secret, Mask)
	}
	return s
}
