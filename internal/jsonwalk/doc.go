// Package jsonwalk walks JSON text that has already been validated (by
// encoding/json, which validates a value before it calls UnmarshalJSON, or
// by json.Valid). It only finds where tokens end; it never judges whether
// the text is JSON, so on invalid text its answers are unspecified (but it
// does not panic).
//
// It lets a decoder look at one object's members, or one array's
// elements, in a single pass without building a map or a slice of every
// value: Members and Elements hand out the raw bytes of each member or
// element, slices of the text walked (nothing is copied), and Unquote,
// KeyText and PlainInner read a string token the way encoding/json does.
//
// Nothing here keeps state beyond a walk's position; a Members or
// Elements value must not be used by two goroutines at once.
package jsonwalk
