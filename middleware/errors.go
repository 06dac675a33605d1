package middleware

import (
	"errors"
	"net/http"
	"strings"
)

// Errors VerifyToken returns. Every refusal wraps ErrInvalidToken, whatever
// the check that failed, so a caller branches on one value; the detail in
// the message is for logs, never for the client.
var (
	// ErrNoToken: the request carries no bearer token at all.
	ErrNoToken = errors.New("middleware: no bearer token")
	// ErrInvalidToken: the token is malformed, foreign, expired, revoked,
	// inactive or otherwise not acceptable.
	ErrInvalidToken = errors.New("middleware: invalid bearer token")
	// ErrInvalidRequest: the token came where RFC 6750 §2.1 does not allow
	// this server to take it (the query string or a form body), or the
	// Authorization header is not a single Bearer credential.
	ErrInvalidRequest = errors.New("middleware: invalid bearer request")
)

// RFC 6750 §3.1 error codes, used in the WWW-Authenticate challenge.
const (
	codeInvalidRequest    = "invalid_request"
	codeInvalidToken      = "invalid_token"
	codeInsufficientScope = "insufficient_scope"
)

// FHIR issue-type codes (http://hl7.org/fhir/issue-type) for the
// OperationOutcome bodies.
const (
	issueLogin     = "login"
	issueForbidden = "forbidden"
	issueInvalid   = "invalid"
	issueException = "exception"
)

// The diagnostics a client reads. They are deliberately generic: which
// check refused a token helps an attacker more than an honest client, so
// the reason goes to the Verifier's logger instead.
const (
	msgNoToken        = "This resource requires a bearer access token."
	msgInvalidToken   = "The access token is invalid or has expired."
	msgInvalidRequest = "Send the access token in the Authorization header only."
	msgForbidden      = "The access token does not permit this request."
	msgServerError    = "The server could not authorize the request."
)

// writeUnauthorized answers 401 for a request whose token was refused:
// a Bearer challenge with error="invalid_token" (RFC 6750 §3.1) and a
// FHIR OperationOutcome with code "login".
func writeUnauthorized(w http.ResponseWriter, r *http.Request, realm string) {
	writeChallenge(w, r, http.StatusUnauthorized, challenge(realm, codeInvalidToken, ""), issueLogin, msgInvalidToken)
}

// writeNoToken answers 401 for a request that sent no token at all. RFC
// 6750 §3.1 says such a challenge carries no error attribute: the client
// did nothing wrong, it just has to authenticate.
func writeNoToken(w http.ResponseWriter, r *http.Request, realm string) {
	writeChallenge(w, r, http.StatusUnauthorized, challenge(realm, "", ""), issueLogin, msgNoToken)
}

// writeInvalidRequest answers 401 with error="invalid_request": the token
// came in the query string or a form body, or the header was malformed.
// RFC 6750 §3.1 suggests 400 for invalid_request; 401 keeps every refusal
// of a credential one status, which clients retry by re-authenticating.
func writeInvalidRequest(w http.ResponseWriter, r *http.Request, realm string) {
	writeChallenge(w, r, http.StatusUnauthorized, challenge(realm, codeInvalidRequest, ""), issueLogin, msgInvalidRequest)
}

// writeForbidden answers 403 with error="insufficient_scope" and, when
// needed is not empty, the scope="..." attribute naming the scopes the
// request needs (RFC 6750 §3.1), with a FHIR OperationOutcome whose code
// is "forbidden". Callers outside the verifier (FHIR enforcement, patient
// compartments) use it for every 403, passing "" when no scope would help.
func writeForbidden(w http.ResponseWriter, r *http.Request, realm, needed string) {
	writeChallenge(w, r, http.StatusForbidden, challenge(realm, codeInsufficientScope, needed), issueForbidden, msgForbidden)
}

// writeServerError answers 500 with a generic OperationOutcome; the
// caller logs the cause.
func writeServerError(w http.ResponseWriter, r *http.Request) {
	writeOutcome(w, r, http.StatusInternalServerError, issueException, msgServerError)
}

// writeBadRequest answers 400 with an OperationOutcome of code "invalid"
// and the given diagnostics, which must say nothing a client may not know.
func writeBadRequest(w http.ResponseWriter, r *http.Request, diagnostics string) {
	writeOutcome(w, r, http.StatusBadRequest, issueInvalid, diagnostics)
}

func writeChallenge(w http.ResponseWriter, r *http.Request, status int, chal, issueCode, diagnostics string) {
	w.Header().Set("WWW-Authenticate", chal)
	writeOutcome(w, r, status, issueCode, diagnostics)
}

// challenge builds a Bearer WWW-Authenticate value (RFC 6750 §3). An empty
// realm, code or scope leaves its attribute out.
func challenge(realm, code, scope string) string {
	var b strings.Builder
	b.WriteString("Bearer")
	sep := " "
	for _, kv := range [...][2]string{{"realm", realm}, {"error", code}, {"scope", scope}} {
		if kv[1] == "" {
			continue
		}
		b.WriteString(sep)
		b.WriteString(kv[0])
		b.WriteString(`="`)
		b.WriteString(quoteEscape(kv[1]))
		b.WriteByte('"')
		sep = ", "
	}
	return b.String()
}

// quoteEscape makes s safe inside an RFC 9110 quoted-string: backslash
// and double quote are escaped, and control characters, which could split
// the header, are dropped.
func quoteEscape(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s))
}
