package codedeploy

import (
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/codedeploy/types"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/awsproto"
)

// TestShapesMatchSDK checks every JSON field the stand-in writes against
// the SDK's CodeDeploy types, whose fields are the model's member names
// with a capital first letter (identifer stays misspelt, as in the
// model), so that no field is silently dropped by a client.
func TestShapesMatchSDK(t *testing.T) {
	t.Parallel()
	tests := []struct {
		value, sdk any
	}{
		{deploymentInfo{}, types.DeploymentInfo{}},
		{deploymentTargetJSON{}, types.DeploymentTarget{}},
		{DeploymentGroup{}, types.DeploymentGroupInfo{}},
	}
	for _, tc := range tests {
		checkShape(t, reflect.TypeOf(tc.value), reflect.TypeOf(tc.sdk), reflect.TypeOf(tc.value).Name())
	}
}

func checkShape(t *testing.T, ours, sdk reflect.Type, path string) {
	t.Helper()
	for ours.Kind() == reflect.Pointer || ours.Kind() == reflect.Slice {
		ours = ours.Elem()
	}
	for sdk.Kind() == reflect.Pointer || sdk.Kind() == reflect.Slice {
		sdk = sdk.Elem()
	}
	if ours.Kind() != reflect.Struct || ours == reflect.TypeOf(awsproto.Timestamp{}) {
		return
	}
	for f := range ours.Fields() {
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		m, ok := sdk.FieldByNameFunc(func(name string) bool { return strings.EqualFold(name, tag) })
		if !ok {
			t.Errorf("%s.%s: the SDK's %s has no member %q", path, f.Name, sdk.Name(), tag)
			continue
		}
		checkShape(t, f.Type, m.Type, path+"."+tag)
	}
}
