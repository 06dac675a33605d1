package main

import (
	"context"
	"encoding/json"
	"errors"
	"html"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fhirkit/smart/internal/testutil"
)

// US Core categories as granular scopes, as the consent page grants them.
const (
	labScope     = "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
	vitalsScope  = "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|vital-signs"
	problemScope = "patient/Condition.rs?category=http://terminology.hl7.org/CodeSystem/condition-category|problem-list-item"
)

var consentScopeBox = regexp.MustCompile(`name="scope" value="([^"]*)"`)

// narrowTo answers the consent page as a person who unticks untick and
// ticks the categories narrow.
func narrowTo(untick string, narrow ...string) func(*testutil.Browser, *testutil.Page) *testutil.Page {
	return func(b *testutil.Browser, p *testutil.Page) *testutil.Page {
		form := url.Values{"decision": {"allow"}, "narrow": narrow}
		for _, m := range consentScopeBox.FindAllStringSubmatch(p.Body, -1) {
			if v := html.UnescapeString(m[1]); v != untick {
				form.Add("scope", v)
			}
		}
		for _, n := range narrow {
			require.Contains(b.T, p.Body, `name="narrow" value="`+html.EscapeString(n)+`"`, "the page offers %s", n)
		}
		return b.Follow(b.Submit(p, form))
	}
}

// TestContractConsentCategories: the person narrows Observation and
// Condition to categories and unticks Patient; the token response's
// scope is exactly that, with no resource-level scope for the narrowed
// types, and refreshing keeps it.
func TestContractConsentCategories(t *testing.T) {
	t.Parallel()
	d := startPersonDemo(t)
	b := testutil.NewBrowser(t, d.base)
	tok := d.launchIn(t, b, "patient", "openid fhirUser launch/patient offline_access patient/Patient.rs patient/Condition.rs patient/Observation.rs", "",
		narrowTo("patient/Patient.rs", labScope, vitalsScope, problemScope))
	want := "openid fhirUser launch/patient offline_access " + problemScope + " " + labScope + " " + vitalsScope
	assert.Equal(t, want, tok.Extra("scope"))
	fresh, err := d.conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	require.NoError(t, err)
	assert.Equal(t, want, fresh.Extra("scope"))
}

// TestContractRevokeApp: a patient who authorized an app sees it in the
// apps API and revokes it; afterwards a FHIR read with its access token
// is 401 and a refresh with its refresh token 400, as ONC (g)(10)'s
// revocation test expects. On the demo's memory, SQLite and, when
// SMART_TEST_POSTGRES_DSN is set, PostgreSQL stores.
func TestContractRevokeApp(t *testing.T) {
	t.Parallel()
	stores := map[string]string{
		"memory": "memory",
		"sqlite": "sqlite:" + filepath.Join(t.TempDir(), "smart.db"),
	}
	if dsn := os.Getenv("SMART_TEST_POSTGRES_DSN"); dsn != "" {
		stores["postgres"] = dsn
	}
	for name, dsn := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := newPersonDemo(t, startFHIRDemoOn(t, dsn))
			b := testutil.NewBrowser(t, d.base)
			tok := d.launchIn(t, b, "patient", "openid fhirUser launch/patient offline_access patient/*.rs", "", (*testutil.Browser).Allow)
			require.Equal(t, http.StatusOK, d.fhirGet(t, "Patient/pat-1", tok.AccessToken).status)

			api := d.base + "/auth/api/apps"
			list := b.Get(api)
			require.Equal(t, http.StatusOK, list.Status, list.Body)
			var apps struct {
				Apps []struct {
					ClientID   string `json:"client_id"`
					ClientName string `json:"client_name"`
					Scope      string `json:"scope"`
				} `json:"apps"`
			}
			require.NoError(t, json.Unmarshal([]byte(list.Body), &apps))
			require.Len(t, apps.Apps, 1)
			assert.Equal(t, "Growth Chart", apps.Apps[0].ClientName)
			assert.Equal(t, tok.Extra("scope"), apps.Apps[0].Scope)

			req, err := http.NewRequest(http.MethodDelete, api+"/"+url.PathEscape(d.conf.ClientID), nil)
			require.NoError(t, err)
			req.Header.Set("Origin", d.base)
			gone := b.Do(req)
			require.Equal(t, http.StatusNoContent, gone.Status, gone.Body)

			read := d.fhirGet(t, "Patient/pat-1", tok.AccessToken)
			assert.Equal(t, http.StatusUnauthorized, read.status)
			assert.Equal(t, "OperationOutcome", read.body["resourceType"])
			_, err = d.conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
			var re *oauth2.RetrieveError
			require.True(t, errors.As(err, &re), "%v", err)
			assert.Equal(t, http.StatusBadRequest, re.Response.StatusCode)
			assert.Equal(t, "invalid_grant", re.ErrorCode)

			page := b.Get(d.base + "/auth/apps")
			require.Equal(t, http.StatusOK, page.Status)
			assert.Contains(t, page.Body, "No app can reach your health records without asking you.")
		})
	}
}
