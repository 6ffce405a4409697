package deploy

import (
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// runtimeNeed is the platform a task definition's tasks run on, as ECS
// reads its runtimePlatform: X86_64 and LINUX when it sets none.
type runtimeNeed struct {
	cpu types.CPUArchitecture
	os  types.OSFamily
	// set reports a runtimePlatform given in the task definition.
	set bool
}

func needOf(td *taskDef) runtimeNeed {
	n := runtimeNeed{cpu: types.CPUArchitectureX8664, os: types.OSFamilyLinux}
	if rp := td.input.RuntimePlatform; rp != nil {
		if rp.CpuArchitecture != "" {
			n.cpu, n.set = rp.CpuArchitecture, true
		}
		if rp.OperatingSystemFamily != "" {
			n.os, n.set = rp.OperatingSystemFamily, true
		}
	}
	return n
}

// String is the need as the task definition says it.
func (n runtimeNeed) String() string {
	s := string(n.cpu) + " " + string(n.os)
	if !n.set {
		s += " (it sets no runtimePlatform, and ECS then runs X86_64 LINUX)"
	}
	return s
}

// ociOS and ociArch are the image platform an ECS platform runs: Linux on
// amd64 or arm64, Windows Server on amd64.
func (n runtimeNeed) ociOS() string {
	if n.os == types.OSFamilyLinux {
		return "linux"
	}
	return "windows"
}

func (n runtimeNeed) ociArch() string {
	if n.cpu == types.CPUArchitectureArm64 {
		return "arm64"
	}
	return "amd64"
}

// fits reports whether an image platform runs on the need: the same OS and
// architecture (any arm64 variant runs on ARM64's v8).
func (n runtimeNeed) fits(p v1.Platform) bool {
	if p.OS != n.ociOS() || p.Architecture != n.ociArch() {
		return false
	}
	return p.Architecture != "arm64" || p.Variant == "" || p.Variant == "v8"
}

// CheckPlatforms checks, before anything is registered or any tag moves,
// that the image runs where every service's task definition runs its
// tasks: its platform, or one of the platforms of an index, must be the
// task definition's runtimePlatform (X86_64 LINUX when it has none). A
// service it does not fit is a problem of the plan, which then deploys
// nothing, as a plan that failed to prepare: its tasks would die with
// "exec format error". image names the image for messages; platforms
// whose OS and architecture are unknown are not checked, with a warning.
func (p *Plan) CheckPlatforms(image string, platforms []v1.Platform) error {
	if p.prepareErr != nil {
		return p.prepareErr
	}
	var known []v1.Platform
	for _, pl := range platforms {
		if pl.OS != "" && pl.Architecture != "" {
			known = append(known, pl)
		}
	}
	if len(known) == 0 {
		p.log.warningf("The image %s names no platform (its config has no os and architecture): it cannot be checked against the task definitions' runtimePlatform.", image)
		return nil
	}
	names := make([]string, len(known))
	for i, pl := range known {
		names[i] = pl.String()
	}
	for _, s := range p.services {
		if _, bad := p.problems[s.name]; bad || s.base == nil {
			continue
		}
		need := needOf(s.base)
		if slices.ContainsFunc(known, need.fits) {
			continue
		}
		p.problems[s.name] = fmt.Sprintf(
			"service %q: image %s is built for %s, but task definition %s runs its tasks on %s: they would fail to start (\"exec format error\"). "+
				"Build the image for %s/%s too (docker buildx build --platform %s), or set the task definition's runtimePlatform to the image's platform (%s)",
			s.name, image, strings.Join(names, ", "), s.base.source, need, need.ociOS(), need.ociArch(), platformList(known, need), runtimePlatformFor(known[0]))
	}
	if err := p.problemError(); err != nil {
		p.prepareErr = err
		p.log.errorf(err)
		return err
	}
	return nil
}

// platformList is the --platform value that adds the need to the image's.
func platformList(have []v1.Platform, need runtimeNeed) string {
	out := []string{need.ociOS() + "/" + need.ociArch()}
	for _, p := range have {
		if s := p.OS + "/" + p.Architecture; !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return strings.Join(out, ",")
}

// runtimePlatformFor is the runtimePlatform that runs an image platform.
func runtimePlatformFor(p v1.Platform) string {
	cpu, osf := "X86_64", "LINUX"
	if p.Architecture == "arm64" {
		cpu = "ARM64"
	}
	if p.OS == "windows" {
		osf = "WINDOWS_SERVER_2022_CORE"
	}
	return fmt.Sprintf(`{"cpuArchitecture": %q, "operatingSystemFamily": %q}`, cpu, osf)
}
