// Package endpoint holds the endpoint overrides a run honours (the GitHub
// ID-token request URL, AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> of
// the services the action calls) to one rule: https, or plain http only to
// a loopback address, since the ID token and signed AWS requests travel to
// them.
package endpoint

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Error is an endpoint override that breaks the rule.
type Error struct {
	// Variable is the environment variable, e.g. AWS_ENDPOINT_URL.
	Variable string
	// Value is the URL as given.
	Value string
	// Problem says what is wrong with it.
	Problem string
}

func (e *Error) Error() string {
	return fmt.Sprintf("environment variable %s: %q %s; for example: https://vpce-0abc.sts.us-east-1.vpce.amazonaws.com, or http://127.0.0.1:4566 for a local stand-in",
		e.Variable, e.Value, e.Problem)
}

// Check returns an *Error unless raw is an absolute https URL, or an http
// URL whose host is a loopback address (127.0.0.0/8, ::1, localhost), with
// no user name or password in it.
func Check(variable, raw string) error {
	bad := func(problem string) error { return &Error{Variable: variable, Value: raw, Problem: problem} }
	u, err := url.Parse(raw)
	if err != nil {
		return bad("is not a URL")
	}
	if u.User != nil {
		return bad("carries a user name or password, which would reach the log; give the URL alone")
	}
	switch {
	case u.Scheme == "https" && u.Host != "" && u.Hostname() != "":
		return nil
	case u.Scheme == "http" && u.Hostname() != "":
		if IsLoopback(u.Hostname()) {
			return nil
		}
		return bad("is plain http to a host that is not a loopback address: the ID token or signed AWS requests would cross the network unencrypted; use https, or http to 127.0.0.1 for a local stand-in")
	}
	return bad("is not an absolute https URL (scheme://host[:port][/path])")
}

// IsLoopback reports whether host (without a port) is a loopback address:
// an IP in 127.0.0.0/8 or ::1, or the name localhost.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// The environment variables of the AWS endpoint overrides.
const (
	// BaseVar overrides the endpoint of every AWS service.
	BaseVar = "AWS_ENDPOINT_URL"
	// IgnoreVar, when true, makes the SDK ignore every configured endpoint.
	IgnoreVar = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"
)

// services are the SDK IDs of the AWS services the action calls; each has
// its override AWS_ENDPOINT_URL_<ID>, as the SDK names them.
var services = []string{"STS", "ECR", "ECS", "CloudWatch Logs", "CodeDeploy"}

// ServiceVar is the variable that overrides one service's endpoint: the
// SDK ID in upper case, spaces as underscores (AWS_ENDPOINT_URL_CLOUDWATCH_LOGS).
func ServiceVar(sdkID string) string {
	return BaseVar + "_" + strings.ToUpper(strings.ReplaceAll(sdkID, " ", "_"))
}

// AWS is the run's AWS endpoint overrides.
type AWS struct {
	// Base is AWS_ENDPOINT_URL: every service's endpoint; empty for none.
	Base string
	// Services are the service-specific overrides, by SDK ID (STS, ECR,
	// ECS, CodeDeploy).
	Services map[string]string
	// Ignored is true when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is true:
	// the overrides set are not used (and not checked).
	Ignored bool
}

// ReadAWS reads the AWS endpoint overrides through getenv, as the SDK
// would, and checks each; every problem is reported (errors.Join of *Error).
func ReadAWS(getenv func(string) string) (AWS, error) {
	var a AWS
	if getenv == nil {
		return a, nil
	}
	if strings.EqualFold(strings.TrimSpace(getenv(IgnoreVar)), "true") {
		a.Ignored = true
		return a, nil
	}
	var errs []error
	if v := strings.TrimSpace(getenv(BaseVar)); v != "" {
		if err := Check(BaseVar, v); err != nil {
			errs = append(errs, err)
		}
		a.Base = v
	}
	for _, id := range services {
		v := strings.TrimSpace(getenv(ServiceVar(id)))
		if v == "" {
			continue
		}
		if err := Check(ServiceVar(id), v); err != nil {
			errs = append(errs, err)
		}
		if a.Services == nil {
			a.Services = map[string]string{}
		}
		a.Services[id] = v
	}
	if len(errs) > 0 {
		return AWS{}, errors.Join(errs...)
	}
	return a, nil
}

// Apply points cfg's clients at the overrides: Base as cfg.BaseEndpoint,
// and each service's own override through cfg.ConfigSources, where the
// SDK's clients look for them.
func (a AWS) Apply(cfg *aws.Config) {
	if a.Ignored {
		return
	}
	if a.Base != "" {
		cfg.BaseEndpoint = aws.String(a.Base)
	}
	if len(a.Services) > 0 {
		cfg.ConfigSources = append(cfg.ConfigSources, serviceEndpoints(a.Services))
	}
}

// InEffect describes each override in use, one line each, for the log;
// nil when the SDK's own endpoints are used.
func (a AWS) InEffect() []string {
	if a.Ignored {
		return []string{IgnoreVar + " is true: every AWS endpoint override is ignored"}
	}
	var lines []string
	if a.Base != "" {
		covered := []string{}
		for _, id := range services {
			if _, own := a.Services[id]; !own {
				covered = append(covered, id)
			}
		}
		if len(covered) > 0 {
			lines = append(lines, fmt.Sprintf("%s=%s (%s)", BaseVar, a.Base, strings.Join(covered, ", ")))
		}
	}
	for _, id := range services {
		if v, ok := a.Services[id]; ok {
			lines = append(lines, fmt.Sprintf("%s=%s (%s)", ServiceVar(id), v, id))
		}
	}
	return lines
}

// serviceEndpoints is the configuration source the SDK's clients ask for a
// service's own endpoint (its GetServiceBaseEndpoint method).
type serviceEndpoints map[string]string

func (s serviceEndpoints) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	v, ok := s[sdkID]
	return v, ok, nil
}
