//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"kmirror.dev/kmirror/pkg/mirrorsync"
	"kmirror.dev/kmirror/pkg/registry"
)

// TestCopyManyTagsAtOnce copies six tags of one image in each of four
// repositories at once into a real distribution registry, 20 rounds, each
// into new repositories: by kmirror sync, and by the webhook's copy queue.
// Concurrent uploads of the same blobs once made distribution refuse a
// manifest now and then (DIGEST_INVALID, MANIFEST_BLOB_UNKNOWN).
func TestCopyManyTagsAtOnce(t *testing.T) {
	r := startRegistries(t)
	repos, tags := []string{"r1", "r2", "r3", "r4"}, []string{"t1", "t2", "t3", "t4", "t5", "t6"}
	var sources []string
	for _, repo := range repos {
		digest := r.push(t, r.src.Host+"/many/"+repo+":"+tags[0], listSpec)
		for _, tag := range tags {
			r.tag(t, r.src.Host+"/many/"+repo+"@"+digest.String(), tag)
			sources = append(sources, r.src.Host+"/many/"+repo+":"+tag)
		}
	}
	list := filepath.Join(r.dir, "images.txt")
	writeTestFile(t, list, strings.Join(sources, "\n")+"\n")
	client, err := registry.New(registry.Options{Transport: r.transport, ConfigFile: filepath.Join(r.dockerConfig, "config.json")})
	if err != nil {
		t.Fatal(err)
	}
	for round := range 20 {
		to := fmt.Sprintf("%s/sync%02d/", r.mirror.Host, round)
		rules := writeRules(t, r.dir, r.src.Host, to)
		out, errOut, code := r.kmirror(t, "", "sync", "--jobs", "8", "--rules", rules, "--images", list)
		if code != 0 || !strings.HasPrefix(out, fmt.Sprintf("copied %d images ", len(sources))) {
			t.Fatalf("round %d: sync exit %d\n%s%s", round, code, out, errOut)
		}
		queued := fmt.Sprintf("%s/queue%02d/", r.mirror.Host, round)
		for _, res := range copyQueued(t, client, sources, r.src.Host+"/", queued) {
			if res.Err != nil {
				t.Fatalf("round %d: the queue failed %s: %v", round, res.Target, res.Err)
			}
		}
	}
	// skopeo reads each tag of the last round as the source's digest.
	want, _, _ := r.skopeoRaw(t, sources[0])
	for _, path := range []string{"sync19/", "queue19/"} {
		for _, src := range sources {
			target := r.mirror.Host + "/" + path + strings.TrimPrefix(src, r.src.Host+"/")
			if got, _, ok := r.skopeoRaw(t, target); !ok || got != want {
				t.Errorf("skopeo reads %s as %s, want %s", target, got, want)
			}
		}
	}
}

// copyQueued copies each source into the queue's mirror path through a
// mirrorsync.Queue of 8 workers, and returns what became of each.
func copyQueued(t *testing.T, client *registry.Client, sources []string, from, to string) []mirrorsync.Result {
	t.Helper()
	done := make(chan mirrorsync.Result, len(sources))
	q := mirrorsync.NewQueue(client, mirrorsync.QueueOptions{Workers: 8, Attempts: 1, Done: func(r mirrorsync.Result) { done <- r }})
	defer q.Close()
	for _, src := range sources {
		if !q.Enqueue(mirrorsync.Pair{Source: src, Target: to + strings.TrimPrefix(src, from)}) {
			t.Fatalf("%s was not queued", src)
		}
	}
	var results []mirrorsync.Result
	for range sources {
		select {
		case res := <-done:
			results = append(results, res)
		case <-time.After(2 * time.Minute):
			t.Fatalf("%d of %d copies done in 2 minutes", len(results), len(sources))
		}
	}
	return results
}

// tag makes the manifest at ref, on the source, also tag.
func (r *registries) tag(t *testing.T, ref, tag string) {
	t.Helper()
	d, err := name.NewDigest(ref)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(d, remote.WithTransport(r.transport), remote.WithContext(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Tag(d.Context().Tag(tag), desc, remote.WithTransport(r.transport)); err != nil {
		t.Fatalf("tagging %s as %s: %v", ref, tag, err)
	}
}

// pinnedTags is a source whose tag v1 moved from an older digest to a
// newer one, in two repositories: the mirror's down:v1 names the newer
// digest already, its up:v1 still the older one.
type pinnedTags struct {
	older, newer string
}

func (r *registries) pinnedTags(t *testing.T, mirrorPath string) pinnedTags {
	t.Helper()
	var p pinnedTags
	for _, repo := range []string{"down", "up"} {
		p.older = r.push(t, r.src.Host+"/team/"+repo+":v1", listSpec).String()
		p.newer = r.push(t, r.src.Host+"/team/"+repo+":v1", oneSpec).String()
	}
	r.push(t, r.mirror.Host+"/"+mirrorPath+"/team/down:v1", oneSpec)
	r.push(t, r.mirror.Host+"/"+mirrorPath+"/team/up:v1", listSpec)
	return p
}

// check reads the mirror with skopeo after down:v1@older and up:v1@newer
// were copied: both digests are there; down:v1 was not moved back to the
// older digest, and up:v1 moved to the newer one, as the source's did.
func (p pinnedTags) check(t *testing.T, r *registries, mirrorPath string) {
	t.Helper()
	at := r.mirror.Host + "/" + mirrorPath + "/team/"
	for ref, want := range map[string]string{
		at + "down@" + p.older: p.older, at + "down:v1": p.newer,
		at + "up@" + p.newer: p.newer, at + "up:v1": p.newer,
	} {
		if got, _, ok := r.skopeoRaw(t, ref); !ok || got != want {
			t.Errorf("skopeo reads %s as %s, want %s", ref, got, want)
		}
	}
}

// TestSyncPinnedTag: a manifest that pins an older digest under a tag
// copies that digest alone and leaves the mirror's tag where it is; one
// that pins the digest the source's tag names moves the mirror's tag.
func TestSyncPinnedTag(t *testing.T) {
	r := startRegistries(t)
	p := r.pinnedTags(t, "mirror")
	down, up := r.src.Host+"/team/down:v1@"+p.older, r.src.Host+"/team/up:v1@"+p.newer
	rules := writeRules(t, r.dir, r.src.Host, r.mirror.Host+"/mirror/")
	out, errOut, code := r.kmirror(t, down+"\n"+up+"\n", "sync", "--rules", rules, "--images", "-")
	want := "by digest only: " + down + " -> " + r.mirror.Host + "/mirror/team/down:v1@" + p.older +
		": the source's tag names another digest now, so the mirror's tag is left as it was\n"
	if code != 0 || !strings.HasPrefix(out, "copied 2 images ") || !strings.Contains(out, want) || strings.Count(out, "by digest only") != 1 {
		t.Errorf("sync: exit %d\n%s%s\nwant:\n%s", code, out, errOut, want)
	}
	p.check(t, r, "mirror")
}

// TestWebhookCopies: kmirror serve --swap-policy exists --copy-missing,
// with a real kube-apiserver and real registries, copies a Pod's pinned
// image as sync does, never moving a tag back, and does not copy again
// an image that failed, however many Pods ask for it.
func TestWebhookCopies(t *testing.T) {
	f := &swapFixture{registries: startRegistries(t), c: startCluster(t, tool(t, "KMIRROR_KUBE_APISERVER")), rules: &rulesMount{dir: t.TempDir()}}
	p := f.pinnedTags(t, "mirror")
	f.rules.update(t, f.rulesTo("mirror"))
	w := f.serve(t)
	src, mirror := f.src.Host, f.mirror.Host

	t.Run("pinned tags", func(t *testing.T) {
		for _, pod := range []struct{ name, image string }{{"down", "down:v1@" + p.older}, {"up", "up:v1@" + p.newer}} {
			img, stderr := f.run(t, pod.name, src+"/team/"+pod.image)
			if img != src+"/team/"+pod.image || !strings.Contains(stderr, "is not in the mirror yet") {
				t.Errorf("the first Pod with %s got %q, %q; want its source", pod.image, img, stderr)
			}
			f.probe(t, src+"/team/"+pod.image, mirror+"/mirror/team/"+pod.image)
		}
		p.check(t, f.registries, "mirror")
		if n := strings.Count(w.logs(t), `"msg":"copied into the mirror by digest; the tag is left as it was: the source's tag names another digest"`); n != 1 {
			t.Errorf("%d log lines of a copy by digest only, want 1:\n%s", n, w.logs(t))
		}
	})

	t.Run("a failed copy is held", func(t *testing.T) {
		for i := range 10 {
			if img, _ := f.run(t, fmt.Sprintf("gone-%d", i), src+"/team/gone:v1"); img != src+"/team/gone:v1" {
				t.Fatalf("a Pod with an image nowhere got %q", img)
			}
		}
		heads, err := f.src.Requests("HEAD", "/v2/team/gone/manifests/")
		if err != nil {
			t.Fatal(err)
		}
		if failed := strings.Count(w.logs(t), `"msg":"copy into the mirror failed"`); heads != 1 || failed != 1 {
			t.Errorf("10 Pods with an image missing from the source: %d requests to the source and %d failed copies, want 1 and 1", heads, failed)
		}
	})
}
