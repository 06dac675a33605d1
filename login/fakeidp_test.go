package login_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// fakeIDP is an OpenID provider in the test process. It checks what a
// real provider checks (client, redirect_uri, PKCE) and records what it
// saw, and can be told to misbehave.
type fakeIDP struct {
	srv    *httptest.Server
	issuer string
	key    *rsa.PrivateKey // published in /jwks
	signer *rsa.PrivateKey // signs id_tokens: key, or another to forge

	clientID, clientSecret string
	authMethods            []string // token_endpoint_auth_methods_supported

	// The person who signs in.
	subject, email, name string
	authTime             time.Time

	// Misbehaviour.
	denial         [2]string // error, error_description at /authorize
	tokenError     string    // OAuth error at /token
	nonceOverride  string
	audience       string
	expiredIDToken bool
	brokenToken    bool // /token answers an HTML error page
	foreignAtHash  bool // at_hash of another access token

	mu        sync.Mutex
	authorize []authorizeRequest
	codes     map[string]authorizeRequest
	tokens    []tokenRequest
}

type authorizeRequest struct {
	ResponseType, ClientID, RedirectURI, Scope string
	State, Nonce, Challenge, ChallengeMethod   string
}

type tokenRequest struct {
	ClientAuth  string // basic, post or none
	RedirectURI string
	PKCEMatched bool
	Error       string // what the fake answered; "" for tokens
}

type fakeOption func(*fakeIDP)

const (
	fakeClientID = "smart-auth"
	fakeKeyID    = "fake-key-1"
)

func withSecret(s string) fakeOption { return func(f *fakeIDP) { f.clientSecret = s } }

func withAuthMethods(m ...string) fakeOption { return func(f *fakeIDP) { f.authMethods = m } }

func withDenial(code, description string) fakeOption {
	return func(f *fakeIDP) { f.denial = [2]string{code, description} }
}

func withTokenError(code string) fakeOption { return func(f *fakeIDP) { f.tokenError = code } }

func withNonce(n string) fakeOption { return func(f *fakeIDP) { f.nonceOverride = n } }

func withAudience(aud string) fakeOption { return func(f *fakeIDP) { f.audience = aud } }

func withExpiredIDToken() fakeOption { return func(f *fakeIDP) { f.expiredIDToken = true } }

func withBrokenTokenEndpoint() fakeOption { return func(f *fakeIDP) { f.brokenToken = true } }

func withForeignAtHash() fakeOption { return func(f *fakeIDP) { f.foreignAtHash = true } }

func withEmail(e string) fakeOption { return func(f *fakeIDP) { f.email = e } }

// withForeignKey signs id_tokens with a key the JWKS does not hold, under
// the published key id.
func withForeignKey() fakeOption {
	return func(f *fakeIDP) { f.signer = mustRSAKey() }
}

// newFakeIDP starts a provider; Close stops it. Options are applied
// before the server starts, so its handlers read them without locks.
func newFakeIDP(opts ...fakeOption) *fakeIDP {
	key := mustRSAKey()
	f := &fakeIDP{
		key:          key,
		signer:       key,
		clientID:     fakeClientID,
		clientSecret: "fake-secret",
		authMethods:  []string{"client_secret_basic", "client_secret_post"},
		subject:      "idp-user-42",
		email:        "amy.shaw@example.org",
		name:         "Amy Shaw",
		authTime:     time.Now().Add(-time.Minute).Truncate(time.Second),
		codes:        map[string]authorizeRequest{},
	}
	for _, opt := range opts {
		opt(f)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", f.discovery)
	mux.HandleFunc("GET /jwks", f.jwks)
	mux.HandleFunc("GET /authorize", f.authorizeEndpoint)
	mux.HandleFunc("POST /token", f.token)
	f.srv = httptest.NewUnstartedServer(mux)
	f.issuer = "http://" + f.srv.Listener.Addr().String()
	f.srv.Start()
	return f
}

func mustRSAKey() *rsa.PrivateKey {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return key
}

func (f *fakeIDP) URL() string { return f.issuer }

func (f *fakeIDP) Close() { f.srv.Close() }

// authorizeRequests and tokenRequests return what the fake has seen.
func (f *fakeIDP) authorizeRequests() []authorizeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.authorize)
}

func (f *fakeIDP) tokenRequests() []tokenRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.tokens)
}

// signIn plays the browser at the provider: it opens authURL and returns
// where the provider sends the browser back, without following it.
func (f *fakeIDP) signIn(authURL string) (string, error) {
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	resp, err := client.Get(authURL)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return "", fmt.Errorf("provider answered %s, not a redirect", resp.Status)
	}
	return resp.Header.Get("Location"), nil
}

func (f *fakeIDP) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                f.issuer,
		"authorization_endpoint":                f.issuer + "/authorize",
		"token_endpoint":                        f.issuer + "/token",
		"jwks_uri":                              f.issuer + "/jwks",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": f.authMethods,
	})
}

func (f *fakeIDP) jwks(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key: &f.key.PublicKey, KeyID: fakeKeyID, Algorithm: string(jose.RS256), Use: "sig",
	}}})
}

func (f *fakeIDP) authorizeEndpoint(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := authorizeRequest{
		ResponseType: q.Get("response_type"), ClientID: q.Get("client_id"),
		RedirectURI: q.Get("redirect_uri"), Scope: q.Get("scope"),
		State: q.Get("state"), Nonce: q.Get("nonce"),
		Challenge: q.Get("code_challenge"), ChallengeMethod: q.Get("code_challenge_method"),
	}
	f.mu.Lock()
	f.authorize = append(f.authorize, req)
	f.mu.Unlock()
	back, err := url.Parse(req.RedirectURI)
	if req.ClientID != f.clientID || req.RedirectURI == "" || err != nil {
		// Never redirect to an unvetted URI.
		http.Error(w, "unknown client or redirect_uri", http.StatusBadRequest)
		return
	}
	answer := url.Values{"state": {req.State}}
	switch {
	case f.denial[0] != "":
		answer.Set("error", f.denial[0])
		answer.Set("error_description", f.denial[1])
	case req.ResponseType != "code":
		answer.Set("error", "unsupported_response_type")
	default:
		code := rand.Text()
		f.mu.Lock()
		f.codes[code] = req
		f.mu.Unlock()
		answer.Set("code", code)
	}
	back.RawQuery = answer.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (f *fakeIDP) token(w http.ResponseWriter, r *http.Request) {
	if f.brokenToken {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html>" + strings.Repeat("<p>upstream down</p>\n", 500) + "</html>"))
		return
	}
	if err := r.ParseForm(); err != nil {
		f.tokenFail(w, tokenRequest{}, http.StatusBadRequest, "invalid_request")
		return
	}
	seen := tokenRequest{RedirectURI: r.PostForm.Get("redirect_uri")}
	var ok bool
	seen.ClientAuth, ok = f.authenticateClient(r)
	if !ok {
		f.tokenFail(w, seen, http.StatusUnauthorized, "invalid_client")
		return
	}
	if r.PostForm.Get("grant_type") != "authorization_code" {
		f.tokenFail(w, seen, http.StatusBadRequest, "unsupported_grant_type")
		return
	}
	f.mu.Lock()
	auth, found := f.codes[r.PostForm.Get("code")]
	f.mu.Unlock()
	seen.PKCEMatched = found && auth.ChallengeMethod == "S256" &&
		s256(r.PostForm.Get("code_verifier")) == auth.Challenge
	switch {
	case !found, seen.RedirectURI != auth.RedirectURI, !seen.PKCEMatched:
		f.tokenFail(w, seen, http.StatusBadRequest, "invalid_grant")
		return
	case f.tokenError != "":
		f.tokenFail(w, seen, http.StatusBadRequest, f.tokenError)
		return
	}
	accessToken := rand.Text()
	idToken, err := f.idToken(auth, accessToken)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	f.mu.Lock()
	delete(f.codes, r.PostForm.Get("code"))
	f.tokens = append(f.tokens, seen)
	f.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": accessToken, "token_type": "Bearer", "expires_in": 300, "id_token": idToken,
	})
}

// authenticateClient accepts client_secret_basic or client_secret_post
// when the client has a secret, and a bare client_id when it has none.
func (f *fakeIDP) authenticateClient(r *http.Request) (method string, ok bool) {
	id, secret, basic := r.BasicAuth()
	if basic {
		// RFC 6749 §2.3.1 form-encodes both before the Basic encoding.
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
		method = "basic"
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		method = "post"
		if secret == "" {
			method = "none"
		}
	}
	if basic && !slices.Contains(f.authMethods, "client_secret_basic") && f.clientSecret != "" {
		return method, false
	}
	return method, id == f.clientID &&
		subtle.ConstantTimeCompare([]byte(secret), []byte(f.clientSecret)) == 1
}

func (f *fakeIDP) tokenFail(w http.ResponseWriter, seen tokenRequest, status int, code string) {
	seen.Error = code
	f.mu.Lock()
	f.tokens = append(f.tokens, seen)
	f.mu.Unlock()
	writeJSON(w, status, map[string]string{"error": code, "error_description": "the fake provider says " + code})
}

func (f *fakeIDP) idToken(auth authorizeRequest, accessToken string) (string, error) {
	now := time.Now()
	exp := now.Add(5 * time.Minute)
	if f.expiredIDToken {
		now, exp = now.Add(-2*time.Hour), now.Add(-time.Hour)
	}
	aud, nonce := f.clientID, auth.Nonce
	if f.audience != "" {
		aud = f.audience
	}
	if f.nonceOverride != "" {
		nonce = f.nonceOverride
	}
	if f.foreignAtHash {
		accessToken = "another access token"
	}
	atHash := sha256.Sum256([]byte(accessToken))
	payload, err := json.Marshal(map[string]any{
		"iss": f.issuer, "sub": f.subject, "aud": aud,
		"exp": exp.Unix(), "iat": now.Unix(), "auth_time": f.authTime.Unix(),
		"nonce": nonce, "at_hash": base64.RawURLEncoding.EncodeToString(atHash[:16]),
		"email": f.email, "email_verified": true, "name": f.name,
	})
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{
		Algorithm: jose.RS256,
		Key:       jose.JSONWebKey{Key: f.signer, KeyID: fakeKeyID},
	}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

func s256(verifier string) string {
	if verifier == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
