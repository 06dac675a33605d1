package schemaversion_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/fhirkit/smart/internal/schemaversion"
)

func TestStopAt(t *testing.T) {
	t.Parallel()
	_, ok := schemaversion.Limit(context.Background())
	assert.False(t, ok, "no limit unless StopAt set one")

	v, ok := schemaversion.Limit(schemaversion.StopAt(context.Background(), 1))
	assert.True(t, ok)
	assert.Equal(t, int64(1), v)
}
