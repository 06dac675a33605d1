package middleware

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// decodeClaims reads a JWT claims set (the verified payload of an access
// token) into tc in one pass over its bytes.
//
// encoding/json would do the same through reflection, at several times the
// cost and allocations, on every cache miss. An access token's claims are
// a flat object of plain strings and numbers, so this reads that shape
// directly, checks the syntax of claims it does not know as it passes
// them, and hands only what is unusual (a string with escapes, an aud
// array) to encoding/json, for that value alone. It is stricter than encoding/json where RFC 7519 allows:
// claim names match exactly (encoding/json folds case, so "ISS" would pass
// for "iss"), and a claim named twice refuses the token (§4).
//
// The payload is copied into one string, and every claim is a piece of
// it: one allocation where each field would cost one.
func decodeClaims(payload []byte, tc *tokenClaims) error {
	d := claimsDecoder{b: string(payload)}
	d.space()
	if !d.consume('{') {
		return errors.New("claims are not a JSON object")
	}
	var seen claim // the claims read so far
	d.space()
	if d.consume('}') {
		return d.end()
	}
	for {
		d.space()
		c, err := d.key()
		if err != nil {
			return err
		}
		d.space()
		if !d.consume(':') {
			return d.syntax("':' after a claim name")
		}
		d.space()
		start := d.i
		if err := d.skipValue(); err != nil {
			return err
		}
		if c != 0 {
			if seen&c != 0 {
				return fmt.Errorf("claim %q appears twice", c)
			}
			seen |= c
			if err := tc.set(c, d.b[start:d.i]); err != nil {
				return fmt.Errorf("claim %q: %w", c, err)
			}
		}
		d.space()
		if d.consume('}') {
			return d.end()
		}
		if !d.consume(',') {
			return d.syntax("',' or '}' after a claim")
		}
	}
}

// claim is one of the claims tokenClaims holds, as a bit so that a set of
// them is a number; 0 is any other claim.
type claim uint16

const (
	claimIss claim = 1 << iota
	claimSub
	claimAud
	claimExp
	claimNbf
	claimIat
	claimJti
	claimClientID
	claimScope
	claimAuthTime
	claimPatient
	claimEncounter
	claimFHIRUser
	claimFHIRContext
)

var claimNames = map[string]claim{
	"iss": claimIss, "sub": claimSub, "aud": claimAud, "exp": claimExp, "nbf": claimNbf, "iat": claimIat,
	"jti": claimJti, "client_id": claimClientID, "scope": claimScope, "auth_time": claimAuthTime,
	"patient": claimPatient, "encounter": claimEncounter, "fhirUser": claimFHIRUser, "fhirContext": claimFHIRContext,
}

func (c claim) String() string {
	for name, v := range claimNames {
		if v == c {
			return name
		}
	}
	return "unknown"
}

// set stores one claim's JSON value, already checked to be well formed.
func (tc *tokenClaims) set(c claim, v string) error {
	switch c {
	case claimIss:
		return decodeString(v, &tc.Issuer)
	case claimSub:
		return decodeString(v, &tc.Subject)
	case claimJti:
		return decodeString(v, &tc.ID)
	case claimClientID:
		return decodeString(v, &tc.ClientID)
	case claimScope:
		return decodeString(v, &tc.Scope)
	case claimPatient:
		return decodeString(v, &tc.Patient)
	case claimEncounter:
		return decodeString(v, &tc.Encounter)
	case claimFHIRUser:
		return decodeString(v, &tc.FHIRUser)
	case claimAud:
		var one string
		if v[0] != '"' {
			return tc.Audience.UnmarshalJSON([]byte(v))
		}
		if err := decodeString(v, &one); err != nil {
			return err
		}
		tc.Audience = audience{one}
	case claimExp:
		return tc.Expiry.parse(v)
	case claimNbf:
		return tc.NotBefore.parse(v)
	case claimIat:
		return tc.IssuedAt.parse(v)
	case claimAuthTime:
		return tc.AuthTime.parse(v)
	case claimFHIRContext:
		if v != "null" {
			tc.FHIRContext = json.RawMessage(v)
		}
	}
	return nil
}

// decodeString reads a JSON string; null leaves s as it is, as
// encoding/json does.
func decodeString(v string, s *string) error {
	if n := len(v); n >= 2 && v[0] == '"' && plainString(v[1:n-1]) {
		*s = v[1 : n-1]
		return nil
	}
	return json.Unmarshal([]byte(v), s)
}

// plainString reports whether the inside of a well-formed JSON string
// means its own bytes: no escapes and valid UTF-8.
func plainString(s string) bool {
	for i := range len(s) {
		if c := s[i]; c == '\\' || c >= utf8.RuneSelf {
			return c != '\\' && utf8.ValidString(s)
		}
	}
	return true
}

// claimsDecoder walks the payload; i is the next byte to read.
type claimsDecoder struct {
	b string
	i int
}

func (d *claimsDecoder) syntax(want string) error {
	return fmt.Errorf("claims are not valid JSON: want %s at offset %d", want, d.i)
}

func (d *claimsDecoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *claimsDecoder) consume(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// end checks that nothing but white space follows the object.
func (d *claimsDecoder) end() error {
	d.space()
	if d.i != len(d.b) {
		return d.syntax("the end of the claims")
	}
	return nil
}

// key reads a member's name and says which claim it names.
func (d *claimsDecoder) key() (claim, error) {
	start := d.i
	if err := d.skipString(); err != nil {
		return 0, err
	}
	raw := d.b[start+1 : d.i-1]
	if plainString(raw) {
		return claimNames[raw], nil
	}
	var name string
	if err := json.Unmarshal([]byte(d.b[start:d.i]), &name); err != nil {
		return 0, err
	}
	return claimNames[name], nil
}

// maxDepth bounds the nesting of values, so a hostile token cannot make
// the decoder recurse without end.
const maxDepth = 64

// skipValue moves past one JSON value, checking its syntax.
func (d *claimsDecoder) skipValue() error { return d.skip(0) }

func (d *claimsDecoder) skip(depth int) error {
	if depth > maxDepth {
		return errors.New("claims nest too deeply")
	}
	if d.i >= len(d.b) {
		return d.syntax("a value")
	}
	switch c := d.b[d.i]; {
	case c == '"':
		return d.skipString()
	case c == '{':
		return d.skipContainer('}', depth, true)
	case c == '[':
		return d.skipContainer(']', depth, false)
	case c == '-' || '0' <= c && c <= '9':
		return d.skipNumber()
	default:
		for _, lit := range []string{"true", "false", "null"} {
			if strings.HasPrefix(d.b[d.i:], lit) {
				d.i += len(lit)
				return nil
			}
		}
		return d.syntax("a value")
	}
}

// skipContainer moves past an object (members) or an array.
func (d *claimsDecoder) skipContainer(closer byte, depth int, members bool) error {
	d.i++ // the opener
	d.space()
	if d.consume(closer) {
		return nil
	}
	for {
		d.space()
		if members {
			if err := d.skipString(); err != nil {
				return err
			}
			d.space()
			if !d.consume(':') {
				return d.syntax("':'")
			}
			d.space()
		}
		if err := d.skip(depth + 1); err != nil {
			return err
		}
		d.space()
		if d.consume(closer) {
			return nil
		}
		if !d.consume(',') {
			return d.syntax("',' or the end of a container")
		}
	}
}

// skipString moves past a string, checking its escapes and that it holds
// no control characters. UTF-8 is checked where the string is decoded.
func (d *claimsDecoder) skipString() error {
	if !d.consume('"') {
		return d.syntax("a string")
	}
	for d.i < len(d.b) {
		c := d.b[d.i]
		d.i++
		switch {
		case c == '"':
			return nil
		case c < 0x20:
			return d.syntax("no control character in a string")
		case c == '\\':
			if d.i >= len(d.b) {
				return d.syntax("an escape")
			}
			e := d.b[d.i]
			d.i++
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(d.b)-d.i < 4 || !isHex(d.b[d.i:d.i+4]) {
					return d.syntax("four hex digits")
				}
				d.i += 4
			default:
				return d.syntax("a valid escape")
			}
		}
	}
	return d.syntax("the end of a string")
}

func isHex(s string) bool {
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// skipNumber moves past a number in RFC 8259 §6's grammar.
func (d *claimsDecoder) skipNumber() error {
	d.consume('-')
	switch {
	case d.consume('0'):
	case d.digits() == 0:
		return d.syntax("a digit")
	}
	if d.consume('.') && d.digits() == 0 {
		return d.syntax("a digit after '.'")
	}
	if d.consume('e') || d.consume('E') {
		if !d.consume('+') {
			d.consume('-')
		}
		if d.digits() == 0 {
			return d.syntax("an exponent")
		}
	}
	return nil
}

func (d *claimsDecoder) digits() int {
	n := 0
	for d.i < len(d.b) && '0' <= d.b[d.i] && d.b[d.i] <= '9' {
		d.i++
		n++
	}
	return n
}
