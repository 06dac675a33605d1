package store_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fhirkit/smart/store"
	"github.com/fhirkit/smart/store/memory"
)

// A replayed authorization code comes back with ErrAlreadyUsed and the
// record, which names what the first redemption was given, so the caller
// can revoke it (RFC 9700 §4.14).
func ExampleCodeStore_ConsumeCode() {
	ctx := context.Background()
	var s store.Store = memory.New()
	code := "the code handed to the client"
	_ = s.SaveCode(ctx, &store.AuthCode{
		Hash:      store.HashSecret(code),
		ClientID:  "app",
		GrantID:   "family-1",
		ExpiresAt: time.Now().Add(time.Minute),
	})

	first, err := s.ConsumeCode(ctx, store.HashSecret(code), "jti-1", nil)
	fmt.Println("first:", first.AccessTokenJTI, err)

	replay, err := s.ConsumeCode(ctx, store.HashSecret(code), "jti-2", nil)
	if errors.Is(err, store.ErrAlreadyUsed) {
		fmt.Println("replay: revoke", replay.AccessTokenJTI, "and family", replay.GrantID)
	}
	// Output:
	// first: jti-1 <nil>
	// replay: revoke jti-1 and family family-1
}

func ExampleHashSecret() {
	fmt.Printf("%x\n", store.HashSecret("abc"))
	// Output: ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
}
