package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/ghaction"
)

// InputEnvName is the environment variable the runner sets for an input of
// a container action: INPUT_ and the name in upper case, hyphens kept.
func InputEnvName(name string) string { return "INPUT_" + strings.ToUpper(name) }

// FromInputs reads the action inputs through input (ghaction.Runner.Input,
// which reads INPUT_ROLE-TO-ASSUME and so on), takes the defaults that
// depend on the run (the session name, the tag) from run, and validates
// them.
func FromInputs(input func(name string) string, run ghaction.GitHubContext) (Config, error) {
	raw := map[string]string{}
	for _, in := range inputs {
		raw[in.Name] = input(in.Name)
	}
	return parse(raw, run)
}

// FromFlags reads the command-line flags (--role-to-assume value and so on,
// one per input), takes the defaults that depend on the run from run, and
// validates them. List inputs may be repeated or comma separated; boolean
// inputs need no value (--force-new-deployment). It returns flag.ErrHelp
// for -h and --help.
func FromFlags(args []string, run ghaction.GitHubContext) (Config, error) {
	fs := flag.NewFlagSet("deploy", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	values := AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Config{}, err
		}
		return Config{}, &UsageError{Err: err}
	}
	if fs.NArg() > 0 {
		return Config{}, &UsageError{Err: fmt.Errorf("unexpected argument %q: every setting is a --name value flag", fs.Arg(0))}
	}
	return values.Config(run)
}

// FlagValues holds the inputs given as flags of a FlagSet that may define
// other flags too: the policy, setup and doctor commands take every input
// beside their own flags.
type FlagValues struct{ raw map[string]string }

// AddFlags defines a flag for every input on fs, as FromFlags reads them.
func AddFlags(fs *flag.FlagSet) *FlagValues {
	v := &FlagValues{raw: map[string]string{}}
	for _, in := range inputs {
		fs.Var(&rawFlag{input: in, raw: v.raw}, in.Name, in.Description)
	}
	return v
}

// Given reports whether the input was given on the command line.
func (v *FlagValues) Given(name string) bool {
	_, ok := v.raw[name]
	return ok
}

// Default sets an input that the command line did not give, as if it had:
// doctor takes the inputs of the workflow step it checks this way.
func (v *FlagValues) Default(name, value string) {
	if _, given := v.raw[name]; !given {
		v.raw[name] = value
	}
}

// Config reads and validates the inputs given, as FromFlags does.
func (v *FlagValues) Config(run ghaction.GitHubContext) (Config, error) {
	return parse(v.raw, run)
}

// UsageError is a command line that could not be parsed at all (an unknown
// flag, a stray argument), as opposed to an input with a bad value.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// rawFlag collects a flag's text for parse; list inputs accumulate.
type rawFlag struct {
	input Input
	raw   map[string]string
}

func (f *rawFlag) String() string {
	if f == nil || f.raw == nil {
		return ""
	}
	return f.raw[f.input.Name]
}

func (f *rawFlag) Set(v string) error {
	if f.input.List && f.raw[f.input.Name] != "" {
		f.raw[f.input.Name] += "\n" + v
		return nil
	}
	f.raw[f.input.Name] = v
	return nil
}

// IsBoolFlag lets --force-new-deployment stand alone for true.
func (f *rawFlag) IsBoolFlag() bool { return f.input.Boolean }

// PrintFlags writes the flags, their defaults and descriptions, for usage text.
func PrintFlags(w io.Writer) {
	for _, in := range inputs {
		arg := " value"
		switch {
		case in.Boolean:
			arg = "[=true|false]"
		case in.List:
			arg = " list"
		}
		fmt.Fprintf(w, "  --%s%s", in.Name, arg)
		switch {
		case in.Required:
			fmt.Fprint(w, "  (required)")
		case in.Default != "":
			fmt.Fprintf(w, "  (default %s)", in.Default)
		}
		fmt.Fprintf(w, "\n      %s\n", in.Description)
	}
}
