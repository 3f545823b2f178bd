package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"kmirror.dev/kmirror/internal/testing/registrytest"
)

// creatorLog records the repositories it is asked for, and makes them
// exist in a registry that answers NAME_UNKNOWN for any other.
type creatorLog struct {
	mu      sync.Mutex
	asked   []string
	created map[string]bool
	err     error
}

func (c *creatorLog) CreateRepository(_ context.Context, repo name.Repository) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.asked = append(c.asked, repo.Name())
	if c.err != nil {
		return c.err
	}
	c.created[repo.RepositoryStr()] = true
	return nil
}

func (c *creatorLog) exists(repo string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.created[repo]
}

// nameUnknown makes reg answer as ECR does for a repository that exists
// is false for.
func nameUnknown(reg *testRegistry, exists func(string) bool) {
	reg.intercept = func(w http.ResponseWriter, r *http.Request) bool {
		rest, ok := strings.CutPrefix(r.URL.Path, "/v2/")
		i := strings.Index(rest, "/blobs/")
		if j := strings.Index(rest, "/manifests/"); i < 0 || (j >= 0 && j < i) {
			i = j
		}
		if !ok || i < 0 || exists(rest[:i]) {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"errors":[{"code":"NAME_UNKNOWN","message":"The repository with name '%s' does not exist in the registry with id '123456789012'"}]}`, rest[:i])
		return true
	}
}

// TestCopyCreatesRepository: the creator is asked for the target's
// repository before the first write, and not when the target holds the
// image already.
func TestCopyCreatesRepository(t *testing.T) {
	src, mirror := newTestRegistry(t), newTestRegistry(t)
	creator := &creatorLog{created: map[string]bool{}}
	nameUnknown(mirror, creator.exists)
	c, err := New(Options{PlainHTTP: []string{src.host, mirror.host}, Keychain: authn.NewMultiKeychain(), Repositories: creator})
	if err != nil {
		t.Fatal(err)
	}
	push(t, src.host+"/a:1", threePlatforms)
	dst := mirror.host + "/mirror/a:1"
	for range 2 {
		if _, err := c.Copy(context.Background(), src.host+"/a:1", dst, CopyOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]string{mirror.host + "/mirror/a"}, creator.asked); diff != "" {
		t.Errorf("repositories asked for (-want +got):\n%s", diff)
	}
	idx, _, _ := registrytest.Make(threePlatforms)
	if _, err := c.Push(context.Background(), mirror.host+"/pushed:1", idx); err != nil {
		t.Fatalf("push: %v", err)
	}
	if !creator.exists("pushed") {
		t.Errorf("push did not ask for its repository: %v", creator.asked)
	}

	// A creator that fails stops the copy before any write.
	creator.err = errors.New("AccessDeniedException")
	mirror.reset()
	_, err = c.Copy(context.Background(), src.host+"/a:1", mirror.host+"/other/a:1", CopyOptions{})
	if err == nil || !strings.Contains(err.Error(), "writing "+mirror.host+"/other/a:1: AccessDeniedException") {
		t.Errorf("copy with a failing creator: %v", err)
	}
	if n := mirror.count("POST", "") + mirror.count("PUT", ""); n != 0 {
		t.Errorf("the mirror got %d writes after the creator failed", n)
	}
}

// TestWriteNameUnknown: a write into a repository that does not exist
// says so and names the flag, for any registry.
func TestWriteNameUnknown(t *testing.T) {
	src, mirror := newTestRegistry(t), newTestRegistry(t)
	nameUnknown(mirror, func(string) bool { return false })
	c := newClient(t, src.host, mirror.host)
	push(t, src.host+"/a:1", threePlatforms)
	_, err := c.Copy(context.Background(), src.host+"/a:1", mirror.host+"/team/a:1", CopyOptions{})
	if !errors.Is(err, ErrNoRepository) || errors.Is(err, ErrNotFound) {
		t.Fatalf("copy into a missing repository: %v, want ErrNoRepository", err)
	}
	for _, want := range []string{
		"writing " + mirror.host + "/team/a:1: " + mirror.host + " has no repository team/a (",
		"The repository with name 'team/a' does not exist",
		"create it first (a Harbor project, an Artifact Registry repository)",
		"--create-repositories",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
	// Reading it is "not found", as before: verify counts it missing.
	if _, err := c.Head(context.Background(), mirror.host+"/team/a:1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("head in a missing repository: %v, want ErrNotFound", err)
	}
}

// TestExtraKeychain: the Docker config wins; the extra keychain answers
// for the registries it has none for.
func TestExtraKeychain(t *testing.T) {
	dir := t.TempDir()
	if err := registrytest.DockerConfig(dir, map[string][2]string{"docker.example.com": {"bot", "pw"}}); err != nil {
		t.Fatal(err)
	}
	extra := authn.NewKeychainFromHelper(staticHelper{})
	c, err := New(Options{ConfigFile: dir + "/config.json", ExtraKeychain: extra})
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]string{"docker.example.com": "bot", "123456789012.dkr.ecr.us-east-1.amazonaws.com": "AWS"} {
		reg, _ := name.NewRegistry(host)
		a, err := c.keychain.Resolve(reg)
		if err != nil {
			t.Fatal(err)
		}
		cfg, _ := a.Authorization()
		if cfg.Username != want {
			t.Errorf("%s: user %q, want %q", host, cfg.Username, want)
		}
	}
}

type staticHelper struct{}

func (staticHelper) Get(string) (string, string, error) { return "AWS", "token", nil }
