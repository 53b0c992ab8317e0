package sentiment

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxWordBytes is the longest normalised token that is looked up in the word
// lists; no entry comes close to it.
const maxWordBytes = 64

// clauseMarks are the punctuation marks that close a negation window.
const clauseMarks = ".,;:!?…¡¿。，；：！？"

// token is one unit of the text as the scanner sees it.
type token struct {
	text   string // the token as it appears in the text; empty for a clause mark
	clause bool   // the token is a clause mark
}

// scanner splits a text into tokens, from the left. The zero value of a
// scanner with text set is ready to use.
type scanner struct {
	text string
	pos  int // byte offset of the next rune to read
}

// next returns the next token, or false at the end of the text.
func (s *scanner) next() (token, bool) {
	for s.pos < len(s.text) {
		rest := s.text[s.pos:]
		r, size := utf8.DecodeRuneInString(rest)
		switch {
		case r == utf8.RuneError && size == 1:
			s.pos++ // invalid UTF-8: skipped, separates tokens
		case isWordRune(r):
			if w := s.word(); w != "" {
				return token{text: w}, true
			}
		case unicode.Is(unicode.So, r):
			s.pos += size
			s.skipEmojiModifiers()
			return token{text: rest[:size]}, true
		case r == ':' && emoticonLen(rest) > 0:
			n := emoticonLen(rest)
			s.pos += n
			return token{text: rest[:n]}, true
		case strings.ContainsRune(clauseMarks, r):
			s.pos += size
			return token{clause: true}, true
		default:
			s.pos += size // space or other separator
		}
	}
	return token{}, false
}

// word consumes a run of word runes and returns it without the apostrophes
// at its ends; the result may be empty.
func (s *scanner) word() string {
	start := s.pos
	for s.pos < len(s.text) {
		r, size := utf8.DecodeRuneInString(s.text[s.pos:])
		if !isWordRune(r) {
			break
		}
		s.pos += size
	}
	return strings.TrimFunc(s.text[start:s.pos], isApostrophe)
}

// skipEmojiModifiers consumes the variation selectors and skin-tone modifiers
// that follow an emoji.
func (s *scanner) skipEmojiModifiers() {
	for s.pos < len(s.text) {
		r, size := utf8.DecodeRuneInString(s.text[s.pos:])
		if r != '\uFE0E' && r != '\uFE0F' && (r < 0x1F3FB || r > 0x1F3FF) {
			return
		}
		s.pos += size
	}
}

// isWordRune reports whether r may be part of a word: a letter, a mark, a
// digit or an apostrophe.
func isWordRune(r rune) bool {
	if r < utf8.RuneSelf { // fast path, same answer
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '\''
	}
	return unicode.IsLetter(r) || unicode.IsMark(r) || unicode.IsDigit(r) || r == '’'
}

// isApostrophe reports whether r is one of the two apostrophes, ' and ’.
func isApostrophe(r rune) bool {
	return r == '\'' || r == '’'
}

// emoticonLen returns the length of the emoticon at the start of s, or 0.
func emoticonLen(s string) int {
	for _, e := range [...]string{":-)", ":-(", ":)", ":("} {
		if strings.HasPrefix(s, e) {
			return len(e)
		}
	}
	return 0
}

// normalize writes the normalised form of tok into buf and returns it:
// lower-cased rune by rune with unicode.ToLower, ’ replaced by ', and common
// combining accents composed with the letter before them. It returns false if
// the result would not fit in buf. tok must be valid UTF-8.
func normalize(tok string, buf *[maxWordBytes]byte) ([]byte, bool) {
	b := buf[:0]
	for _, r := range tok {
		r = unicode.ToLower(r)
		if r == '’' {
			r = '\''
		}
		if n := len(b); n > 0 {
			if c, ok := compose(b[n-1], r); ok {
				b, r = b[:n-1], c
			}
		}
		if len(b)+utf8.RuneLen(r) > len(buf) {
			return nil, false
		}
		b = utf8.AppendRune(b, r)
	}
	return b, true
}

// compose returns the precomposed letter for the ASCII letter base followed
// by the combining mark, if the pair is one the lexicon languages use.
func compose(base byte, mark rune) (rune, bool) {
	var bases, composed string
	switch mark {
	case '\u0300': // grave
		bases, composed = "aeiou", "àèìòù"
	case '\u0301': // acute
		bases, composed = "aeiouy", "áéíóúý"
	case '\u0302': // circumflex
		bases, composed = "aeiou", "âêîôû"
	case '\u0303': // tilde
		bases, composed = "ano", "ãñõ"
	case '\u0308': // diaeresis
		bases, composed = "aeiouy", "äëïöüÿ"
	case '\u0327': // cedilla
		bases, composed = "c", "ç"
	default:
		return 0, false
	}
	i := strings.IndexByte(bases, base)
	if i < 0 {
		return 0, false
	}
	for _, c := range composed {
		if i == 0 {
			return c, true
		}
		i--
	}
	return 0, false // unreachable: bases and composed have the same length
}
