package main

import (
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fhirkit/smart/middleware"
)

// Bulk Data export (FHIR Bulk Data Access IG v2, "Export"): a backend
// service kicks off GET [base]/$export, [base]/Patient/$export or
// [base]/Group/{id}/$export with Prefer: respond-async, polls the status
// URL the 202 names in Content-Location, and downloads the NDJSON files
// its manifest lists, each with the same client's token.
//
// Export jobs live in this process's memory: a restart forgets them, and
// with several replicas a client must poll the replica that took the
// kick-off. The demo data is small and fixed, so a job takes
// exporterConfig.Pace (-export-pace) per file only so that clients see
// it in progress.

// Bulk Data limits and timings.
const (
	exportRetention        = time.Hour // a finished job and its files are kept this long
	maxExportJobsPerClient = 50        // jobs kept per client, any state; more is 429
	maxExportJobs          = 1000      // jobs kept in all
)

// An exportLevel is where $export was invoked.
type exportLevel uint8

const (
	exportSystem  exportLevel = iota + 1 // [base]/$export: everything
	exportPatient                        // [base]/Patient/$export: every patient's compartment
	exportGroup                          // [base]/Group/{id}/$export: the members' compartments
)

// exportLevelOf maps the resource type and id $export was invoked on to
// its level; ok is false where the demo does not export.
func exportLevelOf(resourceType, id string) (exportLevel, bool) {
	switch {
	case resourceType == "" && id == "":
		return exportSystem, true
	case resourceType == "Patient" && id == "":
		return exportPatient, true
	case resourceType == "Group" && id != "":
		return exportGroup, true
	}
	return 0, false
}

// exportedTypes are the resource types the demo exports, in file order.
// Types of the Patient compartment go in every export; the others only
// in a system-level one.
var exportedTypes = []struct {
	name        string
	patientData bool
}{
	{"Patient", true},
	{"Encounter", true},
	{"Observation", true},
	{"Practitioner", false},
	{"Group", false},
}

// types returns the types an export at level l holds when _type does not
// narrow it.
func (l exportLevel) types() []string {
	var out []string
	for _, t := range exportedTypes {
		if t.patientData || l == exportSystem {
			out = append(out, t.name)
		}
	}
	return out
}

// exporterConfig is what the Bulk Data routes are built from.
type exporterConfig struct {
	Data     *fhirData
	FHIRBase string        // the FHIR base URL: status and file URLs are under it
	Pace     time.Duration // how long a job takes over each file
	Logger   *slog.Logger
	Now      func() time.Time // nil means time.Now
}

// exporter runs Bulk Data export jobs and serves their status and files.
type exporter struct {
	cfg      exporterConfig
	basePath string
	groups   map[string]*groupResource

	mu     sync.Mutex
	jobs   map[string]*exportJob
	closed bool
	wg     sync.WaitGroup // running jobs
}

func newExporter(cfg exporterConfig) (*exporter, error) {
	basePath, err := basePathOf(cfg.FHIRBase)
	if err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.FHIRBase = strings.TrimSuffix(cfg.FHIRBase, "/")
	return &exporter{
		cfg: cfg, basePath: basePath,
		groups: demoGroups(cfg.Data.allPatients()),
		jobs:   map[string]*exportJob{},
	}, nil
}

// Close cancels the running jobs and waits for them to stop; kick-offs
// after Close are answered 503.
func (x *exporter) Close() {
	x.mu.Lock()
	x.closed = true
	for _, j := range x.jobs {
		j.cancel()
	}
	x.mu.Unlock()
	x.wg.Wait()
}

// mountKickOff registers the kick-off routes on the FHIR API's mux,
// behind middleware.Protect, whose enforcer has judged the token by
// exportRule.
func (x *exporter) mountKickOff(mux *http.ServeMux) {
	for path, level := range map[string]exportLevel{
		"/$export": exportSystem, "/Patient/$export": exportPatient, "/Group/{id}/$export": exportGroup,
	} {
		mux.Handle("GET "+x.basePath+path, x.kickOff(level))
		// The IG lets a server take POST with a Parameters body; the demo
		// does not. (Other methods the enforcer already refused.)
		mux.HandleFunc("POST "+x.basePath+path, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Allow", "GET, HEAD")
			writeOutcome(w, http.StatusMethodNotAllowed, "not-supported", "The demo starts exports with GET only.")
		})
	}
}

// statusPath and filePath are the job URLs' paths, under the FHIR base;
// their first segments are lower case, so no FHIR type can clash.
const (
	statusPath = "/bulkstatus/"
	filePath   = "/bulkfiles/"
)

// mountJobs registers the status and file routes on the app's mux, next
// to the FHIR API's: they are more specific than its base path, so
// Protect never sees them (they are outside the FHIR RESTful grammar it
// maps), and guard verifies the token and judges it per job.
func (x *exporter) mountJobs(mux *http.ServeMux, guard *jobGuard) {
	mux.Handle("GET "+x.basePath+statusPath+"{job}", x.withJob(guard, x.status))
	mux.Handle("DELETE "+x.basePath+statusPath+"{job}", x.withJob(guard, x.delete))
	mux.Handle("GET "+x.basePath+filePath+"{job}/{file}", x.withJob(guard, x.file))
}

// kickOff starts a job and answers 202 with its status URL.
func (x *exporter) kickOff(level exportLevel) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := middleware.ClaimsFrom(r.Context())
		if !ok || c == nil { // the enforcer lets no request here without claims
			writeOutcome(w, http.StatusUnauthorized, "login", "A bearer token is required.")
			return
		}
		prefer := parsePrefer(r.Header.Values("Prefer"))
		if !prefer["respond-async"] {
			writeOutcome(w, http.StatusBadRequest, "invalid", "An export runs asynchronously: send Prefer: respond-async.")
			return
		}
		job, err := parseExport(level, r.URL.Query(), prefer["handling=lenient"])
		if err != nil {
			writeOutcome(w, http.StatusBadRequest, "not-supported", err.Error())
			return
		}
		if level == exportGroup {
			g, ok := x.groups[r.PathValue("id")]
			if !ok {
				writeOutcome(w, http.StatusNotFound, "not-found", "No Group has this id.")
				return
			}
			job.patients = g.memberIDs()
		} else if level == exportPatient {
			job.patients = map[string]bool{}
			for _, p := range x.cfg.Data.allPatients() {
				job.patients[p.ID] = true
			}
		}
		job.owner = c.ClientID
		job.request = exportRequest(level, r.PathValue("id"), job.types)
		job.requestURL = x.cfg.FHIRBase + strings.TrimPrefix(r.URL.Path, x.basePath)
		if r.URL.RawQuery != "" {
			job.requestURL += "?" + r.URL.RawQuery
		}
		if status, msg := x.start(job); status != 0 {
			if status == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", "60")
			}
			writeOutcome(w, status, "throttled", msg)
			return
		}
		x.cfg.Logger.InfoContext(r.Context(), "bulk export started", "job", job.id, "client_id", job.owner, "types", strings.Join(job.types, ","))
		w.Header().Set("Content-Location", x.cfg.FHIRBase+statusPath+job.id)
		writeInformation(w, http.StatusAccepted, "The export has started; poll the URL in Content-Location for its status.")
	})
}

// parsePrefer returns the preferences of Prefer headers (RFC 7240) as
// "respond-async" and "handling=lenient", lower case, without their
// parameters.
func parsePrefer(headers []string) map[string]bool {
	prefs := map[string]bool{}
	for _, h := range headers {
		for p := range strings.SplitSeq(h, ",") {
			p, _, _ = strings.Cut(p, ";")
			name, value, _ := strings.Cut(strings.TrimSpace(p), "=")
			p = strings.ToLower(strings.TrimSpace(name))
			if value = strings.Trim(strings.TrimSpace(value), `"`); value != "" {
				p += "=" + strings.ToLower(value)
			}
			prefs[p] = true
		}
	}
	return prefs
}

// parseExport reads the kick-off parameters into a job: _outputFormat
// (NDJSON only), _since and _type. The other parameters of the IG, and
// unknown ones, are refused, or with lenient ignored and reported in the
// manifest's error file.
func parseExport(level exportLevel, q url.Values, lenient bool) (*exportJob, error) {
	job := &exportJob{types: level.types()}
	ignore := func(msg string) error {
		if !lenient {
			return fmt.Errorf("%s (send Prefer: handling=lenient to have it ignored)", msg)
		}
		job.warnings = append(job.warnings, msg+"; it was ignored.")
		return nil
	}
	for _, name := range slices.Sorted(maps.Keys(q)) {
		values := q[name]
		var err error
		switch name {
		case "_outputFormat":
			for _, v := range values {
				if v != "application/fhir+ndjson" && v != "application/ndjson" && v != "ndjson" {
					return nil, fmt.Errorf("_outputFormat %q is not supported: the demo writes application/fhir+ndjson", v)
				}
			}
		case "_since":
			if len(values) != 1 {
				return nil, fmt.Errorf("_since must be given once")
			}
			if job.since, err = parseInstant(values[0]); err != nil {
				return nil, err
			}
		case "_type":
			job.types, err = exportTypes(level, values, ignore)
		case "_elements", "patient", "includeAssociatedData", "_typeFilter":
			err = ignore("The demo does not support the " + name + " parameter")
		default:
			err = ignore(fmt.Sprintf("%q is not an export parameter", name))
		}
		if err != nil {
			return nil, err
		}
	}
	return job, nil
}

// exportTypes reads _type: comma-separated types, possibly repeated, each
// one the level exports. A type it does not is an error, or with
// lenient ignored.
func exportTypes(level exportLevel, values []string, ignore func(string) error) ([]string, error) {
	exported := level.types()
	var types []string
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			t = strings.TrimSpace(t)
			switch {
			case t == "":
				return nil, fmt.Errorf("_type has an empty resource type")
			case !slices.Contains(exported, t):
				if err := ignore(fmt.Sprintf("_type %q is not exported here (the demo exports %s)", t, strings.Join(exported, ", "))); err != nil {
					return nil, err
				}
			case !slices.Contains(types, t):
				types = append(types, t)
			}
		}
	}
	if len(types) == 0 {
		return nil, fmt.Errorf("_type names no type the demo exports here (%s)", strings.Join(exported, ", "))
	}
	return types, nil
}

// parseInstant reads a FHIR instant: a date and time to the second or
// finer, with a time zone.
func parseInstant(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("_since %q is not a FHIR instant such as 2026-01-01T00:00:00Z", s)
	}
	return t, nil
}

// writeInformation answers with an informational OperationOutcome.
func writeInformation(w http.ResponseWriter, status int, diagnostics string) {
	writeFHIR(w, status, operationOutcome("information", "informational", diagnostics))
}

// addBulkDataCapabilities declares the exports in a CapabilityStatement
// as the IG's own CapabilityStatement does: instantiates bulk-data, and
// an operation named export at system level, on Patient and on Group.
func addBulkDataCapabilities(cs map[string]any) {
	const ig = "http://hl7.org/fhir/uv/bulkdata/"
	op := func(def string) []any {
		return []any{map[string]any{"name": "export", "definition": ig + "OperationDefinition/" + def}}
	}
	cs["instantiates"] = []string{ig + "CapabilityStatement/bulk-data"}
	rest := cs["rest"].([]any)[0].(map[string]any)
	rest["operation"] = op("export")
	resources := rest["resource"].([]any)
	for _, r := range resources {
		if r := r.(map[string]any); r["type"] == "Patient" {
			r["operation"] = op("patient-export")
		}
	}
	rest["resource"] = append(resources, map[string]any{"type": "Group", "operation": op("group-export")})
}
