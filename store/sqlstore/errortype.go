package sqlstore

import "reflect"

// errorType names a driver's error type, a pointer to a struct, by its
// package path and name, and the unsigned integer field of that struct
// that holds the error code. It lets the store read a driver's errors
// without importing the driver.
type errorType struct{ pkg, name, code string }

// codeOf returns the code of the first error in err's tree, in the order
// errors.As searches it, that is of type t.
func (t errorType) codeOf(err error) (uint64, bool) {
	if err == nil {
		return 0, false
	}
	if v := reflect.ValueOf(err); v.Kind() == reflect.Pointer && !v.IsNil() {
		e := v.Elem()
		if e.Kind() == reflect.Struct && e.Type().PkgPath() == t.pkg && e.Type().Name() == t.name {
			if f := e.FieldByName(t.code); f.IsValid() && f.CanUint() {
				return f.Uint(), true
			}
		}
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return t.codeOf(u.Unwrap())
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if n, ok := t.codeOf(e); ok {
				return n, true
			}
		}
	}
	return 0, false
}
