package ecr_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"kmirror.dev/kmirror/internal/testing/ecrtest"
	"kmirror.dev/kmirror/internal/testing/registrytest"
	"kmirror.dev/kmirror/pkg/ecr"
	"kmirror.dev/kmirror/pkg/mirrorsync"
	"kmirror.dev/kmirror/pkg/registry"
)

var (
	listSpec = registrytest.Spec{Format: registrytest.Docker, Platforms: []string{"linux/amd64", "linux/arm64"}, Layers: 2, LayerSize: 16 << 10, Seed: 1}
	ociSpec  = registrytest.Spec{Format: registrytest.OCI, Platforms: []string{"linux/amd64", "linux/s390x"}, Layers: 2, LayerSize: 8 << 10, Seed: 2}
	oneSpec  = registrytest.Spec{Platforms: []string{"linux/amd64"}, Single: true, Layers: 3, LayerSize: 4 << 10, Seed: 3}
)

// pairs pushes three images in two repositories to the source, and
// returns the pairs into the default preset's ECR registry, with the
// source digests by target.
func (f *fixture) pairs(t *testing.T) ([]mirrorsync.Pair, map[string]string) {
	t.Helper()
	digests := map[string]string{}
	var pairs []mirrorsync.Pair
	for ref, spec := range map[string]registrytest.Spec{"team/app:v1": listSpec, "team/app:v2": oneSpec, "tools/cli:v1": ociSpec} {
		p := mirrorsync.Pair{Source: f.src.Host + "/" + ref, Target: chinaHost + "/dockerhub/" + ref}
		digests[p.Target] = f.push(t, ref, spec)
		pairs = append(pairs, p)
	}
	return pairs, digests
}

func statuses(results []mirrorsync.Result) map[string]mirrorsync.Status {
	out := map[string]mirrorsync.Status{}
	for _, r := range results {
		out[r.Target] = r.Status
		if r.Err != nil {
			out[r.Target] = mirrorsync.Status(r.Err.Error())
		}
	}
	return out
}

func want(pairs []mirrorsync.Pair, s mirrorsync.Status) map[string]mirrorsync.Status {
	out := map[string]mirrorsync.Status{}
	for _, p := range pairs {
		out[p.Target] = s
	}
	return out
}

// TestSyncIntoChinaECR fills the default preset's registry, in the China
// partition, from nothing: each repository is created once, in the
// registry and region of its host, every image has its source's digest,
// and a second run creates and copies nothing.
func TestSyncIntoChinaECR(t *testing.T) {
	f := newFixture(t, ecrtest.Options{})
	pairs, digests := f.pairs(t)
	c, _ := f.clients(t, ecr.Options{CreateRepositories: true})
	results := mirrorsync.Run(context.Background(), c, pairs, mirrorsync.Options{Jobs: 4})
	if diff := cmp.Diff(want(pairs, mirrorsync.Copied), statuses(results)); diff != "" {
		t.Fatalf("first run (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"dockerhub/team/app", "dockerhub/tools/cli"}, f.ecr.RepositoryNames()); diff != "" {
		t.Errorf("repositories (-want +got):\n%s", diff)
	}
	creates := f.ecr.Calls("CreateRepository")
	if len(creates) != 2 {
		t.Errorf("%d CreateRepository calls, want one per repository: %v", len(creates), operations(f.ecr))
	}
	for _, call := range f.ecr.Calls("") {
		if call.Region != chinaRegion {
			t.Errorf("%s signed for %q, want %s", call.Operation, call.Region, chinaRegion)
		}
		if id, ok := call.Input["registryId"]; ok && id != chinaAccount {
			t.Errorf("%s for registry %v, want %s", call.Operation, id, chinaAccount)
		}
	}
	tokens := f.ecr.Calls("GetAuthorizationToken")
	if len(tokens) != 1 || !cmp.Equal(tokens[0].Input["registryIds"], []any{chinaAccount}) {
		t.Errorf("GetAuthorizationToken calls: %+v, want one for %s", tokens, chinaAccount)
	}
	for target, digest := range digests {
		desc, err := c.Head(context.Background(), target)
		if err != nil || desc.Digest.String() != digest {
			t.Errorf("%s in the mirror: %v %v, want %s", target, desc, err, digest)
		}
	}

	// A second run, a new process: nothing created, nothing written.
	writes := upstreamWrites(t, f)
	c2, _ := f.clients(t, ecr.Options{CreateRepositories: true})
	results = mirrorsync.Run(context.Background(), c2, pairs, mirrorsync.Options{Jobs: 4})
	if diff := cmp.Diff(want(pairs, mirrorsync.Present), statuses(results)); diff != "" {
		t.Errorf("second run (-want +got):\n%s", diff)
	}
	if n := len(f.ecr.Calls("CreateRepository")) + len(f.ecr.Calls("DescribeRepositories")); n != len(creates)*2 {
		t.Errorf("the second run asked about repositories: %v", operations(f.ecr))
	}
	if got := upstreamWrites(t, f); got != writes {
		t.Errorf("the second run wrote %d times", got-writes)
	}
}

// upstreamWrites counts the writes the registry behind the stand-in got.
func upstreamWrites(t *testing.T, f *fixture) int {
	t.Helper()
	n := 0
	for _, m := range []string{"PUT", "POST", "PATCH"} {
		k, err := f.ecr.Upstream().Requests(m, "/v2/")
		if err != nil {
			t.Fatal(err)
		}
		n += k
	}
	return n
}

// TestRepositorySettings: the settings of the file arrive in the calls
// that create a repository.
func TestRepositorySettings(t *testing.T) {
	f := newFixture(t, ecrtest.Options{})
	settings, err := ecr.ParseSettings([]byte(`apiVersion: kmirror.dev/v1alpha1
kind: ECRRepositorySettings
spec:
  imageTagMutability: IMMUTABLE
  scanOnPush: true
  encryption: {type: KMS, kmsKey: "arn:aws-cn:kms:cn-northwest-1:048912060910:key/1234"}
  tags: {team: platform, cost-center: "42"}
  lifecyclePolicy:
    rules:
    - rulePriority: 1
      selection: {tagStatus: untagged, countType: sinceImagePushed, countUnit: days, countNumber: 14}
      action: {type: expire}
  repositoryPolicy: '{"Version": "2012-10-17", "Statement": [{"Sid": "pull", "Effect": "Allow", "Principal": {"AWS": "arn:aws-cn:iam::048912060910:root"}, "Action": ["ecr:BatchGetImage"]}]}'
`))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := f.clients(t, ecr.Options{CreateRepositories: true, Settings: settings})
	f.push(t, "team/app:v1", oneSpec)
	if _, err := c.Copy(context.Background(), f.src.Host+"/team/app:v1", chinaHost+"/quay/team/app:v1", registry.CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"GetAuthorizationToken", "DescribeRepositories", "CreateRepository", "PutLifecyclePolicy", "SetRepositoryPolicy"}, operations(f.ecr)); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	wantCreate := map[string]any{
		"registryId":                 chinaAccount,
		"repositoryName":             "quay/team/app",
		"imageTagMutability":         "IMMUTABLE",
		"imageScanningConfiguration": map[string]any{"scanOnPush": true},
		"encryptionConfiguration":    map[string]any{"encryptionType": "KMS", "kmsKey": "arn:aws-cn:kms:cn-northwest-1:048912060910:key/1234"},
		"tags":                       []any{map[string]any{"Key": "cost-center", "Value": "42"}, map[string]any{"Key": "team", "Value": "platform"}},
	}
	if diff := cmp.Diff(wantCreate, f.ecr.Calls("CreateRepository")[0].Input); diff != "" {
		t.Errorf("CreateRepository (-want +got):\n%s", diff)
	}
	repo := f.ecr.Repositories()["quay/team/app"]
	if want := `{"rules":[{"action":{"type":"expire"},"rulePriority":1,"selection":{"countNumber":14,"countType":"sinceImagePushed","countUnit":"days","tagStatus":"untagged"}}]}`; repo.LifecyclePolicy != want {
		t.Errorf("lifecycle policy %s, want %s", repo.LifecyclePolicy, want)
	}
	if want := `{"Version":"2012-10-17","Statement":[{"Sid":"pull","Effect":"Allow","Principal":{"AWS":"arn:aws-cn:iam::048912060910:root"},"Action":["ecr:BatchGetImage"]}]}`; repo.Policy != want {
		t.Errorf("repository policy %s, want %s", repo.Policy, want)
	}
}

// TestTokenRefresh: tokens that live four seconds, and a run that takes
// longer: every request carries a token that is current, refreshed at
// half its life, and the run goes on. Half a life is the margin for a
// request between its token and the registry: two seconds on a busy
// machine.
func TestTokenRefresh(t *testing.T) {
	const ttl = 4 * time.Second
	f := newFixture(t, ecrtest.Options{TokenTTL: ttl, Latency: 150 * time.Millisecond})
	pairs, _ := f.pairs(t)
	c, _ := f.clients(t, ecr.Options{CreateRepositories: true})
	start := time.Now()
	results := mirrorsync.Run(context.Background(), c, pairs, mirrorsync.Options{Jobs: 1})
	took := time.Since(start)
	t.Logf("the run took %v, with %d tokens", took, f.ecr.TokensUsed())
	if diff := cmp.Diff(want(pairs, mirrorsync.Copied), statuses(results)); diff != "" {
		t.Fatalf("run (-want +got):\n%s", diff)
	}
	if took < ttl {
		t.Fatalf("the run took %v: too short to outlive a token of %v", took, ttl)
	}
	if n := f.ecr.Expired(); n != 0 {
		t.Errorf("%d requests carried an expired token", n)
	}
	if n := f.ecr.TokensUsed(); n < 2 {
		t.Errorf("%d token used over %v, want a new one before the first expired", n, took)
	}
}

// TestTokenWait: a caller with a deadline does not wait past it for a
// token from an API that is slow, as the webhook's checks of a second.
func TestTokenWait(t *testing.T) {
	f := newFixture(t, ecrtest.Options{APILatency: 5 * time.Second})
	c, _ := f.clients(t, ecr.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.NewProber(0, 0).Head(ctx, chinaHost+"/gcr/pause:3.9")
	if took := time.Since(start); err == nil || took > 3*time.Second {
		t.Errorf("Head with a deadline of 0.5s took %v (%v), want it back at its deadline, well before the API's 5s", took, err)
	}
}

// TestConcurrentSyncs: two processes copy into the same new repositories
// at once; the second to create one gets RepositoryAlreadyExistsException,
// and both succeed.
func TestConcurrentSyncs(t *testing.T) {
	// Each API answer takes long enough that both look a repository up
	// before either creates it, with 1.5s to spare for a busy machine.
	f := newFixture(t, ecrtest.Options{APILatency: 1500 * time.Millisecond})
	pairs, _ := f.pairs(t)
	var wg sync.WaitGroup
	results := make([][]mirrorsync.Result, 2)
	for i := range results {
		c, _ := f.clients(t, ecr.Options{CreateRepositories: true})
		wg.Go(func() { results[i] = mirrorsync.Run(context.Background(), c, pairs, mirrorsync.Options{Jobs: 4}) })
	}
	wg.Wait()
	for i, rs := range results {
		for _, r := range rs {
			if r.Err != nil {
				t.Errorf("run %d: %s: %v", i, r.Target, r.Err)
			}
		}
	}
	if diff := cmp.Diff([]string{"dockerhub/team/app", "dockerhub/tools/cli"}, f.ecr.RepositoryNames()); diff != "" {
		t.Errorf("repositories (-want +got):\n%s", diff)
	}
	if n := f.ecr.Errors("RepositoryAlreadyExistsException"); n != 2 {
		t.Errorf("%d RepositoryAlreadyExistsException answers, want one per repository (calls %v)", n, operations(f.ecr))
	}
}

// TestCreateRepositoriesOff: without creation, the first write into a
// missing repository fails and names the flag.
func TestCreateRepositoriesOff(t *testing.T) {
	f := newFixture(t, ecrtest.Options{})
	c, _ := f.clients(t, ecr.Options{})
	f.push(t, "team/app:v1", oneSpec)
	_, err := c.Copy(context.Background(), f.src.Host+"/team/app:v1", chinaHost+"/quay/team/app:v1", registry.CopyOptions{})
	if !errors.Is(err, registry.ErrNoRepository) {
		t.Fatalf("copy: %v, want ErrNoRepository", err)
	}
	for _, want := range []string{
		chinaHost + " has no repository quay/team/app",
		"The repository with name 'quay/team/app' does not exist in the registry with id '" + chinaAccount + "'",
		"--create-repositories",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	if n := len(f.ecr.Calls("CreateRepository")); n != 0 {
		t.Errorf("%d repositories created with creation off", n)
	}
}

// TestCreateDenied: an identity that may not create repositories is told
// which action it lacks.
func TestCreateDenied(t *testing.T) {
	f := newFixture(t, ecrtest.Options{Deny: []string{"CreateRepository"}})
	c, _ := f.clients(t, ecr.Options{CreateRepositories: true})
	f.push(t, "team/app:v1", oneSpec)
	_, err := c.Copy(context.Background(), f.src.Host+"/team/app:v1", chinaHost+"/quay/team/app:v1", registry.CopyOptions{})
	for _, want := range []string{
		"writing " + chinaHost + "/quay/team/app:v1: creating the repository quay/team/app in the Amazon ECR registry " + chinaHost + " (" + chinaRegion + "): ",
		"AccessDeniedException: User: arn:aws:iam::" + chinaAccount + ":user/kmirror-test is not authorized to perform: ecr:CreateRepository",
		"; the identity needs ecr:CreateRepository (kmirror manifests --iam-policy sync prints the policy), or create the repository yourself and run with --create-repositories=false",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("copy: %v\nwant %q", err, want)
		}
	}
}

// TestMissingRepository: an image in a repository that does not exist is
// missing, for verify (Client.Head) and the webhook (Prober), not an error.
func TestMissingRepository(t *testing.T) {
	f := newFixture(t, ecrtest.Options{})
	c, _ := f.clients(t, ecr.Options{CreateRepositories: true})
	img := chinaHost + "/gcr/nothing/here:v1"
	if _, err := c.Head(context.Background(), img); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("Head: %v, want not found", err)
	}
	if _, err := c.NewProber(0, 0).Head(context.Background(), img); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("Prober.Head: %v, want not found", err)
	}
	if n := len(f.ecr.Calls("CreateRepository")); n != 0 {
		t.Errorf("a check created %d repositories", n)
	}
}

// TestDockerConfigWins: where the Docker config has credentials for the
// registry, they are used, and ECR's API is not asked for a token.
func TestDockerConfigWins(t *testing.T) {
	f := newFixture(t, ecrtest.Options{})
	_, e := f.clients(t, ecr.Options{})
	reg, _ := name.NewRegistry(chinaHost)
	auth, err := e.Resolve(reg)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := auth.Authorization()
	if err != nil || cfg.Username != "AWS" {
		t.Fatalf("ECR token: %+v %v", cfg, err)
	}
	dir := t.TempDir()
	if err := registrytest.DockerConfig(dir, map[string][2]string{chinaHost: {cfg.Username, cfg.Password}}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
	c, _ := f.clients(t, ecr.Options{})
	if _, err := c.Head(context.Background(), chinaHost+"/gcr/nothing/here:v1"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("Head with the Docker config's credentials: %v, want not found", err)
	}
	if n := len(f.ecr.Calls("GetAuthorizationToken")); n != 1 {
		t.Errorf("%d tokens asked for, want only the first", n)
	}
	// No credentials anywhere: the registry refuses, and says so.
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	c, _ = f.clients(t, ecr.Options{})
	_, err = c.Head(context.Background(), chinaHost+"/gcr/nothing/here:v1")
	if err == nil || !strings.Contains(err.Error(), "getting a token for the Amazon ECR registry "+chinaHost+" (GetAuthorizationToken in "+chinaRegion+")") {
		t.Errorf("without credentials: %v", err)
	}
	var _ authn.Keychain = e
}
