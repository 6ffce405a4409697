package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/client"
)

// Bounds on the Docker engine's answers. The engine may export a large image to a directory of its own
// before the first byte of `docker save` arrives, so the wait for response
// headers is generous; a stall after that is the push's stall watchdog's
// to catch.
const (
	engineTLSHandshakeTimeout   = 10 * time.Second
	engineResponseHeaderTimeout = 3 * time.Minute
)

// engineTransport is the engine client's transport, bounded as above.
func engineTransport() *http.Transport {
	// The client replaces the dialer to reach the host (unix socket or
	// TCP), with its own 10 s dial timeout. Setting one here keeps
	// net/http from configuring HTTP/2, which would give the transport a
	// TLS config and so make the client speak HTTPS to a plain engine.
	return &http.Transport{
		DialContext:           (&net.Dialer{}).DialContext,
		TLSHandshakeTimeout:   engineTLSHandshakeTimeout,
		ResponseHeaderTimeout: engineResponseHeaderTimeout,
	}
}

// EngineClient connects to the Docker engine the environment names, as the
// engine client's FromEnv does but reading getenv rather than the process
// environment:
//
//   - DOCKER_HOST: unix:///path/to/docker.sock or tcp://host:port; the
//     runner's unix:///var/run/docker.sock when unset;
//   - DOCKER_TLS_VERIFY and DOCKER_CERT_PATH: TLS to a tcp:// engine, with
//     ca.pem, cert.pem and key.pem from DOCKER_CERT_PATH. A certificate path
//     without DOCKER_TLS_VERIFY (TLS that trusts any server) is refused;
//   - DOCKER_API_VERSION: pins the API version, which is negotiated with
//     the engine otherwise.
//
// Dialling and the wait for each answer's headers are bounded. The product
// and the tests connect with this one function, so they read DOCKER_HOST
// by the same rule.
func EngineClient(getenv func(string) string) (*client.Client, error) {
	tr := engineTransport()
	host := getenv(client.EnvOverrideHost)
	if host == "" {
		host = client.DefaultDockerHost
	}
	if u, err := client.ParseHostURL(host); err != nil || (u.Scheme != "unix" && u.Scheme != "tcp") {
		return nil, fmt.Errorf("connect to the Docker engine: DOCKER_HOST %q is neither unix:///path/to/docker.sock nor tcp://host:port (an ssh:// engine needs the docker CLI's connection helper: forward its socket and name that)", host)
	}
	// WithHost sets the transport's dialer for the host, bounded by the
	// client's own dial timeout (10 s).
	opts := []client.Opt{
		client.WithHTTPClient(&http.Client{Transport: tr, CheckRedirect: client.CheckRedirect}),
		client.WithHost(host),
	}
	if certs := getenv(client.EnvOverrideCertPath); certs != "" {
		if getenv(client.EnvTLSVerify) == "" {
			return nil, fmt.Errorf("connect to the Docker engine: %s is set without %s, which would trust any server: set %s=1 to check the engine's certificate against %s",
				client.EnvOverrideCertPath, client.EnvTLSVerify, client.EnvTLSVerify, filepath.Join(certs, "ca.pem"))
		}
		opts = append(opts, client.WithTLSClientConfig(filepath.Join(certs, "ca.pem"), filepath.Join(certs, "cert.pem"), filepath.Join(certs, "key.pem")))
	} else if getenv(client.EnvTLSVerify) != "" {
		return nil, fmt.Errorf("connect to the Docker engine: %s is set but %s, the directory of ca.pem, cert.pem and key.pem, is not", client.EnvTLSVerify, client.EnvOverrideCertPath)
	}
	opts = append(opts, client.WithAPIVersion(getenv(client.EnvOverrideAPIVersion)))
	c, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to the Docker engine at %s (DOCKER_HOST): %w", host, err)
	}
	return c, nil
}

// engine is the Docker engine a local image is read from.
type engine struct {
	api *client.Client
}

func newEngine(getenv func(string) string) (*engine, error) {
	api, err := EngineClient(getenv)
	if err != nil {
		return nil, err
	}
	return &engine{api: api}, nil
}

func (e *engine) String() string { return "the Docker engine at " + e.api.DaemonHost() }

func (e *engine) close() error { return e.api.Close() }

// openDockerEngine finds a local image in the Docker engine. A
// multi-platform image (an image index in the containerd image store) is
// exported whole and pushed as the index; a single image is streamed.
func openDockerEngine(ctx context.Context, ref string, getenv func(string) string, stallTimeout time.Duration) (imageSource, error) {
	eng, err := newEngine(getenv)
	if err != nil {
		return nil, err
	}
	res, err := eng.inspect(ctx, ref)
	if err != nil {
		return nil, errors.Join(err, eng.close())
	}
	id := res.ID
	name := fmt.Sprintf("image %s (%s) in %s", ref, ShortDigest(id), eng)
	if d := res.Descriptor; d != nil && types.MediaType(d.MediaType).IsIndex() {
		src, err := eng.exportIndex(ctx, id, ref, name, stallTimeout)
		if err != nil {
			return nil, errors.Join(err, eng.close())
		}
		return src, nil
	}
	return &tarSource{
		name:         name,
		configDigest: id,
		platform:     &v1.Platform{OS: res.Os, Architecture: res.Architecture, Variant: res.Variant, OSVersion: res.OsVersion},
		open:         func(ctx context.Context) (io.ReadCloser, error) { return eng.save(ctx, id, ref) },
		closeFn:      eng.close,
	}, nil
}

// inspect finds an image by name, name:tag or ID.
func (e *engine) inspect(ctx context.Context, ref string) (client.ImageInspectResult, error) {
	res, err := e.api.ImageInspect(ctx, ref)
	switch {
	case cerrdefs.IsNotFound(err):
		return res, fmt.Errorf("image %q is not in %s (%w): build or pull it first, or name an archive (docker-archive:PATH), an OCI layout (oci:PATH) or an image in a registry (docker://REFERENCE)", ref, e, err)
	case err != nil && isUnreachable(err):
		return res, fmt.Errorf("reach %s to find image %q (set DOCKER_HOST, or mount /var/run/docker.sock): %w", e, ref, err)
	case err != nil:
		return res, fmt.Errorf("find image %q in %s: %w", ref, e, err)
	case res.ID == "":
		return res, fmt.Errorf("find image %q in %s: the engine's answer has no image ID", ref, e)
	}
	return res, nil
}

// exportIndex exports a multi-platform image of the containerd image store
// whole, as docker save writes it (an OCI layout holding the index), when
// the store holds the content of every platform it lists; otherwise it says
// that it cannot, and what to use instead.
func (e *engine) exportIndex(ctx context.Context, id, ref, name string, stallTimeout time.Duration) (*artifactSource, error) {
	res, err := e.api.ImageInspect(ctx, id, client.ImageInspectWithManifests(true))
	if err != nil {
		return nil, fmt.Errorf("list the platforms of image %q in %s: %w", ref, e, err)
	}
	var have, missing []string
	for _, m := range res.Manifests {
		if m.Kind != image.ManifestKindImage {
			continue
		}
		platform := "unknown platform"
		if m.ImageData != nil {
			p := m.ImageData.Platform
			platform = (&v1.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant}).String()
		}
		if m.Available {
			have = append(have, platform)
		} else {
			missing = append(missing, platform)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("image %q in %s is a multi-platform image whose index lists %s, but the engine's store holds the content of %s only, so it cannot export the image whole; "+
			"push the index from where it is whole: export it as an OCI layout (docker buildx build --platform ... --output type=oci,dest=build/oci, then image: oci:build/oci), "+
			"or push it to a registry (docker/build-push-action with push: true) and deploy image: docker://REGISTRY/NAME@sha256:...",
			ref, e, strings.Join(append(append([]string{}, have...), missing...), ", "), orNone(have))
	}
	rc, err := e.api.ImageSave(ctx, []string{id})
	if err != nil {
		return nil, fmt.Errorf("export image %q from %s: %w", ref, e, err)
	}
	// The export is read whole before the push starts: a stalled engine is
	// caught by the watchdog, as a stalled push is.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	wd := newWatchdog(stallTimeout)
	go wd.watch(ctx, cancel, &stallError{timeout: stallTimeout, what: fmt.Sprintf("%s sent nothing of image %q", e, ref)})
	stop := context.AfterFunc(ctx, func() { rc.Close() })
	defer stop()
	src, err := openSavedLayout(progressReader{r: rc, progress: wd.touch}, name)
	rc.Close()
	if err != nil {
		var stall *stallError
		if cause := context.Cause(ctx); errors.As(cause, &stall) {
			return nil, stall
		}
		return nil, err
	}
	removeLayout := src.closeFn
	src.closeFn = func() error { return errors.Join(removeLayout(), e.close()) }
	return src, nil
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "none of them"
	}
	return strings.Join(list, ", ")
}

// isUnreachable tells a connection failure from an answer of the engine.
func isUnreachable(err error) bool {
	return client.IsErrConnectionFailed(err) || errors.Is(err, context.DeadlineExceeded)
}

// save streams the image as `docker save` writes it, by ID so that the
// image inspected is the one read even if its name moves meanwhile.
func (e *engine) save(ctx context.Context, id, ref string) (io.ReadCloser, error) {
	rc, err := e.api.ImageSave(ctx, []string{id})
	if err != nil {
		return nil, fmt.Errorf("export image %q from %s: %w", ref, e, err)
	}
	return rc, nil
}
