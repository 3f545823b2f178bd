package admission

import (
	"errors"
	"fmt"
	"slices"
	"strconv"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/pkg/jsonnode"
	"kmirror.dev/kmirror/pkg/manifest"
	"kmirror.dev/kmirror/pkg/mirror"
)

// Kept says why an image field was left alone without asking the engine.
type Kept string

// The reasons an image is kept.
const (
	// Decided: the engine decided the image.
	Decided Kept = ""
	// SameAsOld: on UPDATE, the container had this image already.
	SameAsOld Kept = "unchanged by the update"
	// EscapedBefore: the escape annotation records this image for the
	// container.
	EscapedBefore Kept = "escaped before"
	// MirrorPod: the object is a mirror Pod, the API server's record of a
	// static Pod that a kubelet runs from a file; the kubelet wants it to
	// match the file, and replaces one that does not.
	MirrorPod Kept = "mirror Pod"
)

// MirrorPodAnnotation marks a mirror Pod.
const MirrorPodAnnotation = "kubernetes.io/config.mirror"

// Unmirrored says why an image the engine sends to the mirror stays as
// written, under the swap policy "exists".
type Unmirrored string

// The reasons an image is not sent to the mirror after all.
const (
	// NotInMirror: the mirror does not hold the image.
	NotInMirror Unmirrored = "not in the mirror"
	// NotChecked: the mirror could not be checked, and the image goes to
	// its source (OnCheckError FromSource).
	NotChecked Unmirrored = "mirror not checked"
)

// Image is one image field of an object and what became of it.
type Image struct {
	manifest.Field
	// Decision is the engine's answer; for a kept image, Result equals
	// Image.
	Decision mirror.Decision
	Kept     Kept
	// Unmirrored says why an image the Decision mirrors stays as written;
	// "" when it does not.
	Unmirrored Unmirrored
	// op is 1 + the index of the image's patch operation, 0 for none.
	op int
}

// rewritten reports whether the image's value changes.
func (img *Image) rewritten() bool { return img.Unmirrored == "" && img.Decision.Changed() }

// Mutation is the answer for one object.
type Mutation struct {
	// Images lists every image field of the object, in document order.
	Images []Image
	// Warnings are for the user who sent the object: images that are not
	// valid references. There are at most 11: ten, and one that counts
	// the others; each is at most 512 bytes, the images in it cut short.
	Warnings []string
	// more counts the warnings left out of Warnings.
	more int
	ops  []patchOp
}

// trimWarnings keeps the first maxListed warnings, and counts the others.
func (m *Mutation) trimWarnings() {
	if len(m.Warnings) > maxListed {
		m.more += len(m.Warnings) - maxListed
		m.Warnings = slices.Clone(m.Warnings[:maxListed])
	}
}

// listWarnings trims the warnings, and adds a last one that counts those
// left out. Control characters taken from the object are escaped: the API
// server drops a warning that holds one, and kubectl prints the others on
// a terminal.
func (m *Mutation) listWarnings() {
	m.trimWarnings()
	for i, w := range m.Warnings {
		m.Warnings[i] = manifest.Printable(w)
	}
	if m.more > 0 {
		m.Warnings = append(m.Warnings, "and "+strconv.Itoa(m.more)+" more")
		m.more = 0
	}
}

// Rewritten returns the images whose value changes.
func (m *Mutation) Rewritten() []Image {
	var out []Image
	for _, img := range m.Images {
		if img.rewritten() {
			out = append(out, img)
		}
	}
	return out
}

// Patch returns the JSON patch (RFC 6902) that applies the mutation, or nil
// when nothing changes.
func (m *Mutation) Patch() []byte {
	if len(m.ops) == 0 {
		return nil
	}
	return appendPatch(make([]byte, 0, 128*len(m.ops)), m.ops)
}

// forgetTree drops what the images hold of the object's tree, which may
// then be reused or collected: the nodes.
func (m *Mutation) forgetTree() {
	for i := range m.Images {
		m.Images[i].Node, m.Images[i].Site = nil, nil
	}
}

// unmirror leaves the image i as written, for why.
func (m *Mutation) unmirror(i int, why Unmirrored) {
	img := &m.Images[i]
	img.Unmirrored = why
	if img.op > 0 {
		m.ops[img.op-1].Op = ""
		img.op = 0
	}
}

// dropOps drops the operations of the images unmirrored.
func (m *Mutation) dropOps() {
	m.ops = slices.DeleteFunc(m.ops, func(op patchOp) bool { return op.Op == "" })
	for i := range m.Images {
		m.Images[i].op = 0
	}
}

// patchOp is one JSON patch operation.
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// ErrObject is wrapped by the errors of an object that cannot be read.
var ErrObject = errors.New("reading the object")

// Mutate decides every image of object, a JSON object, with eng. old is the
// object before an UPDATE, or nil. It applies the webhook's limits: an
// object over them is an error that wraps ErrTooLarge.
func Mutate(eng *mirror.Engine, object, old []byte) (*Mutation, error) {
	root, err := parseObject(object)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrObject, err)
	}
	var oldRoot *yaml.Node
	if old != nil {
		if oldRoot, err = parseObject(old); err != nil {
			return nil, fmt.Errorf("%w: the old object: %w", ErrObject, err)
		}
	}
	c := newDecisions(eng)
	m, err := mutate(c, root, oldRoot)
	if m != nil {
		m.listWarnings()
	}
	return m, err
}

// mutate decides every image of the object root with c; old is the object
// before an UPDATE, or nil. When the rules do not escape images, the
// escape annotation is neither read nor written. The warnings are
// trimmed, but not yet listed (see listWarnings).
func mutate(c *decisions, root, old *yaml.Node) (*Mutation, error) {
	var before map[containerKey]string
	if old != nil {
		fields, err := imageFields(c.walk, old, "old object")
		if err != nil && errors.Is(err, ErrTooLarge) {
			return nil, err
		}
		// An old object the walk refuses otherwise has no images to
		// compare with.
		before = make(map[containerKey]string, len(fields))
		for _, f := range fields {
			before[keyOf(f)] = f.Value()
		}
	}
	fields, err := imageFields(c.walk, root, "object")
	if errors.Is(err, ErrTooLarge) {
		return nil, err
	}
	m := &Mutation{Images: make([]Image, 0, len(fields))}
	if err != nil {
		m.Warnings = append(m.Warnings, clipMessage(fmt.Sprintf("kmirror: %v; no image rewritten", err)))
		return m, nil
	}
	if isMirrorPod(root) {
		for _, f := range fields {
			img := f.Value()
			m.Images = append(m.Images, Image{Field: f, Decision: mirror.Decision{Image: img, Result: img, Action: mirror.NoRule}, Kept: MirrorPod})
		}
		return m, nil
	}
	mem := newMemory(root, c.prefix != "")
	ptrs := &pointers{root: root}
	for _, f := range fields {
		img := f.Value()
		d := mirror.Decision{Image: img, Result: img, Action: mirror.NoRule}
		kept, op := Decided, 0
		prev, ok := before[keyOf(f)]
		switch {
		case f.NotString == nil && ok && prev == img:
			kept = SameAsOld
		case f.NotString == nil && mem.recorded(f, img):
			kept = EscapedBefore
		default:
			d = f.Decide(c.decide)
		}
		if d.Action == mirror.Invalid {
			what := "left unchanged"
			if d.Changed() {
				what = "escape prefix removed"
			}
			m.Warnings = append(m.Warnings, clipMessage(fmt.Sprintf("kmirror: %s: %v; %s", f.Path, d.Err, what)))
		}
		if d.Changed() {
			if at, err := ptrs.of(f); err != nil {
				m.Warnings = append(m.Warnings, fmt.Sprintf("kmirror: %s: %v; left unchanged", f.Path, err))
				d.Result = d.Image
			} else {
				m.ops = append(m.ops, patchOp{Op: "replace", Path: at, Value: f.Text(d.Result)})
				op = len(m.ops)
			}
		}
		mem.keep(f, d)
		m.Images = append(m.Images, Image{Field: f, Decision: d, Kept: kept, op: op})
	}
	m.Warnings = append(m.Warnings, mem.warnings...)
	ops, err := mem.ops()
	if err != nil {
		m.Warnings = append(m.Warnings, fmt.Sprintf("kmirror: cannot record the escaped images in %s: %v", EscapedAnnotation, err))
	}
	m.ops = append(m.ops, ops...)
	m.trimWarnings()
	return m, nil
}

// imageFields returns the image fields of the object n, what names, or an
// error that wraps ErrTooLarge when there are too many or a path is too
// long.
func imageFields(wk *manifest.Walk, n *yaml.Node, what string) ([]manifest.Field, error) {
	if err := checkImages(n, what); err != nil {
		return nil, err
	}
	fields, err := wk.Images(n)
	if err != nil {
		return nil, err
	}
	if err := checkPaths(fields, what); err != nil {
		return nil, err
	}
	return fields, nil
}

// parseObject parses a JSON object into the node tree the walk reads,
// within the limits of a review.
func parseObject(data []byte) (*yaml.Node, error) {
	n, err := (&jsonnode.Arena{MaxNodes: MaxValues, MaxDepth: MaxDepth}).Parse(data)
	if errors.Is(err, jsonnode.ErrTooManyNodes) || errors.Is(err, jsonnode.ErrTooDeep) {
		return nil, fmt.Errorf("%w: %w", ErrTooLarge, err)
	}
	if err != nil {
		return nil, err
	}
	if n.Kind != yaml.MappingNode {
		return nil, errors.New("not a JSON object")
	}
	return n, nil
}

// isMirrorPod reports whether the object root is a mirror Pod.
func isMirrorPod(root *yaml.Node) bool {
	a := child(root, "metadata")
	if a != nil {
		a = child(a, "annotations")
	}
	return a != nil && child(a, MirrorPodAnnotation) != nil
}

// containerKey names an image field so that it can be found again in
// another version of its object: by pod spec, list, entry name and the
// path in the entry, as entries can move in their lists. An entry without
// a name is named by its path.
type containerKey struct {
	spec, list, name, rest string
}

func keyOf(f manifest.Field) containerKey {
	spec, ok := specPath(f)
	if f.Name == "" || !ok {
		return containerKey{spec: pathKey(f.Path)}
	}
	// The path goes on from the spec with the list and the entry's index.
	return containerKey{spec: pathKey(spec), list: f.List, name: f.Name, rest: pathKey(f.Path[len(spec)+2:])}
}

// specPath returns the path of the pod spec that holds f.
func specPath(f manifest.Field) (manifest.Path, bool) {
	for i := len(f.Path) - 1; i >= 0; i-- {
		if f.Path[i].Key == f.List {
			return f.Path[:i], true
		}
	}
	return nil, false
}
