// Package actiontest checks oidc-ecs-deploy as GitHub runs it: the action's
// metadata (action.yml), its container image, and whole runs of the built
// binary against the standalone sandbox. Its helpers are shared with the
// benchmarks, which run the same binary and sandbox.
package actiontest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Metadata is the part of action.yml that the runner reads.
type Metadata struct {
	Name        string            `yaml:"name"`
	Description string            `yaml:"description"`
	Author      string            `yaml:"author"`
	Branding    map[string]string `yaml:"branding"`
	Inputs      map[string]Input  `yaml:"inputs"`
	Outputs     map[string]Output `yaml:"outputs"`
	Runs        Runs              `yaml:"runs"`
}

// Input is one action input.
type Input struct {
	Description string `yaml:"description"`
	// Required is a pointer so that a missing key can be told from false.
	Required *bool `yaml:"required"`
	// Default is a pointer so that a missing key can be told from "".
	Default *string `yaml:"default"`
}

// Output is one action output.
type Output struct {
	Description string `yaml:"description"`
}

// Runs says how the runner starts the action.
type Runs struct {
	Using      string   `yaml:"using"`
	Image      string   `yaml:"image"`
	Entrypoint string   `yaml:"entrypoint"`
	Args       []string `yaml:"args"`
}

// LoadMetadata reads and strictly decodes an action.yml: an unknown key is
// an error, as it is for the runner.
func LoadMetadata(path string) (*Metadata, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read action metadata: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var m Metadata
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return &m, nil
}

// InputEnv is the environment the runner gives a container action for its
// inputs: INPUT_<NAME> in upper case with hyphens kept, for every declared
// input, holding the value the workflow gave or else the input's default.
func (m *Metadata) InputEnv(with map[string]string) (map[string]string, error) {
	env := make(map[string]string, len(m.Inputs))
	for name, in := range m.Inputs {
		v, ok := with[name]
		if !ok && in.Default != nil {
			v = *in.Default
		}
		env["INPUT_"+strings.ToUpper(name)] = v
	}
	for name := range with {
		if _, ok := m.Inputs[name]; !ok {
			return nil, fmt.Errorf("input %q is not declared in action.yml", name)
		}
	}
	return env, nil
}

// ModuleRoot returns the directory holding the project's go.mod, found by
// walking up from the working directory.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find module root: %w", err)
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(data, []byte("module github.com/oidc-ecs-deploy/oidc-ecs-deploy\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find module root: no go.mod of oidc-ecs-deploy above the working directory")
		}
		dir = parent
	}
}

// BuildTags are the build tags of the action's image: "action" leaves out
// the commands the action never runs (demo, sandbox, policy, doctor);
// "nethttpomithttp2" leaves out HTTP/2, which none of the action's
// endpoints needs (registry uploads go over parallel HTTP/1.1 connections,
// as docker's do).
const BuildTags = "action,nethttpomithttp2"

// BuildFlags are the flags the Dockerfile's build stage compiles the action
// with; TestDockerfile checks that the Dockerfile still says so.
var BuildFlags = []string{"-tags=" + BuildTags, "-trimpath", "-ldflags=-s -w"}

// BuildBinary compiles the action as the Dockerfile does (static, trimmed,
// stripped, without the demo and the sandbox) into dir and returns the
// binary's path.
func BuildBinary(ctx context.Context, root, dir string) (string, error) {
	return build(ctx, root, filepath.Join(dir, "oidc-ecs-deploy"), BuildFlags)
}

// BuildCLI compiles the command-line tool as make build does, the demo and
// the sandbox included, into dir and returns the binary's path: tests and
// benchmarks run its standalone sandbox for the action's binary to call.
func BuildCLI(ctx context.Context, root, dir string) (string, error) {
	return build(ctx, root, filepath.Join(dir, "oidc-ecs-deploy-cli"), []string{"-trimpath"})
}

func build(ctx context.Context, root, out string, flags []string) (string, error) {
	args := append([]string{"build"}, flags...)
	args = append(args, "-o", out, ".")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %w\n%s", filepath.Base(out), err, msg)
	}
	return out, nil
}

// ReadEnvFile reads a file of KEY=VALUE lines, as the standalone sandbox
// writes its client environment. Blank lines, comments and an "export "
// prefix are allowed; a value may be single- or double-quoted.
func ReadEnvFile(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read env file: %w", err)
	}
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("env file %s: line %q is not KEY=VALUE", path, line)
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		env[k] = v
	}
	return env, sc.Err()
}
