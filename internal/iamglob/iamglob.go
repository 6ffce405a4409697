// Package iamglob matches IAM's wildcards, * and ?, in actions, resources
// and StringLike conditions. doctor, which reads an account's policies,
// and the sandbox's IAM, which evaluates them, share it; it imports
// neither.
package iamglob

import "strings"

// Match reports whether value matches pattern: * stands for any run of
// characters, ? for one, as IAM reads them; every other character stands
// for itself, case included. A value that is itself a pattern matches when
// the pattern covers it as text, which is how one pattern is found within
// another.
func Match(pattern, value string) bool {
	p, v := 0, 0
	star, mark := -1, 0
	for v < len(value) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == value[v]):
			p++
			v++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, v
			p++
		case star >= 0:
			p = star + 1
			mark++
			v = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// MatchAny reports whether any of patterns matches value; with foldCase,
// case aside, as IAM compares action names.
func MatchAny(patterns []string, value string, foldCase bool) bool {
	if foldCase {
		value = strings.ToLower(value)
	}
	for _, p := range patterns {
		if foldCase {
			p = strings.ToLower(p)
		}
		if Match(p, value) {
			return true
		}
	}
	return false
}
