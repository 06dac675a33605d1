package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAsError(t *testing.T) {
	t.Parallel()
	invalidGrant := badRequest(ErrInvalidGrant, "the code was used")
	tests := []struct {
		name       string
		err        error
		wantCode   string
		wantStatus int
		same       bool // the very *Error passes through
	}{
		{"protocol error passes through", invalidGrant, ErrInvalidGrant, http.StatusBadRequest, true},
		{"wrapped protocol error is unwrapped", fmt.Errorf("redeem: %w", invalidGrant), ErrInvalidGrant, http.StatusBadRequest, true},
		{"client authentication failure keeps 401", errInvalidClient(), ErrInvalidClient, http.StatusUnauthorized, false},
		{"other error becomes server_error 500", errors.New("database is down"), ErrServerError, http.StatusInternalServerError, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := asError(tt.err)
			require.NotNil(t, got)
			assert.Equal(t, tt.wantCode, got.Code)
			assert.Equal(t, tt.wantStatus, got.Status)
			if tt.same {
				assert.Same(t, invalidGrant, got)
			}
			assert.NotContains(t, got.Description, "database", "a cause must not reach the client")
		})
	}
}

func TestErrorString(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "invalid_scope", (&Error{Code: ErrInvalidScope}).Error())
	assert.Equal(t, "invalid_scope: no such scope", (&Error{Code: ErrInvalidScope, Description: "no such scope"}).Error())
}

func TestWriteError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		err           error
		wantStatus    int
		wantBody      map[string]string
		wantChallenge bool
		wantLogged    bool
	}{
		{
			name:       "bad request answers code and description",
			err:        badRequest(ErrInvalidRequest, "token is required"),
			wantStatus: http.StatusBadRequest,
			wantBody:   map[string]string{"error": ErrInvalidRequest, "error_description": "token is required"},
		},
		{
			name:       "empty description is omitted",
			err:        badRequest(ErrUnsupportedGrantType, ""),
			wantStatus: http.StatusBadRequest,
			wantBody:   map[string]string{"error": ErrUnsupportedGrantType},
		},
		{
			name:          "invalid_client carries a Basic challenge",
			err:           errInvalidClient(),
			wantStatus:    http.StatusUnauthorized,
			wantBody:      map[string]string{"error": ErrInvalidClient, "error_description": "client authentication failed"},
			wantChallenge: true,
		},
		{
			name:       "internal error is logged and hidden",
			err:        errors.New("disk full at sector 7"),
			wantStatus: http.StatusInternalServerError,
			wantBody:   map[string]string{"error": ErrServerError, "error_description": "the server could not complete the request"},
			wantLogged: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			s := &Server{log: slog.New(slog.NewTextHandler(&logs, nil))}
			s.issuer, _ = parseBaseURL("https://auth.example/smart")
			w := httptest.NewRecorder()
			s.writeError(w, httptest.NewRequest(http.MethodPost, "/token", nil), tt.err)

			assert.Equal(t, tt.wantStatus, w.Code)
			assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
			var body map[string]string
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
			assert.Equal(t, tt.wantBody, body)
			if tt.wantChallenge {
				assert.Equal(t, `Basic realm="https://auth.example/smart"`, w.Header().Get("WWW-Authenticate"))
			} else {
				assert.Empty(t, w.Header().Get("WWW-Authenticate"))
			}
			if tt.wantLogged {
				assert.Contains(t, logs.String(), "disk full at sector 7")
			} else {
				assert.Empty(t, logs.String())
			}
			assert.NotContains(t, w.Body.String(), "sector 7")
		})
	}
}
