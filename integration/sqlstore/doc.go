// Package sqlstore holds the tests of package store/sqlstore that need a
// database driver, which the library does not import: the store
// conformance suite on SQLite (a file and in memory), PostgreSQL and
// MySQL or MariaDB, concurrent and repeated migrations, the upgrade from
// an older schema, and what Open and New do on a real connection.
//
// PostgreSQL and MySQL are tested when SMART_TEST_POSTGRES_DSN and
// SMART_TEST_MYSQL_DSN name a database (each run works in a schema or
// database of its own, dropped afterwards), and skipped otherwise.
package sqlstore
