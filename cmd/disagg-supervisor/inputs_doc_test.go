package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"

	"github.com/alecthomas/kong"

	"github.com/disagg-supervisor/disagg-supervisor/roles"
)

// update makes TestInputsDoc write docs/inputs.md instead of comparing it.
var update = flag.Bool("update", false, "rewrite docs/inputs.md from the input list and the command line's flags")

// inputsDoc is the generated reference, relative to this package.
const inputsDoc = "../../docs/inputs.md"

// TestInputsDoc renders docs/inputs.md from its template, roles.Inputs and kong's model of the
// command line, and fails when the file differs, so that the reference cannot drift from the code:
// a new flag, a changed help text or default, or a new input shows up there by itself. With -update
// it writes the file.
func TestInputsDoc(t *testing.T) {
	got, err := renderInputsDoc()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(inputsDoc, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(inputsDoc)
	if err != nil {
		t.Fatalf("%v (write it with: go test ./cmd/disagg-supervisor -run TestInputsDoc -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what its generator makes of the code; run: go test ./cmd/disagg-supervisor -run TestInputsDoc -update\n%s",
			filepath.Clean(inputsDoc), firstDifference(want, got))
	}
}

// TestInputsDocHasEveryFlag checks that every flag of every command the command line knows, and
// every input of a plan, is in the rendered reference.
func TestInputsDocHasEveryFlag(t *testing.T) {
	doc, err := renderInputsDoc()
	if err != nil {
		t.Fatal(err)
	}
	parser, err := docParser()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, cmd := range append([]*kong.Node{parser.Model.Node}, parser.Model.Children...) {
		for _, f := range cmd.Flags {
			if f.Hidden {
				continue
			}
			n++
			if !bytes.Contains(doc, []byte("`"+flagName(f))) {
				t.Errorf("flag --%s of %q is not in the reference", f.Name, cmd.Path())
			}
		}
	}
	if n < 80 {
		t.Errorf("only %d flags found in the command line's model", n)
	}
	for _, in := range roles.Inputs() {
		if !bytes.Contains(doc, []byte("| "+in.Name+" |")) {
			t.Errorf("input %q is not a row of the reference", in.Name)
		}
	}
}

// docParser is the command line's model, built as run builds it.
func docParser() (*kong.Kong, error) {
	var c cli
	// The same variables as run's, but a fixed version: the doc must not change with the build.
	vars := flagVars()
	vars["version"] = "disagg-supervisor VERSION"
	return kong.New(&c,
		kong.Name("disagg-supervisor"),
		kong.Description(description),
		kong.Vars(vars),
		kong.Exit(func(int) {}),
	)
}

// renderInputsDoc makes docs/inputs.md.
func renderInputsDoc() ([]byte, error) {
	parser, err := docParser()
	if err != nil {
		return nil, err
	}
	flags := map[string]*kong.Flag{}
	for _, cmd := range parser.Model.Children {
		for _, f := range cmd.Flags {
			flags["--"+f.Name] = f
		}
	}
	tmpl, err := template.ParseFiles("testdata/inputs.md.tmpl")
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	err = tmpl.Execute(&out, struct{ Inputs, Commands string }{
		Inputs:   inputsTable(roles.Inputs(), flags),
		Commands: commandFlags(parser.Model.Node),
	})
	return out.Bytes(), err
}

// inputsTable is the table of the inputs of a plan.
func inputsTable(inputs []roles.Input, flags map[string]*kong.Flag) string {
	var b strings.Builder
	b.WriteString("| input | flag | environment | config key | default | meaning |\n|---|---|---|---|---|---|\n")
	for _, in := range inputs {
		flag := ""
		if in.Flag != "" {
			flag = in.Flag
			if f := flags[in.Flag]; f != nil {
				flag = flagName(f)
			}
			flag = "`" + flag + "`"
		}
		envs := make([]string, len(in.Env))
		for i, e := range in.Env {
			envs[i] = "`" + e + "`"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", in.Name, flag, strings.Join(envs, ", "),
			cell(configKey(in.Config)), cell(in.Default), cell(in.Meaning))
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// configKey writes a config key as code: its first word when that is a dotted or underscored name,
// since the rest may say how the key is read.
func configKey(s string) string {
	first, rest, _ := strings.Cut(s, " ")
	if strings.ContainsAny(first, "._") && !strings.Contains(first, "`") {
		first = "`" + first + "`"
	}
	if rest != "" {
		return first + " " + rest
	}
	return first
}

// commandFlags is one section per command: a table of the flags it is the first to take, and the
// names of those it shares with an earlier one (the same name and help: demo's --workspace is not
// plan's).
func commandFlags(root *kong.Node) string {
	var b strings.Builder
	seen := map[string]string{} // flag name and help: the command that describes it
	sections := append([]*kong.Node{root}, root.Children...)
	for i, cmd := range sections {
		if cmd.Hidden {
			continue
		}
		title := "Every command"
		if i > 0 {
			title = "`" + cmd.Name + "`"
		}
		fmt.Fprintf(&b, "### %s\n\n", title)
		if cmd.Help != "" && i > 0 {
			b.WriteString(cell(cmd.Help) + "\n\n")
		}
		var own []*kong.Flag
		shared := map[string][]string{}
		var sharedFrom []string
		for _, f := range cmd.Flags {
			if f.Hidden {
				continue
			}
			key := f.Name + "\x00" + f.Help
			if from, ok := seen[key]; ok {
				if len(shared[from]) == 0 {
					sharedFrom = append(sharedFrom, from)
				}
				shared[from] = append(shared[from], "`"+flagName(f)+"`")
				continue
			}
			seen[key] = title
			own = append(own, f)
		}
		for _, from := range sharedFrom {
			fmt.Fprintf(&b, "Also the flags of %s: %s.\n\n", from, strings.Join(shared[from], ", "))
		}
		if len(own) == 0 {
			if len(sharedFrom) == 0 {
				b.WriteString("No flags of its own")
				if cmd.Passthrough {
					b.WriteString(": its arguments are passed on as they are")
				}
				b.WriteString(".\n\n")
			}
			continue
		}
		b.WriteString("| flag | default | meaning |\n|---|---|---|\n")
		for _, f := range own {
			def := ""
			if f.HasDefault && f.Default != "" {
				def = "`" + f.Default + "`"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", flagUsage(f), cell(def), cell(f.Help))
		}
		b.WriteString("\n")
	}
	return strings.TrimSuffix(b.String(), "\n\n")
}

// flagName is a flag as its help shows it, without a value: --name, or --[no-]name when negatable.
func flagName(f *kong.Flag) string {
	if f.Tag != nil && f.Tag.Negatable != "" {
		return "--[no-]" + f.Name
	}
	return "--" + f.Name
}

// flagUsage is a flag with its value's placeholder and its short form, e.g. --nodelist=HOSTLIST or
// --help, -h.
func flagUsage(f *kong.Flag) string {
	s := flagName(f)
	if !f.IsBool() && !f.IsCounter() {
		s += "=" + f.FormatPlaceHolder()
	}
	if f.Short != 0 {
		s += fmt.Sprintf(", -%c", f.Short)
	}
	return s
}

// cell makes text fit one cell of a Markdown table.
func cell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.ReplaceAll(s, "|", `\|`)
}

// firstDifference shows the first line where got differs from want.
func firstDifference(want, got []byte) string {
	w, g := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n have: %s\n make: %s", i+1, wl, gl)
		}
	}
	return ""
}
