//go:build e2e

package e2e

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"kmirror.dev/kmirror/internal/testing/ecrtest"
	"kmirror.dev/kmirror/internal/testing/registrytest"
)

// ECR's control plane cannot run here: these tests run the stand-in of
// internal/testing/ecrtest (ECR's JSON API, and its registry's auth and
// NAME_UNKNOWN) in front of a real distribution registry, reached by the
// AWS SDK through AWS_ENDPOINT_URL_ECR with static test credentials.
const (
	ecrAccount = "123456789012"
	ecrRegion  = "us-east-1"
	ecrKey     = "AKIDKMIRRORE2E"
)

// ecrFixture is a source registry and the ECR stand-in.
type ecrFixture struct {
	*registries
	ecr *ecrtest.Server
}

func newECRFixture(t *testing.T) *ecrFixture {
	t.Helper()
	f := &ecrFixture{registries: startRegistries(t)}
	dir := filepath.Join(f.dir, "ecr")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var err error
	f.ecr, err = ecrtest.StartOver(lookTool(t, "docker-registry"), dir, ecrtest.Options{
		Account: ecrAccount, Region: ecrRegion, TLS: f.bundle, AccessKeyID: ecrKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.ecr.Close)
	return f
}

// env is what kmirror needs to reach the stand-in as ECR: credentials of
// the SDK's default chain, the endpoint override, the test CA, and none of
// this machine's AWS files.
func (f *ecrFixture) env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + ecrKey, "AWS_SECRET_ACCESS_KEY=kmirror-e2e-secret",
		"AWS_ENDPOINT_URL_ECR=" + f.ecr.APIURL, "AWS_CA_BUNDLE=" + f.ca,
		"AWS_CONFIG_FILE=" + filepath.Join(f.dir, "no-aws-config"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(f.dir, "no-aws-credentials"),
		"AWS_EC2_METADATA_DISABLED=true", "AWS_REGION=", "AWS_PROFILE=",
	}
}

// run runs kmirror with the stand-in marked as ECR.
func (f *ecrFixture) run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := f.cmd(args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil && cmd.ProcessState == nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

func (f *ecrFixture) cmd(args ...string) *exec.Cmd {
	args = append(args[:1:1], append([]string{"--ecr", f.ecr.Host, "--ecr-region", ecrRegion}, args[1:]...)...)
	cmd := f.kmirrorCmd(args...)
	cmd.Env = append(cmd.Env, f.env()...)
	return cmd
}

// rules sends the source registry to path/ on the stand-in.
func (f *ecrFixture) rules(t *testing.T, path string) string {
	t.Helper()
	file := filepath.Join(f.dir, path+".yaml")
	writeTestFile(t, file, "apiVersion: kmirror.dev/v1alpha1\nkind: MirrorRules\nmetadata: {name: "+path+"}\nspec:\n  mirrors:\n  - from: "+
		f.src.Host+"/\n    to: "+f.ecr.Host+"/"+path+"/\n")
	return file
}

// skopeoECR reads the raw manifest at ref on the stand-in with skopeo and
// a token of its own, and returns its digest.
func (f *ecrFixture) skopeoECR(t *testing.T, ref string) string {
	t.Helper()
	cmd := exec.Command(lookTool(t, "skopeo"), "inspect", "--raw", "--cert-dir", f.certDir, "--creds", "AWS:"+f.ecr.Token(), "docker://"+ref)
	cmd.Env = append(cmd.Environ(), "HOME="+f.dir)
	out, err := cmd.Output()
	if err != nil {
		t.Errorf("skopeo inspect %s: %v", ref, err)
		return ""
	}
	return fmt.Sprintf("sha256:%x", sha256.Sum256(out))
}

// TestSyncECR: kmirror sync into an empty ECR creates each repository
// once with the settings of the file, copies every image with its digest
// (read back with skopeo), and a second run creates and copies nothing;
// verify sees a repository that does not exist as missing; without
// --create-repositories the message names the flag; two syncs at once
// into the same new repositories both succeed.
func TestSyncECR(t *testing.T) {
	f := newECRFixture(t)
	digests := map[string]string{}
	for ref, spec := range map[string]registrytest.Spec{"team/app:v1": listSpec, "team/app:v2": oneSpec, "tools/cli:v1": ociSpec} {
		digests[ref] = f.push(t, f.src.Host+"/"+ref, spec).String()
	}
	list := filepath.Join(f.dir, "images.txt")
	writeTestFile(t, list, f.src.Host+"/team/app:v1\n"+f.src.Host+"/team/app:v2\n"+f.src.Host+"/tools/cli:v1\n")
	deploy := filepath.Join(f.dir, "pod.yaml")
	writeTestFile(t, deploy, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: a, image: "+f.src.Host+"/team/app:v1}\n  - {name: b, image: "+f.src.Host+"/tools/cli:v1}\n")
	settings := filepath.Join(f.dir, "settings.yaml")
	writeTestFile(t, settings, "apiVersion: kmirror.dev/v1alpha1\nkind: ECRRepositorySettings\nspec:\n  imageTagMutability: IMMUTABLE\n  scanOnPush: true\n  tags: {team: platform}\n  lifecyclePolicy: {rules: [{rulePriority: 1, selection: {tagStatus: untagged, countType: sinceImagePushed, countUnit: days, countNumber: 7}, action: {type: expire}}]}\n")
	rules := f.rules(t, "mirror")

	out, errOut, code := f.run(t, "verify", "--rules", rules, deploy)
	if code != 1 || strings.Count(out, ": missing "+f.ecr.Host+"/mirror/") != 2 {
		t.Errorf("verify before sync: exit %d, want 1 and two missing images:\n%s%s", code, out, errOut)
	}

	out, errOut, code = f.run(t, "sync", "--rules", rules, "--images", list, "--ecr-repository-settings", settings)
	if code != 0 || !regexp.MustCompile(`^copied 3 images \(`).MatchString(out) {
		t.Fatalf("sync: exit %d\n%s%s", code, out, errOut)
	}
	if diff := cmp.Diff([]string{"mirror/team/app", "mirror/tools/cli"}, f.ecr.RepositoryNames()); diff != "" {
		t.Errorf("repositories (-want +got):\n%s", diff)
	}
	if n := len(f.ecr.Calls("CreateRepository")); n != 2 {
		t.Errorf("%d CreateRepository calls, want 2", n)
	}
	repo := f.ecr.Repositories()["mirror/team/app"]
	if repo.ImageTagMutability != "IMMUTABLE" || !repo.ScanOnPush || repo.Tags["team"] != "platform" || !strings.Contains(repo.LifecyclePolicy, `"countNumber":7`) {
		t.Errorf("the settings did not arrive: %+v", repo)
	}
	for _, c := range f.ecr.Calls("") {
		if c.Region != ecrRegion {
			t.Errorf("%s signed for %s, want --ecr-region %s", c.Operation, c.Region, ecrRegion)
		}
	}
	for ref, digest := range digests {
		if got := f.skopeoECR(t, f.ecr.Host+"/mirror/"+ref); got != digest {
			t.Errorf("skopeo reads %s in ECR as %s, want the source's %s", ref, got, digest)
		}
	}

	calls := len(f.ecr.Calls(""))
	out, errOut, code = f.run(t, "sync", "--rules", rules, "--images", list)
	if code != 0 || !strings.HasPrefix(out, "copied 0 images (0 B), already present 3") {
		t.Errorf("second sync: exit %d\n%s%s", code, out, errOut)
	}
	for _, c := range f.ecr.Calls("")[calls:] {
		if c.Operation != "GetAuthorizationToken" {
			t.Errorf("the second sync called %s", c.Operation)
		}
	}
	if out, errOut, code = f.run(t, "verify", "--rules", rules, deploy); code != 0 {
		t.Errorf("verify after sync: exit %d\n%s%s", code, out, errOut)
	}

	out, errOut, code = f.run(t, "sync", "--rules", f.rules(t, "off"), "--images", list, "--create-repositories=false")
	if code != 1 || !strings.Contains(out, f.ecr.Host+" has no repository off/team/app (") || !strings.Contains(out, "--create-repositories") {
		t.Errorf("sync --create-repositories=false: exit %d, want 1 and the flag named\n%s%s", code, out, errOut)
	}

	// Two processes at once: each API answer takes a second, so both look
	// every repository up before either creates it.
	f.ecr.SetAPILatency(time.Second)
	race := f.rules(t, "race")
	var cmds [2]*exec.Cmd
	var outs [2]bytes.Buffer
	for i := range cmds {
		cmds[i] = f.cmd("sync", "--rules", race, "--images", list)
		cmds[i].Stdout, cmds[i].Stderr = &outs[i], &outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Errorf("sync %d at once: %v\n%s", i, err, outs[i].String())
		}
	}
	// Which process creates a repository is the machine's choice; both
	// must succeed either way.
	t.Logf("two syncs at once: %d RepositoryAlreadyExistsException answers", f.ecr.Errors("RepositoryAlreadyExistsException"))
	if diff := cmp.Diff([]string{"mirror/team/app", "mirror/tools/cli", "race/team/app", "race/tools/cli"}, f.ecr.RepositoryNames()); diff != "" {
		t.Errorf("repositories (-want +got):\n%s", diff)
	}
	for _, ref := range []string{"team/app:v1", "tools/cli:v1"} {
		if got := f.skopeoECR(t, f.ecr.Host+"/race/"+ref); got != digests[ref] {
			t.Errorf("%s after two syncs at once: %s, want %s", ref, got, digests[ref])
		}
	}
}

// TestWebhookCopyMissingECR: kmirror serve --swap-policy exists
// --copy-missing, with ECR credentials from the SDK's chain: a Pod whose
// image ECR lacks goes to its source, the copy creates the repository and
// fills it, and the next Pod goes to the mirror.
func TestWebhookCopyMissingECR(t *testing.T) {
	f := newECRFixture(t)
	sf := &swapFixture{registries: f.registries, c: startCluster(t, tool(t, "KMIRROR_KUBE_APISERVER"))}
	src, mirror := f.src.Host, f.ecr.Host+"/mirror"
	digest := f.push(t, src+"/team/app:v2", ociSpec).String()
	w := startWebhookEnv(t, append(f.env(), "SSL_CERT_FILE="+f.ca), "--rules="+f.rules(t, "mirror"), "--swap-policy=exists", "--copy-missing",
		"--missing-ttl=1h", "--ecr="+f.ecr.Host, "--ecr-region="+ecrRegion)
	out, err := exec.Command(kmirrorBin, "manifests", "--webhook-url="+w.url, "--ca-file="+w.caFile, "--swap-policy=exists", "--copy-missing").Output()
	if err != nil {
		t.Fatalf("kmirror manifests: %v", err)
	}
	sf.c.mustKubectl(t, string(out), "apply", "-f", "-")
	// An escape is rewritten whatever the mirror holds: the API server
	// calls the webhook once a dry run shows it.
	sf.probe(t, "direct.to/busybox:1", "busybox:1")
	// The first check logs in to ECR, with a token from its API, within
	// the check's second: on a busy machine it may fail and be tried
	// again. Another image warms the login up, so that the Pod below gets
	// an answer.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
		_, stderr := sf.c.kubectlStderr(t, "", "run", "warm", "--image="+src+"/team/warm:v1", "--dry-run=server")
		if strings.Contains(stderr, "is not in the mirror yet") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no check of the ECR mirror answered within a minute: %s\n%s", stderr, w.logs(t))
		}
	}

	img, stderr := sf.run(t, "missing", src+"/team/app:v2")
	want := "Warning: kmirror: " + mirror + "/team/app:v2 is not in the mirror yet; " + src + "/team/app:v2 is pulled from its source"
	if img != src+"/team/app:v2" || !strings.Contains(stderr, want) {
		t.Errorf("image %q, stderr %q; want the source and %q", img, stderr, want)
	}
	sf.probe(t, src+"/team/app:v2", mirror+"/team/app:v2")
	if img, _ := sf.run(t, "copied", src+"/team/app:v2"); img != mirror+"/team/app:v2" {
		t.Errorf("image %q after the copy, want the mirror", img)
	}
	if diff := cmp.Diff([]string{"mirror/team/app"}, f.ecr.RepositoryNames()); diff != "" {
		t.Errorf("repositories (-want +got):\n%s\n%s", diff, w.logs(t))
	}
	if got := f.skopeoECR(t, mirror+"/team/app:v2"); got != digest {
		t.Errorf("skopeo reads the copy as %s, want %s", got, digest)
	}
}
