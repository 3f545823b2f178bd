package jsonnode

import (
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// string parses the string at pos. A string of plain ASCII, the usual
// case, is a slice of data; any other is unquoted as encoding/json does:
// escapes decoded, invalid UTF-8 and lone surrogates replaced by U+FFFD.
func (p *jsonParser) string() (string, error) {
	start := p.pos
	rest := p.data[start+1:]
	if q := strings.IndexByte(rest, '"'); q >= 0 && plainASCII(rest[:q]) {
		p.pos = start + 1 + q + 1
		return rest[:q], nil
	}
	for i := start + 1; i < len(p.data); i++ {
		switch c := p.data[i]; {
		case c == '"':
			p.pos = i + 1
			return unquote(p.data[start+1 : i]), nil
		case c == '\\':
			if !validEscape(p.data[i+1:]) {
				p.pos = i
				return "", p.errorf("invalid escape in a string")
			}
			i++
		case c < 0x20:
			p.pos = i
			return "", p.errorf("control character %q in a string", c)
		}
	}
	return "", p.errEnd()
}

// validEscape reports whether s starts with what may follow a backslash.
func validEscape(s string) bool {
	if s == "" {
		return false
	}
	switch s[0] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return true
	case 'u':
		return len(s) >= 5 && hex4(s[1:5]) >= 0
	}
	return false
}

// unquote decodes the inside of a JSON string whose escapes are valid.
func unquote(s string) string {
	if !strings.ContainsRune(s, '\\') && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			switch e := s[i+1]; e {
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				r := rune(hex4(s[i+2 : i+6]))
				i += 6
				if utf16.IsSurrogate(r) {
					if len(s) >= i+6 && s[i] == '\\' && s[i+1] == 'u' {
						if pair := utf16.DecodeRune(r, rune(hex4(s[i+2:i+6]))); pair != unicode.ReplacementChar {
							b.WriteRune(pair)
							i += 6
							continue
						}
					}
					r = unicode.ReplacementChar
				}
				b.WriteRune(r)
				continue
			default:
				b.WriteByte(e)
			}
			i += 2
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			b.WriteRune(r)
			i += size
		}
	}
	return b.String()
}

// hex4 returns the value of four hex digits, or -1.
func hex4(s string) int {
	v := 0
	for i := range 4 {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		v = v<<4 | int(c)
	}
	return v
}

// plainASCII reports whether s holds printable ASCII and no backslash,
// eight bytes at a time.
func plainASCII(s string) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		bs := x ^ (ones * '\\')
		// A byte of 0x80 or more, under 0x20, or equal to a backslash.
		if x&highs != 0 || (x-ones*0x20)&^x&highs != 0 || (bs-ones)&^bs&highs != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '\\' {
			return false
		}
	}
	return true
}
