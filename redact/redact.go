// Package redact keeps secrets out of everything the project writes: the values of secret-looking
// variables, wherever those values appear, and tokens of well-known formats, whatever carries them.
package redact

import (
	"regexp"
	"sort"
	"strings"
	"unicode"
)

// Mask replaces a secret value wherever one would be shown.
const Mask = "<redacted>"

// runTokenName is the supervisor's own attempt identifier (job.restart.unique). It names no credential,
// and tests and users need to see it to tell attempts apart, so it is shown although its name holds TOKEN.
const runTokenName = "TRTLLM_PERF_RUN_TOKEN"

// IsSecretName reports whether the value of the variable name must never be shown: names that contain
// TOKEN, SECRET, KEY, PASSWORD, PASSWD, CREDENTIAL, COOKIE, SESSION or PRIVATE, in any case; names with
// AUTH other than as the start of AUTHOR or AUTHORITY (AUTH_HEADER, OAUTH, AUTHORIZATION, but not
// GIT_AUTHOR_NAME or XAUTHORITY); and names with PAT as a word of its own (GH_PAT, ghPat, but not PATH or
// DISPATCH). TRTLLM_PERF_RUN_TOKEN is shown.
func IsSecretName(name string) bool {
	if name == runTokenName {
		return false
	}
	upper := strings.ToUpper(name)
	// These are matched anywhere in the name: they are rarely part of an innocent word, and catching
	// camelCase names (hfToken, dbPassword) matters more than sparing the odd MONKEY.
	for _, part := range []string{"TOKEN", "SECRET", "KEY", "PASSWORD", "PASSWD", "CREDENTIAL", "COOKIE", "SESSION", "PRIVATE"} {
		if strings.Contains(upper, part) {
			return true
		}
	}
	return hasAuth(upper) || hasWord(name, "PAT")
}

// hasAuth reports whether upper holds AUTH as in authentication or authorization. AUTHOR and AUTHORITY
// (GIT_AUTHOR_EMAIL, XAUTHORITY's file name) name people and paths; AUTHORIZ... is a credential.
func hasAuth(upper string) bool {
	for rest := upper; ; {
		i := strings.Index(rest, "AUTH")
		if i < 0 {
			return false
		}
		rest = rest[i+len("AUTH"):]
		if !strings.HasPrefix(rest, "OR") || strings.HasPrefix(rest, "ORIZ") {
			return true
		}
	}
}

// hasWord reports whether word, in upper case, is one of the words of name, with trailing digits ignored
// (GH_PAT2). Words are split at anything but letters and digits and where a lower-case letter is followed
// by an upper-case one (ghPat), so that a short word such as PAT does not match inside PATH or DISPATCH.
func hasWord(name, word string) bool {
	start := 0
	runes := []rune(name)
	for i := 0; i <= len(runes); i++ {
		boundary := i == len(runes) || !isAlnum(runes[i]) ||
			(i > 0 && unicode.IsLower(runes[i-1]) && unicode.IsUpper(runes[i]))
		if !boundary {
			continue
		}
		w := strings.TrimRightFunc(string(runes[start:i]), unicode.IsDigit)
		if strings.EqualFold(w, word) {
			return true
		}
		start = i
		if i < len(runes) && !isAlnum(runes[i]) {
			start = i + 1
		}
	}
	return false
}

func isAlnum(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// tokenPattern matches tokens whose format gives them away, whatever name carries them or whichever
// program prints them. Each needs a fixed prefix at the start of a word and enough characters after it
// that ordinary words (sk-learn, hf_hub, a short base64 string) are left alone. It is compiled once and
// never changed.
var tokenPattern = regexp.MustCompile(`\b(?:` + strings.Join([]string{
	`hf_[A-Za-z0-9]{30,}`,          // Hugging Face
	`gh[pousr]_[A-Za-z0-9]{36,}`,   // GitHub classic, OAuth, user-to-server, server-to-server, refresh
	`github_pat_[A-Za-z0-9_]{22,}`, // GitHub fine-grained
	`sk-[A-Za-z0-9_-]{20,}`,        // OpenAI and lookalikes (sk-proj-..., sk-ant-...)
	`(?:AKIA|ASIA)[A-Z0-9]{16}\b`,  // AWS access key id
	`nvapi-[A-Za-z0-9_-]{20,}`,     // NVIDIA API
	`xox[baprs]-[A-Za-z0-9-]{10,}`, // Slack
	// JWT: three base64url segments, the first the encoding of `{"`.
	`eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}`,
}, "|") + `)`)

// Tokens returns s with every token of a well-known format masked; the text around it stays.
func Tokens(s string) string {
	return tokenPattern.ReplaceAllLiteralString(s, Mask)
}

// Env returns a copy of env with secrets masked: the values of secret-looking names, and in the other
// values those secret values and tokens of well-known formats (see Text).
func Env(env map[string]string) map[string]string {
	list := make([]string, 0, len(env))
	for name, value := range env {
		list = append(list, name+"="+value)
	}
	text := NewText(list)
	out := make(map[string]string, len(env))
	for name, value := range env {
		if IsSecretName(name) && value != "" {
			value = Mask
		}
		out[name] = text.String(value)
	}
	return out
}

// EnvList masks secrets in a list of NAME=VALUE entries, as os.Environ returns them, as Env does.
func EnvList(env []string) []string {
	text := NewText(env)
	out := make([]string, len(env))
	for i, kv := range env {
		name, value, ok := strings.Cut(kv, "=")
		if ok {
			if IsSecretName(name) && value != "" {
				value = Mask
			}
			kv = name + "=" + text.String(value)
		}
		out[i] = kv
	}
	return out
}

// Text masks secrets wherever they occur in free text, such as a log tail: the values of the secret-
// looking variables it was made from, which a program can print under a name we cannot see, and tokens of
// well-known formats, which need no name at all.
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

// String returns s with every known secret value and every token of a well-known format masked. A nil
// Text knows no values but still masks the tokens.
func (t *Text) String(s string) string {
	if t != nil {
		for _, secret := range t.secrets {
			s = strings.ReplaceAll(s, secret, Mask)
		}
	}
	return Tokens(s)
}
