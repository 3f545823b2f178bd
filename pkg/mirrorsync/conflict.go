package mirrorsync

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"kmirror.dev/kmirror/pkg/image"
)

// ErrConflict is what errors.Is finds in the error of a pair whose target
// another source of the same run also writes, with another digest.
var ErrConflict = errors.New("conflict")

// ConflictError refuses a pair whose target reference another pair of the
// run writes with another image: two sources that the rules send to one
// target, or "repo:1@A" and "repo:1@B" in one list. Copying both would
// leave the mirror with whichever came last, and flip it on every run.
type ConflictError struct {
	// Target is the reference both would write: repo:tag, or repo@digest.
	Target string
	// Others are the other sources that go to Target.
	Others []string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("conflict: %s also goes to %s with another digest; none of them is copied, or the last one copied would win",
		strings.Join(e.Others, ", "), e.Target)
}

// Is makes errors.Is(err, ErrConflict) hold.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// conflicts returns the error of each pair (by index) that is in conflict
// with another, or that could not be checked for one. Pairs conflict when
// they write the same target reference (the tag a copy writes last, else
// the digest) from sources that name different digests. Sources that name
// the same digest do not: "k8s.gcr.io/pause:3.9" and
// "registry.k8s.io/pause:3.9" under rules that share a "to", or "app:1"
// and "app:1@sha256:..." while the tag names that digest. Only the sources
// of a target written by several are asked for their digest, with HEAD
// requests; a pinned source is its digest.
func conflicts(ctx context.Context, h Header, pairs []Pair) map[int]error {
	groups := map[string][]int{}
	var keys []string
	for i, p := range pairs {
		key := writtenRef(p.Target)
		if _, ok := groups[key]; !ok {
			keys = append(keys, key)
		}
		groups[key] = append(groups[key], i)
	}
	errs := map[int]error{}
	for _, key := range keys {
		group := groups[key]
		if len(group) < 2 || sameSource(pairs, group) {
			continue
		}
		digests := map[int]string{}
		distinct := map[string]bool{}
		for _, i := range group {
			d, err := sourceDigest(ctx, h, pairs[i].Source)
			if err != nil {
				errs[i] = err
				continue
			}
			digests[i] = d
			distinct[d] = true
		}
		if len(distinct) < 2 {
			continue
		}
		for i := range digests {
			var others []string
			for _, j := range group {
				if j != i {
					others = append(others, pairs[j].Source)
				}
			}
			errs[i] = &ConflictError{Target: tagOnly(pairs[i].Target), Others: others}
		}
	}
	return errs
}

// sameSource reports whether the pairs of group have one source, written
// in several ways ("nginx:1" and "docker.io/library/nginx:1").
func sameSource(pairs []Pair, group []int) bool {
	first := canonical(pairs[group[0]].Source)
	for _, i := range group[1:] {
		if canonical(pairs[i].Source) != first {
			return false
		}
	}
	return true
}

// sourceDigest is the digest a source names: its pinned digest, or what
// its registry answers for its tag.
func sourceDigest(ctx context.Context, h Header, src string) (string, error) {
	if _, digest, ok := strings.Cut(src, "@"); ok {
		return digest, nil
	}
	desc, err := h.Head(ctx, src)
	if err != nil {
		return "", err
	}
	return desc.Digest.String(), nil
}

// writtenRef is the reference a copy to img writes last, in canonical
// form: the repository and the tag (latest when none is written), or the
// digest of a reference that has no tag.
func writtenRef(img string) string {
	ref, err := image.Parse(img)
	if err != nil {
		return img
	}
	tag, digest, _ := strings.Cut(ref.Suffix, "@")
	tag = strings.TrimPrefix(tag, ":")
	switch {
	case tag != "":
		return ref.Registry + "/" + ref.Repository + ":" + tag
	case digest != "":
		return ref.Registry + "/" + ref.Repository + "@" + digest
	}
	return ref.Registry + "/" + ref.Repository + ":latest"
}

// tagOnly is img without its digest when it has a tag: the reference a
// copy writes last, as written.
func tagOnly(img string) string {
	base, _, _ := strings.Cut(img, "@")
	if strings.LastIndex(base, ":") > strings.LastIndex(base, "/") {
		return base
	}
	return img
}

// canonical is img with its registry and repository in canonical form and
// its tag and digest as written, "latest" when there are none.
func canonical(img string) string {
	ref, err := image.Parse(img)
	if err != nil {
		return img
	}
	suffix := ref.Suffix
	if suffix == "" {
		suffix = ":latest"
	}
	return ref.Registry + "/" + ref.Repository + suffix
}
