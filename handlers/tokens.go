package handlers

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/fhirkit/smart/internal/secret"
	"github.com/fhirkit/smart/store"
)

// AccessTokenClaims are the claims of the access tokens this server
// issues: RFC 9068 JWTs (typ "at+jwt") carrying the SMART launch context.
// Resource servers read the same shape (package middleware).
type AccessTokenClaims struct {
	Issuer      string          `json:"iss"`
	Subject     string          `json:"sub"`
	Audience    string          `json:"aud"`
	Expiry      int64           `json:"exp"`
	IssuedAt    int64           `json:"iat"`
	ID          string          `json:"jti"`
	ClientID    string          `json:"client_id"`
	Scope       string          `json:"scope"`
	AuthTime    int64           `json:"auth_time,omitempty"`
	Patient     string          `json:"patient,omitempty"`
	Encounter   string          `json:"encounter,omitempty"`
	FHIRUser    string          `json:"fhirUser,omitempty"`
	FHIRContext json.RawMessage `json:"fhirContext,omitempty"`
}

// revocationKey is what the deny-list is asked about the token.
func (c *AccessTokenClaims) revocationKey() store.AccessToken {
	return store.AccessToken{JTI: c.ID, Subject: c.Subject, ClientID: c.ClientID, IssuedAt: time.Unix(c.IssuedAt, 0)}
}

// idTokenClaims are an OpenID Connect id_token's (Core §2), with SMART's
// fhirUser.
type idTokenClaims struct {
	Issuer   string `json:"iss"`
	Subject  string `json:"sub"`
	Audience string `json:"aud"`
	Expiry   int64  `json:"exp"`
	IssuedAt int64  `json:"iat"`
	AuthTime int64  `json:"auth_time,omitempty"`
	Nonce    string `json:"nonce,omitempty"`
	FHIRUser string `json:"fhirUser,omitempty"`
}

// grantedAccess is everything one access token says: who, which client,
// which scopes, which launch context.
type grantedAccess struct {
	ClientID string
	Subject  string
	FHIRUser string
	Scope    string
	AuthTime time.Time
	Context  store.LaunchContext
	TTL      time.Duration

	// JTI is the token's id; empty means a fresh random one. The code
	// grant picks it before redeeming the code, so the store records which
	// token the redemption issued.
	JTI string

	// IssuedAt is the token's iat; zero means now. The code and refresh
	// grants take it before the store vouches for the grant, so that a
	// token whose grant an app revocation withdrew while the request was
	// under way was issued before that revocation's NotBefore, and is
	// refused.
	IssuedAt time.Time
}

// mintAccessToken signs an access token for g and returns it with its
// claims (the jti and exp the caller records).
func (s *Server) mintAccessToken(g grantedAccess) (string, AccessTokenClaims, error) {
	now := g.IssuedAt
	if now.IsZero() {
		now = s.now()
	}
	c := AccessTokenClaims{
		Issuer:      s.Issuer(),
		Subject:     g.Subject,
		Audience:    s.FHIRBaseURL(),
		IssuedAt:    now.Unix(),
		Expiry:      now.Add(g.TTL).Unix(),
		ID:          cmp.Or(g.JTI, secret.ID()),
		ClientID:    g.ClientID,
		Scope:       g.Scope,
		Patient:     g.Context.Patient,
		Encounter:   g.Context.Encounter,
		FHIRUser:    g.FHIRUser,
		FHIRContext: g.Context.FHIRContext,
	}
	if !g.AuthTime.IsZero() {
		c.AuthTime = g.AuthTime.Unix()
	}
	raw, err := s.keys.sign(s.cfg.AccessTokenAlgorithm, typeAccessToken, now, c)
	if err != nil {
		return "", c, fmt.Errorf("sign access token: %w", err)
	}
	return raw, c, nil
}

// mintIDToken signs an id_token for the client.
func (s *Server) mintIDToken(clientID, subject, fhirUser, nonce string, authTime time.Time, ttl time.Duration) (string, error) {
	now := s.now()
	c := idTokenClaims{
		Issuer: s.Issuer(), Subject: subject, Audience: clientID,
		IssuedAt: now.Unix(), Expiry: now.Add(ttl).Unix(),
		Nonce: nonce, FHIRUser: s.absoluteFHIRUser(fhirUser),
	}
	if !authTime.IsZero() {
		c.AuthTime = authTime.Unix()
	}
	raw, err := s.keys.sign(s.cfg.IDTokenAlgorithm, typeIDToken, now, c)
	if err != nil {
		return "", fmt.Errorf("sign id_token: %w", err)
	}
	return raw, nil
}

// errNotOurToken covers every reason a string is not a live access token
// of ours: malformed, foreign, badly signed, expired, of another type.
var errNotOurToken = errors.New("not a live access token issued here")

// signatureAlgorithms are the algorithms our own keys may sign with.
var signatureAlgorithms = []jose.SignatureAlgorithm{
	jose.ES256, jose.ES384, jose.ES512, jose.RS256, jose.RS384, jose.RS512,
	jose.PS256, jose.PS384, jose.PS512, jose.EdDSA,
}

// parseAccessToken verifies raw as an access token this server issued and
// still live at the server's clock: our signature by a published key, typ
// at+jwt, our issuer and FHIR audience, not expired. It does not consult
// the revocation list.
func (s *Server) parseAccessToken(raw string) (*AccessTokenClaims, error) {
	if len(raw) > maxTokenLen {
		return nil, errNotOurToken
	}
	jws, err := jose.ParseSignedCompact(raw, signatureAlgorithms)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, errNotOurToken
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != string(typeAccessToken) {
		return nil, errNotOurToken
	}
	now := s.now()
	set := s.keys.verificationKeys(now)
	keys := set.Key(h.KeyID)
	if len(keys) != 1 || keys[0].Algorithm != h.Algorithm {
		return nil, errNotOurToken
	}
	payload, err := jws.Verify(keys[0].Key)
	if err != nil {
		return nil, errNotOurToken
	}
	var c AccessTokenClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, errNotOurToken
	}
	if c.Issuer != s.Issuer() || c.Audience != s.FHIRBaseURL() || c.ID == "" || now.Unix() >= c.Expiry {
		return nil, errNotOurToken
	}
	return &c, nil
}

// maxTokenLen bounds a token we will try to parse; ours are well under.
const maxTokenLen = 16 << 10
