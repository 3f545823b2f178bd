package registry

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestErrorMessages(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", "/etc/kmirror/docker")
	cause := errors.New("HEAD ...: unexpected status code 401 Unauthorized")
	for _, tc := range []struct {
		err  *Error
		want string
	}{
		{&Error{Op: "checking", Image: "quay.io/a/b:1", Registry: "quay.io", Kind: ErrNotFound, Err: cause},
			"checking quay.io/a/b:1: not found in quay.io"},
		{&Error{Op: "writing", Image: "mirror.example.com/a:1", Registry: "mirror.example.com", Kind: ErrDenied, Err: cause},
			"writing mirror.example.com/a:1: mirror.example.com denied access (HEAD ...: unexpected status code 401 Unauthorized); check the credentials for mirror.example.com in /etc/kmirror/docker/config.json"},
		{&Error{Op: "checking", Image: "index.docker.io/library/nginxx:1", Registry: "index.docker.io", Kind: ErrDenied, Err: cause},
			"checking index.docker.io/library/nginxx:1: index.docker.io denied access (HEAD ...: unexpected status code 401 Unauthorized); check the credentials for index.docker.io in /etc/kmirror/docker/config.json, and that the repository exists: Docker Hub answers so for one that does not"},
		{&Error{Op: "checking", Image: "a.io/b:1", Registry: "a.io", Err: cause},
			"checking a.io/b:1: HEAD ...: unexpected status code 401 Unauthorized"},
	} {
		if diff := cmp.Diff(tc.want, tc.err.Error()); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if tc.err.Kind != nil && (!errors.Is(tc.err, tc.err.Kind) || errors.Is(tc.err, ErrRateLimited)) {
			t.Errorf("errors.Is does not tell %v", tc.err.Kind)
		}
	}
}
