package sqlstore_test

import (
	"context"
	"fmt"
	"log"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver that sqlite: DSNs use

	"github.com/fhirkit/smart/store"
	"github.com/fhirkit/smart/store/sqlstore"
)

// The program imports the driver of its database for its side effect;
// sqlstore itself imports none.
func ExampleOpen() {
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, "sqlite::memory:")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	err = db.CreateClient(ctx, &store.Client{
		ID:           "growth-chart",
		Name:         "Growth Chart",
		AuthMethod:   store.AuthMethodNone,
		RedirectURIs: []string{"https://app.example/cb"},
		CreatedAt:    time.Now(),
	})
	if err != nil {
		log.Fatal(err)
	}
	c, err := db.GetClient(ctx, "growth-chart")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Name, c.RedirectURIs)
	// Output: Growth Chart [https://app.example/cb]
}
