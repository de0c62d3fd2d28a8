package klicktipptest

import (
	"encoding/json"
	"net/http"
)

// writeJSON answers status with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`["Internal error."]`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// refuse answers 406 {"error": code}.
func refuse(w http.ResponseWriter, code int) {
	writeJSON(w, http.StatusNotAcceptable, map[string]int{"error": code})
}

// KlickTipp's 406 error codes the fake uses.
const (
	codeInvalidEmail    = 5
	codeEmailNotFound   = 7
	codeFieldValidation = 8
	codeNotSubscribed   = 9
	codeEmailChange     = 30
	codeEmailRequired   = 32
	codeListNotFound    = 402
	codeTagNotFound     = 403
)
