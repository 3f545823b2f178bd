package manifest

import (
	"bytes"
	"path"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Images passed to the programs that containers run: an operator deploys
// the images it is given in its environment and on its command line,
// later, where no manifest shows them. The walk reads, in every container
// of a pod spec:
//
//   - the value of each variable "RELATED_IMAGE_*" of env, the convention
//     of the Operator Lifecycle Manager for disconnected installs
//     (built in);
//   - the value of each variable whose name matches a pattern of
//     spec.imageValues ("env: *_IMAGE");
//   - the value of each flag of spec.imageValues ("arg: --executor-image")
//     in command and args, written "--flag=image" or "--flag image", in
//     one argument or as the next one. Only the image is rewritten: the
//     rest of the argument stays byte for byte.
//
// These images are not the container's own: its pull policy does not
// apply to them.

// relatedImage is the prefix of OLM's variables that name images.
const relatedImage = "RELATED_IMAGE_"

// containerValues adds the images of the env and the arguments of the
// container whose pairs are entry, at path at. f describes the container.
func (w *walker) containerValues(entry []pair, at Path, f Field, on way) {
	for _, p := range entry {
		switch p.key.Value {
		case "env":
			w.envValues(p, at, f, on)
		case "command", "args":
			if len(w.walk.args) > 0 {
				w.argValues(p, at, f, on)
			}
		}
	}
}

// envValues adds the values of the variables of the env list p that hold
// images.
func (w *walker) envValues(p pair, at Path, f Field, on way) {
	list, on := w.at(p.value, through(p, on))
	if list.Kind != yaml.SequenceNode {
		return
	}
	for i, item := range list.Content {
		item, on := w.at(item, on)
		if item.Kind != yaml.MappingNode {
			continue
		}
		ps := w.pairs(item)
		name := scalar(value(ps, "name"))
		found := w.walk.envFound(name)
		if found == "" {
			continue
		}
		f.List, f.Name, f.Found = "env", name, found
		w.image(ps, "value", "", at.with("env").at(i), f, on)
	}
}

// envFound says how a variable named name is known to hold an image, or
// returns "" when it is not.
func (wk *Walk) envFound(name string) Found {
	if strings.HasPrefix(name, relatedImage) && len(name) > len(relatedImage) {
		return FoundBuiltin
	}
	for _, pattern := range wk.envs {
		if ok, _ := path.Match(pattern, name); ok {
			return FoundDeclared
		}
	}
	return ""
}

// argValues adds the images that the declared flags pass in the list of
// arguments p.
func (w *walker) argValues(p pair, at Path, f Field, on way) {
	list, on := w.at(p.value, through(p, on))
	if list.Kind != yaml.SequenceNode {
		return
	}
	at = at.with(p.key.Value)
	f.List, f.Found = p.key.Value, FoundDeclared
	// next is set when an argument ends with a flag: the next one starts
	// with its image.
	next := false
	for i, item := range list.Content {
		n, on := w.at(item, on)
		if n.Kind != yaml.ScalarNode || notString(n) != nil {
			next = false
			continue
		}
		text := scalar(n)
		start, end, last := w.walk.flagValue(text, next)
		next = last
		if start < 0 {
			continue
		}
		f.Prefix, f.Suffix = text[:start], text[end:]
		w.add(item, at.at(i), f, on)
	}
}

// flagValue finds the image that a declared flag passes in the argument
// s: its start and end, or -1. first says that the argument before ended
// with a flag, so that s starts with its image. last reports that s ends
// with a flag whose image is the next argument. Words are separated by
// white space, as a shell separates them; the first image is taken.
func (wk *Walk) flagValue(s string, first bool) (start, end int, last bool) {
	pending := first
	for i := 0; i < len(s); {
		if isSpace(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && !isSpace(s[j]) {
			j++
		}
		if pending {
			return i, j, false
		}
		word := s[i:j]
		for _, flag := range wk.args {
			if word == flag {
				pending = true
				break
			}
			if v, ok := strings.CutPrefix(word, flag+"="); ok && v != "" {
				return i + len(flag) + 1, j, false
			}
		}
		i = j
	}
	return -1, -1, pending
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// around narrows the edit e, which sets the whole scalar n of data to
// the value want, to the image in it alone: from old, as written, to img.
// So the rest of an argument stays byte for byte as written, escapes and
// all, and not as the edit would quote it again. It keeps e when the
// image does not appear once, written out, in the scalar, or when the
// narrowed scalar would not read as want.
func (l *locator) around(n *yaml.Node, e Edit, data []byte, old, img, want string) Edit {
	written := data[e.Start:e.End]
	at := bytes.Index(written, []byte(old))
	if at < 0 || bytes.Count(written, []byte(old)) != 1 {
		return e
	}
	narrowed := slices.Concat(written[:at], []byte(img), written[at+len(old):])
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0 {
		if string(narrowed) != want || !isPlainString(want) {
			return e
		}
	} else if got, err := l.decode(n, narrowed); err != nil || got != want {
		return e
	}
	return Edit{Start: e.Start + at, End: e.Start + at + len(old), Text: img}
}
