package awsproto

import (
	"fmt"
	"strings"
)

// Validation collects constraint violations of an awsQuery call's
// parameters and reports them the way AWS's request validation does:
// "N validation errors detected: ...; ...", code ValidationError.
type Validation []string

// Add records that value at member breaks constraint ("have length ...").
func (v *Validation) Add(value, member, constraint string) {
	*v = append(*v, fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: Member must %s", value, member, constraint))
}

// Addf records a violation worded in full, for values that must not be
// echoed (secrets).
func (v *Validation) Addf(format string, args ...any) {
	*v = append(*v, fmt.Sprintf(format, args...))
}

// Null records that a required member is missing.
func (v *Validation) Null(member string) {
	*v = append(*v, fmt.Sprintf("Value null at '%s' failed to satisfy constraint: Member must not be null", member))
}

// Length checks a string parameter's length bounds.
func (v *Validation) Length(value, member string, least, most int) {
	switch n := len(value); {
	case n < least:
		v.Add(value, member, fmt.Sprintf("have length greater than or equal to %d", least))
	case n > most:
		v.Add(value, member, fmt.Sprintf("have length less than or equal to %d", most))
	}
}

// Err is the ValidationError for what was recorded; nil when nothing was.
func (v Validation) Err() *Error {
	switch len(v) {
	case 0:
		return nil
	case 1:
		return ValidationError("1 validation error detected: " + v[0])
	}
	return ValidationError(fmt.Sprintf("%d validation errors detected: %s", len(v), strings.Join(v, "; ")))
}

// ValidationError is awsQuery's error for a request that breaks a
// constraint.
func ValidationError(msg string) *Error {
	return &Error{Status: 400, Code: "ValidationError", Message: msg}
}
