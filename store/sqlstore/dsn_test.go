package sqlstore

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sqliteDefaultQuery = "_pragma=busy_timeout%2810000%29&_pragma=journal_mode%28WAL%29&_pragma=synchronous%28NORMAL%29&_txlock=immediate"

func TestParseDSN(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		dsn  string
		want target
	}{
		{"sqlite file", "sqlite:/var/lib/smart/smart.db",
			target{dialect: SQLite, dsn: "/var/lib/smart/smart.db?" + sqliteDefaultQuery}},
		{"sqlite relative file", "sqlite:smart.db", target{dialect: SQLite, dsn: "smart.db?" + sqliteDefaultQuery}},
		{"sqlite in memory", "sqlite::memory:", target{dialect: SQLite, dsn: ":memory:?" + sqliteDefaultQuery, memory: true}},
		{"sqlite pragma of the DSN wins", "sqlite:app.db?_pragma=synchronous(FULL)",
			target{dialect: SQLite, dsn: "app.db?_pragma=synchronous%28FULL%29&_pragma=busy_timeout%2810000%29&_pragma=journal_mode%28WAL%29&_txlock=immediate"}},
		{"sqlite pragma names compare without case", "sqlite:app.db?_pragma=Journal_Mode(DELETE)&_txlock=deferred",
			target{dialect: SQLite, dsn: "app.db?_pragma=Journal_Mode%28DELETE%29&_pragma=busy_timeout%2810000%29&_pragma=synchronous%28NORMAL%29&_txlock=deferred"}},
		{"sqlite other parameters kept", "sqlite:app.db?_time_format=sqlite",
			target{dialect: SQLite, dsn: "app.db?_pragma=busy_timeout%2810000%29&_pragma=journal_mode%28WAL%29&_pragma=synchronous%28NORMAL%29&_time_format=sqlite&_txlock=immediate"}}, // url.Values.Encode sorts by key
		{"postgres URL unchanged", "postgres://u:pw@db:5432/smart?sslmode=disable&search_path=auth",
			target{dialect: PostgreSQL, dsn: "postgres://u:pw@db:5432/smart?sslmode=disable&search_path=auth"}},
		{"postgresql scheme", "postgresql://db/smart", target{dialect: PostgreSQL, dsn: "postgresql://db/smart"}},
		{"mysql gets interpolateParams", "mysql://root:pw@tcp(db:3306)/smart",
			target{dialect: MySQL, dsn: "root:pw@tcp(db:3306)/smart?interpolateParams=true"}},
		{"mysql parameters kept", "mysql://root@tcp(db:3306)/smart?parseTime=true&loc=UTC",
			target{dialect: MySQL, dsn: "root@tcp(db:3306)/smart?parseTime=true&loc=UTC&interpolateParams=true"}},
		{"mysql interpolateParams of the DSN wins", "mysql://root@tcp(db:3306)/smart?interpolateParams=false",
			target{dialect: MySQL, dsn: "root@tcp(db:3306)/smart?interpolateParams=false"}},
		{"mysql unix socket", "mysql://root@unix(/run/mysqld/mysqld.sock)/smart",
			target{dialect: MySQL, dsn: "root@unix(/run/mysqld/mysqld.sock)/smart?interpolateParams=true"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseDSN(tt.dsn)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseDSNErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		dsn  string
		want string // the error
	}{
		{"empty DSN", "", `sqlstore: unsupported DSN scheme "" (want sqlite:, postgres://, postgresql:// or mysql://)`},
		{"unknown scheme", "oracle://scott:hunter2@db/orcl", `sqlstore: unsupported DSN scheme "oracle" (want sqlite:, postgres://, postgresql:// or mysql://)`},
		{"bare path", "/var/lib/smart.db", `sqlstore: unsupported DSN scheme "" (want sqlite:, postgres://, postgresql:// or mysql://)`},
		{"password before a colon", "scott/hunter2@db:1521", `sqlstore: unsupported DSN scheme "" (want sqlite:, postgres://, postgresql:// or mysql://)`},
		{"sqlite without a path", "sqlite:", "sqlstore: sqlite DSN has no path (want sqlite:PATH or sqlite::memory:)"},
		{"sqlite with a query and no path", "sqlite:?_txlock=immediate", "sqlstore: sqlite DSN has no path (want sqlite:PATH or sqlite::memory:)"},
		{"sqlite query that does not parse", "sqlite:app.db?_pragma=%zz", `sqlstore: sqlite DSN query: invalid URL escape "%zz"`},
		{"postgres URL that does not parse", "postgres://u:hunter2@[::1/db", "sqlstore: postgres DSN is not a valid URL"},
		{"mysql without a database", "mysql://root:hunter2@tcp(127.0.0.1:3306)test",
			"sqlstore: mysql DSN has no /dbname (want mysql://user:pass@tcp(host:port)/db)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseDSN(tt.dsn)
			require.EqualError(t, err, tt.want)
			assert.NotContains(t, err.Error(), "hunter2", "the error must not show the password")
		})
	}
}

// TestMySQLDSN splits a go-sql-driver DSN where the driver does: at the
// last "/", and at the first "?" after it.
func TestMySQLDSN(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, dsn, want string
	}{
		{"no parameters", "root@tcp(db)/smart", "root@tcp(db)/smart?interpolateParams=true"},
		{"no database name", "root@tcp(db)/", "root@tcp(db)/?interpolateParams=true"},
		{"only a slash", "/", "/?interpolateParams=true"},
		{"empty query", "root@tcp(db)/smart?", "root@tcp(db)/smart?interpolateParams=true"},
		{"query ending in &", "root@tcp(db)/smart?parseTime=true&", "root@tcp(db)/smart?parseTime=true&interpolateParams=true"},
		{"set to false", "root@tcp(db)/smart?a=1&interpolateParams=false&b=2", "root@tcp(db)/smart?a=1&interpolateParams=false&b=2"},
		{"set without a value", "root@tcp(db)/smart?interpolateParams=", "root@tcp(db)/smart?interpolateParams="},
		{"named without = is no setting", "root@tcp(db)/smart?interpolateParams", "root@tcp(db)/smart?interpolateParams&interpolateParams=true"},
		{"names are case sensitive", "root@tcp(db)/smart?InterpolateParams=false", "root@tcp(db)/smart?InterpolateParams=false&interpolateParams=true"},
		{"a password with ? and / and =", "root:p?w/interpolateParams=false@tcp(db)/smart", "root:p?w/interpolateParams=false@tcp(db)/smart?interpolateParams=true"},
		{"a value that mentions the name", "root@tcp(db)/smart?x=interpolateParams=false", "root@tcp(db)/smart?x=interpolateParams=false&interpolateParams=true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := mysqlDSN(tt.dsn)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// FuzzParseDSN: any text is parsed without a panic, and what parses keeps
// the DSN's own settings and adds only Open's defaults.
func FuzzParseDSN(f *testing.F) {
	for _, s := range []string{
		"sqlite:app.db", "sqlite::memory:", "sqlite:app.db?_pragma=synchronous(FULL)&_txlock=deferred", "sqlite:?",
		"postgres://u:pw@db:5432/smart?sslmode=disable", "postgresql://[::1]/x", "postgres://u:pw@[::1/db",
		"mysql://root:pw@tcp(db:3306)/smart", "mysql://root@tcp(db)/smart?interpolateParams=false",
		"mysql://u:p?w/x@unix(/s)/d?a=b&", "mysql://", "oracle://scott@db", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dsn string) {
		got, err := parseDSN(dsn)
		if err != nil {
			assert.Zero(t, got)
			return
		}
		switch got.dialect {
		case SQLite:
			require.True(t, strings.HasPrefix(dsn, "sqlite:"))
			path, query, _ := strings.Cut(strings.TrimPrefix(dsn, "sqlite:"), "?")
			gotPath, gotQuery, ok := strings.Cut(got.dsn, "?")
			require.True(t, ok, "the driver DSN has a query: %q", got.dsn)
			assert.Equal(t, path, gotPath)
			assert.Equal(t, path == ":memory:", got.memory)
			in, err := url.ParseQuery(query)
			require.NoError(t, err)
			out, err := url.ParseQuery(gotQuery)
			require.NoError(t, err)
			for k, vs := range in {
				assert.Equal(t, vs, out[k][:len(vs)], "the DSN's %s comes first, unchanged", k)
			}
			for _, kv := range sqliteDefaults() {
				assert.True(t, sqliteSets(out, kv[0], kv[1]), "%s=%s is set", kv[0], kv[1])
			}
		case PostgreSQL:
			assert.Equal(t, dsn, got.dsn)
		case MySQL:
			raw := strings.TrimPrefix(dsn, "mysql://")
			require.True(t, strings.HasPrefix(got.dsn, raw), "only appended to: %q", got.dsn)
			if added := strings.TrimPrefix(got.dsn, raw); added != "" {
				assert.Contains(t, []string{"?interpolateParams=true", "&interpolateParams=true", "interpolateParams=true"}, added)
			}
			again, err := mysqlDSN(got.dsn)
			require.NoError(t, err)
			assert.Equal(t, got.dsn, again, "the rewritten DSN sets interpolateParams")
		default:
			t.Fatalf("dialect %q", got.dialect)
		}
	})
}
