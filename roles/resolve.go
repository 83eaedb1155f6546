package roles

import (
	"fmt"
	"strconv"
)

// layer is the kind of input a value came from. Precedence: a higher layer wins.
type layer int

const (
	layerNone   layer = iota // not given: a default applies
	layerConfig              // the --config file
	layerEnv                 // the environment
	layerFlag                // a command-line flag
)

// input is the value of one input with the source that gave it.
type input[T any] struct {
	v T
	// from names the source: the flag, the variable, or "FILE: key"; empty when none gave it.
	from  string
	layer layer
}

// set reports whether a source gave the input; without one the caller's default applies.
func (in input[T]) set() bool { return in.layer != layerNone }

// intInput is an integer input, boolInput a switch, textInput a text.
type (
	intInput  = input[int]
	boolInput = input[bool]
	textInput = input[string]
)

// resolveInput finds the value of one input by the precedence every input follows: its flag when given
// (flag not nil), else the first of its environment variables that is not blank, read by parse,
// else its config value when the config has one (cfg not nil, named by cfgFrom). Without any of
// them the result is not set and the caller applies its default. A value parse refuses is an
// *InputError naming the variable, with parse's error as the problem.
func resolveInput[T any](b *builder, flag *T, flagName string, envs []string, parse func(string) (T, error), cfg *T, cfgFrom string) (input[T], error) {
	if flag != nil {
		return input[T]{v: *flag, from: flagName, layer: layerFlag}, nil
	}
	for _, name := range envs {
		v := b.env(name)
		if v == "" {
			continue
		}
		x, err := parse(v)
		if err != nil {
			return input[T]{}, &InputError{Input: name, Problem: err.Error()}
		}
		return input[T]{v: x, from: name, layer: layerEnv}, nil
	}
	if cfg != nil {
		return input[T]{v: *cfg, from: cfgFrom, layer: layerConfig}, nil
	}
	return input[T]{}, nil
}

// text resolves an input given as text, whose flag is not given when empty and which no config key
// gives.
func (b *builder) text(flag, flagName string, envs ...string) textInput {
	in, _ := resolveInput(b, given(flag), flagName, envs, parseText, nil, "") // parseText never fails
	return in
}

// given is a text flag as resolveInput takes it: nil when empty, which is "not given".
func given(flag string) *string {
	if flag == "" {
		return nil
	}
	return &flag
}

// parseText takes a variable's value as it is.
func parseText(v string) (string, error) { return v, nil }

// parseInt reads a variable's value as an integer.
func parseInt(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("want an integer, got %s", quote(v))
	}
	return n, nil
}

// intFrom resolves an integer input from its flag, its environment variables in order, and its
// config key.
func (b *builder) intFrom(flag *int, flagName string, envNames []string, c cfgInt) (intInput, error) {
	var cfg *int
	var cfgFrom string
	if c.set {
		cfg, cfgFrom = &c.v, b.cfg.path+": "+c.key
	}
	return resolveInput(b, flag, flagName, envNames, parseInt, cfg, cfgFrom)
}

// configInt returns a value of the config, or the zero value without a config.
func (b *builder) configInt(get func(*config) cfgInt) cfgInt {
	if b.cfg == nil {
		return cfgInt{}
	}
	return get(b.cfg)
}
