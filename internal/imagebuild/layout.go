package imagebuild

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// refName is the annotation of an OCI layout's index.json that names an
// entry, as `skopeo ... oci:DIR:NAME` reads it.
const refName = "org.opencontainers.image.ref.name"

// WriteLayout writes idx to dir as an OCI image layout whose index.json
// names it tag. The layout is written beside dir and renamed into place,
// so that a failure leaves dir as it was; a layout already at dir is
// replaced whole, and anything else at dir is refused.
func WriteLayout(dir, tag string, idx v1.ImageIndex) error {
	if err := replaceable(dir); err != nil {
		return err
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	p, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return fmt.Errorf("writing OCI layout %s: %w", dir, err)
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{refName: tag})); err != nil {
		return fmt.Errorf("writing OCI layout %s: %w", dir, err)
	}
	if err := readable(tmp); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

// replaceable refuses a dir that holds anything but an OCI layout.
func replaceable(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) || err == nil && len(entries) == 0 {
		return nil
	}
	if err != nil {
		return fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
		return fmt.Errorf("OCI layout %s: the directory holds something else; give an empty or new directory", dir)
	}
	return nil
}

// readable makes the layout readable by all, as files written by hand
// would be: go-containerregistry writes blobs 0600 and index.json 0777
// less the umask.
func readable(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		mode := fs.FileMode(0o644)
		if d.IsDir() {
			mode = 0o755
		}
		return os.Chmod(p, mode)
	})
}
