//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"kmirror.dev/kmirror/internal/testing/registrytest"
	"kmirror.dev/kmirror/pkg/mirrorsync"
)

// fleetImage is an image of the fleet test: where it is, how it is made,
// and the blobs it holds.
type fleetImage struct {
	repo, tag string
	spec      registrytest.Spec
	digest    string
}

// blobs are the digests of the layers and configs of s.
func blobs(t *testing.T, s registrytest.Spec) []string {
	t.Helper()
	idx, img, err := registrytest.Make(s)
	if err != nil {
		t.Fatal(err)
	}
	imgs := []v1.Image{img}
	if idx != nil {
		m, _ := idx.IndexManifest()
		imgs = nil
		for _, d := range m.Manifests {
			child, err := idx.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			imgs = append(imgs, child)
		}
	}
	var out []string
	for _, img := range imgs {
		cfg, _ := img.ConfigName()
		out = append(out, cfg.String())
		layers, _ := img.Layers()
		for _, l := range layers {
			d, _ := l.Digest()
			out = append(out, d.String())
		}
	}
	return out
}

// TestSyncShardsAtOnce runs the shards of one list as three processes at
// once against real registries: every image is copied exactly once (one
// PUT of its tag, one upload of each of its blobs, in the mirror's access
// log), their reports merge into the run's, and a second run of the
// shards writes nothing.
func TestSyncShardsAtOnce(t *testing.T) {
	r := startRegistries(t)
	var images []*fleetImage
	for i := range 12 {
		s := registrytest.Spec{Format: registrytest.Format(i % 2), Platforms: []string{"linux/amd64"}, Single: true, Layers: 2, LayerSize: 16 << 10, Seed: uint64(200 + i)}
		if i%3 == 0 {
			s.Platforms, s.Single = []string{"linux/amd64", "linux/arm64"}, false
		}
		// Six repositories, two tags each.
		img := &fleetImage{repo: fmt.Sprintf("fleet/app%d", i/2), tag: fmt.Sprintf("v%d", i%2), spec: s}
		img.digest = r.push(t, r.src.Host+"/"+img.repo+":"+img.tag, s).String()
		images = append(images, img)
	}
	var list strings.Builder
	for _, img := range images {
		fmt.Fprintf(&list, "%s/%s:%s\n", r.src.Host, img.repo, img.tag)
	}
	listFile := filepath.Join(r.dir, "images.txt")
	writeTestFile(t, listFile, list.String())
	rules := writeRules(t, r.dir, r.src.Host, r.mirror.Host+"/mirror/")

	runShards := func() []string {
		t.Helper()
		var outs []*bytes.Buffer
		var errs []*bytes.Buffer
		var cmds []interface{ Wait() error }
		for i := range 3 {
			cmd := r.kmirrorCmd("sync", "--shard", fmt.Sprintf("%d/3", i), "--rules", rules, "--images", listFile, "-o", "json")
			var out, errOut bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errOut
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			outs, errs, cmds = append(outs, &out), append(errs, &errOut), append(cmds, cmd)
		}
		var reports []string
		for i, cmd := range cmds {
			if err := cmd.Wait(); err != nil {
				t.Fatalf("shard %d/3: %v\n%s%s", i, err, outs[i], errs[i])
			}
			path := filepath.Join(r.dir, fmt.Sprintf("shard-%d.json", i))
			writeTestFile(t, path, outs[i].String())
			reports = append(reports, path)
		}
		return reports
	}

	reports := runShards()
	copied := map[string]int{}
	for i, path := range reports {
		data, _ := os.ReadFile(path)
		var rep mirrorsync.Report
		if err := json.Unmarshal(data, &rep); err != nil {
			t.Fatalf("shard %d/3: %v\n%s", i, err, data)
		}
		for _, img := range rep.Images {
			if img.Status != mirrorsync.Copied {
				t.Errorf("shard %d/3: %s %s: %s", i, img.Source, img.Status, img.Error)
			}
			copied[img.Source]++
		}
	}
	for _, img := range images {
		src := r.src.Host + "/" + img.repo + ":" + img.tag
		if copied[src] != 1 {
			t.Errorf("%s was copied by %d shards, want 1", src, copied[src])
		}
		if n, _ := r.mirror.Requests("PUT", "/v2/mirror/"+img.repo+"/manifests/"+img.tag); n != 1 {
			t.Errorf("the mirror got %d PUTs of %s:%s, want 1", n, img.repo, img.tag)
		}
		for _, b := range blobs(t, img.spec) {
			if n := r.blobPuts(t, img.repo, b); n != 1 {
				t.Errorf("blob %s of %s was uploaded %d times, want 1", b, img.repo, n)
			}
		}
		if got, _, ok := r.skopeoRaw(t, r.mirror.Host+"/mirror/"+img.repo+":"+img.tag); !ok || got != img.digest {
			t.Errorf("skopeo reads %s:%s as %s, want %s", img.repo, img.tag, got, img.digest)
		}
	}

	out, errOut, code := r.kmirror(t, "", append([]string{"sync", "--merge-reports"}, reports...)...)
	if code != 0 || !regexp.MustCompile(`^copied 12 images \([0-9.]+ kB\), already present 0, failed 0\n$`).MatchString(out) {
		t.Errorf("merge: exit %d\n%s%s", code, out, errOut)
	}

	writes := func() [3]int {
		return [3]int{r.mirrorRequests(t, "PUT"), r.mirrorRequests(t, "POST"), r.mirrorRequests(t, "PATCH")}
	}
	before := writes()
	reports = runShards()
	if got := writes(); got != before {
		t.Errorf("the second run of the shards wrote to the mirror: PUT, POST, PATCH %v, then %v", before, got)
	}
	out, errOut, code = r.kmirror(t, "", append([]string{"sync", "--merge-reports"}, reports...)...)
	if code != 0 || out != "copied 0 images (0 B), already present 12, failed 0\n" {
		t.Errorf("merge of the second run: exit %d\n%s%s", code, out, errOut)
	}
}

// blobPuts counts the uploads of blob digest into repo of the mirror that
// completed: the PUT that ends an upload names the digest.
func (r *registries) blobPuts(t *testing.T, repo, digest string) int {
	t.Helper()
	n := 0
	for _, line := range strings.Split(r.mirror.Log(), "\n") {
		if strings.Contains(line, `"PUT /v2/mirror/`+repo+`/blobs/uploads/`) && strings.Contains(line, "digest="+strings.ReplaceAll(digest, ":", "%3A")) {
			n++
		}
	}
	return n
}

// TestVerifySubset: verify --same-digest takes the index that sync
// --platform made for its source, and still sees a tag that moved.
func TestVerifySubset(t *testing.T) {
	f := newSyncFixture(t)
	list := filepath.Join(f.dir, "list.txt")
	writeTestFile(t, list, f.src.Host+"/team/list:v1\n")
	if out, errOut, code := f.run(t, "sync", "--platform", "linux/arm64,linux/arm/v7", "--images", list); code != 0 {
		t.Fatalf("sync --platform: exit %d\n%s%s", code, out, errOut)
	}
	pod := filepath.Join(f.dir, "pod.yaml")
	writeTestFile(t, pod, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: a, image: "+f.src.Host+"/team/list:v1}\n  - {name: b, image: "+f.mirror.Host+"/mirror/team/list:v1}\n")
	out, errOut, code := f.run(t, "verify", "--same-digest", "-o", "json", pod)
	var rep struct {
		Images []mirrorsync.Check
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("verify -o json: %v\n%s", err, out)
	}
	if code != 0 || len(rep.Images) != 2 {
		t.Fatalf("verify --same-digest of the subset: exit %d\n%s%s", code, out, errOut)
	}
	for _, c := range rep.Images {
		if c.Verdict != mirrorsync.Found || c.Platforms != "linux/arm/v7,linux/arm64" || c.SourceDigest != f.digests[f.src.Host+"/team/list:v1"] {
			t.Errorf("%s: %+v", c.Image, c)
		}
	}
	moved := listSpec
	moved.Seed = 98
	f.push(t, f.src.Host+"/team/list:v1", moved)
	if out, errOut, code = f.run(t, "verify", "--same-digest", pod); code != 1 || strings.Count(out, "digest mismatch") != 2 {
		t.Errorf("verify --same-digest after the tag moved: exit %d\n%s%s", code, out, errOut)
	}
}

// TestSyncJobAccepted: a real kube-apiserver takes the objects of
// kmirror manifests --sync-job, and the Job that the CronJob makes, with
// every field the Job's success rules rest on kept.
func TestSyncJobAccepted(t *testing.T) {
	c := startCluster(t, tool(t, "KMIRROR_KUBE_APISERVER"))
	dir := t.TempDir()
	list := filepath.Join(dir, "images.txt")
	writeTestFile(t, list, "nginx:1.25\nquay.io/prometheus/busybox:latest\nregistry.k8s.io/pause:3.9\n")
	out, err := exec.Command(kmirrorBin, "manifests", "--sync-job", "--images", list, "--shards", "4", "--parallelism", "2",
		"--schedule", "30 2 * * *", "--registry-secret", "mirror-creds", "--image", "registry.example.com/kmirror:v1").Output()
	if err != nil {
		t.Fatalf("kmirror manifests --sync-job: %v", err)
	}
	// A dry run creates nothing: the namespaced objects need their
	// namespace already.
	c.mustKubectl(t, "", "create", "namespace", "kmirror-system")
	applied := c.mustKubectl(t, string(out), "apply", "--dry-run=server", "-f", "-")
	for _, kind := range []string{"namespace/kmirror-system", "serviceaccount/kmirror-sync", "configmap/kmirror-sync", "cronjob.batch/kmirror-sync"} {
		if !strings.Contains(applied, kind+" ") {
			t.Errorf("kubectl apply --dry-run=server did not take %s:\n%s", kind, applied)
		}
	}
	c.mustKubectl(t, string(out), "apply", "-f", "-")
	c.mustKubectl(t, "", "create", "job", "kmirror-sync-manual", "--from=cronjob/kmirror-sync", "-n", "kmirror-system")
	var job struct {
		Spec struct {
			CompletionMode       string
			Completions          int
			Parallelism          int
			BackoffLimitPerIndex *int
			PodFailurePolicy     struct {
				Rules []struct {
					Action      string
					OnExitCodes *struct{ Values []int }
				}
			}
			Template struct {
				Metadata struct{ Labels map[string]string }
				Spec     struct {
					Containers []struct {
						Args []string
						Env  []struct{ Name string }
					}
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(c.mustKubectl(t, "", "get", "job", "kmirror-sync-manual", "-n", "kmirror-system", "-o", "json")), &job); err != nil {
		t.Fatal(err)
	}
	s := job.Spec
	if s.CompletionMode != "Indexed" || s.Completions != 4 || s.Parallelism != 2 || s.BackoffLimitPerIndex == nil || *s.BackoffLimitPerIndex != 1 {
		t.Errorf("the Job as stored: %+v", s)
	}
	if rules := s.PodFailurePolicy.Rules; len(rules) != 2 || rules[0].Action != "FailJob" || rules[0].OnExitCodes == nil || rules[0].OnExitCodes.Values[0] != 2 || rules[1].Action != "Ignore" {
		t.Errorf("the Job's pod failure policy as stored: %+v", s.PodFailurePolicy)
	}
	if args := s.Template.Spec.Containers[0].Args; len(args) < 2 || args[1] != "--shard=$(JOB_COMPLETION_INDEX)/4" {
		t.Errorf("the Pods' arguments as stored: %v", args)
	}
	// A Pod of the Job, as the Job controller would make it for index 3,
	// is valid too.
	pod := c.mustKubectl(t, "", "get", "job", "kmirror-sync-manual", "-n", "kmirror-system", "-o", "jsonpath={.spec.template}")
	var tmpl map[string]any
	if err := json.Unmarshal([]byte(pod), &tmpl); err != nil {
		t.Fatal(err)
	}
	meta := tmpl["metadata"].(map[string]any)
	meta["name"] = "kmirror-sync-manual-3"
	meta["annotations"] = map[string]string{"batch.kubernetes.io/job-completion-index": "3"}
	podJSON, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": tmpl["spec"]})
	if out, err := c.kubectl(string(podJSON), "create", "--dry-run=server", "-n", "kmirror-system", "-f", "-"); err != nil {
		t.Errorf("a Pod of the Job: %v\n%s", err, out)
	}
}
