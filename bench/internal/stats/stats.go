// Package stats holds the figures the benchmark programs compute from their
// samples.
package stats

import (
	"slices"
)

// Median is the median of ds (the mean of the two middle samples when their
// number is even), or zero when there are none: of durations, counts or
// rates.
func Median[T ~int64 | ~float64](ds []T) T {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
