package ecr_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"kmirror.dev/kmirror/pkg/ecr"
	"kmirror.dev/kmirror/rules"
)

// presetPrefixes are the default preset's mirror and source prefixes.
func presetPrefixes(t *testing.T) (mirrors, sources []string) {
	t.Helper()
	eng, err := rules.Load("")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range eng.Rules().Mirrors {
		mirrors, sources = append(mirrors, r.To), append(sources, r.From)
	}
	return mirrors, sources
}

type policyDoc struct {
	Version   string
	Statement []struct {
		Sid, Effect      string
		Action, Resource []string
	}
}

func TestPolicy(t *testing.T) {
	mirrors, sources := presetPrefixes(t)
	c, err := ecr.New(ecr.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const arn = "arn:aws-cn:ecr:cn-northwest-1:048912060910:repository/"
	repos := []string{arn + "amazonecr/*", arn + "dockerhub/*", arn + "gcr/*", arn + "gcr/google_containers/*", arn + "quay/*"}
	settings := &ecr.Settings{Tags: map[string]string{"a": "b"}, LifecyclePolicy: "{}", Encryption: &ecr.Encryption{Type: "KMS", KMSKey: "arn:aws-cn:kms:cn-northwest-1:048912060910:key/1"}}
	for _, tc := range []struct {
		o    ecr.PolicyOptions
		want map[string][]string
	}{
		{ecr.PolicyOptions{Mode: ecr.ModeVerify, Mirrors: mirrors, Sources: sources}, map[string][]string{
			"GetToken":    {"ecr:GetAuthorizationToken", "*"},
			"CheckMirror": append([]string{"ecr:BatchGetImage"}, repos...),
		}},
		{ecr.PolicyOptions{Mode: ecr.ModeSync, Mirrors: mirrors, Sources: sources, Create: true}, map[string][]string{
			"GetToken": {"ecr:GetAuthorizationToken", "*"},
			"WriteMirror": append([]string{"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:CompleteLayerUpload", "ecr:GetDownloadUrlForLayer",
				"ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart"}, repos...),
			// The EKS registry of the sources is in another partition: no statement.
			"CreateRepositories": append([]string{"ecr:CreateRepository", "ecr:DescribeRepositories"}, repos...),
		}},
		{ecr.PolicyOptions{Mode: ecr.ModeCopyMissing, Mirrors: mirrors[:1], Create: true, Settings: settings}, map[string][]string{
			"GetToken": {"ecr:GetAuthorizationToken", "*"},
			"WriteMirror": {"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:CompleteLayerUpload", "ecr:GetDownloadUrlForLayer",
				"ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart", arn + "gcr/google_containers/*"},
			"CreateRepositories":  {"ecr:CreateRepository", "ecr:DescribeRepositories", "ecr:TagResource", "ecr:PutLifecyclePolicy", arn + "gcr/google_containers/*"},
			"EncryptRepositories": {"kms:CreateGrant", "kms:DescribeKey", "kms:RetireGrant", "arn:aws-cn:kms:cn-northwest-1:048912060910:key/1"},
		}},
		{ecr.PolicyOptions{Mode: ecr.ModeSync, Mirrors: []string{"602401143452.dkr.ecr.us-west-2.amazonaws.com/mirror/"}, Sources: []string{"123456789012.dkr.ecr.us-east-1.amazonaws.com/eks/"}}, map[string][]string{
			"GetToken": {"ecr:GetAuthorizationToken", "*"},
			"WriteMirror": {"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:CompleteLayerUpload", "ecr:GetDownloadUrlForLayer",
				"ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart", "arn:aws:ecr:us-west-2:602401143452:repository/mirror/*"},
			"PullSources": {"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "arn:aws:ecr:us-east-1:123456789012:repository/eks/*"},
		}},
	} {
		b, err := c.Policy(tc.o)
		if err != nil {
			t.Fatal(err)
		}
		var doc policyDoc
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		got := map[string][]string{}
		for _, s := range doc.Statement {
			if s.Effect != "Allow" {
				t.Errorf("%s: effect %s", s.Sid, s.Effect)
			}
			got[s.Sid] = append(s.Action, s.Resource...)
		}
		if doc.Version != "2012-10-17" {
			t.Errorf("version %q", doc.Version)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.o.Mode, diff)
		}
	}

	// A host named with --ecr has no account in its name.
	c, _ = ecr.New(ecr.Options{Hosts: []string{"mirror.internal:5000"}})
	b, err := c.Policy(ecr.PolicyOptions{Mode: ecr.ModeVerify, Mirrors: []string{"mirror.internal:5000/hub/"}})
	if err != nil || !strings.Contains(string(b), `"arn:aws:ecr:*:*:repository/hub/*"`) {
		t.Errorf("--ecr host: %s %v", b, err)
	}
	if _, err := c.Policy(ecr.PolicyOptions{Mode: ecr.ModeVerify, Mirrors: []string{"mirror.example.com/hub/"}}); err == nil || !strings.Contains(err.Error(), "--ecr HOST") {
		t.Errorf("no ECR mirror: %v", err)
	}
	if _, err := c.Policy(ecr.PolicyOptions{Mode: "push", Mirrors: mirrors}); err == nil || !strings.Contains(err.Error(), "--iam-policy must be verify, sync or copy-missing") {
		t.Errorf("unknown mode: %v", err)
	}
}
