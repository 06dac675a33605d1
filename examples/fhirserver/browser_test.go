package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// The real-browser test runs headless Chromium against the demo. Set
// SMART_TEST_CHROME to the browser to make a missing or broken browser a
// failure (CI does); set SMART_SCREENSHOTS to a directory to save the
// login, consent and picker pages as PNG files.
const (
	chromeEnv      = "SMART_TEST_CHROME"
	screenshotsEnv = "SMART_SCREENSHOTS"

	browserTestTimeout = 60 * time.Second // one subtest, browser included
	browserStepTimeout = 15 * time.Second // one wait for a page
)

// TestBrowserLaunches drives the demo's person side in a real browser:
// each subtest has its own demo, app and browser profile, so no cookie or
// remembered consent carries over.
func TestBrowserLaunches(t *testing.T) {
	chrome := findChrome(t)
	names := newDemoData()
	patientLabel := func(id string) string { return names.patientName(id) + " (" + id + ")" }

	t.Run("patient standalone launch", func(t *testing.T) {
		d := startBrowserDemo(t)
		b := openBrowser(t, chrome)
		b.open(d.app.URL + "/launch")
		b.signIn("patient", "patient", "login")
		consent := b.waitFor("the consent page", hasButtons("Allow", "Deny"))
		for _, s := range strings.Fields(testAppStandaloneScope) {
			b.require(strings.Contains(consent.Text, s), "the consent page lists the scope %s", s)
		}
		b.screenshot("consent")
		b.press("Allow")
		res := b.waitForApp(d.app)
		b.require(res.hasLine("patient: pat-1"), "the app got the patient's own record")
		b.require(res.hasLine("fhir read: 200"), "the FHIR read answered 200")
		b.require(res.hasLine("name: "+names.patientName("pat-1")), "the FHIR read returned the patient's name")
		b.require(strings.Contains(res.Text, "patient/*.rs"), "the granted scope is shown")
	})

	t.Run("clinician standalone launch with the picker", func(t *testing.T) {
		d := startBrowserDemo(t)
		b := openBrowser(t, chrome)
		b.open(d.app.URL + "/launch")
		b.signIn("clinician", "clinician", "")
		picker := b.waitFor("the patient picker", hasButtons(patientLabel("pat-1")))
		b.require(slices.Contains(picker.Buttons, patientLabel("pat-2")), "the picker offers %q", patientLabel("pat-2"))
		b.require(!strings.Contains(picker.Text, "pat-3"), "the picker never offers pat-3")
		b.screenshot("picker")
		b.press(patientLabel("pat-2"))
		b.waitFor("the consent page", hasButtons("Allow", "Deny"))
		b.press("Allow")
		res := b.waitForApp(d.app)
		b.require(res.hasLine("patient: pat-2"), "the app got the picked patient")
		b.require(res.hasLine("fhir read: 200"), "the FHIR read answered 200")
		b.require(res.hasLine("name: "+names.patientName("pat-2")), "the FHIR read returned the patient's name")
	})

	t.Run("deny", func(t *testing.T) {
		d := startBrowserDemo(t)
		b := openBrowser(t, chrome)
		b.open(d.app.URL + "/launch")
		b.signIn("patient", "patient", "")
		b.waitFor("the consent page", hasButtons("Allow", "Deny"))
		b.press("Deny")
		res := b.waitForApp(d.app)
		b.require(res.hasLine("error: access_denied"), "the app was told access_denied")
		b.require(strings.Contains(res.Text, "state: "), "the app got its state back")
		b.require(!strings.Contains(res.Text, "patient: "), "the app got no patient")
	})

	t.Run("EHR launch from the demo's EHR page", func(t *testing.T) {
		d := startBrowserDemo(t)
		b := openBrowser(t, chrome)
		b.open(d.base + "/ehr")
		b.signIn("clinician", "clinician", "")
		b.waitFor("the EHR page", hasButtons("Launch"))
		b.choose("Patient", patientLabel("pat-1"))
		b.choose("Encounter", "Check-up on 2025-12-01, "+names.patientName("pat-1")+" (enc-1)")
		b.choose("App", testAppName)
		b.press("Launch")
		consent := b.waitFor("the consent page", hasButtons("Allow", "Deny"))
		b.require(strings.Contains(consent.Text, patientLabel("pat-1")), "the consent page names the launch's patient")
		b.press("Allow")
		res := b.waitForApp(d.app)
		b.require(res.hasLine("launch: ehr"), "the app was launched by the EHR")
		b.require(res.hasLine("patient: pat-1"), "the app got the launch's patient")
		b.require(res.hasLine("encounter: enc-1"), "the app got the launch's encounter")
		b.require(res.hasLine("need_patient_banner: false"), "the token response says the EHR shows the banner")
		b.require(res.hasLine("fhir read: 200"), "the FHIR read answered 200")
		b.require(res.hasLine("encounter read: 200"), "the encounter read answered 200")
	})
}

// browserDemo is the demo and the test app, each on its own test server.
type browserDemo struct {
	base string
	app  *smartTestApp
}

// startBrowserDemo runs the demo in-process on a memory store and
// registers the test app with the admin token, as an operator would.
func startBrowserDemo(t *testing.T) *browserDemo {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := newApp(t.Context(), options{addr: srv.Listener.Addr().String(), baseURL: base, storeDSN: "memory"}, testAdminToken, log)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, a.Close()) })
	srv.Config.Handler = a.handler
	srv.Start()
	t.Cleanup(srv.Close)

	app := startSMARTTestApp(t, a.fhirBase)
	conf := getJSON(t, a.fhirBase+"/.well-known/smart-configuration")
	app.setClientID(registerTestApp(t, conf["registration_endpoint"].(string), app))
	return &browserDemo{base: base, app: app}
}

// registerTestApp registers the test app as a public client (RFC 7591)
// and returns its client_id.
func registerTestApp(t *testing.T, endpoint string, app *smartTestApp) string {
	t.Helper()
	status, reg := registerClient(t, endpoint, testAdminToken, map[string]any{
		"client_name":                testAppName,
		"redirect_uris":              []string{app.URL + "/callback"},
		"initiate_login_uri":         app.URL + "/launch",
		"token_endpoint_auth_method": "none",
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"scope":                      testAppRegisteredScope,
	})
	require.Equal(t, http.StatusCreated, status, "registering the test app")
	id, _ := reg["client_id"].(string)
	require.NotEmpty(t, id)
	return id
}

// chromeBinary is the browser to run, and whether the environment named
// it (then it must work).
type chromeBinary struct {
	path     string
	required bool
}

// findChrome takes SMART_TEST_CHROME, else a Chromium or Chrome on PATH,
// else skips.
func findChrome(t *testing.T) chromeBinary {
	t.Helper()
	if p := os.Getenv(chromeEnv); p != "" {
		return chromeBinary{path: p, required: true}
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return chromeBinary{path: p}
		}
	}
	t.Skip("no Chromium found: install Debian's chromium or set " + chromeEnv + " to run the real-browser test")
	return chromeBinary{}
}

// browserTab is one tab of a fresh headless browser with its own profile.
type browserTab struct {
	t   *testing.T
	ctx context.Context
}

// openBrowser starts the browser, bounded by browserTestTimeout.
func openBrowser(t *testing.T, chrome chromeBinary) *browserTab {
	t.Helper()
	profile := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), browserTestTimeout)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chrome.path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(profile),
	)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		cancel()
	})
	if err := chromedp.Do(bctx); err != nil {
		if !chrome.required {
			t.Skipf("%s did not start (%v); set %s to make this a failure", chrome.path, err, chromeEnv)
		}
		t.Fatalf("%s=%s did not start: %v", chromeEnv, chrome.path, err)
	}
	return &browserTab{t: t, ctx: bctx}
}

// pageState is what the browser shows: enough to find the page and to
// say where the browser was when a step fails.
type pageState struct {
	URL     string   `json:"url"`
	Ready   string   `json:"ready"`
	Title   string   `json:"title"`
	Text    string   `json:"text"`
	Buttons []string `json:"buttons"`
	Links   []string `json:"links"`
	Heading string   `json:"heading"`
}

const pageStateJS = `({
	url: location.href,
	ready: document.readyState,
	title: document.title,
	text: document.body ? document.body.innerText : "",
	buttons: Array.from(document.querySelectorAll("button"), b => b.innerText.trim()),
	links: Array.from(document.querySelectorAll("a"), a => a.innerText.trim().split("\n")[0]),
	heading: (document.querySelector("h1") || {innerText: ""}).innerText.trim(),
})`

func (p pageState) String() string {
	return fmt.Sprintf("the browser is on %s (%q):\n%s", p.URL, p.Title, p.Text)
}

// hasLine reports whether one line of the page's text is exactly line.
func (p pageState) hasLine(line string) bool {
	return slices.Contains(strings.Split(p.Text, "\n"), line)
}

// hasHeading accepts a loaded page whose first h1 is heading.
func hasHeading(heading string) func(pageState) bool {
	return func(p pageState) bool { return p.Ready != "loading" && p.Heading == heading }
}

// hasText accepts a loaded page whose text contains text.
func hasText(text string) func(pageState) bool {
	return func(p pageState) bool { return p.Ready != "loading" && strings.Contains(p.Text, text) }
}

// hasButtons accepts a loaded page with all these buttons.
func hasButtons(labels ...string) func(pageState) bool {
	return func(p pageState) bool {
		if p.Ready == "loading" {
			return false
		}
		for _, l := range labels {
			if !slices.Contains(p.Buttons, l) {
				return false
			}
		}
		return true
	}
}

// state reads the page once; an error (a navigation under way) is
// returned, not fatal.
func (b *browserTab) state() (pageState, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[pageState](pageStateJS))
}

// report describes the current page for a failure message.
func (b *browserTab) report() string {
	p, err := b.state()
	if err != nil {
		return fmt.Sprintf("the page could not be read: %v", err)
	}
	return p.String()
}

// require fails the test with the current page when ok is false.
func (b *browserTab) require(ok bool, format string, args ...any) {
	b.t.Helper()
	if !ok {
		b.t.Fatalf("expected: %s\n%s", fmt.Sprintf(format, args...), b.report())
	}
}

// run runs one browser step, failing with the current page if it errs.
func (b *browserTab) run(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v\n%s", step, err, b.report())
	}
}

// waitFor polls the page until ok accepts it and returns it; it fails
// naming the page the browser is on when that never happens.
func (b *browserTab) waitFor(what string, ok func(pageState) bool) pageState {
	b.t.Helper()
	deadline := time.Now().Add(browserStepTimeout)
	var last pageState
	var lastErr error
	for time.Now().Before(deadline) && b.ctx.Err() == nil {
		p, err := b.state()
		if err == nil && ok(p) {
			return p
		}
		if err == nil {
			last = p
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	if lastErr != nil {
		b.t.Fatalf("waiting for %s: %v\nlast seen: %s", what, lastErr, last)
	}
	b.t.Fatalf("waiting for %s: %s", what, last)
	return last
}

// waitForApp waits for the app's callback page.
func (b *browserTab) waitForApp(app *smartTestApp) pageState {
	b.t.Helper()
	return b.waitFor("the app's callback page", func(p pageState) bool {
		return strings.HasPrefix(p.URL, app.URL+"/callback") && p.Ready == "complete"
	})
}

func (b *browserTab) open(u string) {
	b.t.Helper()
	b.run("open "+u, chromedp.Navigate(u))
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

// buttonJS finds the button whose text is label.
func buttonJS(label string) string {
	return `Array.from(document.querySelectorAll("button")).find(b => b.innerText.trim() === ` + jsString(label) + `)`
}

// press clicks the button whose text is label.
func (b *browserTab) press(label string) {
	b.t.Helper()
	p, err := b.state()
	b.require(err == nil && slices.Contains(p.Buttons, label), "a button %q", label)
	b.run("press "+label, chromedp.Click(chromedp.JSPath(buttonJS(label))))
}

// labelledJS finds the id of the element, of one of the types tags,
// that a label[for] whose text is label points at; "" when there is none.
func labelledJS(label string, tags ...string) string {
	upper := make([]string, len(tags))
	for i, t := range tags {
		upper[i] = strings.ToUpper(t)
	}
	want, _ := json.Marshal(upper)
	return `(() => {
		const l = Array.from(document.querySelectorAll("label[for]")).find(l => l.textContent.trim() === ` + jsString(label) + `);
		const el = l && document.getElementById(l.htmlFor);
		return el && ` + string(want) + `.includes(el.tagName) ? el.id : "";
	})()`
}

// labelled returns the id of the element labelled label, of one of the
// types tags, failing if the page has no such label wired to one.
func (b *browserTab) labelled(label string, tags ...string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	id, err := chromedp.Run(ctx, chromedp.Evaluate[string](labelledJS(label, tags...)))
	b.require(err == nil && id != "", "a <label> %q wired to one of %v (err %v)", label, tags, err)
	return id
}

// fill replaces the text of the input or textarea labelled label with
// value: typed key by key as a person would, or, past pasteFrom
// characters (a JWKS), pasted at once.
func (b *browserTab) fill(label, value string) {
	b.t.Helper()
	id := b.labelled(label, "input", "textarea")
	typed, pasted := value, ""
	if len(value) > pasteFrom {
		typed, pasted = "", value
	}
	set := `(() => { const el = document.getElementById(` + jsString(id) + `); el.value = ` + jsString(pasted) + `; el.dispatchEvent(new Event("input", {bubbles: true})); })()`
	b.run("clear "+label, chromedp.Evaluate[chromedp.Void](set))
	if typed != "" {
		b.run("type into "+label, chromedp.SendKeys(chromedp.ID(id), typed))
	}
}

// pasteFrom is the length from which fill pastes instead of typing.
const pasteFrom = 100

// check ticks the checkbox or radio button labelled label.
func (b *browserTab) check(label string) {
	b.t.Helper()
	id := b.labelled(label, "input")
	set := `(() => { const el = document.getElementById(` + jsString(id) + `); if (!el.checked) el.click(); return el.checked; })()`
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](set))
	b.require(err == nil && ok, "%q ticked (err %v)", label, err)
}

// clickLink follows the link whose text (its first line) is text.
func (b *browserTab) clickLink(text string) {
	b.t.Helper()
	link := `Array.from(document.querySelectorAll("a")).find(a => a.innerText.trim().split("\n")[0] === ` + jsString(text) + `)`
	p, err := b.state()
	b.require(err == nil && slices.Contains(p.Links, text), "a link %q", text)
	b.run("follow "+text, chromedp.Click(chromedp.JSPath(link)))
}

// textOf returns the text of the element with that id, failing if there
// is none.
func (b *browserTab) textOf(id string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const el = document.getElementById(`+jsString(id)+`); return el ? el.innerText.trim() : ""; })()`))
	b.require(err == nil && text != "", "an element #%s with text (err %v)", id, err)
	return text
}

// choose selects the option whose text is option in the select labelled
// label.
func (b *browserTab) choose(label, option string) {
	b.t.Helper()
	id := b.labelled(label, "select")
	pick := `(() => {
		const s = document.getElementById(` + jsString(id) + `);
		const o = Array.from(s.options).find(o => o.text.trim() === ` + jsString(option) + `);
		if (!o) return false;
		s.value = o.value;
		s.dispatchEvent(new Event("change", {bubbles: true}));
		return true;
	})()`
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](pick))
	b.require(err == nil && ok, "an option %q under %q (err %v)", option, label, err)
}

// signIn waits for the login page, checks its labelled inputs, signs in,
// and saves the page as shot.png first when shot is not "".
func (b *browserTab) signIn(username, password, shot string) {
	b.t.Helper()
	b.waitFor("the login page", hasButtons("Sign in"))
	if shot != "" {
		b.screenshot(shot)
	}
	b.fill("Username", username)
	b.fill("Password", password)
	b.press("Sign in")
}

// screenshot saves the whole page as name.png under SMART_SCREENSHOTS,
// when it is set.
func (b *browserTab) screenshot(name string) {
	b.t.Helper()
	dir := os.Getenv(screenshotsEnv)
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	b.require(err == nil, "a screenshot of %s (err %v)", name, err)
	require.NoError(b.t, os.MkdirAll(dir, 0o755))
	require.NoError(b.t, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644))
}
