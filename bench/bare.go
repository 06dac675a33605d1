package bench

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"
)

// NewBare is the ceiling: a net/http handler that reads the form and the
// Basic credentials and answers the token response's JSON with a token of
// the size the kit issues, checking and signing nothing.
func NewBare(TB) *Provider {
	token := strings.Repeat("x", 560) // about an ES256 access token of the kit
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		id, _, ok := r.BasicAuth()
		if !ok || r.PostForm.Get("grant_type") == "" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Pragma", "no-cache")
		_ = json.NewEncoder(w).Encode(struct {
			AccessToken string `json:"access_token"`
			TokenType   string `json:"token_type"`
			ExpiresIn   int64  `json:"expires_in"`
			Scope       string `json:"scope"`
			ClientID    string `json:"-"`
		}{token, "Bearer", 300, r.PostForm.Get("scope"), id})
	})
	return &Provider{
		Name: "bare", Token: h,
		ClientCredentialsSecret: func(TB) Request {
			return Request{Form: map[string][]string{"grant_type": {"client_credentials"}, "scope": {BackendScope}},
				Basic: [2]string{"backend", "secret"}}
		},
	}
}

// ReplayCache is the floor of a jti replay check: one insert-if-absent
// into a map under a lock.
type ReplayCache struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

// Use records jti and reports whether it was new.
func (c *ReplayCache) Use(jti string, until time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string]time.Time{}
	}
	if _, ok := c.seen[jti]; ok {
		return false
	}
	c.seen[jti] = until
	return true
}
