package middleware

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"

	"github.com/fhirkit/smart/internal/baseurl"
	"github.com/fhirkit/smart/internal/scopecache"
	"github.com/fhirkit/smart/store"
)

// VerifierConfig configures a Verifier. Issuer, Audience and one source of
// keys (KeySet, PublicKeys or JWKSURL) or Introspection are required;
// every other field has a safe default.
type VerifierConfig struct {
	// Issuer is the authorization server's issuer URL; a token's iss must
	// equal it.
	Issuer string

	// Audience is this FHIR server's base URL; a token's aud must name it
	// (aud may be a string or an array).
	Audience string

	// Where the public keys come from; set exactly one, or none when every
	// token is to be introspected.
	//
	// KeySet is any go-oidc key set. An *oidc.StaticKeySet is checked
	// directly, without go-oidc parsing the token a second time.
	KeySet oidc.KeySet
	// PublicKeys are the authorization server's public keys, for a
	// resource server in the same process (*ecdsa.PublicKey,
	// *rsa.PublicKey, ed25519.PublicKey).
	PublicKeys []crypto.PublicKey
	// JWKSURL is the authorization server's JWKS. Keys are fetched on
	// first use, cached, and fetched again when no cached key verifies a
	// token (a new kid after rotation), at most once per
	// JWKSRefetchInterval (default 30 seconds): a forged or foreign token
	// never costs more than that in requests to the authorization server.
	// While a fetch is not allowed, tokens of uncached keys are refused.
	JWKSURL             string
	JWKSRefetchInterval time.Duration

	// Algorithms a token may be signed with; default ES256, ES384, RS256,
	// RS384, PS256. Only asymmetric algorithms are accepted: "none" and
	// HMAC (which would let anyone with the public key forge tokens) are
	// errors.
	Algorithms []string

	// ClockSkew is the leeway on exp, nbf and iat; default 30 seconds.
	ClockSkew time.Duration

	// Revocations, when set, is consulted on every request, cached or
	// not: a store lookup per request (the token's jti, and its user's
	// revocation of its client), the price of a deny-list that works at
	// once. RevocationCacheTTL trades that back: a negative answer is
	// trusted for that long per token (default 0: always ask). A store
	// error refuses the token (401, fail closed) and is logged.
	Revocations        store.RevocationStore
	RevocationCacheTTL time.Duration

	// Introspection, when set, verifies tokens through the authorization
	// server's RFC 7662 endpoint: every token when no key source is set,
	// and otherwise the tokens that are not JWTs (opaque tokens).
	Introspection *IntrospectionConfig

	// CacheSize bounds the verified-token cache (entries); default 10000,
	// negative turns the cache off. An entry never outlives its token's
	// exp (plus ClockSkew).
	CacheSize int

	// Realm is the realm of the WWW-Authenticate challenges; default
	// Audience.
	Realm string

	// HTTPClient fetches the JWKS and calls introspection; default a
	// client with a 10-second timeout.
	HTTPClient *http.Client

	// Logger receives why each token was refused; the client is only told
	// that it was. Default slog.Default().
	Logger *slog.Logger

	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Defaults of VerifierConfig.
const (
	DefaultClockSkew           = 30 * time.Second
	DefaultCacheSize           = 10000
	DefaultJWKSRefetchInterval = 30 * time.Second
)

// DefaultAlgorithms are the signature algorithms accepted when
// VerifierConfig.Algorithms is empty.
var DefaultAlgorithms = []string{"ES256", "ES384", "RS256", "RS384", "PS256"}

// asymmetric are the algorithms a Verifier may be configured to accept.
var asymmetric = []jose.SignatureAlgorithm{
	jose.ES256, jose.ES384, jose.ES512, jose.RS256, jose.RS384, jose.RS512,
	jose.PS256, jose.PS384, jose.PS512, jose.EdDSA,
}

// maxTokenLen bounds a token we try to parse: a 16 KiB header is already
// more than any SMART token needs.
const maxTokenLen = 16 << 10

// Verifier checks bearer access tokens: RFC 9068 JWTs verified locally,
// or opaque tokens through introspection. It is safe for concurrent use;
// build one at start-up and share it.
type Verifier struct {
	issuer, audience, realm string
	algs                    []jose.SignatureAlgorithm
	skew                    time.Duration
	static                  *staticKeys // the fast path, or nil
	keySet                  oidc.KeySet // when static is nil
	introspect              *introspector
	revocations             store.RevocationStore
	revocationTTL           time.Duration
	cache                   *tokenCache
	scopes                  *scopecache.Cache
	log                     *slog.Logger
	now                     func() time.Time
}

// NewVerifier validates cfg and returns a Verifier. An error names the
// field at fault.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	v := &Verifier{
		scopes: &scopecache.Cache{},
		realm:  cfg.Realm,
		skew:   cfg.ClockSkew, revocations: cfg.Revocations, revocationTTL: cfg.RevocationCacheTTL,
		log: cfg.Logger, now: cfg.Now,
	}
	if err := v.setDefaults(&cfg); err != nil {
		return nil, err
	}
	return v, nil
}

func (v *Verifier) setDefaults(cfg *VerifierConfig) error {
	var err error
	if v.issuer, err = baseurl.Normalize(cfg.Issuer); err != nil {
		return &fieldError{"Issuer", err.Error()}
	}
	if v.audience, err = baseurl.Normalize(cfg.Audience); err != nil {
		return &fieldError{"Audience", err.Error()}
	}
	if cfg.ClockSkew < 0 {
		return &fieldError{"ClockSkew", "negative"}
	}
	if cfg.RevocationCacheTTL < 0 {
		return &fieldError{"RevocationCacheTTL", "negative"}
	}
	if v.skew == 0 {
		v.skew = DefaultClockSkew
	}
	if v.realm == "" {
		v.realm = v.audience
	}
	if v.log == nil {
		v.log = slog.Default()
	}
	if v.now == nil {
		v.now = time.Now
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	if v.algs, err = algorithms(cfg.Algorithms); err != nil {
		return err
	}
	if err := v.setKeys(cfg, client); err != nil {
		return err
	}
	if cfg.Introspection != nil {
		if v.introspect, err = newIntrospector(*cfg.Introspection, client); err != nil {
			return err
		}
	}
	size := cmpOr(cfg.CacheSize, DefaultCacheSize)
	v.cache = newTokenCache(size)
	return nil
}

// fieldError is NewVerifier's error: which field of the config is at
// fault, and why.
type fieldError struct{ field, reason string }

func (e *fieldError) Error() string {
	return "middleware: VerifierConfig." + e.field + ": " + e.reason
}

func cmpOr(n, def int) int {
	if n == 0 {
		return def
	}
	return n
}

// setKeys picks the one key source cfg names.
func (v *Verifier) setKeys(cfg *VerifierConfig, client *http.Client) error {
	sources := 0
	for _, set := range []bool{cfg.KeySet != nil, len(cfg.PublicKeys) > 0, cfg.JWKSURL != ""} {
		if set {
			sources++
		}
	}
	switch {
	case sources > 1:
		return &fieldError{"KeySet", "set only one of KeySet, PublicKeys and JWKSURL"}
	case sources == 0 && cfg.Introspection == nil:
		return &fieldError{"KeySet", "one of KeySet, PublicKeys, JWKSURL or Introspection is required"}
	case cfg.JWKSRefetchInterval < 0:
		return &fieldError{"JWKSRefetchInterval", "negative"}
	}
	var err error
	switch {
	case len(cfg.PublicKeys) > 0:
		v.static, err = newStaticKeys(cfg.PublicKeys)
	case cfg.JWKSURL != "":
		if err = checkURL(cfg.JWKSURL); err != nil {
			return &fieldError{"JWKSURL", err.Error()}
		}
		interval := cfg.JWKSRefetchInterval
		if interval == 0 {
			interval = DefaultJWKSRefetchInterval
		}
		v.keySet = newRemoteKeySet(cfg.JWKSURL, client, interval, v.now)
	case cfg.KeySet != nil:
		if s, ok := cfg.KeySet.(*oidc.StaticKeySet); ok {
			v.static, err = newStaticKeys(s.PublicKeys)
		} else {
			v.keySet = cfg.KeySet
		}
	}
	return err
}

// algorithms checks names against the asymmetric algorithms.
func algorithms(names []string) ([]jose.SignatureAlgorithm, error) {
	if len(names) == 0 {
		names = DefaultAlgorithms
	}
	algs := make([]jose.SignatureAlgorithm, 0, len(names))
	for _, n := range names {
		a := jose.SignatureAlgorithm(n)
		if !slices.Contains(asymmetric, a) {
			return nil, &fieldError{"Algorithms", strconv.Quote(n) + " is not an accepted asymmetric algorithm"}
		}
		algs = append(algs, a)
	}
	return algs, nil
}

func checkURL(s string) error {
	if s == "" {
		return errors.New("required")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	return nil
}

// Middleware lets a request through only with a valid bearer token in
// its Authorization header, with the token's Claims in the request's
// context (see ClaimsFrom). Otherwise it answers 401 with a Bearer
// challenge and an OperationOutcome, and logs why.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, err := bearerToken(r)
		if err == nil {
			var c *Claims
			if c, err = v.VerifyToken(r.Context(), raw); err == nil {
				next.ServeHTTP(w, r.WithContext(WithClaims(r.Context(), c)))
				return
			}
		}
		v.refuse(w, r, err)
	})
}

// refuse answers a request whose token did not pass, and logs the reason.
func (v *Verifier) refuse(w http.ResponseWriter, r *http.Request, err error) {
	ctx := r.Context()
	switch {
	case errors.Is(err, ErrNoToken):
		v.log.LogAttrs(ctx, slog.LevelDebug, "request without bearer token", slog.String("method", r.Method))
		writeNoToken(w, r, v.realm)
	case errors.Is(err, ErrInvalidRequest):
		v.log.LogAttrs(ctx, slog.LevelInfo, "bearer request refused", slog.String("reason", err.Error()))
		writeInvalidRequest(w, r, v.realm)
	default:
		level := slog.LevelInfo
		if errors.Is(err, errUnavailable) {
			level = slog.LevelError
		}
		v.log.LogAttrs(ctx, level, "bearer token refused", slog.String("reason", err.Error()))
		writeUnauthorized(w, r, v.realm)
	}
}

// errUnavailable marks refusals caused by a dependency (revocation store,
// introspection endpoint), not by the token: they are logged as errors.
var errUnavailable = errors.New("dependency unavailable")

// VerifyToken checks raw, a bearer access token, and returns its claims;
// the Middleware for code outside net/http (gRPC, websockets). Every
// refusal wraps ErrInvalidToken (ErrNoToken for ""); the message says why,
// for logs. The Claims are shared by every request bearing the same
// token: treat them as read-only.
//
// A token seen before and still live is answered from the cache without
// allocating, after the revocation check if Revocations is set.
func (v *Verifier) VerifyToken(ctx context.Context, raw string) (*Claims, error) {
	if raw == "" {
		return nil, ErrNoToken
	}
	now := v.now()
	var k tokenKey
	if v.cache != nil {
		k = keyOf(raw)
		if e := v.cache.get(k, now.UnixNano()); e != nil {
			if err := v.checkRevoked(ctx, e, now); err != nil {
				return nil, err
			}
			return e.claims, nil
		}
	}
	e, err := v.verify(ctx, raw, now)
	if err != nil {
		return nil, err
	}
	if err := v.checkRevoked(ctx, e, now); err != nil {
		return nil, err
	}
	if v.cache != nil && e.until > now.UnixNano() {
		v.cache.put(k, e, now.UnixNano())
	}
	return e.claims, nil
}

// verify checks raw without the cache: locally if it is a JWT and keys are
// configured, otherwise by introspection.
func (v *Verifier) verify(ctx context.Context, raw string, now time.Time) (*cacheEntry, error) {
	if len(raw) > maxTokenLen {
		return nil, invalid("token of %d bytes", len(raw))
	}
	local := v.static != nil || v.keySet != nil
	if local && (v.introspect == nil || strings.Count(raw, ".") == 2) {
		return v.verifyJWT(ctx, raw, now)
	}
	if v.introspect != nil {
		return v.introspectToken(ctx, raw, now)
	}
	return nil, invalid("not a JWT")
}

// invalid is a refusal: ErrInvalidToken with the reason for the log.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidToken}, args...)...)
}

// verifyJWT checks an RFC 9068 access token: signature by an accepted
// algorithm and key, typ, then the claims.
func (v *Verifier) verifyJWT(ctx context.Context, raw string, now time.Time) (*cacheEntry, error) {
	jws, err := jose.ParseSignedCompact(raw, v.algs)
	if err != nil {
		return nil, invalid("%v", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, invalid("%d signatures", len(jws.Signatures))
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !isAccessTokenType(typ) {
		return nil, invalid("typ %q is not at+jwt", typ)
	}
	var payload []byte
	if v.static != nil {
		payload, err = v.static.verify(jws, h.Algorithm)
	} else {
		payload, err = v.keySet.VerifySignature(ctx, raw)
	}
	if err != nil {
		return nil, invalid("signature (kid %q): %v", h.KeyID, err)
	}
	var tc tokenClaims
	if err := decodeClaims(payload, &tc); err != nil {
		return nil, invalid("claims: %v", err)
	}
	return v.checkClaims(&tc, now)
}

// isAccessTokenType accepts RFC 9068 §4's typ, with or without the
// "application/" prefix RFC 7515 §4.1.9 lets a producer drop.
func isAccessTokenType(typ string) bool {
	typ, _ = strings.CutPrefix(strings.ToLower(typ), "application/")
	return typ == "at+jwt"
}

// isAudience reports whether aud names this FHIR server.
func (v *Verifier) isAudience(aud string) bool { return baseurl.Same(aud, v.audience) }

// checkClaims applies the claim rules shared by local verification and
// introspection and builds the cache entry.
func (v *Verifier) checkClaims(tc *tokenClaims, now time.Time) (*cacheEntry, error) {
	n := now.UnixNano()
	skew := v.skew.Nanoseconds()
	switch {
	case !baseurl.Same(tc.Issuer, v.issuer):
		return nil, invalid("iss %q", tc.Issuer)
	case !slices.ContainsFunc(tc.Audience, v.isAudience):
		return nil, invalid("aud %q", []string(tc.Audience))
	case tc.Expiry == 0:
		return nil, invalid("no exp")
	case n >= tc.Expiry.nanos()+skew:
		return nil, invalid("expired at %d", tc.Expiry)
	case tc.NotBefore != 0 && n < tc.NotBefore.nanos()-skew:
		return nil, invalid("not valid before %d", tc.NotBefore)
	case tc.IssuedAt != 0 && n < tc.IssuedAt.nanos()-skew:
		return nil, invalid("issued in the future, at %d", tc.IssuedAt)
	case tc.ID == "":
		return nil, invalid("no jti")
	}
	scopes, err := v.scopes.Parse(tc.Scope)
	if err != nil {
		return nil, invalid("scope: %v", err)
	}
	c := &Claims{
		Issuer: tc.Issuer, Subject: tc.Subject, ClientID: tc.ClientID, Scopes: scopes,
		Patient: tc.Patient, Encounter: tc.Encounter, FHIRUser: tc.FHIRUser, FHIRContext: tc.FHIRContext,
		JTI: tc.ID, Expiry: int64(tc.Expiry), Audience: tc.Audience,
		IssuedAt: int64(tc.IssuedAt), AuthTime: int64(tc.AuthTime),
		realm: v.realm, log: v.log,
	}
	return &cacheEntry{claims: c, until: tc.Expiry.nanos() + skew}, nil
}

// checkRevoked consults the deny-list, failing closed: the token's jti,
// and whether its user revoked its client after it was issued.
func (v *Verifier) checkRevoked(ctx context.Context, e *cacheEntry, now time.Time) error {
	if v.revocations == nil {
		return nil
	}
	n := now.UnixNano()
	if v.revocationTTL > 0 && n < e.revokedCheckedUntil.Load() {
		return nil
	}
	c := e.claims
	revoked, err := v.revocations.IsAccessTokenRevoked(ctx, store.AccessToken{
		JTI: c.JTI, Subject: c.Subject, ClientID: c.ClientID, IssuedAt: time.Unix(c.IssuedAt, 0),
	})
	if err != nil {
		return fmt.Errorf("%w: %w: revocation check: %w", ErrInvalidToken, errUnavailable, err)
	}
	if revoked {
		return invalid("jti %q revoked (the token, or its client's access for its user)", c.JTI)
	}
	if v.revocationTTL > 0 {
		e.revokedCheckedUntil.Store(n + v.revocationTTL.Nanoseconds())
	}
	return nil
}

// tokenClaims are the claims read from a token or an introspection
// answer, into fixed fields rather than a map.
type tokenClaims struct {
	Issuer      string          `json:"iss"`
	Subject     string          `json:"sub"`
	Audience    audience        `json:"aud"`
	Expiry      numericDate     `json:"exp"`
	NotBefore   numericDate     `json:"nbf"`
	IssuedAt    numericDate     `json:"iat"`
	ID          string          `json:"jti"`
	ClientID    string          `json:"client_id"`
	Scope       string          `json:"scope"`
	AuthTime    numericDate     `json:"auth_time"`
	Patient     string          `json:"patient"`
	Encounter   string          `json:"encounter"`
	FHIRUser    string          `json:"fhirUser"`
	FHIRContext json.RawMessage `json:"fhirContext"`
}

// audience is RFC 7519's aud: one string or an array of them.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	// The common case, one plain string, without a second decoder: the
	// outer one has already checked that b is valid JSON.
	if n := len(b); n >= 2 && b[0] == '"' && bytes.IndexByte(b[1:n-1], '"') < 0 && plainString(string(b[1:n-1])) {
		*a = audience{string(b[1 : n-1])}
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = audience{s}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(a))
}

// numericDate is RFC 7519's NumericDate, seconds since the epoch; a
// fraction is allowed and dropped.
type numericDate int64

func (d *numericDate) UnmarshalJSON(b []byte) error { return d.parse(string(b)) }

// parse reads a JSON literal the caller has validated; a number's text is
// what ParseFloat reads, and anything else fails it.
func (d *numericDate) parse(s string) error {
	if s == "null" {
		return nil // as encoding/json leaves a number untouched
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("NumericDate %.20q is not a number", s)
	}
	// Out-of-range dates would overflow into the past or future; refuse
	// them rather than guess.
	if f < 0 || f > 1<<33 {
		return fmt.Errorf("NumericDate %v out of range", f)
	}
	*d = numericDate(f)
	return nil
}

func (d numericDate) nanos() int64 { return int64(d) * int64(time.Second) }
