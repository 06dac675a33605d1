package smarttest

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/scope"
)

// A PersonOption is one line of the script of the person at the browser.
//
// Every authorization request that reaches the fake is answered by a
// scripted person: the authorization server's real login, patient picker
// and consent pages are driven server-side, as a browser with a fresh
// cookie jar would drive them, and the app gets the real answer, a
// redirect to its redirect_uri with a code or an error. So an app under
// test can follow the redirects with its own http.Client and needs no
// HTML; a test that holds the authorization URL can call Authorize
// instead.
//
// A script is applied over the server's default (WithPerson), which is
// applied over the built-in one: the clinician, who picks the first
// patient offered and approves everything. Consent is never remembered,
// so every authorization shows the consent page and Untick and Deny
// always take effect. Each authorization is a new browser, with no
// session to reuse: prompt=none answers login_required.
type PersonOption func(*person)

type person struct {
	user    string
	patient string
	untick  []string
	deny    bool
	never   bool
}

// AsUser signs the person in as the user with that username ("patient",
// "clinician", or one added by WithUser).
func AsUser(username string) PersonOption { return func(p *person) { p.user = username } }

// PickPatient picks patient id on the patient picker, instead of the
// first patient offered. It has no effect when no picker is shown: a
// patient user, an EHR launch, or no patient scope requested. A patient
// the user may not see is refused on the picker's own page, and the app
// gets no answer.
func PickPatient(id string) PersonOption { return func(p *person) { p.patient = id } }

// Approve presses Allow on the consent page: the default. It undoes a
// Deny or NeverAnswer earlier in the script.
func Approve() PersonOption {
	return func(p *person) { p.deny, p.never = false, false }
}

// Untick leaves these scopes unticked on the consent page, so they are
// not granted. Scopes the app cannot start without (openid, fhirUser,
// launch, launch/patient, ...) cannot be unticked; scopes not offered are
// ignored.
func Untick(scopes ...string) PersonOption {
	return func(p *person) { p.untick = append(p.untick, scopes...) }
}

// Deny presses Deny on the consent page, or Cancel on the patient picker
// when that comes first: the app gets error=access_denied.
func Deny() PersonOption { return func(p *person) { p.deny, p.never = true, false } }

// NeverAnswer is a person who walks away: the authorization request is
// not answered until the app gives up (its request's context ends, or
// its client's timeout closes the connection) or the test ends, so the
// app's timeout can be tested. Nothing is left running afterwards.
// Authorize refuses a script with NeverAnswer.
func NeverAnswer() PersonOption { return func(p *person) { p.never = true } }

// WithPerson sets the default script, for every authorization that
// NextAuthorization does not script.
func WithPerson(script ...PersonOption) Option {
	return func(o *options) { o.person = append(o.person, script...) }
}

// NextAuthorization scripts the next authorization request that reaches
// the fake; calls queue up, one script per request. The script is
// applied over the default.
func (s *Server) NextAuthorization(script ...PersonOption) {
	p, err := s.dir.script(s.person, script)
	if err != nil {
		s.t.Errorf("smarttest: NextAuthorization: %v", err)
	}
	s.queueMu.Lock()
	defer s.queueMu.Unlock()
	s.queue = append(s.queue, p)
}

// nextPerson takes the script of the next authorization.
func (s *Server) nextPerson() person {
	s.queueMu.Lock()
	defer s.queueMu.Unlock()
	if len(s.queue) == 0 {
		return s.person
	}
	p := s.queue[0]
	s.queue = s.queue[1:]
	return p
}

// script applies a script over base and checks its user.
func (d *directory) script(base person, script []PersonOption) (person, error) {
	p := base
	p.untick = slices.Clone(p.untick)
	for _, opt := range script {
		opt(&p)
	}
	if _, ok := d.users[p.user]; !ok {
		return p, fmt.Errorf("AsUser(%q): no such user; the users are %s", p.user, d.usernames())
	}
	return p, nil
}

// Authorize runs the authorization request authURL (as an app builds it:
// conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier),
// oauth2.SetAuthURLParam("aud", srv.FHIRBaseURL()))) as the scripted
// person, and returns where the person's browser is sent back to the
// app: the redirect_uri with code, state and iss, or with error. script
// is applied over the default; the NextAuthorization queue is left
// alone. It fails the test when the authorization ends on a page of the
// server instead (an unknown client or redirect_uri, a tampered pick).
func (s *Server) Authorize(t TB, authURL string, script ...PersonOption) *url.URL {
	t.Helper()
	p, err := s.dir.script(s.person, script)
	if err != nil {
		fatalf(t, "Authorize: %v", err)
	}
	if p.never {
		fatalf(t, "Authorize: NeverAnswer is for apps that follow the redirects themselves")
	}
	u, err := url.Parse(authURL)
	if err != nil || !s.ours(u) || u.Path != issuerPath+"/authorize" {
		fatalf(t, "Authorize: %q is not this server's authorization endpoint, %s", authURL, s.AuthorizeURL())
	}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, u.String(), nil)
	if err != nil {
		fatalf(t, "Authorize: %v", err)
	}
	req.RemoteAddr = "127.0.0.1:1"
	rec := s.drive(s.state.Load(), req, p)
	if to, ok := s.leaving(rec); ok {
		return to
	}
	fatalf(t, "Authorize: the person ended on a page of the server, not back at the app: %d %s", rec.Code, pageText(rec.Body.String()))
	return nil
}

// serveAuthorize answers an authorization request that reached the fake
// over HTTP: the person of the next script drives the flow and the app
// gets the flow's last answer.
func (s *Server) serveAuthorize(w http.ResponseWriter, r *http.Request, st *state) {
	p := s.nextPerson()
	if p.never {
		s.wait(r.Context(), 1<<62) // until the app or the test gives up
		return
	}
	first := r.Clone(r.Context())
	first.Header.Del("Cookie") // the person's browser, not the app's client
	first.URL.Scheme, first.URL.Host = "http", s.host
	rec := s.drive(st, first, p)
	for k, v := range rec.Header() {
		if k != "Set-Cookie" {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// personKey carries the script to the Authenticator.
type personKey struct{}

// authenticate is the fake's Authenticator: the script's user is signed
// in at once, without a form.
func (s *Server) authenticate(_ http.ResponseWriter, r *http.Request, _ *handlers.Login) (*handlers.User, error) {
	p, ok := r.Context().Value(personKey{}).(person)
	if !ok {
		p = s.person
	}
	u, ok := s.dir.users[p.user]
	if !ok {
		return nil, fmt.Errorf("smarttest: no user %q; the users are %s", p.user, s.dir.usernames())
	}
	signedIn := u.User
	return &signedIn, nil
}

// maxSteps bounds one authorization: authorize, login, continue, picker,
// consent and their posts are well under it.
const maxSteps = 16

// drive runs an authorization from its first request as person p, in
// process against st's routes, with a fresh cookie jar, and returns the
// answer that ends it: a redirect away from the authorization server
// (to the app), or a page the script cannot answer. The session it made
// is deleted afterwards.
func (s *Server) drive(st *state, req *http.Request, p person) *httptest.ResponseRecorder {
	jar, _ := cookiejar.New(nil) // never fails without options
	ctx := context.WithValue(req.Context(), personKey{}, p)
	remote := req.RemoteAddr
	defer s.forgetSession(jar)
	var rec *httptest.ResponseRecorder
	for range maxSteps {
		req = req.WithContext(ctx)
		req.RemoteAddr = remote
		for _, c := range jar.Cookies(req.URL) {
			req.AddCookie(c)
		}
		rec = httptest.NewRecorder()
		st.mux.ServeHTTP(rec, req)
		jar.SetCookies(req.URL, rec.Result().Cookies())
		next := s.nextStep(ctx, req, rec, p)
		if next == nil {
			break
		}
		req = next
	}
	return rec
}

// forgetSession deletes the session an authorization left behind.
func (s *Server) forgetSession(jar http.CookieJar) {
	u := &url.URL{Scheme: "http", Host: s.host, Path: issuerPath + "/"}
	for _, c := range jar.Cookies(u) {
		if c.Name == "smart_session" {
			_ = s.sessionStore.Delete(c.Value)
		}
	}
}

// nextStep is what the person does after seeing rec: follow a redirect
// within the authorization server, answer the picker or the consent
// page, or stop (nil).
func (s *Server) nextStep(ctx context.Context, req *http.Request, rec *httptest.ResponseRecorder, p person) *http.Request {
	if loc := rec.Header().Get("Location"); rec.Code/100 == 3 && loc != "" {
		u, err := req.URL.Parse(loc)
		if err != nil || !s.ours(u) {
			return nil
		}
		next, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		return next
	}
	if rec.Code != http.StatusOK {
		return nil
	}
	page := rec.Body.String()
	var form url.Values
	switch req.URL.Path {
	case issuerPath + "/authorize/patient":
		form = answerPicker(page, p)
	case issuerPath + "/authorize/consent":
		form = answerConsent(page, p)
	}
	action := match(postForm, page)
	if form == nil || action == "" {
		return nil
	}
	form.Set("csrf_token", match(csrfInput, page))
	if flow := match(flowInput, page); flow != "" {
		form.Set("flow", flow)
	}
	next, err := http.NewRequestWithContext(ctx, http.MethodPost, action, strings.NewReader(form.Encode()))
	if err != nil {
		return nil
	}
	next.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	next.Header.Set("Sec-Fetch-Site", "same-origin")
	return next
}

// The fields of the built-in pages (handlers.DefaultPages) the person
// reads.
var (
	postForm    = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	csrfInput   = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)
	flowInput   = regexp.MustCompile(`name="flow" value="([^"]*)"`)
	patientBtn  = regexp.MustCompile(`name="patient" value="([^"]*)"`)
	scopeInput  = regexp.MustCompile(`name="scope" value="([^"]*)"`)
	headingText = regexp.MustCompile(`<h1>([^<]*)</h1>(?:\s*<p[^>]*>([^<]*)</p>)?`)
)

// match returns the first submatch of re in page, unescaped, or "".
func match(re *regexp.Regexp, page string) string {
	m := re.FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// answerPicker picks the script's patient or the first offered, or
// cancels when the script denies; nil when there is nothing to pick.
func answerPicker(page string, p person) url.Values {
	if p.deny {
		return url.Values{"decision": {"deny"}}
	}
	pick := p.patient
	if pick == "" {
		pick = match(patientBtn, page)
	}
	if pick == "" {
		return nil
	}
	return url.Values{"patient": {pick}}
}

// answerConsent allows every offered scope but the unticked ones, or
// denies.
func answerConsent(page string, p person) url.Values {
	if p.deny {
		return url.Values{"decision": {"deny"}}
	}
	form := url.Values{"decision": {"allow"}}
	for _, m := range scopeInput.FindAllStringSubmatch(page, -1) {
		offered := html.UnescapeString(m[1])
		if !slices.ContainsFunc(p.untick, func(u string) bool { return sameScope(u, offered) }) {
			form.Add("scope", offered)
		}
	}
	return form
}

// sameScope compares two scopes as scopes (patient/Observation.read is
// patient/Observation.r), or as strings when either does not parse.
func sameScope(a, b string) bool {
	sa, errA := scope.Parse(a)
	sb, errB := scope.Parse(b)
	if errA != nil || errB != nil {
		return a == b
	}
	return sa.Equal(sb)
}

// ours reports whether u is on the authorization server.
func (s *Server) ours(u *url.URL) bool {
	return u.Scheme == "http" && u.Host == s.host && strings.HasPrefix(u.Path, issuerPath+"/")
}

// leaving returns where rec sends the browser when that is away from the
// authorization server: back to the app.
func (s *Server) leaving(rec *httptest.ResponseRecorder) (*url.URL, bool) {
	loc := rec.Header().Get("Location")
	if rec.Code/100 != 3 || loc == "" {
		return nil, false
	}
	u, err := url.Parse(loc)
	if err != nil || s.ours(u) {
		return nil, false
	}
	return u, true
}

// pageText is the heading and message of a page, for a failure message.
func pageText(page string) string {
	m := headingText.FindStringSubmatch(page)
	if m == nil {
		if len(page) > 200 {
			page = page[:200] + "..."
		}
		return page
	}
	return strings.TrimSpace(html.UnescapeString(m[1] + ": " + m[2]))
}
