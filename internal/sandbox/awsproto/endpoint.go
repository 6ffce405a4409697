package awsproto

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/faults"
)

// EndpointConfig is what an Endpoint needs besides its services.
type EndpointConfig struct {
	// Credentials looks up the sessions signed calls are verified against.
	Credentials Credentials
	// Region is the one region the endpoint serves; calls must be signed
	// for it.
	Region string
	// Now is the clock signatures and credentials are checked against.
	Now func() time.Time
	// Faults are applied to every call before its signature is checked.
	Faults faults.Source
	// Logf, when set, receives one line per call.
	Logf func(format string, args ...any)
}

// Endpoint is the one AWS endpoint of the sandbox: every service registered
// on it answers at the same URL, told apart by protocol as AWS's own
// endpoints would be by host.
type Endpoint struct {
	cfg      EndpointConfig
	verifier *Verifier

	byTarget  map[string]registered // JSON services by X-Amz-Target prefix
	byVersion map[string]registered // Query services by API version
	byName    map[string]registered

	mu    sync.Mutex
	calls map[string]int // by service + "." + operation
}

// registered is a service and how it is reached.
type registered struct {
	api      API
	service  Service
	unsigned map[string]bool
}

// NewEndpoint returns an endpoint with no services yet.
func NewEndpoint(cfg EndpointConfig) *Endpoint {
	return &Endpoint{
		cfg:       cfg,
		verifier:  &Verifier{Credentials: cfg.Credentials, Region: cfg.Region, Now: cfg.Now},
		byTarget:  map[string]registered{},
		byVersion: map[string]registered{},
		byName:    map[string]registered{},
		calls:     map[string]int{},
	}
}

// Register adds a service to the endpoint. Services are registered before
// the endpoint serves; a second service with the same name, target or
// version is a programming error.
func (e *Endpoint) Register(s Service) {
	api := s.API()
	reg := registered{api: api, service: s, unsigned: map[string]bool{}}
	for _, op := range api.Unsigned {
		reg.unsigned[op] = true
	}
	if _, dup := e.byName[api.Name]; dup {
		panic("awsproto: service " + api.Name + " registered twice")
	}
	e.byName[api.Name] = reg
	switch api.Protocol {
	case JSON:
		e.byTarget[api.Target] = reg
	case Query:
		e.byVersion[api.Version] = reg
	default:
		panic("awsproto: service " + api.Name + " has no protocol")
	}
}

// Calls is how many calls of a service's operation have reached the
// endpoint, failed ones included: tests use it to tell a client that fails
// fast from one that retries.
func (e *Endpoint) Calls(service, operation string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls[service+"."+operation]
}

// ServeHTTP serves one AWS API call: it routes the call to its service,
// applies any fault, verifies the signature (unless the operation is one
// AWS accepts unsigned), and writes the service's answer.
func (e *Endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	c := &Call{Request: r, Body: body}
	var reg registered
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		prefix, op, _ := strings.Cut(target, ".")
		var ok bool
		if reg, ok = e.byTarget[prefix]; !ok {
			writeJSONError(w, &Error{Status: 400, Code: "UnknownOperationException", Message: "unknown target " + target})
			return
		}
		c.Operation = op
	} else {
		form, err := url.ParseQuery(string(body))
		if err != nil || r.Method != http.MethodPost {
			form = r.URL.Query()
		}
		c.Form, c.Operation = form, form.Get("Action")
		var ok bool
		if reg, ok = e.queryService(form.Get("Version"), r); !ok {
			writeQueryError(w, "", &Error{Status: 400, Code: "InvalidAction", Message: fmt.Sprintf(
				"Could not find operation %s for version %s", c.Operation, form.Get("Version"))})
			return
		}
	}
	c.Service = reg.api.Name
	e.logf("%s %s", c.Service, c.Operation)
	e.mu.Lock()
	e.calls[c.Service+"."+c.Operation]++
	e.mu.Unlock()

	fault, faulted := e.cfg.Faults.Take(c.Service, c.Operation)
	if faulted && !fault.AnswerLost {
		if e.strike(w, r, reg, c, fault) {
			return
		}
	}
	if !reg.unsigned[c.Operation] {
		sess, apiErr := e.verifier.VerifyGlobal(r, body, c.Service, reg.api.Protocol, reg.api.SigningRegion)
		if apiErr != nil {
			respond(w, reg.api, c.Operation, nil, apiErr)
			return
		}
		c.Caller = sess
	}
	result, apiErr := reg.service.Handle(c)
	if faulted && fault.AnswerLost {
		// The work is done; what the client hears of it is the fault's.
		if e.strike(w, r, reg, c, fault) {
			return
		}
	}
	respond(w, reg.api, c.Operation, result, apiErr)
}

// strike applies a fault to a call: it waits out its latency and answers
// its error. It reports whether the call's answer is settled (the error
// was written, or the client went away) rather than left to the service.
func (e *Endpoint) strike(w http.ResponseWriter, r *http.Request, reg registered, c *Call, fault faults.Fault) bool {
	f, err := fault.Strike(r.Context())
	if err != nil {
		return true
	}
	if f == nil {
		return false
	}
	status, code, msg := f.Response()
	respond(w, reg.api, c.Operation, nil, &Error{Status: status, Code: code, Message: msg})
	return true
}

// queryService finds the awsQuery service of a call by its API version, or
// failing that by the service its signature is scoped to.
func (e *Endpoint) queryService(version string, r *http.Request) (registered, bool) {
	if reg, ok := e.byVersion[version]; ok {
		return reg, true
	}
	if a, ok := parseAuthorization(r.Header.Get("Authorization")); ok {
		if reg, ok := e.byName[a.Service]; ok && reg.api.Protocol == Query {
			return reg, true
		}
	}
	return registered{}, false
}

func (e *Endpoint) logf(format string, args ...any) {
	if e.cfg.Logf != nil {
		e.cfg.Logf(format, args...)
	}
}
