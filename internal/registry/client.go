package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sethvargo/go-retry"
)

// Manifest media types the client reads and writes.
const (
	mediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeOCIManifest    = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeOCIIndex       = "application/vnd.oci.image.index.v1+json"
	mediaTypeDockerConfig   = "application/vnd.docker.container.image.v1+json"
	mediaTypeDockerLayer    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
)

var manifestAccept = strings.Join([]string{mediaTypeOCIManifest, mediaTypeOCIIndex, mediaTypeDockerManifest, mediaTypeDockerList}, ", ")

// RegistryError is an error response of a registry: the HTTP status and the
// first error code and message of its body (UNAUTHORIZED, DENIED,
// NAME_UNKNOWN, TAG_INVALID, TOOMANYREQUESTS, ...).
type RegistryError struct {
	Method     string
	URL        string
	StatusCode int
	Code       string
	Message    string
}

func (e *RegistryError) Error() string {
	msg := fmt.Sprintf("%s %s: %d", e.Method, e.URL, e.StatusCode)
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// temporary reports whether trying again may succeed: throttling and
// server-side failures.
func (e *RegistryError) temporary() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode == http.StatusRequestTimeout || e.StatusCode >= 500
}

// repoClient speaks the OCI distribution API to one repository, with the
// ECR password held in memory as a Basic authorization header.
type repoClient struct {
	http    *http.Client
	base    string // scheme://host
	host    string
	repo    string
	authz   string
	backoff func() retry.Backoff
}

func newRepoClient(httpClient *http.Client, host, repo, user, password string) *repoClient {
	scheme := "https"
	if isLoopbackHost(host) {
		// Registries on loopback speak plain HTTP, as docker and skopeo
		// treat them (the sandbox's ECR front and test registries).
		scheme = "http"
	}
	req := &http.Request{Header: http.Header{}}
	req.SetBasicAuth(user, password)
	return &repoClient{
		http:  httpClient,
		base:  scheme + "://" + host,
		host:  host,
		repo:  repo,
		authz: req.Header.Get("Authorization"),
		backoff: func() retry.Backoff {
			return retry.WithMaxRetries(6, retry.WithCappedDuration(5*time.Second, retry.WithJitterPercent(20, retry.NewExponential(250*time.Millisecond))))
		},
	}
}

func isLoopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c *repoClient) url(path string) string { return c.base + "/v2/" + c.repo + path }

// do sends one request and turns an unexpected status into *RegistryError.
// body, when not nil, is opened afresh for every attempt.
func (c *repoClient) do(ctx context.Context, method, rawURL string, header http.Header, body io.Reader, size int64, want ...int) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, rawURL, body)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != nil {
		req.ContentLength = size
	}
	req.Header.Set("Authorization", c.authz)
	req.Header.Set("User-Agent", "oidc-ecs-deploy")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	for _, w := range want {
		if resp.StatusCode == w {
			return resp, nil
		}
	}
	defer resp.Body.Close()
	return nil, readRegistryError(method, redactURL(rawURL), resp)
}

// redactURL drops the query (upload state) from a URL for messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.RawQuery = ""
	return u.String()
}

func readRegistryError(method, rawURL string, resp *http.Response) error {
	e := &RegistryError{Method: method, URL: rawURL, StatusCode: resp.StatusCode}
	var body struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(data, &body) == nil && len(body.Errors) > 0 {
		e.Code, e.Message = body.Errors[0].Code, body.Errors[0].Message
	} else if len(data) > 0 && method != http.MethodHead {
		e.Message = strings.TrimSpace(string(data))
		if len(e.Message) > 200 {
			e.Message = e.Message[:200]
		}
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}

// retrying runs f with backoff while it fails with a temporary registry
// error or a network error; anything else fails at once.
func (c *repoClient) retrying(ctx context.Context, f func(ctx context.Context) error) error {
	return retry.Do(ctx, c.backoff(), func(ctx context.Context) error {
		err := f(ctx)
		if err == nil || ctx.Err() != nil {
			return err
		}
		var re *RegistryError
		if errors.As(err, &re) {
			if re.temporary() {
				return retry.RetryableError(err)
			}
			return err
		}
		var ne net.Error
		if errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, errBrokenUpload) {
			return retry.RetryableError(err)
		}
		return err
	})
}

var errBrokenUpload = errors.New("upload session broke off")

// ping checks that the registry accepts the password.
func (c *repoClient) ping(ctx context.Context) error {
	return c.retrying(ctx, func(ctx context.Context) error {
		resp, err := c.do(ctx, http.MethodGet, c.base+"/v2/", nil, nil, 0, http.StatusOK)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
}

// remoteManifest is a manifest as the registry holds it.
type remoteManifest struct {
	digest    string
	mediaType string
	raw       []byte
}

// getManifest reads the manifest a tag or digest names; nil when absent.
func (c *repoClient) getManifest(ctx context.Context, ref string) (*remoteManifest, error) {
	var out *remoteManifest
	err := c.retrying(ctx, func(ctx context.Context) error {
		out = nil
		resp, err := c.do(ctx, http.MethodGet, c.url("/manifests/"+ref), http.Header{"Accept": {manifestAccept}}, nil, 0, http.StatusOK, http.StatusNotFound)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			re := readRegistryError(http.MethodGet, c.url("/manifests/"+ref), resp).(*RegistryError)
			if re.Code == "NAME_UNKNOWN" {
				return re
			}
			return nil
		}
		raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		if err != nil {
			return err
		}
		out = &remoteManifest{digest: digestOf(raw), mediaType: resp.Header.Get("Content-Type"), raw: raw}
		return nil
	})
	return out, err
}

// putManifest puts a manifest under a tag or digest.
func (c *repoClient) putManifest(ctx context.Context, ref string, raw []byte, mediaType string) error {
	return c.retrying(ctx, func(ctx context.Context) error {
		resp, err := c.do(ctx, http.MethodPut, c.url("/manifests/"+ref), http.Header{"Content-Type": {mediaType}},
			bytes.NewReader(raw), int64(len(raw)), http.StatusCreated, http.StatusOK, http.StatusAccepted)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
}

// blobExists asks whether the repository already has a blob.
func (c *repoClient) blobExists(ctx context.Context, digest string) (bool, error) {
	var exists bool
	err := c.retrying(ctx, func(ctx context.Context) error {
		resp, err := c.do(ctx, http.MethodHead, c.url("/blobs/"+digest), nil, nil, 0, http.StatusOK, http.StatusNotFound)
		if err != nil {
			return err
		}
		resp.Body.Close()
		exists = resp.StatusCode == http.StatusOK
		return nil
	})
	return exists, err
}

// getBlob reads a small blob (an image config) into memory.
func (c *repoClient) getBlob(ctx context.Context, digest string, limit int64) ([]byte, error) {
	var out []byte
	err := c.retrying(ctx, func(ctx context.Context) error {
		resp, err := c.do(ctx, http.MethodGet, c.url("/blobs/"+digest), nil, nil, 0, http.StatusOK)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		out, err = io.ReadAll(io.LimitReader(resp.Body, limit))
		return err
	})
	return out, err
}

// uploadBlob uploads one blob of known digest and size, streaming it from
// open (called again for every attempt, so a failed upload starts over
// from a fresh reader).
func (c *repoClient) uploadBlob(ctx context.Context, digest string, size int64, open func() (io.ReadCloser, error)) error {
	return c.retrying(ctx, func(ctx context.Context) error {
		resp, err := c.do(ctx, http.MethodPost, c.url("/blobs/uploads/"), nil, nil, 0, http.StatusAccepted, http.StatusCreated)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusCreated {
			return nil // mounted
		}
		loc, err := c.location(resp)
		if err != nil {
			return err
		}
		rc, err := open()
		if err != nil {
			return fmt.Errorf("open blob %s: %w", digest, err)
		}
		defer rc.Close()
		resp, err = c.do(ctx, http.MethodPatch, loc, http.Header{"Content-Type": {"application/octet-stream"}},
			rc, size, http.StatusAccepted, http.StatusNoContent, http.StatusCreated)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if loc, err = c.location(resp); err != nil {
			return err
		}
		u, err := url.Parse(loc)
		if err != nil {
			return fmt.Errorf("%w: bad Location %q", errBrokenUpload, loc)
		}
		q := u.Query()
		q.Set("digest", digest)
		u.RawQuery = q.Encode()
		resp, err = c.do(ctx, http.MethodPut, u.String(), nil, http.NoBody, 0, http.StatusCreated, http.StatusAccepted, http.StatusNoContent)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
}

// location resolves an upload session's Location against the registry.
func (c *repoClient) location(resp *http.Response) (string, error) {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "", fmt.Errorf("%w: the registry gave no Location (status %d)", errBrokenUpload, resp.StatusCode)
	}
	base, _ := url.Parse(c.base + "/")
	u, err := base.Parse(loc)
	if err != nil {
		return "", fmt.Errorf("%w: bad Location %q", errBrokenUpload, loc)
	}
	return u.String(), nil
}

// humanSize prints a byte count the way progress lines show it.
func humanSize(n int64) string {
	switch {
	case n >= 1<<30:
		return strconv.FormatFloat(float64(n)/(1<<30), 'f', 2, 64) + " GB"
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MB"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " kB"
	}
	return strconv.FormatInt(n, 10) + " B"
}
