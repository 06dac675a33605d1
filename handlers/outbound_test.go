package handlers

import (
	"context"
	"crypto/x509"
	"encoding/binary"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fhirkit/smart/store"
	"github.com/fhirkit/smart/store/memory"
)

// loopbackFetches is the policy of tests whose jwks_uri servers are
// httptest servers on 127.0.0.1: loopback admitted, explicitly.
var loopbackFetches = OutboundPolicy{AllowLoopback: true}

// withOutbound sets the server's outbound policy.
func withOutbound(p OutboundPolicy) func(*Config) {
	return func(c *Config) { c.Outbound = p }
}

// refusedAddrs are addresses the default policy refuses, by the kind of
// range they lie in, in every form the test knows.
var refusedAddrs = []struct{ addr, kind string }{
	{"0.0.0.0", "unspecified"},
	{"0.1.2.3", "this-network"},
	{"10.0.0.1", "private"},
	{"10.255.255.255", "private"},
	{"100.64.0.1", "shared (carrier-grade NAT)"},
	{"100.127.255.254", "shared (carrier-grade NAT)"},
	{"127.0.0.1", "loopback"},
	{"127.255.255.254", "loopback"},
	{"169.254.169.254", "link-local"},
	{"169.254.0.1", "link-local"},
	{"172.16.0.1", "private"},
	{"172.31.255.254", "private"},
	{"192.0.0.170", "IETF protocol"},
	{"192.0.2.1", "documentation"},
	{"192.88.99.1", "6to4 relay"},
	{"192.168.1.1", "private"},
	{"198.18.0.1", "benchmarking"},
	{"198.19.255.254", "benchmarking"},
	{"198.51.100.7", "documentation"},
	{"203.0.113.9", "documentation"},
	{"224.0.0.1", "multicast"},
	{"239.255.255.250", "multicast"},
	{"240.0.0.1", "reserved"},
	{"255.255.255.255", "broadcast"},
	{"::", "unspecified"},
	{"::1", "loopback"},
	{"fe80::1", "link-local"},
	{"fe80::1%eth0", "link-local"},
	{"febf:ffff::1", "link-local"},
	{"fec0::1", "site-local"},
	{"fc00::1", "unique-local"},
	{"fd00::1", "unique-local"},
	{"fd12:3456:789a::1", "unique-local"},
	{"ff02::1", "multicast"},
	{"ff05::1:3", "multicast"},
	{"2001::1", "IETF protocol"},
	{"2001:db8::1", "documentation"},
	{"3fff::1", "documentation"},
	{"100::1", "reserved"},
	{"5f00::1", "reserved"},
	{"::7f00:1", "reserved"},         // IPv4-compatible ::127.0.0.1
	{"::ffff:0:a00:1", "reserved"},   // IPv4-translated (SIIT) 10.0.0.1
	{"64:ff9b:1::a00:1", "reserved"}, // local-use NAT64
	{"::ffff:127.0.0.1", "loopback"}, // IPv4-mapped
	{"::ffff:7f00:1", "loopback"},    // the same, in hexadecimal
	{"::ffff:169.254.169.254", "link-local"},
	{"::ffff:10.0.0.1", "private"},
	{"::ffff:0.0.0.0", "unspecified"},
	{"64:ff9b::a00:1", "private (in NAT64 form)"},
	{"64:ff9b::169.254.169.254", "link-local (in NAT64 form)"},
	{"64:ff9b::127.0.0.1", "loopback (in NAT64 form)"},
	{"2002:a9fe:a9fe::1", "link-local (in 6to4 form)"},
	{"2002:c0a8:101::1", "private (in 6to4 form)"},
}

// publicAddrs are addresses the internet routes, allowed by default.
var publicAddrs = []string{
	"1.1.1.1", "8.8.8.8", "93.184.216.34", "100.63.255.255", "100.128.0.0", "172.15.255.255", "172.32.0.0",
	"192.0.1.1", "192.167.255.255", "198.17.255.255", "198.20.0.0", "223.255.255.255", "11.0.0.1",
	"2606:4700:4700::1111", "2a00:1450:4001::200e", "2001:200::1", "::ffff:8.8.8.8",
	"64:ff9b::8.8.8.8", "2002:808:808::1",
}

func TestOutboundPolicyRefusesSpecialRanges(t *testing.T) {
	t.Parallel()
	var p OutboundPolicy
	for _, tt := range refusedAddrs {
		t.Run(tt.addr, func(t *testing.T) {
			t.Parallel()
			addr := netip.MustParseAddr(tt.addr)
			assert.Equal(t, tt.kind, p.refusedKind(addr))
			err := p.control("tcp", netip.AddrPortFrom(addr, 443).String(), nil)
			require.ErrorIs(t, err, errRefused, "the dial-time check")
			assert.Contains(t, err.Error(), tt.kind)
		})
	}
	for _, a := range publicAddrs {
		t.Run(a, func(t *testing.T) {
			t.Parallel()
			addr := netip.MustParseAddr(a)
			assert.Empty(t, p.refusedKind(addr))
			assert.NoError(t, p.control("tcp", netip.AddrPortFrom(addr, 443).String(), nil))
		})
	}
}

func TestOutboundPolicyOptIns(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		policy  OutboundPolicy
		allowed []string
		refused []string
	}{
		{
			name:    "loopback",
			policy:  OutboundPolicy{AllowLoopback: true},
			allowed: []string{"127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1", "8.8.8.8"},
			refused: []string{"10.0.0.1", "169.254.169.254", "0.0.0.0", "::", "fe80::1", "64:ff9b::127.0.0.1"},
		},
		{
			name:    "a named private prefix",
			policy:  OutboundPolicy{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16"), netip.MustParsePrefix("fd00:1::/32")}},
			allowed: []string{"10.20.0.1", "10.20.255.254", "::ffff:10.20.3.4", "fd00:1::5", "8.8.8.8"},
			refused: []string{"10.21.0.1", "10.0.0.1", "127.0.0.1", "fd00:2::5", "169.254.169.254"},
		},
		{
			name:    "an unmasked prefix is read as its network",
			policy:  OutboundPolicy{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("192.168.1.77/24")}},
			allowed: []string{"192.168.1.1", "192.168.1.254"},
			refused: []string{"192.168.2.1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newOutbound(tt.policy, nil).policy
			for _, a := range tt.allowed {
				assert.NoError(t, p.control("tcp", netip.AddrPortFrom(netip.MustParseAddr(a), 443).String(), nil), a)
			}
			for _, a := range tt.refused {
				assert.ErrorIs(t, p.control("tcp", netip.AddrPortFrom(netip.MustParseAddr(a), 443).String(), nil), errRefused, a)
			}
		})
	}
}

func TestNewRefusesABadOutboundPrefix(t *testing.T) {
	t.Parallel()
	keys, err := sharedTestKeys()
	require.NoError(t, err)
	_, err = New(Config{
		Issuer: "https://as.example", FHIRBaseURL: "https://as.example/fhir", Store: memory.New(), SigningKeys: keys,
		Outbound: OutboundPolicy{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), {}}},
	})
	require.ErrorContains(t, err, "Config.Outbound.AllowPrefixes[1]")
}

// outboundURLs are jwks_uri values and whether the default policy and
// the loopback opt-in accept them at registration ("" accepted, else a
// part of the refusal).
var outboundURLs = []struct {
	uri                string
	byDefault, dev     string
	resolvedAtDialTime bool // a name: only the dial-time check sees where it leads
}{
	{uri: "https://app.example.com/jwks", resolvedAtDialTime: true},
	{uri: "https://app.example.com./jwks", resolvedAtDialTime: true},
	{uri: "https://8.8.8.8/jwks"},
	{uri: "https://[2606:4700:4700::1111]:8443/jwks"},
	{uri: "https://1.2.3.4.example/jwks", resolvedAtDialTime: true},
	{uri: "https://127.0.0.1.example.com/jwks", resolvedAtDialTime: true},
	{uri: "https://metadata.google.internal/computeMetadata/v1/", resolvedAtDialTime: true},
	{uri: "https://169.254.169.254/latest/meta-data/jwks", byDefault: "169.254.169.254, a link-local", dev: "link-local"},
	{uri: "http://169.254.169.254/latest/meta-data/jwks", byDefault: "link-local", dev: "link-local"},
	{uri: "https://10.1.2.3/jwks", byDefault: "10.1.2.3, a private", dev: "private"},
	{uri: "https://172.16.5.4/jwks", byDefault: "private", dev: "private"},
	{uri: "https://192.168.0.10:8443/jwks", byDefault: "private", dev: "private"},
	{uri: "https://100.64.1.1/jwks", byDefault: "carrier-grade NAT", dev: "carrier-grade NAT"},
	{uri: "https://0.0.0.0/jwks", byDefault: "unspecified", dev: "unspecified"},
	{uri: "https://255.255.255.255/jwks", byDefault: "broadcast", dev: "broadcast"},
	{uri: "https://224.0.0.251/jwks", byDefault: "multicast", dev: "multicast"},
	{uri: "https://[fd00::1]/jwks", byDefault: "fd00::1, a unique-local", dev: "unique-local"},
	{uri: "https://[fe80::1%25eth0]/jwks", byDefault: "link-local", dev: "link-local"},
	{uri: "https://[::ffff:169.254.169.254]/jwks", byDefault: "link-local", dev: "link-local"},
	{uri: "https://[64:ff9b::10.0.0.1]/jwks", byDefault: "private (in NAT64 form)", dev: "NAT64"},
	{uri: "https://[::]/jwks", byDefault: "unspecified", dev: "unspecified"},
	{uri: "https://127.0.0.1/jwks", byDefault: "127.0.0.1, a loopback"},
	{uri: "http://127.0.0.1:9999/jwks", byDefault: "loopback"},
	{uri: "http://127.9.9.9/jwks", byDefault: "loopback"},
	{uri: "http://[::1]:9999/jwks", byDefault: "loopback"},
	{uri: "https://[::ffff:127.0.0.1]/jwks", byDefault: "loopback"},
	{uri: "http://localhost:9999/jwks", byDefault: "localhost, a loopback"},
	{uri: "https://LOCALHOST./jwks", byDefault: "loopback"},
	{uri: "https://keys.localhost/jwks", byDefault: "loopback"},
	{uri: "http://2130706433/jwks", byDefault: "a.b.c.d", dev: "a.b.c.d"},
	{uri: "http://0x7f.1/jwks", byDefault: "a.b.c.d", dev: "a.b.c.d"},
	{uri: "http://0X7F000001/jwks", byDefault: "a.b.c.d", dev: "a.b.c.d"},
	{uri: "http://0177.0.0.1/jwks", byDefault: "a.b.c.d", dev: "a.b.c.d"},
	{uri: "http://127.1/jwks", byDefault: "a.b.c.d", dev: "a.b.c.d"},
	{uri: "https://169.254.43518/jwks", byDefault: "a.b.c.d", dev: "a.b.c.d"},
	{uri: "https://012.0.0.1/jwks", byDefault: "a.b.c.d", dev: "a.b.c.d"},
	{uri: "https://keys.example.0x1/jwks", byDefault: "a.b.c.d", dev: "a.b.c.d"},
	{uri: "http://app.example.com/jwks", byDefault: "https", dev: "https", resolvedAtDialTime: true},
	{uri: "http://8.8.8.8/jwks", byDefault: "https", dev: "https"},
	{uri: "ftp://app.example.com/jwks", byDefault: "https", dev: "https"},
	{uri: "https://user:pw@app.example.com/jwks", byDefault: "user information", dev: "user information"},
	{uri: "https://app.example.com/jwks#k", byDefault: "fragment", dev: "fragment"},
	{uri: "/jwks", byDefault: "absolute", dev: "absolute"},
	{uri: "https:///jwks", byDefault: "absolute", dev: "absolute"},
	{uri: "https://:443/jwks", byDefault: "absolute", dev: "absolute"},
}

func TestOutboundCheckURL(t *testing.T) {
	t.Parallel()
	for _, tt := range outboundURLs {
		t.Run(tt.uri, func(t *testing.T) {
			t.Parallel()
			for _, c := range []struct {
				policy OutboundPolicy
				want   string
			}{{OutboundPolicy{}, tt.byDefault}, {loopbackFetches, tt.dev}} {
				_, err := c.policy.checkURL(tt.uri)
				if c.want == "" {
					assert.NoError(t, err, "loopback allowed: %v", c.policy.AllowLoopback)
				} else if assert.Error(t, err, "loopback allowed: %v", c.policy.AllowLoopback) {
					assert.Contains(t, err.Error(), c.want)
				}
			}
		})
	}
}

// TestRegistrationRefusesJWKSURIOutsideThePolicy registers each URL over
// HTTP: a refused one is a 400 invalid_client_metadata and nothing is
// stored; with loopback admitted, a loopback one is a 201.
func TestRegistrationRefusesJWKSURIOutsideThePolicy(t *testing.T) {
	t.Parallel()
	for _, policy := range []struct {
		name   string
		config OutboundPolicy
	}{{"by default", OutboundPolicy{}}, {"with loopback admitted", loopbackFetches}} {
		t.Run(policy.name, func(t *testing.T) {
			t.Parallel()
			g := newRegRig(t, withOutbound(policy.config))
			accepted := 0
			for _, tt := range outboundURLs {
				want := tt.byDefault
				if policy.config.AllowLoopback {
					want = tt.dev
				}
				w := g.register(regJSON(t, regWith(regBackendMeta(t), "jwks", nil, "jwks_uri", tt.uri)))
				if want == "" {
					assert.Equal(t, http.StatusCreated, w.Code, "%s: %s", tt.uri, w.Body)
					accepted++
					continue
				}
				body := regError(t, w, http.StatusBadRequest, ErrInvalidClientMetadata)
				assert.Contains(t, body["error_description"], "jwks_uri", tt.uri)
				assert.Contains(t, body["error_description"], want, tt.uri)
			}
			clients, err := g.Store.ListClients(t.Context(), "admin")
			require.NoError(t, err)
			assert.Len(t, clients, accepted, "only the accepted registrations are stored")
		})
	}
}

// testDNS is a DNS server on a loopback UDP port answering A and AAAA
// queries from a table that a test may change between queries. Names
// resolve through Go's real resolver (resolver), so the policy's dialer
// sees the addresses they lead to exactly as it would with a real DNS.
type testDNS struct {
	conn  net.PacketConn
	mu    sync.Mutex
	hosts map[string]netip.Addr // by lower-case name with the final dot
}

func newTestDNS(t *testing.T) *testDNS {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	d := &testDNS{conn: conn, hosts: map[string]netip.Addr{}}
	done := make(chan struct{})
	go d.serve(done)
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
	return d
}

// set points name at addr.
func (d *testDNS) set(name, addr string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.hosts[strings.ToLower(strings.TrimSuffix(name, "."))+"."] = netip.MustParseAddr(addr)
}

func (d *testDNS) resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dialer net.Dialer
		return dialer.DialContext(ctx, "udp", d.conn.LocalAddr().String())
	}}
}

func (d *testDNS) serve(done chan<- struct{}) {
	defer close(done)
	buf := make([]byte, 1500)
	for {
		n, from, err := d.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		if answer := d.answer(buf[:n]); answer != nil {
			_, _ = d.conn.WriteTo(answer, from)
		}
	}
}

// answer is the response to the query q (RFC 1035 §4.1): its header and
// question, and an A or AAAA record when the table has an address of the
// type asked for; NXDOMAIN for a name it does not know.
func (d *testDNS) answer(q []byte) []byte {
	if len(q) < 12 {
		return nil
	}
	var name strings.Builder
	i := 12
	for i < len(q) && q[i] != 0 {
		l := int(q[i])
		if i+1+l > len(q) {
			return nil
		}
		name.WriteString(strings.ToLower(string(q[i+1:i+1+l])) + ".")
		i += 1 + l
	}
	if i+5 > len(q) {
		return nil
	}
	question := q[12 : i+5]
	qtype := binary.BigEndian.Uint16(q[i+1:])
	d.mu.Lock()
	addr, known := d.hosts[name.String()]
	d.mu.Unlock()
	var rdata []byte
	switch {
	case qtype == 1 && addr.Is4():
		a := addr.As4()
		rdata = a[:]
	case qtype == 28 && addr.Is6():
		a := addr.As16()
		rdata = a[:]
	}
	rcode := byte(0)
	if !known {
		rcode = 3 // NXDOMAIN
	}
	resp := append([]byte{q[0], q[1], 0x84 | q[2]&0x01, 0x80 | rcode, 0, 1, 0, 0, 0, 0, 0, 0}, question...)
	if rdata != nil {
		resp[7] = 1
		resp = append(resp, 0xc0, 12) // the name, pointing at the question's
		resp = binary.BigEndian.AppendUint16(resp, qtype)
		resp = append(resp, 0, 1, 0, 0, 0, 0) // class IN, TTL 0
		resp = binary.BigEndian.AppendUint16(resp, uint16(len(rdata)))
		resp = append(resp, rdata...)
	}
	return resp
}

// countingServer is an HTTP(S) server on addr ("127.0.0.1:0", ...) that
// counts its requests and answers with handler.
type countingServer struct {
	*httptest.Server
	hits atomic.Int32
}

func newCountingServer(t *testing.T, addr string, useTLS bool, handler http.HandlerFunc) *countingServer {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s on this machine: %v", addr, err)
	}
	s := &countingServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		handler(w, r)
	}))
	s.Listener.Close()
	s.Listener = ln
	if useTLS {
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(s.Close)
	return s
}

// port is the server's port.
func (s *countingServer) port() string {
	_, port, _ := net.SplitHostPort(s.Listener.Addr().String())
	return port
}

// rootsOf trusts the httptest TLS servers' certificate (for 127.0.0.1,
// ::1 and example.com).
func rootsOf(s *httptest.Server) *x509.CertPool {
	return s.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
}

func serveKeys(doc []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(doc) }
}

// TestOutboundDialTimeCheck resolves names through a test DNS: a name
// that leads, or is rebound, to a refused address is refused by the
// dialer's check, before any connection, while the same name on an
// admitted address is fetched.
func TestOutboundDialTimeCheck(t *testing.T) {
	t.Parallel()
	doc := jwks(t, clientKey(t, "es384", jose.ES384))
	good := newCountingServer(t, "127.0.0.1:0", true, serveKeys(doc))
	// The refused server listens where a name will lead, to show that
	// nothing reaches it. Same port, so one URL serves both.
	refused := newCountingServer(t, "127.0.0.2:"+good.port(), true, serveKeys(doc))
	dns := newTestDNS(t)
	// Only the good server's address is admitted: 127.0.0.2 is loopback
	// like it, but refused. The certificate is for example.com.
	policy := OutboundPolicy{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, RootCAs: rootsOf(good.Server)}
	out := newOutbound(policy, dns.resolver())
	keysAt := func(uri string) error {
		_, err := newJWKSCache(out, (&testClock{}).Now).keys(t.Context(), uri, "")
		return err
	}
	uri := "https://example.com:" + good.port() + "/jwks"

	t.Run("a name on an admitted address is fetched", func(t *testing.T) {
		dns.set("example.com", "127.0.0.1")
		require.NoError(t, keysAt(uri))
		assert.Equal(t, int32(1), good.hits.Load())
	})
	t.Run("the same name rebound to a refused address is refused", func(t *testing.T) {
		dns.set("example.com", "127.0.0.2")
		out.client.CloseIdleConnections() // a new connection, so a new resolution
		err := keysAt(uri)
		require.ErrorIs(t, err, errRefused)
		assert.Contains(t, err.Error(), "127.0.0.2 is a loopback address")
		assert.Zero(t, refused.hits.Load())
	})
	for _, tt := range []struct{ name, addr, kind string }{
		{"metadata.example", "169.254.169.254", "link-local"},
		{"db.example", "10.0.0.5", "private"},
		{"ula.example", "fd00::5", "unique-local"},
		{"mapped.example", "::ffff:192.168.0.1", "private"},
	} {
		t.Run(tt.name+" resolving to "+tt.addr, func(t *testing.T) {
			dns.set(tt.name, tt.addr)
			_, err := policy.checkURL("https://" + tt.name + "/jwks")
			require.NoError(t, err, "a name passes registration")
			err = keysAt("https://" + tt.name + "/jwks")
			require.ErrorIs(t, err, errRefused, "refused by the dialer, not by a timeout")
			assert.Contains(t, err.Error(), tt.kind)
		})
	}
}

// TestOutboundRedirects starts at a public-looking URL (example.com,
// which the test DNS points at the one admitted address) whose server
// redirects: a redirect to a refused address, literal or by name, is not
// followed and nothing reaches that address; one to an admitted address
// is; hops are capped and https never leads to http.
func TestOutboundRedirects(t *testing.T) {
	t.Parallel()
	doc := jwks(t, clientKey(t, "es384", jose.ES384))
	plain := newCountingServer(t, "127.0.0.1:0", false, serveKeys(doc))
	var target atomic.Pointer[string]
	front := newCountingServer(t, "127.0.0.1:0", true, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/jwks":
			_, _ = w.Write(doc)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		default:
			http.Redirect(w, r, *target.Load(), http.StatusFound)
		}
	})
	refused := newCountingServer(t, "127.0.0.2:"+front.port(), true, serveKeys(doc))
	dns := newTestDNS(t)
	dns.set("example.com", "127.0.0.1")
	dns.set("internal.example", "127.0.0.2")
	dns.set("metadata.example", "169.254.169.254")
	start := "https://example.com:" + front.port() + "/start"

	for _, tt := range []struct {
		name     string
		policy   OutboundPolicy
		to       string
		want     string // in the error; "" for success
		redirect int32  // requests the front server should see
	}{
		{"to an admitted address", OutboundPolicy{}, "https://127.0.0.1:" + front.port() + "/jwks", "", 2},
		{"to a refused literal address", OutboundPolicy{}, "https://127.0.0.2:" + front.port() + "/jwks", "127.0.0.2, a loopback address", 1},
		{"to a name on a refused address", OutboundPolicy{}, "https://internal.example:" + front.port() + "/jwks", "127.0.0.2 is a loopback address", 1},
		{"to the cloud metadata service by name", OutboundPolicy{}, "https://metadata.example/latest/meta-data/", "169.254.169.254 is a link-local address", 1},
		{"to the cloud metadata address", OutboundPolicy{}, "https://169.254.169.254/latest/meta-data/", "link-local", 1},
		{"from https to http", OutboundPolicy{AllowLoopback: true}, plain.URL + "/jwks", "from https to http", 1},
		{"round and round", OutboundPolicy{}, "/loop", "stopped after 3 redirects", 1 + 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before, plainBefore := front.hits.Load(), plain.hits.Load()
			target.Store(&tt.to)
			tt.policy.AllowPrefixes = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
			tt.policy.RootCAs = rootsOf(front.Server)
			_, err := newJWKSCache(newOutbound(tt.policy, dns.resolver()), (&testClock{}).Now).keys(t.Context(), start, "")
			if tt.want == "" {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, errRefused)
				assert.Contains(t, err.Error(), tt.want)
			}
			assert.Equal(t, tt.redirect, front.hits.Load()-before)
			assert.Zero(t, refused.hits.Load(), "nothing reached the refused address")
			assert.Equal(t, plainBefore, plain.hits.Load(), "nothing reached the http server")
		})
	}
}

// TestTokenEndpointTellsNothingAboutTheInternalNetwork authenticates
// clients whose stored jwks_uri leads somewhere the server must not or
// cannot fetch: the answer is the one invalid_client of every failed
// authentication, naming no address, status or connection error; the
// audit trail has the detail.
func TestTokenEndpointTellsNothingAboutTheInternalNetwork(t *testing.T) {
	t.Parallel()
	es := clientKey(t, "es384", jose.ES384)
	internal := newCountingServer(t, "127.0.0.2:0", true, func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "internal admin console 10.9.8.7", http.StatusForbidden)
	})
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedAddr := closed.Addr().String()
	require.NoError(t, closed.Close()) // nothing listens there now
	dns := newTestDNS(t)
	dns.set("keys.example", "127.0.0.2")
	dns.set("example.com", "127.0.0.2") // the name on the test certificate

	for _, tt := range []struct {
		name    string
		policy  OutboundPolicy
		uri     string
		audited string   // in the audit trail's reason
		secrets []string // never in the answer
	}{
		{
			name: "a name leading to a refused address", uri: "https://keys.example:" + internal.port() + "/jwks",
			audited: "127.0.0.2 is a loopback address", secrets: []string{"127.0.0.2", "loopback", "10.9.8.7", "403"},
		},
		{
			name: "a stored literal address in a refused range", uri: "http://169.254.169.254/latest/meta-data/jwks",
			audited: "link-local", secrets: []string{"169.254", "link-local"},
		},
		{
			name: "an admitted address where nothing listens", policy: loopbackFetches, uri: "http://" + closedAddr + "/jwks",
			audited: "connection refused", secrets: []string{closedAddr, "connection refused", "dial"},
		},
		{
			name: "an admitted server that answers with an error", policy: OutboundPolicy{
				AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}, RootCAs: rootsOf(internal.Server),
			},
			uri: "https://example.com:" + internal.port() + "/jwks", audited: "403", secrets: []string{"403", "Forbidden", "10.9.8.7", "127.0.0.2"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, withOutbound(tt.policy))
			ts.jwks = newJWKSCache(newOutbound(ts.cfg.Outbound, dns.resolver()), ts.Clock.Now)
			// Stored directly: registered before the policy, or under a
			// different one, or rebound since.
			c := ts.createClient(t, &store.Client{
				ID: "uri-client", AuthMethod: store.AuthMethodPrivateKeyJWT, GrantTypes: []string{GrantClientCredentials},
				Scope: "system/*.rs", JWKSURI: tt.uri,
			})
			form := with(assertionForm(c.ID, signJWT(t, es, ts.assertionClaims(c.ID), nil)), "grant_type", "client_credentials")
			w := ts.postForm("/token", form, nil)
			assert.Equal(t, http.StatusUnauthorized, w.Code)
			assert.JSONEq(t, `{"error":"invalid_client","error_description":"client authentication failed"}`, w.Body.String())
			for _, s := range append(tt.secrets, "refused") {
				assert.NotContains(t, w.Body.String(), s)
				for k, v := range w.Header() {
					assert.NotContains(t, strings.Join(v, " "), s, k)
				}
			}
			events := ts.Audits.Of("client.authenticate")
			require.Len(t, events, 1)
			assert.Contains(t, events[0].Reason, tt.audited, "the detail is audited")
		})
	}
}
