package middleware

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const typicalClaims = `{"iss":"https://ehr.example/auth","sub":"user-1","aud":"https://ehr.example/fhir",` +
	`"exp":1900000000,"iat":1800000000,"jti":"j-1","client_id":"app-1",` +
	`"scope":"launch/patient patient/Observation.rs","patient":"pat-1","fhirUser":"Practitioner/p-1"}`

func TestDecodeClaims(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		payload string
		want    tokenClaims
	}{
		{"typical access token", typicalClaims, tokenClaims{
			Issuer: "https://ehr.example/auth", Subject: "user-1", Audience: audience{"https://ehr.example/fhir"},
			Expiry: 1900000000, IssuedAt: 1800000000, ID: "j-1", ClientID: "app-1",
			Scope: "launch/patient patient/Observation.rs", Patient: "pat-1", FHIRUser: "Practitioner/p-1",
		}},
		{"white space, escapes, aud array, fractions, unknown claims", " {\n\t\"iss\" : \"a\\/b\\u00e9\" , \"aud\":[\"x\",\"y\"],\"exp\":1.5e3," +
			`"nbf":12.9,"auth_time":7,"x":{"deep":[1,-2.5e-3,true,false,null,"s\"q"]},"encounter":null,"sub":"é"} `,
			tokenClaims{Issuer: "a/bé", Audience: audience{"x", "y"}, Expiry: 1500, NotBefore: 12, AuthTime: 7, Subject: "é"}},
		{"fhirContext kept as JSON", `{"fhirContext":[{"reference":"Encounter/e-1"}]}`,
			tokenClaims{FHIRContext: json.RawMessage(`[{"reference":"Encounter/e-1"}]`)}},
		{"empty object", `{}`, tokenClaims{}},
		{"names match exactly", `{"ISS":"x","Sub":"y"}`, tokenClaims{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got tokenClaims
			require.NoError(t, decodeClaims([]byte(tt.payload), &got))
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestDecodeClaimsRefuses(t *testing.T) {
	t.Parallel()
	for name, payload := range map[string]string{
		"not an object":          `["iss"]`,
		"empty":                  ``,
		"trailing data":          `{"iss":"a"} x`,
		"two objects":            `{}{}`,
		"duplicate claim":        `{"iss":"a","iss":"b"}`,
		"duplicate, escaped":     `{"iss":"a","i\u0073s":"b"}`,
		"string for a number":    `{"exp":"1900000000"}`,
		"number for a string":    `{"iss":5}`,
		"object for aud":         `{"aud":{"a":1}}`,
		"negative date":          `{"exp":-1}`,
		"date out of range":      `{"exp":1e300}`,
		"unterminated string":    `{"iss":"a}`,
		"control character":      "{\"iss\":\"a\x01\"}",
		"bad escape":             `{"iss":"\x"}`,
		"short unicode escape":   `{"iss":"\u12"}`,
		"missing colon":          `{"iss" "a"}`,
		"missing comma":          `{"iss":"a" "sub":"b"}`,
		"trailing comma":         `{"iss":"a",}`,
		"bad number":             `{"x":01}`,
		"bare minus":             `{"x":-}`,
		"bad literal":            `{"x":nul}`,
		"unclosed unknown claim": `{"x":[1,2}`,
		"deep nesting":           `{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var tc tokenClaims
			assert.Error(t, decodeClaims([]byte(payload), &tc))
		})
	}
}

// FuzzDecodeClaims checks the decoder against encoding/json: whatever it
// accepts, encoding/json accepts and reads alike (apart from what the
// decoder is stricter about: names matching exactly, no repeated claim).
func FuzzDecodeClaims(f *testing.F) {
	for _, seed := range []string{
		typicalClaims, `{}`, `{"aud":["a","b"],"exp":1.5}`, `{"fhirContext":[{"reference":"Encounter/1"}],"x":{"y":[null,true]}}`,
		`{"iss":"\u00e9\n","ISS":"x"}`, `{"iss":"a","iss":"b"}`, `{"exp":null,"patient":null}`, "{\"sub\":\"\xff\"}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		var got tokenClaims
		if decodeClaims(payload, &got) != nil {
			return
		}
		var want tokenClaims
		require.NoError(t, json.Unmarshal(payload, &want), "encoding/json refuses what the decoder accepted")
		var members map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(payload, &members))
		for name := range members {
			if _, exact := claimNames[name]; exact {
				continue
			}
			for known := range claimNames {
				if strings.EqualFold(name, known) {
					return // encoding/json would read it as that claim
				}
			}
		}
		if len(want.FHIRContext) > 0 && len(got.FHIRContext) > 0 {
			// encoding/json keeps a RawMessage as it came, and so do we.
			require.JSONEq(t, string(want.FHIRContext), string(got.FHIRContext))
			want.FHIRContext, got.FHIRContext = nil, nil
		}
		require.Equal(t, want, got)
	})
}

func BenchmarkDecodeClaims(b *testing.B) {
	payload := []byte(typicalClaims)
	b.Run("decodeClaims", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var tc tokenClaims
			if err := decodeClaims(payload, &tc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var tc tokenClaims
			if err := json.Unmarshal(payload, &tc); err != nil {
				b.Fatal(err)
			}
		}
	})
}
