package middleware

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/access"
	"github.com/fhirkit/smart/internal/testutil"
	"github.com/fhirkit/smart/middleware/fhir"
	"github.com/fhirkit/smart/scope"
)

// withClaims stands in for the Verifier: it puts claims in the context.
func withClaims(c *Claims, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c != nil {
			r = r.WithContext(WithClaims(r.Context(), c))
		}
		next.ServeHTTP(w, r)
	})
}

// okHandler answers 200 with the body it was given, to prove the body
// survived the enforcer.
var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	_, _ = w.Write(b)
})

// testPolicy lets user prac-1 see pat-1 and pat-2 only.
type testPolicy struct{}

func (testPolicy) CanAccessPatient(_ context.Context, u access.User, p string) (bool, error) {
	return u.FHIRUser == "Practitioner/prac-1" && (p == "pat-1" || p == "pat-2"), nil
}

func (testPolicy) Patients(context.Context, access.User, string, int) ([]access.Patient, error) {
	return nil, nil
}

// resourcePatient knows where the test's stored resources belong.
func resourcePatient(_ context.Context, typ, id string) (string, error) {
	switch typ + "/" + id {
	case "Observation/obs-1":
		return "pat-1", nil
	case "Observation/obs-3":
		return "pat-3", nil
	case "Observation/broken":
		return "", errors.New("database down")
	}
	return "", nil
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// testEnforcer is Protect's stack for the test tokens' audience, whose
// base path is /fhir, with the test policy and stored resources.
func testEnforcer(t testing.TB, cfg Config) *protection {
	t.Helper()
	p, err := newProtection(enforceConfig(cfg))
	require.NoError(t, err)
	return p
}

func enforceConfig(cfg Config) Config {
	cfg.Verifier = testVerifierConfig()
	cfg.CORS.AllowOrigin = func(context.Context, string) (bool, error) { return false, nil }
	if cfg.FHIR.ResourcePatient == nil {
		cfg.FHIR.ResourcePatient = resourcePatient
	}
	if cfg.PatientAccess == nil {
		cfg.PatientAccess = testPolicy{}
	}
	cfg.Logger = quietLogger()
	return cfg
}

// withTestClaims is the stack with c in place of a verified token: what
// Protect does for public paths and paths outside the API, and FHIR
// enforcement for the rest.
func (p *protection) withTestClaims(c *Claims, next http.Handler) http.Handler {
	return p.gate(withClaims(c, p.enforce(next)), next)
}

func patientToken(scopes, patient string) *Claims {
	return &Claims{Scopes: scope.MustParseSet(scopes), Patient: patient}
}

func userToken(scopes string) *Claims {
	return &Claims{Scopes: scope.MustParseSet(scopes), FHIRUser: "Practitioner/prac-1"}
}

func systemToken(scopes string) *Claims {
	return &Claims{Scopes: scope.MustParseSet(scopes)}
}

type enforceCase struct {
	name        string
	claims      *Claims
	method      string
	target      string
	body        string
	contentType string
	want        int
	wantScope   string // in WWW-Authenticate, for a 403; "-" for none
}

func runEnforceCases(t *testing.T, cfg Config, tests []enforceCase) {
	t.Helper()
	e := testEnforcer(t, cfg)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			method := tt.method
			if method == "" {
				method = "GET"
			}
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			r := httptest.NewRequest(method, tt.target, body)
			if tt.contentType != "" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			w := httptest.NewRecorder()
			e.withTestClaims(tt.claims, okHandler).ServeHTTP(w, r)
			require.Equal(t, tt.want, w.Code, w.Body.String())
			if tt.want == http.StatusOK {
				assert.Equal(t, tt.body, w.Body.String(), "the body reaches the handler whole")
				return
			}
			var oo operationOutcome
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &oo), "an OperationOutcome body")
			assert.Equal(t, "OperationOutcome", oo.ResourceType)
			if tt.want == http.StatusForbidden {
				chal := w.Header().Get("WWW-Authenticate")
				assert.Contains(t, chal, `error="insufficient_scope"`)
				switch tt.wantScope {
				case "":
				case "-":
					assert.NotContains(t, chal, "scope=", "a policy refusal gives no detail")
				default:
					assert.Contains(t, chal, `scope="`+tt.wantScope+`"`)
				}
			}
		})
	}
}

func TestEnforcePatientScopes(t *testing.T) {
	t.Parallel()
	obs := patientToken("patient/Observation.rs patient/Patient.rs", "pat-1")
	runEnforceCases(t, Config{}, []enforceCase{
		{name: "own patient read", claims: obs, target: "/fhir/Patient/pat-1", want: 200},
		{name: "other patient read", claims: obs, target: "/fhir/Patient/pat-3", want: 403, wantScope: "-"},
		{name: "search with own patient", claims: obs, target: "/fhir/Observation?patient=pat-1", want: 200},
		{name: "search with Patient/ reference", claims: obs, target: "/fhir/Observation?patient=Patient/pat-1", want: 200},
		{name: "search with subject reference", claims: obs, target: "/fhir/Observation?subject=Patient/pat-1", want: 200},
		{name: "search with bare subject", claims: obs, target: "/fhir/Observation?subject=pat-1", want: 200},
		{name: "search with subject:Patient", claims: obs, target: "/fhir/Observation?subject:Patient=pat-1", want: 200},
		{name: "search with performer reference", claims: obs, target: "/fhir/Observation?performer=Patient/pat-1", want: 200},
		{name: "search with bare performer", claims: obs, target: "/fhir/Observation?performer=pat-1", want: 403},
		{name: "search without patient", claims: obs, target: "/fhir/Observation?code=1234", want: 403},
		{name: "search with another patient", claims: obs, target: "/fhir/Observation?patient=pat-3", want: 403},
		{name: "search with own and another patient", claims: obs, target: "/fhir/Observation?patient=pat-1,pat-3", want: 403},
		{name: "search with patient repeated", claims: obs, target: "/fhir/Observation?patient=pat-1&patient=pat-3", want: 403},
		{name: "search with a group subject", claims: obs, target: "/fhir/Observation?subject=Group/pat-1", want: 403},
		{name: "search with a patient url", claims: obs, target: "/fhir/Observation?patient=https://other.example/Patient/pat-1", want: 403},
		{name: "patient search by _id", claims: obs, target: "/fhir/Patient?_id=pat-1", want: 200},
		{name: "patient search by name", claims: obs, target: "/fhir/Patient?name=smith", want: 403},
		{name: "compartment url of own patient", claims: obs, target: "/fhir/Patient/pat-1/Observation", want: 200},
		{name: "compartment url of another patient", claims: obs, target: "/fhir/Patient/pat-3/Observation?patient=pat-1", want: 403},
		{name: "instance read looked up", claims: obs, target: "/fhir/Observation/obs-1", want: 200},
		{name: "instance read of another patient's", claims: obs, target: "/fhir/Observation/obs-3", want: 403},
		{name: "instance read of an unknown resource", claims: obs, target: "/fhir/Observation/nope", want: 403},
		{name: "lookup failure is a 500", claims: obs, target: "/fhir/Observation/broken", want: 500},
		{name: "missing scope names the scope", claims: obs, target: "/fhir/Condition?patient=pat-1", want: 403,
			wantScope: "patient/Condition.s"},
		{name: "write needs a write scope", claims: obs, method: "DELETE", target: "/fhir/Observation/obs-1", want: 403,
			wantScope: "patient/Observation.d"},
		{name: "type history is not confined", claims: obs, target: "/fhir/Observation/_history", want: 403},
		{name: "non-compartment type refused", claims: patientToken("patient/Medication.rs", "pat-1"),
			target: "/fhir/Medication?code=x", want: 403},
		{name: "patient scope without a patient", claims: patientToken("patient/Observation.rs", ""),
			target: "/fhir/Observation?patient=pat-1", want: 403},
		{name: "POST search of own patient", claims: obs, method: "POST", target: "/fhir/Observation/_search",
			body: "patient=pat-1", contentType: "application/x-www-form-urlencoded", want: 200},
		{name: "POST search of another patient", claims: obs, method: "POST", target: "/fhir/Observation/_search",
			body: "patient=pat-3", contentType: "application/x-www-form-urlencoded", want: 403},
		{name: "conditional delete of own patient", claims: patientToken("patient/Observation.d", "pat-1"),
			method: "DELETE", target: "/fhir/Observation?patient=pat-1&code=x", want: 200},
		{name: "create is not confined", claims: patientToken("patient/Observation.c", "pat-1"),
			method: "POST", target: "/fhir/Observation", body: "{}", want: 403},
	})
}

func TestEnforceGranularScopes(t *testing.T) {
	t.Parallel()
	lab := patientToken("patient/Observation.rs?category=laboratory", "pat-1")
	runEnforceCases(t, Config{}, []enforceCase{
		{name: "category matches", claims: lab, target: "/fhir/Observation?patient=pat-1&category=laboratory", want: 200},
		{name: "category with system", claims: lab,
			target: "/fhir/Observation?patient=pat-1&category=http://terminology.hl7.org/CodeSystem/observation-category%7Claboratory",
			want:   200},
		{name: "another patient", claims: lab, target: "/fhir/Observation?patient=pat-2", want: 403},
		{name: "a create cannot be filtered", claims: patientToken("patient/Observation.crs?category=laboratory", "pat-1"),
			method: "POST", target: "/fhir/Observation", body: "{}", contentType: "application/fhir+json", want: 403},
		{name: "a system search cannot be filtered", claims: patientToken("patient/*.rs?category=laboratory", "pat-1"),
			target: "/fhir/?_type=Observation", want: 403},
	})
}

func TestEnforceUserScopes(t *testing.T) {
	t.Parallel()
	user := userToken("user/Observation.rs user/Patient.rs user/Practitioner.rs")
	cases := []enforceCase{
		{name: "policy allows p1", claims: user, target: "/fhir/Observation?patient=pat-1", want: 200},
		{name: "policy refuses p3 without detail", claims: user, target: "/fhir/Observation?patient=pat-3", want: 403, wantScope: "-"},
		{name: "read of an allowed patient", claims: user, target: "/fhir/Patient/pat-2", want: 200},
		{name: "read of a refused patient", claims: user, target: "/fhir/Patient/pat-3", want: 403},
		{name: "instance looked up, allowed", claims: user, target: "/fhir/Observation/obs-1", want: 200},
		{name: "instance looked up, refused", claims: user, target: "/fhir/Observation/obs-3", want: 403},
		{name: "search of all patients refused", claims: user, target: "/fhir/Observation?code=x", want: 403},
		{name: "non-patient data needs no policy", claims: user, target: "/fhir/Practitioner?name=x", want: 200},
		{name: "revinclude of patient data is patient data", claims: user,
			target: "/fhir/Practitioner?name=x&_revinclude=Observation:performer", want: 403},
		{name: "another user is refused", claims: &Claims{Scopes: user.Scopes, FHIRUser: "Practitioner/prac-2"},
			target: "/fhir/Observation?patient=pat-1", want: 403},
		{name: "missing scope names the user scope", claims: user, target: "/fhir/Condition?patient=pat-1", want: 403,
			wantScope: "user/Condition.s"},
	}
	runEnforceCases(t, Config{}, cases)

	t.Run("filtered searches", func(t *testing.T) {
		t.Parallel()
		runEnforceCases(t, Config{FHIR: fhir.Config{UserSearchFiltered: true}}, []enforceCase{
			{name: "search of all patients allowed", claims: user, target: "/fhir/Observation?code=x", want: 200},
			{name: "named refused patient still refused", claims: user, target: "/fhir/Observation?patient=pat-3", want: 403},
			{name: "conditional delete is not a search", claims: userToken("user/Observation.d"),
				method: "DELETE", target: "/fhir/Observation?code=x", want: 403},
		})
	})
	t.Run("no policy", func(t *testing.T) {
		t.Parallel()
		e := fhir.NewEnforcer(fhir.Config{})
		req, err := fhir.ParseRequest(httptest.NewRequest("GET", "/Observation?patient=pat-1", nil), "")
		require.NoError(t, err)
		_, err = e.Authorize(context.Background(), user.grant(), &req)
		assert.ErrorIs(t, err, fhir.ErrForbidden)
	})
}

func TestEnforceSystemScopes(t *testing.T) {
	t.Parallel()
	sys := systemToken("system/*.cruds")
	runEnforceCases(t, Config{}, []enforceCase{
		{name: "search of all patients", claims: sys, target: "/fhir/Observation?code=x", want: 200},
		{name: "system search", claims: sys, target: "/fhir/?_type=Observation", want: 200},
		{name: "system history", claims: sys, target: "/fhir/_history", want: 200},
		{name: "any read", claims: sys, target: "/fhir/Observation/obs-3", want: 200},
		{name: "delete", claims: sys, method: "DELETE", target: "/fhir/Patient/pat-3", want: 200},
		{name: "iterate includes", claims: sys, target: "/fhir/Observation?_include:iterate=Observation:subject", want: 200},
		{name: "narrow system scope", claims: systemToken("system/Patient.rs"),
			target: "/fhir/Observation?code=x", want: 403, wantScope: "system/Observation.s"},
	})
}

func TestEnforceIncludes(t *testing.T) {
	t.Parallel()
	obs := patientToken("patient/Observation.rs patient/Patient.rs", "pat-1")
	all := patientToken("patient/*.rs", "pat-1")
	runEnforceCases(t, Config{}, []enforceCase{
		{name: "include of a granted type", claims: obs,
			target: "/fhir/Observation?patient=pat-1&_include=Observation:subject:Patient", want: 200},
		{name: "include of a type not granted", claims: obs,
			target: "/fhir/Observation?patient=pat-1&_include=Observation:performer:Practitioner", want: 403,
			wantScope: "patient/Practitioner.s"},
		{name: "include without a type needs a * scope", claims: obs,
			target: "/fhir/Observation?patient=pat-1&_include=Observation:subject", want: 403, wantScope: "patient/*.s"},
		{name: "include without a type with a * scope", claims: all,
			target: "/fhir/Observation?patient=pat-1&_include=Observation:subject", want: 200},
		{name: "revinclude of a type not granted", claims: obs,
			target: "/fhir/Patient?_id=pat-1&_revinclude=Provenance:target", want: 403, wantScope: "patient/Provenance.s"},
		{name: "iterate refused outside system", claims: all,
			target: "/fhir/Observation?patient=pat-1&_revinclude:iterate=Observation:has-member", want: 403},
	})
}

func TestEnforceOperations(t *testing.T) {
	t.Parallel()
	all := patientToken("patient/*.rs", "pat-1")
	runEnforceCases(t, Config{}, []enforceCase{
		{name: "everything of own patient", claims: all, target: "/fhir/Patient/pat-1/$everything", want: 200},
		{name: "everything of another patient", claims: all, target: "/fhir/Patient/pat-3/$everything", want: 403},
		{name: "everything needs a * scope", claims: patientToken("patient/Patient.rs patient/Observation.rs", "pat-1"),
			target: "/fhir/Patient/pat-1/$everything", want: 403, wantScope: "patient/*.s"},
		{name: "everything at type level", claims: all, target: "/fhir/Patient/$everything", want: 403},
		{name: "unknown operation refused", claims: systemToken("system/*.cruds"), method: "POST", target: "/fhir/$export", want: 403},
	})

	export := func(op *fhir.Request) ([]fhir.Request, bool) {
		return []fhir.Request{{Kind: fhir.KindInteraction, Interaction: scope.SearchSystem}}, op.ResourceType == ""
	}
	runEnforceCases(t, Config{FHIR: fhir.Config{Operations: map[string]fhir.OperationRule{"$export": export}}}, []enforceCase{
		{name: "host rule allows", claims: systemToken("system/*.rs"), target: "/fhir/$export", want: 200},
		{name: "host rule needs its scope", claims: systemToken("system/Patient.rs"), target: "/fhir/$export", want: 403},
		{name: "replaced defaults", claims: all, target: "/fhir/Patient/pat-1/$everything", want: 403},
	})
}

func TestEnforcePublicPathsAndErrors(t *testing.T) {
	t.Parallel()
	obs := patientToken("patient/Observation.rs", "pat-1")
	runEnforceCases(t, Config{}, []enforceCase{
		{name: "metadata without a token", target: "/fhir/metadata", want: 200},
		{name: "smart configuration without a token", target: "/fhir/.well-known/smart-configuration", want: 200},
		{name: "dot-dot out of a public prefix", target: "/fhir/.well-known/../Patient/pat-1", want: 401},
		{name: "metadata by POST is not public", method: "POST", target: "/fhir/metadata", want: 401},
		{name: "no claims", target: "/fhir/Observation?patient=pat-1", want: 401},
		{name: "malformed is 400", claims: obs, target: "/fhir/observation/1", want: 400},
		{name: "malformed without a token is 401", target: "/fhir/observation/1", want: 401},
		{name: "oversized search form is 413", claims: obs, method: "POST", target: "/fhir/Observation/_search",
			body:        "patient=pat-1&code=" + strings.Repeat("x", fhir.DefaultMaxBodyBytes),
			contentType: "application/x-www-form-urlencoded", want: 413},
		{name: "metadata with a token", claims: obs, target: "/fhir/metadata", want: 200},
	})
	runEnforceCases(t, Config{PublicPaths: []string{}}, []enforceCase{
		{name: "no public paths", target: "/fhir/metadata", want: 401},
		{name: "metadata with any token", claims: obs, target: "/fhir/metadata", want: 200},
	})
	runEnforceCases(t, Config{PublicPaths: []string{"Questionnaire/"}}, []enforceCase{
		{name: "host's public prefix", target: "/fhir/Questionnaire/q1", want: 200},
		{name: "defaults replaced", target: "/fhir/metadata", want: 401},
	})
}

func TestProtectRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]Config{
		"BasePath":           {BasePath: "fhir"},
		"Parse":              {Parse: fhir.ParseOptions{MaxBodyBytes: -1}},
		"PublicPaths":        {PublicPaths: []string{"/metadata"}},
		"FHIR.PatientAccess": {FHIR: fhir.Config{PatientAccess: testPolicy{}}},
	} {
		_, err := newProtection(enforceConfig(cfg))
		if assert.Error(t, err, name) {
			assert.Contains(t, err.Error(), name)
		}
	}
}

func TestEnforceUnderServeMux(t *testing.T) {
	t.Parallel()
	obs := patientToken("patient/Observation.rs", "pat-1")
	stripped := testEnforcer(t, Config{BasePath: "/"})
	mounted := testEnforcer(t, Config{BasePath: "/fhir"})
	mux := http.NewServeMux()
	// One server strips the base before the enforcer; the other routes
	// with 1.22 patterns and gives the enforcer the whole path.
	mux.Handle("/a/fhir/", http.StripPrefix("/a/fhir", stripped.withTestClaims(obs, okHandler)))
	inner := http.NewServeMux()
	inner.Handle("GET /fhir/Observation/{id}", okHandler)
	inner.Handle("GET /fhir/Observation", okHandler)
	mux.Handle("/fhir/", mounted.withTestClaims(obs, inner))

	for target, want := range map[string]int{
		"/a/fhir/Observation?patient=pat-1": 200,
		"/a/fhir/Observation?patient=pat-3": 403,
		"/fhir/Observation?patient=pat-1":   200,
		"/fhir/Observation/obs-1":           200,
		"/fhir/Observation/obs-3":           403,
	} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest("GET", target, nil))
		assert.Equal(t, want, w.Code, target)
	}
}

func TestEnforceBundles(t *testing.T) {
	t.Parallel()
	obs := patientToken("patient/Observation.rs patient/Patient.rs", "pat-1")
	const fhirJSON = "application/fhir+json"
	runEnforceCases(t, Config{}, []enforceCase{
		{name: "every entry allowed", claims: obs, method: "POST", target: "/fhir", contentType: fhirJSON,
			body: testutil.FHIRBundle("batch", "GET Patient/pat-1", "GET Observation?patient=pat-1", "GET metadata"), want: 200},
		{name: "one entry of another patient refuses all", claims: obs, method: "POST", target: "/fhir", contentType: fhirJSON,
			body: testutil.FHIRBundle("batch", "GET Patient/pat-1", "GET Observation?patient=pat-3"), want: 403},
		{name: "one entry without scope names it", claims: obs, method: "POST", target: "/fhir/", contentType: fhirJSON,
			body: testutil.FHIRBundle("transaction", "GET Patient/pat-1", "DELETE Patient/pat-1"), want: 403,
			wantScope: "patient/Patient.d"},
		{name: "bad entry is 400", claims: obs, method: "POST", target: "/fhir", contentType: fhirJSON,
			body: testutil.FHIRBundle("batch", "GET Patient/pat-1", "GET Patient/a b"), want: 400},
		{name: "XML bundle is 400", claims: obs, method: "POST", target: "/fhir", contentType: "application/fhir+xml",
			body: "<Bundle/>", want: 400},
		{name: "oversized bundle is 413", claims: obs, method: "POST", target: "/fhir", contentType: fhirJSON,
			body: testutil.FHIRBundle("batch", "GET Patient/pat-1") + strings.Repeat(" ", fhir.DefaultMaxBodyBytes), want: 413},
	})
}
