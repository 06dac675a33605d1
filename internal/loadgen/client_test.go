package loadgen

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClientDialsLoopbackOnly(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://192.0.2.1/elsewhere", http.StatusFound)
	}))
	defer srv.Close()
	client := Client(2)

	resp, err := client.Get(srv.URL)
	require.NoError(t, err)
	_, err = Read(resp, http.StatusFound)
	require.NoError(t, err, "the redirect is the answer; it is not followed")

	// 192.0.2.1 is TEST-NET-1: the check runs before any packet is sent.
	for _, target := range []string{"http://192.0.2.1:80/", "http://[2001:db8::1]:80/"} {
		_, err = client.Get(target)
		assert.ErrorIs(t, err, ErrNotLoopback, target)
	}
}

func TestCheckLoopback(t *testing.T) {
	t.Parallel()
	for target, ok := range map[string]bool{
		"http://127.0.0.1:8080/fhir": true,
		"http://127.8.9.1/":          true,
		"http://[::1]:80/":           true,
		"http://localhost:3000/":     true,
		"http://192.0.2.1/":          false,
		"https://example.org/":       false,
		"http://0.0.0.0:80/":         false,
		"/relative":                  false,
		"http://%zz/":                false,
	} {
		err := CheckLoopback(target)
		if ok {
			assert.NoError(t, err, target)
		} else {
			assert.Error(t, err, target)
		}
	}
}

func TestReadGivesTheBodyOrAStatusError(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			http.Error(w, strings.Repeat("x", 1000), http.StatusBadRequest)
			return
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer srv.Close()
	client := Client(1)

	resp, err := client.Get(srv.URL + "/good")
	require.NoError(t, err)
	body, err := Read(resp, http.StatusOK)
	require.NoError(t, err)
	assert.JSONEq(t, `{"ok":true}`, string(body))

	resp, err = client.Get(srv.URL + "/bad")
	require.NoError(t, err)
	_, err = Read(resp, http.StatusOK)
	var status *StatusError
	require.ErrorAs(t, err, &status)
	assert.Equal(t, http.StatusBadRequest, status.Code)
	assert.Equal(t, http.StatusOK, status.Want)
	assert.Len(t, status.Body, 200, "only the start of the body is kept")
	assert.Equal(t, Kind4xx, Classify(err))
}
