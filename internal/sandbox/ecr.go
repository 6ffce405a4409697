package sandbox

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
)

// ecrTokenLifetime is how long an ECR authorization token is valid.
const ecrTokenLifetime = 12 * time.Hour

// errNotSandboxRegistry is what imageExists returns for an image reference
// whose host is not one of the sandbox's registry fronts (e.g. public.ecr.aws):
// the sandbox cannot tell whether such an image exists.
var errNotSandboxRegistry = errors.New("not a registry of the sandbox")

// ecrService stands in for Amazon ECR: its API and, per account, a registry
// front that speaks the OCI distribution API and forwards to a backend.
type ecrService struct {
	s *Sandbox

	// backend is the registry the fronts forward to; namespace prefixes
	// every backend repository so that sandboxes sharing an external
	// registry never see each other's images.
	backend   *url.URL
	namespace string
	client    *http.Client

	fronts map[string]*registryFront // by account

	mu        sync.Mutex
	passwords map[string]*registryPassword // by password
	pushedAt  map[string]time.Time         // by backend repository + "@" + digest
}

// registryPassword is one password GetAuthorizationToken issued.
type registryPassword struct {
	session *Session
	expires time.Time
}

func newECRService(ctx context.Context, s *Sandbox) (*ecrService, error) {
	e := &ecrService{
		s:         s,
		fronts:    map[string]*registryFront{},
		passwords: map[string]*registryPassword{},
		pushedAt:  map[string]time.Time{},
		client: &http.Client{Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     30 * time.Second,
		}},
	}
	if s.opts.RegistryBackend != "" {
		u, err := url.Parse(strings.TrimRight(s.opts.RegistryBackend, "/"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("registry backend %q: want a URL such as http://127.0.0.1:5000", s.opts.RegistryBackend)
		}
		e.backend = u
		e.namespace = "sandbox-" + strings.ToLower(randomUpper(10)) + "/"
	} else {
		// The in-process registry serves the demo: blobs in memory, its
		// chatter discarded.
		l, err := listenLoopback()
		if err != nil {
			return nil, err
		}
		s.serve(l, ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
		s.closers = append(s.closers, func() { l.Close() })
		e.backend = &url.URL{Scheme: "http", Host: l.Addr().String()}
	}
	s.closers = append(s.closers, e.client.CloseIdleConnections)

	accounts := make([]string, 0, len(s.world.Accounts))
	for id := range s.world.Accounts {
		accounts = append(accounts, id)
	}
	sort.Strings(accounts)
	for _, id := range accounts {
		l, err := listenLoopback()
		if err != nil {
			return nil, err
		}
		f := &registryFront{ecr: e, account: id, host: l.Addr().String()}
		e.fronts[id] = f
		s.serve(l, f)
		s.closers = append(s.closers, func() { l.Close() })
	}
	return e, nil
}

// backendRepository is the repository in the backend that holds account's
// repository name.
func (e *ecrService) backendRepository(account, name string) string {
	return e.namespace + account + "/" + name
}

// BackendRepository is where the registry backend keeps an account's
// repository, as host/path: what an independent client reads to check what
// a push through the ECR front really stored.
func (s *Sandbox) BackendRepository(account, name string) string {
	return s.ecr.backend.Host + "/" + s.ecr.backendRepository(account, name)
}

// RegistryHost is host:port of the ECR registry front of account, as it
// appears in repository URIs; empty for an account not in the world.
func (s *Sandbox) RegistryHost(account string) string { return s.ecr.registryHost(account) }

func (e *ecrService) issuedSecrets() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]string, 0, len(e.passwords))
	for pw := range e.passwords {
		out = append(out, pw)
	}
	return out
}

// registryHost is host:port of the registry front serving account's
// repositories, as it appears in repository URIs.
func (e *ecrService) registryHost(account string) string {
	if f := e.fronts[account]; f != nil {
		return f.host
	}
	return ""
}

// frontFor returns the front whose host is host.
func (e *ecrService) frontFor(host string) *registryFront {
	for _, f := range e.fronts {
		if f.host == host {
			return f
		}
	}
	return nil
}

// imageExists reports whether an image reference (host/repo:tag or
// host/repo@sha256:...) on one of the fronts resolves to a manifest, and
// returns that manifest's digest: what an ECS task's image pull would find.
// A reference to a host that is not a front fails with errNotSandboxRegistry.
func (e *ecrService) imageExists(ctx context.Context, ref string) (digest string, ok bool, err error) {
	host, rest, found := strings.Cut(ref, "/")
	if !found {
		return "", false, fmt.Errorf("image %q: %w", ref, errNotSandboxRegistry)
	}
	f := e.frontFor(host)
	if f == nil {
		return "", false, fmt.Errorf("image %q: %w", ref, errNotSandboxRegistry)
	}
	name, reference := splitImageReference(rest)
	if reference == "" {
		reference = "latest"
	}
	if e.s.world.Accounts[f.account].Repositories[name] == nil {
		return "", false, nil
	}
	m, err := e.headManifest(ctx, f.account, name, reference)
	if err != nil || m == nil {
		return "", false, err
	}
	return m.digest, true, nil
}

// splitImageReference splits repo:tag or repo@digest (without host).
func splitImageReference(s string) (name, reference string) {
	if name, digest, ok := strings.Cut(s, "@"); ok {
		return name, digest
	}
	if i := strings.LastIndex(s, ":"); i > strings.LastIndex(s, "/") {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// handle serves the ECR API.
func (e *ecrService) handle(c *Call) (any, *APIError) {
	switch c.Operation {
	case "GetAuthorizationToken":
		return e.getAuthorizationToken(c)
	case "DescribeRepositories":
		return e.describeRepositories(c)
	case "DescribeImages":
		return e.describeImages(c)
	case "BatchGetImage":
		return e.batchGetImage(c)
	}
	return nil, &APIError{Status: 400, Code: "UnknownOperationException", Message: "The sandbox's ECR does not implement " + c.Operation}
}

var registryIDPattern = regexp.MustCompile(`^[0-9]{12}$`)

// repositoryNamePattern is ECR's constraint on repository names.
var repositoryNamePattern = regexp.MustCompile(`^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

func invalidParameter(msg string) *APIError {
	return &APIError{Status: 400, Code: "InvalidParameterException", Message: msg}
}

func repositoryNotFound(account, name string) *APIError {
	return &APIError{Status: 400, Code: "RepositoryNotFoundException", Message: fmt.Sprintf(
		"The repository with name '%s' does not exist in the registry with id '%s'", name, account)}
}

// epochSeconds is a timestamp as awsJson1_1 writes it.
type epochSeconds time.Time

func (t epochSeconds) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf("%.3f", float64(time.Time(t).UnixMilli())/1000)), nil
}

type authorizationData struct {
	AuthorizationToken string       `json:"authorizationToken"`
	ExpiresAt          epochSeconds `json:"expiresAt"`
	ProxyEndpoint      string       `json:"proxyEndpoint"`
}

func (e *ecrService) getAuthorizationToken(c *Call) (any, *APIError) {
	var in struct {
		RegistryIDs []string `json:"registryIds"`
	}
	if err := c.DecodeJSON(&in); err != nil {
		return nil, err
	}
	if err := e.s.authorize(c, "ecr:GetAuthorizationToken", "*"); err != nil {
		return nil, err
	}
	ids := in.RegistryIDs
	if len(ids) == 0 {
		ids = []string{c.Caller.Account}
	}
	var out struct {
		AuthorizationData []authorizationData `json:"authorizationData"`
	}
	for _, id := range ids {
		if !registryIDPattern.MatchString(id) {
			return nil, invalidParameter("Invalid parameter at 'registryIds' failed to satisfy constraint: 'Member must satisfy constraint: [Member must satisfy regular expression pattern: [0-9]{12}]'")
		}
		f := e.fronts[id]
		if f == nil {
			return nil, invalidParameter(fmt.Sprintf("Invalid parameter at 'registryIds': the registry with id '%s' is not in the sandbox's world", id))
		}
		// Like ECR's, the password is long and opaque; it stands for the
		// caller's identity, whose permissions the front checks on each use.
		pw := "eyJwYXlsb2FkIjoi" + randomToken(120)
		expires := e.s.now().Add(ecrTokenLifetime)
		e.mu.Lock()
		e.passwords[pw] = &registryPassword{session: c.Caller, expires: expires}
		e.mu.Unlock()
		out.AuthorizationData = append(out.AuthorizationData, authorizationData{
			AuthorizationToken: base64.StdEncoding.EncodeToString([]byte("AWS:" + pw)),
			ExpiresAt:          epochSeconds(expires),
			ProxyEndpoint:      "http://" + f.host,
		})
	}
	return out, nil
}

// password looks up a registry password.
func (e *ecrService) password(pw string) (*registryPassword, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, ok := e.passwords[pw]
	return p, ok
}

func (e *ecrService) repositoryARN(account, name string) string {
	return fmt.Sprintf("arn:aws:ecr:%s:%s:repository/%s", e.s.world.Region, account, name)
}

type repositoryJSON struct {
	RepositoryARN              string            `json:"repositoryArn"`
	RegistryID                 string            `json:"registryId"`
	RepositoryName             string            `json:"repositoryName"`
	RepositoryURI              string            `json:"repositoryUri"`
	CreatedAt                  epochSeconds      `json:"createdAt"`
	ImageTagMutability         string            `json:"imageTagMutability"`
	ImageScanningConfiguration map[string]bool   `json:"imageScanningConfiguration"`
	EncryptionConfiguration    map[string]string `json:"encryptionConfiguration"`
}

// registryOf resolves the registryId parameter: the caller's account when
// absent.
func (e *ecrService) registryOf(c *Call, registryID string) (string, *APIError) {
	if registryID == "" {
		return c.Caller.Account, nil
	}
	if !registryIDPattern.MatchString(registryID) {
		return "", invalidParameter("Invalid parameter at 'registryId' failed to satisfy constraint: 'must satisfy regular expression '[0-9]{12}''")
	}
	return registryID, nil
}

func (e *ecrService) describeRepositories(c *Call) (any, *APIError) {
	var in struct {
		RegistryID      string   `json:"registryId"`
		RepositoryNames []string `json:"repositoryNames"`
		MaxResults      int      `json:"maxResults"`
		NextToken       string   `json:"nextToken"`
	}
	if err := c.DecodeJSON(&in); err != nil {
		return nil, err
	}
	account, apiErr := e.registryOf(c, in.RegistryID)
	if apiErr != nil {
		return nil, apiErr
	}
	if c.Caller == nil {
		return nil, e.s.authorize(c, "ecr:DescribeRepositories", "*")
	}
	var repos map[string]*Repository
	if acct := e.s.world.Accounts[account]; acct != nil {
		repos = acct.Repositories
	}
	names := in.RepositoryNames
	if len(names) == 0 {
		if err := e.s.authorize(c, "ecr:DescribeRepositories", e.repositoryARN(account, "*")); err != nil {
			return nil, err
		}
		for name := range repos {
			names = append(names, name)
		}
		sort.Strings(names)
	}
	var out struct {
		Repositories []repositoryJSON `json:"repositories"`
	}
	out.Repositories = []repositoryJSON{}
	for _, name := range names {
		if !repositoryNamePattern.MatchString(name) || len(name) < 2 || len(name) > 256 {
			return nil, invalidParameter(fmt.Sprintf("Invalid parameter at 'repositoryNames' failed to satisfy constraint: 'Member must satisfy regular expression pattern: %s'", repositoryNamePattern))
		}
		if err := e.s.authorize(c, "ecr:DescribeRepositories", e.repositoryARN(account, name)); err != nil {
			return nil, err
		}
		repo := repos[name]
		if repo == nil {
			return nil, repositoryNotFound(account, name)
		}
		out.Repositories = append(out.Repositories, repositoryJSON{
			RepositoryARN:              e.repositoryARN(account, name),
			RegistryID:                 account,
			RepositoryName:             name,
			RepositoryURI:              e.registryHost(account) + "/" + name,
			CreatedAt:                  epochSeconds(time.Date(2024, 1, 15, 9, 30, 0, 0, time.UTC)),
			ImageTagMutability:         repo.ImageTagMutability,
			ImageScanningConfiguration: map[string]bool{"scanOnPush": false},
			EncryptionConfiguration:    map[string]string{"encryptionType": "AES256"},
		})
	}
	return out, nil
}

// imageID names an image by tag, digest or both, as the ECR API does.
type imageID struct {
	ImageDigest string `json:"imageDigest,omitempty"`
	ImageTag    string `json:"imageTag,omitempty"`
}

func (id imageID) String() string {
	q := func(s string) string {
		if s == "" {
			return "null"
		}
		return "'" + s + "'"
	}
	return fmt.Sprintf("{imageDigest:%s, imageTag:%s}", q(id.ImageDigest), q(id.ImageTag))
}

// repositoryCall checks the common parameters of an image call: the
// repository exists and the caller may perform action on it.
func (e *ecrService) repositoryCall(c *Call, action, registryID, name string) (string, *Repository, *APIError) {
	account, apiErr := e.registryOf(c, registryID)
	if apiErr != nil {
		return "", nil, apiErr
	}
	if name == "" {
		return "", nil, invalidParameter("Invalid parameter at 'repositoryName' failed to satisfy constraint: 'Member must not be null'")
	}
	if err := e.s.authorize(c, action, e.repositoryARN(account, name)); err != nil {
		return "", nil, err
	}
	acct := e.s.world.Accounts[account]
	if acct == nil || acct.Repositories[name] == nil {
		return "", nil, repositoryNotFound(account, name)
	}
	return account, acct.Repositories[name], nil
}

type imageDetail struct {
	RegistryID             string       `json:"registryId"`
	RepositoryName         string       `json:"repositoryName"`
	ImageDigest            string       `json:"imageDigest"`
	ImageTags              []string     `json:"imageTags,omitempty"`
	ImageSizeInBytes       int64        `json:"imageSizeInBytes"`
	ImagePushedAt          epochSeconds `json:"imagePushedAt"`
	ImageManifestMediaType string       `json:"imageManifestMediaType,omitempty"`
	ArtifactMediaType      string       `json:"artifactMediaType,omitempty"`
}

func (e *ecrService) describeImages(c *Call) (any, *APIError) {
	var in struct {
		RegistryID     string    `json:"registryId"`
		RepositoryName string    `json:"repositoryName"`
		ImageIDs       []imageID `json:"imageIds"`
		Filter         struct {
			TagStatus string `json:"tagStatus"`
		} `json:"filter"`
	}
	if err := c.DecodeJSON(&in); err != nil {
		return nil, err
	}
	account, _, apiErr := e.repositoryCall(c, "ecr:DescribeImages", in.RegistryID, in.RepositoryName)
	if apiErr != nil {
		return nil, apiErr
	}
	ctx := c.Request.Context()
	images, err := e.listImages(ctx, account, in.RepositoryName)
	if err != nil {
		return nil, &APIError{Status: 500, Code: "ServerException", Message: "reading the registry backend: " + err.Error()}
	}
	var out struct {
		ImageDetails []imageDetail `json:"imageDetails"`
	}
	out.ImageDetails = []imageDetail{}
	if len(in.ImageIDs) == 0 {
		for _, img := range images {
			if in.Filter.TagStatus == "UNTAGGED" && len(img.tags) > 0 {
				continue
			}
			out.ImageDetails = append(out.ImageDetails, e.detail(account, in.RepositoryName, img))
		}
		return out, nil
	}
	seen := map[string]bool{}
	for _, id := range in.ImageIDs {
		img, apiErr := e.findImage(ctx, account, in.RepositoryName, id, images)
		if apiErr != nil {
			return nil, apiErr
		}
		if !seen[img.digest] {
			seen[img.digest] = true
			out.ImageDetails = append(out.ImageDetails, e.detail(account, in.RepositoryName, img))
		}
	}
	return out, nil
}

func (e *ecrService) detail(account, name string, img *storedImage) imageDetail {
	d := imageDetail{
		RegistryID:             account,
		RepositoryName:         name,
		ImageDigest:            img.digest,
		ImageTags:              img.tags,
		ImageSizeInBytes:       img.size,
		ImagePushedAt:          epochSeconds(e.pushTime(account, name, img.digest)),
		ImageManifestMediaType: img.mediaType,
		ArtifactMediaType:      img.configMediaType,
	}
	return d
}

// findImage resolves an image ID against the images of a repository.
func (e *ecrService) findImage(ctx context.Context, account, name string, id imageID, images []*storedImage) (*storedImage, *APIError) {
	notFound := &APIError{Status: 400, Code: "ImageNotFoundException", Message: fmt.Sprintf(
		"The image with imageId %s does not exist within the repository with name '%s' in the registry with id '%s'", id, name, account)}
	if id.ImageDigest == "" && id.ImageTag == "" {
		return nil, invalidParameter("Invalid parameter at 'imageIds': an image ID needs an imageDigest or an imageTag")
	}
	for _, img := range images {
		if id.ImageDigest != "" && img.digest != id.ImageDigest {
			continue
		}
		if id.ImageTag != "" && !containsString(img.tags, id.ImageTag) {
			continue
		}
		return img, nil
	}
	if id.ImageDigest != "" && id.ImageTag == "" {
		// An untagged image is not in the tag list; ask for it by digest.
		m, err := e.getManifest(ctx, account, name, id.ImageDigest)
		if err != nil {
			return nil, &APIError{Status: 500, Code: "ServerException", Message: "reading the registry backend: " + err.Error()}
		}
		if m != nil {
			return m, nil
		}
	}
	return nil, notFound
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (e *ecrService) batchGetImage(c *Call) (any, *APIError) {
	var in struct {
		RegistryID         string    `json:"registryId"`
		RepositoryName     string    `json:"repositoryName"`
		ImageIDs           []imageID `json:"imageIds"`
		AcceptedMediaTypes []string  `json:"acceptedMediaTypes"`
	}
	if err := c.DecodeJSON(&in); err != nil {
		return nil, err
	}
	account, _, apiErr := e.repositoryCall(c, "ecr:BatchGetImage", in.RegistryID, in.RepositoryName)
	if apiErr != nil {
		return nil, apiErr
	}
	if len(in.ImageIDs) == 0 || len(in.ImageIDs) > 100 {
		return nil, invalidParameter("Invalid parameter at 'imageIds' failed to satisfy constraint: 'Member must have length less than or equal to 100 and greater than or equal to 1'")
	}
	type image struct {
		RegistryID             string  `json:"registryId"`
		RepositoryName         string  `json:"repositoryName"`
		ImageID                imageID `json:"imageId"`
		ImageManifest          string  `json:"imageManifest"`
		ImageManifestMediaType string  `json:"imageManifestMediaType"`
	}
	type failure struct {
		ImageID       imageID `json:"imageId"`
		FailureCode   string  `json:"failureCode"`
		FailureReason string  `json:"failureReason"`
	}
	out := struct {
		Images   []image   `json:"images"`
		Failures []failure `json:"failures"`
	}{Images: []image{}, Failures: []failure{}}
	ctx := c.Request.Context()
	for _, id := range in.ImageIDs {
		ref := id.ImageDigest
		if ref == "" {
			ref = id.ImageTag
		}
		if ref == "" {
			out.Failures = append(out.Failures, failure{ImageID: id, FailureCode: "MissingDigestAndTag", FailureReason: "Missing digest and tag"})
			continue
		}
		m, err := e.getManifest(ctx, account, in.RepositoryName, ref)
		if err != nil {
			return nil, &APIError{Status: 500, Code: "ServerException", Message: "reading the registry backend: " + err.Error()}
		}
		if m == nil {
			out.Failures = append(out.Failures, failure{ImageID: id, FailureCode: "ImageNotFound", FailureReason: "Requested image not found"})
			continue
		}
		if id.ImageTag != "" && id.ImageDigest != "" {
			byTag, err := e.headManifest(ctx, account, in.RepositoryName, id.ImageTag)
			if err != nil {
				return nil, &APIError{Status: 500, Code: "ServerException", Message: "reading the registry backend: " + err.Error()}
			}
			if byTag == nil || byTag.digest != id.ImageDigest {
				out.Failures = append(out.Failures, failure{ImageID: id, FailureCode: "ImageTagDoesNotMatchDigest", FailureReason: "Invalid image tag for given digest"})
				continue
			}
		}
		if len(in.AcceptedMediaTypes) > 0 && !containsString(in.AcceptedMediaTypes, m.mediaType) {
			out.Failures = append(out.Failures, failure{ImageID: id, FailureCode: "UnsupportedImageType", FailureReason: "Image is not of an accepted media type"})
			continue
		}
		got := id
		got.ImageDigest = m.digest
		out.Images = append(out.Images, image{
			RegistryID: account, RepositoryName: in.RepositoryName, ImageID: got,
			ImageManifest: string(m.raw), ImageManifestMediaType: m.mediaType,
		})
	}
	return out, nil
}

func (e *ecrService) recordPush(account, name, digest string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	key := e.backendRepository(account, name) + "@" + digest
	if _, ok := e.pushedAt[key]; !ok {
		e.pushedAt[key] = e.s.now()
	}
}

func (e *ecrService) pushTime(account, name, digest string) time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	if t, ok := e.pushedAt[e.backendRepository(account, name)+"@"+digest]; ok {
		return t
	}
	return e.s.now()
}

// storedImage is a manifest in the backend and the tags that point at it.
type storedImage struct {
	digest          string
	mediaType       string
	configMediaType string
	raw             []byte
	size            int64
	tags            []string
}

// manifestAccept lists every manifest type the fronts serve.
var manifestAccept = strings.Join([]string{
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.docker.distribution.manifest.v2+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
}, ", ")

// backendURL is the URL of path (which starts with the repository) in the
// backend.
func (e *ecrService) backendURL(account, name, rest string) string {
	u := *e.backend
	u.Path = "/v2/" + e.backendRepository(account, name) + rest
	return u.String()
}

// manifestRequest sends a request for a manifest to the backend, accepting
// every manifest type ECR stores.
func (e *ecrService) manifestRequest(ctx context.Context, method, account, name, reference string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, e.backendURL(account, name, "/manifests/"+reference), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", manifestAccept)
	return e.client.Do(req)
}

// headManifest asks the backend for the digest a reference resolves to;
// nil when it resolves to nothing.
func (e *ecrService) headManifest(ctx context.Context, account, name, reference string) (*storedImage, error) {
	resp, err := e.manifestRequest(ctx, http.MethodHead, account, name, reference)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, nil
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("HEAD manifest %s: %s", reference, resp.Status)
	}
	return &storedImage{digest: resp.Header.Get("Docker-Content-Digest"), mediaType: resp.Header.Get("Content-Type")}, nil
}

// getManifest reads a manifest from the backend; nil when absent.
func (e *ecrService) getManifest(ctx context.Context, account, name, reference string) (*storedImage, error) {
	resp, err := e.manifestRequest(ctx, http.MethodGet, account, name, reference)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, nil
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("GET manifest %s: %s", reference, resp.Status)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxManifestBytes))
	if err != nil {
		return nil, err
	}
	img := &storedImage{digest: resp.Header.Get("Docker-Content-Digest"), mediaType: resp.Header.Get("Content-Type"), raw: raw}
	if img.digest == "" {
		img.digest = sha256Digest(raw)
	}
	var m struct {
		MediaType string `json:"mediaType"`
		Config    struct {
			MediaType string `json:"mediaType"`
			Size      int64  `json:"size"`
		} `json:"config"`
		Layers []struct {
			Size int64 `json:"size"`
		} `json:"layers"`
	}
	if json.Unmarshal(raw, &m) == nil {
		img.configMediaType = m.Config.MediaType
		for _, l := range m.Layers {
			img.size += l.Size
		}
		if img.mediaType == "" {
			img.mediaType = m.MediaType
		}
	}
	return img, nil
}

// listImages lists the tagged images of a repository, newest tag list order.
func (e *ecrService) listImages(ctx context.Context, account, name string) ([]*storedImage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.backendURL(account, name, "/tags/list"), nil)
	if err != nil {
		return nil, err
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("list tags: %s", resp.Status)
	}
	var list struct {
		Tags []string `json:"tags"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&list); err != nil {
		return nil, fmt.Errorf("list tags: %w", err)
	}
	sort.Strings(list.Tags)
	byDigest := map[string]*storedImage{}
	var out []*storedImage
	for _, tag := range list.Tags {
		m, err := e.getManifest(ctx, account, name, tag)
		if err != nil {
			return nil, err
		}
		if m == nil {
			continue
		}
		if img := byDigest[m.digest]; img != nil {
			img.tags = append(img.tags, tag)
			continue
		}
		m.tags = []string{tag}
		byDigest[m.digest] = m
		out = append(out, m)
	}
	return out, nil
}
