package handlers

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"
)

// Error is an OAuth 2.0 protocol error (RFC 6749 §5.2, RFC 7591 §3.2.2,
// RFC 6750 §3.1): the code a client sees, a description safe to show it, and
// the HTTP status it travels with. The handlers answer every refusal with
// one; the detail that would help an attacker goes to the log, not here.
type Error struct {
	Code        string // "invalid_grant", "invalid_client", ...
	Description string
	Status      int

	retryAfter time.Duration // sent as Retry-After with a 429 or 503
}

func (e *Error) Error() string {
	if e.Description == "" {
		return e.Code
	}
	return e.Code + ": " + e.Description
}

// The error codes of RFC 6749, RFC 7009, RFC 7591 and RFC 6750.
const (
	ErrInvalidRequest          = "invalid_request"
	ErrInvalidClient           = "invalid_client"
	ErrInvalidGrant            = "invalid_grant"
	ErrUnauthorizedClient      = "unauthorized_client"
	ErrUnsupportedGrantType    = "unsupported_grant_type"
	ErrInvalidScope            = "invalid_scope"
	ErrAccessDenied            = "access_denied"
	ErrUnsupportedResponseType = "unsupported_response_type"
	ErrServerError             = "server_error"
	ErrTemporarilyUnavailable  = "temporarily_unavailable"
	ErrUnsupportedTokenType    = "unsupported_token_type"
	ErrInvalidRedirectURI      = "invalid_redirect_uri"
	ErrInvalidClientMetadata   = "invalid_client_metadata"
	ErrInvalidToken            = "invalid_token"
	ErrInsufficientScope       = "insufficient_scope"
	ErrLoginRequired           = "login_required"
	ErrConsentRequired         = "consent_required"
	ErrInteractionRequired     = "interaction_required"
	ErrSlowDown                = "slow_down"
	ErrRequestNotSupported     = "request_not_supported"
)

func badRequest(code, description string) *Error {
	return &Error{Code: code, Description: description, Status: http.StatusBadRequest}
}

// errInvalidClient is the one answer to every client-authentication
// failure; which check failed is logged, never told to the caller.
func errInvalidClient() *Error {
	return &Error{Code: ErrInvalidClient, Description: "client authentication failed", Status: http.StatusUnauthorized}
}

func errServer() *Error {
	return &Error{Code: ErrServerError, Description: "the server could not complete the request", Status: http.StatusInternalServerError}
}

// errUnavailable answers a request the store could not serve because it
// could not be reached: the client may retry shortly.
func errUnavailable() *Error {
	return &Error{Code: ErrTemporarilyUnavailable, Description: "the server is temporarily unable to complete the request; try again shortly", Status: http.StatusServiceUnavailable}
}

// asError turns any error into a protocol error: an *Error passes through,
// a store that cannot be reached is temporarily_unavailable (503), and
// anything else is a server error whose cause is logged by the caller.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if unreachable(err) {
		return errUnavailable()
	}
	return errServer()
}

// unreachable reports whether err says the database (or the network to
// it) is gone, rather than that the server has a bug.
func unreachable(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF)
}
