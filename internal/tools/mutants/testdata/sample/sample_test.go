package sample

import "testing"

// TestSign holds zero and the negatives apart, but not zero from the
// negatives' boundary: n <= 0 for n < 0 lives.
func TestSign(t *testing.T) {
	for n, want := range map[int]string{-1: "negative", 0: "zero", 1: "positive"} {
		if got := Sign(n); got != want && !(n == 0 && got == "negative") {
			t.Errorf("Sign(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestSpin is the only test that runs Spin.
func TestSpin(t *testing.T) {
	if Spin() != 1 {
		t.Error("Spin() != 1")
	}
}
