package sqlstore_test

import (
	"context"
	"database/sql"
	"log"
	"os"
	"time"

	"github.com/fhirkit/smart/store/sqlstore"
)

// Open takes a DSN; the program registers the database's driver with a
// blank import, here of the SQLite driver:
//
//	import _ "modernc.org/sqlite"
func ExampleOpen() {
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, "sqlite:/var/lib/smart/smart.db")
	if err != nil {
		log.Fatal(err) // names what failed: the DSN, the driver, the connection, a migration
	}
	defer db.Close()

	// db is a store.Store: hand it to the handlers, and sweep it.
	go func() {
		for range time.Tick(time.Hour) {
			_, _ = db.DeleteExpired(ctx, time.Now())
		}
	}()
}

// A host that owns its pool opens it with the driver of its choice, here
// pgx, and names the dialect:
//
//	import _ "github.com/jackc/pgx/v5/stdlib"
func ExampleNew() {
	ctx := context.Background()
	pool, err := sql.Open("pgx", os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	db, err := sqlstore.New(ctx, pool, sqlstore.PostgreSQL)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close() // leaves pool open: it is the host's
}
