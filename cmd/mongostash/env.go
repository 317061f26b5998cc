package main

import (
	"fmt"
	"os"
	"reflect"
	"strings"

	"github.com/alecthomas/kong"
)

// envSource makes kong read the environment through run's lookup function instead of
// os.LookupEnv, so that what run is given is all it sees: the process's environment in
// main, exactly the test's in tests. kong reads the `env:` tags of the model itself while
// it resets values to their defaults; detach takes those variables out of its hands and
// the resolver (for flags) and positionals (for arguments) put them back through lookup,
// with the same precedence: the command line, then the environment, then the default.
type envSource struct {
	lookup func(string) (string, bool)
	envs   map[*kong.Value][]string // each value's variables, as its env tag named them
}

// detach removes the variables from every value of the model, remembering them.
func (e *envSource) detach(app *kong.Application) {
	e.envs = map[*kong.Value][]string{}
	_ = kong.Visit(app, func(node kong.Visitable, next kong.Next) error {
		if v, ok := node.(*kong.Value); ok && len(v.Tag.Envs) > 0 {
			e.envs[v] = v.Tag.Envs
			v.Tag.Envs = nil
		}
		return next(nil)
	})
}

// help prints kong's help with the variables back in place, so that --help still names
// the variable of each flag.
func (e *envSource) help(options kong.HelpOptions, ctx *kong.Context) error {
	for v, envs := range e.envs {
		v.Tag.Envs = envs
	}
	return kong.DefaultHelpPrinter(options, ctx)
}

// first is the value of the first of the variables that is set.
func (e *envSource) first(envs []string) (name, value string, ok bool) {
	for _, name := range envs {
		if value, ok := e.lookup(name); ok {
			return name, value, true
		}
	}
	return "", "", false
}

// Validate is part of kong.Resolver; there is nothing to check.
func (e *envSource) Validate(*kong.Application) error { return nil }

// Resolve gives kong the value of a flag not set on the command line from its variable.
// A value that does not parse is refused here, to name the variable in the message.
func (e *envSource) Resolve(_ *kong.Context, _ *kong.Path, flag *kong.Flag) (any, error) {
	name, value, ok := e.first(e.envs[flag.Value])
	if !ok {
		return nil, nil
	}
	scratch := reflect.New(flag.Target.Type()).Elem()
	if scratch.Kind() == reflect.Ptr {
		scratch.Set(reflect.New(scratch.Type().Elem()))
	}
	scan := kong.ScanFromTokens(kong.Token{Type: kong.FlagValueToken, Value: value})
	if err := flag.Mapper.Decode(&kong.DecodeContext{Value: flag.Value, Scan: scan}, scratch); err != nil {
		return nil, fmt.Errorf("%w (from envar %s=%q)", err, name, value)
	}
	return value, nil
}

// positionals fills the selected command's arguments that the command line left empty
// from their variables (kong's resolvers see flags only).
func (e *envSource) positionals(kctx *kong.Context) error {
	node := kctx.Selected()
	if node == nil {
		return nil
	}
	for _, p := range node.Positional {
		name, value, ok := e.first(e.envs[p])
		if !ok || !p.Target.IsZero() {
			continue
		}
		scan := kong.ScanFromTokens(kong.Token{Type: kong.FlagValueToken, Value: value})
		if err := p.Parse(scan, p.Target); err != nil {
			return fmt.Errorf("%w (from envar %s=%q)", err, name, value)
		}
	}
	return nil
}

// resolveFile fills *v from the file named by $<env>_FILE when *v is empty, the
// convention of Docker and Kubernetes secrets. The caller registers the value as a secret.
func resolveFile(a *app, v *string, env string) error {
	if *v == "" {
		if path, _ := a.env(env + "_FILE"); path != "" {
			b, err := os.ReadFile(path)
			if err != nil {
				return usagef("%s_FILE: %v", env, err)
			}
			*v = strings.TrimRight(string(b), "\r\n")
		}
	}
	return nil
}
