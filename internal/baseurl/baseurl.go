// Package baseurl is the one place the kit puts a configured base URL (an
// issuer, a FHIR base) into the form it compares and builds on, so that
// the authorization server and the resource side agree on what "the same
// URL" is: "https://EHR.example.org:443/auth/" and
// "https://ehr.example.org/auth" are one issuer, and a token signed with
// one verifies against the other.
package baseurl

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Parse checks raw and returns it in canonical form: an absolute http or
// https URL without user info, query or fragment; scheme and host in lower
// case; the scheme's default port dropped; no trailing slash; no empty,
// "." or ".." path segments.
func Parse(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%q is not a URL: %w", raw, err)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, fmt.Errorf("%q must be an http or https URL", raw)
	case u.Hostname() == "" || u.Opaque != "":
		return nil, fmt.Errorf("%q must be an absolute URL", raw)
	case u.User != nil:
		return nil, fmt.Errorf("%q must not carry user information", raw)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(raw, "?#"):
		return nil, fmt.Errorf("%q must not have a query or fragment", raw)
	}
	if u.RawPath != "" {
		return nil, fmt.Errorf("%q has escaped characters in its path", raw)
	}
	u.Host = canonicalHost(u.Scheme, u.Host)
	path := strings.TrimSuffix(u.Path, "/")
	if path != "" {
		for seg := range strings.SplitSeq(path[1:], "/") {
			if seg == "" || seg == "." || seg == ".." {
				return nil, fmt.Errorf("%q has an empty, \".\" or \"..\" path segment", raw)
			}
		}
	}
	u.Path = path
	return u, nil
}

// Normalize is Parse's canonical form as a string.
func Normalize(raw string) (string, error) {
	u, err := Parse(raw)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

// canonicalHost lower-cases host and drops the scheme's default port.
func canonicalHost(scheme, host string) string {
	host = strings.ToLower(host)
	h, port, err := net.SplitHostPort(host)
	if err != nil {
		return host
	}
	if scheme == "https" && port == "443" || scheme == "http" && port == "80" {
		if strings.Contains(h, ":") {
			return "[" + h + "]"
		}
		return h
	}
	return host
}

// Same reports whether a URL another party sent (a token's iss or aud)
// names the base whose canonical form is canonical: exactly, or but for a
// trailing slash, which some issuers add.
func Same(sent, canonical string) bool {
	return sent == canonical || len(sent) == len(canonical)+1 && sent[len(canonical)] == '/' && sent[:len(canonical)] == canonical
}
