package awsproto_test

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/awsproto"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/faults"
)

// echo is a service of the test's own: it answers every call with its
// operation, or with an error for the operation "Fail".
type echo struct{ api awsproto.API }

func (e echo) API() awsproto.API { return e.api }

type echoResult struct {
	XMLName   xml.Name `xml:"EchoResult" json:"-"`
	Operation string   `json:"operation"`
}

func (e echo) Handle(c *awsproto.Call) (any, *awsproto.Error) {
	if c.Operation == "Fail" {
		return nil, awsproto.Errorf("ValidationException", "failed on purpose")
	}
	return echoResult{Operation: c.Operation}, nil
}

// noCredentials knows no access key.
type noCredentials struct{}

func (noCredentials) Lookup(string) (*awsproto.Session, bool) { return nil, false }

// TestEndpointRouting registers two services of the test's own, one per
// protocol, and checks what the endpoint does before and after they answer.
func TestEndpointRouting(t *testing.T) { //nolint:tparallel // the cases run in turn: the fault and the counts depend on their order
	t.Parallel()
	set := faults.NewSet([]faults.Fault{{Service: "jsonsvc", Operation: "Throttled", Code: "ThrottlingException", Times: 1}})
	e := awsproto.NewEndpoint(awsproto.EndpointConfig{Credentials: noCredentials{}, Region: "us-east-1", Now: time.Now, Faults: set})
	e.Register(echo{awsproto.API{Name: "jsonsvc", Protocol: awsproto.JSON, Target: "JSONService_20240101", Unsigned: []string{"Hello", "Fail", "Throttled"}}})
	e.Register(echo{awsproto.API{Name: "querysvc", Protocol: awsproto.Query, Version: "2024-01-01", Namespace: "https://querysvc.example.invalid/doc/2024-01-01/", Unsigned: []string{"Hello"}}})
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)

	post := func(t *testing.T, target, form string) (int, http.Header, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(form))
		if err != nil {
			t.Fatal(err)
		}
		if target != "" {
			req.Header.Set("X-Amz-Target", target)
			req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		} else {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(body)
	}
	query := func(action, version string) string {
		return url.Values{"Action": {action}, "Version": {version}}.Encode()
	}
	tests := []struct {
		name, target, form string
		status             int
		contains           string
	}{
		{"json_unsigned", "JSONService_20240101.Hello", "{}", 200, `"operation":"Hello"`},
		{"json_error", "JSONService_20240101.Fail", "{}", 400, `"__type":"ValidationException"`},
		{"json_signed_without_signature", "JSONService_20240101.Secret", "{}", 400, `MissingAuthenticationTokenException`},
		{"json_fault", "JSONService_20240101.Throttled", "{}", 400, `"__type":"ThrottlingException"`},
		{"json_unknown_target", "Nobody_20240101.Hello", "{}", 400, `UnknownOperationException`},
		{"query_by_version", "", query("Hello", "2024-01-01"), 200, `<HelloResponse xmlns="https://querysvc.example.invalid/doc/2024-01-01/"><EchoResult><Operation>Hello</Operation></EchoResult>`},
		{"query_signed_without_signature", "", query("Secret", "2024-01-01"), 403, `<Code>MissingAuthenticationToken</Code>`},
		{"query_unknown_version", "", query("Hello", "1999-01-01"), 400, `<Code>InvalidAction</Code>`},
	}
	// The cases run in turn: the fault and the call counts checked below
	// depend on every one of them having run.
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, header, body := post(t, tt.target, tt.form)
			if status != tt.status || !strings.Contains(body, tt.contains) {
				t.Errorf("status %d body %s, want %d containing %s", status, body, tt.status, tt.contains)
			}
			if header.Get("X-Amzn-Requestid") == "" {
				t.Error("no X-Amzn-Requestid")
			}
		})
	}
	// Faults are taken per call: the throttled operation answers next time.
	if status, _, body := post(t, "JSONService_20240101.Throttled", "{}"); status != 200 {
		t.Errorf("second call after a one-time fault: %d %s", status, body)
	}
	var result echoResult
	_, _, body := post(t, "JSONService_20240101.Hello", "{}")
	if err := json.Unmarshal([]byte(body), &result); err != nil || result.Operation != "Hello" {
		t.Errorf("JSON result %s: %v", body, err)
	}
	for _, c := range []struct {
		service, operation string
		want               int
	}{{"jsonsvc", "Hello", 2}, {"jsonsvc", "Throttled", 2}, {"querysvc", "Secret", 1}, {"querysvc", "Nothing", 0}} {
		if got := e.Calls(c.service, c.operation); got != c.want {
			t.Errorf("Calls(%s, %s) = %d, want %d", c.service, c.operation, got, c.want)
		}
	}
}

// counting is a service of the test's own that counts the calls it carried
// out.
type counting struct {
	echo
	mu      sync.Mutex
	handled map[string]int
}

func (c *counting) Handle(call *awsproto.Call) (any, *awsproto.Error) {
	c.mu.Lock()
	c.handled[call.Operation]++
	c.mu.Unlock()
	return c.echo.Handle(call)
}

func (c *counting) count(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.handled[op]
}

// TestBlackHolesAndLostAnswers: a black hole never answers and carries
// nothing out; a lost answer carries the call out and then fails or stalls,
// as a server that fails after committing, or a dropped connection, does.
func TestBlackHolesAndLostAnswers(t *testing.T) {
	t.Parallel()
	set := faults.NewSet([]faults.Fault{
		{Service: "jsonsvc", Operation: "Stall", BlackHole: true},
		{Service: "jsonsvc", Operation: "CommitThenFail", AnswerLost: true, Code: "ServerException", Status: 500, Times: 1},
		{Service: "jsonsvc", Operation: "CommitThenStall", AnswerLost: true, BlackHole: true},
	})
	e := awsproto.NewEndpoint(awsproto.EndpointConfig{Credentials: noCredentials{}, Region: "us-east-1", Now: time.Now, Faults: set})
	svc := &counting{echo: echo{awsproto.API{Name: "jsonsvc", Protocol: awsproto.JSON, Target: "JSONService_20240101",
		Unsigned: []string{"Stall", "CommitThenFail", "CommitThenStall"}}}, handled: map[string]int{}}
	e.Register(svc)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)

	tests := []struct {
		op          string
		wantStatus  int // 0: no answer within the client's timeout
		wantHandled int
	}{
		{"Stall", 0, 0},
		{"CommitThenFail", 500, 1},
		{"CommitThenStall", 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Amz-Target", "JSONService_20240101."+tt.op)
			client := &http.Client{Timeout: 300 * time.Millisecond}
			resp, err := client.Do(req)
			status := 0
			if err == nil {
				status = resp.StatusCode
				resp.Body.Close()
			}
			if status != tt.wantStatus {
				t.Errorf("status %d (%v), want %d", status, err, tt.wantStatus)
			}
			if got := svc.count(tt.op); got != tt.wantHandled {
				t.Errorf("the service carried the call out %d times, want %d", got, tt.wantHandled)
			}
		})
	}
}
