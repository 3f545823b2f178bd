package mirror

import (
	"fmt"

	"kmirror.dev/kmirror/pkg/image"
)

// aliases are the registries and repositories known to serve the same
// images under several names. Rules that send them to one "to" are what a
// mirror of them wants, as the default rules do; any other two sources
// that share a "to" may have different images of one name, and the mirror
// would hold only one of them.
var aliases = [][]string{
	// k8s.gcr.io named gcr.io/google-containers, and registry.k8s.io took
	// over both in 2023.
	{"k8s.gcr.io/", "registry.k8s.io/", "gcr.io/google-containers/", "gcr.io/google_containers/"},
	// The regional hosts of Container Registry serve the same projects.
	{"gcr.io/", "asia.gcr.io/", "eu.gcr.io/", "us.gcr.io/"},
}

// aliasGroup maps the canonical name of each alias to its group.
var aliasGroup = func() map[string]int {
	m := map[string]int{}
	for i, group := range aliases {
		for _, a := range group {
			p, err := image.ParsePrefix(a)
			if err != nil {
				panic(err)
			}
			m[canonical(p)] = i
		}
	}
	return m
}()

// sameSource reports whether prefixes a and b name the same images.
func sameSource(a, b image.Prefix) bool {
	ka, kb := canonical(a), canonical(b)
	if ka == kb {
		return true
	}
	ga, oka := aliasGroup[ka]
	gb, okb := aliasGroup[kb]
	return oka && okb && ga == gb
}

// sharedTo returns a warning for each rule whose "to" an earlier rule has
// too, from a source that is not the same one under another name.
func sharedTo(mirrors []compiled) []string {
	var out []string
	for j := range mirrors {
		for i := range j {
			a, b := mirrors[i], mirrors[j]
			if canonical(a.to) == canonical(b.to) && !sameSource(a.from, b.from) {
				out = append(out, fmt.Sprintf("mirrors[%d] and mirrors[%d] send %s and %s to the same %s: "+
					"two images of the same name under them would be one image in the mirror", i, j, a.From, b.From, a.To))
				break
			}
		}
	}
	return out
}
