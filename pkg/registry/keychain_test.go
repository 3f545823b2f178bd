package registry

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"kmirror.dev/kmirror/internal/testing/registrytest"
)

func writeConfig(t *testing.T, path, host, user, password string) {
	t.Helper()
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	if err := os.WriteFile(path, []byte(`{"auths":{"`+host+`":{"auth":"`+auth+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestConfigKeychainFollowsTheFile reads the credentials of a registry
// that wants basic auth from a config file, and the new ones once the file
// changes, as a Secret updated in place does.
func TestConfigKeychainFollowsTheFile(t *testing.T) {
	reg := newTestRegistry(t)
	push(t, reg.host+"/team/app:1", registrytest.Spec{Platforms: []string{"linux/amd64"}, Single: true, Layers: 1, LayerSize: 10, Seed: 1})
	password := "first"
	reg.intercept = func(w http.ResponseWriter, r *http.Request) bool {
		if u, p, ok := r.BasicAuth(); ok && u == "bot" && p == password {
			return false
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"who"}]}`, http.StatusUnauthorized)
		return true
	}
	config := filepath.Join(t.TempDir(), ".dockerconfigjson")
	writeConfig(t, config, reg.host, "bot", "first")
	c, err := New(Options{PlainHTTP: []string{reg.host}, ConfigFile: config})
	if err != nil {
		t.Fatal(err)
	}
	p := c.NewProber(0, 0)
	img := reg.host + "/team/app:1"
	if _, err := p.Head(context.Background(), img); err != nil {
		t.Fatalf("with the credentials of the file: %v", err)
	}
	password = "second"
	if _, err := p.Head(context.Background(), img); !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), " in "+config) {
		t.Fatalf("after the password changed: %v, want access denied naming %s", err, config)
	}
	writeConfig(t, config, reg.host, "bot", "second")
	if _, err := p.Head(context.Background(), img); err != nil {
		t.Errorf("with the new credentials of the file: %v", err)
	}
}

func TestConfigKeychainLookups(t *testing.T) {
	config := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(config, []byte(`{"auths":{
		"https://index.docker.io/v1/":{"auth":"`+base64.StdEncoding.EncodeToString([]byte("hub:pw"))+`"},
		"mirror.example.com/team/app":{"username":"team","password":"pw"},
		"mirror.example.com":{"username":"all","password":"pw"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	k := ConfigKeychain(config)
	for ref, want := range map[string]string{
		"nginx":                       "hub",
		"mirror.example.com/team/app": "team",
		"mirror.example.com/other":    "all",
		"quay.io/x":                   "",
	} {
		repo, err := name.NewRepository(ref)
		if err != nil {
			t.Fatal(err)
		}
		a, err := k.Resolve(repo)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := a.Authorization()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Username != want || (want == "") != (a == authn.Anonymous) {
			t.Errorf("%s: user %q, want %q", ref, cfg.Username, want)
		}
	}
	for _, bad := range []string{filepath.Join(t.TempDir(), "none.json"), writeBad(t)} {
		if _, err := ReadConfig(bad); err == nil || !strings.Contains(err.Error(), "reading the registry credentials") {
			t.Errorf("ReadConfig(%s): %v", bad, err)
		}
		if _, err := ConfigKeychain(bad).Resolve(name.MustParseReference("a.io/b").Context()); err == nil {
			t.Errorf("Resolve with %s: no error", bad)
		}
	}
}

func writeBad(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(p, []byte("auths: {}"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
