package deploy

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// TestRuntimeNeed: what a task definition's runtimePlatform asks of an
// image, ECS's X86_64 LINUX when it says nothing, and which image
// platforms fit it.
func TestRuntimeNeed(t *testing.T) {
	t.Parallel()
	td := func(rp *types.RuntimePlatform) *taskDef {
		return &taskDef{input: &ecs.RegisterTaskDefinitionInput{RuntimePlatform: rp}}
	}
	linuxAMD := v1.Platform{OS: "linux", Architecture: "amd64"}
	linuxARM := v1.Platform{OS: "linux", Architecture: "arm64"}
	tests := []struct {
		name              string
		rp                *types.RuntimePlatform
		text, os, arch    string
		fits, doesNotFit  []v1.Platform
		runtimePlatformOf string
	}{
		{name: "none", text: "X86_64 LINUX (it sets no runtimePlatform, and ECS then runs X86_64 LINUX)", os: "linux", arch: "amd64",
			fits: []v1.Platform{linuxAMD}, doesNotFit: []v1.Platform{linuxARM, {OS: "windows", Architecture: "amd64"}}},
		{name: "empty", rp: &types.RuntimePlatform{}, text: "X86_64 LINUX (it sets no runtimePlatform, and ECS then runs X86_64 LINUX)", os: "linux", arch: "amd64"},
		{name: "arm", rp: &types.RuntimePlatform{CpuArchitecture: types.CPUArchitectureArm64}, text: "ARM64 LINUX", os: "linux", arch: "arm64",
			fits:       []v1.Platform{linuxARM, {OS: "linux", Architecture: "arm64", Variant: "v8"}},
			doesNotFit: []v1.Platform{linuxAMD, {OS: "linux", Architecture: "arm64", Variant: "v7"}}},
		{name: "windows", rp: &types.RuntimePlatform{OperatingSystemFamily: types.OSFamilyWindowsServer2022Core}, text: "X86_64 WINDOWS_SERVER_2022_CORE", os: "windows", arch: "amd64",
			fits: []v1.Platform{{OS: "windows", Architecture: "amd64"}}, doesNotFit: []v1.Platform{linuxAMD}},
	}
	for _, tt := range tests {
		n := needOf(td(tt.rp))
		if got := n.String(); got != tt.text {
			t.Errorf("%s: String = %q, want %q", tt.name, got, tt.text)
		}
		if n.ociOS() != tt.os || n.ociArch() != tt.arch {
			t.Errorf("%s: image platform %s/%s, want %s/%s", tt.name, n.ociOS(), n.ociArch(), tt.os, tt.arch)
		}
		for _, p := range tt.fits {
			if !n.fits(p) {
				t.Errorf("%s: %s does not fit, want it to", tt.name, p)
			}
		}
		for _, p := range tt.doesNotFit {
			if n.fits(p) {
				t.Errorf("%s: %s fits, want it not to", tt.name, p)
			}
		}
	}
}

// TestPlatformAdvice: the --platform list adds what the task definition
// needs to what the image has, each once; the runtimePlatform offered runs
// the image's platform.
func TestPlatformAdvice(t *testing.T) {
	t.Parallel()
	arm := runtimeNeed{cpu: types.CPUArchitectureArm64, os: types.OSFamilyLinux}
	have := []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}, {OS: "linux", Architecture: "amd64", Variant: "v2"}}
	if got, want := platformList(have, arm), "linux/arm64,linux/amd64"; got != want {
		t.Errorf("platformList = %q, want %q", got, want)
	}
	for _, tt := range []struct {
		p    v1.Platform
		want string
	}{
		{v1.Platform{OS: "linux", Architecture: "amd64"}, `{"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"}`},
		{v1.Platform{OS: "linux", Architecture: "arm64"}, `{"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"}`},
		{v1.Platform{OS: "windows", Architecture: "amd64"}, `{"cpuArchitecture": "X86_64", "operatingSystemFamily": "WINDOWS_SERVER_2022_CORE"}`},
	} {
		if got := runtimePlatformFor(tt.p); got != tt.want {
			t.Errorf("runtimePlatformFor(%s) = %s, want %s", tt.p, got, tt.want)
		}
	}
}
