package handlers

import (
	"context"
	"net/http"
	"net/url"
	"slices"

	"github.com/fhirkit/smart/store"
)

// tokenResponse is a successful token response (RFC 6749 §5.1) with the
// SMART App Launch 2.x launch context beside the token.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	store.LaunchContext

	// NeedPatientBanner shadows the context's field, which omits false:
	// a response with a launch context always says whether the app must
	// show a patient banner (the key is what ONC (g)(10) checks).
	NeedPatientBanner *bool `json:"need_patient_banner,omitempty"`
}

// withContext puts a launch context beside the token. need_patient_banner
// goes with every non-empty context, true or false.
func (r *tokenResponse) withContext(lc store.LaunchContext) {
	r.LaunchContext = lc
	if !lc.IsZero() {
		r.NeedPatientBanner = &lc.NeedPatientBanner
	}
}

// tokenRequest is one token request as a grant sees it. The grant fills
// in event (subject, patient, scope, and a reason when it refuses) so the
// endpoint emits exactly one audit event per request.
type tokenRequest struct {
	form   url.Values
	client *store.Client
	event  AuditEvent
}

// grantFunc issues tokens for one grant type, or refuses with an *Error.
type grantFunc func(s *Server, ctx context.Context, req *tokenRequest) (*tokenResponse, error)

// grantFor returns the function serving a grant type, or nil.
func grantFor(grantType string) grantFunc {
	switch grantType {
	case GrantAuthorizationCode:
		return (*Server).grantCode
	case GrantRefreshToken:
		return (*Server).grantRefresh
	case GrantClientCredentials:
		return (*Server).grantClientCredentials
	}
	return nil
}

// serveToken is the token endpoint (RFC 6749 §3.2): it authenticates the
// client, checks it registered the grant type, and hands the request to
// the grant.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	if corsPreflight(w, r) {
		return
	}
	if r.Method == http.MethodOptions {
		w.Header().Set("Allow", "POST, OPTIONS")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	req := &tokenRequest{event: AuditEvent{Source: r.RemoteAddr}}
	resp, err := s.token(w, r, req)
	if err != nil {
		s.refuseToken(w, r, req, err)
		return
	}
	ev := req.event
	ev.Action, ev.Outcome = "token.issue", "success"
	s.audit(r.Context(), ev)
	writeJSON(w, http.StatusOK, resp)
}

// token runs the request through the checks every grant shares.
func (s *Server) token(w http.ResponseWriter, r *http.Request, req *tokenRequest) (*tokenResponse, error) {
	form, err := readForm(w, r)
	if err != nil {
		return nil, err
	}
	req.form = form
	grantType := form.Get("grant_type")
	req.event.Grant = truncate(grantType, 64)
	if grantType == "" {
		return nil, badRequest(ErrInvalidRequest, "grant_type is required")
	}
	grant := grantFor(grantType)
	if grant == nil {
		return nil, badRequest(ErrUnsupportedGrantType, "this server does not support that grant_type")
	}
	client, err := s.authenticateClient(r, form, s.TokenURL())
	if err != nil {
		return nil, err
	}
	req.client = client
	req.event.ClientID = client.ID
	// From here on the caller is a known client: let its own origins read
	// the answer, refusals included, so a browser app can show why.
	allowClientOrigin(w, r, client.RedirectURIs)
	if !slices.Contains(client.GrantTypes, grantType) {
		return nil, badRequest(ErrUnauthorizedClient, "the client is not registered for the "+grantType+" grant")
	}
	return grant(s, r.Context(), req)
}

// refuseToken answers a refusal and audits it. A client-authentication
// failure was already audited, with its reason, by authenticateClient.
func (s *Server) refuseToken(w http.ResponseWriter, r *http.Request, req *tokenRequest, err error) {
	e := asError(err)
	if req.client != nil || e.Code != ErrInvalidClient {
		ev := req.event
		ev.Action, ev.Outcome = "token.refuse", "failure"
		if ev.Reason == "" {
			ev.Reason = e.Description
		}
		s.audit(r.Context(), ev)
	}
	s.writeError(w, r, err)
}

// errGrant is invalid_grant: the code or refresh token is unknown,
// expired, used, or not this client's (RFC 6749 §5.2). reason is for the
// audit trail; the client learns only the description.
func (req *tokenRequest) errGrant(description, reason string) error {
	req.event.Reason = reason
	return badRequest(ErrInvalidGrant, description)
}
