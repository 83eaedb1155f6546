// Package mode holds the auto/always/never switch of the settings that decide for themselves unless
// told: --launch-gate, --forward-container-env and --task-unset-slurm. What "auto" looks at differs
// per setting and stays with its owner; the words, their parsing and the decision rule live here.
package mode

import "fmt"

// Mode is auto, always or never. The zero value means auto, the default of every such setting.
type Mode string

// The modes.
const (
	Auto   Mode = "auto"
	Always Mode = "always"
	Never  Mode = "never"
)

// Names lists the modes, comma-separated, as kong's enum tag and messages want them.
const Names = "auto,always,never"

// Parse reads a mode's word.
func Parse(s string) (Mode, error) {
	m := Mode(s)
	if !m.Valid() {
		return "", fmt.Errorf("want auto, always or never, got %q", s)
	}
	return m, nil
}

// Valid reports whether m is one of the three words; the zero value is not one.
func (m Mode) Valid() bool {
	switch m {
	case Auto, Always, Never:
		return true
	}
	return false
}

// String is the mode's word; the zero value reads as auto.
func (m Mode) String() string {
	if m == "" {
		return string(Auto)
	}
	return string(m)
}

// UnmarshalText parses a flag's or a file's value, so that kong rejects a wrong word while parsing.
func (m *Mode) UnmarshalText(text []byte) error {
	v, err := Parse(string(text))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// On decides the setting: always and never say so, and auto (or the zero value) follows what the
// owner found, e.g. whether the srun arguments use containers.
func (m Mode) On(auto bool) bool {
	switch m {
	case Always:
		return true
	case Never:
		return false
	}
	return auto
}
