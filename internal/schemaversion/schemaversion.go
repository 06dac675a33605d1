// Package schemaversion lets this repository's tests build the database
// an older release left behind: under a context from [StopAt], the Open and
// New of package sqlstore apply the schema migrations only up to the given
// version. It is internal, so no program outside the repository can stop a
// migration half way.
package schemaversion

import "context"

type key struct{}

// StopAt returns a context under which sqlstore migrates no further than
// version.
func StopAt(ctx context.Context, version int64) context.Context {
	return context.WithValue(ctx, key{}, version)
}

// Limit returns the version StopAt set on ctx, if any.
func Limit(ctx context.Context) (version int64, ok bool) {
	version, ok = ctx.Value(key{}).(int64)
	return version, ok
}
