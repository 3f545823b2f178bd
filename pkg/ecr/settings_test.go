package ecr_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"kmirror.dev/kmirror/pkg/ecr"
)

func TestParseSettings(t *testing.T) {
	const head = "apiVersion: kmirror.dev/v1alpha1\nkind: ECRRepositorySettings\n"
	got, err := ecr.ParseSettings([]byte(head + `spec:
  imageTagMutability: MUTABLE
  encryption: {type: AES256}
  lifecyclePolicy: '{"rules": [{"rulePriority": 1, "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 100}, "action": {"type": "expire"}}]}'
`))
	if err != nil {
		t.Fatal(err)
	}
	want := &ecr.Settings{ImageTagMutability: "MUTABLE", Encryption: &ecr.Encryption{Type: "AES256"},
		LifecyclePolicy: `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":100},"action":{"type":"expire"}}]}`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, tc := range []struct{ doc, err string }{
		{"apiVersion: v1\nkind: ConfigMap\n", `apiVersion and kind must be kmirror.dev/v1alpha1 and ECRRepositorySettings, not "v1" and "ConfigMap"`},
		{head + "spec: {imageTagMutability: immutable}\n", `spec.imageTagMutability must be MUTABLE or IMMUTABLE, not "immutable"`},
		{head + "spec: {encryption: {type: KMS2}}\n", `spec.encryption.type must be AES256 or KMS, not "KMS2"`},
		{head + "spec: {encryption: {type: AES256, kmsKey: k}}\n", "spec.encryption.kmsKey needs type KMS"},
		{head + "spec: {scan: true}\n", `unknown field "scan"`},
		{head + "spec: {lifecyclePolicy: '{rules'}\n", "spec.lifecyclePolicy: not a JSON object"},
		{head + "spec: {repositoryPolicy: [1]}\n", "spec.repositoryPolicy: not a JSON object"},
		{head + "spec: {tags: {'': x}}\n", `spec.tags: key ""`},
	} {
		_, err := ecr.ParseSettings([]byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: error %v, want %q", tc.doc, err, tc.err)
		}
	}
	path := filepath.Join(t.TempDir(), "settings.yaml")
	os.WriteFile(path, []byte(head+"spec: {imageTagMutability: x}\n"), 0o600)
	if _, err := ecr.ReadSettings(path); err == nil || !strings.HasPrefix(err.Error(), "repository settings "+path+": ") {
		t.Errorf("ReadSettings: %v, want the file named", err)
	}
}
