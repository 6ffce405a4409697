// Command push benchmarks pushing one image to a real registry with our
// push (through the sandbox's ECR front), docker push, skopeo copy and crane
// push, alternating them, and reports medians, ratios to docker push, and
// the peak memory of our push, also for an image of about 1 GB (section
// push). Section registry measures, in time and round trips, deploying an
// image already in the repository (docker://) against crane copy and
// skopeo copy of the same reference, and pushing a two-platform index from
// an OCI layout against skopeo copy --all, crane push and crane index
// append.
//
// It needs a Docker engine and a registry (scripts/services.sh starts both)
// and is run by scripts/bench.sh.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/registry"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sandboxtest"
)

const (
	account = "111122223333"
	roleARN = "arn:aws:iam::111122223333:role/gha-deploy"
)

// The figures our push must hold: medians against docker push's, and the
// peak memory pushing the big image.
const (
	targetCold   = 0.35
	targetWarm   = 1.0
	targetPeakMB = 64
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "child" {
		// One push of ours in a process of its own, so that its peak
		// memory is measured alone.
		if err := child(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "push:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench push:", err)
		os.Exit(1)
	}
}

type options struct {
	registry   string
	dockerHost string
	runs       int
	bigMB      int
	tools      string
	sections   string
}

func run() error {
	var o options
	flag.StringVar(&o.registry, "registry", os.Getenv("OIDC_ECS_DEPLOY_TEST_REGISTRY"), "host:port of the registry")
	flag.StringVar(&o.dockerHost, "docker-host", os.Getenv("OIDC_ECS_DEPLOY_TEST_DOCKER_HOST"), "DOCKER_HOST of the engine")
	flag.IntVar(&o.runs, "runs", 5, "runs of each tool")
	flag.IntVar(&o.bigMB, "big-mb", 1024, "size of the image for the memory check, in MB (0 skips it)")
	flag.StringVar(&o.tools, "tools", "ours,docker,skopeo,crane", "tools to compare")
	flag.StringVar(&o.sections, "sections", "push,registry", "sections to run: push (an engine image pushed by each tool), registry (an image already in the repository tagged again, and a two-platform index pushed)")
	flag.Parse()
	if o.registry == "" || o.dockerHost == "" {
		return errors.New("no registry or Docker engine: run through scripts/bench.sh, which starts them")
	}
	ctx := context.Background()
	work, err := os.MkdirTemp("", "bench-push-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(work) }()

	nonce := fmt.Sprintf("%d", time.Now().Unix())
	// Every run pushes an image of its own, new random layers included:
	// a layer any tool has pushed before would let docker and skopeo mount
	// it from their caches' record of where they pushed it, which is not a
	// cold push.
	newImage := func(run int) (image, archive string, err error) {
		image = fmt.Sprintf("bench-push:%s-%d", nonce, run)
		if err := buildImage(o, work, image, []layerSpec{{20, false}, {20, false}, {20, false}, {20, false}, {20, false}, {100, true}}); err != nil {
			return "", "", err
		}
		archive = filepath.Join(work, "image.tar")
		if err := docker(o, "save", "-o", archive, image); err != nil {
			return "", "", err
		}
		return image, archive, nil
	}

	tools := strings.Split(o.tools, ",")
	w := sandbox.DemoWorld()
	repos := w.Accounts[account].Repositories
	for i := range o.runs {
		repos[fmt.Sprintf("bench/ours-%d", i)] = &sandbox.Repository{ImageTagMutability: "IMMUTABLE"}
	}
	repos["bench/big"] = &sandbox.Repository{}
	for _, r := range registryRepositories(o.runs) {
		repos[r] = &sandbox.Repository{}
	}
	role := w.Accounts[account].Roles["gha-deploy"]
	role.Permissions.Statement = append(role.Permissions.Statement, sandbox.Statement{
		Effect: "Allow", Action: sandbox.StringList{"ecr:*"}, Resource: sandbox.StringList{"*"},
	})
	sb, err := sandbox.Start(ctx, w, sandbox.Options{RegistryBackend: "http://" + o.registry})
	if err != nil {
		return err
	}
	defer func() { _ = sb.Close() }()

	sections := strings.Split(o.sections, ",")
	if slices.Contains(sections, "push") {
		if err := pushSection(o, sb, work, nonce, tools, newImage); err != nil {
			return err
		}
	}
	if slices.Contains(sections, "registry") {
		if err := registrySections(ctx, o, sb, work, nonce); err != nil {
			return err
		}
	}
	return nil
}

// pushSection pushes an engine image of each run with every tool, cold and
// warm, and our push of a big image for its peak memory.
func pushSection(o options, sb *sandbox.Sandbox, work, nonce string, tools []string, newImage func(run int) (string, string, error)) error {
	fmt.Printf("image of each run: 5 incompressible layers of 20 MB, 1 compressible layer of 100 MB, new random content\n")
	type sample struct{ cold, warm time.Duration }
	results := map[string][]sample{}
	var peaks []int64
	for i := range o.runs {
		image, archive, err := newImage(i)
		if err != nil {
			return err
		}
		// Rotate the order so no tool always runs first (cold caches) or last.
		order := slices.Concat(tools[i%len(tools):], tools[:i%len(tools)])
		for _, tool := range order {
			repo := fmt.Sprintf("bench/%s-%s-%d", tool, nonce, i)
			var cold, warm time.Duration
			var err error
			switch tool {
			case "ours":
				var peak int64
				repo = fmt.Sprintf("bench/ours-%d", i)
				if cold, peak, err = ours(o, sb, work, image, repo); err == nil {
					peaks = append(peaks, peak)
					warm, _, err = ours(o, sb, work, image, repo)
				}
			case "docker":
				ref := o.registry + "/" + repo + ":v1"
				if err = docker(o, "tag", image, ref); err == nil {
					if cold, err = timed(func() error { return docker(o, "push", "-q", ref) }); err == nil {
						warm, err = timed(func() error { return docker(o, "push", "-q", ref) })
					}
					_ = docker(o, "rmi", ref)
				}
			case "skopeo":
				skopeoCopy := func() error {
					return command("skopeo", "copy", "-q", "--src-daemon-host", o.dockerHost, "--dest-tls-verify=false",
						"docker-daemon:"+image, "docker://"+o.registry+"/"+repo+":v1")
				}
				if cold, err = timed(skopeoCopy); err == nil {
					warm, err = timed(skopeoCopy)
				}
			case "crane":
				push := func() error { return command("crane", "push", "--insecure", archive, o.registry+"/"+repo+":v1") }
				if cold, err = timed(push); err == nil {
					warm, err = timed(push)
				}
			default:
				return fmt.Errorf("unknown tool %q", tool)
			}
			if err != nil {
				return fmt.Errorf("%s, run %d: %w", tool, i+1, err)
			}
			fmt.Printf("run %d %-7s cold %6.2fs  warm %6.2fs\n", i+1, tool, cold.Seconds(), warm.Seconds())
			results[tool] = append(results[tool], sample{cold, warm})
		}
		_ = docker(o, "rmi", "-f", image)
		_ = os.Remove(archive)
	}

	median := func(ds []time.Duration) time.Duration {
		s := slices.Clone(ds)
		slices.Sort(s)
		return s[len(s)/2]
	}
	med := map[string][2]time.Duration{}
	for tool, ss := range results {
		var c, w []time.Duration
		for _, s := range ss {
			c = append(c, s.cold)
			w = append(w, s.warm)
		}
		med[tool] = [2]time.Duration{median(c), median(w)}
	}
	fmt.Printf("\nmedians of %d runs (image: 5 x 20 MB incompressible + 100 MB compressible)\n", o.runs)
	fmt.Printf("%-8s %10s %10s %12s %12s\n", "tool", "cold", "warm", "cold/docker", "warm/docker")
	d := med["docker"]
	for _, tool := range tools {
		m := med[tool]
		ratio := func(a, b time.Duration) string {
			if b == 0 {
				return "-"
			}
			return fmt.Sprintf("%.2fx", a.Seconds()/b.Seconds())
		}
		fmt.Printf("%-8s %9.2fs %9.2fs %12s %12s\n", tool, m[0].Seconds(), m[1].Seconds(), ratio(m[0], d[0]), ratio(m[1], d[1]))
	}
	if len(peaks) > 0 {
		slices.Sort(peaks)
		fmt.Printf("our peak memory (RSS): %d MB (largest of %d pushes)\n", peaks[len(peaks)-1]>>20, len(peaks))
	}
	if m, ok := med["ours"]; ok && d[0] > 0 {
		fmt.Printf("target cold <= %.2fx docker push: %s\n", targetCold, verdict(m[0].Seconds() <= targetCold*d[0].Seconds()))
		fmt.Printf("target warm <= %.2fx docker push: %s\n", targetWarm, verdict(m[1].Seconds() <= targetWarm*d[1].Seconds()))
	}

	if o.bigMB > 0 {
		fmt.Printf("\nbuilding an image of %d MB (2 incompressible layers) for the memory check\n", o.bigMB)
		big := "bench-push-big:" + nonce
		half := o.bigMB / 2
		if err := buildImage(o, work, big, []layerSpec{{half, false}, {o.bigMB - half, false}}); err != nil {
			return err
		}
		defer func() { _ = docker(o, "rmi", "-f", big) }()
		took, peak, err := ours(o, sb, work, big, "bench/big")
		if err != nil {
			return fmt.Errorf("push the big image: %w", err)
		}
		fmt.Printf("our push of %d MB: %.2fs, peak memory (RSS) %d MB\n", o.bigMB, took.Seconds(), peak>>20)
		fmt.Printf("target peak memory <= %d MB: %s\n", targetPeakMB, verdict(peak <= targetPeakMB<<20))
	}
	return nil
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func timed(f func() error) (time.Duration, error) {
	start := time.Now()
	err := f()
	return time.Since(start), err
}

func command(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

func docker(o options, args ...string) error {
	cmd := exec.Command("docker", append([]string{"-H", o.dockerHost}, args...)...)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("docker %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// ours runs one push of ours in a child process and returns how long it
// took and the child's peak resident memory. The child reaches the ECR
// registry host over TLS through the sandbox's proxy, trusting its CA, as
// the action's binary would reach ECR from a runner behind a proxy.
func ours(o options, sb *sandbox.Sandbox, work, image, repo string) (time.Duration, int64, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, 0, err
	}
	ca := filepath.Join(work, "sandbox-ca.pem")
	if err := os.WriteFile(ca, sb.CACertificate(), 0o644); err != nil {
		return 0, 0, err
	}
	env := sb.Env()
	cmd := exec.Command(self, "child", image, repo)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+o.dockerHost, "HTTPS_PROXY="+sb.RegistryProxyURL(), "SSL_CERT_FILE="+ca)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout = io.Discard
	stderr := &strings.Builder{}
	cmd.Stderr = stderr
	start := time.Now()
	err = cmd.Run()
	took := time.Since(start)
	if err != nil {
		return 0, 0, fmt.Errorf("our push: %w\n%s", err, stderr.String())
	}
	if os.Getenv("BENCH_VERBOSE") != "" {
		fmt.Print(stderr.String())
	}
	var peak int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		peak = ru.Maxrss << 10 // kilobytes on Linux
	}
	return took, peak, nil
}

// child pushes one image with the credentials of the web-identity flow.
func child(args []string) error {
	if len(args) != 2 {
		return errors.New("usage: push child IMAGE REPOSITORY")
	}
	ctx := context.Background()
	env := map[string]string{}
	for _, k := range []string{"ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "AWS_ENDPOINT_URL", "AWS_REGION"} {
		env[k] = os.Getenv(k)
	}
	cfg := sandboxtest.WebIdentityConfig(env, roleARN, "")
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	start := time.Now()
	defer func() { fmt.Fprintf(os.Stderr, "push took %v\n", time.Since(start)) }()
	res, err := registry.Push(ctx, cfg, registry.PushRequest{
		Image: args[0], Repository: args[1], Tags: []string{"v1"}, Getenv: os.Getenv,
	}, os.Stderr)
	if err != nil {
		return err
	}
	// For a person running the child by hand: the parent reads only its
	// exit status and stderr.
	return json.NewEncoder(os.Stdout).Encode(res) //nolint:musttag // Go's field names are what a person reads here
}

type layerSpec struct {
	mb           int
	compressible bool
}

// buildImage builds a FROM scratch image with one COPY layer per spec.
func buildImage(o options, work, tag string, layers []layerSpec) error {
	dir, err := os.MkdirTemp(work, "context-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	var df strings.Builder
	df.WriteString("FROM scratch\n")
	for i, l := range layers {
		name := fmt.Sprintf("layer%d.bin", i)
		if err := writeData(filepath.Join(dir, name), int64(l.mb)<<20, l.compressible); err != nil {
			return err
		}
		fmt.Fprintf(&df, "COPY %s /%s\n", name, name)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df.String()), 0o644); err != nil {
		return err
	}
	return docker(o, "build", "-q", "-t", tag, dir)
}

// writeData writes size bytes: random, or text of words and numbers that
// gzip shrinks about fourfold, like logs or source.
func writeData(path string, size int64, compressible bool) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	if !compressible {
		if _, err := io.CopyN(w, rand.Reader, size); err != nil {
			return err
		}
		return w.Flush()
	}
	words := strings.Fields("the registry pushes layers of an image tagged by commit with credentials from an identity token deploy service cluster task definition revision rollout healthy container port memory request response error retry backoff digest manifest config blob upload stream compress")
	r := mrand.New(mrand.NewPCG(1, 2))
	var n int64
	for n < size {
		line := fmt.Sprintf("%s %s %d %s %s=%x\n", words[r.IntN(len(words))], words[r.IntN(len(words))], r.IntN(100000), words[r.IntN(len(words))], words[r.IntN(len(words))], r.Uint32())
		if int64(len(line)) > size-n {
			line = line[:size-n]
		}
		k, err := w.WriteString(line)
		if err != nil {
			return err
		}
		n += int64(k)
	}
	return w.Flush()
}
