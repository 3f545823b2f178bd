package mirrorsync

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"kmirror.dev/kmirror/pkg/image"
)

// Shard is one of Count shares of the pairs of a run, for a run spread
// over several processes: "kmirror sync --shard I/N", and the Indexed Job
// of "kmirror manifests --sync-job", whose Pod I runs shard I.
//
// Pairs are shared by target repository, so that every tag of a
// repository is copied by one process: the blobs its tags share are sent
// once, and a blob of one tag is found by the next. A repository goes to
// the shard that scores highest for it (rendezvous hashing), so its shard
// depends on nothing but its name and Count: the N shards of one list
// cover each pair exactly once, a list that grows moves no pair to
// another shard, and going from N to N+1 shards moves only the pairs that
// the new shard takes.
//
// The zero Shard is the whole run.
type Shard struct {
	// Index is this shard's number, from 0 to Count-1.
	Index int `json:"index"`
	// Count is the number of shards.
	Count int `json:"count"`
}

// ParseShard reads "I/N": shard I of N, 0 <= I < N.
func ParseShard(s string) (Shard, error) {
	i, n, ok := strings.Cut(s, "/")
	index, err1 := strconv.Atoi(i)
	count, err2 := strconv.Atoi(n)
	if !ok || err1 != nil || err2 != nil {
		return Shard{}, fmt.Errorf("shard %q is not INDEX/COUNT, such as 0/4", s)
	}
	if count < 1 || index < 0 || index >= count {
		return Shard{}, fmt.Errorf("shard %q: the index counts from 0 to the count less one, and the count from 1", s)
	}
	return Shard{Index: index, Count: count}, nil
}

// String is the shard as ParseShard reads it.
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// Whole reports whether s is the whole run, not a share of it.
func (s Shard) Whole() bool { return s.Count <= 1 }

// Owns reports whether p is in shard s.
func (s Shard) Owns(p Pair) bool {
	return s.Whole() || ShardOf(p, s.Count) == s.Index
}

// Select returns the pairs of shard s, in their order.
func (s Shard) Select(pairs []Pair) []Pair {
	if s.Whole() {
		return pairs
	}
	var out []Pair
	for _, p := range pairs {
		if s.Owns(p) {
			out = append(out, p)
		}
	}
	return out
}

// ShardOf returns the shard of count that p belongs to.
func ShardOf(p Pair, count int) int {
	key := TargetRepository(p.Target)
	h := fnv.New64a()
	h.Write([]byte(key))
	base := h.Sum64()
	best, bestScore := 0, uint64(0)
	for i := range count {
		if score := mix(base ^ uint64(i+1)*0x9e3779b97f4a7c15); i == 0 || score > bestScore {
			best, bestScore = i, score
		}
	}
	return best
}

// mix is splitmix64's finalizer: FNV alone spreads the scores of close
// inputs badly, and the hash of a repository and a shard number must look
// independent for each shard.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// TargetRepository is the canonical repository of an image, registry
// included, without tag or digest: the unit that shards share out. An
// image that does not parse is its own repository.
func TargetRepository(img string) string {
	ref, err := image.Parse(img)
	if err != nil {
		return img
	}
	return ref.Registry + "/" + ref.Repository
}
