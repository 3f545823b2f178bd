package mirrorsync

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// shardPairs makes pairs of repos repositories with tags tags each, on
// two mirror registries, named from n on.
func shardPairs(n, repos, tags int) []Pair {
	var out []Pair
	for r := n; r < n+repos; r++ {
		for tag := range tags {
			src := fmt.Sprintf("quay.io/team%d/app-%d:v%d", r%7, r, tag)
			dst := fmt.Sprintf("mirror-%d.example.com/quay/team%d/app-%d:v%d", r%2, r%7, r, tag)
			out = append(out, Pair{Source: src, Target: dst})
		}
	}
	return out
}

// TestShardPartition: the shards of a list cover every pair exactly once,
// keep each target repository in one shard, and share the list out
// evenly enough.
func TestShardPartition(t *testing.T) {
	pairs := shardPairs(0, 400, 2)
	for _, count := range []int{1, 2, 3, 4, 7} {
		seen := map[Pair]int{}
		repoShard := map[string]int{}
		sizes := make([]int, count)
		for i := range count {
			for _, p := range (Shard{Index: i, Count: count}).Select(pairs) {
				seen[p]++
				sizes[i]++
				repo := TargetRepository(p.Target)
				if s, ok := repoShard[repo]; ok && s != i {
					t.Errorf("%d shards: repository %s is in shards %d and %d", count, repo, s, i)
				}
				repoShard[repo] = i
			}
		}
		for _, p := range pairs {
			if seen[p] != 1 {
				t.Errorf("%d shards: %v is in %d shards, want 1", count, p, seen[p])
			}
		}
		if len(seen) != len(pairs) {
			t.Errorf("%d shards hold %d pairs, want %d", count, len(seen), len(pairs))
		}
		// 400 repositories: a fair share is 400/count each; allow a
		// third either way, over twice the binomial spread.
		fair := 400 * 2 / count
		for i, n := range sizes {
			if n < fair*2/3 || n > fair*4/3 {
				t.Errorf("%d shards: shard %d holds %d pairs, a fair share is %d", count, i, n, fair)
			}
		}
	}
}

// TestShardStable: a list that grows moves no pair to another shard, and a
// shard more moves only the pairs that the new shard takes.
func TestShardStable(t *testing.T) {
	before := shardPairs(0, 300, 2)
	after := append(shardPairs(1000, 100, 2), before...) // new pairs first: order does not matter
	for _, count := range []int{2, 5} {
		for i := range count {
			s := Shard{Index: i, Count: count}
			grown := map[Pair]bool{}
			for _, p := range s.Select(after) {
				grown[p] = true
			}
			for _, p := range s.Select(before) {
				if !grown[p] {
					t.Errorf("shard %s lost %v when the list grew", s, p)
				}
			}
		}
	}
	moved := 0
	for _, p := range before {
		old, now := ShardOf(p, 4), ShardOf(p, 5)
		if old != now {
			moved++
			if now != 4 {
				t.Errorf("%v moved from shard %d to %d, not to the new shard 4", p, old, now)
			}
		}
	}
	if moved == 0 || moved > len(before)/3 {
		t.Errorf("going from 4 shards to 5 moved %d of %d pairs; about a fifth should move", moved, len(before))
	}
}

// TestShardRepository: the spellings of one repository are one
// repository, and tags and digests of it go together.
func TestShardRepository(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"nginx:1", "docker.io/library/nginx:2"},
		{"index.docker.io/library/nginx@sha256:" + strings.Repeat("a", 64), "nginx:1.25"},
		{"mirror.example.com/hub/app:1", "mirror.example.com/hub/app:2@sha256:" + strings.Repeat("b", 64)},
	} {
		if a, b := TargetRepository(tc.a), TargetRepository(tc.b); a != b {
			t.Errorf("%s is in %s and %s in %s", tc.a, a, tc.b, b)
		}
	}
}

func TestParseShard(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Shard
		err  string
	}{
		{in: "0/1", want: Shard{0, 1}},
		{in: "3/4", want: Shard{3, 4}},
		{in: "4/4", err: "the index counts from 0"},
		{in: "-1/4", err: "the index counts from 0"},
		{in: "0/0", err: "the index counts from 0"},
		{in: "1", err: "is not INDEX/COUNT"},
		{in: "a/b", err: "is not INDEX/COUNT"},
		{in: "$(JOB_COMPLETION_INDEX)/4", err: "is not INDEX/COUNT"},
	} {
		got, err := ParseShard(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: %v, want an error with %q", tc.in, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("%q: %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	if got := (Shard{2, 5}).String(); got != "2/5" {
		t.Errorf("String: %q", got)
	}
	pairs := shardPairs(0, 3, 1)
	if diff := cmp.Diff(pairs, Shard{}.Select(pairs)); diff != "" || !slices.Equal(pairs, (Shard{0, 1}).Select(pairs)) {
		t.Errorf("the whole run selects every pair (-want +got):\n%s", diff)
	}
}
