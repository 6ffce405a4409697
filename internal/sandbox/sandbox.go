// Package sandbox runs faithful local stand-ins for GitHub's OIDC token
// service, AWS STS, Amazon ECR (its API and a registry front) and Amazon ECS,
// so that the real AWS SDK, the AWS CLI and registry clients can be tested
// against them over the real wire protocols.
package sandbox

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Options tune a sandbox beyond its world.
type Options struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// RegistryBackend is the base URL of an external OCI registry (e.g.
	// http://127.0.0.1:5000) that the ECR registry front forwards to. When
	// empty an in-process registry is used.
	RegistryBackend string
	// Logf, when set, receives one line per request the sandbox serves.
	Logf func(format string, args ...any)
}

// Sandbox is a running set of stand-in services. Its addresses are on
// loopback; Close stops them.
type Sandbox struct {
	world *World
	opts  Options
	now   func() time.Time

	sessions *sessionStore
	faults   *faultSet

	awsListener    net.Listener
	githubListener net.Listener
	servers        []*http.Server

	// The services; each lives in its own file.
	github   *githubService
	sts      *stsService
	ecr      *ecrService
	ecs      *ecsService
	closers  []func()
	closeMux sync.Once
}

// Start starts every service of the sandbox on loopback ports.
func Start(ctx context.Context, world *World, opts Options) (*Sandbox, error) {
	if world == nil {
		return nil, errors.New("sandbox: no world")
	}
	if err := world.normalize(); err != nil {
		return nil, err
	}
	s := &Sandbox{world: world, opts: opts, now: opts.Now}
	if s.now == nil {
		s.now = time.Now
	}
	s.sessions = newSessionStore(s.now, time.Duration(world.CredentialLifetimeSeconds)*time.Second)
	s.faults = newFaultSet(world.Faults)

	var err error
	if s.awsListener, err = listenLoopback(); err != nil {
		return nil, err
	}
	if s.githubListener, err = listenLoopback(); err != nil {
		s.awsListener.Close()
		return nil, err
	}
	if s.github, err = newGitHubService(s); err != nil {
		s.Close()
		return nil, fmt.Errorf("sandbox github: %w", err)
	}
	s.sts = newSTSService(s)
	if s.ecr, err = newECRService(ctx, s); err != nil {
		s.Close()
		return nil, fmt.Errorf("sandbox ecr: %w", err)
	}
	if s.ecs, err = newECSService(ctx, s); err != nil {
		s.Close()
		return nil, fmt.Errorf("sandbox ecs: %w", err)
	}
	s.serve(s.awsListener, http.HandlerFunc(s.serveAWS))
	s.serve(s.githubListener, s.github)
	return s, nil
}

func listenLoopback() (net.Listener, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sandbox listen on loopback: %w", err)
	}
	return l, nil
}

// serve serves h on l until Close.
func (s *Sandbox) serve(l net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.servers = append(s.servers, srv)
	go srv.Serve(l)
}

// Close stops every service.
func (s *Sandbox) Close() error {
	s.closeMux.Do(func() {
		for _, srv := range s.servers {
			srv.Close()
		}
		if s.awsListener != nil {
			s.awsListener.Close()
		}
		if s.githubListener != nil {
			s.githubListener.Close()
		}
		for i := len(s.closers) - 1; i >= 0; i-- {
			s.closers[i]()
		}
	})
	return nil
}

// World is the world the sandbox serves. Callers must not change it while
// the sandbox runs.
func (s *Sandbox) World() *World { return s.world }

// AWSEndpoint is the URL to give the SDK as AWS_ENDPOINT_URL: STS, ECR and
// ECS all answer there, told apart by protocol as AWS's endpoints would be.
func (s *Sandbox) AWSEndpoint() string { return "http://" + s.awsListener.Addr().String() }

// GitHubURL is the base URL of the token service (its discovery document is
// at /.well-known/openid-configuration).
func (s *Sandbox) GitHubURL() string { return "http://" + s.githubListener.Addr().String() }

// Region is the AWS region the sandbox serves.
func (s *Sandbox) Region() string { return s.world.Region }

// InjectFault adds a fault; see Fault.
func (s *Sandbox) InjectFault(f Fault) { s.faults.add(f) }

// IssuedCredentials is how many credentials STS has issued.
func (s *Sandbox) IssuedCredentials() int { return s.sessions.issuedCount() }

// Secrets lists every secret the sandbox has handed out so far (ID tokens,
// secret keys, session tokens, registry passwords), for tests that prove none
// of them reached a log.
func (s *Sandbox) Secrets() []string {
	var out []string
	for _, sess := range s.sessions.all() {
		out = append(out, sess.SecretAccessKey, sess.SessionToken)
	}
	out = append(out, s.github.issuedSecrets()...)
	out = append(out, s.ecr.issuedSecrets()...)
	return out
}

// Env is the environment a client needs to use the sandbox as a GitHub
// Actions job would: the token request variables, the AWS endpoint and
// region, and the run's GITHUB_* variables.
func (s *Sandbox) Env() map[string]string {
	c := s.world.GitHub.Claims
	env := map[string]string{
		"ACTIONS_ID_TOKEN_REQUEST_URL":   s.github.requestURL(),
		"ACTIONS_ID_TOKEN_REQUEST_TOKEN": s.github.requestToken,
		"AWS_ENDPOINT_URL":               s.AWSEndpoint(),
		"AWS_REGION":                     s.world.Region,
		"GITHUB_REPOSITORY":              c["repository"],
		"GITHUB_REPOSITORY_OWNER":        c["repository_owner"],
		"GITHUB_REF":                     c["ref"],
		"GITHUB_SHA":                     c["sha"],
		"GITHUB_RUN_ID":                  c["run_id"],
		"GITHUB_RUN_ATTEMPT":             c["run_attempt"],
		"GITHUB_ACTOR":                   c["actor"],
		"GITHUB_WORKFLOW":                c["workflow"],
		"GITHUB_EVENT_NAME":              c["event_name"],
	}
	for k, v := range env {
		if v == "" {
			delete(env, k)
		}
	}
	return env
}

// Call is one AWS API call as a service handler sees it.
type Call struct {
	// Service is sts, ecr or ecs.
	Service string
	// Operation is the API action, e.g. AssumeRole or DescribeServices.
	Operation string
	Request   *http.Request
	Body      []byte
	// Form holds the parameters of an awsQuery (STS) call.
	Form url.Values
	// Caller is the verified session of a signed call; nil when unsigned.
	Caller *Session
}

// DecodeJSON decodes an awsJson1_1 request body into v.
func (c *Call) DecodeJSON(v any) *APIError {
	if len(c.Body) == 0 {
		return nil
	}
	if err := json.Unmarshal(c.Body, v); err != nil {
		return &APIError{Status: 400, Code: "SerializationException", Message: err.Error()}
	}
	return nil
}

// APIError is an AWS error response: the HTTP status, the error code the
// SDK turns into a typed error, and the message a user reads.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string { return e.Code + ": " + e.Message }

// jsonTargets maps an X-Amz-Target prefix to the service it names.
var jsonTargets = map[string]string{
	"AmazonEC2ContainerRegistry_V20150921": "ecr",
	"AmazonEC2ContainerServiceV20141113":   "ecs",
}

// unsignedOperations are the calls AWS accepts without a signature.
var unsignedOperations = map[string]bool{"sts.AssumeRoleWithWebIdentity": true}

// serveAWS is the one AWS endpoint: awsJson1_1 calls are routed by their
// X-Amz-Target, awsQuery calls (STS) by their Action parameter.
func (s *Sandbox) serveAWS(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	c := &Call{Request: r, Body: body}
	isJSON := false
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		prefix, op, _ := strings.Cut(target, ".")
		svc, ok := jsonTargets[prefix]
		if !ok {
			writeJSONError(w, &APIError{Status: 400, Code: "UnknownOperationException", Message: "unknown target " + target})
			return
		}
		c.Service, c.Operation, isJSON = svc, op, true
	} else {
		form, err := url.ParseQuery(string(body))
		if err != nil || r.Method != http.MethodPost {
			form = r.URL.Query()
		}
		c.Form = form
		c.Service, c.Operation = "sts", form.Get("Action")
	}
	s.logf("%s %s", c.Service, c.Operation)
	if c.Service == "sts" {
		s.sts.recordCall(c.Operation)
	}

	respond := func(v any, apiErr *APIError) {
		if isJSON {
			if apiErr != nil {
				writeJSONError(w, apiErr)
				return
			}
			writeJSON(w, v)
			return
		}
		if apiErr != nil {
			writeQueryError(w, apiErr)
			return
		}
		writeQueryResult(w, c.Operation, v)
	}

	if f, ok := s.faults.take(c.Service, c.Operation); ok {
		if f.LatencyMillis > 0 {
			select {
			case <-time.After(time.Duration(f.LatencyMillis) * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
		if f.Code != "" || f.Status != 0 {
			respond(nil, f.apiError())
			return
		}
	}
	if !unsignedOperations[c.Service+"."+c.Operation] {
		sess, apiErr := s.verifySigV4(r, body, c.Service, isJSON)
		if apiErr != nil {
			respond(nil, apiErr)
			return
		}
		c.Caller = sess
	}
	switch c.Service {
	case "sts":
		respond(s.sts.handle(c))
	case "ecr":
		respond(s.ecr.handle(c))
	case "ecs":
		respond(s.ecs.handle(c))
	}
}

func (s *Sandbox) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf(format, args...)
	}
}

// authorize evaluates the caller's role permissions as IAM does: an explicit
// Deny wins, otherwise some Allow must match the action and the resource.
// The error is the one AWS returns to an awsJson1_1 caller.
func (s *Sandbox) authorize(c *Call, action, resource string) *APIError {
	return s.authorizeWith(c, action, resource, nil)
}

// authorizeWith is authorize with the request's condition keys (e.g.
// ecs:cluster, iam:PassedToService), which statements' Conditions test. The
// global keys aws:PrincipalArn, aws:PrincipalAccount and aws:RequestedRegion
// are always present.
func (s *Sandbox) authorizeWith(c *Call, action, resource string, keys map[string]string) *APIError {
	if c.Caller == nil {
		return &APIError{Status: 400, Code: "AccessDeniedException", Message: "anonymous callers are not authorized to perform: " + action}
	}
	ctx := map[string][]string{
		"aws:principalarn":     {c.Caller.RoleARN()},
		"aws:principalaccount": {c.Caller.Account},
		"aws:requestedregion":  {s.world.Region},
	}
	for k, v := range keys {
		ctx[strings.ToLower(k)] = []string{v}
	}
	role := s.role(c.Caller.Account, c.Caller.RoleName)
	if role != nil && policyAllows(role.Permissions, action, resource, ctx) {
		return nil
	}
	return &APIError{Status: 400, Code: "AccessDeniedException", Message: fmt.Sprintf(
		"User: %s is not authorized to perform: %s on resource: %s because no identity-based policy allows the %s action",
		c.Caller.AssumedRoleARN(), action, resource, action)}
}

// role looks a role up in the world; nil when absent.
func (s *Sandbox) role(account, name string) *Role {
	acct := s.world.Accounts[account]
	if acct == nil {
		return nil
	}
	return acct.Roles[name]
}

// policyAllows reports whether an identity policy allows action on
// resource for a request with the condition keys ctx (lower-case names).
// A statement applies only when its Conditions hold, as in IAM.
func policyAllows(p PolicyDocument, action, resource string, ctx map[string][]string) bool {
	allowed := false
	for _, st := range p.Statement {
		if !matchesAny(st.Action, action, true) {
			continue
		}
		res := st.Resource
		if len(res) == 0 {
			res = StringList{"*"}
		}
		if !matchesAny(res, resource, false) {
			continue
		}
		if !conditionsHold(st.Condition, ctx) {
			continue
		}
		switch st.Effect {
		case "Deny":
			return false
		case "Allow":
			allowed = true
		}
	}
	return allowed
}

func matchesAny(patterns []string, value string, foldCase bool) bool {
	for _, p := range patterns {
		if foldCase {
			if globMatch(strings.ToLower(p), strings.ToLower(value)) {
				return true
			}
		} else if globMatch(p, value) {
			return true
		}
	}
	return false
}

// globMatch matches IAM's wildcards: * for any run of characters, ? for one.
func globMatch(pattern, value string) bool {
	p, v := 0, 0
	star, mark := -1, 0
	for v < len(value) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == value[v]):
			p++
			v++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, v
			p++
		case star >= 0:
			p = star + 1
			mark++
			v = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

func newRequestID() string {
	b := randomUpper(32)
	return strings.ToLower(b[0:8] + "-" + b[8:12] + "-" + b[12:16] + "-" + b[16:20] + "-" + b[20:32])
}

func writeJSON(w http.ResponseWriter, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		writeJSONError(w, &APIError{Status: 500, Code: "InternalFailure", Message: err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", newRequestID())
	w.Write(data)
}

func writeJSONError(w http.ResponseWriter, e *APIError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", newRequestID())
	w.Header().Set("X-Amzn-Errortype", e.Code)
	w.WriteHeader(e.Status)
	json.NewEncoder(w).Encode(map[string]string{"__type": e.Code, "message": e.Message})
}

const stsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"

// writeQueryResult writes an awsQuery response. result marshals to the
// <{Operation}Result> element: its type names it with an XMLName field.
func writeQueryResult(w http.ResponseWriter, op string, result any) {
	inner, err := xml.Marshal(result)
	if err != nil {
		writeQueryError(w, &APIError{Status: 500, Code: "InternalFailure", Message: err.Error()})
		return
	}
	id := newRequestID()
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", id)
	fmt.Fprintf(w, `<%sResponse xmlns="%s">`, op, stsNamespace)
	w.Write(inner)
	fmt.Fprintf(w, "<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>", id, op)
}

func writeQueryError(w http.ResponseWriter, e *APIError) {
	id := newRequestID()
	kind := "Sender"
	if e.Status >= 500 {
		kind = "Receiver"
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", id)
	w.WriteHeader(e.Status)
	var msg strings.Builder
	xml.EscapeText(&msg, []byte(e.Message))
	fmt.Fprintf(w, `<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`,
		stsNamespace, kind, e.Code, msg.String(), id)
}
