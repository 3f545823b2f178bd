package mirror_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestSources inverts the default rules: every source it names decides
// back to the mirror image.
func TestSources(t *testing.T) {
	eng := defaultEngine(t)
	for _, tc := range []struct {
		img  string
		want []string
	}{
		{ecr + "/quay/coreos/etcd:v3.5.0", []string{"quay.io/coreos/etcd:v3.5.0"}},
		{ecr + "/dockerhub/library/nginx:1.25" + digest, []string{"docker.io/library/nginx:1.25" + digest}},
		// gcr/google_containers/ is the "to" of three rules, and gcr/ of
		// four more, whose sources are under another name.
		{ecr + "/gcr/google_containers/pause:3.9", []string{
			"k8s.gcr.io/pause:3.9", "registry.k8s.io/pause:3.9", "gcr.io/google-containers/pause:3.9",
			"gcr.io/google_containers/pause:3.9", "asia.gcr.io/google_containers/pause:3.9",
			"eu.gcr.io/google_containers/pause:3.9", "us.gcr.io/google_containers/pause:3.9",
		}},
		{ecr + "/gcr/distroless/static", []string{
			"gcr.io/distroless/static", "asia.gcr.io/distroless/static", "eu.gcr.io/distroless/static", "us.gcr.io/distroless/static",
		}},
		{"quay.io/coreos/etcd:v3.5.0", nil},
		{"Not/Valid", nil},
	} {
		t.Run(tc.img, func(t *testing.T) {
			got := eng.Sources(tc.img)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Sources (-want +got):\n%s", diff)
			}
			for _, src := range got {
				if d := eng.Decide(src); d.Result != tc.img {
					t.Errorf("%s decides to %s", src, d.Result)
				}
			}
		})
	}
}
