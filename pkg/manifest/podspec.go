package manifest

import "sigs.k8s.io/kustomize/kyaml/yaml"

// podSpecLists are the lists of a pod spec that hold images.
var podSpecLists = [...]string{"containers", "initContainers", "ephemeralContainers", "volumes"}

// lists is a set of podSpecLists, a bit each.
type lists uint8

func listBit(key string) lists {
	for i, l := range podSpecLists {
		if key == l {
			return 1 << i
		}
	}
	return 0
}

func (s lists) has(key string) bool { return s&listBit(key) != 0 }

// look says what the search looks for below a node, besides pod specs.
type look struct {
	// byName: fields found by their name (see infer.go).
	byName bool
	// entry: the node is an entry of a list.
	entry bool
}

// search looks for pod specs below the mapping of pairs ps, the root of
// an object, outside metadata; and with byName, for fields found by name,
// outside status too, which only reports what the cluster runs.
func (w *walker) search(ps []pair, path Path, obj Object, on way, byName bool) {
	if byName {
		w.byName(ps, path, obj, on, false)
	}
	for _, p := range ps {
		if k := p.key.Value; k != "metadata" && isCollection(p.value) {
			w.searchNode(p.value, path.with(k), obj, through(p, on), look{byName: byName && k != "status" && !notByName[k]})
		}
	}
}

// isCollection reports whether n is a mapping or a list: a scalar holds
// no pod spec, and needs no path.
func isCollection(n *yaml.Node) bool {
	n = deref(n)
	return n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode
}

// searchNode looks for pod specs in n and below, and for what l says. A
// mapping with a kind and an apiVersion is an object embedded in another,
// such as a TriggerTemplate's resource templates, and is walked as one.
func (w *walker) searchNode(n *yaml.Node, path Path, obj Object, on way, l look) {
	n, on = w.at(n, on)
	w.enter(on)
	defer w.leave()
	if w.err != nil {
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		if isObject(n) {
			w.object(n, path, on, &obj)
			return
		}
		ps := w.pairs(n)
		if on.shared {
			// The scalars skipped below count too.
			w.step(len(ps))
		}
		taken := w.podSpec(ps, path, obj, on)
		if l.byName {
			w.byName(ps, path, obj, on, l.entry)
		}
		for _, p := range ps {
			if k := p.key.Value; k != "metadata" && !taken.has(k) && isCollection(p.value) {
				w.searchNode(p.value, path.with(k), obj, through(p, on), look{byName: l.byName && !notByName[k]})
			}
		}
	case yaml.SequenceNode:
		if on.shared {
			w.step(len(n.Content))
		}
		for i, item := range n.Content {
			if isCollection(item) && w.err == nil {
				w.searchNode(item, path.at(i), obj, on, look{byName: l.byName, entry: true})
			}
		}
	}
}

// isObject reports whether mapping n is a Kubernetes object: its kind and
// apiVersion are strings.
func isObject(n *yaml.Node) bool {
	return scalar(lookup(n, "kind")) != "" && scalar(lookup(n, "apiVersion")) != ""
}

// podSpec adds the images of the mapping of pairs spec, read as a pod spec
// or a part of one, as a kustomize patch may hold: the image of every
// entry of each container list that is a list of mappings (a schema that
// describes containers is not), and the image volumes of a volumes list.
// It returns the lists it read, which hold no pod spec.
func (w *walker) podSpec(spec []pair, path Path, obj Object, on way) lists {
	var taken lists
	for _, p := range spec {
		list := p.key.Value
		switch bit := listBit(list); {
		case bit == 0:
		case list == "volumes":
			if w.eachEntry(p, path, on, func(entry []pair, at Path, on way) {
				w.imageVolume(entry, at, Field{Object: obj, List: list, Name: scalar(value(entry, "name")), Found: FoundBuiltin}, on)
			}) {
				taken |= bit
			}
		case listOfMappings(p.value):
			w.eachEntry(p, path, on, func(entry []pair, at Path, on way) {
				f := Field{Object: obj, List: list, Name: scalar(value(entry, "name")), Found: FoundBuiltin}
				w.image(entry, "image", "imagePullPolicy", at, f, on)
				w.containerValues(entry, at, f, on)
			})
			taken |= bit
		}
	}
	return taken
}

// listOfMappings reports whether n is a list whose entries are mappings.
func listOfMappings(n *yaml.Node) bool {
	n = deref(n)
	if n.Kind != yaml.SequenceNode {
		return false
	}
	for _, item := range n.Content {
		if deref(item).Kind != yaml.MappingNode {
			return false
		}
	}
	return true
}

// imageVolume adds the image of a volume whose pairs are entry, at path
// at: its image.reference, with the pull policy beside it.
func (w *walker) imageVolume(entry []pair, at Path, f Field, on way) {
	for _, e := range entry {
		if e.key.Value != "image" || isNull(e.value) {
			continue
		}
		if ref, on := w.at(e.value, through(e, on)); ref.Kind == yaml.MappingNode {
			w.image(w.pairs(ref), "reference", "pullPolicy", at.with("image"), f, on)
		}
	}
}

// eachEntry calls fn with the pairs of each mapping in the list that is
// the value of pair p of a mapping at path, and reports whether the value
// is a list.
func (w *walker) eachEntry(p pair, path Path, on way, fn func([]pair, Path, way)) bool {
	list, on := w.at(p.value, through(p, on))
	if list.Kind != yaml.SequenceNode {
		return false
	}
	for i, entry := range list.Content {
		if entry, on := w.at(entry, on); entry.Kind == yaml.MappingNode {
			fn(w.pairs(entry), path.with(p.key.Value).at(i), on)
		}
	}
	return true
}
