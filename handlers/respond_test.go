package handlers

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadForm(t *testing.T) {
	t.Parallel()
	const form = "application/x-www-form-urlencoded"
	tests := []struct {
		name        string
		contentType string
		target      string
		body        string
		want        url.Values // nil: the request is refused
	}{
		{"form body is read", form, "/token", "grant_type=client_credentials&scope=system%2F*.rs",
			url.Values{"grant_type": {"client_credentials"}, "scope": {"system/*.rs"}}},
		{"charset parameter is accepted", form + "; charset=UTF-8", "/token", "token=abc", url.Values{"token": {"abc"}}},
		{"query parameters are not read as the form", form, "/token?token=from-query", "token_type_hint=access_token",
			url.Values{"token_type_hint": {"access_token"}}},
		{"JSON content type is refused", "application/json", "/token", `{"token":"abc"}`, nil},
		{"missing content type is refused", "", "/token", "token=abc", nil},
		{"multipart content type is refused", "multipart/form-data; boundary=x", "/token", "--x--", nil},
		{"repeated parameter is refused", form, "/token", "token=a&token=b", nil},
		{"repeated empty parameter is refused", form, "/token", "scope=&scope=", nil},
		{"body over 64 KiB is refused", form, "/token", "token=" + strings.Repeat("a", maxFormBytes), nil},
		{"malformed escape is refused", form, "/token", "token=%zz", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodPost, tt.target, strings.NewReader(tt.body))
			if tt.contentType != "" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			got, err := readForm(httptest.NewRecorder(), r)
			if tt.want == nil {
				require.Error(t, err)
				e := asError(err)
				assert.Equal(t, ErrInvalidRequest, e.Code)
				assert.Equal(t, http.StatusBadRequest, e.Status)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestWriteJSON(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	writeJSON(w, http.StatusCreated, map[string]any{"active": true, "n": 3})

	assert.Equal(t, http.StatusCreated, w.Code)
	assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	assert.Equal(t, "no-cache", w.Header().Get("Pragma"))
	assert.JSONEq(t, `{"active":true,"n":3}`, w.Body.String())
}
