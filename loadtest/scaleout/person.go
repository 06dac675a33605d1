package main

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// The app every person uses, and what it reads. Its redirect URI is
// never dialled: the browser stops at the redirect that leaves the demo.
const (
	appRedirect = "https://app.example/callback"
	appScope    = "openid fhirUser launch/patient patient/*.rs offline_access"
	readPatient = "pat-1"
)

// person is one virtual person at a browser: the demo's patient or
// clinician (both see pat-1), with the app they sign in to, registered at
// their first flow and again every cfg.reregister flows.
type person struct {
	username string
	app      *registration
	flows    int
}

// grant is the code an app got back, and what redeeming it takes.
type grant struct {
	clientID, code, verifier string
}

func (g *grant) redemption() url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {g.code}, "redirect_uri": {appRedirect},
		"code_verifier": {g.verifier}, "client_id": {g.clientID}}
}

func refreshForm(clientID, token string) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}, "client_id": {clientID}}
}

// personFlow is one whole launch, as a browser-less client drives it:
// register (or reuse) the app, authorize with PKCE and state, sign in,
// pick the patient (the clinician), allow, take the code from the
// redirect, exchange it, read the patient, refresh.
func (d *driver) personFlow(ctx context.Context, p *person) error {
	start := time.Now()
	b, err := d.newBrowser()
	if err != nil {
		return err
	}
	err = d.launch(ctx, p, b)
	d.personEnded(start, p, b, err)
	return err
}

func (d *driver) launch(ctx context.Context, p *person, b *browser) error {
	if p.app == nil || p.flows%d.cfg.reregister == 0 {
		err := d.step("register", func() (err error) {
			p.app, err = d.register(ctx, map[string]any{
				"client_name": "Scale-out app (" + p.username + ")", "redirect_uris": []string{appRedirect},
				"token_endpoint_auth_method": "none", "grant_types": []string{"authorization_code", "refresh_token"},
				"scope": appScope,
			})
			return err
		})
		if err != nil {
			return err
		}
	}
	p.flows++
	g, err := d.signIn(ctx, p, b)
	if err != nil {
		return err
	}
	var first, fresh *tokenAnswer
	var issuedBy int
	err = d.step("token", func() error {
		tok, r, err := d.tokens(ctx, d.disc.Token, g.redemption())
		if err != nil {
			return err
		}
		if tok.Patient != readPatient || tok.RefreshToken == "" {
			return protocolf("the code exchange answered patient %q, refresh token %t", tok.Patient, tok.RefreshToken != "")
		}
		first, issuedBy = tok, r.replica
		return nil
	})
	if err != nil {
		return err
	}
	if err := d.step("fhir read", func() error { return d.readFHIR(ctx, d.disc.fhir, first.AccessToken, http.StatusOK) }); err != nil {
		return err
	}
	err = d.step("refresh", func() error {
		tok, _, err := d.tokens(ctx, d.disc.Token, refreshForm(g.clientID, first.RefreshToken))
		if err != nil {
			return err
		}
		if tok.RefreshToken == "" || tok.RefreshToken == first.RefreshToken {
			return protocolf("the refresh did not rotate the refresh token")
		}
		fresh = tok
		return nil
	})
	if err != nil {
		return err
	}
	if !d.probePerson(ctx, g, first, issuedBy, fresh) {
		d.hold(heldToken{clientID: g.clientID, access: fresh.AccessToken, refresh: fresh.RefreshToken, at: time.Now()})
	}
	return nil
}

// signIn runs the pages: authorize, the login form, the picker for the
// clinician, the consent form; and returns the code from the redirect.
func (d *driver) signIn(ctx context.Context, p *person, b *browser) (*grant, error) {
	g := &grant{clientID: p.app.ClientID, verifier: oauth2.GenerateVerifier()}
	state := rand.Text()
	conf := oauth2.Config{ClientID: g.clientID, RedirectURL: appRedirect, Scopes: strings.Fields(appScope),
		Endpoint: oauth2.Endpoint{AuthURL: d.disc.Authorize}}
	// prompt=consent: the person approved this app before, and is asked
	// again every time, so that every flow posts the consent form.
	authURL := conf.AuthCodeURL(state, oauth2.S256ChallengeOption(g.verifier),
		oauth2.SetAuthURLParam("aud", d.disc.fhir), oauth2.SetAuthURLParam("prompt", "consent"))

	var pg *page
	err := d.step("authorize", func() (err error) {
		if pg, err = b.get(ctx, authURL); err != nil {
			return err
		}
		if pg, err = b.follow(ctx, pg); err != nil {
			return err
		}
		return pg.expect("login", `name="username"`)
	})
	if err != nil {
		return nil, err
	}
	err = d.step("login", func() (err error) {
		pg, err = b.submitAndFollow(ctx, pg, url.Values{"username": {p.username}, "password": {p.username}})
		return err
	})
	if err != nil {
		return nil, err
	}
	if p.username == "clinician" {
		err = d.step("picker", func() (err error) {
			if err = pg.expect("patient picker", "Choose a patient"); err != nil {
				return err
			}
			pg, err = b.submitAndFollow(ctx, pg, url.Values{"patient": {readPatient}})
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	err = d.step("consent", func() (err error) {
		if err = pg.expect("consent", `value="allow"`); err != nil {
			return err
		}
		if pg, err = b.submitAndFollow(ctx, pg, url.Values{"decision": {"allow"}}); err != nil {
			return err
		}
		g.code, err = d.callback(pg, state)
		return err
	})
	if err != nil {
		return nil, err
	}
	return g, nil
}

func (b *browser) submitAndFollow(ctx context.Context, p *page, fields url.Values) (*page, error) {
	p, err := b.submit(ctx, p, fields)
	if err != nil {
		return nil, err
	}
	return b.follow(ctx, p)
}

// callback reads the redirect to the app: the code, with the state the
// app sent and the issuer's iss (RFC 9207).
func (d *driver) callback(p *page, state string) (string, error) {
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, appRedirect+"?") {
		return "", protocolf("want a redirect to the app, got HTTP %d to %q", p.status, p.location)
	}
	back, err := url.Parse(p.location)
	if err != nil {
		return "", protocolf("redirect %q: %v", p.location, err)
	}
	q := back.Query()
	switch {
	case q.Get("error") != "":
		return "", protocolf("the app got error %q: %s", q.Get("error"), q.Get("error_description"))
	case q.Get("state") != state:
		return "", protocolf("state %q, want %q", q.Get("state"), state)
	case q.Get("iss") != d.disc.Issuer:
		return "", protocolf("iss %q, want %q", q.Get("iss"), d.disc.Issuer)
	case q.Get("code") == "":
		return "", protocolf("no code in the redirect")
	}
	return q.Get("code"), nil
}

// readFHIR reads Patient/pat-1 under base (the proxy's FHIR base or a
// replica's) with token, expecting status want.
func (d *driver) readFHIR(ctx context.Context, base, token string, want int) error {
	r, err := d.get(ctx, base+"/Patient/"+readPatient, token)
	if err != nil {
		return err
	}
	return r.want(want)
}

// personEnded counts a flow for its phase and for the invariants.
func (d *driver) personEnded(start time.Time, p *person, b *browser, err error) {
	end := time.Now()
	ph := d.metrics.current()
	isLost := ph.ended(&ph.flows, err)
	killed, killAt := d.cfg.killed(), d.killTime()
	atKill := !killAt.IsZero() && start.Before(killAt) && end.After(killAt)
	d.tally.add(func(c *counts) {
		c.flows++
		switch {
		case err == nil:
			c.flowsOK++
			if b.replicas() > 1 {
				c.flowsAcross++
			}
		case isLost:
			c.flowsLost++
		default:
			c.flowsBroken++
		}
		if atKill {
			c.atKill++
			if b.answeredBy(killed, killAt) {
				c.atKillTouched++
			}
			switch {
			case err == nil:
				c.atKillOK++
			case isLost:
				c.atKillLost++
			}
		}
	})
	if err != nil && !isLost {
		d.tally.violation("person flow of %s: %v", p.username, err)
	}
}
