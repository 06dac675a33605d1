package handlers

import (
	"net"
	"net/netip"
	"strings"
	"testing"
)

// FuzzOutboundURL feeds arbitrary jwks_uri values to the policy's
// registration check: it never panics, and a URL it accepts by default is
// https to a host that is neither an address the standard library calls
// loopback, private, link-local, multicast or unspecified, nor localhost,
// nor a number a resolver would read as an IPv4 address.
func FuzzOutboundURL(f *testing.F) {
	for _, tt := range outboundURLs {
		f.Add(tt.uri)
	}
	f.Add("https://%31%32%37.0.0.1/jwks")
	f.Add("https://[::ffff:a9fe:a9fe]/")
	f.Add("https://127.0.0.1:443@evil.example/")
	f.Add("https://0x.0x.0x.0x/")
	f.Fuzz(func(t *testing.T, raw string) {
		var p OutboundPolicy
		u, err := p.checkURL(raw)
		if err != nil {
			return
		}
		if u.Scheme != "https" {
			t.Fatalf("accepted %q with scheme %q", raw, u.Scheme)
		}
		host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
		_, notAddr := netip.ParseAddr(host)
		if host == "localhost" || strings.HasSuffix(host, ".localhost") || (endsInNumber(host) && notAddr != nil) {
			t.Fatalf("accepted %q: host %q", raw, host)
		}
		if ip := net.ParseIP(host); ip != nil {
			addr, _ := netip.AddrFromSlice(ip)
			checkPublic(t, addr)
		}
		if addr, err := netip.ParseAddr(host); err == nil {
			checkPublic(t, addr)
		}
	})
}

// FuzzOutboundAddress checks the range table against the standard
// library's own classification, for every IPv4 and IPv6 address and its
// IPv4-mapped form: an address the policy lets through is global unicast
// and not private, and the loopback opt-in admits no more than loopback.
func FuzzOutboundAddress(f *testing.F) {
	for _, tt := range refusedAddrs {
		a := netip.MustParseAddr(tt.addr).As16()
		f.Add(a[:])
	}
	for _, s := range publicAddrs {
		a := netip.MustParseAddr(s).As16()
		f.Add(a[:])
	}
	f.Add([]byte{127, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		addr, ok := netip.AddrFromSlice(b)
		if !ok {
			return
		}
		var strict OutboundPolicy
		dev := OutboundPolicy{AllowLoopback: true}
		for _, a := range []netip.Addr{addr, netip.AddrFrom16(addr.As16())} {
			if strict.refusedKind(a) == "" {
				checkPublic(t, a)
			}
			if dev.refusedKind(a) == "" && strict.refusedKind(a) != "" && !a.Unmap().IsLoopback() {
				t.Fatalf("the loopback opt-in admits %s", a)
			}
			if err := strict.control("tcp", netip.AddrPortFrom(a, 443).String(), nil); (err == nil) != (strict.refusedKind(a) == "") {
				t.Fatalf("the dialer's check and the policy disagree on %s: %v", a, err)
			}
		}
	})
}

// checkPublic fails unless the standard library agrees that addr is a
// global unicast address outside the private ranges.
func checkPublic(t *testing.T, addr netip.Addr) {
	t.Helper()
	a := addr.WithZone("").Unmap()
	if !a.IsGlobalUnicast() || a.IsPrivate() || a.IsLoopback() || a.IsMulticast() || a.IsUnspecified() ||
		a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() {
		t.Fatalf("the policy lets %s through", addr)
	}
}
