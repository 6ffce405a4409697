package ecr

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// NewMemoryRegistry returns the in-process registry backend: go-containerregistry's
// pkg/registry, with blobs in memory, held to what the CNCF distribution
// registry (the other backend the fronts forward to) and ECR enforce and
// pkg/registry does not:
//   - blobs live per repository: a blob uploaded to one repository is
//     unknown in every other (BLOB_UNKNOWN) until it is uploaded there or
//     mounted from a repository that holds it (POST
//     /v2/NAME/blobs/uploads/?mount=DIGEST&from=SOURCE answers 201; a mount
//     the source cannot serve starts an upload instead, 202);
//   - a manifest whose config, layers or (for an index) child manifests are
//     not in its repository is refused: 400 MANIFEST_BLOB_UNKNOWN "blob
//     unknown to registry", one error per missing digest;
//   - a manifest put by digest whose body hashes to another digest is
//     refused: 400 DIGEST_INVALID "provided digest did not match uploaded
//     content";
//   - a manifest that is not an image manifest or index of a known media
//     type is refused: 400 MANIFEST_INVALID "manifest invalid".
//
// The codes and messages are the distribution registry's own (its errcode
// descriptors in registry/api/v2, the "Errors" table of the Docker Registry
// HTTP API V2 specification), which the ECR tests compare against a real
// one.
func NewMemoryRegistry() http.Handler {
	blobs := &repositoryBlobs{content: map[string][]byte{}, in: map[string]map[string]bool{}}
	return &memoryRegistry{
		blobs: blobs,
		inner: ggcrregistry.New(
			ggcrregistry.Logger(log.New(io.Discard, "", 0)),
			ggcrregistry.WithBlobHandler(blobs),
		),
	}
}

// memoryRegistry is the strict layer over pkg/registry.
type memoryRegistry struct {
	inner http.Handler
	blobs *repositoryBlobs
}

// repositoryKey carries, in a request's context, the repository the
// request addresses as the strict layer parsed it: pkg/registry derives a
// different name for some upload requests (NAME/blobs for a chunked
// upload's final PUT), so the blob handler reads this one.
type repositoryKey struct{}

func (m *memoryRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	route := parseRegistryPath(r.URL.Path)
	if route.name == "" {
		m.inner.ServeHTTP(w, r)
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), repositoryKey{}, route.name))
	switch {
	case route.kind == "uploads" && r.Method == http.MethodPost && r.URL.Query().Has("mount"):
		m.mount(w, r, route)
	case route.kind == "manifests" && r.Method == http.MethodPut:
		m.putManifest(w, r, route)
	default:
		m.inner.ServeHTTP(w, r)
	}
}

// mount links a blob of the source repository into the target one, as a
// registry does for a cross-repository mount. When the source does not hold
// the blob (or none is named), the request starts an ordinary upload, as
// the distribution specification asks.
func (m *memoryRegistry) mount(w http.ResponseWriter, r *http.Request, route registryRoute) {
	q := r.URL.Query()
	digest, from := q.Get("mount"), q.Get("from")
	if from != "" && m.blobs.link(from, route.name, digest) {
		w.Header().Set("Location", "/v2/"+route.name+"/blobs/"+digest)
		w.Header().Set("Docker-Content-Digest", digest)
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusCreated)
		return
	}
	q.Del("mount")
	q.Del("from")
	r.URL.RawQuery = q.Encode()
	m.inner.ServeHTTP(w, r)
}

// The manifest media types the registry stores.
var (
	imageManifestTypes = []types.MediaType{types.OCIManifestSchema1, types.DockerManifestSchema2}
	indexTypes         = []types.MediaType{types.OCIImageIndex, types.DockerManifestList}
)

// putManifest checks a manifest as the distribution registry does before
// pkg/registry stores it.
func (m *memoryRegistry) putManifest(w http.ResponseWriter, r *http.Request, route registryRoute) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxManifestBytes+1))
	if err != nil {
		writeRegistryError(w, http.StatusBadRequest, "MANIFEST_INVALID", "manifest invalid")
		return
	}
	if isDigest(route.ref) && sha256Digest(body) != route.ref {
		writeRegistryError(w, http.StatusBadRequest, "DIGEST_INVALID", "provided digest did not match uploaded content")
		return
	}
	var m1 struct {
		MediaType types.MediaType `json:"mediaType"`
		v1.Manifest
		Manifests []v1.Descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(body, &m1); err != nil {
		writeRegistryError(w, http.StatusBadRequest, "MANIFEST_INVALID", "manifest invalid")
		return
	}
	// The Content-Type says what the manifest is; a client that sends none
	// (or plain JSON) is read by the manifest's own mediaType.
	mediaType := types.MediaType(r.Header.Get("Content-Type"))
	if mediaType == "" || mediaType == "application/json" {
		mediaType = m1.MediaType
	}
	var refs []v1.Descriptor
	switch {
	case slices.Contains(imageManifestTypes, mediaType):
		refs = append(refs, m1.Config)
		refs = append(refs, m1.Layers...)
	case slices.Contains(indexTypes, mediaType):
		refs = m1.Manifests
	default:
		writeRegistryError(w, http.StatusBadRequest, "MANIFEST_INVALID", "manifest invalid")
		return
	}
	var missing []string
	for _, d := range refs {
		switch {
		case !d.MediaType.IsDistributable() || len(d.URLs) > 0:
			// A foreign layer is fetched from its URLs, not the registry.
		case slices.Contains(imageManifestTypes, d.MediaType) || slices.Contains(indexTypes, d.MediaType):
			if !m.hasManifest(r, route.name, d.Digest.String()) {
				missing = append(missing, d.Digest.String())
			}
		case !m.blobs.has(route.name, d.Digest.String()):
			missing = append(missing, d.Digest.String())
		}
	}
	if len(missing) > 0 {
		errs := make([]map[string]string, len(missing))
		for i, d := range missing {
			errs[i] = map[string]string{"code": "MANIFEST_BLOB_UNKNOWN", "message": "blob unknown to registry", "detail": d}
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]any{"errors": errs}) // a client gone away hears nothing more
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	m.inner.ServeHTTP(w, r)
}

// hasManifest asks pkg/registry whether a repository holds a manifest.
func (m *memoryRegistry) hasManifest(r *http.Request, name, digest string) bool {
	head, err := http.NewRequestWithContext(r.Context(), http.MethodHead, (&url.URL{Path: "/v2/" + name + "/manifests/" + digest}).String(), nil)
	if err != nil {
		return false
	}
	rec := &statusOnly{header: http.Header{}}
	m.inner.ServeHTTP(rec, head)
	return rec.status == http.StatusOK
}

// statusOnly is a ResponseWriter that keeps only the status.
type statusOnly struct {
	header http.Header
	status int
}

func (s *statusOnly) Header() http.Header         { return s.header }
func (s *statusOnly) Write(p []byte) (int, error) { return len(p), nil }
func (s *statusOnly) WriteHeader(code int)        { s.status = code }

// repositoryBlobs is pkg/registry's blob handler with blobs per
// repository: the content once, by digest, and which repositories hold it.
type repositoryBlobs struct {
	mu      sync.Mutex
	content map[string][]byte          // by digest
	in      map[string]map[string]bool // repository -> digests it holds
}

var (
	_ ggcrregistry.BlobStatHandler   = (*repositoryBlobs)(nil)
	_ ggcrregistry.BlobPutHandler    = (*repositoryBlobs)(nil)
	_ ggcrregistry.BlobDeleteHandler = (*repositoryBlobs)(nil)
)

// repositoryOf is the repository a blob call is for: the one the strict
// layer parsed, else the one pkg/registry names.
func repositoryOf(ctx context.Context, repo string) string {
	if name, ok := ctx.Value(repositoryKey{}).(string); ok {
		return name
	}
	return repo
}

func (b *repositoryBlobs) has(repo, digest string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.in[repo][digest]
}

// link makes a blob of from also a blob of to; false when from lacks it.
func (b *repositoryBlobs) link(from, to, digest string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.in[from][digest] {
		return false
	}
	b.addLocked(to, digest)
	return true
}

func (b *repositoryBlobs) addLocked(repo, digest string) {
	if b.in[repo] == nil {
		b.in[repo] = map[string]bool{}
	}
	b.in[repo][digest] = true
}

// Stat is the size of a blob of the repository.
func (b *repositoryBlobs) Stat(ctx context.Context, repo string, h v1.Hash) (int64, error) {
	repo = repositoryOf(ctx, repo)
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.in[repo][h.String()] {
		return 0, ggcrregistry.ErrNotFound
	}
	return int64(len(b.content[h.String()])), nil
}

// Get reads a blob of the repository.
func (b *repositoryBlobs) Get(ctx context.Context, repo string, h v1.Hash) (io.ReadCloser, error) {
	repo = repositoryOf(ctx, repo)
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.in[repo][h.String()] {
		return nil, ggcrregistry.ErrNotFound
	}
	return io.NopCloser(bytes.NewReader(b.content[h.String()])), nil
}

// Put stores a blob uploaded to the repository; rc fails when the content
// does not hash to h, and nothing is stored then.
func (b *repositoryBlobs) Put(ctx context.Context, repo string, h v1.Hash, rc io.ReadCloser) error {
	repo = repositoryOf(ctx, repo)
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.content[h.String()] = data
	b.addLocked(repo, h.String())
	return nil
}

// Delete removes a blob from the repository.
func (b *repositoryBlobs) Delete(ctx context.Context, repo string, h v1.Hash) error {
	repo = repositoryOf(ctx, repo)
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.in[repo][h.String()] {
		return ggcrregistry.ErrNotFound
	}
	delete(b.in[repo], h.String())
	return nil
}
