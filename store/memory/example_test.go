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

	first, err := s.ConsumeCode(ctx, code.Hash, "jti-1", nil)
	fmt.Println(first.ClientID, err)

	again, err := s.ConsumeCode(ctx, code.Hash, "jti-2", nil)
	if errors.Is(err, store.ErrAlreadyUsed) {
		fmt.Println("replay: revoke grant", again.GrantID, "and token", again.AccessTokenJTI)
	}
	// Output:
	// growth-chart <nil>
	// replay: revoke grant grant-1 and token jti-1
}

// A launch binds one authorization: the authorize request may read it
// while the user decides, and completing the authorization consumes it.
func ExampleStore_ConsumeLaunch() {
	ctx := context.Background()
	s := memory.New()

	err := s.SaveLaunch(ctx, &store.Launch{
		ID:        "launch-1",
		ClientID:  "growth-chart",
		Context:   store.LaunchContext{Patient: "Patient/123"},
		CreatedAt: time.Now(),
		ExpiresAt: time.Now().Add(5 * time.Minute),
	})
	if err != nil {
		panic(err)
	}

	l, err := s.ConsumeLaunch(ctx, "launch-1")
	fmt.Println(l.Context.Patient, err)

	_, err = s.GetLaunch(ctx, "launch-1")
	fmt.Println(errors.Is(err, store.ErrAlreadyUsed))
	// Output:
	// Patient/123 <nil>
	// true
}

// A consent remembers what a user approved for a client; saving again
// replaces it, and revoking is idempotent.
func ExampleStore_SaveConsent() {
	ctx := context.Background()
	s := memory.New()

	save := func(scope string) {
		err := s.SaveConsent(ctx, &store.Consent{
			Subject:   "user-1",
			ClientID:  "growth-chart",
			Scope:     scope,
			CreatedAt: time.Now(),
			ExpiresAt: time.Now().Add(90 * 24 * time.Hour),
		})
		if err != nil {
			panic(err)
		}
	}
	save("openid patient/Observation.rs")
	save("openid patient/Observation.rs patient/Patient.r")

	c, _ := s.GetConsent(ctx, "user-1", "growth-chart")
	fmt.Println(c.Scope)

	_ = s.DeleteConsent(ctx, "user-1", "growth-chart")
	_, err := s.GetConsent(ctx, "user-1", "growth-chart")
	fmt.Println(errors.Is(err, store.ErrNotFound), s.DeleteConsent(ctx, "user-1", "growth-chart"))
	// Output:
	// openid patient/Observation.rs patient/Patient.r
	// true <nil>
}
