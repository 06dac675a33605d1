package scope

// A Permission is a set of the SMART 2.x permission letters c, r, u, d
// and s. A v1 scope's "read" is [PermV1Read], "write" is [PermV1Write]
// and "*" is [PermAll], so v1 and v2 scopes share one model.
type Permission uint8

// The permission letters, in the order SMART 2.x writes them ("cruds").
const (
	PermCreate Permission = 1 << iota // c: create, including conditional create
	PermRead                          // r: read, vread and instance history
	PermUpdate                        // u: update, patch and conditional update
	PermDelete                        // d: delete, including conditional delete
	PermSearch                        // s: type and system search, type and system history
)

// The permissions of the v1 spellings.
const (
	PermV1Read  = PermRead | PermSearch                // ".read"
	PermV1Write = PermCreate | PermUpdate | PermDelete // ".write"
	PermAll     = PermV1Read | PermV1Write             // ".*", the same as ".cruds"
)

// letters holds the permission letters; bit i of a Permission is letters[i].
const letters = "cruds"

// Has reports whether p grants every permission in q.
func (p Permission) Has(q Permission) bool { return p&q == q }

// String returns the v2 letters of p in "cruds" order, such as "rs".
func (p Permission) String() string {
	var buf [len(letters)]byte
	return string(p.appendLetters(buf[:0]))
}

func (p Permission) appendLetters(b []byte) []byte {
	for i := range len(letters) {
		if p&(1<<i) != 0 {
			b = append(b, letters[i])
		}
	}
	return b
}

// v1Word returns the v1 spelling of p ("read", "write" or "*"), or ""
// when v1 cannot say p.
func (p Permission) v1Word() string {
	switch p {
	case PermV1Read:
		return "read"
	case PermV1Write:
		return "write"
	case PermAll:
		return "*"
	}
	return ""
}
