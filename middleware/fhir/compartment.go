package fhir

import (
	"context"
	"net/url"
	"strings"

	"github.com/fhirkit/smart/scope"
)

// A Compartment tells whose patient compartment a FHIR request stays in.
// The enforcer asks it when a patient/ scope allows a request (the
// answer must be the token's patient) and when a user/ scope does (the
// answer goes to the host's PatientAccess policy).
//
// [DefaultCompartment] reads what the URL and search parameters say; a
// host that knows more (its own search parameters, links between
// patients) supplies its own, perhaps wrapping the default.
type Compartment interface {
	// PatientOf returns the id of the one patient whose compartment
	// holds everything req can reach, or "" when req is not confined to
	// one patient's compartment (a search without a patient parameter, a
	// create, a resource type outside the compartment). An error is a
	// failure to find out, not a refusal.
	PatientOf(ctx context.Context, req *Request) (string, error)
}

// DefaultCompartment is the Compartment the enforcer uses unless told
// otherwise. It confines a request to patient p when:
//
//   - the URL is p's compartment: Patient/p/Observation, Patient/p/*;
//   - it is an instance interaction on Patient/p, or a search of Patient
//     with _id=p;
//   - it searches (or conditionally updates, patches or deletes) a type
//     of FHIR R4's Patient compartment with one of the parameters that
//     compartment lists for the type (patient, subject, performer, ...)
//     equal to Patient/p, or with that parameter and the :Patient
//     modifier equal to p. For the patient and subject parameters a bare
//     p counts too, as in Observation?patient=p or ?subject=p; a bare id
//     matches a subject of any type with that id, so a server whose ids
//     are not unique across types should supply its own Compartment;
//   - it is an instance interaction (read, vread, history, update, patch,
//     delete) on a type of the Patient compartment and ResourcePatient
//     says the stored resource belongs to p.
//
// Everything else is confined to no one: creates (the patient is in the
// body, which the enforcer does not read), type and system history,
// system searches, and resource types outside the Patient compartment
// (Practitioner, Medication, ...).
type DefaultCompartment struct {
	// ResourcePatient returns the id of the patient whose compartment
	// holds the stored resource Type/id, or "" when it is in none or
	// does not exist. Without it, instance interactions on types other
	// than Patient are confined to no one, so patient/ scopes cannot
	// reach them and user/ scopes cannot pass the access policy.
	ResourcePatient func(ctx context.Context, resourceType, id string) (string, error)
}

var _ Compartment = DefaultCompartment{}

// PatientOf implements Compartment.
func (d DefaultCompartment) PatientOf(ctx context.Context, req *Request) (string, error) {
	if req.Kind != KindInteraction {
		return "", nil
	}
	if req.CompartmentType != "" {
		if req.CompartmentType == "Patient" {
			return req.CompartmentID, nil
		}
		return searchPatient(req.ResourceType, req.Query), nil
	}
	switch req.Interaction {
	case scope.SearchType:
		return searchPatient(req.ResourceType, req.Query), nil
	case scope.Update, scope.Patch, scope.Delete:
		if req.Conditional {
			return searchPatient(req.ResourceType, req.Query), nil
		}
		return d.instancePatient(ctx, req)
	case scope.Read, scope.VRead, scope.HistoryInstance:
		return d.instancePatient(ctx, req)
	}
	return "", nil
}

func (d DefaultCompartment) instancePatient(ctx context.Context, req *Request) (string, error) {
	if req.ResourceType == "Patient" {
		return req.ID, nil
	}
	if d.ResourcePatient == nil || !InPatientCompartment(req.ResourceType) {
		return "", nil
	}
	return d.ResourcePatient(ctx, req.ResourceType, req.ID)
}

// searchPatient returns the patient a search of typ with query is
// confined to, or "". Search parameters are ANDed, so one parameter
// that names the patient confines the whole search, whatever the others.
func searchPatient(typ string, query url.Values) string {
	if typ == "Patient" {
		return samePatient(query["_id"], true)
	}
	params, ok := patientCompartment[typ]
	if !ok {
		return ""
	}
	// Every R4 patient parameter points at the patient, even on types
	// whose compartment entry lists another (Coverage: beneficiary).
	if p := paramPatient(query, "patient", "patient:Patient"); p != "" {
		return p
	}
	for _, name := range params {
		if p := paramPatient(query, name, ""); p != "" {
			return p
		}
	}
	return ""
}

// paramPatient returns the patient that the reference parameter name,
// or its :Patient form (modified, "" to build it), confines a search to.
func paramPatient(query url.Values, name, modified string) string {
	if p := samePatient(query[name], name == "patient" || name == "subject"); p != "" {
		return p
	}
	if vs, ok := lookupModified(query, name, modified); ok {
		return samePatient(vs, true)
	}
	return ""
}

// lookupModified finds name:Patient in query without building the key
// when the query has no such parameter, which is the usual case.
func lookupModified(query url.Values, name, modified string) ([]string, bool) {
	if modified != "" {
		vs, ok := query[modified]
		return vs, ok
	}
	for k, vs := range query {
		if m, ok := strings.CutPrefix(k, name); ok && m == ":Patient" {
			return vs, true
		}
	}
	return nil, false
}

// samePatient returns p when values hold exactly one value whose
// comma-separated alternatives all name patient p, written Patient/p or,
// if bare, p. Repeating the parameter means AND; a single value keeps
// the rule simple and the same as a granular scope's.
func samePatient(values []string, bare bool) string {
	if len(values) != 1 {
		return ""
	}
	id := ""
	for rest, more := values[0], true; more; {
		var part string
		part, rest, more = strings.Cut(rest, ",")
		p, ok := strings.CutPrefix(part, "Patient/")
		if !ok && !bare || !validID(p) || id != "" && p != id {
			return ""
		}
		id = p
	}
	return id
}

// InPatientCompartment reports whether resources of type resourceType
// can be in a patient's compartment, as FHIR R4's CompartmentDefinition
// "patient" lists them (with Patient itself).
func InPatientCompartment(resourceType string) bool {
	_, ok := patientCompartment[resourceType]
	return ok || resourceType == "Patient"
}

// patientCompartment is FHIR R4's CompartmentDefinition "patient": each
// resource type that can be in a patient's compartment, with the search
// parameters that put it there. It is read, never written.
var patientCompartment = map[string][]string{
	"Account":                     {"subject"},
	"AdverseEvent":                {"subject"},
	"AllergyIntolerance":          {"patient", "recorder", "asserter"},
	"Appointment":                 {"actor"},
	"AppointmentResponse":         {"actor"},
	"AuditEvent":                  {"patient"},
	"Basic":                       {"patient", "author"},
	"BodyStructure":               {"patient"},
	"CarePlan":                    {"patient", "performer"},
	"CareTeam":                    {"patient", "participant"},
	"ChargeItem":                  {"subject"},
	"Claim":                       {"patient", "payee"},
	"ClaimResponse":               {"patient"},
	"ClinicalImpression":          {"subject"},
	"Communication":               {"subject", "sender", "recipient"},
	"CommunicationRequest":        {"subject", "sender", "recipient", "requester"},
	"Composition":                 {"subject", "author", "attester"},
	"Condition":                   {"patient", "asserter"},
	"Consent":                     {"patient"},
	"Coverage":                    {"policy-holder", "subscriber", "beneficiary", "payor"},
	"CoverageEligibilityRequest":  {"patient"},
	"CoverageEligibilityResponse": {"patient"},
	"DetectedIssue":               {"patient"},
	"DeviceRequest":               {"subject", "performer"},
	"DeviceUseStatement":          {"subject"},
	"DiagnosticReport":            {"subject"},
	"DocumentManifest":            {"subject", "author", "recipient"},
	"DocumentReference":           {"subject", "author"},
	"Encounter":                   {"patient"},
	"EnrollmentRequest":           {"subject"},
	"EpisodeOfCare":               {"patient"},
	"ExplanationOfBenefit":        {"patient", "payee"},
	"FamilyMemberHistory":         {"patient"},
	"Flag":                        {"patient"},
	"Goal":                        {"patient"},
	"Group":                       {"member"},
	"ImagingStudy":                {"patient"},
	"Immunization":                {"patient"},
	"ImmunizationEvaluation":      {"patient"},
	"ImmunizationRecommendation":  {"patient"},
	"Invoice":                     {"subject", "patient", "recipient"},
	"List":                        {"subject", "source"},
	"MeasureReport":               {"patient"},
	"Media":                       {"subject"},
	"MedicationAdministration":    {"patient", "performer", "subject"},
	"MedicationDispense":          {"subject", "patient", "receiver"},
	"MedicationRequest":           {"subject"},
	"MedicationStatement":         {"subject"},
	"MolecularSequence":           {"patient"},
	"NutritionOrder":              {"patient"},
	"Observation":                 {"subject", "performer"},
	"Person":                      {"patient"},
	"Procedure":                   {"patient", "performer"},
	"Provenance":                  {"patient"},
	"QuestionnaireResponse":       {"subject", "author"},
	"RelatedPerson":               {"patient"},
	"RequestGroup":                {"subject", "participant"},
	"ResearchSubject":             {"individual"},
	"RiskAssessment":              {"subject"},
	"Schedule":                    {"actor"},
	"ServiceRequest":              {"subject", "performer"},
	"Specimen":                    {"subject"},
	"SupplyDelivery":              {"patient"},
	"SupplyRequest":               {"subject"},
	"VisionPrescription":          {"patient"},
}
