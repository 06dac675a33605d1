package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
)

// selfSignedValidity is how long a development certificate made by
// -tls-self-signed is valid; a new one is made when it has run out.
const selfSignedValidity = 365 * 24 * time.Hour

// checkTLSFlags refuses flag combinations that cannot be served: a
// certificate without its key, a key without its certificate, both
// with -tls-self-signed, and an http base URL for an HTTPS server.
func checkTLSFlags(o options) error {
	switch {
	case o.tlsCert != "" && o.tlsKey == "":
		return errors.New("-tls-cert needs -tls-key: give the certificate's private key file too")
	case o.tlsKey != "" && o.tlsCert == "":
		return errors.New("-tls-key needs -tls-cert: give the certificate file too")
	case o.tlsSelfSigned && o.tlsCert != "":
		return errors.New("-tls-self-signed makes its own certificate: leave out -tls-cert and -tls-key")
	case o.servesTLS() && o.baseURL != "" && !strings.HasPrefix(o.baseURL, "https://"):
		return fmt.Errorf("-base-url %q: the server serves HTTPS, so its public base URL starts with https://", o.baseURL)
	}
	return nil
}

// servesTLS reports whether the flags ask for HTTPS.
func (o options) servesTLS() bool { return o.tlsCert != "" || o.tlsSelfSigned }

// serverTLS returns the TLS configuration the flags ask for (nil for
// plain HTTP) and attributes for the ready log line that say which
// certificate is served.
func serverTLS(o options) (*tls.Config, []any, error) {
	var (
		cert tls.Certificate
		from string
		err  error
	)
	switch {
	case o.tlsCert != "":
		cert, err = tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
		if err != nil {
			return nil, nil, fmt.Errorf("-tls-cert %s / -tls-key %s: %w", o.tlsCert, o.tlsKey, err)
		}
		from = o.tlsCert
	case o.tlsSelfSigned:
		from = selfSignedPath(keysPath(o))
		cert, err = loadOrCreateSelfSigned(from, certHosts(o))
		if err != nil {
			return nil, nil, fmt.Errorf("-tls-self-signed: %w", err)
		}
		if from == "" {
			from = "memory"
		}
	default:
		return nil, nil, nil
	}
	sum := sha256.Sum256(cert.Certificate[0])
	attrs := []any{slog.String("tls_cert", from), slog.String("tls_sha256", fingerprint(sum[:]))}
	// The conformance kits require TLS 1.2 or later on the authorize and
	// token endpoints; Go's server offers only modern suites above it.
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}, attrs, nil
}

// selfSignedPath is where -tls-self-signed keeps its certificate and key:
// one PEM file beside the signing keys (smart.db.keys.pem ->
// smart.db.tls.pem), or nowhere when the keys live in memory.
func selfSignedPath(keys string) string {
	if keys == "" {
		return ""
	}
	return strings.TrimSuffix(strings.TrimSuffix(keys, ".pem"), ".keys") + ".tls.pem"
}

// certHosts are the names a development certificate must cover: the
// base URL's host, and the listen address's host when it names one.
func certHosts(o options) []string {
	var hosts []string
	if u, err := url.Parse(o.baseURL); err == nil && u.Hostname() != "" {
		hosts = append(hosts, u.Hostname())
	}
	if h, _, err := net.SplitHostPort(o.addr); err == nil && h != "" && !slices.Contains(hosts, h) {
		if ip := net.ParseIP(h); ip == nil || !ip.IsUnspecified() {
			hosts = append(hosts, h)
		}
	}
	if len(hosts) == 0 { // -addr :8443 and no -base-url
		hosts = []string{"localhost"}
	}
	return hosts
}

// loadOrCreateSelfSigned reads the development certificate at path, and
// makes and saves a new one when there is none, it has expired, or it
// does not cover hosts. An empty path keeps a new one in memory only.
func loadOrCreateSelfSigned(path string, hosts []string) (tls.Certificate, error) {
	if path != "" {
		data, err := os.ReadFile(path)
		switch {
		case err == nil:
			cert, err := tls.X509KeyPair(data, data)
			if err != nil {
				return tls.Certificate{}, fmt.Errorf("%s: %w (delete it to make a new certificate)", path, err)
			}
			if covers(cert.Leaf, hosts, time.Now()) {
				return cert, nil
			}
		case !errors.Is(err, fs.ErrNotExist):
			return tls.Certificate{}, fmt.Errorf("read %s: %w", path, err)
		}
	}
	certPEM, keyPEM, err := newSelfSigned(hosts, time.Now())
	if err != nil {
		return tls.Certificate{}, err
	}
	pemFile := append(certPEM, keyPEM...)
	if path != "" {
		if err := os.WriteFile(path, pemFile, 0o600); err != nil {
			return tls.Certificate{}, fmt.Errorf("save the certificate: %w", err)
		}
	}
	return tls.X509KeyPair(pemFile, pemFile)
}

// covers reports whether leaf is valid at now for every host.
func covers(leaf *x509.Certificate, hosts []string, now time.Time) bool {
	if leaf == nil || now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return false
	}
	for _, h := range hosts {
		if leaf.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

// newSelfSigned makes an ECDSA P-256 server certificate for hosts, signed
// by its own key, and returns both PEM encoded.
func newSelfSigned(hosts []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("make the certificate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, fmt.Errorf("make the serial number: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"fhirkit/smart demo"}, CommonName: hosts[0]},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(selfSignedValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("make the certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encode the certificate key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// fingerprint writes a certificate digest as openssl does: AB:CD:...
func fingerprint(sum []byte) string {
	var b strings.Builder
	for i, c := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", c)
	}
	return b.String()
}
