package sqlstore

import (
	"encoding/json"
	"fmt"

	"github.com/fhirkit/smart/store"
)

// encodeStrings keeps a string list as a JSON array; nil becomes "null",
// so nil and empty lists read back as they were saved.
func encodeStrings(s []string) (string, error) {
	b, err := json.Marshal(s)
	return string(b), err
}

func decodeStrings(text string) ([]string, error) {
	var s []string
	if err := json.Unmarshal([]byte(text), &s); err != nil {
		return nil, fmt.Errorf("decode string list: %w", err)
	}
	return s, nil
}

// storedContext is the stored form of a launch context. FHIRContext is kept
// as a JSON string holding the raw bytes, because marshalling a
// json.RawMessage compacts and escapes it, and the caller's bytes must come
// back unchanged.
type storedContext struct {
	Patient           string  `json:"patient,omitempty"`
	Encounter         string  `json:"encounter,omitempty"`
	FHIRContext       *string `json:"fhirContext,omitempty"`
	NeedPatientBanner bool    `json:"need_patient_banner,omitempty"`
	SmartStyleURL     string  `json:"smart_style_url,omitempty"`
	Intent            string  `json:"intent,omitempty"`
	Tenant            string  `json:"tenant,omitempty"`
}

func encodeContext(c store.LaunchContext) (string, error) {
	s := storedContext{
		Patient:           c.Patient,
		Encounter:         c.Encounter,
		NeedPatientBanner: c.NeedPatientBanner,
		SmartStyleURL:     c.SmartStyleURL,
		Intent:            c.Intent,
		Tenant:            c.Tenant,
	}
	if c.FHIRContext != nil {
		raw := string(c.FHIRContext)
		s.FHIRContext = &raw
	}
	b, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("encode launch context: %w", err)
	}
	return string(b), nil
}

func decodeContext(text string) (store.LaunchContext, error) {
	var s storedContext
	if err := json.Unmarshal([]byte(text), &s); err != nil {
		return store.LaunchContext{}, fmt.Errorf("decode launch context: %w", err)
	}
	c := store.LaunchContext{
		Patient:           s.Patient,
		Encounter:         s.Encounter,
		NeedPatientBanner: s.NeedPatientBanner,
		SmartStyleURL:     s.SmartStyleURL,
		Intent:            s.Intent,
		Tenant:            s.Tenant,
	}
	if s.FHIRContext != nil {
		c.FHIRContext = json.RawMessage(*s.FHIRContext)
	}
	return c, nil
}
