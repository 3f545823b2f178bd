package admission

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"kmirror.dev/kmirror/rules"
)

// RulesWatcher rereads a rules file when it changes and gives the new rules
// to a Handler, without a restart, as CertWatcher does for the
// certificate. The file is polled and compared by content: a ConfigMap
// mounted as a volume is updated by swapping its ..data symlink, which
// file watches follow badly.
//
// A file that does not load (unreadable, half-written, not valid rules,
// over rules.MaxFileBytes, of which no more is read) keeps the rules in
// use; it is logged and counted once per content, and the next poll tries
// again. Reviews in flight finish with the rules they started with.
type RulesWatcher struct {
	file    string
	h       *Handler
	log     *slog.Logger
	metrics *Metrics

	mu sync.Mutex
	// data is the content of the rules in use, bad the last content that
	// did not load, and badErr why.
	data, bad []byte
	badErr    error
}

// NewRulesWatcher loads the rules of file into h, and fails when they do
// not load. log (nil for none) hears of reloads and of files that fail to
// load; metrics (nil for none) count the failures.
func NewRulesWatcher(file string, h *Handler, log *slog.Logger, metrics *Metrics) (*RulesWatcher, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &RulesWatcher{file: file, h: h, log: log, metrics: metrics}
	if _, _, err := w.reload(); err != nil {
		return nil, err
	}
	return w, nil
}

// Reload reads the file and, when it changed and holds valid rules, makes
// the handler decide with them from the next review on. It reports whether
// the rules changed.
func (w *RulesWatcher) Reload() (bool, error) {
	changed, again, err := w.reload()
	if err != nil && !again {
		w.metrics.rulesReloadFailed()
		w.log.Warn("keeping the rules in use", "file", w.file, "error", err.Error())
	}
	return changed, err
}

// reload loads the file when it changed; again reports an error already
// reported, for a content that failed to load before.
func (w *RulesWatcher) reload() (changed, again bool, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	data, err := rules.ReadFile(w.file)
	if err != nil {
		return false, false, fmt.Errorf("reading rules: %w", err)
	}
	switch {
	case w.data != nil && bytes.Equal(data, w.data):
		return false, false, nil
	case w.bad != nil && bytes.Equal(data, w.bad):
		return false, true, w.badErr
	}
	eng, err := rules.Parse(w.file, data)
	if err != nil {
		w.bad, w.badErr = data, err
		return false, false, err
	}
	w.h.SetEngine(eng)
	w.data, w.bad, w.badErr = data, nil, nil
	r := eng.Rules()
	w.log.Info("loaded rules", "file", w.file, "name", r.Name, "mirrors", len(r.Mirrors), "imageFields", len(r.ImageFields))
	for _, msg := range eng.Warnings() {
		w.log.Warn("rules", "file", w.file, "warning", msg)
	}
	return true, false, nil
}

// Watch reloads the file every interval until ctx is done.
func (w *RulesWatcher) Watch(ctx context.Context, interval time.Duration) {
	poll(ctx, interval, func() { _, _ = w.Reload() })
}
