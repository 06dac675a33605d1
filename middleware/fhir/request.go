package fhir

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/fhirkit/smart/scope"
)

// Errors ParseRequest returns. A mapping error wraps one of them;
// the text after the sentinel says what is wrong without repeating the
// request, so it is safe to show the client.
var (
	// ErrMalformedRequest: the request is not a FHIR RESTful request the
	// mapping knows (bad type or id, too many segments, wrong method for
	// the path, an unreadable query, form or Bundle).
	ErrMalformedRequest = errors.New("fhir: malformed FHIR request")
	// ErrBodyTooLarge: a search form or Bundle body is over the limit.
	ErrBodyTooLarge = errors.New("fhir: FHIR request body too large")
)

// Limits ParseRequest applies when no [ParseOptions] say otherwise.
const (
	DefaultMaxBodyBytes     = 1 << 20 // a POST _search form or a batch/transaction Bundle
	DefaultMaxBundleEntries = 1000
)

// A RequestKind says what sort of request a Request is.
type RequestKind uint8

// The kinds of FHIR request.
const (
	// KindInteraction is a RESTful interaction (read, search, create,
	// ...); Request.Interaction says which.
	KindInteraction RequestKind = iota + 1
	// KindOperation is an extended operation such as $everything, at
	// system, type or instance level; Request.Operation names it.
	KindOperation
	// KindBatch and KindTransaction are a Bundle posted to the base;
	// Request.Entries holds its entries' requests.
	KindBatch
	KindTransaction
	// KindCapabilities is GET metadata.
	KindCapabilities
)

// String returns a lower-case name of the kind, such as "operation".
func (k RequestKind) String() string {
	switch k {
	case KindInteraction:
		return "interaction"
	case KindOperation:
		return "operation"
	case KindBatch:
		return "batch"
	case KindTransaction:
		return "transaction"
	case KindCapabilities:
		return "capabilities"
	}
	return "RequestKind(" + fmt.Sprint(uint8(k)) + ")"
}

// A Request is what an HTTP request under a FHIR base asks for, as
// the FHIR R4 RESTful API defines it.
type Request struct {
	Kind   RequestKind
	Method string // the HTTP method, upper case

	// Interaction is the RESTful interaction, for KindInteraction.
	Interaction scope.Interaction
	// Operation is the operation's name with its "$", for KindOperation.
	Operation string

	// ResourceType is empty at system level, and "*" for a compartment
	// search of every type (Patient/123/*).
	ResourceType string
	ID           string
	VersionID    string

	// CompartmentType and CompartmentID name the compartment a search is
	// confined to by its URL: Patient/123/Observation is a search of
	// Observation in compartment Patient 123.
	CompartmentType string
	CompartmentID   string

	// Conditional marks an update, patch or delete addressed by search
	// parameters (PUT Type?params) instead of an id.
	Conditional bool

	// Query holds the search parameters of a search (for POST _search,
	// the query merged with the form body), the conditions of a
	// conditional interaction, and otherwise the URL's query as sent.
	Query url.Values

	// Entries are the requests of a batch or transaction, in order.
	Entries []Request
}

// String describes the request for logs, as in "search-type Observation"
// or "operation $everything Patient/123". It never includes the query.
func (q *Request) String() string {
	var b strings.Builder
	switch q.Kind {
	case KindInteraction:
		b.WriteString(q.Interaction.String())
	case KindOperation:
		b.WriteString("operation ")
		b.WriteString(q.Operation)
	default:
		b.WriteString(q.Kind.String())
	}
	if q.CompartmentType != "" {
		b.WriteString(" " + q.CompartmentType + "/" + q.CompartmentID + "/" + q.ResourceType)
	} else if q.ResourceType != "" {
		b.WriteString(" " + q.ResourceType)
		if q.ID != "" {
			b.WriteString("/" + q.ID)
		}
	}
	return b.String()
}

// ParseOptions bound what ParseRequestOptions reads. Zero fields
// take the defaults.
type ParseOptions struct {
	MaxBodyBytes     int64 // default DefaultMaxBodyBytes
	MaxBundleEntries int   // default DefaultMaxBundleEntries
}

// ParseRequest works out what r asks of the FHIR server whose base
// path is base ("/fhir"; "" or "/" when the server sits at the root or
// when http.StripPrefix has removed the base). It looks only at the
// method, r.URL.Path relative to base, the query and, for POST _search
// and batch/transaction Bundles, the body, which it reads (up to
// DefaultMaxBodyBytes) and puts back in r.Body for the next handler.
// It never relies on a router's path values, so it gives the same
// answer under any router.
//
// The forms it knows are those of FHIR R4's RESTful API (HEAD is read
// as GET; Type is [A-Z][A-Za-z]*, id and vid [A-Za-z0-9\-\.]{1,64}
// but not "." or ".."):
//
//	GET    Type/id                  read
//	GET    Type/id/_history/vid     vread
//	GET    Type/id/_history         history-instance
//	GET    Type/_history            history-type
//	GET    _history                 history-system
//	GET    Type?params              search-type
//	POST   Type/_search             search-type, form body merged into Query
//	GET    ?params  (the base)      search-system
//	POST   _search                  search-system, form body merged
//	GET    Patient/id/Type          search-type of Type in Patient id's
//	                                compartment (also Encounter,
//	                                RelatedPerson, Practitioner, Device;
//	                                Type may be "*")
//	POST   Type                     create (conditional create too)
//	PUT    Type/id, Type?params     update, conditional update
//	PATCH  Type/id, Type?params     patch, conditional patch
//	DELETE Type/id, Type?params     delete, conditional delete
//	GET|POST $op, Type/$op, Type/id/$op  operation at each level
//	POST   (the base)               batch or transaction: a JSON Bundle,
//	                                each entry's request mapped alike
//	GET    metadata                 capabilities
//
// Anything else is an error wrapping ErrMalformedRequest (too many or
// empty segments, an encoded slash, a method the path does not take, a
// conditional interaction without parameters, an unreadable query, form
// or Bundle, a Bundle entry with an absolute url or a POST _search), or
// ErrBodyTooLarge.
func ParseRequest(r *http.Request, base string) (Request, error) {
	return ParseRequestOptions(r, base, ParseOptions{})
}

// ParseRequestOptions is ParseRequest with limits on the body.
func ParseRequestOptions(r *http.Request, base string, opt ParseOptions) (Request, error) {
	opt = opt.withDefaults()
	rel, ok := relativePath(r.URL.Path, base)
	if !ok {
		return Request{}, malformed("the path is not under the FHIR base")
	}
	// An encoded slash would make one path segment here and two in a
	// router that matches the raw path, or the other way round.
	if raw := r.URL.RawPath; raw != "" && strings.Contains(strings.ToLower(raw), "%2f") {
		return Request{}, malformed("encoded slash in the path")
	}
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return Request{}, malformed("unreadable query string")
	}
	p := parser{opt: opt, r: r}
	return p.parse(r.Method, rel, query)
}

func (o ParseOptions) withDefaults() ParseOptions {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.MaxBundleEntries <= 0 {
		o.MaxBundleEntries = DefaultMaxBundleEntries
	}
	return o
}

// relativePath returns path with base and one leading slash removed, or
// false when path is not base or below it.
func relativePath(path, base string) (string, bool) {
	base = strings.TrimSuffix(base, "/")
	if base == "" {
		// At the root, or after http.StripPrefix, which may have taken
		// the slash too.
		return strings.TrimPrefix(path, "/"), true
	}
	rest, ok := strings.CutPrefix(path, base)
	if !ok || rest != "" && rest[0] != '/' {
		return "", false
	}
	return strings.TrimPrefix(rest, "/"), true
}

// parser maps one request, or one Bundle entry when r is nil.
type parser struct {
	opt ParseOptions
	r   *http.Request // nil for a Bundle entry: no body to read
}

// maxSegments is the longest FHIR path: Type/id/_history/vid.
const maxSegments = 4

func (p *parser) parse(method, rel string, query url.Values) (Request, error) {
	if method == http.MethodHead {
		method = http.MethodGet // HEAD asks what GET would, without the body
	}
	var seg [maxSegments]string
	n, ok := splitPath(rel, &seg)
	if !ok {
		return Request{}, malformed("too many or empty path segments")
	}
	req := Request{Method: method, Query: query}
	var err error
	switch n {
	case 0:
		err = p.base(&req)
	case 1:
		err = p.one(&req, seg[0])
	case 2:
		err = p.two(&req, seg[0], seg[1])
	case 3:
		err = three(&req, seg[0], seg[1], seg[2])
	case 4:
		err = four(&req, seg[:])
	}
	if err != nil {
		return Request{}, err
	}
	return req, nil
}

// splitPath cuts rel at "/" into seg without allocating. It fails on an
// empty segment (a//b, a trailing slash) or more than maxSegments.
func splitPath(rel string, seg *[maxSegments]string) (int, bool) {
	if rel == "" {
		return 0, true
	}
	n := 0
	for {
		s, rest, more := strings.Cut(rel, "/")
		if s == "" || n == maxSegments {
			return 0, false
		}
		seg[n] = s
		n++
		if !more {
			return n, true
		}
		rel = rest
	}
}

// base maps requests to the base itself: system search and Bundles.
func (p *parser) base(req *Request) error {
	switch req.Method {
	case http.MethodGet:
		req.Kind, req.Interaction = KindInteraction, scope.SearchSystem
		return nil
	case http.MethodPost:
		if p.r == nil {
			return malformed("a Bundle entry cannot post a Bundle")
		}
		return p.bundle(req)
	}
	return malformed("method not allowed on the base")
}

// one maps [base]/x: metadata, _history, _search, $op and the type level.
func (p *parser) one(req *Request, s string) error {
	switch {
	case s == "metadata":
		req.Kind = KindCapabilities
		return onlyMethod(req, http.MethodGet)
	case s == "_history":
		req.Kind, req.Interaction = KindInteraction, scope.HistorySystem
		return onlyMethod(req, http.MethodGet)
	case s == "_search":
		req.Kind, req.Interaction = KindInteraction, scope.SearchSystem
		return p.postSearch(req)
	case s[0] == '$':
		return operation(req, s)
	}
	if !validType(s) {
		return malformed("invalid resource type")
	}
	req.Kind, req.ResourceType = KindInteraction, s
	switch req.Method {
	case http.MethodGet:
		req.Interaction = scope.SearchType
	case http.MethodPost:
		req.Interaction = scope.Create // conditional create too: If-None-Exist
	case http.MethodPut, http.MethodPatch, http.MethodDelete:
		return conditional(req)
	default:
		return malformed("method not allowed on a resource type")
	}
	return nil
}

// conditional maps PUT, PATCH and DELETE on a type: they need search
// parameters to say which resource they mean.
func conditional(req *Request) error {
	if len(req.Query) == 0 {
		return malformed("a conditional interaction needs search parameters")
	}
	req.Conditional = true
	req.Interaction, _ = writeInteraction(req.Method)
	return nil
}

// writeInteraction maps the methods that change one resource, named by
// id or by search parameters, to their interactions.
func writeInteraction(method string) (scope.Interaction, bool) {
	switch method {
	case http.MethodPut:
		return scope.Update, true
	case http.MethodPatch:
		return scope.Patch, true
	case http.MethodDelete:
		return scope.Delete, true
	}
	return 0, false
}

// two maps Type/x: type history, POST _search, type operations and the
// instance interactions.
func (p *parser) two(req *Request, typ, s string) error {
	if !validType(typ) {
		return malformed("invalid resource type")
	}
	req.ResourceType = typ
	switch {
	case s == "_history":
		req.Kind, req.Interaction = KindInteraction, scope.HistoryType
		return onlyMethod(req, http.MethodGet)
	case s == "_search":
		req.Kind, req.Interaction = KindInteraction, scope.SearchType
		return p.postSearch(req)
	case s[0] == '$':
		return operation(req, s)
	}
	if !validID(s) {
		return malformed("invalid resource id")
	}
	req.Kind, req.ID = KindInteraction, s
	if req.Method == http.MethodGet {
		req.Interaction = scope.Read
		return nil
	}
	in, ok := writeInteraction(req.Method)
	if !ok {
		return malformed("method not allowed on a resource")
	}
	req.Interaction = in
	return nil
}

// compartmentTypes are the compartments FHIR R4 defines; only they may
// start a compartment search URL.
var compartmentTypes = [...]string{"Patient", "Encounter", "RelatedPerson", "Practitioner", "Device"}

// three maps Type/id/x: instance history, instance operations and
// compartment searches.
func three(req *Request, typ, id, s string) error {
	if !validType(typ) {
		return malformed("invalid resource type")
	}
	if !validID(id) {
		return malformed("invalid resource id")
	}
	switch {
	case s == "_history":
		req.Kind, req.Interaction = KindInteraction, scope.HistoryInstance
		req.ResourceType, req.ID = typ, id
		return onlyMethod(req, http.MethodGet)
	case s[0] == '$':
		req.ResourceType, req.ID = typ, id
		return operation(req, s)
	case s != "*" && !validType(s):
		return malformed("invalid resource type")
	}
	isCompartment := false
	for _, c := range compartmentTypes {
		isCompartment = isCompartment || c == typ
	}
	if !isCompartment {
		return malformed("not a compartment")
	}
	req.Kind, req.Interaction = KindInteraction, scope.SearchType
	req.ResourceType, req.CompartmentType, req.CompartmentID = s, typ, id
	return onlyMethod(req, http.MethodGet)
}

// four maps Type/id/_history/vid, the only four-segment form.
func four(req *Request, seg []string) error {
	switch {
	case !validType(seg[0]):
		return malformed("invalid resource type")
	case !validID(seg[1]):
		return malformed("invalid resource id")
	case seg[2] != "_history":
		return malformed("unknown path form")
	case !validID(seg[3]):
		return malformed("invalid version id")
	}
	req.Kind, req.Interaction = KindInteraction, scope.VRead
	req.ResourceType, req.ID, req.VersionID = seg[0], seg[1], seg[3]
	return onlyMethod(req, http.MethodGet)
}

// operation maps an invocation of $name; FHIR allows GET for operations
// that change nothing and POST for all.
func operation(req *Request, name string) error {
	if !validOperation(name) {
		return malformed("invalid operation name")
	}
	req.Kind, req.Operation = KindOperation, name
	if req.Method != http.MethodGet && req.Method != http.MethodPost {
		return malformed("method not allowed on an operation")
	}
	return nil
}

func onlyMethod(req *Request, method string) error {
	if req.Method != method {
		return malformed("method not allowed here")
	}
	return nil
}

// postSearch maps a search by POST: its parameters are the query's and
// the form body's together, and the body stays readable for the next
// handler.
func (p *parser) postSearch(req *Request) error {
	if req.Method != http.MethodPost {
		return malformed("_search takes POST")
	}
	if p.r == nil {
		// An entry's body is a resource, not a form: read it neither
		// here nor wrongly, and let the client send GET instead.
		return malformed("search by POST inside a Bundle: use GET")
	}
	body, err := p.readBody()
	if err != nil {
		return err
	}
	if len(body) == 0 {
		return nil
	}
	if !hasMediaType(p.r, "application/x-www-form-urlencoded") {
		return malformed("a _search body must be application/x-www-form-urlencoded")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return malformed("unreadable search form")
	}
	for k, vs := range form {
		req.Query[k] = append(req.Query[k], vs...)
	}
	return nil
}

// readBody reads the whole body, up to the limit, and puts an identical
// one back in its place.
func (p *parser) readBody() ([]byte, error) {
	if p.r.Body == nil || p.r.Body == http.NoBody {
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(p.r.Body, p.opt.MaxBodyBytes+1))
	p.r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return nil, malformed("unreadable body")
	}
	if int64(len(body)) > p.opt.MaxBodyBytes {
		// The rest stays unread: the next handler must not see a
		// truncated body as if it were whole, so it gets none.
		p.r.Body = http.NoBody
		return nil, ErrBodyTooLarge
	}
	return body, nil
}

func hasMediaType(r *http.Request, want string) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == want
}

// validType reports whether s is a FHIR resource type name:
// [A-Z][A-Za-z]*, bounded so no name is absurdly long.
func validType(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isASCIILetter(s[i]) {
			return false
		}
	}
	return true
}

// validID reports whether s is a FHIR id, [A-Za-z0-9\-\.]{1,64}, other
// than "." and "..": those are path steps to a router that cleans paths,
// and must not name a resource here and another there.
func validID(s string) bool {
	if len(s) == 0 || len(s) > 64 || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isASCIILetter(c) && !isDigit(c) && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// validOperation reports whether s is "$" and an operation name:
// a letter, then letters, digits, "-" or "_".
func validOperation(s string) bool {
	if len(s) < 2 || len(s) > 65 || s[0] != '$' || !isASCIILetter(s[1]) {
		return false
	}
	for i := 2; i < len(s); i++ {
		if c := s[i]; !isASCIILetter(c) && !isDigit(c) && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

func isASCIILetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool       { return '0' <= c && c <= '9' }

func malformed(msg string) error { return fmt.Errorf("%w: %s", ErrMalformedRequest, msg) }
