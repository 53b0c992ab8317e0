package collect

import (
	"encoding/json"
	"net/http"
)

// errorBody is the JSON answer to a request that was not accepted whole.
type errorBody struct {
	Error string `json:"error"`
	// Accepted is how many messages of the request were published, when some
	// were rejected.
	Accepted *int        `json:"accepted,omitempty"`
	Errors   []itemError `json:"errors,omitempty"`
}

// itemError is one problem with one message: index is its position in the
// batch (0 for a single-message endpoint), field its Segment field name.
// For a channel record, index is its position among the records, line the
// line it starts on (NDJSON and CSV), and field the record's field.
type itemError struct {
	Index  int    `json:"index"`
	Line   int    `json:"line,omitempty"`
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// successJSON is Segment's answer to an accepted request.
const successJSON = `{"success":true}` + "\n"

// reply writes a JSON answer and returns its status code.
func reply(w http.ResponseWriter, code int, v any) int {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
	return code
}

func replySuccess(w http.ResponseWriter) int {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(successJSON))
	return http.StatusOK
}

// preflight answers a browser's CORS preflight for the tracking API, which
// Segment serves to any origin. analytics.js sends text/plain bodies with the
// write key inside to avoid a preflight; with HTTP Basic auth or
// X-Retry-Count it needs one.
func preflight(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "POST")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Content-Encoding, X-Retry-Count")
	h.Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
}
