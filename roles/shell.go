package roles

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/syntax"
)

// checkShell reports whether cmd is valid bash, as the task runner will hand it to bash.
func checkShell(cmd string) error {
	_, err := parseShell(cmd)
	return err
}

func parseShell(cmd string) (*syntax.File, error) {
	return syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(cmd), "")
}

// literal returns the value of w after quote removal, and false when bash would expand anything in
// it: parameters, command or arithmetic substitutions, globs, braces or a leading tilde. Such a
// word's value depends on where it runs, so the plan never treats it as known text.
func literal(w *syntax.Word) (string, bool) {
	for i, part := range w.Parts {
		switch part := part.(type) {
		case *syntax.SglQuoted:
		case *syntax.Lit:
			if !plainLit(part.Value, i == 0) {
				return "", false
			}
		case *syntax.DblQuoted:
			for _, inner := range part.Parts {
				if _, ok := inner.(*syntax.Lit); !ok {
					return "", false
				}
			}
		default:
			return "", false
		}
	}
	// With nothing left to expand, expansion is exactly quote removal, including $'...' escapes;
	// more than one field means brace expansion happened.
	// A config of our own: with nil, expand writes to its shared default config, a data race when
	// plans are built concurrently.
	fields, err := expand.Fields(&expand.Config{}, w)
	if err != nil || len(fields) != 1 {
		return "", false
	}
	return fields[0], true
}

// plainLit reports whether an unquoted literal is free of glob characters and, at the start of a
// word, of a tilde; a backslash escapes the next byte.
func plainLit(raw string, first bool) bool {
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case '\\':
			i++
		case '*', '?', '[':
			return false
		case '~':
			if first && i == 0 {
				return false
			}
		}
	}
	return true
}

// splitWords splits text into shell words with quote removal only, as `printf '%q\n'` writes
// them: one or more per line, comments allowed. Anything bash would expand is an error, since the
// plan must not depend on the shell that happens to read it.
func splitWords(text string) ([]string, error) {
	var words []string
	var bad error
	err := syntax.NewParser().Words(strings.NewReader(text), func(w *syntax.Word) bool {
		v, ok := literal(w)
		if !ok {
			raw := text[w.Pos().Offset():w.End().Offset()]
			bad = fmt.Errorf("line %d: %s is not a plain word: only quoting is allowed, no $, `, globs, braces or ~", w.Pos().Line(), quote(raw))
			return false
		}
		words = append(words, v)
		return true
	})
	if bad != nil {
		return nil, bad
	}
	if err != nil {
		return nil, err
	}
	return words, nil
}

// edit replaces text[start:end] with insert.
type edit struct {
	start, end int
	insert     string
}

// removeWrapper removes the wrapper from the command position of every simple command in cmd:
// each command word whose literal value has the wrapper's base name, along with the blanks after
// it. Only those bytes change; the wrapper's name elsewhere (an argument, a path, a file name) is
// left alone, because a command is shell words, not text.
//
// Two fix-ups keep the result equivalent to running the wrapped program directly: a word that
// becomes the command word but that bash would read as a keyword or an assignment (`if`, `A=1`) is
// escaped with a backslash, and a command left with no word at all gets ":" in its place. The
// result is parsed again; should the parser still read a new command word specially, every new
// command word is escaped, which never changes what bash runs.
func removeWrapper(cmd, wrapper string) (string, error) {
	f, err := parseShell(cmd)
	if err != nil {
		return "", err
	}
	name := path.Base(wrapper)
	out, err := applyEdits(cmd, wrapperEdits(f, cmd, name, false))
	if err != nil {
		return "", err
	}
	if checkShell(out) == nil {
		return out, nil
	}
	out, err = applyEdits(cmd, wrapperEdits(f, cmd, name, true))
	if err != nil {
		return "", err
	}
	if err := checkShell(out); err != nil {
		return "", fmt.Errorf("the command without %s would not be valid shell: %v", wrapper, err)
	}
	return out, nil
}

// wrapperEdits lists the edits that remove the wrapper from the commands of f.
func wrapperEdits(f *syntax.File, cmd, name string, escapeAll bool) []edit {
	var edits []edit
	syntax.Walk(f, func(n syntax.Node) bool {
		call, ok := n.(*syntax.CallExpr)
		if !ok {
			return true
		}
		k := 0
		for k < len(call.Args) && isWrapper(call.Args[k], name) {
			k++
		}
		if k == 0 {
			return true
		}
		for j := 0; j < k; j++ {
			w := call.Args[j]
			start, end := int(w.Pos().Offset()), int(w.End().Offset())
			if j == 0 && k == len(call.Args) {
				edits = append(edits, edit{start, end, ":"})
				continue
			}
			edits = append(edits, edit{start, skipBlanks(cmd, end), ""})
		}
		if k < len(call.Args) {
			if next := call.Args[k]; needsEscape(next) || escapeAll && startsWithLit(next) {
				p := int(next.Pos().Offset())
				edits = append(edits, edit{p, p, `\`})
			}
		}
		return true
	})
	return edits
}

// applyEdits applies non-overlapping edits to text.
func applyEdits(text string, edits []edit) (string, error) {
	if len(edits) == 0 {
		return text, nil
	}
	sort.SliceStable(edits, func(i, j int) bool {
		if edits[i].start != edits[j].start {
			return edits[i].start < edits[j].start
		}
		return edits[i].end < edits[j].end
	})
	var b strings.Builder
	last := 0
	for _, e := range edits {
		if e.start < last {
			return "", fmt.Errorf("overlapping edits at offset %d", e.start)
		}
		b.WriteString(text[last:e.start])
		b.WriteString(e.insert)
		last = e.end
	}
	b.WriteString(text[last:])
	return b.String(), nil
}

// isWrapper reports whether w is, literally, a path to the wrapper. A word bash would expand is
// not: its value is unknown until it runs.
func isWrapper(w *syntax.Word, name string) bool {
	v, ok := literal(w)
	if !ok {
		return false
	}
	return v[strings.LastIndexByte(v, '/')+1:] == name
}

// skipBlanks returns the offset after the spaces, tabs and escaped newlines at s[i:].
func skipBlanks(s string, i int) int {
	for i < len(s) {
		switch {
		case s[i] == ' ' || s[i] == '\t':
			i++
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == '\n':
			i += 2
		default:
			return i
		}
	}
	return i
}

// isSpecialFirstWord reports whether bash (or the parser) reads word differently in command
// position: keywords, and the declaration builtins whose arguments are assignments.
func isSpecialFirstWord(word string) bool {
	switch word {
	case "!", "{", "}", "[[", "]]", "case", "coproc", "do", "done", "elif", "else", "esac", "fi",
		"for", "function", "if", "in", "select", "then", "time", "until", "while",
		"declare", "export", "local", "nameref", "readonly", "typeset", "let":
		return true
	}
	return false
}

// needsEscape reports whether w, moved into command position, would stop being a plain command
// word: a keyword or declaration builtin, or text that reads as an assignment.
func needsEscape(w *syntax.Word) bool {
	lit, ok := w.Parts[0].(*syntax.Lit)
	if !ok || lit.Value == "" {
		return false
	}
	if isSpecialFirstWord(lit.Value) {
		return true
	}
	// name=..., name+=... and name[...]=... are assignments; the parser already reads name[ as
	// the start of one.
	c := lit.Value[0]
	return (c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') && strings.ContainsAny(lit.Value, "=[")
}

// startsWithLit reports whether w starts with unquoted text that a backslash can escape.
func startsWithLit(w *syntax.Word) bool {
	lit, ok := w.Parts[0].(*syntax.Lit)
	return ok && lit.Value != "" && lit.Value[0] != '\\'
}

// joinCommand joins the non-empty parts of a command with single spaces.
func joinCommand(parts ...string) string {
	var kept []string
	for _, p := range parts {
		if p = trimBlanks(p); p != "" {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, " ")
}

// trimBlanks trims surrounding blanks, but keeps trailing ones that belong to the command: one a
// backslash escapes (part of the last word), or the empty line that ends a here-document.
func trimBlanks(s string) string {
	s = strings.TrimLeft(s, " \t\n")
	end := len(s)
	for end > 0 && strings.IndexByte(" \t\n", s[end-1]) >= 0 {
		slashes := 0
		for i := end - 2; i >= 0 && s[i] == '\\'; i-- {
			slashes++
		}
		if slashes%2 == 1 {
			break
		}
		end--
	}
	if end == len(s) {
		return s
	}
	if checkShell(s[:end]) != nil && checkShell(s) == nil {
		return s
	}
	return s[:end]
}
