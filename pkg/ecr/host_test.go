package ecr_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"kmirror.dev/kmirror/pkg/ecr"
)

func TestParseHost(t *testing.T) {
	for _, tc := range []struct {
		host      string
		want      ecr.Registry
		ok        bool
		partition string
	}{
		{"048912060910.dkr.ecr.cn-northwest-1.amazonaws.com.cn", ecr.Registry{Account: "048912060910", Region: "cn-northwest-1"}, true, "aws-cn"},
		{"123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", ecr.Registry{Account: "123456789012", Region: "cn-north-1"}, true, "aws-cn"},
		{"602401143452.dkr.ecr.us-west-2.amazonaws.com", ecr.Registry{Account: "602401143452", Region: "us-west-2"}, true, "aws"},
		{"123456789012.dkr.ecr-fips.us-east-1.amazonaws.com", ecr.Registry{Account: "123456789012", Region: "us-east-1", FIPS: true}, true, "aws"},
		{"123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com", ecr.Registry{Account: "123456789012", Region: "us-gov-west-1", FIPS: true}, true, "aws-us-gov"},
		{"123456789012.dkr-ecr.eu-west-1.on.aws", ecr.Registry{Account: "123456789012", Region: "eu-west-1"}, true, "aws"},
		{"public.ecr.aws", ecr.Registry{}, false, ""},
		{"123456789012.dkr.ecr.us-east-1.amazonaws.com:443", ecr.Registry{}, false, ""},
		{"12345.dkr.ecr.us-east-1.amazonaws.com", ecr.Registry{}, false, ""},
		{"123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example", ecr.Registry{}, false, ""},
		{"gcr.io", ecr.Registry{}, false, ""},
	} {
		got, ok := ecr.ParseHost(tc.host)
		if ok {
			tc.want.Host = tc.host
		}
		if ok != tc.ok || !cmp.Equal(tc.want, got) {
			t.Errorf("ParseHost(%q) = %+v, %v; want %+v, %v", tc.host, got, ok, tc.want, tc.ok)
		}
		if ok && got.Partition() != tc.partition {
			t.Errorf("%s: partition %s, want %s", tc.host, got.Partition(), tc.partition)
		}
	}
}

// TestOtherHosts: --ecr marks any host as ECR, in --ecr-region.
func TestOtherHosts(t *testing.T) {
	c, err := ecr.New(ecr.Options{Hosts: []string{"vpce-0a1b.dkr.ecr.cn-north-1.vpce.amazonaws.com.cn", "127.0.0.1:5000"}, Region: "cn-north-1"})
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]ecr.Registry{
		"vpce-0a1b.dkr.ecr.cn-north-1.vpce.amazonaws.com.cn": {Host: "vpce-0a1b.dkr.ecr.cn-north-1.vpce.amazonaws.com.cn", Region: "cn-north-1"},
		"127.0.0.1:5000": {Host: "127.0.0.1:5000", Region: "cn-north-1"},
		"048912060910.dkr.ecr.cn-northwest-1.amazonaws.com.cn": {Host: "048912060910.dkr.ecr.cn-northwest-1.amazonaws.com.cn", Account: "048912060910", Region: "cn-northwest-1"},
	} {
		if got, ok := c.Lookup(host); !ok || got != want {
			t.Errorf("Lookup(%q) = %+v, %v; want %+v", host, got, ok, want)
		}
	}
	if _, ok := c.Lookup("127.0.0.1:5001"); ok {
		t.Error("a host not named is ECR")
	}
	if _, err := ecr.New(ecr.Options{Hosts: []string{"host/path"}}); err == nil || !strings.Contains(err.Error(), `--ecr "host/path" is not a registry host`) {
		t.Errorf("a repository for --ecr: %v", err)
	}
}
