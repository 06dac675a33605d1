package middleware

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"

	"github.com/fhirkit/smart/middleware/fhir"
)

// DefaultMaxFilteredBytes bounds a response Protect holds to filter it
// (Config.MaxFilteredBytes).
const DefaultMaxFilteredBytes = 32 << 20

// errTooLargeToFilter is what the buffer reports past its bound.
var errTooLargeToFilter = errors.New("response too large to filter")

// filterResponse serves next into a buffer and sends on only what f lets
// through: a searchset or history Bundle loses the entries f refuses (and
// its total counts them out), a resource f refuses is answered 403. What
// is not a 2xx JSON answer passes as the route wrote it, but for a 2xx in
// another format, which cannot be judged and is refused.
func (p *protection) filterResponse(w http.ResponseWriter, r *http.Request, f *fhir.Filter, next http.Handler) {
	buf := &bufferedResponse{header: http.Header{}, max: p.maxFiltered}
	next.ServeHTTP(buf, r)
	if buf.err != nil {
		p.log.ErrorContext(r.Context(), "granular filter", slog.String("path", r.URL.Path), slog.Any("error", buf.err))
		writeServerError(w, r)
		return
	}
	status := cmpStatus(buf.status)
	if status < 200 || status > 299 || status == http.StatusNoContent {
		buf.sendTo(w, status, buf.body.Bytes())
		return
	}
	if !isJSON(buf.header.Get("Content-Type")) {
		p.log.InfoContext(r.Context(), "granular filter: not JSON", slog.String("path", r.URL.Path))
		writeForbidden(w, r, p.realm, "")
		return
	}
	body, ok, err := filterBody(buf.body.Bytes(), f)
	switch {
	case err != nil:
		p.log.ErrorContext(r.Context(), "granular filter: unreadable response", slog.String("path", r.URL.Path), slog.Any("error", err))
		writeServerError(w, r)
	case !ok:
		p.log.InfoContext(r.Context(), "fhir request refused", slog.String("path", r.URL.Path),
			slog.String("reason", "the resource does not match the granular scopes"))
		writeForbidden(w, r, p.realm, "")
	default:
		buf.sendTo(w, status, body)
	}
}

func cmpStatus(s int) int {
	if s == 0 {
		return http.StatusOK
	}
	return s
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/fhir+json" || mt == "application/json")
}

// filterBody applies f to a FHIR JSON answer: a Bundle's entries, or one
// resource. It reports false when a lone resource does not pass.
func filterBody(body []byte, f *fhir.Filter) ([]byte, bool, error) {
	typ, err := resourceTypeOf(body)
	if err != nil {
		return nil, false, err
	}
	switch typ {
	case "Bundle":
		out, err := filterBundle(body, f)
		return out, err == nil, err
	case f.ResourceType:
		return body, f.Match(body), nil
	}
	return body, true, nil // an OperationOutcome, say
}

// filterBundle rewrites a Bundle without the entries f refuses, keeping
// every other member, and their order, as the route wrote them.
func filterBundle(body []byte, f *fhir.Filter) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil { // {
		return nil, err
	}
	var out bytes.Buffer
	out.WriteByte('{')
	dropped := 0
	var total json.Number
	hasTotal := false
	members := 0
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, err
		}
		name, _ := key.(string)
		switch name {
		case "entry":
			if value, dropped, err = filterEntries(value, f); err != nil {
				return nil, err
			}
		case "total":
			if err := json.Unmarshal(value, &total); err != nil {
				return nil, err
			}
			hasTotal = true
			continue // written last, once the dropped entries are known
		}
		if members > 0 {
			out.WriteByte(',')
		}
		members++
		k, _ := json.Marshal(name)
		out.Write(k)
		out.WriteByte(':')
		out.Write(value)
	}
	if hasTotal {
		n, err := total.Int64()
		if err != nil {
			return nil, err
		}
		if members > 0 {
			out.WriteByte(',')
		}
		out.WriteString(`"total":` + strconv.FormatInt(max(n-int64(dropped), 0), 10))
	}
	out.WriteByte('}')
	return out.Bytes(), nil
}

// filterEntries keeps the entries whose resource f lets through. An entry
// of f's type that f refuses goes, and so does an entry without a
// resource (a deletion in a history), which would tell of a resource f
// refuses; included resources of other types stay, as their own scopes
// allowed them.
func filterEntries(raw json.RawMessage, f *fhir.Filter) (json.RawMessage, int, error) {
	var entries []json.RawMessage
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, 0, err
	}
	kept := entries[:0]
	for _, e := range entries {
		var entry map[string]json.RawMessage
		if err := json.Unmarshal(e, &entry); err != nil {
			return nil, 0, err
		}
		resource := entry["resource"]
		if len(resource) == 0 || string(resource) == "null" {
			continue
		}
		typ, err := resourceTypeOf(resource)
		if err != nil {
			return nil, 0, err
		}
		if typ != f.ResourceType || f.Match(resource) {
			kept = append(kept, e)
		}
	}
	out, err := json.Marshal(kept)
	return out, len(entries) - len(kept), err
}

// resourceTypeOf reads a JSON object's resourceType, matching the name
// exactly as a FHIR client does (encoding/json's structs would also take
// "ResourceType").
func resourceTypeOf(raw json.RawMessage) (string, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return "", err
	}
	var typ string
	if rt, ok := obj["resourceType"]; ok {
		if err := json.Unmarshal(rt, &typ); err != nil {
			return "", err
		}
	}
	return typ, nil
}

// bufferedResponse holds a route's answer until the filter has judged it.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
	max    int64
	err    error
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	if b.err != nil {
		return 0, b.err
	}
	if int64(b.body.Len()+len(p)) > b.max {
		b.err = errTooLargeToFilter
		return 0, b.err
	}
	return b.body.Write(p)
}

// sendTo writes the held answer, with body in place of what the route
// wrote.
func (b *bufferedResponse) sendTo(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	for k, v := range b.header {
		h[k] = v
	}
	h.Del("Content-Length")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = io.Copy(w, bytes.NewReader(body))
}
