package main

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"
)

// TestBrowserConsentAndApps drives the consent page's category
// selection and the page of authorized apps in a real browser.
func TestBrowserConsentAndApps(t *testing.T) {
	chrome := findChrome(t)

	t.Run("narrow to categories and untick a scope", func(t *testing.T) {
		d := startBrowserDemo(t)
		b := openBrowser(t, chrome)
		asked := "openid fhirUser launch/patient offline_access patient/Patient.rs patient/Condition.rs patient/Observation.rs"
		b.open(d.app.URL + "/launch?scope=" + url.QueryEscape(asked))
		b.signIn("patient", "patient", "")
		b.waitFor("the consent page", hasButtons("Allow", "Deny"))
		b.openAll("Share only some kinds")
		b.check("Laboratory results")
		b.check("Vital signs")
		b.check("Problem list")
		b.uncheck("Read and search records of type Patient of the selected patient")
		b.screenshot("consent-categories")
		b.press("Allow")
		res := b.waitForApp(d.app)
		want := "openid fhirUser launch/patient offline_access " +
			"patient/Condition.rs?category=http://terminology.hl7.org/CodeSystem/condition-category|problem-list-item " +
			"patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory " +
			"patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|vital-signs"
		b.require(res.hasLine("scope: "+want), "the token response's scope is the categories ticked, without Patient")
		b.require(res.hasLine("fhir read: 403"), "the unticked Patient scope does not reach the patient's record")
	})

	t.Run("revoke an app on the page of apps", func(t *testing.T) {
		d := startBrowserDemo(t)
		b := openBrowser(t, chrome)
		b.open(d.app.URL + "/launch")
		b.signIn("patient", "patient", "")
		b.waitFor("the consent page", hasButtons("Allow", "Deny"))
		b.press("Allow")
		res := b.waitForApp(d.app)
		b.require(res.hasLine("fhir read: 200"), "the app reads the record before the revocation")
		got := d.app.lastTokens()

		b.open(d.base + "/ehr")
		b.waitFor("the EHR page", hasText("Apps you have allowed"))
		b.clickLink("Apps you have allowed")
		apps := b.waitFor("the page of apps", hasHeading("Apps you have allowed"))
		b.require(strings.Contains(apps.Text, testAppName), "the page lists the app")
		b.require(strings.Contains(apps.Text, "patient/*.rs"), "the page shows what the app holds")
		b.screenshot("apps")
		b.press("Revoke " + testAppName)
		b.waitFor("the notice", hasText(testAppName+" can no longer reach your records."))
		after := b.waitFor("the empty list", hasText("No app can reach your health records without asking you."))
		b.require(!slices.Contains(after.Buttons, "Revoke "+testAppName), "the app is gone from the list")

		status, _, err := readPatientName(context.Background(), d.app.fhirBase, "pat-1", got.token.AccessToken)
		b.require(err == nil && status == http.StatusUnauthorized, "a FHIR read with the revoked access token is 401 (got %d, %v)", status, err)
		_, err = got.conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: got.token.RefreshToken}).Token()
		var re *oauth2.RetrieveError
		b.require(errors.As(err, &re) && re.Response.StatusCode == http.StatusBadRequest, "a refresh with the revoked refresh token is 400 (got %v)", err)
	})
}

// openAll opens every <details> whose summary reads summary, by clicking
// it as a person would.
func (b *browserTab) openAll(summary string) {
	b.t.Helper()
	count := `Array.from(document.querySelectorAll("details")).filter(d => d.querySelector("summary").innerText.trim() === ` + jsString(summary) + `).length`
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](count))
	b.require(err == nil && n > 0, "a <details> with summary %q (err %v)", summary, err)
	for i := range n {
		nth := `Array.from(document.querySelectorAll("details")).filter(d => d.querySelector("summary").innerText.trim() === ` + jsString(summary) + `)[` + strconv.Itoa(i) + `].querySelector("summary")`
		b.run("open "+summary, chromedp.Click(chromedp.JSPath(nth)))
	}
}

// uncheck unticks the checkbox labelled label.
func (b *browserTab) uncheck(label string) {
	b.t.Helper()
	id := b.labelled(label, "input")
	set := `(() => { const el = document.getElementById(` + jsString(id) + `); if (el.checked) el.click(); return !el.checked; })()`
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](set))
	b.require(err == nil && ok, "%q unticked (err %v)", label, err)
}
