package sentiment

import (
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// tokens returns the tokens of text, with "|" standing for a clause mark.
func tokens(text string) []string {
	var out []string
	s := scanner{text: text}
	for tok, ok := s.next(); ok; tok, ok = s.next() {
		if tok.clause {
			out = append(out, "|")
		} else {
			out = append(out, tok.text)
		}
	}
	return out
}

func TestScanner(t *testing.T) {
	cases := []struct {
		text string
		want []string
	}{
		{"", nil},
		{"Hello, World!", []string{"Hello", "|", "World", "|"}},
		{"don't 'quoted' l’avis", []string{"don't", "quoted", "l’avis"}},
		{"'''", nil},
		{"well-made 5/5 x2", []string{"well", "made", "5", "5", "x2"}},
		{"ok :) :-( :D :", []string{"ok", ":)", ":-(", "|", "D", "|"}},
		{"10:30", []string{"10", "|", "30"}},
		{"👍🏽❤️😀", []string{"👍", "❤", "😀"}},
		{"👨\u200d👩\u200d👧", []string{"👨", "👩", "👧"}},
		{"good😀bad", []string{"good", "😀", "bad"}},
		{"a\xffb\xc3", []string{"a", "b"}},
		{"¿Qué? ¡Genial!", []string{"|", "Qué", "|", "|", "Genial", "|"}},
		{"很好。", []string{"很好", "|"}},
		{"नमस्ते दुनिया", []string{"नमस्ते", "दुनिया"}},
		{"e\u0301", []string{"e\u0301"}},
		{"© 2024", []string{"©", "2024"}},
	}
	for _, c := range cases {
		if got := tokens(c.text); !slices.Equal(got, c.want) {
			t.Errorf("tokens(%q) = %q, want %q", c.text, got, c.want)
		}
	}
}

// TestIsWordRune checks the fast path of isWordRune against the definition
// on every code point.
func TestIsWordRune(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		want := unicode.IsLetter(r) || unicode.IsMark(r) || unicode.IsDigit(r) || r == '\'' || r == '’'
		if got := isWordRune(r); got != want {
			t.Fatalf("isWordRune(%U) = %v, want %v", r, got, want)
		}
	}
}

func TestNormalize(t *testing.T) {
	cases := map[string]string{
		"Good":          "good",
		"DON’T":         "don't",
		"PE\u0301SSIMO": "péssimo",
		"Na\u0303o":     "não",
		"c\u0327a":      "ça",
		"u\u0308ber":    "über",
		"x\u0301":       "x\u0301", // no precomposed letter in our table
		"é\u0301":       "é\u0301", // base is not ASCII
		"ÀÉÎÕÜ":         "àéîõü",
		"ΣΟΦΊΑ":         "σοφία",
	}
	var buf [maxWordBytes]byte
	for in, want := range cases {
		got, ok := normalize(in, &buf)
		if !ok || string(got) != want {
			t.Errorf("normalize(%q) = %q, %v, want %q", in, got, ok, want)
		}
	}
	if _, ok := normalize(strings.Repeat("a", maxWordBytes+1), &buf); ok {
		t.Errorf("normalize accepted a word longer than %d bytes", maxWordBytes)
	}
	if got, ok := normalize(strings.Repeat("é", maxWordBytes/2), &buf); !ok || len(got) != maxWordBytes {
		t.Errorf("normalize rejected a word of exactly %d bytes", maxWordBytes)
	}
}

// TestNormalizeIsToLower checks the documented claim that, without
// apostrophes and combining accents, normalize lower-cases as strings.ToLower
// does.
func TestNormalizeIsToLower(t *testing.T) {
	words := []string{
		"HELLO", "İstanbul", "ΣΟΦΊΑ", "Ǆungla", "\u212Aelvin", "ȺȾ", "STRASSE",
		"Straße", "ÆØÅ", "ДОСТАВКА", "ＡＢＣ", "𐐀𐐁",
	}
	var buf [maxWordBytes]byte
	for _, w := range words {
		got, ok := normalize(w, &buf)
		if want := strings.ToLower(w); !ok || string(got) != want {
			t.Errorf("normalize(%q) = %q, want strings.ToLower %q", w, got, want)
		}
	}
}

func TestLongWordIsOrdinary(t *testing.T) {
	// A 70-byte word is not split even though it holds an apostrophe.
	long := "n'" + strings.Repeat("x", 68)
	if r := Analyze(long + " good"); r.Positive != 1 {
		t.Errorf("a long word acted as a negator: %+v", r)
	}
	if r := Analyze("n'" + strings.Repeat("x", 10) + " good"); r.Negative != 1 {
		t.Errorf("a short elided word did not act as a negator: %+v", r)
	}
}

// TestLexiconEntries checks that every entry is written in normalised form,
// is a single token and scores as its weight says when analysed alone.
func TestLexiconEntries(t *testing.T) {
	if n := len(lexicon); n < 300 {
		t.Errorf("lexicon has %d entries, expected several hundred", n)
	}
	for k, w := range lexicon {
		checkEntry(t, k)
		if w != 1 && w != 2 && w != -1 && w != -2 {
			t.Errorf("lexicon[%q] = %d, want ±1 or ±2", k, w)
		}
		if negators[k] || courtesyWords[k] {
			t.Errorf("%q is both an opinion word and a negator or courtesy word", k)
		}
		want := Result{Score: 1000, Label: "positive", Positive: w}
		if w < 0 {
			want = Result{Score: -1000, Label: "negative", Negative: -w}
		}
		if got := Analyze(k); got != want {
			t.Errorf("Analyze(%q) = %+v, want %+v", k, got, want)
		}
	}
}

// TestNegatorEntries checks that every negator negates "good" after it.
func TestNegatorEntries(t *testing.T) {
	for k := range negators {
		checkEntry(t, k)
		if courtesyWords[k] {
			t.Errorf("%q is both a negator and a courtesy word", k)
		}
		text := k + " good" // an elided negator such as "n'" is written attached
		if strings.HasSuffix(k, "'") {
			text = k + "good"
		}
		if r := Analyze(text); r.Negative != 1 || r.Positive != 0 {
			t.Errorf("Analyze(%q) = %+v, want one negated opinion word", text, r)
		}
	}
}

// TestCourtesyEntries checks that every courtesy word cancels "good" before it.
func TestCourtesyEntries(t *testing.T) {
	for k := range courtesyWords {
		checkEntry(t, k)
		if r := Analyze("good " + k); r != (Result{Label: "neutral"}) {
			t.Errorf("Analyze(%q) = %+v, want nothing counted", "good "+k, r)
		}
	}
}

// checkEntry checks that a word-list key is one token in normalised form.
func checkEntry(t *testing.T, k string) {
	t.Helper()
	if !utf8.ValidString(k) || len(k) > maxWordBytes {
		t.Errorf("entry %q: invalid UTF-8 or too long", k)
		return
	}
	var buf [maxWordBytes]byte
	if got, _ := normalize(k, &buf); string(got) != k {
		t.Errorf("entry %q is not in normalised form (%q)", k, got)
	}
	if strings.ContainsFunc(k, unicode.IsMark) {
		t.Errorf("entry %q holds a combining mark; write it precomposed", k)
	}
	if toks := tokens(k); len(toks) != 1 || toks[0] != k && toks[0]+"'" != k {
		t.Errorf("entry %q is not a single token: %q", k, toks)
	}
}
