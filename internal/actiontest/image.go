package actiontest

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/registry"
)

// Engine is a Docker engine, reached with the engine's Go client as the
// action reaches it (registry.EngineClient: the same DOCKER_HOST rule, TLS
// and API version negotiation).
type Engine struct {
	api *client.Client
}

// NewEngine connects to the Docker engine at host, a DOCKER_HOST value
// (unix:///path/to/docker.sock or tcp://host:port).
func NewEngine(host string) (*Engine, error) {
	api, err := registry.EngineClient(func(k string) string {
		if k == client.EnvOverrideHost {
			return host
		}
		return ""
	})
	if err != nil {
		return nil, err
	}
	return &Engine{api: api}, nil
}

// ImageInfo is the part of an image's inspection the tests read.
type ImageInfo struct {
	ID           string
	Size         int64
	Os           string
	Architecture string
	Config       struct {
		Entrypoint []string
		Cmd        []string
		User       string
		Env        []string
		WorkingDir string
	}
}

// Inspect returns an image's configuration and size.
func (e *Engine) Inspect(ctx context.Context, image string) (*ImageInfo, error) {
	res, err := e.api.ImageInspect(ctx, image)
	if err != nil {
		return nil, fmt.Errorf("inspect image %s: %w", image, err)
	}
	info := &ImageInfo{ID: res.ID, Size: res.Size, Os: res.Os, Architecture: res.Architecture}
	if c := res.Config; c != nil {
		info.Config.Entrypoint, info.Config.Cmd, info.Config.User = c.Entrypoint, c.Cmd, c.User
		info.Config.Env, info.Config.WorkingDir = c.Env, c.WorkingDir
	}
	return info, nil
}

// Save writes an image as docker save does (a tarball) to w.
func (e *Engine) Save(ctx context.Context, image string, w io.Writer) error {
	rc, err := e.api.ImageSave(ctx, []string{image})
	if err != nil {
		return fmt.Errorf("save image %s: %w", image, err)
	}
	defer rc.Close()
	if _, err := io.Copy(w, rc); err != nil {
		return fmt.Errorf("save image %s: %w", image, err)
	}
	return nil
}

// Remove deletes an image and its untagged parents.
func (e *Engine) Remove(ctx context.Context, image string) error {
	if _, err := e.api.ImageRemove(ctx, image, client.ImageRemoveOptions{Force: true, PruneChildren: true}); err != nil {
		return fmt.Errorf("remove image %s: %w", image, err)
	}
	return nil
}

// dockerfileLines returns a Dockerfile's instructions, one per element, with
// continuation lines joined and comments dropped.
func dockerfileLines(dockerfile string) []string {
	var out []string
	var cur strings.Builder
	sc := bufio.NewScanner(strings.NewReader(dockerfile))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`))
			cur.WriteString(" ")
			continue
		}
		cur.WriteString(line)
		out = append(out, strings.Join(strings.Fields(cur.String()), " "))
		cur.Reset()
	}
	return out
}

// FinalStage returns the instructions of a Dockerfile's last stage, from
// its FROM line on.
func FinalStage(dockerfile string) ([]string, error) {
	lines := dockerfileLines(dockerfile)
	last := -1
	for i, l := range lines {
		if strings.HasPrefix(strings.ToUpper(l), "FROM ") {
			last = i
		}
	}
	if last < 0 {
		return nil, errors.New("the Dockerfile has no FROM line")
	}
	return lines[last:], nil
}

// StageFile is a file or directory that an earlier build stage produces,
// as the final stage copies it with COPY --from.
type StageFile struct {
	// Path is the file's path inside the build stage, e.g. /rootfs/tmp/.
	Path string
	// Data is the file's content; nil for a directory.
	Data []byte
	// Mode holds the permission bits (and sticky bit) of the file.
	Mode int64
}

// FinalStageContext makes a build context that builds only the final stage
// of dockerfile, with every COPY --from=STAGE taken from files instead: the
// build stage needs a base image that cannot always be pulled, while the
// final stage is exactly what ships. The files stand in for what the
// earlier stages produce; a COPY of anything they lack fails the build.
func FinalStageContext(dockerfile string, produced []StageFile) ([]byte, error) {
	final, err := FinalStage(dockerfile)
	if err != nil {
		return nil, err
	}
	const stageDir = "stage"
	var df strings.Builder
	for _, line := range final {
		fields := strings.Fields(line)
		if strings.EqualFold(fields[0], "COPY") && len(fields) >= 4 && strings.HasPrefix(fields[1], "--from=") {
			srcs := fields[2 : len(fields)-1]
			for i, s := range srcs {
				srcs[i] = stageDir + "/" + strings.TrimPrefix(s, "/")
			}
			line = "COPY " + strings.Join(srcs, " ") + " " + fields[len(fields)-1]
		}
		df.WriteString(line + "\n")
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(h *tar.Header, data []byte) error {
		h.ModTime = time.Unix(0, 0)
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	if err := add(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(df.Len())}, []byte(df.String())); err != nil {
		return nil, fmt.Errorf("write build context: %w", err)
	}
	for _, f := range produced {
		name := path.Clean(stageDir + "/" + strings.TrimPrefix(f.Path, "/"))
		h := &tar.Header{Name: name, Mode: f.Mode, Typeflag: tar.TypeReg, Size: int64(len(f.Data))}
		if f.Data == nil {
			h.Name, h.Typeflag, h.Size = name+"/", tar.TypeDir, 0
		}
		if err := add(h, f.Data); err != nil {
			return nil, fmt.Errorf("write build context: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("write build context: %w", err)
	}
	return buf.Bytes(), nil
}

// Build builds a context (a tar holding a Dockerfile) in the engine, tags
// the image, and returns its ID. A failed build returns the build log.
//
// The engine's classic builder, when several builds commit at once, now
// and then loses the image a step has just committed ("unable to find
// image sha256:…", "failed to get layer"; moby/moby#37965): such a build
// is tried again, at most twice, since the next try starts from nothing.
func (e *Engine) Build(ctx context.Context, buildContext []byte, tag string) (string, error) {
	var err error
	for try := 0; try < 3; try++ {
		var id string
		if id, err = e.build(ctx, buildContext, tag); err == nil || !lostCommittedImage(err) {
			return id, err
		}
	}
	return "", err
}

// lostCommittedImage tells whether a build failed because the classic
// builder lost an image it had just committed.
func lostCommittedImage(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "unable to find image") || strings.Contains(msg, "failed to get layer")
}

func (e *Engine) build(ctx context.Context, buildContext []byte, tag string) (string, error) {
	res, err := e.api.ImageBuild(ctx, bytes.NewReader(buildContext), client.ImageBuildOptions{
		Tags: []string{tag}, Remove: true, ForceRemove: true, Dockerfile: "Dockerfile",
	})
	if err != nil {
		return "", fmt.Errorf("build image %s: %w", tag, err)
	}
	defer res.Body.Close()
	var log strings.Builder
	dec := json.NewDecoder(res.Body)
	for {
		var msg jsonstream.Message
		if err := dec.Decode(&msg); err == io.EOF {
			break
		} else if err != nil {
			return "", fmt.Errorf("build image %s: read the build log: %w", tag, err)
		}
		log.WriteString(msg.Stream)
		if msg.Error != nil {
			return "", fmt.Errorf("build image %s: %s\n%s", tag, msg.Error.Message, log.String())
		}
	}
	info, err := e.Inspect(ctx, tag)
	if err != nil {
		return "", fmt.Errorf("build image %s: %w\n%s", tag, err, log.String())
	}
	return info.ID, nil
}

// ActionImageFiles is what the Dockerfile's build stage leaves in /rootfs
// for the final stage: the binary and an empty, world-writable /tmp.
func ActionImageFiles(binary []byte) []StageFile {
	return []StageFile{
		{Path: "/rootfs/oidc-ecs-deploy", Data: binary, Mode: 0o755},
		{Path: "/rootfs/tmp", Mode: 0o1777},
	}
}

// WriteTempFile writes data to a new file in dir and returns its path.
func WriteTempFile(dir, pattern string, data []byte) (string, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", err
	}
	if _, err := f.Write(data); err != nil {
		return "", errors.Join(err, f.Close())
	}
	return f.Name(), f.Close()
}
