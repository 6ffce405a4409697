// Package sample is what the mutants command's tests mutate: a switch
// whose case expressions Go's coverage profile has no block for.
package sample

// Sign names the sign of n.
func Sign(n int) string {
	switch {
	case n < 0:
		return "negative"
	case n == 0:
		return "zero"
	}
	return "positive"
}

// Label is a package-level value: its initialiser has no coverage block.
var Label = "sign" + "s"

// Spin does not end when the loop's increment is turned into a decrement.
func Spin() int {
	i := 0
	for i < 1 {
		i++
	}
	return i
}

// Unused is run by no test of this package, only by sampleuser's.
func Unused(n int) bool {
	return n > 0
}
