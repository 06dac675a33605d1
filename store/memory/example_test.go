package memory_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fhirkit/smart/store"
	"github.com/fhirkit/smart/store/memory"
)

// A code can be redeemed once; a second redemption is a replay, and the
// store hands back what the first one issued so the caller can revoke it.
func ExampleNew() {
	ctx := context.Background()
	s := memory.New()

	code := &store.AuthCode{
		Hash:      store.HashSecret("the code handed to the client"),
		ClientID:  "growth-chart",
		GrantID:   "grant-1",
		CreatedAt: time.Now(),
		ExpiresAt: time.Now().Add(time.Minute),
	}
	if err := s.SaveCode(ctx, code); err != nil {
		panic(err)
	}

	first, err := s.ConsumeCode(ctx, code.Hash, "jti-1")
	fmt.Println(first.ClientID, err)

	again, err := s.ConsumeCode(ctx, code.Hash, "jti-2")
	if errors.Is(err, store.ErrAlreadyUsed) {
		fmt.Println("replay: revoke grant", again.GrantID, "and token", again.AccessTokenJTI)
	}
	// Output:
	// growth-chart <nil>
	// replay: revoke grant grant-1 and token jti-1
}
