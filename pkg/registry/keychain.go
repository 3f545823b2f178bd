package registry

import (
	"fmt"
	"os"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// ConfigKeychain finds credentials in one Docker config file, such as the
// .dockerconfigjson of a Kubernetes Secret of type
// kubernetes.io/dockerconfigjson, instead of the default locations. The
// file is read again for each registry it is asked about, so that a
// Secret that is updated in place is followed; a registry the file does
// not name is reached anonymously.
func ConfigKeychain(path string) authn.Keychain { return configKeychain{path} }

type configKeychain struct{ path string }

// Resolve looks the registry up as the default keychain does: by the
// repository, then by the registry, with Docker Hub under its historical
// key.
func (k configKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	cf, err := ReadConfig(k.path)
	if err != nil {
		return nil, err
	}
	for _, key := range []string{target.String(), target.RegistryStr()} {
		if key == name.DefaultRegistry {
			key = authn.DefaultAuthKey
		}
		cfg, err := cf.GetAuthConfig(key)
		if err != nil {
			return nil, fmt.Errorf("reading the credentials for %s in %s: %w", key, k.path, err)
		}
		if cfg.Username != "" || cfg.Password != "" || cfg.Auth != "" || cfg.IdentityToken != "" || cfg.RegistryToken != "" {
			return authn.FromConfig(authn.AuthConfig{
				Username: cfg.Username, Password: cfg.Password, Auth: cfg.Auth,
				IdentityToken: cfg.IdentityToken, RegistryToken: cfg.RegistryToken,
			}), nil
		}
	}
	return authn.Anonymous, nil
}

// ReadConfig reads a Docker config file: {"auths": {"<registry>":
// {"auth": "<base64 user:password>"}}}, as docker login writes it and a
// kubernetes.io/dockerconfigjson Secret holds it.
func ReadConfig(path string) (*configfile.ConfigFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading the registry credentials: %w", err)
	}
	defer f.Close()
	cf, err := config.LoadFromReader(f)
	if err != nil {
		return nil, fmt.Errorf("reading the registry credentials %s: %w", path, err)
	}
	return cf, nil
}
