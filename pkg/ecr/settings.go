package ecr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"sigs.k8s.io/yaml"
)

// The apiVersion and kind of a settings file.
const (
	SettingsAPIVersion = "kmirror.dev/v1alpha1"
	SettingsKind       = "ECRRepositorySettings"
)

// Settings are what the repositories kmirror creates are made with, as a
// file of --ecr-repository-settings holds them under spec:
//
//	apiVersion: kmirror.dev/v1alpha1
//	kind: ECRRepositorySettings
//	spec:
//	  imageTagMutability: IMMUTABLE    # or MUTABLE, ECR's default
//	  scanOnPush: true
//	  encryption: {type: KMS, kmsKey: arn:aws:kms:...}   # or {type: AES256}, ECR's default
//	  tags: {team: platform}
//	  lifecyclePolicy: {rules: [...]}  # ECR's lifecycle policy, as YAML or a JSON string
//	  repositoryPolicy: {Version: "2012-10-17", Statement: [...]}
//
// They apply to the repositories kmirror creates; a repository that
// exists is left as it is.
type Settings struct {
	ImageTagMutability string            `json:"imageTagMutability,omitempty"`
	ScanOnPush         bool              `json:"scanOnPush,omitempty"`
	Encryption         *Encryption       `json:"encryption,omitempty"`
	Tags               map[string]string `json:"tags,omitempty"`
	// LifecyclePolicy and RepositoryPolicy are JSON documents.
	LifecyclePolicy  string `json:"-"`
	RepositoryPolicy string `json:"-"`
}

// Encryption is how a repository's images are encrypted at rest.
type Encryption struct {
	// Type is AES256 or KMS.
	Type string `json:"type"`
	// KMSKey is the KMS key's ARN, id or alias, with KMS; without one,
	// ECR uses the AWS managed key.
	KMSKey string `json:"kmsKey,omitempty"`
}

// ReadSettings reads and checks a settings file.
func ReadSettings(path string) (*Settings, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the repository settings: %w", err)
	}
	s, err := ParseSettings(b)
	if err != nil {
		return nil, fmt.Errorf("repository settings %s: %w", path, err)
	}
	return s, nil
}

// ParseSettings reads a settings document, YAML or JSON.
func ParseSettings(b []byte) (*Settings, error) {
	var doc struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   any    `json:"metadata"`
		Spec       struct {
			Settings
			LifecyclePolicy  json.RawMessage `json:"lifecyclePolicy"`
			RepositoryPolicy json.RawMessage `json:"repositoryPolicy"`
		} `json:"spec"`
	}
	if err := yaml.UnmarshalStrict(b, &doc); err != nil {
		return nil, err
	}
	if doc.APIVersion != SettingsAPIVersion || doc.Kind != SettingsKind {
		return nil, fmt.Errorf("apiVersion and kind must be %s and %s, not %q and %q", SettingsAPIVersion, SettingsKind, doc.APIVersion, doc.Kind)
	}
	s := doc.Spec.Settings
	var err error
	if s.LifecyclePolicy, err = policyText("lifecyclePolicy", doc.Spec.LifecyclePolicy); err != nil {
		return nil, err
	}
	if s.RepositoryPolicy, err = policyText("repositoryPolicy", doc.Spec.RepositoryPolicy); err != nil {
		return nil, err
	}
	return &s, s.validate()
}

// policyText is a policy given as a mapping or as a JSON string, as the
// compact JSON text ECR takes.
func policyText(field string, raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var text string
	if json.Unmarshal(raw, &text) == nil {
		raw = json.RawMessage(text)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return "", fmt.Errorf("spec.%s: not a JSON object: %w", field, err)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return "", fmt.Errorf("spec.%s: %w", field, err)
	}
	return b.String(), nil
}

func (s *Settings) validate() error {
	switch s.ImageTagMutability {
	case "", string(types.ImageTagMutabilityMutable), string(types.ImageTagMutabilityImmutable):
	default:
		return fmt.Errorf("spec.imageTagMutability must be MUTABLE or IMMUTABLE, not %q", s.ImageTagMutability)
	}
	if e := s.Encryption; e != nil {
		switch {
		case e.Type != string(types.EncryptionTypeAes256) && e.Type != string(types.EncryptionTypeKms):
			return fmt.Errorf("spec.encryption.type must be AES256 or KMS, not %q", e.Type)
		case e.Type == string(types.EncryptionTypeAes256) && e.KMSKey != "":
			return errors.New("spec.encryption.kmsKey needs type KMS")
		}
	}
	if len(s.Tags) > 50 {
		return fmt.Errorf("spec.tags: ECR takes at most 50 tags, not %d", len(s.Tags))
	}
	for k, v := range s.Tags {
		if k == "" || len(k) > 128 || len(v) > 256 {
			return fmt.Errorf("spec.tags: key %q: keys are 1 to 128 characters, values at most 256", k)
		}
	}
	return nil
}

// createInput is the CreateRepository call that makes repository with s.
func (s *Settings) createInput(registryID *string, repository string) *ecr.CreateRepositoryInput {
	in := &ecr.CreateRepositoryInput{RegistryId: registryID, RepositoryName: aws.String(repository)}
	if s == nil {
		return in
	}
	in.ImageTagMutability = types.ImageTagMutability(s.ImageTagMutability)
	if s.ScanOnPush {
		in.ImageScanningConfiguration = &types.ImageScanningConfiguration{ScanOnPush: true}
	}
	if e := s.Encryption; e != nil {
		in.EncryptionConfiguration = &types.EncryptionConfiguration{EncryptionType: types.EncryptionType(e.Type)}
		if e.KMSKey != "" {
			in.EncryptionConfiguration.KmsKey = aws.String(e.KMSKey)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(s.Tags)) {
		in.Tags = append(in.Tags, types.Tag{Key: aws.String(k), Value: aws.String(s.Tags[k])})
	}
	return in
}
