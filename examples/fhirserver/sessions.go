package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/alexedwards/scs/mysqlstore"
	"github.com/alexedwards/scs/postgresstore"
	"github.com/alexedwards/scs/sqlite3store"
	"github.com/alexedwards/scs/v2"

	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/store"
	"github.com/fhirkit/smart/store/sqlstore"
)

// sessionTables are scs's session tables, one per database, as its
// stores expect them.
var sessionTables = map[sqlstore.Dialect][]string{
	sqlstore.SQLite: {
		`CREATE TABLE IF NOT EXISTS sessions (token TEXT PRIMARY KEY, data BLOB NOT NULL, expiry REAL NOT NULL)`,
		`CREATE INDEX IF NOT EXISTS sessions_expiry_idx ON sessions (expiry)`,
	},
	sqlstore.PostgreSQL: {
		`CREATE TABLE IF NOT EXISTS sessions (token TEXT PRIMARY KEY, data BYTEA NOT NULL, expiry TIMESTAMPTZ NOT NULL)`,
		`CREATE INDEX IF NOT EXISTS sessions_expiry_idx ON sessions (expiry)`,
	},
	sqlstore.MySQL: {
		`CREATE TABLE IF NOT EXISTS sessions (token CHAR(43) PRIMARY KEY, data BLOB NOT NULL, expiry TIMESTAMP(6) NOT NULL, INDEX sessions_expiry_idx (expiry))`,
	},
}

// newSessions keeps the sign-in sessions of the login, picker and consent
// pages where the authorization state lives: in the SQL database when
// there is one, so a restart or a second replica keeps people signed in;
// in memory otherwise. The returned func stops the SQL session store's
// cleanup goroutine, and returns once it has stopped.
func newSessions(ctx context.Context, st store.Store, baseURL string) (*scs.SessionManager, func(), error) {
	secure := strings.HasPrefix(baseURL, "https:")
	db, ok := st.(*sqlstore.DB)
	if !ok {
		// scs's memstore cannot stop its cleanup goroutine without a data
		// race; it holds nothing outside the process, so it is left to end
		// with it.
		return handlers.NewSessionManager(nil, secure), func() {}, nil
	}
	for _, stmt := range sessionTables[db.Dialect()] {
		if _, err := db.SQL().ExecContext(ctx, stmt); err != nil {
			return nil, nil, fmt.Errorf("create the session table: %w", err)
		}
	}
	const cleanup = 10 * time.Minute
	var sessions scs.Store
	var stop func()
	switch db.Dialect() {
	case sqlstore.PostgreSQL:
		s := postgresstore.NewWithCleanupInterval(db.SQL(), cleanup)
		sessions, stop = s, s.StopCleanup
	case sqlstore.MySQL:
		s := mysqlstore.NewWithCleanupInterval(db.SQL(), cleanup)
		sessions, stop = s, s.StopCleanup
	default:
		s := sqlite3store.NewWithCleanupInterval(db.SQL(), cleanup)
		sessions, stop = s, s.StopCleanup
	}
	return handlers.NewSessionManager(sessions, secure), stop, nil
}
