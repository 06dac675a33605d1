package scope

import "strconv"

// A ParseError reports a malformed scope or scope string: which scope,
// where in it, and what is wrong. Use [errors.As] to get one.
type ParseError struct {
	// Scope is the scope token at fault. It is empty when the fault is
	// in the scope string as a whole, such as its length.
	Scope string
	// Offset is the byte offset of the fault in Scope, or in the scope
	// string when Scope is empty.
	Offset int
	// Msg says what is wrong.
	Msg string
}

// maxQuoted bounds how much of a scope an error message repeats, so a
// hostile kilobyte of input is not copied into every log line.
const maxQuoted = 80

func (e *ParseError) Error() string {
	if e.Scope == "" {
		return "scope string: byte " + strconv.Itoa(e.Offset) + ": " + e.Msg
	}
	s := e.Scope
	if len(s) > maxQuoted {
		s = s[:maxQuoted] + "..."
	}
	return "scope " + strconv.Quote(s) + ": byte " + strconv.Itoa(e.Offset) + ": " + e.Msg
}

func parseError(scope string, offset int, msg string) *ParseError {
	return &ParseError{Scope: scope, Offset: offset, Msg: msg}
}
