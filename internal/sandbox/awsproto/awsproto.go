// Package awsproto is the AWS side of the sandbox's wire: one endpoint that
// routes awsJson1_1 calls by X-Amz-Target and awsQuery calls by their API
// version to the service registered for them, verifies SigV4 signatures,
// and writes results and AWS errors in each protocol's form.
package awsproto

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// Protocol is the wire protocol of an AWS service.
type Protocol int

const (
	// JSON is awsJson1_1: a JSON body, the operation in X-Amz-Target
	// (ECR, ECS, CloudWatch Logs, CodeDeploy).
	JSON Protocol = iota + 1
	// Query is awsQuery: a form body with Action and Version, XML results
	// (STS, IAM).
	Query
)

// API is how clients reach a service on the endpoint.
type API struct {
	// Name is the service's SigV4 signing name (sts, ecr, ecs), also its
	// name in faults and logs.
	Name string
	// Protocol is the service's wire protocol.
	Protocol Protocol
	// Target is a JSON service's X-Amz-Target prefix, e.g.
	// AmazonEC2ContainerServiceV20141113.
	Target string
	// Version is the API version a Query service's calls carry, e.g.
	// 2011-06-15, and Namespace the XML namespace of its responses.
	Version, Namespace string
	// Unsigned are the operations AWS accepts without a signature.
	Unsigned []string
	// SigningRegion is, for a global service such as IAM, the region its
	// calls are signed for besides the endpoint's own: us-east-1.
	SigningRegion string
}

// Service is one AWS service behind the endpoint.
type Service interface {
	// API says how calls reach the service.
	API() API
	// Handle serves one call. The result is written in the service's
	// protocol: a value that marshals to JSON, or for Query a value that
	// marshals to the <{Operation}Result> XML element.
	Handle(c *Call) (any, *Error)
}

// Call is one AWS API call as a service sees it.
type Call struct {
	// Service is the name of the service called (sts, ecr, ecs).
	Service string
	// Operation is the API action, e.g. AssumeRole or DescribeServices.
	Operation string
	Request   *http.Request
	Body      []byte
	// Form holds the parameters of an awsQuery call.
	Form url.Values
	// Caller is the verified session of a signed call; nil when unsigned.
	Caller *Session
}

// Context is the request's context: it ends when the client goes away.
func (c *Call) Context() context.Context { return c.Request.Context() }

// DecodeJSON decodes an awsJson1_1 request body into v.
func (c *Call) DecodeJSON(v any) *Error {
	if len(c.Body) == 0 {
		return nil
	}
	if err := json.Unmarshal(c.Body, v); err != nil {
		return &Error{Status: 400, Code: "SerializationException", Message: err.Error()}
	}
	return nil
}

// Error is an AWS error response: the HTTP status, the error code the SDK
// turns into a typed error, and the message a user reads.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf is a client error (400) with code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Status: 400, Code: code, Message: fmt.Sprintf(format, args...)}
}
