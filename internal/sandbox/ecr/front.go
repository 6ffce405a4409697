package ecr

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/faults"
)

// maxManifestBytes is the largest manifest ECR accepts.
const maxManifestBytes = 4 << 20

// tokenExpiredMessage is what ECR says to a password past its 12 hours.
const tokenExpiredMessage = "Your authorization token has expired. Reauthenticate and try again."

func sha256Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// front is an account's ECR registry endpoint: it authenticates and
// authorizes every request as ECR does, enforces tag immutability, and
// forwards the rest to the backend, streaming bodies both ways. Its answers
// (the challenge's realm, upload locations) name the scheme and host the
// request came in by: the ECR host over TLS, or the plain entrance.
type front struct {
	ecr     *Service
	account string
	// names are the registry's ECR host names (the first is the one
	// repository URIs use); plainHost is its plain-HTTP loopback entrance.
	names     []string
	plainHost string

	proxyOnce sync.Once
	proxy     *httputil.ReverseProxy

	locksMu sync.Mutex
	locks   map[string]*sync.Mutex // per repository, for manifest PUTs
}

// registryRoute is what a distribution API path addresses.
type registryRoute struct {
	name string // repository name; empty for /v2/
	kind string // "ping", "manifests", "blobs", "uploads", "tags", "referrers", "unknown"
	ref  string // tag, digest or upload ID after the kind
}

// parseRegistryPath splits /v2/<name>/<kind>/<ref>; names may contain
// slashes, so the kind is found from the right.
func parseRegistryPath(p string) registryRoute {
	if p == "/v2/" || p == "/v2" {
		return registryRoute{kind: "ping"}
	}
	rest, ok := strings.CutPrefix(p, "/v2/")
	if !ok {
		return registryRoute{kind: "unknown"}
	}
	for _, k := range []struct{ sep, kind string }{
		{"/blobs/uploads/", "uploads"},
		{"/blobs/uploads", "uploads"},
		{"/manifests/", "manifests"},
		{"/blobs/", "blobs"},
		{"/tags/list", "tags"},
		{"/referrers/", "referrers"},
	} {
		if i := strings.LastIndex(rest, k.sep); i > 0 {
			return registryRoute{name: rest[:i], kind: k.kind, ref: rest[i+len(k.sep):]}
		}
	}
	return registryRoute{kind: "unknown"}
}

// operation names a request for fault injection, and ecrAction names the
// IAM action ECR checks for it.
func (rt registryRoute) operation(method string) (op, ecrAction string) {
	switch rt.kind {
	case "ping":
		return "ping", ""
	case "manifests":
		switch method {
		case http.MethodGet:
			return "manifest-get", "ecr:BatchGetImage"
		case http.MethodHead:
			return "manifest-head", "ecr:BatchGetImage"
		case http.MethodPut:
			return "manifest-put", "ecr:PutImage"
		case http.MethodDelete:
			return "manifest-delete", "ecr:BatchDeleteImage"
		}
	case "blobs":
		switch method {
		case http.MethodGet:
			return "blob-get", "ecr:GetDownloadUrlForLayer"
		case http.MethodHead:
			return "blob-head", "ecr:BatchCheckLayerAvailability"
		}
	case "uploads":
		switch method {
		case http.MethodPost:
			return "blob-upload-start", "ecr:InitiateLayerUpload"
		case http.MethodPatch:
			return "blob-upload", "ecr:UploadLayerPart"
		case http.MethodPut:
			return "blob-upload", "ecr:CompleteLayerUpload"
		case http.MethodGet:
			return "blob-upload-status", "ecr:UploadLayerPart"
		case http.MethodDelete:
			return "blob-upload-cancel", "ecr:UploadLayerPart"
		}
	case "tags":
		if method == http.MethodGet {
			return "tags-list", "ecr:ListImages"
		}
	case "referrers":
		if method == http.MethodGet {
			return "referrers", "ecr:BatchGetImage"
		}
	}
	return "unknown", ""
}

// writeRegistryError answers as a distribution registry does.
func writeRegistryError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	// A client gone away hears nothing more.
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors": []map[string]string{{"code": code, "message": message}},
	})
}

// entrance is how a request reached the front: the scheme and host it
// addressed, which the front's answers point back at.
type entrance struct{ scheme, host string }

func entranceOf(r *http.Request) entrance {
	if r.TLS != nil {
		return entrance{"https", r.Host}
	}
	return entrance{"http", r.Host}
}

// entranceKey carries a request's entrance to the answer of the backend it
// was forwarded to.
type entranceKey struct{}

func (f *front) challenge(w http.ResponseWriter, r *http.Request) {
	at := entranceOf(r)
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Basic realm="%s://%s/",service="ecr.amazonaws.com"`, at.scheme, at.host))
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cfg := f.ecr.cfg
	w.Header().Set("Docker-Distribution-Api-Version", "registry/2.0")
	route := parseRegistryPath(r.URL.Path)
	op, action := route.operation(r.Method)
	if cfg.Logf != nil {
		cfg.Logf("registry %s %s %s", f.account, op, route.name)
	}

	fault, err := faults.Apply(r.Context(), cfg.Faults, "registry", op)
	if err != nil {
		return
	}
	if fault != nil {
		f.writeFault(w, r, *fault)
		return
	}

	user, password, hasAuth := r.BasicAuth()
	if !hasAuth {
		f.challenge(w, r)
		writeRegistryError(w, http.StatusUnauthorized, "UNAUTHORIZED", "Not Authorized")
		return
	}
	pw, known := f.ecr.password(password)
	if user != "AWS" || !known {
		f.challenge(w, r)
		writeRegistryError(w, http.StatusUnauthorized, "UNAUTHORIZED", "Not Authorized")
		return
	}
	if !cfg.Now().Before(pw.expires) {
		f.challenge(w, r)
		writeRegistryError(w, http.StatusUnauthorized, "DENIED", tokenExpiredMessage)
		return
	}
	if route.kind == "ping" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = io.WriteString(w, "{}") // a client gone away hears nothing more
		return
	}
	if action == "" {
		writeRegistryError(w, http.StatusNotFound, "NOT_FOUND", "The sandbox's ECR does not serve "+r.Method+" "+r.URL.Path)
		return
	}
	if apiErr := cfg.Authorizer.Authorize(pw.session, action, f.ecr.repositoryARN(f.account, route.name), nil); apiErr != nil {
		writeRegistryError(w, http.StatusForbidden, "DENIED", apiErr.Message)
		return
	}
	repo := f.ecr.repository(f.account, route.name)
	if repo == nil {
		writeRegistryError(w, http.StatusNotFound, "NAME_UNKNOWN", repositoryNotFoundMessage(f.account, route.name))
		return
	}

	if op == "manifest-put" {
		f.putManifest(w, r, route, repo)
		return
	}
	if route.kind == "uploads" {
		f.upload(w, r, route, pw)
		return
	}
	f.forward(w, r, route)
}

// upload forwards a blob upload request, counting the bytes it carries and
// the blobs it completes or mounts. A POST that asks to mount a blob from
// another repository (?mount=DIGEST&from=REPOSITORY) mounts it as ECR does:
// only with the account's BLOB_MOUNTING setting ENABLED, from a repository
// of the same registry that the caller may read layers of
// (ecr:GetDownloadUrlForLayer), and only a blob that repository holds.
// Otherwise ECR, like any registry, answers with a new upload session
// (202 Accepted), and the client uploads the blob.
func (f *front) upload(w http.ResponseWriter, r *http.Request, route registryRoute, pw *registryPassword) {
	q := r.URL.Query()
	askedMount := r.Method == http.MethodPost && q.Get("mount") != "" && q.Get("from") != ""
	if askedMount {
		if from := q.Get("from"); f.mayMount(pw, from) {
			q.Set("from", f.ecr.backendRepository(f.account, from))
		} else {
			q.Del("from")
			q.Del("mount")
		}
		// ECR mounts within its own registry only, whatever origin the
		// client names.
		q.Del("origin")
		r.URL.RawQuery = q.Encode()
	}
	body := &countingReader{r: r.Body}
	r.Body = body
	// Counted as the answer's status is known, before the client can read
	// it: a client that reads the counts after its answer finds them.
	f.forward(&statusRecorder{ResponseWriter: w, beforeHeader: func(status int) {
		f.ecr.countUpload(f.account, route.name, func(u *Uploads) {
			u.Bytes += body.n.Load()
			switch {
			case askedMount && status == http.StatusCreated:
				u.Mounts++
			case askedMount && status == http.StatusAccepted:
				u.MountsRefused++
			case status == http.StatusCreated && (r.Method == http.MethodPut || r.Method == http.MethodPost):
				// A PUT completing a session, or a POST uploading the blob whole.
				u.Blobs++
			}
		})
	}}, r, route)
}

// mayMount reports whether the front mounts blobs from repository from for
// the caller.
func (f *front) mayMount(pw *registryPassword, from string) bool {
	return f.ecr.accountSetting(f.account, SettingBlobMounting) == "ENABLED" &&
		f.ecr.repository(f.account, from) != nil &&
		f.ecr.cfg.Authorizer.Authorize(pw.session, "ecr:GetDownloadUrlForLayer", f.ecr.repositoryARN(f.account, from), nil) == nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.ReadCloser
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingReader) Close() error { return c.r.Close() }

// writeFault answers a request with an injected fault, after reading what
// the client sent so that it sees the status rather than a reset connection.
func (f *front) writeFault(w http.ResponseWriter, r *http.Request, fault faults.Fault) {
	_, _ = io.Copy(io.Discard, r.Body) // what it read is all it needs
	status := fault.Status
	if status == 0 {
		status = http.StatusInternalServerError
		if fault.Code == "TOOMANYREQUESTS" {
			status = http.StatusTooManyRequests
		}
	}
	code := fault.Code
	if code == "" {
		code = "UNKNOWN"
		if status == http.StatusTooManyRequests {
			code = "TOOMANYREQUESTS"
		}
	}
	msg := fault.Message
	if msg == "" {
		msg = "injected fault: " + http.StatusText(status)
		if status == http.StatusTooManyRequests {
			msg = "Rate exceeded"
		}
	}
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	writeRegistryError(w, status, code, msg)
}

func (f *front) repoLock(name string) *sync.Mutex {
	f.locksMu.Lock()
	defer f.locksMu.Unlock()
	if f.locks == nil {
		f.locks = map[string]*sync.Mutex{}
	}
	m := f.locks[name]
	if m == nil {
		m = &sync.Mutex{}
		f.locks[name] = m
	}
	return m
}

// isDigest reports whether a manifest reference is a digest, not a tag.
func isDigest(ref string) bool { return strings.Contains(ref, ":") }

// putManifest enforces IMMUTABLE tags: a tag that exists is not put again,
// not even with the very manifest it names, as ECR refuses that too (its
// users ask for the opposite: aws/containers-roadmap#2179).
func (f *front) putManifest(w http.ResponseWriter, r *http.Request, route registryRoute, repo *Repository) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxManifestBytes+1))
	if err != nil {
		writeRegistryError(w, http.StatusBadRequest, "MANIFEST_INVALID", "reading the manifest: "+err.Error())
		return
	}
	if len(body) > maxManifestBytes {
		writeRegistryError(w, http.StatusBadRequest, "MANIFEST_INVALID", "Manifest size exceeds the 4 MiB limit")
		return
	}
	digest := sha256Digest(body)
	lock := f.repoLock(route.name)
	lock.Lock()
	defer lock.Unlock()
	if repo.ImageTagMutability == "IMMUTABLE" && !isDigest(route.ref) {
		existing, err := f.ecr.headManifest(r.Context(), f.account, route.name, route.ref)
		if err != nil {
			writeRegistryError(w, http.StatusInternalServerError, "UNKNOWN", "reading the registry backend: "+err.Error())
			return
		}
		if existing != nil {
			writeRegistryError(w, http.StatusBadRequest, "TAG_INVALID", fmt.Sprintf(
				"The image tag '%s' already exists in the '%s' repository and cannot be overwritten because the repository is immutable.",
				route.ref, route.name))
			return
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	f.forward(&statusRecorder{ResponseWriter: w, beforeHeader: func(status int) {
		if status == http.StatusCreated {
			f.ecr.recordPush(f.account, route.name, digest)
		}
	}}, r, route)
}

// statusRecorder hands the status a handler writes to beforeHeader before
// the client can see it.
type statusRecorder struct {
	http.ResponseWriter
	beforeHeader func(status int)
	wrote        bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote && code >= 200 {
		s.wrote = true
		s.beforeHeader(code)
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	if !s.wrote {
		s.WriteHeader(http.StatusOK)
	}
	return s.ResponseWriter.Write(p)
}

// Flush lets the proxy stream through the recorder.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// forward sends the request to the backend repository, streaming bodies,
// and points Location headers back at the front so that clients continue
// their upload sessions through it.
func (f *front) forward(w http.ResponseWriter, r *http.Request, route registryRoute) {
	f.proxyOnce.Do(func() {
		backend := f.ecr.cfg.Backend
		prefix := "/v2/" + f.ecr.cfg.Namespace + f.account + "/"
		f.proxy = &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.Out.URL.Scheme = backend.Scheme
				pr.Out.URL.Host = backend.Host
				pr.Out.Host = backend.Host
				pr.Out.Header.Del("Authorization")
			},
			Transport:     f.ecr.client.Transport,
			FlushInterval: -1,
			ModifyResponse: func(resp *http.Response) error {
				if resp.StatusCode == http.StatusNotFound {
					return emptyRepositoryAnswer(resp, strings.TrimPrefix(resp.Request.URL.Path, prefix))
				}
				// A Location the backend wrote that does not parse is
				// passed on as it is, for the client to refuse.
				u, err := url.Parse(resp.Header.Get("Location"))
				if err != nil || u.Path == "" {
					return nil //nolint:nilerr // the answer goes on unchanged; the client judges it
				}
				if rest, ok := strings.CutPrefix(u.Path, prefix); ok {
					at, _ := resp.Request.Context().Value(entranceKey{}).(entrance)
					u.Scheme, u.Host, u.Path, u.RawPath = at.scheme, at.host, "/v2/"+rest, ""
					resp.Header.Set("Location", u.String())
				}
				return nil
			},
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				if r.Context().Err() != nil {
					return
				}
				writeRegistryError(w, http.StatusBadGateway, "UNKNOWN", "the sandbox's registry backend failed: "+err.Error())
			},
		}
	})
	out := r.Clone(context.WithValue(r.Context(), entranceKey{}, entranceOf(r)))
	out.URL.Path = "/v2/" + f.ecr.backendRepository(f.account, route.name) + strings.TrimPrefix(r.URL.Path, "/v2/"+route.name)
	out.URL.RawPath = ""
	f.proxy.ServeHTTP(w, out)
}

// emptyRepositoryAnswer rewrites a backend's NAME_UNKNOWN, which a registry
// answers for a repository that holds nothing yet, into what ECR answers
// for a repository that exists (the front has checked that it does): the
// manifest or blob is unknown, not the repository, and its tag list is
// empty (the distribution spec's 200 for a repository found). path is the
// request's path within the account's backend namespace: NAME/tags/list,
// NAME/manifests/REF, ...
func emptyRepositoryAnswer(resp *http.Response, path string) error {
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if err != nil {
		return err
	}
	if bytes.Contains(body, []byte("NAME_UNKNOWN")) {
		code, msg := "MANIFEST_UNKNOWN", "Requested image not found"
		if strings.Contains(resp.Request.URL.Path, "/blobs/") {
			code, msg = "BLOB_UNKNOWN", "blob unknown to registry"
		}
		body, _ = json.Marshal(map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
		if name, ok := strings.CutSuffix(path, "/tags/list"); ok {
			body, _ = json.Marshal(map[string]any{"name": name, "tags": []string{}})
			resp.StatusCode, resp.Status = http.StatusOK, "200 OK"
		}
		resp.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return nil
}
