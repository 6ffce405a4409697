package ecr

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"
)

func (e *Service) recordPush(account, name, digest string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	key := e.backendRepository(account, name) + "@" + digest
	if _, ok := e.pushedAt[key]; !ok {
		e.pushedAt[key] = e.cfg.Now()
	}
}

func (e *Service) pushTime(account, name, digest string) time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	if t, ok := e.pushedAt[e.backendRepository(account, name)+"@"+digest]; ok {
		return t
	}
	return e.cfg.Now()
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
func (e *Service) backendURL(account, name, rest string) string {
	u := *e.cfg.Backend
	u.Path = "/v2/" + e.backendRepository(account, name) + rest
	return u.String()
}

// manifestRequest sends a request for a manifest to the backend, accepting
// every manifest type ECR stores.
func (e *Service) manifestRequest(ctx context.Context, method, account, name, reference string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, e.backendURL(account, name, "/manifests/"+reference), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", manifestAccept)
	return e.client.Do(req)
}

// headManifest asks the backend for the digest a reference resolves to;
// nil when it resolves to nothing.
func (e *Service) headManifest(ctx context.Context, account, name, reference string) (*storedImage, error) {
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
func (e *Service) getManifest(ctx context.Context, account, name, reference string) (*storedImage, error) {
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
func (e *Service) listImages(ctx context.Context, account, name string) ([]*storedImage, error) {
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
