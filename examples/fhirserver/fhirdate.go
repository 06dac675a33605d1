package main

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// FHIR date search (R4 §3.1.1.4.3.5): a date, dateTime or instant stands
// for the span of time its precision covers, 2025-12 for all of December,
// and a prefix compares the span of the search value with the resource's.

// dateSpan is the time a FHIR date denotes: from start until end,
// excluded.
type dateSpan struct{ start, end time.Time }

// dateLayouts are the forms of a FHIR date, dateTime or instant, with how
// much time each names. A time without a zone is read in UTC, the demo's
// own zone.
var dateLayouts = []struct {
	layout string
	length time.Duration // 0: a calendar unit, see below
	unit   string
}{
	{"2006", 0, "year"},
	{"2006-01", 0, "month"},
	{"2006-01-02", 0, "day"},
	{"2006-01-02T15:04Z07:00", time.Minute, ""},
	{"2006-01-02T15:04", time.Minute, ""},
	{"2006-01-02T15:04:05Z07:00", time.Second, ""},
	{"2006-01-02T15:04:05", time.Second, ""},
}

// parseDateSpan reads a FHIR date, dateTime or instant. Fractions of a
// second name a span as fine as their digits.
func parseDateSpan(s string) (dateSpan, error) {
	main, frac := s, ""
	if i := strings.IndexByte(s, '.'); i >= 0 {
		j := i + 1
		for j < len(s) && '0' <= s[j] && s[j] <= '9' {
			j++
		}
		if j == i+1 || j-i-1 > 9 {
			return dateSpan{}, fmt.Errorf("%q is not a FHIR date", s)
		}
		main, frac = s[:i]+s[j:], s[i+1:j]
	}
	for _, l := range dateLayouts {
		if frac != "" && l.length != time.Second {
			continue
		}
		t, err := time.Parse(l.layout, main)
		if err != nil {
			continue
		}
		switch l.unit {
		case "year":
			return dateSpan{t, t.AddDate(1, 0, 0)}, nil
		case "month":
			return dateSpan{t, t.AddDate(0, 1, 0)}, nil
		case "day":
			return dateSpan{t, t.AddDate(0, 0, 1)}, nil
		}
		length := l.length
		if frac != "" {
			length = time.Second
			for range frac {
				length /= 10
			}
			var n time.Duration
			for _, c := range frac {
				n = n*10 + time.Duration(c-'0')
			}
			t = t.Add(n * length)
		}
		return dateSpan{t, t.Add(length)}, nil
	}
	return dateSpan{}, fmt.Errorf("%q is not a FHIR date (YYYY, YYYY-MM, YYYY-MM-DD or a dateTime)", s)
}

// A dateSearch is one value of a date search parameter: a prefix and a
// span.
type dateSearch struct {
	prefix string
	span   dateSpan
}

// errApproximate: ap's meaning is the server's to choose; the demo does
// not guess one.
var errApproximate = errors.New(`the prefix "ap" is not supported`)

// parseDateSearch reads a date search value such as ge2025-12-01.
func parseDateSearch(v string) (dateSearch, error) {
	prefix := "eq"
	if len(v) >= 2 && 'a' <= v[0] && v[0] <= 'z' {
		prefix, v = v[:2], v[2:]
	}
	switch prefix {
	case "ap":
		return dateSearch{}, errApproximate
	case "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb":
	default:
		return dateSearch{}, fmt.Errorf("unknown date prefix %q", prefix)
	}
	span, err := parseDateSpan(v)
	return dateSearch{prefix, span}, err
}

// matches reports whether a resource's date, spanning t, matches s.
func (s dateSearch) matches(t dateSpan) bool {
	contains := !t.start.Before(s.span.start) && !t.end.After(s.span.end)
	above := t.end.After(s.span.end)      // part of t is after s
	below := t.start.Before(s.span.start) // part of t is before s
	switch s.prefix {
	case "eq":
		return contains
	case "ne":
		return !contains
	case "gt":
		return above
	case "lt":
		return below
	case "ge":
		return above || contains
	case "le":
		return below || contains
	case "sa":
		return !t.start.Before(s.span.end)
	case "eb":
		return !t.end.After(s.span.start)
	}
	return false
}

// dateMatcher is a date search parameter on the element dateOf returns,
// "" when the resource has none (which no value matches). Values were
// checked with parseDateSearch before the search ran.
func dateMatcher[R any](dateOf func(R) string) matcher[R] {
	return func(r R, v string) bool {
		s, err := parseDateSearch(v)
		if err != nil || dateOf(r) == "" {
			return false
		}
		t, err := parseDateSpan(dateOf(r))
		return err == nil && s.matches(t)
	}
}
