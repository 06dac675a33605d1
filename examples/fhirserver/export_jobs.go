package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/fhirkit/smart/middleware/fhir"
)

// The export jobs: each runs in a goroutine of its own and keeps its
// files in memory until it expires or its client deletes it.

// An exportJob is one kick-off and what it has produced. Its fields
// after mu are guarded by the exporter's mu.
type exportJob struct {
	id              string
	owner           string       // the client_id that kicked it off
	request         fhir.Request // the kick-off as the enforcer judges it
	requestURL      string       // the kick-off URL, for the manifest
	transactionTime time.Time
	types           []string
	patients        map[string]bool // whose compartments; nil for a system export
	since           time.Time       // zero for none
	warnings        []string        // parameters ignored under handling=lenient
	cancel          context.CancelFunc

	done    int // types exported so far
	files   []exportFile
	failed  error
	expires time.Time // zero while running
}

// An exportFile is one NDJSON file of a finished job.
type exportFile struct {
	Type  string `json:"type"`
	URL   string `json:"url"`
	Count int    `json:"count"`
	name  string
	data  []byte
}

// start registers job and runs it in the background; it returns a
// status and message instead when the job may not start.
func (x *exporter) start(job *exportJob) (int, string) {
	now := x.cfg.Now()
	job.id = rand.Text()
	job.transactionTime = now
	ctx, cancel := context.WithCancel(context.Background())
	job.cancel = cancel

	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		cancel()
		return http.StatusServiceUnavailable, "The server is shutting down."
	}
	x.purgeLocked(now)
	owned := 0
	for _, j := range x.jobs {
		if j.owner == job.owner {
			owned++
		}
	}
	if owned >= maxExportJobsPerClient || len(x.jobs) >= maxExportJobs {
		cancel()
		return http.StatusTooManyRequests, "Too many exports are kept for this client: delete finished ones (DELETE their status URL) or wait for them to expire."
	}
	x.jobs[job.id] = job
	x.wg.Add(1)
	go x.run(ctx, job)
	return 0, ""
}

// purgeLocked forgets the jobs whose files have expired.
func (x *exporter) purgeLocked(now time.Time) {
	for id, j := range x.jobs {
		if !j.expires.IsZero() && now.After(j.expires) {
			delete(x.jobs, id)
		}
	}
}

// run writes the job's files one type at a time, Pace apart.
func (x *exporter) run(ctx context.Context, job *exportJob) {
	defer x.wg.Done()
	defer job.cancel()
	pace := time.NewTimer(x.cfg.Pace)
	defer pace.Stop()
	var files []exportFile
	for _, typ := range job.types {
		select {
		case <-ctx.Done():
			return
		case <-pace.C:
			pace.Reset(x.cfg.Pace)
		}
		f, err := x.writeFile(job, typ)
		x.mu.Lock()
		job.done++
		if err != nil {
			job.failed = err
			job.expires = x.cfg.Now().Add(exportRetention)
			x.mu.Unlock()
			x.cfg.Logger.Error("bulk export failed", "job", job.id, "err", err)
			return
		}
		x.mu.Unlock()
		if f.Count > 0 { // the IG: no output item for a type without data
			files = append(files, f)
		}
	}
	if len(job.warnings) > 0 {
		files = append(files, x.warningsFile(job))
	}
	x.mu.Lock()
	job.files = files
	job.expires = x.cfg.Now().Add(exportRetention)
	x.mu.Unlock()
}

// writeFile writes the job's resources of typ as NDJSON.
func (x *exporter) writeFile(job *exportJob, typ string) (exportFile, error) {
	f := exportFile{Type: typ, name: typ + ".ndjson"}
	f.URL = x.cfg.FHIRBase + filePath + job.id + "/" + f.name
	var buf bytes.Buffer
	for _, r := range x.resources(typ) {
		if job.patients != nil && !job.patients[r.patient] {
			continue
		}
		if !job.since.IsZero() && !r.lastUpdated.After(job.since) {
			continue
		}
		line, err := json.Marshal(r.resource)
		if err != nil {
			return f, fmt.Errorf("encode %s: %w", typ, err)
		}
		buf.Write(line)
		buf.WriteByte('\n')
		f.Count++
	}
	f.data = buf.Bytes()
	return f, nil
}

// warningsFile is the manifest's error file: an OperationOutcome for each
// parameter ignored under handling=lenient.
func (x *exporter) warningsFile(job *exportJob) exportFile {
	f := exportFile{Type: "OperationOutcome", name: "OperationOutcome.ndjson", Count: len(job.warnings)}
	f.URL = x.cfg.FHIRBase + filePath + job.id + "/" + f.name
	for _, w := range job.warnings {
		line, _ := json.Marshal(operationOutcome("warning", "not-supported", w))
		f.data = append(append(f.data, line...), '\n')
	}
	return f
}

// exportedResource is one resource an export may write.
type exportedResource struct {
	resource    any
	patient     string // whose compartment holds it; "" for none
	lastUpdated time.Time
}

// resources returns every demo resource of typ.
func (x *exporter) resources(typ string) []exportedResource {
	var out []exportedResource
	add := func(res any, patient string, m meta) {
		t, _ := time.Parse(time.RFC3339, m.LastUpdated)
		out = append(out, exportedResource{resource: res, patient: patient, lastUpdated: t})
	}
	switch typ {
	case "Patient":
		for _, p := range x.cfg.Data.allPatients() {
			add(p, p.ID, p.Meta)
		}
	case "Observation":
		for _, o := range x.cfg.Data.allObservations() {
			add(o, o.patientID(), o.Meta)
		}
	case "Encounter":
		for _, e := range x.cfg.Data.allEncounters() {
			add(e, e.patientID(), e.Meta)
		}
	case "Practitioner":
		for _, id := range []string{"prac-1"} {
			if p, ok := x.cfg.Data.practitioner(id); ok {
				add(p, "", p.Meta)
			}
		}
	case "Group":
		for _, g := range sortedByID(x.groups) {
			add(g, "", g.Meta)
		}
	}
	return out
}

// withJob looks up the job of the request's {job} and lets h serve it
// when the guard lets the token at it.
func (x *exporter) withJob(guard *jobGuard, h func(http.ResponseWriter, *http.Request, *exportJob)) http.Handler {
	return guard.verifier.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		x.mu.Lock()
		x.purgeLocked(x.cfg.Now())
		job := x.jobs[r.PathValue("job")]
		x.mu.Unlock()
		if guard.authorizeJob(w, r, job) {
			h(w, r, job)
		}
	}))
}

// status answers a poll: 202 with X-Progress while the job runs, the
// manifest when it is done, 500 when it failed.
func (x *exporter) status(w http.ResponseWriter, _ *http.Request, job *exportJob) {
	x.mu.Lock()
	done, files, failed, expires := job.done, job.files, job.failed, job.expires
	x.mu.Unlock()
	switch {
	case failed != nil:
		writeOutcome(w, http.StatusInternalServerError, "exception", "The export failed.")
	case expires.IsZero():
		retry := max(1, int((x.cfg.Pace+time.Second-1)/time.Second))
		w.Header().Set("Retry-After", strconv.Itoa(retry))
		w.Header().Set("X-Progress", fmt.Sprintf("%d of %d resource types exported", done, len(job.types)))
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusAccepted)
	default:
		w.Header().Set("Expires", expires.UTC().Format(http.TimeFormat))
		writeManifest(w, job, files)
	}
}

// manifest is the Complete Status body.
type manifest struct {
	TransactionTime     string       `json:"transactionTime"`
	Request             string       `json:"request"`
	RequiresAccessToken bool         `json:"requiresAccessToken"`
	Output              []exportFile `json:"output"`
	Error               []exportFile `json:"error"`
}

func writeManifest(w http.ResponseWriter, job *exportJob, files []exportFile) {
	m := manifest{
		TransactionTime:     job.transactionTime.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		Request:             job.requestURL,
		RequiresAccessToken: true,
		Output:              []exportFile{},
		Error:               []exportFile{},
	}
	for _, f := range files {
		if f.Type == "OperationOutcome" {
			m.Error = append(m.Error, f)
		} else {
			m.Output = append(m.Output, f)
		}
	}
	body, _ := json.Marshal(m)
	setPrivate(w.Header(), "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(body, '\n'))
}

// delete cancels a running job, or releases a finished one's files; the
// status URL answers 404 afterwards.
func (x *exporter) delete(w http.ResponseWriter, r *http.Request, job *exportJob) {
	x.mu.Lock()
	delete(x.jobs, job.id)
	x.mu.Unlock()
	job.cancel()
	x.cfg.Logger.InfoContext(r.Context(), "bulk export deleted", "job", job.id, "client_id", job.owner)
	writeInformation(w, http.StatusAccepted, "The export was deleted.")
}

// file serves one NDJSON file of a finished job.
func (x *exporter) file(w http.ResponseWriter, r *http.Request, job *exportJob) {
	x.mu.Lock()
	files := job.files
	x.mu.Unlock()
	i := slices.IndexFunc(files, func(f exportFile) bool { return f.name == r.PathValue("file") })
	if i < 0 {
		writeOutcome(w, http.StatusNotFound, "not-found", "The export has no file of this name.")
		return
	}
	setPrivate(w.Header(), "application/fhir+ndjson")
	http.ServeContent(w, r, "", job.transactionTime, bytes.NewReader(files[i].data))
}
