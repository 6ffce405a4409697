package awsproto

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
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
	w.Write(data)
}

func writeJSONError(w http.ResponseWriter, e *Error) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", randid.UUID())
	w.Header().Set("X-Amzn-Errortype", e.Code)
	w.WriteHeader(e.Status)
	json.NewEncoder(w).Encode(map[string]string{"__type": e.Code, "message": e.Message})
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
	fmt.Fprintf(w, `<%sResponse xmlns="%s">`, op, namespace)
	w.Write(inner)
	fmt.Fprintf(w, "<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>", id, op)
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
	var msg strings.Builder
	xml.EscapeText(&msg, []byte(e.Message))
	fmt.Fprintf(w, `<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`,
		namespace, kind, e.Code, msg.String(), id)
}
