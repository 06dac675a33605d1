package memory_test

import (
	"testing"

	"github.com/fhirkit/smart/store"
	"github.com/fhirkit/smart/store/memory"
	"github.com/fhirkit/smart/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) store.Store { return memory.New() })
	})
}

func BenchmarkStore(b *testing.B) {
	b.Run("memory", func(b *testing.B) {
		storetest.Bench(b, func(b *testing.B) store.Store { return memory.New() })
	})
}
