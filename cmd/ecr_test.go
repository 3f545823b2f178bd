package cmd

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

const ecrSettings = `apiVersion: kmirror.dev/v1alpha1
kind: ECRRepositorySettings
spec:
  imageTagMutability: IMMUTABLE
  tags: {team: platform}
`

// TestManifestsForECR: the ServiceAccount carries the annotations IRSA
// reads, and kmirror serve the ECR flags and the settings file, shipped in
// the rules ConfigMap; serve's own flags accept them.
func TestManifestsForECR(t *testing.T) {
	settings := write(t, t.TempDir(), "settings.yaml", ecrSettings)
	stdout, stderr, code := run(t, "", "manifests", "--swap-policy", "exists", "--copy-missing",
		"--service-account-annotation", "eks.amazonaws.com/role-arn=arn:aws-cn:iam::048912060910:role/kmirror",
		"--service-account-annotation", "eks.amazonaws.com/sts-regional-endpoints=true",
		"--ecr", "vpce-1.dkr.ecr.cn-north-1.vpce.amazonaws.com.cn", "--ecr-region", "cn-north-1",
		"--ecr-repository-settings", settings)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	objs := objects(t, stdout)
	sa, cm, deployment := objs[1], objs[2], objs[5]
	if diff := cmp.Diff(map[string]string{
		"eks.amazonaws.com/role-arn":               "arn:aws-cn:iam::048912060910:role/kmirror",
		"eks.amazonaws.com/sts-regional-endpoints": "true",
	}, sa.GetAnnotations()); diff != "" {
		t.Errorf("ServiceAccount annotations (-want +got):\n%s", diff)
	}
	if got := field(t, cm, "data", "ecr-repository-settings.yaml"); !strings.Contains(got, "imageTagMutability: IMMUTABLE") {
		t.Errorf("ConfigMap settings: %s", got)
	}
	args := serveArgsOf(t, deployment)
	for _, want := range []string{"--ecr=vpce-1.dkr.ecr.cn-north-1.vpce.amazonaws.com.cn", "--ecr-region=cn-north-1",
		"--ecr-repository-settings=/etc/kmirror/rules/ecr-repository-settings.yaml"} {
		if !strings.Contains(strings.Join(args, " "), want) {
			t.Errorf("serve args %v lack %s", args, want)
		}
	}
	o := &ServeOptions{}
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	o.AddFlags(fs)
	if err := fs.Parse(args[1:]); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(fs); err != nil {
		t.Errorf("serve %v: %v", args, err)
	}

	stdout, _, _ = run(t, "", "manifests", "--swap-policy", "exists", "--copy-missing", "--create-repositories=false")
	if args := serveArgsOf(t, objects(t, stdout)[5]); !strings.Contains(strings.Join(args, " "), "--create-repositories=false") {
		t.Errorf("serve args %v lack --create-repositories=false", args)
	}
}

func serveArgsOf(t *testing.T, deployment *yaml.RNode) []string {
	t.Helper()
	args, err := deployment.Pipe(yaml.Lookup("spec", "template", "spec", "containers", "[name=kmirror]", "args"))
	if err != nil || args == nil {
		t.Fatalf("no args: %v", err)
	}
	var values []string
	for _, n := range args.YNode().Content {
		values = append(values, n.Value)
	}
	return values
}

// TestIAMPolicy: --iam-policy prints the policy of the rules in use, for
// the mode given or the webhook's.
func TestIAMPolicy(t *testing.T) {
	settings := write(t, t.TempDir(), "settings.yaml", ecrSettings)
	const repos = "arn:aws-cn:ecr:cn-northwest-1:048912060910:repository/"
	for _, tc := range []struct {
		args []string
		sids []string
	}{
		{[]string{"--iam-policy=verify"}, []string{"GetToken", "CheckMirror"}},
		{[]string{"--swap-policy", "exists", "--iam-policy"}, []string{"GetToken", "CheckMirror"}},
		{[]string{"--iam-policy=sync"}, []string{"GetToken", "WriteMirror", "CreateRepositories"}},
		{[]string{"--iam-policy=sync", "--create-repositories=false"}, []string{"GetToken", "WriteMirror"}},
		{[]string{"--swap-policy", "exists", "--copy-missing", "--iam-policy", "--ecr-repository-settings", settings}, []string{"GetToken", "WriteMirror", "CreateRepositories"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			stdout, stderr, code := run(t, "", append([]string{"manifests"}, tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var doc struct {
				Statement []struct {
					Sid      string
					Action   []string
					Resource []string
				}
			}
			if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
				t.Fatalf("%v:\n%s", err, stdout)
			}
			var sids []string
			for _, s := range doc.Statement {
				sids = append(sids, s.Sid)
				if s.Sid != "GetToken" && !cmp.Equal(s.Resource, []string{repos + "amazonecr/*", repos + "dockerhub/*", repos + "gcr/*", repos + "gcr/google_containers/*", repos + "quay/*"}) {
					t.Errorf("%s: resources %v", s.Sid, s.Resource)
				}
				if s.Sid == "CreateRepositories" && strings.Contains(strings.Join(tc.args, " "), "settings") && !strings.Contains(strings.Join(s.Action, " "), "ecr:TagResource") {
					t.Errorf("the settings' tags need ecr:TagResource: %v", s.Action)
				}
			}
			if diff := cmp.Diff(tc.sids, sids); diff != "" {
				t.Errorf("statements (-want +got):\n%s", diff)
			}
		})
	}
}

func TestECRFlagErrors(t *testing.T) {
	settings := write(t, t.TempDir(), "settings.yaml", "kind: Nope\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"manifests", "--iam-policy"}, "--swap-policy always reaches no registry"},
		{[]string{"manifests", "--iam-policy=push"}, "--iam-policy must be verify, sync or copy-missing"},
		{[]string{"manifests", "--ecr", "mirror.internal"}, "--ecr needs --swap-policy exists"},
		{[]string{"manifests", "--swap-policy", "exists", "--create-repositories=false"}, "--create-repositories needs --copy-missing"},
		{[]string{"manifests", "--service-account-annotation", "role"}, `--service-account-annotation "role" is not KEY=VALUE`},
		{[]string{"manifests", "--swap-policy", "exists", "--copy-missing", "--ecr-repository-settings", settings}, "repository settings " + settings},
		{[]string{"sync", "--ecr-region", "cn-north-1", "--images", "-"}, "--ecr-region needs --ecr"},
		{[]string{"sync", "--create-repositories=false", "--ecr-repository-settings", settings, "--images", "-"}, "--create-repositories=false creates none"},
		{[]string{"sync", "--ecr", "host/path", "--images", "-"}, `--ecr "host/path" is not a registry host`},
		{[]string{"sync", "--ecr-repository-settings", settings, "--images", "-"}, "repository settings " + settings},
		{[]string{"verify", "--create-repositories", "-"}, "unknown flag: --create-repositories"},
		{[]string{"serve", "--tls-cert-file", "c", "--tls-key-file", "k", "--ecr", "h"}, "--ecr needs --swap-policy exists"},
		{[]string{"serve", "--tls-cert-file", "c", "--tls-key-file", "k", "--swap-policy", "exists", "--create-repositories=false"}, "--create-repositories needs --copy-missing"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, stderr, code := run(t, "nginx:1\n", tc.args...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tc.want)
			}
		})
	}
}
