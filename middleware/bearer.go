package middleware

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// formPeekLimit is how much of a form body is searched for an
// access_token parameter. FHIR search forms are far smaller; a larger body
// is searched in its first formPeekLimit bytes and passed on whole.
const formPeekLimit = 64 << 10

// bearerToken returns the token of the request's Authorization header.
// RFC 6750 §2.1 is the only method accepted: a token in the query string
// or a form body is refused even when the header is there too, since it
// has already leaked into logs and histories and the client must stop.
// A request without Bearer credentials (none, or another scheme) is
// ErrNoToken; a malformed one is ErrInvalidRequest.
func bearerToken(r *http.Request) (string, error) {
	if queryHasToken(r.URL) {
		return "", fmt.Errorf("%w: access_token in the query string", ErrInvalidRequest)
	}
	if formHasToken(r) {
		return "", fmt.Errorf("%w: access_token in a form body", ErrInvalidRequest)
	}
	values := r.Header["Authorization"]
	switch len(values) {
	case 0:
		return "", ErrNoToken
	case 1:
	default:
		return "", fmt.Errorf("%w: %d Authorization headers", ErrInvalidRequest, len(values))
	}
	return parseBearer(values[0])
}

// parseBearer reads one Authorization header value. The scheme is
// case-insensitive (RFC 9110 §11.1); the token must be RFC 6750's
// b64token.
func parseBearer(h string) (string, error) {
	scheme, token, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", ErrNoToken // another scheme: no Bearer credentials at all
	}
	token = strings.TrimLeft(token, " ")
	if !isB64Token(token) {
		return "", fmt.Errorf("%w: malformed Bearer credentials", ErrInvalidRequest)
	}
	return token, nil
}

// isB64Token reports whether s is RFC 6750 §2.1's
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}

// queryHasToken reports whether the URL has an access_token parameter.
// Most queries cannot have one, and are judged without parsing; one with
// a percent-escape might spell the name encoded, so it is parsed.
func queryHasToken(u *url.URL) bool {
	q := u.RawQuery
	if !strings.Contains(q, "access_token") && !strings.Contains(q, "%") {
		return false
	}
	values, _ := url.ParseQuery(q) // a malformed pair must not hide a good one
	return values.Has("access_token")
}

// formHasToken reports whether a form-encoded body has an access_token
// parameter. It reads the start of the body and puts it back, so the
// handler behind still reads the whole body (FHIR's POST _search is such a
// form).
func formHasToken(r *http.Request) bool {
	if r.Body == nil || r.Body == http.NoBody || !isForm(r.Header.Get("Content-Type")) {
		return false
	}
	head, err := io.ReadAll(io.LimitReader(r.Body, formPeekLimit))
	r.Body = readCloser{io.MultiReader(bytes.NewReader(head), r.Body), r.Body}
	if err != nil {
		return false // the handler sees the same read error
	}
	values, _ := url.ParseQuery(string(head))
	return values.Has("access_token")
}

func isForm(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/x-www-form-urlencoded")
}

// readCloser reads the restored body and closes the original.
type readCloser struct {
	io.Reader
	io.Closer
}
