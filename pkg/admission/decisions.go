package admission

import (
	"fmt"
	"strings"
	"sync"

	"kmirror.dev/kmirror/pkg/image"
	"kmirror.dev/kmirror/pkg/manifest"
	"kmirror.dev/kmirror/pkg/mirror"
)

// The bounds of the decisions a Handler remembers. A cluster's Pods use a
// few hundred distinct images, some 200 bytes each with the result; when
// more come, the memory starts over. Whoever creates Pods chooses the
// images, so the bound is in bytes, and an invalid or long image is not
// remembered.
const (
	maxDecisionBytes = 1 << 20
	// decisionOverhead is what a remembered decision costs besides its
	// strings: the map entry and the Decision.
	decisionOverhead = 128
)

// decisions remembers the engine's answer for each image. Engine.Decide is
// a pure function of the image, and parsing a reference by the Docker
// grammar is a tenth of the time of a review; the images of a cluster
// repeat from Pod to Pod.
type decisions struct {
	eng *mirror.Engine
	// walk finds the image fields the engine's rules name.
	walk *manifest.Walk
	// prefix is the rules' escape prefix; when there is one, the webhook
	// reads and writes its escape annotation.
	prefix string
	mu     sync.RWMutex
	m      map[string]mirror.Decision
	// bytes is what m holds, counted as remember does.
	bytes int
}

func newDecisions(eng *mirror.Engine) *decisions {
	prefix := eng.Rules().EscapePrefix
	return &decisions{eng: eng, walk: manifest.WalkOf(eng), prefix: prefix, m: map[string]mirror.Decision{}}
}

// maxImageBytes is longer than any image that can be pulled: a host name
// of 253 bytes and a port, a repository path of 255 bytes (the grammar's
// limit), a tag of 128 and a sha512 digest come to some 780. The grammar
// itself does not bound the host.
const maxImageBytes = 1024

// maxRememberedImage is the longest image remembered: a cluster's images
// are some 60 bytes, and a long one costs the memory of many.
const maxRememberedImage = 256

// decide returns eng.Decide(img), except for an image longer than any
// that can be pulled: it is invalid, and the engine is not asked, as its
// error would quote the image twice, and the image is left as it is.
func (c *decisions) decide(img string) mirror.Decision {
	if len(img) > maxImageBytes+len(c.prefix) {
		return mirror.Decision{Image: img, Result: img, Action: mirror.Invalid,
			Err: fmt.Errorf("%w %q: %d bytes, longer than any image that can be pulled", image.ErrInvalid, clip(img, maxEcho), len(img))}
	}
	if len(img) > maxRememberedImage {
		return c.eng.Decide(img)
	}
	c.mu.RLock()
	d, ok := c.m[img]
	c.mu.RUnlock()
	if ok {
		return d
	}
	d = c.eng.Decide(img)
	if d.Action != mirror.Invalid {
		c.remember(d)
	}
	return d
}

// remember keeps d, first forgetting everything when the bound would be
// passed.
func (c *decisions) remember(d mirror.Decision) {
	// The image and what is cut from it share the memory of a whole
	// request.
	key := strings.Clone(d.Image)
	size := len(key) + decisionOverhead
	if d.Changed() {
		d.Result = strings.Clone(d.Result)
		size += len(d.Result)
	} else {
		d.Result = key
	}
	d.Image = key
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[key]; ok {
		return
	}
	if c.bytes+size > maxDecisionBytes {
		clear(c.m)
		c.bytes = 0
	}
	c.m[key] = d
	c.bytes += size
}
