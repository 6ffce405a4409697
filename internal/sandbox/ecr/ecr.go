// Package ecr stands in for Amazon ECR: its API (awsJson1_1) and, per
// account, a registry front that authenticates and authorizes every request
// as ECR does, enforces tag immutability, and forwards to a registry
// backend.
package ecr

import (
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/partition"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/awsproto"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/faults"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/randid"
)

// target is the X-Amz-Target prefix of ECR's API.
const target = "AmazonEC2ContainerRegistry_V20150921"

// tokenLifetime is how long an ECR authorization token is valid.
const tokenLifetime = 12 * time.Hour

// Repository is an ECR repository.
type Repository struct {
	// ImageTagMutability is MUTABLE (the default) or IMMUTABLE.
	ImageTagMutability string `json:"imageTagMutability,omitempty"`
}

// Normalize fills in ECR's defaults.
func (r *Repository) Normalize() {
	if r.ImageTagMutability == "" {
		r.ImageTagMutability = "MUTABLE"
	}
}

// AccountSettings are an account's ECR account settings by name, as
// PutAccountSetting sets them: BLOB_MOUNTING is ENABLED or DISABLED (the
// default), and decides whether the registry front mounts a blob from
// another repository of the registry or starts an upload instead.
type AccountSettings map[string]string

// SettingBlobMounting is the account setting that turns blob mounting on.
const SettingBlobMounting = "BLOB_MOUNTING"

// accountSettingDefaults are ECR's values for settings never put.
var accountSettingDefaults = map[string]string{
	SettingBlobMounting:       "DISABLED",
	"BASIC_SCAN_TYPE_VERSION": "AWS_NATIVE",
	"REGISTRY_POLICY_SCOPE":   "V2",
}

// Validate checks every setting's name and value as PutAccountSetting does.
func (s AccountSettings) Validate() error {
	for _, name := range slices.Sorted(maps.Keys(s)) {
		values, ok := accountSettingValues[name]
		if !ok {
			return fmt.Errorf("ECR account setting %q: the settings are %s", name, strings.Join(slices.Sorted(maps.Keys(accountSettingValues)), ", "))
		}
		if !slices.Contains(values, s[name]) {
			return fmt.Errorf("ECR account setting %s: %q is not one of %s", name, s[name], strings.Join(values, ", "))
		}
	}
	return nil
}

// accountSettingValues are the values PutAccountSetting accepts per setting.
var accountSettingValues = map[string][]string{
	SettingBlobMounting:       {"ENABLED", "DISABLED"},
	"BASIC_SCAN_TYPE_VERSION": {"AWS_NATIVE"},
	"REGISTRY_POLICY_SCOPE":   {"V1", "V2"},
}

// Authorizer decides whether a session may make a call.
type Authorizer interface {
	Authorize(caller *awsproto.Session, action, resource string, keys map[string]string) *awsproto.Error
}

// Config is what ECR needs.
type Config struct {
	// Region is the region repositories live in, Partition its partition.
	Region    string
	Partition partition.Partition
	// Repositories are every account's repositories, by account then name.
	Repositories map[string]map[string]*Repository
	// AccountSettings are every account's ECR account settings at start;
	// PutAccountSetting changes them.
	AccountSettings map[string]AccountSettings
	// PlainHosts are, for every account with a registry, the host:port of
	// its front's plain-HTTP loopback entrance (127.0.0.1:PORT), for
	// clients that can be given neither the sandbox's CA nor a mapping of
	// ECR's host names (the Docker engine, which takes a loopback registry
	// as insecure). Every account listed also has its front served under
	// its ECR host names, over TLS, by Registry; ECR's API names those
	// alone.
	PlainHosts map[string]string
	// Backend is the registry the fronts forward to.
	Backend *url.URL
	// Namespace prefixes every backend repository, so that sandboxes sharing
	// an external registry never see each other's images.
	Namespace string
	// Now is the clock registry passwords expire by.
	Now        func() time.Time
	Authorizer Authorizer
	// Faults may fail or delay registry front requests (service registry).
	Faults faults.Source
	// Logf, when set, receives one line per registry front request.
	Logf func(format string, args ...any)
}

// Service is the ECR stand-in: its API, and the registry fronts.
type Service struct {
	cfg    Config
	client *http.Client
	fronts map[string]*front // by account
	// hosts are the fronts by every host name they answer to, in lower
	// case: the ECR host names and the plain loopback entrance.
	hosts map[string]*front

	mu        sync.Mutex
	passwords map[string]*registryPassword // by password
	pushedAt  map[string]time.Time         // by backend repository + "@" + digest
	settings  map[string]AccountSettings   // by account
	uploads   map[string]*Uploads          // by account + "/" + repository
}

// Uploads is what the pushes through an account's registry front have sent
// to one of its repositories: what a test reads to tell a blob uploaded
// from one mounted or skipped.
type Uploads struct {
	// Bytes counts the blob bytes received: the bodies of upload
	// requests (POST, PATCH and PUT under /blobs/uploads/).
	Bytes int64
	// Blobs counts the uploads completed (a PUT answered 201 Created).
	Blobs int
	// Mounts counts the blobs mounted from another repository of the
	// registry (a POST with mount and from answered 201 Created).
	Mounts int
	// MountsRefused counts the mount requests answered with an upload
	// session instead (202 Accepted): blob mounting off, a source
	// repository the caller may not read, or a blob it does not hold.
	MountsRefused int
}

var _ awsproto.Service = (*Service)(nil)

// registryPassword is one password GetAuthorizationToken issued.
type registryPassword struct {
	session *awsproto.Session
	expires time.Time
}

// New returns ECR for cfg. Its registry fronts are served by the caller:
// all of them under their ECR host names by Registry, over TLS, and each on
// its plain loopback entrance (cfg.PlainHosts) by Front.
func New(cfg Config) *Service {
	e := &Service{
		cfg:       cfg,
		fronts:    map[string]*front{},
		hosts:     map[string]*front{},
		passwords: map[string]*registryPassword{},
		pushedAt:  map[string]time.Time{},
		settings:  map[string]AccountSettings{},
		uploads:   map[string]*Uploads{},
		client: &http.Client{Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     30 * time.Second,
		}},
	}
	for account, plain := range cfg.PlainHosts {
		f := &front{ecr: e, account: account, plainHost: plain, names: ecrHostNames(cfg.Partition, account, cfg.Region)}
		e.fronts[account] = f
		for _, h := range append([]string{plain}, f.names...) {
			e.hosts[strings.ToLower(h)] = f
		}
	}
	for account, settings := range cfg.AccountSettings {
		e.settings[account] = maps.Clone(settings)
	}
	return e
}

// accountSetting is the value of an account setting, its default when
// never put.
func (e *Service) accountSetting(account, name string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if v, ok := e.settings[account][name]; ok {
		return v
	}
	return accountSettingDefaults[name]
}

// Uploads is what pushes have uploaded to, or mounted into, account's
// repository name so far.
func (e *Service) Uploads(account, name string) Uploads {
	e.mu.Lock()
	defer e.mu.Unlock()
	if u := e.uploads[account+"/"+name]; u != nil {
		return *u
	}
	return Uploads{}
}

// countUpload applies f to the upload counters of a repository.
func (e *Service) countUpload(account, name string, f func(*Uploads)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	key := account + "/" + name
	u := e.uploads[key]
	if u == nil {
		u = &Uploads{}
		e.uploads[key] = u
	}
	f(u)
}

// API is ECR's: awsJson1_1.
func (e *Service) API() awsproto.API {
	return awsproto.API{Name: "ecr", Protocol: awsproto.JSON, Target: target}
}

// Front is the registry front of account, an http.Handler; nil for an
// account without one.
func (e *Service) Front(account string) http.Handler {
	if f := e.fronts[account]; f != nil {
		return f
	}
	return nil
}

// Close releases the connections to the backend.
func (e *Service) Close() { e.client.CloseIdleConnections() }

// authorize asks the authorizer whether the call's caller may perform action
// on resource.
func (e *Service) authorize(c *awsproto.Call, action, resource string) *awsproto.Error {
	return e.cfg.Authorizer.Authorize(c.Caller, action, resource, nil)
}

// repository is the named repository of account; nil when there is none.
func (e *Service) repository(account, name string) *Repository {
	return e.cfg.Repositories[account][name]
}

// backendRepository is the repository in the backend that holds account's
// repository name.
func (e *Service) backendRepository(account, name string) string {
	return e.cfg.Namespace + account + "/" + name
}

// BackendRepository is where the registry backend keeps an account's
// repository, as host/path: what an independent client reads to check what
// a push through the ECR front really stored.
func (e *Service) BackendRepository(account, name string) string {
	return e.cfg.Backend.Host + "/" + e.backendRepository(account, name)
}

// Secrets lists every registry password issued so far.
func (e *Service) Secrets() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]string, 0, len(e.passwords))
	for pw := range e.passwords {
		out = append(out, pw)
	}
	return out
}

// ecrHostNames are the host names of account's registry in region, as
// AWS names them: ACCOUNT.dkr.ecr.REGION.SUFFIX, and its FIPS endpoint
// where the partition has FIPS endpoints.
func ecrHostNames(p partition.Partition, account, region string) []string {
	names := []string{p.ECRRegistryHost(account, region, false)}
	if fips := p.ECRRegistryHost(account, region, true); p.SupportsFIPS {
		names = append(names, fips)
	}
	return names
}

// RegistryHost is the host of account's registry as it appears in
// repository URIs and ECR's proxyEndpoint: ACCOUNT.dkr.ecr.REGION.SUFFIX;
// empty for an account without one.
func (e *Service) RegistryHost(account string) string {
	if f := e.fronts[account]; f != nil {
		return f.names[0]
	}
	return ""
}

// RegistryHosts lists every host name Registry answers to, sorted: each
// account's ECR host and its FIPS endpoint's. The sandbox's TLS
// certificate is for these names.
func (e *Service) RegistryHosts() []string {
	var out []string
	for _, f := range e.fronts {
		out = append(out, f.names...)
	}
	slices.Sort(out)
	return out
}

// PlainRegistryHost is host:port of the plain-HTTP loopback entrance to
// account's registry front; empty for an account without one.
func (e *Service) PlainRegistryHost(account string) string {
	if f := e.fronts[account]; f != nil {
		return f.plainHost
	}
	return ""
}

// frontFor returns the front that answers to host (an ECR host name or a
// plain entrance); nil for none.
func (e *Service) frontFor(host string) *front {
	return e.hosts[strings.ToLower(host)]
}

// Registry serves every account's registry front under its ECR host
// names, told apart by the request's Host as ECR's endpoints are by name.
// The caller serves it over TLS with a certificate for RegistryHosts.
func (e *Service) Registry() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		f := e.frontFor(host)
		if f == nil || !slices.Contains(f.names, strings.ToLower(host)) {
			w.Header().Set("Docker-Distribution-Api-Version", "registry/2.0")
			writeRegistryError(w, http.StatusMisdirectedRequest, "NAME_UNKNOWN", "The sandbox serves no ECR registry named "+r.Host)
			return
		}
		f.ServeHTTP(w, r)
	})
}

// IsECRImage reports whether an image lives in an ECR registry: on one of
// the fronts, or on any host named like ECR's, which a task must pull with
// ECR's authentication (and which, when the sandbox does not serve it,
// cannot be pulled at all).
func (e *Service) IsECRImage(ref string) bool {
	host, _, ok := strings.Cut(ref, "/")
	if !ok {
		return false
	}
	if strings.Contains(host, ".dkr.ecr.") || strings.Contains(host, ".dkr.ecr-fips.") {
		return true
	}
	return e.frontFor(host) != nil
}

// Hosts reports whether an image is on one of the fronts: the sandbox
// serves its registry.
func (e *Service) Hosts(ref string) bool {
	host, _, ok := strings.Cut(ref, "/")
	return ok && e.frontFor(host) != nil
}

// ResolveImage reports whether an image reference (host/repo:tag or
// host/repo@sha256:...) resolves to a manifest on one of the fronts, and
// returns that manifest's digest: what an ECS task's image pull would find.
// An image on a host that is not a front is not found.
func (e *Service) ResolveImage(ctx context.Context, ref string) (digest string, found bool, err error) {
	host, rest, ok := strings.Cut(ref, "/")
	if !ok {
		return "", false, nil
	}
	f := e.frontFor(host)
	if f == nil {
		return "", false, nil
	}
	name, reference := splitImageReference(rest)
	if reference == "" {
		reference = "latest"
	}
	if e.repository(f.account, name) == nil {
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

// Handle serves one call of ECR's API.
func (e *Service) Handle(c *awsproto.Call) (any, *awsproto.Error) {
	switch c.Operation {
	case "GetAuthorizationToken":
		return e.getAuthorizationToken(c)
	case "DescribeRepositories":
		return e.describeRepositories(c)
	case "DescribeImages":
		return e.describeImages(c)
	case "BatchGetImage":
		return e.batchGetImage(c)
	case "GetAccountSetting":
		return e.getAccountSetting(c)
	case "PutAccountSetting":
		return e.putAccountSetting(c)
	}
	return nil, awsproto.Errorf("UnknownOperationException", "The sandbox's ECR does not implement %s", c.Operation)
}

var registryIDPattern = regexp.MustCompile(`^[0-9]{12}$`)

// repositoryNamePattern is ECR's constraint on repository names.
var repositoryNamePattern = regexp.MustCompile(`^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

func invalidParameter(msg string) *awsproto.Error {
	return &awsproto.Error{Status: 400, Code: "InvalidParameterException", Message: msg}
}

// backendFailed is ECR's answer when its storage fails it.
func backendFailed(err error) *awsproto.Error {
	return &awsproto.Error{Status: 500, Code: "ServerException", Message: "reading the registry backend: " + err.Error()}
}

// repositoryNotFoundMessage is how ECR, in its API and at its registry
// front, says that a repository does not exist.
func repositoryNotFoundMessage(account, name string) string {
	return fmt.Sprintf("The repository with name '%s' does not exist in the registry with id '%s'", name, account)
}

func repositoryNotFound(account, name string) *awsproto.Error {
	return &awsproto.Error{Status: 400, Code: "RepositoryNotFoundException", Message: repositoryNotFoundMessage(account, name)}
}

type authorizationData struct {
	AuthorizationToken string             `json:"authorizationToken"`
	ExpiresAt          awsproto.Timestamp `json:"expiresAt"`
	ProxyEndpoint      string             `json:"proxyEndpoint"`
}

func (e *Service) getAuthorizationToken(c *awsproto.Call) (any, *awsproto.Error) {
	var in struct {
		RegistryIDs []string `json:"registryIds"`
	}
	if err := c.DecodeJSON(&in); err != nil {
		return nil, err
	}
	if err := e.authorize(c, "ecr:GetAuthorizationToken", "*"); err != nil {
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
		pw := "eyJwYXlsb2FkIjoi" + randid.Token(120)
		expires := e.cfg.Now().Add(tokenLifetime)
		e.mu.Lock()
		e.passwords[pw] = &registryPassword{session: c.Caller, expires: expires}
		e.mu.Unlock()
		out.AuthorizationData = append(out.AuthorizationData, authorizationData{
			AuthorizationToken: base64.StdEncoding.EncodeToString([]byte("AWS:" + pw)),
			ExpiresAt:          awsproto.At(expires),
			ProxyEndpoint:      "https://" + f.names[0],
		})
	}
	return out, nil
}

// password looks up a registry password.
func (e *Service) password(pw string) (*registryPassword, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, ok := e.passwords[pw]
	return p, ok
}

func (e *Service) repositoryARN(account, name string) string {
	return e.cfg.Partition.ARN("ecr", e.cfg.Region, account, "repository/"+name)
}

type repositoryJSON struct {
	RepositoryARN              string             `json:"repositoryArn"`
	RegistryID                 string             `json:"registryId"`
	RepositoryName             string             `json:"repositoryName"`
	RepositoryURI              string             `json:"repositoryUri"`
	CreatedAt                  awsproto.Timestamp `json:"createdAt"`
	ImageTagMutability         string             `json:"imageTagMutability"`
	ImageScanningConfiguration map[string]bool    `json:"imageScanningConfiguration"`
	EncryptionConfiguration    map[string]string  `json:"encryptionConfiguration"`
}

// registryOf resolves the registryId parameter: the caller's account when
// absent.
func (e *Service) registryOf(c *awsproto.Call, registryID string) (string, *awsproto.Error) {
	if registryID == "" {
		return c.Caller.Account, nil
	}
	if !registryIDPattern.MatchString(registryID) {
		return "", invalidParameter("Invalid parameter at 'registryId' failed to satisfy constraint: 'must satisfy regular expression '[0-9]{12}''")
	}
	return registryID, nil
}

func (e *Service) describeRepositories(c *awsproto.Call) (any, *awsproto.Error) {
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
		return nil, e.authorize(c, "ecr:DescribeRepositories", "*")
	}
	repos := e.cfg.Repositories[account]
	names := in.RepositoryNames
	if len(names) == 0 {
		if err := e.authorize(c, "ecr:DescribeRepositories", e.repositoryARN(account, "*")); err != nil {
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
		if err := e.authorize(c, "ecr:DescribeRepositories", e.repositoryARN(account, name)); err != nil {
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
			RepositoryURI:              e.RegistryHost(account) + "/" + name,
			CreatedAt:                  awsproto.At(time.Date(2024, 1, 15, 9, 30, 0, 0, time.UTC)),
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
func (e *Service) repositoryCall(c *awsproto.Call, action, registryID, name string) (string, *Repository, *awsproto.Error) {
	account, apiErr := e.registryOf(c, registryID)
	if apiErr != nil {
		return "", nil, apiErr
	}
	if name == "" {
		return "", nil, invalidParameter("Invalid parameter at 'repositoryName' failed to satisfy constraint: 'Member must not be null'")
	}
	if err := e.authorize(c, action, e.repositoryARN(account, name)); err != nil {
		return "", nil, err
	}
	repo := e.repository(account, name)
	if repo == nil {
		return "", nil, repositoryNotFound(account, name)
	}
	return account, repo, nil
}

type imageDetail struct {
	RegistryID             string             `json:"registryId"`
	RepositoryName         string             `json:"repositoryName"`
	ImageDigest            string             `json:"imageDigest"`
	ImageTags              []string           `json:"imageTags,omitempty"`
	ImageSizeInBytes       int64              `json:"imageSizeInBytes"`
	ImagePushedAt          awsproto.Timestamp `json:"imagePushedAt"`
	ImageManifestMediaType string             `json:"imageManifestMediaType,omitempty"`
	ArtifactMediaType      string             `json:"artifactMediaType,omitempty"`
}

func (e *Service) describeImages(c *awsproto.Call) (any, *awsproto.Error) {
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
	ctx := c.Context()
	images, err := e.listImages(ctx, account, in.RepositoryName)
	if err != nil {
		return nil, backendFailed(err)
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

func (e *Service) detail(account, name string, img *storedImage) imageDetail {
	d := imageDetail{
		RegistryID:             account,
		RepositoryName:         name,
		ImageDigest:            img.digest,
		ImageTags:              img.tags,
		ImageSizeInBytes:       img.size,
		ImagePushedAt:          awsproto.At(e.pushTime(account, name, img.digest)),
		ImageManifestMediaType: img.mediaType,
		ArtifactMediaType:      img.configMediaType,
	}
	return d
}

// findImage resolves an image ID against the images of a repository.
func (e *Service) findImage(ctx context.Context, account, name string, id imageID, images []*storedImage) (*storedImage, *awsproto.Error) {
	notFound := &awsproto.Error{Status: 400, Code: "ImageNotFoundException", Message: fmt.Sprintf(
		"The image with imageId %s does not exist within the repository with name '%s' in the registry with id '%s'", id, name, account)}
	if id.ImageDigest == "" && id.ImageTag == "" {
		return nil, invalidParameter("Invalid parameter at 'imageIds': an image ID needs an imageDigest or an imageTag")
	}
	for _, img := range images {
		if id.ImageDigest != "" && img.digest != id.ImageDigest {
			continue
		}
		if id.ImageTag != "" && !slices.Contains(img.tags, id.ImageTag) {
			continue
		}
		return img, nil
	}
	if id.ImageDigest != "" && id.ImageTag == "" {
		// An untagged image is not in the tag list; ask for it by digest.
		m, err := e.getManifest(ctx, account, name, id.ImageDigest)
		if err != nil {
			return nil, backendFailed(err)
		}
		if m != nil {
			return m, nil
		}
	}
	return nil, notFound
}

func (e *Service) batchGetImage(c *awsproto.Call) (any, *awsproto.Error) {
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
	ctx := c.Context()
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
			return nil, backendFailed(err)
		}
		if m == nil {
			out.Failures = append(out.Failures, failure{ImageID: id, FailureCode: "ImageNotFound", FailureReason: "Requested image not found"})
			continue
		}
		if id.ImageTag != "" && id.ImageDigest != "" {
			byTag, err := e.headManifest(ctx, account, in.RepositoryName, id.ImageTag)
			if err != nil {
				return nil, backendFailed(err)
			}
			if byTag == nil || byTag.digest != id.ImageDigest {
				out.Failures = append(out.Failures, failure{ImageID: id, FailureCode: "ImageTagDoesNotMatchDigest", FailureReason: "Invalid image tag for given digest"})
				continue
			}
		}
		if len(in.AcceptedMediaTypes) > 0 && !slices.Contains(in.AcceptedMediaTypes, m.mediaType) {
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

type accountSetting struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// settingName checks an account setting's name as ECR does.
func settingName(name string) *awsproto.Error {
	if _, ok := accountSettingValues[name]; ok {
		return nil
	}
	names := slices.Sorted(maps.Keys(accountSettingValues))
	return &awsproto.Error{Status: 400, Code: "ValidationException", Message: fmt.Sprintf(
		"1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: Member must satisfy enum value set: [%s]", name, strings.Join(names, ", "))}
}

func (e *Service) getAccountSetting(c *awsproto.Call) (any, *awsproto.Error) {
	var in accountSetting
	if err := c.DecodeJSON(&in); err != nil {
		return nil, err
	}
	if err := settingName(in.Name); err != nil {
		return nil, err
	}
	if err := e.authorize(c, "ecr:GetAccountSetting", "*"); err != nil {
		return nil, err
	}
	return accountSetting{Name: in.Name, Value: e.accountSetting(c.Caller.Account, in.Name)}, nil
}

func (e *Service) putAccountSetting(c *awsproto.Call) (any, *awsproto.Error) {
	var in accountSetting
	if err := c.DecodeJSON(&in); err != nil {
		return nil, err
	}
	if err := settingName(in.Name); err != nil {
		return nil, err
	}
	if !slices.Contains(accountSettingValues[in.Name], in.Value) {
		return nil, invalidParameter(fmt.Sprintf("Invalid value '%s' for account setting %s: valid values are %s",
			in.Value, in.Name, strings.Join(accountSettingValues[in.Name], ", ")))
	}
	if err := e.authorize(c, "ecr:PutAccountSetting", "*"); err != nil {
		return nil, err
	}
	e.mu.Lock()
	if e.settings[c.Caller.Account] == nil {
		e.settings[c.Caller.Account] = AccountSettings{}
	}
	e.settings[c.Caller.Account][in.Name] = in.Value
	e.mu.Unlock()
	return in, nil
}
