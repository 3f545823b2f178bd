package image

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const digest = "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Reference
	}{
		{"nginx", Reference{Path: "nginx", Registry: "docker.io", Repository: "library/nginx"}},
		{"busybox:1.36", Reference{Path: "busybox", Suffix: ":1.36", Registry: "docker.io", Repository: "library/busybox"}},
		{"bitnami/redis", Reference{Path: "bitnami/redis", Registry: "docker.io", Repository: "bitnami/redis"}},
		{"docker.io/library/nginx:1.25", Reference{Host: "docker.io", Path: "library/nginx", Suffix: ":1.25", Registry: "docker.io", Repository: "library/nginx"}},
		{"docker.io/nginx", Reference{Host: "docker.io", Path: "nginx", Registry: "docker.io", Repository: "library/nginx"}},
		{"index.docker.io/library/alpine", Reference{Host: "index.docker.io", Path: "library/alpine", Registry: "docker.io", Repository: "library/alpine"}},
		{"registry-1.docker.io/nginx", Reference{Host: "registry-1.docker.io", Path: "nginx", Registry: "docker.io", Repository: "library/nginx"}},
		{"localhost/app", Reference{Host: "localhost", Path: "app", Registry: "localhost", Repository: "app"}},
		{"localhost:5000/app:1", Reference{Host: "localhost:5000", Path: "app", Suffix: ":1", Registry: "localhost:5000", Repository: "app"}},
		{"myregistry:5000/team/app:2", Reference{Host: "myregistry:5000", Path: "team/app", Suffix: ":2", Registry: "myregistry:5000", Repository: "team/app"}},
		{"k8s.gcr.io/pause:3.1" + digest, Reference{Host: "k8s.gcr.io", Path: "pause", Suffix: ":3.1" + digest, Registry: "k8s.gcr.io", Repository: "pause"}},
		{"quay.io/coreos/etcd" + digest, Reference{Host: "quay.io", Path: "coreos/etcd", Suffix: digest, Registry: "quay.io", Repository: "coreos/etcd"}},
		{"[::1]:5000/app:v1", Reference{Host: "[::1]:5000", Path: "app", Suffix: ":v1", Registry: "[::1]:5000", Repository: "app"}},
		{"Example.COM/app", Reference{Host: "Example.COM", Path: "app", Registry: "example.com", Repository: "app"}},
		// An upper-case first component can only be a host.
		{"UPPER/case", Reference{Host: "UPPER", Path: "case", Registry: "upper", Repository: "case"}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Parse(tc.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			tc.want.Written = tc.in
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Parse(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	for _, in := range []string{"", "Nginx", "nginx:", "nginx@sha256:abc", "a//b", "-a/b", "nginx:tag with space", "${IMAGE}", "team/App"} {
		t.Run(in, func(t *testing.T) {
			_, err := Parse(in)
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Parse(%q) = %v, want an error wrapping ErrInvalid", in, err)
			}
		})
	}
}

func TestParsePrefix(t *testing.T) {
	tests := []struct {
		in   string
		want Prefix
	}{
		{"k8s.gcr.io/", Prefix{Written: "k8s.gcr.io/", Registry: "k8s.gcr.io"}},
		{"k8s.gcr.io", Prefix{Written: "k8s.gcr.io/", Registry: "k8s.gcr.io"}},
		{"gcr.io/google-containers/", Prefix{Written: "gcr.io/google-containers/", Registry: "gcr.io", Path: []string{"google-containers"}}},
		{"docker.io/", Prefix{Written: "docker.io/", Registry: "docker.io"}},
		{"index.docker.io/library/", Prefix{Written: "index.docker.io/library/", Registry: "docker.io", Path: []string{"library"}}},
		{"bitnami/", Prefix{Written: "bitnami/", Registry: "docker.io", Path: []string{"bitnami"}}},
		{"localhost:5000/team/", Prefix{Written: "localhost:5000/team/", Registry: "localhost:5000", Path: []string{"team"}}},
		{"048912060910.dkr.ecr.cn-northwest-1.amazonaws.com.cn/gcr/google_containers/", Prefix{
			Written:  "048912060910.dkr.ecr.cn-northwest-1.amazonaws.com.cn/gcr/google_containers/",
			Registry: "048912060910.dkr.ecr.cn-northwest-1.amazonaws.com.cn", Path: []string{"gcr", "google_containers"}}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParsePrefix(tc.in)
			if err != nil {
				t.Fatalf("ParsePrefix(%q): %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParsePrefix(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestParsePrefixInvalid(t *testing.T) {
	for _, in := range []string{"", "/", "gcr.io//x/", "quay.io/coreos/etcd:v3/", "k8s.gcr.io/pause@sha256:abc", "team/App/", "has space/", "gcr.io/a b/"} {
		t.Run(in, func(t *testing.T) {
			_, err := ParsePrefix(in)
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("ParsePrefix(%q) = %v, want an error wrapping ErrInvalid", in, err)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		prefix, image string
		rest          string
		ok            bool
	}{
		{"docker.io/", "busybox:1.36", "busybox:1.36", true},
		{"docker.io/", "docker.io/library/nginx:1.25", "library/nginx:1.25", true},
		{"docker.io/", "index.docker.io/library/alpine", "library/alpine", true},
		{"docker.io/", "registry-1.docker.io/bitnami/redis:7", "bitnami/redis:7", true},
		{"docker.io/", "bitnami/redis", "bitnami/redis", true},
		{"docker.io/library/", "nginx", "nginx", true},
		{"docker.io/library/", "docker.io/library/nginx:1", "nginx:1", true},
		{"docker.io/library/", "bitnami/redis", "", false},
		{"bitnami/", "bitnami/redis", "redis", true},
		{"docker.io/", "localhost:5000/app:1", "", false},
		{"docker.io/", "myregistry:5000/team/app:2", "", false},
		{"k8s.gcr.io/", "k8s.gcr.io/pause:3.1" + digest, "pause:3.1" + digest, true},
		{"gcr.io/", "gcr.io/distroless/static", "distroless/static", true},
		{"gcr.io/", "asia.gcr.io/x/y", "", false},
		{"gcr.io/google-containers/", "gcr.io/google-containers/pause:3.1", "pause:3.1", true},
		{"gcr.io/google/", "gcr.io/google-containers/pause:3.1", "", false},
		{"gcr.io/distroless/", "gcr.io/distroless", "", false},
		{"gcr.io/distroless/", "gcr.io/distroless:latest", "", false},
		{"example.com/", "EXAMPLE.com/app", "app", true},
	}
	for _, tc := range tests {
		t.Run(tc.prefix+" "+tc.image, func(t *testing.T) {
			p, err := ParsePrefix(tc.prefix)
			if err != nil {
				t.Fatal(err)
			}
			r, err := Parse(tc.image)
			if err != nil {
				t.Fatal(err)
			}
			rest, ok := p.Match(r)
			if rest != tc.rest || ok != tc.ok {
				t.Errorf("Match = %q, %v; want %q, %v", rest, ok, tc.rest, tc.ok)
			}
		})
	}
}
