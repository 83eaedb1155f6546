package roles

import "strconv"

// layer is the kind of input a value came from. Precedence: a higher layer wins.
type layer int

const (
	layerNone   layer = iota // not given: a default applies
	layerConfig              // the --config file
	layerEnv                 // the environment
	layerFlag                // a command-line flag
)

// intInput is an integer input with the name and the layer of the input that gave it.
type intInput struct {
	v     int
	from  string
	set   bool
	layer layer
}

// intFrom returns the first given value among the flag, the environment variables in order, and
// the config key.
func (b *builder) intFrom(flag *int, flagName string, envNames []string, c cfgInt) (intInput, error) {
	if flag != nil {
		return intInput{v: *flag, from: flagName, set: true, layer: layerFlag}, nil
	}
	for _, name := range envNames {
		v := b.env(name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return intInput{}, inputErrorf(name, "want an integer, got %s", quote(v))
		}
		return intInput{v: n, from: name, set: true, layer: layerEnv}, nil
	}
	if c.set {
		return intInput{v: c.v, from: b.cfg.path + ": " + c.key, set: true, layer: layerConfig}, nil
	}
	return intInput{}, nil
}

// configInt returns a value of the config, or the zero value without a config.
func (b *builder) configInt(get func(*config) cfgInt) cfgInt {
	if b.cfg == nil {
		return cfgInt{}
	}
	return get(b.cfg)
}

// boolInput is a switch with the name and the layer of the input that set it.
type boolInput struct {
	on    bool
	from  string
	layer layer
}
