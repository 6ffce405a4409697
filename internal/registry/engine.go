package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// engineDefaultHost is where the Docker engine listens unless DOCKER_HOST
// says otherwise; the runner mounts the host's socket there.
const engineDefaultHost = "unix:///var/run/docker.sock"

// engine is a Docker engine, reached over its HTTP API. Push needs two of
// its calls (inspect an image, export it as a docker save stream), which
// do not warrant the engine's whole client library.
type engine struct {
	host   string
	base   string
	client *http.Client
}

func newEngine(host string) (*engine, error) {
	if host == "" {
		host = engineDefaultHost
	}
	u, err := url.Parse(host)
	if err != nil {
		return nil, fmt.Errorf("DOCKER_HOST %q is not a URL such as unix:///var/run/docker.sock", host)
	}
	tr := &http.Transport{IdleConnTimeout: 30 * time.Second}
	e := &engine{host: host, client: &http.Client{Transport: tr}}
	switch u.Scheme {
	case "unix":
		socket := u.Path
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}
		e.base = "http://docker"
	case "tcp", "http":
		e.base = "http://" + u.Host
	default:
		return nil, fmt.Errorf("DOCKER_HOST %q: only unix:// and tcp:// engines are supported", host)
	}
	return e, nil
}

func (e *engine) close() { e.client.CloseIdleConnections() }

// engineError reads the engine's {"message": ...} error body.
func engineError(resp *http.Response) string {
	var body struct {
		Message string `json:"message"`
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(data, &body) == nil && body.Message != "" {
		return body.Message
	}
	return strings.TrimSpace(resp.Status + " " + string(data))
}

// imageID resolves a name, name:tag or ID to the image's ID (its config digest).
func (e *engine) imageID(ctx context.Context, ref string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.base+"/images/"+url.PathEscape(ref)+"/json", nil)
	if err != nil {
		return "", err
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("reach the Docker engine at %s to find image %q (set DOCKER_HOST, or mount /var/run/docker.sock): %w", e.host, ref, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return "", fmt.Errorf("image %q is not in the Docker engine at %s (%s): build or pull it first, or name an archive (docker-archive:PATH) or an OCI layout (oci:PATH)", ref, e.host, engineError(resp))
	default:
		return "", fmt.Errorf("find image %q in the Docker engine at %s: %s", ref, e.host, engineError(resp))
	}
	var inspect struct {
		ID string `json:"Id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&inspect); err != nil || inspect.ID == "" {
		return "", fmt.Errorf("find image %q in the Docker engine at %s: unreadable answer", ref, e.host)
	}
	return inspect.ID, nil
}

// save streams the image as `docker save` would write it.
func (e *engine) save(ctx context.Context, id, ref string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.base+"/images/get?names="+url.QueryEscape(id), nil)
	if err != nil {
		return nil, err
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("export image %q from the Docker engine at %s: %w", ref, e.host, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, fmt.Errorf("export image %q from the Docker engine at %s: %s", ref, e.host, engineError(resp))
	}
	return resp.Body, nil
}
