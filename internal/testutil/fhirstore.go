package testutil

import (
	"context"
	"errors"
)

// ResourcePatient is the FHIR enforcement tests' stored resources, as a
// fhir.Config.ResourcePatient: Observation/obs-1 is pat-1's,
// Observation/obs-3 pat-3's, looking up Observation/broken fails, and
// everything else is in no patient's compartment.
func ResourcePatient(_ context.Context, typ, id string) (string, error) {
	switch typ + "/" + id {
	case "Observation/obs-1":
		return "pat-1", nil
	case "Observation/obs-3":
		return "pat-3", nil
	case "Observation/broken":
		return "", errors.New("database down")
	}
	return "", nil
}
