package mirrorcheck

import (
	"container/list"
	"time"
)

// entryOverhead is what a cached answer costs besides its strings: the
// map entry, the list element and the entry.
const entryOverhead = 160

// cache holds answers until they expire, the least recently used going
// first when a bound is reached. It is not safe for concurrent use.
type cache struct {
	maxEntries, maxBytes int
	bytes                int
	m                    map[string]*list.Element
	// lru holds *entry, the most recently used first.
	lru *list.List
}

type entry struct {
	key string
	res Result
	// set is when the answer was found, expires when it goes.
	set, expires time.Time
}

func (e *entry) size() int { return entryOverhead + len(e.key) + len(e.res.Reason) }

func newCache(maxEntries, maxBytes int) *cache {
	return &cache{maxEntries: maxEntries, maxBytes: maxBytes, m: map[string]*list.Element{}, lru: list.New()}
}

// get returns the answer for key that has not expired at now.
func (c *cache) get(key string, now time.Time) (Result, bool) {
	el, ok := c.m[key]
	if !ok {
		return Result{}, false
	}
	e := el.Value.(*entry)
	if !now.Before(e.expires) {
		c.remove(el)
		return Result{}, false
	}
	c.lru.MoveToFront(el)
	return e.res, true
}

// setAt returns when the answer for key was found, zero when there is
// none.
func (c *cache) setAt(key string) time.Time {
	if el, ok := c.m[key]; ok {
		return el.Value.(*entry).set
	}
	return time.Time{}
}

// put keeps res for key from now for ttl; a ttl of zero or less keeps
// nothing and forgets what there was. key must not share the memory of a
// request.
func (c *cache) put(key string, res Result, now time.Time, ttl time.Duration) {
	if el, ok := c.m[key]; ok {
		c.remove(el)
	}
	if ttl <= 0 {
		return
	}
	e := &entry{key: key, res: res, set: now, expires: now.Add(ttl)}
	if e.size() > c.maxBytes {
		return
	}
	c.m[key] = c.lru.PushFront(e)
	c.bytes += e.size()
	for c.lru.Len() > c.maxEntries || c.bytes > c.maxBytes {
		c.remove(c.lru.Back())
	}
}

func (c *cache) remove(el *list.Element) {
	e := c.lru.Remove(el).(*entry)
	delete(c.m, e.key)
	c.bytes -= e.size()
}

func (c *cache) len() int { return c.lru.Len() }
