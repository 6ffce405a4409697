package sandbox

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// World describes everything that exists in the sandbox: the GitHub run whose
// token the token service issues, and the AWS accounts with their roles, ECR
// repositories and ECS clusters. Its JSON form is documented in
// docs/sandbox-world.md; DemoWorld is a complete example.
type World struct {
	// Region is the one AWS region the sandbox serves.
	Region string `json:"region"`
	// CredentialLifetimeSeconds, when positive, caps the lifetime of every
	// credential STS issues, whatever the caller asked for. Tests set a few
	// seconds to prove that clients refresh.
	CredentialLifetimeSeconds int `json:"credentialLifetimeSeconds,omitempty"`
	// GitHub describes the workflow run whose ID tokens the token service signs.
	GitHub GitHubRun `json:"github"`
	// Accounts maps a 12-digit account ID to what lives in it.
	Accounts map[string]*Account `json:"accounts"`
	// Faults are injected from the start; tests may add more at run time.
	Faults []Fault `json:"faults,omitempty"`
	// ECS tunes the ECS stand-in: the speed of simulated rollouts and the
	// API throttling limits. Every field has a default; see ECSSettings.
	ECS *ECSSettings `json:"ecs,omitempty"`
}

// GitHubRun is the workflow run that the token service stands in for.
type GitHubRun struct {
	// Issuer is the "iss" claim and the OIDC provider URL that trust policies
	// name; by default GitHub's own, https://token.actions.githubusercontent.com.
	Issuer string `json:"issuer,omitempty"`
	// TokenLifetimeSeconds is the ID token's lifetime; GitHub's is 300.
	TokenLifetimeSeconds int `json:"tokenLifetimeSeconds,omitempty"`
	// Claims are the run's facts: repository, ref, sha, environment, actor,
	// run_id, run_attempt, event_name, workflow, job_workflow_ref, and so on.
	// The token service derives "sub" from them as GitHub does unless "sub"
	// is given here.
	Claims map[string]string `json:"claims"`
	// IssuedAtOffsetSeconds shifts the "iat", "nbf" and "exp" of every token
	// from the sandbox's clock: a negative offset issues tokens in the past
	// (-600 gives tokens that expired five minutes ago), a positive one
	// issues tokens that are not valid yet.
	IssuedAtOffsetSeconds int `json:"issuedAtOffsetSeconds,omitempty"`
}

// Account is one AWS account.
type Account struct {
	// OIDCProviders are the IAM OIDC identity providers of the account: the
	// issuer URL without scheme and the audiences (client IDs) it accepts.
	OIDCProviders []OIDCProvider `json:"oidcProviders,omitempty"`
	// Roles maps a role name to the role.
	Roles map[string]*Role `json:"roles,omitempty"`
	// Repositories maps an ECR repository name to its settings.
	Repositories map[string]*Repository `json:"repositories,omitempty"`
	// Clusters maps an ECS cluster name to the cluster.
	Clusters map[string]*Cluster `json:"clusters,omitempty"`
	// TaskDefinitions are registered in order at start-up, each becoming the
	// next revision of its family.
	TaskDefinitions []json.RawMessage `json:"taskDefinitions,omitempty"`
}

// OIDCProvider is an IAM OpenID Connect provider.
type OIDCProvider struct {
	// URL is the issuer without its scheme, e.g. token.actions.githubusercontent.com.
	URL string `json:"url"`
	// ClientIDs are the accepted audiences, e.g. sts.amazonaws.com.
	ClientIDs []string `json:"clientIds"`
}

// Role is an IAM role.
type Role struct {
	// TrustPolicy is the IAM trust policy document, in AWS's own JSON form.
	TrustPolicy PolicyDocument `json:"trustPolicy"`
	// Permissions is the identity policy that governs what sessions of the
	// role may call. An empty policy allows nothing.
	Permissions PolicyDocument `json:"permissions"`
	// MaxSessionDuration is in seconds, 3600 to 43200; 0 means 3600.
	MaxSessionDuration int `json:"maxSessionDuration,omitempty"`
}

// Repository is an ECR repository.
type Repository struct {
	// ImageTagMutability is MUTABLE (the default) or IMMUTABLE.
	ImageTagMutability string `json:"imageTagMutability,omitempty"`
}

// Cluster is an ECS cluster and its services.
type Cluster struct {
	// Services maps a service name to its definition.
	Services map[string]*ServiceSpec `json:"services,omitempty"`
}

// ServiceSpec is an ECS service as the world file describes it.
type ServiceSpec struct {
	// TaskDefinition is the family:revision the service runs.
	TaskDefinition string `json:"taskDefinition"`
	// DesiredCount is the number of tasks.
	DesiredCount int `json:"desiredCount"`
	// Status is ACTIVE (the default) or DRAINING.
	Status string `json:"status,omitempty"`
	// CircuitBreaker enables the deployment circuit breaker with rollback.
	CircuitBreaker bool `json:"circuitBreaker,omitempty"`
	// RolloutSeconds is how long a healthy rollout takes in simulation.
	RolloutSeconds float64 `json:"rolloutSeconds,omitempty"`
	// MaximumPercent is the deployment's upper limit on running plus pending
	// tasks, as a percentage of DesiredCount; ECS's default is 200.
	MaximumPercent int `json:"maximumPercent,omitempty"`
	// MinimumHealthyPercent is the deployment's lower limit on running
	// tasks, as a percentage of DesiredCount; nil means ECS's default, 100.
	MinimumHealthyPercent *int `json:"minimumHealthyPercent,omitempty"`
	// NoRollback, with CircuitBreaker, enables the circuit breaker without
	// rollback: a failed deployment stops and the service keeps what runs.
	NoRollback bool `json:"noRollback,omitempty"`
}

// PolicyDocument is an IAM policy document.
type PolicyDocument struct {
	Version   string      `json:"Version,omitempty"`
	Statement []Statement `json:"Statement"`
}

// Statement is one statement of an IAM policy. Action, Resource and the
// Principal values accept a string or a list of strings, as IAM does.
type Statement struct {
	Sid       string                           `json:"Sid,omitempty"`
	Effect    string                           `json:"Effect"`
	Principal map[string]StringList            `json:"Principal,omitempty"`
	Action    StringList                       `json:"Action"`
	Resource  StringList                       `json:"Resource,omitempty"`
	Condition map[string]map[string]StringList `json:"Condition,omitempty"`
}

// StringList is an IAM value that may be written as one string or a list.
type StringList []string

// UnmarshalJSON accepts "x" as well as ["x", "y"].
func (s *StringList) UnmarshalJSON(data []byte) error {
	var one string
	if err := json.Unmarshal(data, &one); err == nil {
		*s = StringList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(data, &many); err != nil {
		return fmt.Errorf("want a string or a list of strings: %w", err)
	}
	*s = many
	return nil
}

// DefaultIssuer is GitHub's OIDC issuer.
const DefaultIssuer = "https://token.actions.githubusercontent.com"

var accountIDPattern = regexp.MustCompile(`^\d{12}$`)

// ParseWorld reads a world from its JSON form, rejecting unknown fields so
// that a typo in a test's world is an error, not a silently empty sandbox.
func ParseWorld(data []byte) (*World, error) {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	var w World
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("parse world: %w", err)
	}
	if err := w.normalize(); err != nil {
		return nil, err
	}
	return &w, nil
}

// LoadWorld reads a world file.
func LoadWorld(path string) (*World, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read world file: %w", err)
	}
	w, err := ParseWorld(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return w, nil
}

//go:embed demo_world.json
var demoWorldJSON []byte

// DemoWorld returns the built-in world that `oidc-ecs-deploy demo` runs in.
func DemoWorld() *World {
	w, err := ParseWorld(demoWorldJSON)
	if err != nil {
		panic("built-in demo world: " + err.Error())
	}
	return w
}

// DemoWorldJSON returns the built-in world in its file form, a starting point
// for a world of one's own.
func DemoWorldJSON() []byte { return append([]byte(nil), demoWorldJSON...) }

func (w *World) normalize() error {
	if w.Region == "" {
		w.Region = "us-east-1"
	}
	if w.GitHub.Issuer == "" {
		w.GitHub.Issuer = DefaultIssuer
	}
	if w.GitHub.TokenLifetimeSeconds == 0 {
		w.GitHub.TokenLifetimeSeconds = 300
	}
	if w.GitHub.Claims == nil {
		w.GitHub.Claims = map[string]string{}
	}
	for id, acct := range w.Accounts {
		if !accountIDPattern.MatchString(id) {
			return fmt.Errorf("account %q: an account ID is 12 digits", id)
		}
		if acct == nil {
			w.Accounts[id] = &Account{}
			continue
		}
		for name, role := range acct.Roles {
			if role == nil {
				return fmt.Errorf("account %s role %q: empty", id, name)
			}
			if role.MaxSessionDuration == 0 {
				role.MaxSessionDuration = 3600
			}
			if role.MaxSessionDuration < 3600 || role.MaxSessionDuration > 43200 {
				return fmt.Errorf("account %s role %q: maxSessionDuration %d is outside 3600-43200", id, name, role.MaxSessionDuration)
			}
		}
		for name, repo := range acct.Repositories {
			if repo == nil {
				acct.Repositories[name] = &Repository{ImageTagMutability: "MUTABLE"}
				continue
			}
			if repo.ImageTagMutability == "" {
				repo.ImageTagMutability = "MUTABLE"
			}
		}
	}
	return nil
}
