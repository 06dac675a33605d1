package handlers

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"
)

// OutboundPolicy limits the connections the server makes on a client's
// say-so: the fetch of a private_key_jwt client's jwks_uri, and any other
// URL a client gives the server to fetch. Without it a client could make
// the server request what only the server can reach: a cloud metadata
// service at 169.254.169.254, an admin port on localhost, a database in
// 10.0.0.0/8 (server-side request forgery).
//
// The zero value is the secure default: https, to addresses on the public
// internet only. Refused unless admitted here: loopback, the private
// ranges (RFC 1918, and 100.64.0.0/10 of carrier-grade NAT), link-local
// (169.254.0.0/16, fe80::/10), unique-local (fc00::/7), multicast,
// unspecified, broadcast, and every other special-purpose range of IANA's
// registries that the internet does not route (0.0.0.0/8, 192.0.0.0/24,
// 198.18.0.0/15, 240.0.0.0/4, the documentation ranges, ...), in any
// form: IPv4-mapped IPv6, and a NAT64 (64:ff9b::/96) or 6to4 (2002::/16)
// address embedding a refused IPv4 address.
//
// The policy is applied twice. At registration, a jwks_uri whose host is
// an IP address the policy refuses, or localhost, is refused with
// invalid_client_metadata (RFC 7591 §3.2.2), and so is an IPv4 address
// in a shorthand form (2130706433, 0x7f.1, 0177.0.0.1) that resolvers
// read as an address. At every connection, the address actually dialled
// is checked (for each address a name resolves to, and each redirect
// hop), so a name that resolves, or is later rebound, to a refused address
// is refused too. Fetches follow at most 3 redirects and never from https
// to http, use no proxy (the check must see the address connected to, and
// HTTP_PROXY is ignored), and keep the time and size limits of the
// jwks_uri cache.
//
// The server builds its HTTP client for these fetches from the policy
// alone; there is no way to hand it a client that would bypass the
// checks.
type OutboundPolicy struct {
	// AllowLoopback admits loopback addresses (127.0.0.0/8, ::1) and the
	// name localhost, and http to them: for a development server whose
	// clients run their key servers on the same machine.
	AllowLoopback bool

	// AllowPrefixes admits addresses in these prefixes, over https,
	// although they lie in a refused range: say 10.20.0.0/16, where a
	// host's own services publish their keys. Name the narrowest
	// prefixes that will do; an IPv4 prefix also admits the IPv4-mapped
	// IPv6 form of its addresses.
	AllowPrefixes []netip.Prefix

	// RootCAs verifies the TLS certificates of the servers fetched from;
	// nil: the system's roots. For key servers whose certificates a
	// private CA issued.
	RootCAs *x509.CertPool
}

// validate names the first bad prefix.
func (p OutboundPolicy) validate() error {
	for i, pfx := range p.AllowPrefixes {
		if !pfx.IsValid() {
			return fmt.Errorf("AllowPrefixes[%d] is not a valid prefix", i)
		}
	}
	return nil
}

// Limits of outbound fetches beside the caller's own (the jwks_uri
// cache's time and size limits).
const (
	outboundMaxRedirects = 3
	outboundDialTimeout  = 5 * time.Second
	outboundMaxHeader    = 64 << 10
)

// errRefused marks a fetch, a redirect or a URL the outbound policy
// refuses (errors.Is).
var errRefused = errors.New("refused by the outbound policy")

// refusal is an error that is errRefused in words of its own.
type refusal string

func (e refusal) Error() string        { return string(e) }
func (e refusal) Is(target error) bool { return target == errRefused }

func refuse(format string, args ...any) error { return refusal(fmt.Sprintf(format, args...)) }

// refusedKind returns the kind of special-purpose range addr lies in
// when the policy refuses it, or "" when the server may connect to it.
func (p OutboundPolicy) refusedKind(addr netip.Addr) string {
	addr = addr.WithZone("").Unmap()
	kind := specialRange(addr)
	if kind == "" || (p.AllowLoopback && addr.IsLoopback()) {
		return ""
	}
	for _, pfx := range p.AllowPrefixes {
		if pfx.Contains(addr) {
			return ""
		}
	}
	return kind
}

// control is the dialer's hook: it sees each address the dialer is about
// to connect to, after name resolution, and refuses those the policy
// refuses.
func (p OutboundPolicy) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return refuse("unreadable address %q", address)
	}
	if kind := p.refusedKind(ap.Addr()); kind != "" {
		return refuse("%s is a %s address, which the server's outbound policy refuses", ap.Addr(), kind)
	}
	return nil
}

// checkURL applies the policy to a URL before any connection is made, as
// registration does: an absolute URL without user information or
// fragment, whose target checkTarget accepts.
func (p OutboundPolicy) checkURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Hostname() == "" {
		return nil, errors.New("must be an absolute URL")
	}
	if u.Fragment != "" || u.User != nil {
		return nil, errors.New("must have no fragment or user information")
	}
	return u, p.checkTarget(u)
}

// checkTarget checks what a URL connects to: https (http only to a
// loopback host the policy admits), no user information, and a host that
// is not an address, nor localhost, the policy refuses. Any other name is
// left to the dial-time check, which sees what it resolves to when the
// connection is made.
func (p OutboundPolicy) checkTarget(u *url.URL) error {
	host := u.Hostname()
	if host == "" || u.User != nil {
		return refuse("must name a host and no user information")
	}
	addr, isAddr, err := hostAddr(host)
	if err != nil {
		return err
	}
	if isAddr {
		if kind := p.refusedKind(addr); kind != "" {
			return refuse("must not point at %s, a %s address, which the server's outbound policy refuses", host, kind)
		}
	}
	loopback := isAddr && addr.Unmap().IsLoopback()
	if u.Scheme != "https" && !(u.Scheme == "http" && loopback) {
		return refuse("must be https (http only on a loopback host)")
	}
	return nil
}

// hostAddr reads a URL's host: an IP address, or localhost (and its
// subdomains, RFC 6761 §6.3) as the loopback address it names, or else a
// name for the resolver. A host ending in a number that is not a
// dotted-decimal IPv4 address (2130706433, 0x7f.1, 0177.0.0.1, 127.1) is
// an error: resolvers, like browsers, read such forms as IPv4 addresses,
// so they must not pass for names.
func hostAddr(host string) (netip.Addr, bool, error) {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if addr, err := netip.ParseAddr(host); err == nil {
		return addr, true, nil
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return netip.AddrFrom4([4]byte{127, 0, 0, 1}), true, nil
	}
	if endsInNumber(host) {
		return netip.Addr{}, false, refuse("must write an IPv4 address as a.b.c.d, not %q", host)
	}
	return netip.Addr{}, false, nil
}

// endsInNumber reports whether the last label of host is a number, in
// decimal or 0x hexadecimal: the WHATWG URL standard's test for a host
// that is an IPv4 address.
func endsInNumber(host string) bool {
	label := host[strings.LastIndexByte(host, '.')+1:]
	if hex, ok := strings.CutPrefix(label, "0x"); ok {
		return strings.Trim(hex, "0123456789abcdef") == ""
	}
	return label != "" && strings.Trim(label, "0123456789") == ""
}

// specialRange names the special-purpose range addr (unmapped, without a
// zone) lies in, or returns "" for an address the internet routes.
func specialRange(addr netip.Addr) string {
	if addr.Is4() {
		return rangeOf(addr, specialIPv4)
	}
	for _, e := range embeddedIPv4 {
		if e.prefix.Contains(addr) {
			b := addr.As16()
			v4 := netip.AddrFrom4([4]byte(b[e.at : e.at+4]))
			if kind := rangeOf(v4, specialIPv4); kind != "" {
				return kind + " (in " + e.name + " form)"
			}
			return ""
		}
	}
	if !globalUnicastIPv6.Contains(addr) {
		if kind := rangeOf(addr, specialIPv6); kind != "" {
			return kind
		}
		return "reserved"
	}
	return rangeOf(addr, specialIPv6)
}

func rangeOf(addr netip.Addr, table []addrRange) string {
	for _, r := range table {
		if r.prefix.Contains(addr) {
			return r.kind
		}
	}
	return ""
}

type addrRange struct {
	prefix netip.Prefix
	kind   string
}

func ranges(kv ...string) []addrRange {
	out := make([]addrRange, 0, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		out = append(out, addrRange{netip.MustParsePrefix(kv[i]), kv[i+1]})
	}
	return out
}

// specialIPv4 are the IPv4 ranges of IANA's special-purpose registry
// (RFC 6890 and its updates) that are not globally reachable, the
// deprecated 6to4 relay anycast, multicast and the broadcast address.
// The first match names the kind.
var specialIPv4 = ranges(
	"0.0.0.0/32", "unspecified",
	"0.0.0.0/8", "this-network",
	"10.0.0.0/8", "private",
	"100.64.0.0/10", "shared (carrier-grade NAT)",
	"127.0.0.0/8", "loopback",
	"169.254.0.0/16", "link-local",
	"172.16.0.0/12", "private",
	"192.0.0.0/24", "IETF protocol",
	"192.0.2.0/24", "documentation",
	"192.88.99.0/24", "6to4 relay",
	"192.168.0.0/16", "private",
	"198.18.0.0/15", "benchmarking",
	"198.51.100.0/24", "documentation",
	"203.0.113.0/24", "documentation",
	"224.0.0.0/4", "multicast",
	"255.255.255.255/32", "broadcast",
	"240.0.0.0/4", "reserved",
)

// globalUnicastIPv6 is where the internet's IPv6 unicast addresses are
// allocated; an address outside it is refused whatever it is.
var globalUnicastIPv6 = netip.MustParsePrefix("2000::/3")

// specialIPv6 names the special-purpose IPv6 ranges: outside 2000::/3
// for the message only, inside it the ones refused although allocated
// there.
var specialIPv6 = ranges(
	"::/128", "unspecified",
	"::1/128", "loopback",
	"fe80::/10", "link-local",
	"fec0::/10", "site-local",
	"fc00::/7", "unique-local",
	"ff00::/8", "multicast",
	"2001::/23", "IETF protocol",
	"2001:db8::/32", "documentation",
	"3fff::/20", "documentation",
)

// embeddedIPv4 are the IPv6 forms that carry an IPv4 address a gateway
// may forward to: such an address is refused when its IPv4 address is.
// (IPv4-mapped addresses are unmapped before any check.)
var embeddedIPv4 = []struct {
	prefix netip.Prefix
	at     int // byte offset of the IPv4 address
	name   string
}{
	{netip.MustParsePrefix("64:ff9b::/96"), 12, "NAT64"},
	{netip.MustParsePrefix("2002::/16"), 2, "6to4"},
}

// outbound makes the fetches an OutboundPolicy governs. Every URL the
// server fetches on a client's say-so goes through get.
type outbound struct {
	policy OutboundPolicy
	client *http.Client
}

// newOutbound builds the HTTP client of p. resolver resolves names (nil:
// the system's); tests pass one of their own.
func newOutbound(p OutboundPolicy, resolver *net.Resolver) *outbound {
	p.AllowPrefixes = slices.Clone(p.AllowPrefixes) // the host's slice may change later
	for i, pfx := range p.AllowPrefixes {
		p.AllowPrefixes[i] = pfx.Masked()
	}
	dialer := &net.Dialer{Timeout: outboundDialTimeout, Resolver: resolver, Control: p.control}
	o := &outbound{policy: p}
	o.client = &http.Client{
		Transport: &http.Transport{
			Proxy:                  nil, // the dialer must see the address it connects to
			DialContext:            dialer.DialContext,
			TLSClientConfig:        &tls.Config{RootCAs: p.RootCAs, MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout:    outboundDialTimeout,
			ForceAttemptHTTP2:      true,
			MaxIdleConns:           64,
			IdleConnTimeout:        90 * time.Second,
			MaxResponseHeaderBytes: outboundMaxHeader,
		},
		CheckRedirect: o.checkRedirect,
	}
	return o
}

// checkRedirect follows a redirect only within the policy: at most
// outboundMaxRedirects hops, never from https to http, and to a target
// checkTarget accepts (the dialer then checks the address it resolves to).
func (o *outbound) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > outboundMaxRedirects {
		return refuse("stopped after %d redirects", outboundMaxRedirects)
	}
	if via[len(via)-1].URL.Scheme == "https" && req.URL.Scheme != "https" {
		return refuse("refused a redirect from https to %s", req.URL.Scheme)
	}
	return o.policy.checkTarget(req.URL)
}

// get fetches rawURL with GET, accepting the media types in accept. The
// caller closes the body. Its errors name addresses and statuses: they
// are for the server's log, never for the client's answer.
func (o *outbound) get(ctx context.Context, rawURL, accept string) (*http.Response, error) {
	if _, err := o.policy.checkURL(rawURL); err != nil {
		return nil, fmt.Errorf("fetch %q: %w", rawURL, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch %q: %w", rawURL, err)
	}
	req.Header.Set("Accept", accept)
	return o.client.Do(req)
}
