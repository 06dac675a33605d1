package testutil

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestLogBufferCollectsConcurrentLines(t *testing.T) {
	t.Parallel()
	var b LogBuffer
	log := b.Logger()
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() { log.Debug("line", "k", "v") })
	}
	wg.Wait()
	assert.Equal(t, 20, countLines(b.String()))
	assert.Contains(t, b.String(), "level=DEBUG msg=line k=v")
}

func countLines(s string) (n int) {
	for _, c := range s {
		if c == '\n' {
			n++
		}
	}
	return n
}
