package cmd

import (
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"kmirror.dev/kmirror/pkg/mirrorsync"
)

// syncProgress shows a sync as it goes: bars on a terminal, one line per
// image elsewhere, nothing with -q.
type syncProgress interface {
	mirrorsync.Observer
	// Wait returns once everything shown is on the screen.
	Wait()
}

func newSyncProgress(w io.Writer, images int, dryRun, quiet bool) syncProgress {
	switch {
	case quiet, dryRun: // a dry run's report lists every image already
		return quietProgress{}
	case isTerminal(w):
		return newBars(w, images)
	}
	return &lineProgress{w: w}
}

type quietProgress struct{}

func (quietProgress) Started(mirrorsync.Pair)                {}
func (quietProgress) Progress(mirrorsync.Pair, int64, int64) {}
func (quietProgress) Done(mirrorsync.Result)                 {}
func (quietProgress) Wait()                                  {}

// lineProgress prints one line per image as it completes.
type lineProgress struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *lineProgress) Started(mirrorsync.Pair)                {}
func (p *lineProgress) Progress(mirrorsync.Pair, int64, int64) {}
func (p *lineProgress) Wait()                                  {}

func (p *lineProgress) Done(r mirrorsync.Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.w, resultLine(r))
}

// resultLine is one image's line: what became of it, and how much. A
// failure's reason is in the summary at the end, printed once.
func resultLine(r mirrorsync.Result) string {
	line := fmt.Sprintf("%-11s %s -> %s", r.Status, r.Source, r.Target)
	switch r.Status {
	case mirrorsync.Copied:
		line += fmt.Sprintf(" (%s in %.1fs)", formatBytes(r.Bytes), r.Duration.Seconds())
	case mirrorsync.Failed:
		line = oldColor.Sprint(line)
	}
	return line
}

// bars draws a bar of bytes for each image being copied, and one of
// images under them, with mpb; finished images print as lines above.
type bars struct {
	p       *mpb.Progress
	overall *mpb.Bar
	mu      sync.Mutex
	images  map[mirrorsync.Pair]*mpb.Bar
}

func newBars(w io.Writer, images int, opts ...mpb.ContainerOption) *bars {
	// Not mpb.NewWithContext: after Ctrl-C, the copies in flight still
	// report their end, and the bars must take it.
	p := mpb.New(append([]mpb.ContainerOption{mpb.WithOutput(w), mpb.WithWidth(40)}, opts...)...)
	overall := p.AddBar(int64(images),
		mpb.BarPriority(math.MaxInt),
		mpb.PrependDecorators(decor.Name("images ", decor.WC{W: 40, C: decor.DindentRight})),
		mpb.AppendDecorators(decor.CountersNoUnit(" %d / %d")),
	)
	return &bars{p: p, overall: overall, images: map[mirrorsync.Pair]*mpb.Bar{}}
}

func (b *bars) Started(pair mirrorsync.Pair) {
	bar := b.p.AddBar(0,
		mpb.BarRemoveOnComplete(),
		mpb.PrependDecorators(decor.Name(shorten(pair.Source, 39)+" ", decor.WC{W: 40, C: decor.DindentRight})),
		mpb.AppendDecorators(decor.Counters(decor.SizeB1000(0), " % .1f / % .1f")),
	)
	b.mu.Lock()
	b.images[pair] = bar
	b.mu.Unlock()
}

func (b *bars) Progress(pair mirrorsync.Pair, complete, total int64) {
	b.mu.Lock()
	bar := b.images[pair]
	b.mu.Unlock()
	if bar != nil {
		bar.SetTotal(total, false)
		bar.SetCurrent(complete)
	}
}

func (b *bars) Done(r mirrorsync.Result) {
	b.mu.Lock()
	bar := b.images[r.Pair]
	delete(b.images, r.Pair)
	b.mu.Unlock()
	if bar != nil {
		bar.Abort(true)
	}
	fmt.Fprintln(b.p, resultLine(r))
	b.overall.Increment()
}

func (b *bars) Wait() {
	// After Ctrl-C some images never started: leave the bar where it is.
	if !b.overall.Completed() {
		b.overall.Abort(false)
	}
	b.p.Wait()
}

// shorten cuts s to n runes, keeping its end, where the tag is.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return "…" + string(r[len(r)-n+1:])
}
