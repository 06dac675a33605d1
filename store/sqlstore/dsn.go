package sqlstore

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// target is what one of Open's DSNs names: a dialect, and the DSN its
// database/sql driver takes.
type target struct {
	dialect Dialect
	dsn     string // the driver's DSN
	memory  bool   // a private in-memory SQLite database
}

// parseDSN reads a DSN of the forms Open documents and returns the
// driver's DSN, with the defaults Open adds. It works on the text alone:
// this package imports no driver. Its errors never quote the DSN, which
// may hold a password.
func parseDSN(dsn string) (target, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		path, query, _ := strings.Cut(strings.TrimPrefix(dsn, "sqlite:"), "?")
		if path == "" {
			return target{}, errors.New("sqlstore: sqlite DSN has no path (want sqlite:PATH or sqlite::memory:)")
		}
		full, err := sqliteDSN(path, query)
		if err != nil {
			return target{}, err
		}
		return target{dialect: SQLite, dsn: full, memory: path == ":memory:"}, nil

	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		if _, err := url.Parse(dsn); err != nil {
			// url.Error quotes the URL, password and all; say less.
			return target{}, errors.New("sqlstore: postgres DSN is not a valid URL")
		}
		return target{dialect: PostgreSQL, dsn: dsn}, nil

	case strings.HasPrefix(dsn, "mysql://"):
		full, err := mysqlDSN(strings.TrimPrefix(dsn, "mysql://"))
		if err != nil {
			return target{}, err
		}
		return target{dialect: MySQL, dsn: full}, nil
	}
	scheme, _, ok := strings.Cut(dsn, ":")
	if !ok || strings.ContainsAny(scheme, "/@") {
		scheme = ""
	}
	return target{}, fmt.Errorf("sqlstore: unsupported DSN scheme %q (want sqlite:, postgres://, postgresql:// or mysql://)", scheme)
}

// sqliteDefaults are the connection settings Open gives a SQLite
// database unless its DSN sets them: wait up to ten seconds for another
// writer instead of failing with "database is locked"; write-ahead logging,
// so readers never wait for the writer; synchronous NORMAL, which in WAL
// mode cannot corrupt the database and may lose only the last commits to a
// power cut; and transactions that take the write lock when they begin, so
// two of them cannot both read and then fail to upgrade.
func sqliteDefaults() [][2]string {
	return [][2]string{
		{"_pragma", "busy_timeout(10000)"},
		{"_pragma", "journal_mode(WAL)"},
		{"_pragma", "synchronous(NORMAL)"},
		{"_txlock", "immediate"},
	}
}

// sqliteDSN adds the defaults the query of a sqlite: DSN does not set.
func sqliteDSN(path, query string) (string, error) {
	q, err := url.ParseQuery(query)
	if err != nil {
		return "", fmt.Errorf("sqlstore: sqlite DSN query: %w", err)
	}
	for _, kv := range sqliteDefaults() {
		if !sqliteSets(q, kv[0], kv[1]) {
			q.Add(kv[0], kv[1])
		}
	}
	return path + "?" + q.Encode(), nil
}

// sqliteSets reports whether q sets the parameter, or for _pragma the
// pragma, that the default value names.
func sqliteSets(q url.Values, key, value string) bool {
	if key != "_pragma" {
		return q.Has(key)
	}
	name, _, _ := strings.Cut(value, "(")
	for _, v := range q["_pragma"] {
		if strings.HasPrefix(strings.ToLower(strings.TrimSpace(v)), name) {
			return true
		}
	}
	return false
}

// mysqlDSN turns on interpolateParams in a go-sql-driver DSN,
// [user[:password]@][net[(addr)]]/dbname[?param1=value1&paramN=valueN],
// unless it sets the parameter: the driver then sends each query with its
// arguments in one round trip instead of preparing it first. Like the
// driver, it takes the parameters to start at the first "?" after the last
// "/" (a password may hold either) and ignores a parameter without "=".
// The driver checks the rest when Open hands it the DSN.
func mysqlDSN(dsn string) (string, error) {
	slash := strings.LastIndexByte(dsn, '/')
	if slash < 0 {
		return "", errors.New("sqlstore: mysql DSN has no /dbname (want mysql://user:pass@tcp(host:port)/db)")
	}
	_, params, hasParams := strings.Cut(dsn[slash+1:], "?")
	for p := range strings.SplitSeq(params, "&") {
		if key, _, ok := strings.Cut(p, "="); ok && key == "interpolateParams" {
			return dsn, nil
		}
	}
	const set = "interpolateParams=true"
	switch {
	case !hasParams:
		return dsn + "?" + set, nil
	case params == "", strings.HasSuffix(params, "&"):
		return dsn + set, nil
	}
	return dsn + "&" + set, nil
}
