package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// trusting returns an HTTPS client that trusts only the certificate in
// the PEM file certFile, and that certificate.
func trusting(t *testing.T, certFile string) (*http.Client, *x509.Certificate) {
	t.Helper()
	data, err := os.ReadFile(certFile)
	require.NoError(t, err)
	block, _ := pem.Decode(data)
	require.NotNil(t, block)
	require.Equal(t, "CERTIFICATE", block.Type, "the certificate comes first")
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}, cert
}

// TestTLSSelfSignedServesTheBackendFlow: with -tls-self-signed the demo
// serves HTTPS on a certificate for its host, kept beside the keys; a
// real OAuth client (x/oauth2's client credentials, private_key_jwt)
// goes through discovery and the token endpoint to a FHIR read, trusting
// only that certificate; a restart serves the same certificate.
func TestTLSSelfSignedServesTheBackendFlow(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dsn := "sqlite:" + filepath.Join(dir, "smart.db")
	certFile := filepath.Join(dir, "smart.db.tls.pem")
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	client := &backendClient{key: key}

	var fingerprintBefore string
	t.Run("first start", func(t *testing.T) {
		addr, logs := launchDemo(t, "-store", dsn, "-tls-self-signed")
		hc, cert := trusting(t, certFile)
		sum := sha256.Sum256(cert.Raw)
		fingerprintBefore = fingerprint(sum[:])
		assert.Contains(t, logs.String(), "tls_cert="+certFile)
		assert.Contains(t, logs.String(), "tls_sha256="+fingerprintBefore, "the log names the certificate's fingerprint")
		assert.NoError(t, cert.VerifyHostname("127.0.0.1"))
		info, err := os.Stat(certFile)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "the file holds the private key")

		base := "https://" + addr
		ctx := context.WithValue(context.Background(), oauth2.HTTPClient, hc)
		var conf map[string]any
		require.NoError(t, getJSONWith(ctx, hc, base+"/fhir/.well-known/smart-configuration", "", &conf))
		for _, k := range []string{"issuer", "token_endpoint", "registration_endpoint", "jwks_uri"} {
			assert.True(t, strings.HasPrefix(conf[k].(string), base+"/"), "%s is on the https base: %v", k, conf[k])
		}
		status, reg := client.registerWith(t, hc, conf["registration_endpoint"].(string), testAdminToken)
		require.Equal(t, http.StatusCreated, status, "%v", reg)

		tokenURL := conf["token_endpoint"].(string)
		cc := clientcredentials.Config{
			ClientID: client.clientID, TokenURL: tokenURL, Scopes: []string{"system/Patient.rs"},
			EndpointParams: client.assertion(t, tokenURL), AuthStyle: oauth2.AuthStyleInParams,
		}
		tok, err := cc.Token(ctx)
		require.NoError(t, err)
		assert.Equal(t, "system/Patient.rs", tok.Extra("scope"))

		var patient map[string]any
		fhirClient := oauth2.NewClient(ctx, oauth2.StaticTokenSource(tok))
		require.NoError(t, getJSONWith(ctx, fhirClient, base+"/fhir/Patient/pat-1", "", &patient))
		assert.Equal(t, "pat-1", patient["id"])
	})
	t.Run("restart keeps the certificate", func(t *testing.T) {
		_, logs := launchDemo(t, "-store", dsn, "-tls-self-signed")
		assert.Contains(t, logs.String(), "tls_sha256="+fingerprintBefore)
	})
}

// TestTLSRefusesVersionsBefore12: a client that offers at most TLS 1.1
// fails the handshake; TLS 1.2 and 1.3 are served.
func TestTLSRefusesVersionsBefore12(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	addr, _ := launchDemo(t, "-store", "memory", "-keys", filepath.Join(dir, "keys.pem"), "-tls-self-signed")
	_, cert := trusting(t, filepath.Join(dir, "keys.tls.pem"))
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	for _, tt := range []struct {
		name     string
		max      uint16
		accepted bool
	}{
		{"TLS 1.0", tls.VersionTLS10, false},
		{"TLS 1.1", tls.VersionTLS11, false},
		{"TLS 1.2", tls.VersionTLS12, true},
		{"TLS 1.3", tls.VersionTLS13, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS10, MaxVersion: tt.max})
			if !tt.accepted {
				require.Error(t, err)
				assert.Contains(t, err.Error(), "protocol version")
				return
			}
			require.NoError(t, err)
			defer conn.Close()
			assert.Equal(t, tt.max, conn.ConnectionState().Version)
		})
	}
}

// TestTLSCertificateFlags serves a certificate of the operator's own,
// given as two files.
func TestTLSCertificateFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certPEM, keyPEM, err := newSelfSigned([]string{"127.0.0.1"}, time.Now())
	require.NoError(t, err)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, certPEM, 0o644))
	require.NoError(t, os.WriteFile(keyFile, keyPEM, 0o600))

	addr, logs := launchDemo(t, "-store", "memory", "-tls-cert", certFile, "-tls-key", keyFile)
	assert.Contains(t, logs.String(), "tls_cert="+certFile)
	assert.Contains(t, logs.String(), "fhir_base=https://"+addr+"/fhir", "with TLS the default base URL is https")
	hc, _ := trusting(t, certFile)
	var md map[string]any
	require.NoError(t, getJSONWith(context.Background(), hc, "https://"+addr+"/fhir/metadata", "", &md))
	assert.Equal(t, "CapabilityStatement", md["resourceType"])

	resp, err := http.Get("http://" + addr + "/fhir/metadata")
	if err == nil {
		resp.Body.Close()
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "plain HTTP on the TLS port is refused")
	}
}

// TestTLSFlagErrors: each bad TLS start says what is wrong and stops.
func TestTLSFlagErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certPEM, keyPEM, err := newSelfSigned([]string{"127.0.0.1"}, time.Now())
	require.NoError(t, err)
	_, otherKey, err := newSelfSigned([]string{"127.0.0.1"}, time.Now())
	require.NoError(t, err)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, data, 0o600))
		return p
	}
	cert, key := write("cert.pem", certPEM), write("key.pem", keyPEM)
	other, garbage := write("other.pem", otherKey), write("garbage.pem", []byte("not PEM at all"))
	unreadable := filepath.Join(dir, "missing.pem")
	write("corrupt.db.tls.pem", []byte("-----BEGIN CERTIFICATE-----\nbm9wZQ==\n-----END CERTIFICATE-----\n"))

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"certificate without key", []string{"-tls-cert", cert}, "-tls-cert needs -tls-key"},
		{"key without certificate", []string{"-tls-key", key}, "-tls-key needs -tls-cert"},
		{"self-signed and a certificate", []string{"-tls-self-signed", "-tls-cert", cert, "-tls-key", key}, "leave out -tls-cert"},
		{"unreadable certificate", []string{"-tls-cert", unreadable, "-tls-key", key}, "no such file"},
		{"not PEM", []string{"-tls-cert", garbage, "-tls-key", key}, "failed to find any PEM data"},
		{"key of another certificate", []string{"-tls-cert", cert, "-tls-key", other}, "private key does not match public key"},
		{"http base URL with TLS", []string{"-tls-self-signed", "-base-url", "http://127.0.0.1:1"}, "starts with https://"},
		{"corrupt self-signed file", []string{"-tls-self-signed", "-store", "sqlite:" + filepath.Join(dir, "corrupt.db")}, "delete it to make a new certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stderr bytes.Buffer
			err := run(context.Background(), append([]string{"-addr", "127.0.0.1:0"}, tt.args...), func(string) string { return "" }, &stderr)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, stderr.String(), "listening")
		})
	}
}

// TestSelfSignedIsRenewedWhenItNoLongerFits: a kept certificate that has
// expired, or does not cover the host any more, is replaced.
func TestSelfSignedIsRenewedWhenItNoLongerFits(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "dev.tls.pem")
	first, err := loadOrCreateSelfSigned(path, []string{"a.example"})
	require.NoError(t, err)
	again, err := loadOrCreateSelfSigned(path, []string{"a.example"})
	require.NoError(t, err)
	assert.Equal(t, first.Certificate[0], again.Certificate[0], "kept while it fits")

	moved, err := loadOrCreateSelfSigned(path, []string{"b.example", "127.0.0.1"})
	require.NoError(t, err)
	assert.NotEqual(t, first.Certificate[0], moved.Certificate[0])
	assert.NoError(t, moved.Leaf.VerifyHostname("b.example"))
	assert.NoError(t, moved.Leaf.VerifyHostname("127.0.0.1"))

	certPEM, keyPEM, err := newSelfSigned([]string{"b.example"}, time.Now().Add(-2*selfSignedValidity))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, append(certPEM, keyPEM...), 0o600))
	renewed, err := loadOrCreateSelfSigned(path, []string{"b.example"})
	require.NoError(t, err)
	assert.True(t, renewed.Leaf.NotAfter.After(time.Now()), "an expired certificate is replaced")
}
