package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const backendScope = "system/*.rs"

// service is a SMART Backend Services client: registered with its public
// key (private_key_jwt), it signs a fresh ES384 assertion for every token.
type service struct {
	reg    *registration
	signer jose.Signer
}

// newService makes a key and registers the client through the proxy.
func (d *driver) newService(ctx context.Context, n int) (*service, error) {
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return nil, err
	}
	const kid = "scaleout-1"
	jwks := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: kid, Algorithm: "ES384", Use: "sig"}}}
	reg, err := d.register(ctx, map[string]any{
		"client_name": "Scale-out backend service " + strconv.Itoa(n), "token_endpoint_auth_method": "private_key_jwt",
		"grant_types": []string{"client_credentials"}, "scope": backendScope, "jwks": jwks,
	})
	if err != nil {
		return nil, err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES384, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		return nil, err
	}
	return &service{reg: reg, signer: signer}, nil
}

// tokenRequest is a client_credentials request with a fresh assertion
// (RFC 7523, as SMART Backend Services profiles it).
func (s *service) tokenRequest(tokenURL string) (url.Values, error) {
	now := time.Now()
	assertion, err := jwt.Signed(s.signer).Claims(jwt.Claims{
		Issuer: s.reg.ClientID, Subject: s.reg.ClientID, Audience: jwt.Audience{tokenURL}, ID: rand.Text(),
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(4 * time.Minute)),
	}).Serialize()
	if err != nil {
		return nil, err
	}
	return url.Values{
		"grant_type": {"client_credentials"}, "scope": {backendScope},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion},
	}, nil
}

// backendRun is one backend-services round: a token, then a system/ read.
func (d *driver) backendRun(ctx context.Context, s *service) error {
	var tok *tokenAnswer
	var issuedBy int
	err := d.step("backend token", func() error {
		form, err := s.tokenRequest(d.disc.Token)
		if err != nil {
			return err
		}
		t, r, err := d.tokens(ctx, d.disc.Token, form)
		if err != nil {
			return err
		}
		tok, issuedBy = t, r.replica
		return nil
	})
	if err == nil {
		err = d.step("backend read", func() error { return d.readFHIR(ctx, d.disc.fhir, tok.AccessToken, http.StatusOK) })
	}
	if err == nil && d.bprobes.Add(1)%int64(d.cfg.probeEvery) == 0 {
		up, release := d.topo.hold()
		d.crossCheck(ctx, up, tok.AccessToken, issuedBy)
		release()
	}
	d.backendEnded(err)
	return err
}

func (d *driver) backendEnded(err error) {
	ph := d.metrics.current()
	isLost := ph.ended(&ph.backend, err)
	d.tally.add(func(c *counts) {
		c.backendRuns++
		switch {
		case err == nil:
			c.backendOK++
		case isLost:
			c.backendLost++
		default:
			c.backendBroken++
		}
	})
	if err != nil && !isLost {
		d.tally.violation("backend run: %v", err)
	}
}
