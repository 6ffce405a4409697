package actiontest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/testenv"
)

// MaxImageBytes is the size limit of the action's image.
const MaxImageBytes = 15_000_000

// randomSuffix names the images a test makes, so parallel runs never meet.
func randomSuffix() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// engine connects to the test's Docker engine.
func engine(tb testing.TB) *Engine {
	tb.Helper()
	e, err := NewEngine(testenv.DockerHost(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// buildActionImage builds the Dockerfile's final stage around the binary
// built here, and removes the image when the test ends.
func buildActionImage(tb testing.TB, e *Engine, binary string) (tag string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dockerfile, err := os.ReadFile(filepath.Join(root(tb), "Dockerfile"))
	if err != nil {
		tb.Fatal(err)
	}
	data, err := os.ReadFile(binary)
	if err != nil {
		tb.Fatal(err)
	}
	buildCtx, err := FinalStageContext(string(dockerfile), ActionImageFiles(data))
	if err != nil {
		tb.Fatal(err)
	}
	tag = "oidc-ecs-deploy-actiontest:" + randomSuffix()
	unlock := testenv.LockImageBuilds(tb)
	_, err = e.Build(ctx, buildCtx, tag)
	unlock()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		defer testenv.LockImageBuilds(tb)()
		if err := e.Remove(context.Background(), tag); err != nil {
			tb.Logf("clean up: %v", err)
		}
	})
	return tag
}

// extractFile reads one file of an image's filesystem through docker save:
// the topmost layer holding the path wins, as in a container started from
// the image.
func extractFile(tb testing.TB, e *Engine, image, path string) (data []byte, mode int64) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var saved bytes.Buffer
	if err := e.Save(ctx, image, &saved); err != nil {
		tb.Fatal(err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(&saved)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			tb.Fatalf("read docker save output: %v", err)
		}
		if h.Typeflag == tar.TypeReg {
			if files[h.Name], err = io.ReadAll(tr); err != nil {
				tb.Fatal(err)
			}
		}
	}
	var manifest []struct {
		Layers []string `json:"Layers"` // docker save writes it capitalised
	}
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil || len(manifest) != 1 {
		tb.Fatalf("docker save output: manifest.json = %q (%v), want one image", files["manifest.json"], err)
	}
	want := strings.TrimPrefix(path, "/")
	layers := manifest[0].Layers
	for i := len(layers) - 1; i >= 0; i-- {
		var r io.Reader = bytes.NewReader(files[layers[i]])
		if l := files[layers[i]]; len(l) > 2 && l[0] == 0x1f && l[1] == 0x8b {
			gz, err := gzip.NewReader(r)
			if err != nil {
				tb.Fatal(err)
			}
			r = gz
		}
		lt := tar.NewReader(r)
		for {
			h, err := lt.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				tb.Fatalf("read layer %s: %v", layers[i], err)
			}
			if strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/") == want {
				data, err := io.ReadAll(lt)
				if err != nil {
					tb.Fatal(err)
				}
				return data, h.Mode
			}
		}
	}
	tb.Fatalf("%s is not in image %s", path, image)
	return nil, 0
}

// TestStaticBinary: the final image has no libc, so the binary must need none.
func TestStaticBinary(t *testing.T) {
	t.Parallel()
	f, err := elf.Open(actionBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }() // read only
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary asks for a dynamic loader (PT_INTERP); build it with CGO_ENABLED=0")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary links %v; it must be static", libs)
	}
	if f.Section(".symtab") != nil {
		t.Error("the binary keeps its symbol table; build it with -ldflags=\"-s -w\"")
	}

	// A scratch image has no CA certificates: the binary must carry its own.
	info, err := buildinfo.ReadFile(actionBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	const roots = "golang.org/x/crypto/x509roots/fallback"
	if !slices.ContainsFunc(info.Deps, func(m *debug.Module) bool { return m.Path == roots }) {
		t.Errorf("the binary does not link %s; import it in main.go so TLS works in a scratch image", roots)
	}
}

// TestImage builds the Dockerfile's final stage from a binary built here
// (no base image can be pulled on a machine without a registry mirror),
// then checks the size limit and that the image's entrypoint runs the action.
func TestImage(t *testing.T) {
	t.Parallel()
	e := engine(t)
	binary := actionBinary(t)
	tag := buildActionImage(t, e, binary)

	info, err := e.Inspect(context.Background(), tag)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("image %s: %d bytes", info.ID, info.Size)
	if info.Size > MaxImageBytes {
		t.Errorf("image size = %d bytes, want at most %d", info.Size, MaxImageBytes)
	}
	if got, want := info.Os, "linux"; got != want {
		t.Errorf("image OS = %q, want %q", got, want)
	}
	if got, want := info.Config.Entrypoint, []string{"/oidc-ecs-deploy"}; !slices.Equal(got, want) {
		t.Fatalf("entrypoint = %q, want %q", got, want)
	}
	// The runner appends runs.args to the entrypoint; with none the binary
	// gets no arguments and must pick action mode itself. A Cmd would be
	// passed as arguments too.
	if len(info.Config.Cmd) != 0 {
		t.Errorf("cmd = %q, want none: the binary must start with no arguments", info.Config.Cmd)
	}
	if u := info.Config.User; u != "" && u != "0" && u != "root" && u != "0:0" {
		t.Errorf("user = %q; GitHub runs container actions as root", u)
	}

	// What the entrypoint names is the binary built here, executable.
	data, mode := extractFile(t, e, tag, info.Config.Entrypoint[0])
	built, err := os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, built) {
		t.Errorf("%s in the image differs from the binary built", info.Config.Entrypoint[0])
	}
	if mode&0o111 == 0 {
		t.Errorf("%s in the image has mode %o: not executable", info.Config.Entrypoint[0], mode)
	}
	_, tmpMode := extractFile(t, e, tag, "/tmp")
	if tmpMode&0o1777 != 0o1777 {
		t.Errorf("/tmp in the image has mode %o, want 1777", tmpMode)
	}

	// Run the image's own binary as the entrypoint says, the way the
	// runner starts it (TestActionContainerDeploysToARepositoryURI runs
	// the image itself with docker run): no arguments, GITHUB_ACTIONS=true,
	// the image's environment, and no inputs. It must take action mode and say, as an annotation, which
	// required input is missing.
	extracted := filepath.Join(t.TempDir(), "entrypoint")
	if err := os.WriteFile(extracted, data, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, extracted)
	cmd.Env = append(slices.Clone(info.Config.Env), "GITHUB_ACTIONS=true", "HOME="+t.TempDir())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("the entrypoint with no inputs: err = %v, want a failing exit; output:\n%s", err, out.String())
	}
	for _, want := range []string{"::error", "role-to-assume"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the entrypoint with no inputs printed no %q; output:\n%s", want, out.String())
		}
	}
}
