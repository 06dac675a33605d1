// Command ratios reads benchstat's CSV summary of one run of the bench
// module and prints, as a Markdown table, the ratios the kit is judged by:
// the kit against the physical floor, and each peer against the kit, with
// the target each ratio has and whether it is met.
//
//	benchstat -format csv bench.txt | go run ./cmd/ratios
package main

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// stats maps a unit ("sec/op", "B/op", "allocs/op") to each benchmark's
// center value.
type stats map[string]map[string]float64

func main() {
	s, err := read(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ratios:", err)
		os.Exit(1)
	}
	if err := report(os.Stdout, s); err != nil {
		fmt.Fprintln(os.Stderr, "ratios:", err)
		os.Exit(1)
	}
}

var procs = regexp.MustCompile(`-\d+$`)

// read parses benchstat's CSV: for each unit a header row (",unit,CI")
// and then one row per benchmark.
func read(r io.Reader) (stats, error) {
	s := stats{}
	unit := ""
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		rec, err := csv.NewReader(strings.NewReader(line)).Read()
		if err != nil || len(rec) < 2 {
			continue // blank lines and benchstat's own notes
		}
		switch {
		case rec[0] == "" && strings.Contains(rec[1], "/op"):
			unit = rec[1]
			s[unit] = map[string]float64{}
		case unit != "" && rec[0] != "" && rec[0] != "geomean":
			v, err := strconv.ParseFloat(rec[1], 64)
			if err != nil {
				continue
			}
			s[unit][procs.ReplaceAllString(rec[0], "")] = v
		}
	}
	if len(s["sec/op"]) == 0 {
		return nil, errors.New("no sec/op figures in the input")
	}
	return s, sc.Err()
}

// row is one line of the table: what is measured against what.
type row struct {
	what   string
	ours   []string // summed
	ref    []string // summed
	target string   // "<= 1.25", ">= 1.4", "> 1", "" for none
}

const (
	tok   = "Token/"
	ccs   = tok + "client_credentials/client_secret_basic/"
	ccj   = tok + "client_credentials/private_key_jwt/"
	code  = tok + "authorization_code/PKCE/"
	rt    = tok + "refresh_token/rotating/"
	intro = tok + "introspection/"
	mw    = "Middleware/"
	floor = "Floor/"
)

var rows = []row{
	{"middleware cache miss RS256 / rsa.VerifyPKCS1v15 (2048)", []string{mw + "verify/cache-miss/RS256"}, []string{floor + "verify/RS256"}, "<= 1.25"},
	{"middleware cache miss ES256 / ecdsa.VerifyASN1 (P-256)", []string{mw + "verify/cache-miss/ES256"}, []string{floor + "verify/ES256"}, "<= 1.25"},
	{"middleware cache miss ES384 / ecdsa.VerifyASN1 (P-384)", []string{mw + "verify/cache-miss/ES384"}, []string{floor + "verify/ES384"}, "<= 1.25"},
	{"middleware cache miss EdDSA / ed25519.Verify", []string{mw + "verify/cache-miss/EdDSA"}, []string{floor + "verify/EdDSA"}, "<= 1.25"},
	{"client_credentials secret, memory / (bare + raw P-256 sign)", []string{ccs + "smart-memory"}, []string{ccs + "bare", floor + "sign/ES256"}, "<= 1.25"},
	{"client_credentials private_key_jwt, memory / (bare + raw verify + raw sign + replay write)", []string{ccj + "smart-memory"},
		[]string{ccs + "bare", floor + "verify/ES256", floor + "sign/ES256", floor + "replay-write"}, "<= 1.25"},
	{"fosite / kit: client_credentials secret", []string{ccs + "fosite"}, []string{ccs + "smart-memory"}, ">= 1.4"},
	{"zitadel / kit: client_credentials secret", []string{ccs + "zitadel"}, []string{ccs + "smart-memory"}, "> 1"},
	{"fosite / kit: client_credentials private_key_jwt", []string{ccj + "fosite"}, []string{ccj + "smart-memory"}, "> 1"},
	{"fosite / kit: authorization_code + PKCE", []string{code + "fosite"}, []string{code + "smart-memory"}, "> 1"},
	{"zitadel / kit: authorization_code + PKCE", []string{code + "zitadel"}, []string{code + "smart-memory"}, "> 1"},
	{"fosite / kit: refresh (rotating)", []string{rt + "fosite"}, []string{rt + "smart-memory"}, ""},
	{"zitadel / kit: refresh (rotating)", []string{rt + "zitadel"}, []string{rt + "smart-memory"}, ""},
	{"fosite / kit: introspection", []string{intro + "fosite"}, []string{intro + "smart-memory"}, ""},
	{"zitadel / kit: introspection", []string{intro + "zitadel"}, []string{intro + "smart-memory"}, ""},
	{"defaults: fosite (bcrypt secret) / kit (private_key_jwt)", []string{ccs + "fosite-bcrypt"}, []string{ccj + "smart-memory"}, ""},
	{"kit on SQLite / memory: client_credentials private_key_jwt", []string{ccj + "smart-sqlite"}, []string{ccj + "smart-memory"}, ""},
	{"kit on SQLite / memory: authorization_code + PKCE", []string{code + "smart-sqlite"}, []string{code + "smart-memory"}, ""},
	{"kit on SQLite / memory: refresh (rotating)", []string{rt + "smart-sqlite"}, []string{rt + "smart-memory"}, ""},
	{"go-jose claims builder / sign of marshaled claims (ES256)", []string{floor + "jose-builder/ES256"}, []string{floor + "jose-sign/ES256"}, ""},
}

// absolute are figures judged on their own.
var absolute = []struct {
	what, bench, unit string
	max               float64
}{
	{"middleware cache hit (time)", mw + "verify/cache-hit", "sec/op", 1e-6},
	{"middleware cache hit (allocations)", mw + "verify/cache-hit", "allocs/op", 0},
	{"scope.Set.Allows (allocations)", mw + "scope-allows", "allocs/op", 0},
}

func report(w io.Writer, s stats) error {
	fmt.Fprintln(w, "By wall time (sec/op), as the targets are set:")
	fmt.Fprintln(w)
	table(w, s, "sec/op")
	// benchstat reports the benchmarks' cpu-ns/op in seconds.
	if len(s["cpu-sec/op"]) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "By the process's CPU time (cpu-ns/op), which other programs' load disturbs less:")
		fmt.Fprintln(w)
		table(w, s, "cpu-sec/op")
	}
	return nil
}

// table prints the ratio rows by the time unit timeUnit (seconds per
// operation), then the absolute figures.
func table(w io.Writer, s stats, timeUnit string) {
	t := s[timeUnit]
	fmt.Fprintln(w, "| comparison | measured | reference | ratio | target | met |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---|---|")
	for _, r := range rows {
		ours, ok1 := sum(t, r.ours)
		ref, ok2 := sum(t, r.ref)
		if !ok1 || !ok2 {
			fmt.Fprintf(w, "| %s | | | not measured | %s | |\n", r.what, r.target)
			continue
		}
		ratio := ours / ref
		fmt.Fprintf(w, "| %s | %s | %s | %.2f | %s | %s |\n", r.what, dur(ours), dur(ref), ratio, r.target, met(ratio, r.target))
	}
	for _, a := range absolute {
		unit := a.unit
		if unit == "sec/op" {
			unit = timeUnit
		}
		v, ok := s[unit][a.bench]
		if !ok {
			fmt.Fprintf(w, "| %s | | | not measured | | |\n", a.what)
			continue
		}
		shown, limit := strconv.FormatFloat(v, 'f', -1, 64), strconv.FormatFloat(a.max, 'f', -1, 64)
		if a.unit == "sec/op" {
			shown, limit = dur(v), dur(a.max)
		}
		verdict := "yes"
		if v > a.max {
			verdict = "**no**"
		}
		fmt.Fprintf(w, "| %s | %s | | | <= %s | %s |\n", a.what, shown, limit, verdict)
	}
}

func sum(t map[string]float64, names []string) (float64, bool) {
	total := 0.0
	for _, n := range names {
		v, ok := t[n]
		if !ok {
			return 0, false
		}
		total += v
	}
	return total, true
}

func met(ratio float64, target string) string {
	var ok bool
	switch {
	case target == "":
		return ""
	case strings.HasPrefix(target, "<= "):
		ok = ratio <= parse(target[3:])
	case strings.HasPrefix(target, ">= "):
		ok = ratio >= parse(target[3:])
	case strings.HasPrefix(target, "> "):
		ok = ratio > parse(target[2:])
	}
	if ok {
		return "yes"
	}
	return "**no**"
}

func parse(s string) float64 {
	v, _ := strconv.ParseFloat(s, 64)
	return v
}

// dur prints seconds in the unit that suits them.
func dur(sec float64) string {
	switch {
	case sec >= 1e-3:
		return fmt.Sprintf("%.2f ms", sec*1e3)
	case sec >= 1e-6:
		return fmt.Sprintf("%.1f µs", sec*1e6)
	default:
		return fmt.Sprintf("%.0f ns", sec*1e9)
	}
}
