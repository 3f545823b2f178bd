package admission

import (
	"strings"
	"sync"

	"kmirror.dev/kmirror/pkg/manifest"
	"kmirror.dev/kmirror/pkg/mirror"
)

// maxDecisions bounds the decisions a Handler remembers. A cluster's Pods
// use a few hundred distinct images; when more come, the memory starts
// over.
const maxDecisions = 4096

// decisions remembers the engine's answer for each image. Engine.Decide is
// a pure function of the image, and parsing a reference by the Docker
// grammar is a tenth of the time of a review; the images of a cluster
// repeat from Pod to Pod.
type decisions struct {
	eng *mirror.Engine
	// walk finds the image fields the engine's rules name.
	walk *manifest.Walk
	mu   sync.RWMutex
	m    map[string]mirror.Decision
}

func newDecisions(eng *mirror.Engine) *decisions {
	return &decisions{eng: eng, walk: manifest.WalkOf(eng), m: map[string]mirror.Decision{}}
}

// decide returns eng.Decide(img).
func (c *decisions) decide(img string) mirror.Decision {
	c.mu.RLock()
	d, ok := c.m[img]
	c.mu.RUnlock()
	if ok {
		return d
	}
	d = c.eng.Decide(img)
	// img and what is cut from it share the memory of a whole request.
	key := strings.Clone(img)
	kept := d
	kept.Image, kept.Result = key, strings.Clone(d.Result)
	c.mu.Lock()
	if len(c.m) >= maxDecisions {
		clear(c.m)
	}
	c.m[key] = kept
	c.mu.Unlock()
	return d
}
