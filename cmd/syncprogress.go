package cmd

import (
	"fmt"
	"io"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbauerster/cupwriter"
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
		if r.DigestOnly {
			line += " by digest only: " + digestOnlyWhy
		}
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
	start   time.Time
	// bytes counts the bytes done of every image, and done the images
	// done, for the images' bar.
	bytes atomic.Int64
	done  atomic.Int64
	mu    sync.Mutex
	// images holds the bar of each image being copied, and its bytes done.
	images map[mirrorsync.Pair]*imageBar
}

type imageBar struct {
	bar  *mpb.Bar
	done int64
}

func newBars(w io.Writer, images int, opts ...mpb.ContainerOption) *bars {
	b := &bars{start: time.Now(), images: map[mirrorsync.Pair]*imageBar{}}
	// Not mpb.NewWithContext: after Ctrl-C, the copies in flight still
	// report their end, and the bars must take it.
	cw := cupwriter.New(lineStart{w}, false)
	if f, ok := w.(*os.File); ok {
		cw.SetTermFd(int(f.Fd()))
	}
	b.p = mpb.New(append([]mpb.ContainerOption{mpb.WithConsoleWriter(cw), mpb.WithWidth(40)}, opts...)...)
	b.overall = b.p.AddBar(int64(images),
		mpb.BarPriority(math.MaxInt),
		mpb.PrependDecorators(decor.Name("images ", decor.WC{W: 40, C: decor.DindentRight})),
		mpb.AppendDecorators(decor.Any(b.overallText)),
	)
	return b
}

// lineStart starts each frame of the bars at the start of a line. A
// frame begins by moving the cursor up over the last one, keeping its
// column; but the terminal echoes Ctrl-C as "^C" where the cursor is,
// under the last frame, and the next frame would then start two columns
// in, after what was left of the last one.
type lineStart struct{ w io.Writer }

func (l lineStart) Write(p []byte) (int, error) {
	if _, err := io.WriteString(l.w, "\r"); err != nil {
		return 0, err
	}
	return l.w.Write(p)
}

func (b *bars) Started(pair mirrorsync.Pair) {
	start := time.Now()
	bar := b.p.AddBar(0,
		mpb.BarRemoveOnComplete(),
		mpb.PrependDecorators(decor.Name(shorten(pair.Source, 39)+" ", decor.WC{W: 40, C: decor.DindentRight})),
		mpb.AppendDecorators(decor.Any(func(s decor.Statistics) string { return imageText(s, start) })),
	)
	b.mu.Lock()
	b.images[pair] = &imageBar{bar: bar}
	b.mu.Unlock()
}

func (b *bars) Progress(pair mirrorsync.Pair, complete, total int64) {
	b.mu.Lock()
	img := b.images[pair]
	if img != nil {
		b.bytes.Add(complete - img.done)
		img.done = complete
	}
	b.mu.Unlock()
	if img != nil {
		img.bar.SetTotal(total, false)
		img.bar.SetCurrent(complete)
	}
}

func (b *bars) Done(r mirrorsync.Result) {
	b.mu.Lock()
	img := b.images[r.Pair]
	delete(b.images, r.Pair)
	b.mu.Unlock()
	if img != nil {
		img.bar.Abort(true)
	}
	fmt.Fprintln(b.p, resultLine(r))
	b.done.Add(1)
	b.overall.Increment()
}

func (b *bars) Wait() {
	// After Ctrl-C some images never started: leave the bar where it is.
	if !b.overall.Completed() {
		b.overall.Abort(false)
	}
	b.p.Wait()
}

// imageText is the figures of an image's bar: bytes done of its size, the
// speed since it started, and the time left at that speed. Until the copy
// knows a size (the registries are being asked what to copy) it says so.
func imageText(s decor.Statistics, start time.Time) string {
	if s.Total <= 0 {
		return "checking"
	}
	return formatBytes(s.Current) + " / " + formatBytes(s.Total) + speedText(s.Current, s.Total-s.Current, time.Since(start))
}

// overallText is the figures of the images' bar: images done of all, the
// bytes done of every image, their speed, and the time left at the pace
// of the images done so far.
func (b *bars) overallText(s decor.Statistics) string {
	text := fmt.Sprintf("%d / %d", s.Current, s.Total)
	bytes, elapsed := b.bytes.Load(), time.Since(b.start)
	if bytes > 0 {
		text += " · " + formatBytes(bytes) + " at " + formatBytes(int64(float64(bytes)/elapsed.Seconds())) + "/s"
	}
	if done, left := b.done.Load(), s.Total-s.Current; done > 0 && left > 0 && !s.Aborted {
		text += " · ETA " + formatDuration(time.Duration(float64(elapsed)/float64(done)*float64(left)))
	}
	return text
}

// speedText is " · 5.2 MB/s · ETA 6s" for done bytes in elapsed with left
// to go; nothing until a speed is known.
func speedText(done, left int64, elapsed time.Duration) string {
	if done <= 0 || elapsed <= 0 {
		return ""
	}
	rate := float64(done) / elapsed.Seconds()
	text := " · " + formatBytes(int64(rate)) + "/s"
	if left > 0 {
		text += " · ETA " + formatDuration(time.Duration(float64(left)/rate*float64(time.Second)))
	}
	return text
}

// formatDuration is d in whole seconds, as "1h2m3s".
func formatDuration(d time.Duration) string {
	return max(d.Round(time.Second), time.Second).String()
}

// shorten cuts s to n runes, keeping its end, where the tag is.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return "…" + string(r[len(r)-n+1:])
}
