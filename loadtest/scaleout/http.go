package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/fhirkit/smart/internal/loadgen"
)

// reply is one HTTP answer as the driver keeps it.
type reply struct {
	status   int
	header   http.Header
	body     []byte
	replica  int // which replica answered through the proxy; 0 when direct
	location string
}

// Error kinds of the report, besides loadgen's ("4xx", "5xx", "timeout",
// "other").
const (
	kindLost      = "lost in flight" // the proxy says the request died with its replica
	kindNoReplica = "no replica"     // the proxy found none to answer
	kindProtocol  = "protocol"       // an answer of the right status that is wrong
)

// errProxy is a 502 of the proxy that is not a lost request.
var errProxy = errors.New("proxy: " + kindNoReplica)

// protocolError is an answer that breaks the protocol or the demo's
// contract: a wrong page, state or iss.
type protocolError struct{ msg string }

func (e *protocolError) Error() string { return e.msg }

func protocolf(format string, a ...any) error {
	return &protocolError{fmt.Sprintf(format, a...)}
}

// stepError is a failed step of a flow.
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return e.step + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

// kindOf names the kind of an error, without its step.
func kindOf(err error) string {
	var lost *lostError
	var proto *protocolError
	switch {
	case errors.As(err, &lost):
		return kindLost
	case errors.Is(err, errProxy):
		return kindNoReplica
	case errors.As(err, &proto):
		return kindProtocol
	}
	return loadgen.Classify(err)
}

// classify is loadgen's Config.Classify: the step and the kind.
func classify(err error) string {
	var s *stepError
	if errors.As(err, &s) {
		return s.step + ": " + kindOf(err)
	}
	return kindOf(err)
}

// send sends req and reads the answer. A 502 of the proxy becomes an
// error: a *lostError when it says the request was lost on a replica.
// Every answer through the proxy is counted for the current phase.
func (d *driver) send(client *http.Client, req *http.Request) (*reply, error) {
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	body, err := loadgen.Read(resp, resp.StatusCode)
	if err != nil {
		return nil, err
	}
	r := &reply{status: resp.StatusCode, header: resp.Header, body: body, location: resp.Header.Get("Location")}
	r.replica, _ = strconv.Atoi(resp.Header.Get(ReplicaHeader))
	if lost := resp.Header.Get(LostHeader); lost != "" {
		n, _ := strconv.Atoi(lost)
		return nil, &lostError{replica: n, err: fmt.Errorf("%s %s answered 502", req.Method, req.URL.Path)}
	}
	if r.replica == 0 && resp.StatusCode == http.StatusBadGateway && d.proxied(req.URL) {
		return nil, fmt.Errorf("%w: %s", errProxy, body)
	}
	switch {
	case r.replica > 0:
		d.metrics.current().answered(r.replica)
	case !d.proxied(req.URL):
		d.directs.Add(1)
	}
	return r, nil
}

// want checks that r has status want, and returns r's body.
func (r *reply) want(want int) error {
	if r.status == want {
		return nil
	}
	const show = 200
	body := r.body
	if len(body) > show {
		body = body[:show]
	}
	return &loadgen.StatusError{Code: r.status, Want: want, Body: string(body)}
}

// postForm posts form to rawURL; bearer, when set, authorizes it.
func (d *driver) postForm(ctx context.Context, rawURL string, form url.Values, bearer string) (*reply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return d.send(d.client, req)
}

// get gets rawURL with a bearer token.
func (d *driver) get(ctx context.Context, rawURL, bearer string) (*reply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return d.send(d.client, req)
}

// tokenAnswer is what the token and introspection endpoints answer.
type tokenAnswer struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Patient      string `json:"patient"`
	Error        string `json:"error"`
	Active       bool   `json:"active"`
}

// decode reads r's JSON body into v.
func (r *reply) decode(v any) error {
	if err := json.Unmarshal(r.body, v); err != nil {
		return protocolf("HTTP %d answer is not JSON: %v", r.status, err)
	}
	return nil
}

// tokens posts a token request and expects 200 with an access token.
func (d *driver) tokens(ctx context.Context, endpoint string, form url.Values) (*tokenAnswer, *reply, error) {
	r, err := d.postForm(ctx, endpoint, form, "")
	if err != nil {
		return nil, nil, err
	}
	if err := r.want(http.StatusOK); err != nil {
		return nil, r, err
	}
	var tok tokenAnswer
	if err := r.decode(&tok); err != nil {
		return nil, r, err
	}
	if tok.AccessToken == "" {
		return nil, r, protocolf("no access_token in %s", r.body)
	}
	return &tok, r, nil
}

// wantRefusal posts a token request that must be refused with 400 and
// code.
func (d *driver) wantRefusal(ctx context.Context, endpoint string, form url.Values, code string) error {
	r, err := d.postForm(ctx, endpoint, form, "")
	if err != nil {
		return err
	}
	if err := r.want(http.StatusBadRequest); err != nil {
		return err
	}
	var tok tokenAnswer
	if err := r.decode(&tok); err != nil {
		return err
	}
	if tok.Error != code {
		return protocolf("refused with %q, want %q", tok.Error, code)
	}
	return nil
}
