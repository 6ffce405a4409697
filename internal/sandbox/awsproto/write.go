package awsproto

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"strings"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/randid"
)

// respond writes a service's result or error in its protocol.
func respond(w http.ResponseWriter, api API, operation string, result any, apiErr *Error) {
	switch {
	case api.Protocol == JSON && apiErr != nil:
		writeJSONError(w, apiErr)
	case api.Protocol == JSON:
		writeJSON(w, result)
	case apiErr != nil:
		writeQueryError(w, api.Namespace, apiErr)
	default:
		writeQueryResult(w, api.Namespace, operation, result)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		writeJSONError(w, &Error{Status: 500, Code: "InternalFailure", Message: err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", randid.UUID())
	_, _ = w.Write(data) // a client gone away hears nothing more; the call is done
}

func writeJSONError(w http.ResponseWriter, e *Error) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", randid.UUID())
	w.Header().Set("X-Amzn-Errortype", e.Code)
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": e.Code, "message": e.Message}) // as writeJSON
}

// writeQueryResult writes an awsQuery response. result marshals to the
// <{Operation}Result> element: its type names it with an XMLName field.
func writeQueryResult(w http.ResponseWriter, namespace, op string, result any) {
	inner, err := xml.Marshal(result)
	if err != nil {
		writeQueryError(w, namespace, &Error{Status: 500, Code: "InternalFailure", Message: err.Error()})
		return
	}
	id := randid.UUID()
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", id)
	// A client gone away hears nothing more; the call is done.
	// op is an operation the service handled: routing refused any other.
	_, _ = io.WriteString(w, `<`+op+`Response xmlns="`+xmlText(namespace)+`">`) //nolint:gosec // G705: a known operation name
	_, _ = w.Write(inner)
	_, _ = io.WriteString(w, "<ResponseMetadata><RequestId>"+id+"</RequestId></ResponseMetadata></"+op+"Response>") //nolint:gosec // G705: as above
}

func writeQueryError(w http.ResponseWriter, namespace string, e *Error) {
	id := randid.UUID()
	kind := "Sender"
	if e.Status >= 500 {
		kind = "Receiver"
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", id)
	w.WriteHeader(e.Status)
	_, _ = io.WriteString(w, `<ErrorResponse xmlns="`+xmlText(namespace)+`"><Error><Type>`+kind+`</Type><Code>`+xmlText(e.Code)+
		`</Code><Message>`+xmlText(e.Message)+`</Message></Error><RequestId>`+id+`</RequestId></ErrorResponse>`)
}

// xmlText escapes s as XML character data.
func xmlText(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder never fails to write
	return b.String()
}
