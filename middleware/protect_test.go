package middleware

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/access"
	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/middleware/fhir"
	"github.com/fhirkit/smart/store"
	"github.com/fhirkit/smart/store/memory"
)

// inProcess is an authorization server with the person side off, and a
// test token it issued.
func inProcess(t *testing.T, issuer, fhirBase string) (*handlers.Server, string) {
	t.Helper()
	keys, err := devKeys()
	require.NoError(t, err)
	auth, err := handlers.New(handlers.Config{
		Issuer: issuer, FHIRBaseURL: fhirBase, Store: memory.New(), SigningKeys: keys,
		Logger: slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	tok, err := auth.IssueTestToken(context.Background(), handlers.TestToken{
		ClientID: "app-1", Subject: "u-1", Scope: "launch/patient patient/Patient.rs",
		Context: store.LaunchContext{Patient: "pat-1"},
	})
	require.NoError(t, err)
	return auth, tok
}

// Every configured URL with and without a trailing slash, on either
// side: tokens verify.
func TestTrailingSlashesAgree(t *testing.T) {
	t.Parallel()
	const iss, fhir = "https://ehr.example.org/auth", "https://ehr.example.org/fhir"
	forms := func(u string) []string { return []string{u, u + "/"} }
	for _, serverIss := range forms(iss) {
		for _, serverFHIR := range forms(fhir) {
			auth, tok := inProcess(t, serverIss, serverFHIR)
			assert.Equal(t, iss, auth.Issuer())
			assert.Equal(t, fhir, auth.FHIRBaseURL())
			for _, verifierIss := range append(forms(iss), "https://EHR.example.org:443/auth") {
				for _, verifierAud := range forms(fhir) {
					v, err := NewVerifier(VerifierConfig{Issuer: verifierIss, Audience: verifierAud, PublicKeys: auth.PublicKeys()})
					require.NoError(t, err)
					_, err = v.VerifyToken(context.Background(), tok)
					assert.NoError(t, err, "server %s %s, verifier %s %s", serverIss, serverFHIR, verifierIss, verifierAud)
				}
			}
			protect, err := Protect(Config{Server: auth})
			require.NoError(t, err)
			w := serve(protect(claimsEcho), bearerRequestTo(fhir+"/Patient/pat-1", tok))
			assert.Equal(t, http.StatusOK, w.Code, "Protect built from the server %s %s", serverIss, serverFHIR)
		}
	}
}

func bearerRequestTo(target, token string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}

func TestProtectGuardsOnlyTheFHIRAPI(t *testing.T) {
	t.Parallel()
	auth, tok := inProcess(t, "https://ehr.example.org/fhir/auth", "https://ehr.example.org/fhir")
	protect, err := Protect(Config{Server: auth})
	require.NoError(t, err)
	reached := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "reached") })
	h := protect(reached)
	for _, tt := range []struct {
		name, method, target, token string
		want                        int
	}{
		{"a FHIR read with the token", "GET", "/fhir/Patient/pat-1", tok, 200},
		{"a FHIR read without one", "GET", "/fhir/Patient/pat-1", "", 401},
		{"another patient", "GET", "/fhir/Patient/pat-2", tok, 403},
		{"the authorization server's token endpoint, under the FHIR base", "POST", "/fhir/auth/token", "", 200},
		{"its JWKS", "GET", "/fhir/auth/jwks", "", 200},
		{"the SMART configuration", "GET", "/fhir/.well-known/smart-configuration", "", 200},
		{"the CapabilityStatement", "GET", "/fhir/metadata", "", 200},
		{"metadata by POST is no document", "POST", "/fhir/metadata", "", 401},
		{"a path outside the FHIR base", "GET", "/admin", "", 200},
		{"a path that only starts like the base", "GET", "/fhirx/Patient/pat-1", "", 200},
		{"the base itself", "GET", "/fhir", "", 401},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(tt.method, tt.target, nil)
			if tt.token != "" {
				r.Header.Set("Authorization", "Bearer "+tt.token)
			}
			w := serve(h, r)
			assert.Equal(t, tt.want, w.Code, w.Body.String())
			assert.Equal(t, tt.want == 200, w.Body.String() == "reached")
		})
	}
	t.Run("public documents are readable from any origin", func(t *testing.T) {
		t.Parallel()
		r := httptest.NewRequest(http.MethodGet, "/fhir/metadata", nil)
		r.Header.Set("Origin", "https://app.example")
		assert.Equal(t, "*", serve(h, r).Header().Get("Access-Control-Allow-Origin"))
	})
}

func TestProtectRefusesContradictions(t *testing.T) {
	t.Parallel()
	auth, _ := inProcess(t, "https://ehr.example.org/auth", "https://ehr.example.org/fhir")
	for _, tt := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"server and an issuer", Config{Server: auth, Verifier: VerifierConfig{Issuer: "https://other.example.org"}}, "leave Verifier's Issuer"},
		{"server and a JWKS URL", Config{Server: auth, Verifier: VerifierConfig{JWKSURL: "https://other.example.org/jwks"}}, "leave Verifier's Issuer"},
		{"no server and no CORS policy", Config{Verifier: testVerifierConfig()}, "set CORS.Clients or CORS.AllowOrigin"},
		{"no server and no issuer", Config{CORS: CORSConfig{Clients: memory.New()}}, "VerifierConfig.Issuer"},
		{"policy given twice", Config{Server: auth, PatientAccess: testPolicy{}, FHIR: fhirConfigWithPolicy()}, "Config.FHIR.PatientAccess"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Protect(tt.cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// One access.Policy value serves the authorization server and the
// resource side: a user/ token of the clinician reaches exactly the
// patients the picker would offer.
func TestOnePolicyForBothHalves(t *testing.T) {
	t.Parallel()
	policy := access.Fixed{"Practitioner/prac-1": {{ID: "pat-1", Name: "Amy"}, {ID: "pat-2", Name: "Ben"}}}
	keys, err := devKeys()
	require.NoError(t, err)
	auth, err := handlers.New(handlers.Config{
		Issuer: "https://ehr.example.org/auth", FHIRBaseURL: "https://ehr.example.org/fhir", Store: memory.New(), SigningKeys: keys,
		Authenticator: handlers.AuthenticatorFunc(func(http.ResponseWriter, *http.Request, *handlers.Login) (*handlers.User, error) { return nil, nil }),
		PatientAccess: policy, Logger: slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	clinician := &handlers.User{Subject: "u-1", FHIRUser: "Practitioner/prac-1"}
	picker, err := auth.Patients(context.Background(), clinician, "", 10)
	require.NoError(t, err)
	require.Len(t, picker, 2)

	protect, err := Protect(Config{Server: auth, PatientAccess: policy})
	require.NoError(t, err)
	tok, err := auth.IssueTestToken(context.Background(), handlers.TestToken{ClientID: "app-1", Subject: "u-1", FHIRUser: "Practitioner/prac-1", Scope: "user/Patient.rs"})
	require.NoError(t, err)
	for _, id := range []string{"pat-1", "pat-2", "pat-3"} {
		w := serve(protect(claimsEcho), bearerRequestTo("/fhir/Patient/"+id, tok))
		offered := strings.Contains(id, "1") || strings.Contains(id, "2")
		assert.Equal(t, offered, w.Code == http.StatusOK, "%s: %d", id, w.Code)
	}
}

func fhirConfigWithPolicy() fhir.Config { return fhir.Config{PatientAccess: testPolicy{}} }
