// Package handlers holds the tests of package handlers that need a
// database driver: replicas sharing one PostgreSQL (with scs's
// postgresstore sessions), a restart in the middle of a flow on SQLite and
// PostgreSQL, and the scenarios of internal/servertest on SQLite (store
// round trips of a code exchange, the token benchmarks).
package handlers
