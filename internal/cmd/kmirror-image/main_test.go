package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
)

// TestRunRefuses bad options before building anything: a build would
// take a minute, and a push would fail only at its end.
func TestRunRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"nowhere to put it", []string{"--version", "v1"}, "give --push REF, --oci-layout DIR, or both"},
		{"no version", []string{"--oci-layout", "x"}, "give --version"},
		{"a version that is no tag", []string{"--version", "v1+meta", "--oci-layout", "x"}, `version "v1+meta" is not a valid image tag`},
		{"a platform with a variant", []string{"--version", "v1", "--oci-layout", "x", "--platforms", "linux/arm/v7"}, `platform "linux/arm/v7": want linux/ARCH`},
		{"a push to a digest", []string{"--version", "v1", "--push", "registry.example.com/kmirror@sha256:" + strings.Repeat("a", 64)}, "give a tag, not a digest"},
		{"a bad reference", []string{"--version", "v1", "--push", "Registry.example.com/KMIRROR"}, `parsing image "Registry.example.com/KMIRROR"`},
		{"no CA bundle", []string{"--version", "v1", "--oci-layout", "x", "--ca-bundle", "/no/such.crt"}, "reading the CA bundle: open /no/such.crt: no such file or directory (Debian's ca-certificates puts it at"},
		{"arguments", []string{"--version", "v1", "--oci-layout", "x", "extra"}, `unexpected arguments ["extra"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tc.args, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("run: %v, want %q", err, tc.want)
			}
			if stdout.Len() > 0 || strings.Contains(stderr.String(), "building") {
				t.Errorf("it built something:\n%s%s", stdout.String(), stderr.String())
			}
		})
	}
}

func TestRunHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"-h"}, &stdout, &stderr); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("run -h: %v", err)
	}
	for _, flag := range []string{"-push reference", "-oci-layout directory", "-version", "-created seconds", "-platforms", "-ca-bundle file"} {
		if !strings.Contains(stderr.String(), flag) {
			t.Errorf("the help does not show %s:\n%s", flag, stderr.String())
		}
	}
}

// TestRunBadFlag: the flag package reports a bad flag, and main says no
// more than that.
func TestRunBadFlag(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"--bogus"}, &stdout, &stderr)
	var usage usageError
	if !errors.As(err, &usage) || !strings.Contains(stderr.String(), "flag provided but not defined: -bogus") {
		t.Errorf("run --bogus: %v\n%s", err, stderr.String())
	}
}
