package handlers_test

import (
	"testing"

	"github.com/fhirkit/smart/internal/servertest"
	"github.com/fhirkit/smart/store"
	"github.com/fhirkit/smart/store/memory"
)

// The scenarios of internal/servertest on the memory store; the
// integration module runs the same ones on SQL databases.

func TestCodeExchangeCostsTwoStoreRoundTrips(t *testing.T) {
	t.Parallel()
	servertest.CodeExchangeTrips(t, func(*testing.T) store.Store { return memory.New() })
}

func BenchmarkTokenMemory(b *testing.B) {
	servertest.BenchToken(b, func() store.Store { return memory.New() })
}
