package ecs

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ecs/schemas"
	"github.com/aws/smithy-go"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/awsproto"
)

// TestShapesMatchSDK checks every JSON field the stand-in writes against
// the member names of the SDK's ECS model, so that no field is silently
// dropped by a client.
func TestShapesMatchSDK(t *testing.T) {
	t.Parallel()
	tests := []struct {
		value  any
		schema *smithy.Schema
	}{
		{serviceJSON{}, schemas.Service},
		{deploymentJSON{}, schemas.Deployment},
		{eventJSON{}, schemas.ServiceEvent},
		{serviceDeploymentJSON{}, schemas.ServiceDeployment},
		{serviceDeploymentBrief{}, schemas.ServiceDeploymentBrief},
		{taskJSON{}, schemas.Task},
		{clusterJSON{}, schemas.Cluster},
		{failure{}, schemas.Failure},
		{taskSetJSON{}, schemas.TaskSet},
	}
	for _, tc := range tests {
		checkShape(t, reflect.TypeOf(tc.value), tc.schema, tc.schema.ID().Name)
	}
}

func checkShape(t *testing.T, typ reflect.Type, s *smithy.Schema, path string) {
	t.Helper()
	for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
		typ = typ.Elem()
		if s.Type() == smithy.ShapeTypeList {
			s = s.ListMember()
		}
	}
	if typ.Kind() != reflect.Struct || typ == reflect.TypeOf(awsproto.Timestamp{}) {
		return
	}
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		m := s.Member(tag)
		if m == nil {
			t.Errorf("%s.%s: the SDK's %s has no member %q", path, f.Name, s.ID().Name, tag)
			continue
		}
		checkShape(t, f.Type, m, fmt.Sprintf("%s.%s", path, tag))
	}
}
