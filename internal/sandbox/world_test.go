package sandbox_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

// The world file format is documented in docs/sandbox-world.md: its example
// must be a world the sandbox runs, and every field of the identity side
// must be described there.
func TestWorldFormatDocumented(t *testing.T) {
	t.Parallel()
	doc := readWorldDoc(t)
	_, rest, ok := strings.Cut(string(doc), "```json\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("the document has no JSON example")
	}
	w, err := sandbox.ParseWorld([]byte(example))
	if err != nil {
		t.Fatalf("the document's example: %v", err)
	}
	sb := sandboxtest.StartWorld(t, w, sandbox.Options{})
	out := sandboxtest.WebIdentity(t, sb, "arn:aws:iam::123456789012:role/gha-shop-deploy", "doc")
	if got, want := aws.ToString(out.SubjectFromWebIdentityToken), "repo:acme/shop:ref:refs/heads/main"; got != want {
		t.Errorf("subject = %q, want %q", got, want)
	}

	for _, typ := range []reflect.Type{reflect.TypeFor[sandbox.World](), reflect.TypeFor[sandbox.GitHubRun](), reflect.TypeFor[sandbox.Account](), reflect.TypeFor[sandbox.OIDCProvider](), reflect.TypeFor[sandbox.Role]()} {
		for f := range typ.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name != "" && name != "-" && !strings.Contains(string(doc), "`"+name+"`") {
				t.Errorf("docs/sandbox-world.md does not describe %s.%s (`%s`)", typ.Name(), f.Name, name)
			}
		}
	}
}

// TestECSWorldFormatDocumented checks that every ECS field of the world
// file appears in the world format document.
func TestECSWorldFormatDocumented(t *testing.T) {
	t.Parallel()
	doc := readWorldDoc(t)
	_, ecsSection, ok := strings.Cut(string(doc), "\n## ECS\n")
	if !ok {
		t.Fatal("the document has no ECS section")
	}
	for _, typ := range []reflect.Type{reflect.TypeOf(sandbox.ECSSettings{}), reflect.TypeOf(sandbox.ECSThrottle{}), reflect.TypeOf(sandbox.ServiceSpec{})} {
		for i := range typ.NumField() {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			if !strings.Contains(string(doc), "`"+name+"`") && !strings.Contains(ecsSection, `"`+name+`"`) {
				t.Errorf("%s.%s (%q) is not documented", typ.Name(), typ.Field(i).Name, name)
			}
		}
	}
}

// readWorldDoc reads docs/sandbox-world.md.
func readWorldDoc(tb testing.TB) []byte {
	tb.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "sandbox-world.md"))
	if err != nil {
		tb.Fatalf("read the world format document: %v", err)
	}
	return doc
}

func TestWorldRegionInAPartition(t *testing.T) {
	t.Parallel()
	_, err := sandbox.ParseWorld([]byte(`{"region": "useast1", "accounts": {}}`))
	if err == nil || !strings.Contains(err.Error(), `region "useast1" is in no AWS partition`) {
		t.Errorf("ParseWorld with region useast1 = %v, want an error naming the region", err)
	}
}

// TestWorldRolePath: a role's path is IAM's: / or /PART/.../.
func TestWorldRolePath(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ path, wantErr string }{
		{"", ""},
		{"/", ""},
		{"/ci/deploy/", ""},
		{"ci/", `path "ci/"`},
		{"/ci", `path "/ci"`},
		{"/c i/", `path "/c i/"`},
	} {
		_, err := sandbox.ParseWorld([]byte(`{"accounts": {"111122223333": {"roles": {"r": {"path": "` + tt.path + `", "trustPolicy": {"Statement": []}, "permissions": {"Statement": []}}}}}}`))
		if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("ParseWorld with role path %q = %v, want error %q", tt.path, err, tt.wantErr)
		}
	}
}
