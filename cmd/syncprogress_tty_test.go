//go:build linux

package cmd

import (
	"bytes"
	"context"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"kmirror.dev/kmirror/pkg/mirrorsync"
)

// openTerminal opens a pseudo-terminal of cols columns: what is written to
// tty comes out of pty, as a terminal emulator reads it, and what is
// written to pty is typed: the line discipline echoes it to the screen,
// Ctrl-C as "^C".
func openTerminal(t *testing.T, cols int) (pty, tty *os.File) {
	t.Helper()
	pty, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("opening a pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { pty.Close() })
	if err := unix.IoctlSetPointerInt(int(pty.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlocking the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(int(pty.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("naming the pseudo-terminal: %v", err)
	}
	tty, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("opening the pseudo-terminal's tty: %v", err)
	}
	if err := unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: uint16(cols)}); err != nil {
		t.Fatalf("sizing the pseudo-terminal: %v", err)
	}
	return pty, tty
}

// screen plays out on a screen of cols columns what a program wrote to a
// terminal: text, line breaks, carriage returns, and the escapes the bars
// use (cursor up, erase below); colours are ignored. It returns the lines,
// trailing blanks cut.
func screen(out []byte, cols int) []string {
	var rows [][]rune
	row, col := 0, 0
	put := func(r rune) {
		for len(rows) <= row {
			rows = append(rows, nil)
		}
		for len(rows[row]) <= col {
			rows[row] = append(rows[row], ' ')
		}
		rows[row][col] = r
		if col++; col >= cols {
			row, col = row+1, 0
		}
	}
	for len(out) > 0 {
		if out[0] == 0x1b && len(out) > 1 && out[1] == '[' {
			end := 2
			for end < len(out) && (out[end] < 0x40 || out[end] > 0x7e) {
				end++
			}
			if end == len(out) {
				break
			}
			n, err := strconv.Atoi(string(out[2:end]))
			if err != nil {
				n = 1
			}
			switch out[end] {
			case 'A':
				row = max(row-n, 0)
			case 'J': // erase from the cursor to the end of the screen
				if row < len(rows) {
					rows[row] = rows[row][:min(col, len(rows[row]))]
					rows = rows[:row+1]
				}
			case 'K':
				if row < len(rows) {
					rows[row] = rows[row][:min(col, len(rows[row]))]
				}
			}
			out = out[end+1:]
			continue
		}
		r, size := utf8.DecodeRune(out)
		out = out[size:]
		switch r {
		case '\r':
			col = 0
		case '\n':
			row++
		default:
			put(r)
		}
	}
	var lines []string
	for _, r := range rows {
		lines = append(lines, strings.TrimRight(string(r), " "))
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// TestBarsOnTerminal draws the bars on a real terminal: an image whose
// size is not known yet says so (never "0 B / 0 B"), one being copied
// shows its bytes, speed and time left, the images' bar the bytes of all;
// and after Ctrl-C, which the terminal echoes as "^C" under the bars, the
// screen holds the result lines and the images' bar, with nothing left
// over.
func TestBarsOnTerminal(t *testing.T) {
	const cols = 160
	pty, tty := openTerminal(t, cols)
	var out syncBuffer
	read := make(chan struct{})
	go func() {
		io.Copy(&out, pty)
		close(read)
	}()
	waitFor := func(what string, ok func(string) bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !ok(out.String()); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %s on the terminal after 20s; it ends:\n%q", what, tail(out.String(), 1000))
			}
		}
	}

	bars := newBars(tty, 3)
	a := mirrorsync.Pair{Source: "src/a:1", Target: "mirror/a:1"}
	b := mirrorsync.Pair{Source: "src/b:1", Target: "mirror/b:1"}
	bars.Started(a)
	bars.Started(b)
	bars.Progress(a, 12e6, 40e6)
	waitFor("bars", func(s string) bool {
		return strings.Contains(s, "checking") && strings.Contains(s, "12.0 MB / 40.0 MB · ")
	})
	pty.Write([]byte{3}) // Ctrl-C
	waitFor("echo of Ctrl-C", func(s string) bool { return strings.Contains(s, "^C") })
	bars.Done(mirrorsync.Result{Pair: a, Status: mirrorsync.Interrupted, Err: context.Canceled})
	bars.Done(mirrorsync.Result{Pair: b, Status: mirrorsync.Interrupted, Err: context.Canceled})
	bars.Wait()
	tty.Close() // pty reads the rest, then fails
	<-read

	raw := out.String()
	for _, bad := range []string{"0 B / 0 B", "0.0 b / 0.0 b", "0 b / 0 b"} {
		if strings.Contains(raw, bad) {
			t.Errorf("the bars showed %q for a size not known yet", bad)
		}
	}
	for _, want := range []string{"MB/s · ETA ", "12.0 MB at "} {
		if !strings.Contains(raw, want) {
			t.Errorf("the bars never showed %q; they end:\n%q", want, tail(raw, 1000))
		}
	}
	lines := screen([]byte(raw), cols)
	if len(lines) != 3 || lines[0] != "interrupted src/a:1 -> mirror/a:1" || lines[1] != "interrupted src/b:1 -> mirror/b:1" ||
		!strings.HasPrefix(lines[2], "images ") || !strings.Contains(lines[2], "2 / 3 · 12.0 MB at ") {
		t.Errorf("the screen after Ctrl-C:\n%s", strings.Join(lines, "\n"))
	}
	if bytes.Contains([]byte(strings.Join(lines, "\n")), []byte("^C")) {
		t.Errorf("the screen kept the echo of Ctrl-C")
	}
}

// tail is the last n bytes of s.
func tail(s string, n int) string { return s[max(len(s)-n, 0):] }
