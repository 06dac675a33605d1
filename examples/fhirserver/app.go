package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	// The database/sql drivers of the -store DSNs: sqlstore imports none.
	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/fhirkit/smart/handlers"
	"github.com/fhirkit/smart/store"
	"github.com/fhirkit/smart/store/memory"
	"github.com/fhirkit/smart/store/sqlstore"
)

// adminTokenEnv names the variable holding the bearer token that may
// register clients and call the launch endpoint.
const adminTokenEnv = "SMART_ADMIN_TOKEN"

// sweepInterval is how often expired codes, tokens, revocations and jti
// values are removed from the store.
const sweepInterval = 10 * time.Minute

// app is the demo server, assembled.
type app struct {
	handler  http.Handler
	fhirBase string
	close    func() error
}

func (a *app) Close() error { return a.close() }

// newApp opens the store, loads the keys and mounts the kit.
func newApp(ctx context.Context, o options, adminToken string, log *slog.Logger) (*app, error) {
	st, closeStore, err := openStore(ctx, o.storeDSN)
	if err != nil {
		return nil, err
	}
	keys, err := loadOrCreateKeys(keysPath(o))
	if err != nil {
		closeStore()
		return nil, err
	}
	base := strings.TrimSuffix(o.baseURL, "/")
	fhirBase := base + "/fhir"
	passwords, err := newPasswordLogin(log)
	if err != nil {
		closeStore()
		return nil, err
	}
	sessions, stopSessions, err := newSessions(ctx, st, base)
	if err != nil {
		closeStore()
		return nil, err
	}
	data := newDemoData()
	exports, err := newExporter(exporterConfig{Data: data, FHIRBase: fhirBase, Pace: o.exportPace, Logger: log})
	if err != nil {
		stopSessions()
		closeStore()
		return nil, err
	}
	stopSweeping := startSweeper(ctx, st, log)
	// The shutdown order (shutdown.go): background work first, the store last.
	closeAll := func() error { exports.Close(); stopSweeping(); stopSessions(); return closeStore() }
	policy := newDemoAccess(fhirBase, data)
	auth, err := handlers.New(handlers.Config{
		Issuer:                base + "/auth",
		FHIRBaseURL:           fhirBase,
		Store:                 st,
		SigningKeys:           keys,
		AuthorizeRegistration: adminGate(adminToken),
		AuthorizeLaunch:       adminGate(adminToken),
		Authenticator:         passwords,
		PatientAccess:         policy,
		Sessions:              sessions,
		Logger:                log,
		// Served on loopback, the demo is on a developer's machine, where
		// backend clients' jwks_uri servers run on loopback too; anywhere
		// else it fetches jwks_uri documents from public addresses only.
		Outbound: handlers.OutboundPolicy{AllowLoopback: isLoopbackURL(base)},
	})
	if err != nil {
		closeAll()
		return nil, err
	}
	fhirAPI, err := newFHIRAPI(auth, data, policy, exports, log)
	if err != nil {
		closeAll()
		return nil, err
	}
	jobs, err := newJobGuard(auth, data, policy, log)
	if err != nil {
		closeAll()
		return nil, err
	}
	fhirPath, err := basePathOf(auth.FHIRBaseURL())
	if err != nil {
		closeAll()
		return nil, err
	}
	mux := http.NewServeMux()
	auth.Mount(mux)
	mux.Handle("GET "+fhirPath+"/metadata", capabilityStatement(auth))
	mux.Handle(fhirPath+"/", fhirAPI)
	exports.mountJobs(mux, jobs) // more specific than fhirPath+"/": outside the FHIR grammar
	dev, err := newPortal(auth, log)
	if err != nil {
		closeAll()
		return nil, err
	}
	mux.Handle("GET /ehr", auth.RequireLogin(ehrPage{
		auth: auth, clients: st, owner: dev.Owner, data: data, launchURL: base + ehrLaunchPath, log: log,
	}))
	mux.Handle("POST "+ehrLaunchPath, ehrLaunch{auth: auth, data: data})
	mux.Handle(dev.Path()+"/", auth.RequireLogin(dev))
	return &app{handler: mux, fhirBase: fhirBase, close: closeAll}, nil
}

// isLoopbackURL reports whether u is an http(s) URL on localhost or a
// loopback IP address.
func isLoopbackURL(u string) bool {
	parsed, err := url.Parse(u)
	if err != nil {
		return false
	}
	host := parsed.Hostname()
	if addr, err := netip.ParseAddr(host); err == nil {
		return addr.Unmap().IsLoopback()
	}
	return host == "localhost"
}

// openStore opens the -store DSN: memory, or a SQL database.
func openStore(ctx context.Context, dsn string) (store.Store, func() error, error) {
	if dsn == "memory" {
		return memory.New(), func() error { return nil }, nil
	}
	db, err := sqlstore.Open(ctx, dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("-store: %w", err)
	}
	return db, db.Close, nil
}

// keysPath is where the signing keys live: -keys, else beside a SQLite
// file, else nowhere (memory: new keys each start).
func keysPath(o options) string {
	switch {
	case o.keysFile != "":
		return o.keysFile
	case strings.HasPrefix(o.storeDSN, "sqlite:") && !strings.Contains(o.storeDSN, ":memory:"):
		return strings.TrimPrefix(o.storeDSN, "sqlite:") + ".keys.pem"
	case o.storeDSN == "memory":
		return ""
	default:
		return "smart-keys.pem"
	}
}

// adminGate authorizes dynamic client registration with the admin bearer
// token; with no token configured, registration stays closed.
func adminGate(token string) func(*http.Request) (string, error) {
	if token == "" {
		return nil
	}
	return func(r *http.Request) (string, error) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			return "", errors.New("a valid admin bearer token is required")
		}
		return "admin", nil
	}
}

// capabilityStatement answers /metadata: the FHIR server's
// CapabilityStatement, with the kit's SMART security element.
func capabilityStatement(auth *handlers.Server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cs := map[string]any{
			"resourceType": "CapabilityStatement",
			"status":       "active",
			"date":         "2026-01-01",
			"kind":         "instance",
			"fhirVersion":  "4.0.1",
			"format":       []string{"json"},
			"implementation": map[string]any{
				"description": "fhirkit/smart demo FHIR server",
				"url":         auth.FHIRBaseURL(),
			},
			"rest": []any{map[string]any{
				"mode":     "server",
				"security": auth.CapabilityStatementSecurity(),
				"resource": []any{
					resource("Patient", "read", "search-type"),
					resource("Observation", "read", "search-type"),
					resource("Practitioner", "read"),
					resource("Encounter", "read", "search-type"),
				},
			}},
		}
		addBulkDataCapabilities(cs)
		w.Header().Set("Content-Type", "application/fhir+json")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		_ = json.NewEncoder(w).Encode(cs)
	})
}

func resource(typ string, interactions ...string) map[string]any {
	var in []map[string]string
	for _, i := range interactions {
		in = append(in, map[string]string{"code": i})
	}
	return map[string]any{"type": typ, "interaction": in}
}
