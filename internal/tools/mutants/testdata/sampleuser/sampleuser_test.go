// Package sampleuser is another package's tests of sample: the only ones
// that run sample.Unused.
package sampleuser

import (
	"testing"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/tools/mutants/testdata/sample"
)

func TestUnused(t *testing.T) {
	if sample.Unused(0) || !sample.Unused(1) {
		t.Error("Unused(0) or not Unused(1)")
	}
}
