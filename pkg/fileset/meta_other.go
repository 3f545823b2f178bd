//go:build !unix

package fileset

import "os"

// fileKey puts every file in one bucket, where os.SameFile tells them
// apart.
func fileKey(os.FileInfo) any { return nil }

// keepOwner does nothing where files have no Unix owner.
func keepOwner(*os.File, os.FileInfo) error { return nil }

// mayReplace leaves the answer to the rename.
func mayReplace(string, os.FileInfo) error { return nil }
