package handlers

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/fhirkit/smart/access"
)

// manyPatients is a policy under which the clinician sees a whole ward.
type manyPatients struct{}

func (manyPatients) list() []access.Patient {
	var out []access.Patient
	for i := range 30 {
		out = append(out, access.Patient{ID: fmt.Sprintf("ward-%02d", i), Name: fmt.Sprintf("Patient Number%02d", i)})
	}
	return out
}

func (m manyPatients) Patients(_ context.Context, _ access.User, q string, limit int) ([]access.Patient, error) {
	var out []access.Patient
	for _, p := range m.list() {
		if q == "" || strings.Contains(strings.ToLower(p.Name+" "+p.ID), strings.ToLower(q)) {
			out = append(out, p)
		}
	}
	return out[:min(len(out), limit)], nil
}

func (m manyPatients) CanAccessPatient(_ context.Context, _ access.User, id string) (bool, error) {
	return strings.HasPrefix(id, "ward-"), nil
}

func TestPickerSearchesWhenThereAreMany(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withPersonSide, func(c *Config) { c.PatientAccess = manyPatients{} })
	client := ts.personClient(t)
	b := newBrowser(t, ts)
	p := b.signIn(authorizeFor(t, ts, b, validQuery(ts, client)), "clinician")
	assert.Contains(t, p.Body, `role="search"`, "a search box when the list is long")
	assert.Contains(t, p.Body, "Patient Number29 (ward-29)")

	flow := flowInput.FindStringSubmatch(p.Body)[1]
	found := b.get(ts.endpoint("authorize/patient") + "?" + url.Values{"flow": {flow}, "q": {"number07"}}.Encode())
	assert.Contains(t, found.Body, "(ward-07)")
	assert.NotContains(t, found.Body, "(ward-08)")

	small := newTestServer(t, withPersonSide)
	sb := newBrowser(t, small)
	few := sb.signIn(authorizeFor(t, small, sb, validQuery(small, small.personClient(t))), "clinician")
	assert.NotContains(t, few.Body, `role="search"`, "two patients need no search box")
}
