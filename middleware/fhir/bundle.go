package fhir

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
)

// bundleJSON is the part of a batch or transaction Bundle the mapping
// reads: its type and each entry's request.
type bundleJSON struct {
	ResourceType string `json:"resourceType"`
	Type         string `json:"type"`
	Entry        []struct {
		Request *struct {
			Method string `json:"method"`
			URL    string `json:"url"`
		} `json:"request"`
	} `json:"entry"`
}

// bundle maps POST [base]: a batch or transaction Bundle in JSON, each
// entry's request.method and request.url mapped as a request of its own.
// A Bundle in another format cannot be checked entry by entry, so it is
// refused rather than let through unread.
func (p *parser) bundle(req *Request) error {
	body, err := p.readBody()
	if err != nil {
		return err
	}
	if !hasMediaType(p.r, "application/fhir+json") && !hasMediaType(p.r, "application/json") {
		return malformed("a batch or transaction must be a JSON Bundle")
	}
	var b bundleJSON
	if err := json.Unmarshal(body, &b); err != nil {
		return malformed("unreadable Bundle")
	}
	if b.ResourceType != "Bundle" {
		return malformed("the body is not a Bundle")
	}
	switch b.Type {
	case "batch":
		req.Kind = KindBatch
	case "transaction":
		req.Kind = KindTransaction
	default:
		return malformed("the Bundle is neither a batch nor a transaction")
	}
	if len(b.Entry) > p.opt.MaxBundleEntries {
		return fmt.Errorf("%w: more than %d entries", ErrBodyTooLarge, p.opt.MaxBundleEntries)
	}
	req.Entries = make([]Request, len(b.Entry))
	entry := parser{opt: p.opt} // no *http.Request: entries have no body to read
	for i, e := range b.Entry {
		if e.Request == nil {
			return malformed(fmt.Sprintf("entry %d has no request", i))
		}
		if req.Entries[i], err = entry.entry(e.Request.Method, e.Request.URL); err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
	}
	return nil
}

// entry maps one Bundle entry's request. Its url is relative to the
// base, as FHIR R4 writes it ("Patient/123", "Observation?patient=p");
// an absolute URL is refused, since its host and base cannot be checked
// against the server's own.
func (p *parser) entry(method, rawURL string) (Request, error) {
	switch method {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE":
	default:
		return Request{}, malformed("invalid entry method")
	}
	u, err := url.Parse(rawURL)
	if err != nil || rawURL == "" {
		return Request{}, malformed("invalid entry url")
	}
	if u.Scheme != "" || u.Host != "" || u.Opaque != "" || u.Fragment != "" {
		return Request{}, malformed("an entry url must be relative to the base")
	}
	if u.RawPath != "" && strings.Contains(strings.ToLower(u.RawPath), "%2f") {
		return Request{}, malformed("encoded slash in an entry url")
	}
	query, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Request{}, malformed("unreadable entry query")
	}
	return p.parse(method, strings.TrimPrefix(u.Path, "/"), query)
}
