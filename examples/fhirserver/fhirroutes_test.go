package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/handlers"
)

// fhirDemo is a running demo and what a test needs to call its FHIR
// routes: the demo's own signing keys, read from its PEM file, to mint
// the user tokens the authorize flow would issue.
type fhirDemo struct {
	base, fhir string
	keys       []handlers.SigningKey
}

func startFHIRDemo(t *testing.T, args ...string) *fhirDemo {
	t.Helper()
	return startFHIRDemoOn(t, "memory", args...)
}

// startFHIRDemoOn is startFHIRDemo on the store dsn names.
func startFHIRDemoOn(t *testing.T, dsn string, args ...string) *fhirDemo {
	t.Helper()
	keysFile := filepath.Join(t.TempDir(), "keys.pem")
	base := startDemo(t, append([]string{"-store", dsn, "-keys", keysFile}, args...)...)
	data, err := os.ReadFile(keysFile)
	require.NoError(t, err)
	keys, err := parseKeys(keysFile, data)
	require.NoError(t, err)
	return &fhirDemo{base: base, fhir: base + "/fhir", keys: keys}
}

// mint signs an access token as handlers/tokens.go issues it (RFC 9068,
// typ at+jwt) with the demo's first key; edit adjusts the claims.
func (d *fhirDemo) mint(t *testing.T, scope, patient, fhirUser string, edit ...func(*handlers.AccessTokenClaims)) string {
	t.Helper()
	now := time.Now()
	c := handlers.AccessTokenClaims{
		Issuer: d.base + "/auth", Subject: "user-" + strings.ReplaceAll(fhirUser, "/", "-"), Audience: d.fhir,
		Expiry: now.Add(5 * time.Minute).Unix(), IssuedAt: now.Unix(), ID: fmt.Sprintf("jti-%d", now.UnixNano()),
		ClientID: "test-app", Scope: scope, Patient: patient, FHIRUser: fhirUser,
	}
	for _, e := range edit {
		e(&c)
	}
	return signAccessToken(t, d.keys[0], c)
}

func signAccessToken(t *testing.T, k handlers.SigningKey, c handlers.AccessTokenClaims) string {
	t.Helper()
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.Algorithm), Key: jose.JSONWebKey{Key: k.Signer, KeyID: k.ID}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	require.NoError(t, err)
	raw, err := jwt.Signed(signer).Claims(c).Serialize()
	require.NoError(t, err)
	return raw
}

// backendToken registers a backend-services client through the contract
// and gets a system/*.rs token with client_credentials.
func (d *fhirDemo) backendToken(t *testing.T) (string, *backendClient) {
	t.Helper()
	client := d.newBackend(t)
	return d.tokenFor(t, client, "system/*.rs"), client
}

// newBackend registers a backend-services client (ES384 key, system/*.rs).
func (d *fhirDemo) newBackend(t *testing.T) *backendClient {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	client := &backendClient{key: key}
	status, reg := client.register(t, d.base+"/auth/register", testAdminToken)
	require.Equal(t, http.StatusCreated, status, "%v", reg)
	return client
}

// tokenFor gets client a token for scope from the token endpoint, with a
// private_key_jwt assertion.
func (d *fhirDemo) tokenFor(t *testing.T, client *backendClient, scope string) string {
	t.Helper()
	tokenURL := d.base + "/auth/token"
	status, tok := postForm(t, tokenURL, merge(url.Values{
		"grant_type": {"client_credentials"}, "scope": {scope},
	}, client.assertion(t, tokenURL)), "")
	require.Equal(t, http.StatusOK, status, "%v", tok)
	require.ElementsMatch(t, strings.Fields(scope), strings.Fields(tok["scope"].(string)), "the token carries the scope asked for")
	return tok["access_token"].(string)
}

type fhirAnswer struct {
	status int
	header http.Header
	body   map[string]any
}

// fhirGet GETs the FHIR path rel with token as bearer ("" for none).
func (d *fhirDemo) fhirGet(t *testing.T, rel, token string) fhirAnswer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, d.fhir+"/"+rel, nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "application/fhir+json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	a := fhirAnswer{status: resp.StatusCode, header: resp.Header}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&a.body), rel)
	return a
}

// ids returns the ids of a read's resource or a search's entries.
func (a fhirAnswer) ids() []string {
	if a.body["resourceType"] != "Bundle" {
		id, _ := a.body["id"].(string)
		return []string{id}
	}
	var ids []string
	entries, _ := a.body["entry"].([]any)
	for _, e := range entries {
		res := e.(map[string]any)["resource"].(map[string]any)
		ids = append(ids, res["id"].(string))
	}
	return ids
}

var (
	pat1Observations = []string{"obs-1-body-weight", "obs-1-glucose", "obs-1-heart-rate", "obs-1-hemoglobin"}
	pat2Observations = []string{"obs-2-body-weight", "obs-2-glucose", "obs-2-heart-rate", "obs-2-hemoglobin"}
	pat3Observations = []string{"obs-3-body-weight", "obs-3-glucose", "obs-3-heart-rate", "obs-3-hemoglobin"}
)

// TestFHIRAccessFollowsTheContract reads the demo data with the tokens
// of the contract's users and a real backend-services token, and checks
// what each may see.
func TestFHIRAccessFollowsTheContract(t *testing.T) {
	t.Parallel()
	d := startFHIRDemo(t)
	system, _ := d.backendToken(t)
	tokens := map[string]string{
		"patient app":    d.mint(t, "openid fhirUser launch/patient patient/*.rs", "pat-1", fhirUserPatient),
		"patient user":   d.mint(t, "openid fhirUser user/*.rs", "", fhirUserPatient),
		"clinician":      d.mint(t, "openid fhirUser user/*.rs", "", fhirUserClinician),
		"clinician URL":  d.mint(t, "user/*.rs", "", d.fhir+"/"+fhirUserClinician),
		"stranger":       d.mint(t, "user/*.rs", "", "Practitioner/prac-9"),
		"lab only":       d.mint(t, "patient/Observation.rs?category=laboratory", "pat-1", fhirUserPatient),
		"patient, no id": d.mint(t, "patient/*.rs", "", fhirUserPatient),
		"backend":        system,
	}
	lab1 := []string{"obs-1-glucose", "obs-1-hemoglobin"}
	tests := []struct {
		name   string
		token  string
		path   string
		status int
		ids    []string // when set, exactly these resources come back
	}{
		{"patient app reads its patient", "patient app", "Patient/pat-1", 200, []string{"pat-1"}},
		{"patient app searches its patient by _id", "patient app", "Patient?_id=pat-1", 200, []string{"pat-1"}},
		{"patient app reads its observations", "patient app", "Observation?patient=pat-1", 200, pat1Observations},
		{"patient app searches by subject", "patient app", "Observation?subject=Patient/pat-1", 200, pat1Observations},
		{"patient app reads one of its observations", "patient app", "Observation/obs-1-glucose", 200, []string{"obs-1-glucose"}},
		{"patient app narrows by category", "patient app", "Observation?patient=pat-1&category=vital-signs", 200, []string{"obs-1-body-weight", "obs-1-heart-rate"}},
		{"patient app: contradictory parameters find nothing", "patient app", "Observation?patient=pat-1&subject=Patient/pat-2", 200, []string{}},
		{"patient app: another patient is forbidden", "patient app", "Patient/pat-2", 403, nil},
		{"patient app: the third patient is forbidden", "patient app", "Patient/pat-3", 403, nil},
		{"patient app: another patient's observations are forbidden", "patient app", "Observation?patient=pat-2", 403, nil},
		{"patient app: another patient's observation is forbidden", "patient app", "Observation/obs-3-glucose", 403, nil},
		{"patient app: unconfined patient search is forbidden", "patient app", "Patient", 403, nil},
		{"patient app: unconfined observation search is forbidden", "patient app", "Observation", 403, nil},
		{"patient app: an unknown observation is forbidden, not 404", "patient app", "Observation/nope", 403, nil},
		{"patient app: an unsupported confining parameter is refused, not ignored", "patient app", "Observation?performer=Patient/pat-1", 400, nil},
		{"patient scope without a patient claim reads nothing", "patient, no id", "Patient/pat-1", 403, nil},
		{"patient app reads its encounter", "patient app", "Encounter/enc-1", 200, []string{"enc-1"}},
		{"patient app searches its encounters", "patient app", "Encounter?patient=pat-1", 200, []string{"enc-1"}},
		{"patient app: another patient's encounter is forbidden", "patient app", "Encounter/enc-2", 403, nil},
		{"patient app: an unconfined encounter search is forbidden", "patient app", "Encounter", 403, nil},

		{"patient user reads their record", "patient user", "Patient/pat-1", 200, []string{"pat-1"}},
		{"patient user reads their observations", "patient user", "Observation?patient=pat-1", 200, pat1Observations},
		{"patient user reads one observation", "patient user", "Observation/obs-1-heart-rate", 200, []string{"obs-1-heart-rate"}},
		{"patient user: pat-2 is forbidden", "patient user", "Patient/pat-2", 403, nil},
		{"patient user: pat-3's observations are forbidden", "patient user", "Observation?patient=pat-3", 403, nil},
		{"patient user: pat-2's observation is forbidden", "patient user", "Observation/obs-2-heart-rate", 403, nil},
		{"patient user: an unfiltered search is forbidden", "patient user", "Patient", 403, nil},

		{"clinician reads pat-1", "clinician", "Patient/pat-1", 200, []string{"pat-1"}},
		{"clinician reads pat-2", "clinician", "Patient/pat-2", 200, []string{"pat-2"}},
		{"clinician searches pat-2 by _id", "clinician", "Patient?_id=pat-2", 200, []string{"pat-2"}},
		{"clinician reads pat-1's observations", "clinician", "Observation?patient=pat-1", 200, pat1Observations},
		{"clinician reads pat-2's observations", "clinician", "Observation?patient=pat-2", 200, pat2Observations},
		{"clinician reads pat-2's lab results", "clinician", "Observation?patient=Patient/pat-2&category=laboratory", 200, []string{"obs-2-glucose", "obs-2-hemoglobin"}},
		{"clinician reads one of pat-2's observations", "clinician", "Observation/obs-2-glucose", 200, []string{"obs-2-glucose"}},
		{"clinician reads their own Practitioner", "clinician", "Practitioner/prac-1", 200, []string{"prac-1"}},
		{"clinician reads pat-2's encounter", "clinician", "Encounter/enc-2", 200, []string{"enc-2"}},
		{"clinician searches pat-1's encounters", "clinician", "Encounter?patient=Patient/pat-1", 200, []string{"enc-1"}},
		{"clinician: pat-3's encounter is forbidden", "clinician", "Encounter/enc-3", 403, nil},
		{"clinician with an absolute fhirUser reads pat-2", "clinician URL", "Patient/pat-2", 200, []string{"pat-2"}},
		{"clinician: pat-3 is forbidden", "clinician", "Patient/pat-3", 403, nil},
		{"clinician: pat-3's observations are forbidden", "clinician", "Observation?patient=pat-3", 403, nil},
		{"clinician: pat-3's observation is forbidden", "clinician", "Observation/obs-3-glucose", 403, nil},
		{"clinician: a search for two patients is forbidden", "clinician", "Patient?_id=pat-1,pat-2", 403, nil},
		{"clinician: an unfiltered patient search is forbidden", "clinician", "Patient", 403, nil},
		{"clinician: an unfiltered observation search is forbidden", "clinician", "Observation", 403, nil},
		{"clinician with an absolute fhirUser: pat-3 is forbidden", "clinician URL", "Patient/pat-3", 403, nil},
		{"unknown user sees no patient", "stranger", "Patient/pat-1", 403, nil},

		{"lab scope reads laboratory observations", "lab only", "Observation?patient=pat-1&category=laboratory", 200, lab1},
		{"lab scope reads them with the category's system", "lab only",
			"Observation?patient=pat-1&category=" + url.QueryEscape(systemObservationCategory+"|laboratory"), 200, lab1},
		{"lab scope: a search without category finds the labs only", "lab only", "Observation?patient=pat-1", 200, lab1},
		{"lab scope: a search for vital signs finds nothing", "lab only", "Observation?patient=pat-1&category=vital-signs", 200, []string{}},
		{"lab scope reads a lab observation", "lab only", "Observation/" + lab1[0], 200, lab1[:1]},
		{"lab scope: a vital-signs observation is forbidden", "lab only", "Observation/obs-1-heart-rate", 403, nil},
		{"lab scope: another patient's labs are forbidden", "lab only", "Observation?patient=pat-2&category=laboratory", 403, nil},
		{"lab scope: the Patient resource is forbidden", "lab only", "Patient/pat-1", 403, nil},

		{"backend searches every patient", "backend", "Patient", 200, []string{"pat-1", "pat-2", "pat-3"}},
		{"backend reads pat-3", "backend", "Patient/pat-3", 200, []string{"pat-3"}},
		{"backend searches every observation", "backend", "Observation", 200,
			append(append(append([]string{}, pat1Observations...), pat2Observations...), pat3Observations...)},
		{"backend reads pat-3's observations", "backend", "Observation?patient=pat-3", 200, pat3Observations},
		{"backend reads one observation", "backend", "Observation/obs-3-body-weight", 200, []string{"obs-3-body-weight"}},
		{"backend searches by code", "backend", "Observation?code=" + url.QueryEscape(systemLOINC+"|2339-0"), 200,
			[]string{"obs-1-glucose", "obs-2-glucose", "obs-3-glucose"}},
		{"backend: unknown patient is 404", "backend", "Patient/nope", 404, nil},
		{"backend: unknown observation is 404", "backend", "Observation/nope", 404, nil},
		{"backend searches every encounter", "backend", "Encounter", 200, []string{"enc-1", "enc-2", "enc-3"}},
		{"backend: unknown encounter is 404", "backend", "Encounter/nope", 404, nil},
		{"backend: an unsupported parameter is 400", "backend", "Patient?name=Shaw", 400, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token, ok := tokens[tt.token]
			require.True(t, ok, tt.token)
			got := d.fhirGet(t, tt.path, token)
			require.Equal(t, tt.status, got.status, "%v", got.body)
			assert.Equal(t, "application/fhir+json", got.header.Get("Content-Type"))
			switch {
			case tt.status == http.StatusForbidden:
				assert.Equal(t, "OperationOutcome", got.body["resourceType"])
				assert.Contains(t, got.header.Get("WWW-Authenticate"), `error="insufficient_scope"`)
			case tt.status != http.StatusOK:
				assert.Equal(t, "OperationOutcome", got.body["resourceType"])
			case tt.ids != nil:
				if len(tt.ids) == 0 {
					assert.Empty(t, got.ids())
				} else {
					assert.Equal(t, tt.ids, got.ids())
				}
			}
		})
	}
}

// TestFHIRRefusesBadTokens checks the 401s: no token, an expired,
// foreign, revoked or misplaced one.
func TestFHIRRefusesBadTokens(t *testing.T) {
	t.Parallel()
	d := startFHIRDemo(t)
	other, err := handlers.GenerateDevKeys()
	require.NoError(t, err)
	good := d.mint(t, "user/*.rs", "", fhirUserClinician)
	require.Equal(t, http.StatusOK, d.fhirGet(t, "Patient/pat-1", good).status, "the good token works")

	tests := []struct {
		name      string
		path      string
		token     string
		challenge string // in WWW-Authenticate
	}{
		{"no token", "Patient/pat-1", "", `Bearer realm="` + d.fhir + `"`},
		{"no token on a search", "Observation?patient=pat-1", "", "Bearer"},
		{"expired token", "Patient/pat-1", d.mint(t, "user/*.rs", "", fhirUserClinician, func(c *handlers.AccessTokenClaims) {
			c.IssuedAt, c.Expiry = time.Now().Add(-20*time.Minute).Unix(), time.Now().Add(-10*time.Minute).Unix()
		}), `error="invalid_token"`},
		{"token of another issuer", "Patient/pat-1", d.mint(t, "user/*.rs", "", fhirUserClinician, func(c *handlers.AccessTokenClaims) {
			c.Issuer = "https://elsewhere.example/auth"
		}), `error="invalid_token"`},
		{"token for another audience", "Patient/pat-1", d.mint(t, "user/*.rs", "", fhirUserClinician, func(c *handlers.AccessTokenClaims) {
			c.Audience = "https://elsewhere.example/fhir"
		}), `error="invalid_token"`},
		{"token signed by a key not the demo's", "Patient/pat-1", signAccessToken(t, other[0], handlers.AccessTokenClaims{
			Issuer: d.base + "/auth", Subject: "x", Audience: d.fhir, Expiry: time.Now().Add(time.Minute).Unix(),
			IssuedAt: time.Now().Unix(), ID: "forged", Scope: "system/*.rs",
		}), `error="invalid_token"`},
		{"garbage token", "Patient/pat-1", "not-a-token", `error="invalid_token"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := d.fhirGet(t, tt.path, tt.token)
			assert.Equal(t, http.StatusUnauthorized, got.status)
			assert.Contains(t, got.header.Get("WWW-Authenticate"), tt.challenge)
			assert.Equal(t, "OperationOutcome", got.body["resourceType"])
		})
	}

	t.Run("token in the query string", func(t *testing.T) {
		for _, header := range []string{"", good} {
			got := d.fhirGet(t, "Patient/pat-1?access_token="+url.QueryEscape(good), header)
			assert.Equal(t, http.StatusUnauthorized, got.status, "with header: %v", header != "")
			assert.Contains(t, got.header.Get("WWW-Authenticate"), "Bearer")
		}
	})

	t.Run("revoked token", func(t *testing.T) {
		token, client := d.backendToken(t)
		require.Equal(t, http.StatusOK, d.fhirGet(t, "Patient/pat-3", token).status, "before revocation")
		revokeURL := d.base + "/auth/revoke"
		status, _ := postForm(t, revokeURL, merge(url.Values{"token": {token}}, client.assertion(t, revokeURL)), "")
		require.Equal(t, http.StatusOK, status)
		got := d.fhirGet(t, "Patient/pat-3", token)
		assert.Equal(t, http.StatusUnauthorized, got.status)
		assert.Contains(t, got.header.Get("WWW-Authenticate"), `error="invalid_token"`)
	})
}

// TestFHIRSearchAnswersASearchsetBundle checks the Bundle's shape.
func TestFHIRSearchAnswersASearchsetBundle(t *testing.T) {
	t.Parallel()
	d := startFHIRDemo(t)
	token := d.mint(t, "patient/*.rs", "pat-1", fhirUserPatient)

	tests := []struct {
		name      string
		path      string
		total     int
		entries   int
		selfQuery url.Values
	}{
		{"lab results of one patient", "Observation?patient=pat-1&category=laboratory", 2, 2,
			url.Values{"patient": {"pat-1"}, "category": {"laboratory"}}},
		{"_count limits the entries, not the total", "Observation?patient=pat-1&_count=1", 4, 1,
			url.Values{"patient": {"pat-1"}, "_count": {"1"}}},
		{"no match is an empty searchset", "Observation?patient=pat-1&code=nope", 0, 0,
			url.Values{"patient": {"pat-1"}, "code": {"nope"}}},
		{"a patient search", "Patient?_id=pat-1", 1, 1, url.Values{"_id": {"pat-1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := d.fhirGet(t, tt.path, token)
			require.Equal(t, http.StatusOK, got.status, "%v", got.body)
			assert.Equal(t, "application/fhir+json", got.header.Get("Content-Type"))
			assert.Equal(t, "no-store", got.header.Get("Cache-Control"))
			b := got.body
			assert.Equal(t, "Bundle", b["resourceType"])
			assert.Equal(t, "searchset", b["type"])
			assert.Equal(t, float64(tt.total), b["total"])

			typ, _, _ := strings.Cut(tt.path, "?")
			links := b["link"].([]any)
			require.Len(t, links, 1)
			self := links[0].(map[string]any)
			assert.Equal(t, "self", self["relation"])
			assert.Equal(t, d.fhir+"/"+typ+"?"+tt.selfQuery.Encode(), self["url"])

			entries, _ := b["entry"].([]any)
			require.Len(t, entries, tt.entries)
			for _, e := range entries {
				entry := e.(map[string]any)
				res := entry["resource"].(map[string]any)
				assert.Equal(t, typ, res["resourceType"])
				assert.Equal(t, d.fhir+"/"+typ+"/"+res["id"].(string), entry["fullUrl"])
				assert.Equal(t, map[string]any{"mode": "match"}, entry["search"])
				if typ == "Observation" {
					assert.Equal(t, "Patient/pat-1", res["subject"].(map[string]any)["reference"])
				}
			}
			if tt.name == "lab results of one patient" {
				for _, e := range entries {
					cat := e.(map[string]any)["resource"].(map[string]any)["category"].([]any)[0].(map[string]any)
					coding := cat["coding"].([]any)[0].(map[string]any)
					assert.Equal(t, systemObservationCategory, coding["system"])
					assert.Equal(t, "laboratory", coding["code"])
				}
			}
		})
	}
}

// TestFHIRPublicAndUnservedPaths checks that discovery stays public and
// that what the demo does not serve is answered as FHIR.
func TestFHIRPublicAndUnservedPaths(t *testing.T) {
	t.Parallel()
	d := startFHIRDemo(t)
	system, _ := d.backendToken(t)

	t.Run("metadata and the SMART configuration need no token", func(t *testing.T) {
		md := getJSON(t, d.fhir+"/metadata")
		assert.Equal(t, "CapabilityStatement", md["resourceType"])
		resources, _ := json.Marshal(md["rest"].([]any)[0].(map[string]any)["resource"])
		for _, want := range []string{
			`{"interaction":[{"code":"read"},{"code":"search-type"}],"operation":[{"definition":"http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export","name":"export"}],"type":"Patient"}`,
			`{"interaction":[{"code":"read"},{"code":"search-type"}],"type":"Observation"}`,
		} {
			assert.Contains(t, string(resources), want)
		}
		conf := getJSON(t, d.fhir+"/.well-known/smart-configuration")
		assert.NotEmpty(t, conf["token_endpoint"])
	})

	tests := []struct {
		name   string
		method string
		path   string
		status int
	}{
		{"an unserved type is 404 after the token check", http.MethodGet, "Encounter/1", http.StatusNotFound},
		{"a write needs a scope the token lacks", http.MethodDelete, "Patient/pat-1", http.StatusForbidden},
		{"a compartment search the demo does not serve is 404", http.MethodGet, "Patient/pat-1/Observation", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, d.fhir+"/"+tt.path, nil)
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+system)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			assert.Equal(t, tt.status, resp.StatusCode)
			var body map[string]any
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
			assert.Equal(t, "OperationOutcome", body["resourceType"])
		})
	}
}
