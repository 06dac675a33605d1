package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// driver is the load: the people and backend services, the checks they
// make, and what they measured.
type driver struct {
	cfg    config
	origin string // the proxy's URL: every replica's public base URL
	admin  string // SMART_ADMIN_TOKEN, which authorizes registration
	disc   discovery
	client *http.Client // shared connections; no cookies; redirects seen

	metrics *metrics
	tally   tally
	topo    *topology

	mu       sync.Mutex
	clients  []*registration // every client registered, to read back at the end
	held     []heldToken     // refresh tokens kept, to use at the end
	killedAt atomic.Int64    // Unix nanoseconds of the SIGKILL; 0 before
	directs  atomic.Int64    // answers of replicas reached directly, not through the proxy
	probes   atomic.Int64    // person flows that finished, to pick which are probed
	bprobes  atomic.Int64    // backend runs, likewise
}

// discovery is what the driver reads of the SMART configuration.
type discovery struct {
	Issuer     string `json:"issuer"`
	Authorize  string `json:"authorization_endpoint"`
	Token      string `json:"token_endpoint"`
	Register   string `json:"registration_endpoint"`
	Introspect string `json:"introspection_endpoint"`
	fhir       string
}

// discover reads the SMART configuration through the proxy: the driver
// knows no URL but the FHIR base, as the demo's contract says.
func (d *driver) discover(ctx context.Context) error {
	d.disc.fhir = d.origin + "/fhir"
	r, err := d.get(ctx, d.disc.fhir+"/.well-known/smart-configuration", "")
	if err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	if err := r.want(http.StatusOK); err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	if err := r.decode(&d.disc); err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	for _, u := range []string{d.disc.Authorize, d.disc.Token, d.disc.Register, d.disc.Introspect} {
		if !strings.HasPrefix(u, d.origin+"/") {
			return fmt.Errorf("discovery: endpoint %q is not under %s", u, d.origin)
		}
	}
	return nil
}

// direct turns a URL under the proxy into the same URL on replica n,
// bypassing the proxy.
func (d *driver) direct(rawURL string, n int) string {
	return "http://" + d.topo.hosts[n-1] + strings.TrimPrefix(rawURL, d.origin)
}

func (d *driver) proxied(u *url.URL) bool { return "http://"+u.Host == d.origin }

func (d *driver) killTime() time.Time {
	if ns := d.killedAt.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// registration is a registered client's RFC 7591 answer.
type registration struct {
	ClientID string `json:"client_id"`
	URI      string `json:"registration_client_uri"`
	Token    string `json:"registration_access_token"`
}

// register registers a client with the admin token (RFC 7591) through
// the proxy and remembers it.
func (d *driver) register(ctx context.Context, metadata map[string]any) (*registration, error) {
	body, err := json.Marshal(metadata)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.disc.Register, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+d.admin)
	r, err := d.send(d.client, req)
	if err != nil {
		return nil, err
	}
	if err := r.want(http.StatusCreated); err != nil {
		return nil, err
	}
	var reg registration
	if err := r.decode(&reg); err != nil {
		return nil, err
	}
	if reg.ClientID == "" || reg.Token == "" || !strings.HasPrefix(reg.URI, d.origin+"/") {
		return nil, protocolf("registration answered %s", r.body)
	}
	d.mu.Lock()
	d.clients = append(d.clients, &reg)
	d.mu.Unlock()
	return &reg, nil
}

// heldToken is a refresh token a person's app keeps, with the access
// token it introspects with.
type heldToken struct {
	clientID, access, refresh string
	at                        time.Time
}

// maxHeld bounds the tokens kept for the end of the run.
const maxHeld = 100_000

func (d *driver) hold(h heldToken) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.held) < maxHeld {
		d.held = append(d.held, h)
	}
}

// topology is which replicas are up, as the driver knows it: the
// checks that go to replicas directly take only those up, and a replica
// is killed only while no check is using it.
type topology struct {
	mu    sync.RWMutex
	hosts []string
	up    []bool
}

func newTopology(hosts []string) *topology {
	t := &topology{hosts: hosts, up: make([]bool, len(hosts))}
	for i := range t.up {
		t.up[i] = true
	}
	return t
}

// hold returns the replicas up (1-based) and keeps them up until release
// is called.
func (t *topology) hold() (up []int, release func()) {
	t.mu.RLock()
	for i, ok := range t.up {
		if ok {
			up = append(up, i+1)
		}
	}
	return up, t.mu.RUnlock
}

// set marks replica n up or down, running change (the kill) while no
// check holds the topology.
func (t *topology) set(n int, up bool, change func() error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.up[n-1] = up
	return change()
}
