package ecr

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"kmirror.dev/kmirror/pkg/image"
)

// Mode is what an IAM policy lets kmirror do.
type Mode string

// The modes of Policy.
const (
	// ModeVerify checks the mirror with HEAD requests: kmirror verify, and
	// kmirror serve --swap-policy exists.
	ModeVerify Mode = "verify"
	// ModeSync copies into the mirror: kmirror sync.
	ModeSync Mode = "sync"
	// ModeCopyMissing checks the mirror and copies into it: kmirror serve
	// --swap-policy exists --copy-missing.
	ModeCopyMissing Mode = "copy-missing"
)

// Modes are the modes, as --iam-policy takes them.
var Modes = []Mode{ModeVerify, ModeSync, ModeCopyMissing}

// PolicyOptions say what a policy is for.
type PolicyOptions struct {
	Mode Mode
	// Mirrors are the rules' mirror prefixes ("to"), Sources their source
	// prefixes ("from"). Those on ECR registries get statements.
	Mirrors, Sources []string
	// Create adds what creating repositories takes, with Settings.
	Create   bool
	Settings *Settings
}

// statement is one statement of an IAM policy.
type statement struct {
	Sid      string   `json:"Sid"`
	Effect   string   `json:"Effect"`
	Action   []string `json:"Action"`
	Resource []string `json:"Resource"`
}

// Policy is the least an IAM identity needs for o.Mode, as a JSON policy
// document: a token from GetAuthorizationToken (which takes no resource),
// and the actions of the mode on the repositories under the ECR mirror
// prefixes, as ARNs ending in "*". Sources on ECR registries of the same
// partition get the actions that pull them (sync and copy-missing). A
// registry named with --ecr has no account in its name: its ARNs hold "*"
// there, and in the region when none is given.
func (c *Client) Policy(o PolicyOptions) ([]byte, error) {
	if !slices.Contains(Modes, o.Mode) {
		return nil, fmt.Errorf("--iam-policy must be verify, sync or copy-missing, not %q", o.Mode)
	}
	mirrors, partition, err := c.arns(o.Mirrors, "")
	if err != nil {
		return nil, err
	}
	if len(mirrors) == 0 {
		return nil, errors.New("no mirror of the rules is an Amazon ECR registry (<account>.dkr.ecr.<region>.amazonaws.com[.cn]); name any other with --ecr HOST")
	}
	sources, _, err := c.arns(o.Sources, partition)
	if err != nil {
		return nil, err
	}
	st := []statement{{Sid: "GetToken", Action: []string{"ecr:GetAuthorizationToken"}, Resource: []string{"*"}}}
	if o.Mode == ModeVerify {
		st = append(st, statement{Sid: "CheckMirror", Action: []string{"ecr:BatchGetImage"}, Resource: mirrors})
		return encodePolicy(st)
	}
	st = append(st, statement{Sid: "WriteMirror", Resource: mirrors, Action: []string{
		"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:CompleteLayerUpload", "ecr:GetDownloadUrlForLayer",
		"ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart",
	}})
	if o.Create {
		st = append(st, createStatements(mirrors, o.Settings)...)
	}
	if len(sources) > 0 {
		st = append(st, statement{Sid: "PullSources", Resource: sources, Action: []string{
			"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
		}})
	}
	return encodePolicy(st)
}

func createStatements(mirrors []string, s *Settings) []statement {
	create := statement{Sid: "CreateRepositories", Resource: mirrors, Action: []string{"ecr:CreateRepository", "ecr:DescribeRepositories"}}
	if s == nil {
		return []statement{create}
	}
	if len(s.Tags) > 0 {
		create.Action = append(create.Action, "ecr:TagResource")
	}
	if s.LifecyclePolicy != "" {
		create.Action = append(create.Action, "ecr:PutLifecyclePolicy")
	}
	if s.RepositoryPolicy != "" {
		create.Action = append(create.Action, "ecr:SetRepositoryPolicy")
	}
	out := []statement{create}
	if e := s.Encryption; e != nil && e.Type == "KMS" && e.KMSKey != "" {
		key := "*"
		if strings.HasPrefix(e.KMSKey, "arn:") {
			key = e.KMSKey
		}
		out = append(out, statement{Sid: "EncryptRepositories", Resource: []string{key},
			Action: []string{"kms:CreateGrant", "kms:DescribeKey", "kms:RetireGrant"}})
	}
	return out
}

// arns are the repository ARNs of the prefixes on ECR registries, sorted,
// in partition when it is set, and the partition of the first.
func (c *Client) arns(prefixes []string, partition string) ([]string, string, error) {
	var out []string
	for _, s := range prefixes {
		p, err := image.ParsePrefix(s)
		if err != nil {
			return nil, "", err
		}
		reg, ok := c.Lookup(p.Registry)
		if !ok {
			continue
		}
		if partition == "" {
			partition = reg.Partition()
		} else if reg.Partition() != partition {
			continue
		}
		account, region := cmp.Or(reg.Account, "*"), cmp.Or(reg.Region, "*")
		path := strings.Join(p.Path, "/")
		if path != "" {
			path += "/"
		}
		out = append(out, fmt.Sprintf("arn:%s:ecr:%s:%s:repository/%s*", reg.Partition(), region, account, path))
	}
	slices.Sort(out)
	return slices.Compact(out), partition, nil
}

func encodePolicy(st []statement) ([]byte, error) {
	for i := range st {
		st[i].Effect = "Allow"
	}
	b, err := json.MarshalIndent(map[string]any{"Version": "2012-10-17", "Statement": st}, "", "  ")
	return append(b, '\n'), err
}
