package sentiment

import "bytes"

const (
	// maxBytes is how much of a text Analyze reads.
	maxBytes = 10000
	// negationWindow is how many tokens after a negator it reaches.
	negationWindow = 3
	// labelThreshold is the smallest |Score| that is not "neutral".
	labelThreshold = 250
)

// Result is the sentiment of one text.
type Result struct {
	Score              int    // -1000..1000: (positive - negative) / (positive + negative) * 1000, rounded half away from zero; 0 if no opinion word
	Label              string // "positive" (Score >= 250), "negative" (Score <= -250), else "neutral"
	Positive, Negative int    // weighted counts of opinion words found (after negation)
}

// Analyze returns the sentiment of text, computed as the package
// documentation describes. Only the first 10,000 bytes of text are read.
// Analyze never panics, whatever the bytes, and is a pure function of them.
func Analyze(text string) Result {
	if len(text) > maxBytes {
		text = text[:maxBytes]
	}
	var t tally
	s := scanner{text: text}
	for tok, ok := s.next(); ok; tok, ok = s.next() {
		t.token(tok)
	}
	return newResult(t.pos, t.neg)
}

// newResult derives Score and Label from the weighted counts.
func newResult(pos, neg int) Result {
	score := scoreOf(pos, neg)
	return Result{Score: score, Label: LabelOf(score), Positive: pos, Negative: neg}
}

// scoreOf returns (pos - neg) / (pos + neg) * 1000 rounded half away from
// zero, or 0 when pos + neg is 0. pos and neg must not be negative.
func scoreOf(pos, neg int) int {
	total := pos + neg
	if total == 0 {
		return 0
	}
	num := (pos - neg) * 1000
	if num < 0 {
		return -((-2*num + total) / (2 * total))
	}
	return (2*num + total) / (2 * total)
}

// LabelOf returns the label of a score: "positive" at 250 and above,
// "negative" at -250 and below, "neutral" between.
func LabelOf(score int) string {
	switch {
	case score >= labelThreshold:
		return "positive"
	case score <= -labelThreshold:
		return "negative"
	}
	return "neutral"
}

// tally holds the counts while Analyze walks through the tokens.
type tally struct {
	pos, neg int
	window   int          // tokens left in the open negation window; 0 if closed
	last     contribution // the previous token, if it was a counted opinion word
	buf      [maxWordBytes]byte
}

// contribution records a counted opinion word so that it can be taken back.
type contribution struct {
	weight       int // signed weight counted, after negation; 0 for none
	windowBefore int // the negation window before the word
}

// token processes one token from the scanner.
func (t *tally) token(tok token) {
	if tok.clause {
		t.window, t.last = 0, contribution{}
		return
	}
	w, ok := normalize(tok.text, &t.buf)
	if !ok {
		t.term(nil, false, 0)
		return
	}
	t.word(w)
}

// word processes a normalised token, splitting it after its apostrophes
// unless it is a negator or a lexicon entry as a whole.
func (t *tally) word(w []byte) {
	negator, weight := classify(w)
	if negator || weight != 0 || bytes.IndexByte(w, '\'') < 0 {
		t.term(w, negator, weight)
		return
	}
	for len(w) > 0 {
		n := bytes.IndexByte(w, '\'') + 1
		if n == 0 {
			n = len(w)
		}
		negator, weight := classify(w[:n])
		t.term(w[:n], negator, weight)
		w = w[n:]
	}
}

// term processes one term: a token, or a part of a split word.
func (t *tally) term(w []byte, negator bool, weight int) {
	switch {
	case negator:
		t.window, t.last = negationWindow, contribution{}
	case weight != 0:
		t.count(weight)
	default:
		if t.last.weight != 0 && courtesyWords[string(w)] {
			t.takeBack()
		}
		t.skip()
	}
}

// count adds an opinion word's weight, negated if a window is open.
func (t *tally) count(weight int) {
	t.last = contribution{windowBefore: t.window}
	if t.window > 0 {
		weight, t.window = -weight, 0
	}
	if weight > 0 {
		t.pos += weight
	} else {
		t.neg -= weight
	}
	t.last.weight = weight
}

// takeBack undoes the previous opinion word, which turned out to open a
// greeting or sign-off, and treats it as an ordinary token instead.
func (t *tally) takeBack() {
	if w := t.last.weight; w > 0 {
		t.pos -= w
	} else {
		t.neg += w
	}
	t.window = max(t.last.windowBefore-1, 0)
	t.last = contribution{}
}

// skip passes over an ordinary token.
func (t *tally) skip() {
	if t.window > 0 {
		t.window--
	}
	t.last = contribution{}
}

// classify looks a normalised term up in the word lists.
func classify(w []byte) (negator bool, weight int) {
	if isNegator(w) {
		return true, 0
	}
	return false, lexicon[string(w)]
}

// isNegator reports whether w is a negator: listed, or ending in "n't".
func isNegator(w []byte) bool {
	n := len(w)
	return negators[string(w)] || n >= 3 && string(w[n-3:]) == "n't"
}
