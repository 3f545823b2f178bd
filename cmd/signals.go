package cmd

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// SignalContext returns a context that the first SIGTERM or SIGINT
// cancels. A second one closes the channel that Aborted returns: a command
// that stops gracefully, as kmirror serve drains its requests, stops at
// once on the second. stop releases the signals.
func SignalContext(parent context.Context) (ctx context.Context, stop func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	abort := make(chan struct{})
	ctx, cancel := context.WithCancel(context.WithValue(parent, abortKey{}, (<-chan struct{})(abort)))
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-done:
			return
		}
		select {
		case <-sigs:
			close(abort)
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel()
	}
}

type abortKey struct{}

// Aborted returns the channel that a second signal closes, or nil when ctx
// is not from SignalContext.
func Aborted(ctx context.Context) <-chan struct{} {
	ch, _ := ctx.Value(abortKey{}).(<-chan struct{})
	return ch
}
