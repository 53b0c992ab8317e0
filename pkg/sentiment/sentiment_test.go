package sentiment

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// analyzeCase is one row of the table tests: the input and the expected
// counts. Score and Label follow from them (checked against hand-computed
// values in TestScoreOf and TestLabelOf) but are listed for the reader.
type analyzeCase struct {
	name  string
	text  string
	score int
	label string
	pos   int
	neg   int
}

// analyzeCases are shared by TestAnalyze and, as seeds, FuzzAnalyze.
var analyzeCases = []analyzeCase{
	// English.
	{"en strong positive", "This product is excellent!", 1000, "positive", 2, 0},
	{"en strong negative", "Terrible service, the worst experience ever.", -1000, "negative", 0, 4},
	{"en balanced", "Good product but slow delivery", 0, "neutral", 1, 1},
	{"en love great", "I love it, great value", 1000, "positive", 3, 0},
	{"en mixed negative", "Great product, but shipping was slow and the box arrived broken.", -333, "negative", 1, 2},
	{"en mixed positive", "Amazing support, quick and friendly, but the app crashes sometimes", 600, "positive", 4, 1},
	{"en case", "EXCELLENT", 1000, "positive", 2, 0},
	{"en quoted word", "it was 'great'", 1000, "positive", 1, 0},
	{"en no opinion", "I ordered a blue jacket on Tuesday.", 0, "neutral", 0, 0},

	// Negation.
	{"not good", "not good", -1000, "negative", 0, 1},
	{"not bad", "not bad", 1000, "positive", 1, 0},
	{"not very good", "The food was not very good", -1000, "negative", 0, 1},
	{"n't strong", "It isn't terrible", 1000, "positive", 2, 0},
	{"curly apostrophe", "It wasn’t good", -1000, "negative", 0, 1},
	{"no apostrophe", "didnt enjoy it", -1000, "negative", 0, 1},
	{"window third token", "not one bit good", -1000, "negative", 0, 1},
	{"window exceeded", "not even one bit good", 1000, "positive", 1, 0},
	{"window closes after one word", "not good, good", 0, "neutral", 1, 1},
	{"window only first word", "not good good", 0, "neutral", 1, 1},
	{"clause mark closes window", "No, it was terrible.", -1000, "negative", 0, 2},
	{"no problem", "no problem at all", 1000, "positive", 1, 0},
	{"never", "Never again: awful", -1000, "negative", 0, 2},
	{"negations do not cancel", "not never good", -1000, "negative", 0, 1},
	{"nothing", "nothing good to say", -1000, "negative", 0, 1},
	{"without", "worked without problems", 1000, "positive", 1, 0},

	// Spanish.
	{"es positive", "El servicio fue excelente, muy rápido", 1000, "positive", 3, 0},
	{"es negative", "Pésimo servicio, nunca más", -1000, "negative", 0, 2},
	{"es no me gusta", "No me gusta nada", -1000, "negative", 0, 1},
	{"es nada mal", "No está nada mal", 1000, "positive", 1, 0},
	{"es greeting", "Buenos días, el pedido llegó roto", -1000, "negative", 0, 1},
	{"es upper accent", "PÉSIMO", -1000, "negative", 0, 2},
	{"es decomposed accent", "Pe\u0301simo", -1000, "negative", 0, 2},
	{"es decomposed acute", "Ningu\u0301n problema", 1000, "positive", 1, 0},
	{"pt decomposed tilde", "Na\u0303o gostei", -1000, "negative", 0, 1},

	// French.
	{"fr elision", "C'est génial, j'adore !", 1000, "positive", 4, 0},
	{"fr ne pas", "Ce n'est pas bon", -1000, "negative", 0, 1},
	{"fr n'aime pas", "Je n’aime pas", -1000, "negative", 0, 1},
	{"fr pas mal", "Pas mal du tout", 1000, "positive", 1, 0},
	{"fr negative", "Service nul et livraison en retard", -1000, "negative", 0, 3},
	{"fr greeting", "Bonne journée", 0, "neutral", 0, 0},
	{"fr mixed", "Produit parfait mais livraison très lente", 333, "positive", 2, 1},

	// German.
	{"de positive", "Das Essen war sehr gut, der Service freundlich", 1000, "positive", 2, 0},
	{"de negative", "Leider war die Lieferung enttäuschend und das Produkt kaputt", -1000, "negative", 0, 3},
	{"de nicht schlecht", "Nicht schlecht", 1000, "positive", 1, 0},
	{"de greeting kein problem", "Guten Tag, kein Problem", 1000, "positive", 1, 0},
	{"de sharp s", "Großartig!", 1000, "positive", 2, 0},
	{"de umlaut upper", "ENTTÄUSCHEND", -1000, "negative", 0, 1},

	// Portuguese and Italian.
	{"pt positive", "Ótimo atendimento, recomendo", 1000, "positive", 3, 0},
	{"pt negative", "Não gostei, péssimo", -1000, "negative", 0, 3},
	{"pt greeting", "Bom dia, o produto chegou quebrado", -1000, "negative", 0, 1},
	{"it negative", "Non mi è piaciuto, servizio pessimo", -1000, "negative", 0, 3},
	{"it elision", "Ottimo prodotto, un'esperienza bellissima", 1000, "positive", 4, 0},

	// Emoji and emoticons.
	{"emoji", "😀", 1000, "positive", 1, 0},
	{"emoji skin tone", "👍🏽👍🏽", 1000, "positive", 2, 0},
	{"emoji variation selector", "❤️", 1000, "positive", 2, 0},
	{"emoji negative", "😡😡 💩", -1000, "negative", 0, 6},
	{"emoticon", "ok :)", 1000, "positive", 1, 0},
	{"emoticon nose", "late again :-(", -1000, "negative", 0, 2},
	{"emoji negated", "not 👍", -1000, "negative", 0, 1},
	{"emoji in word", "good😀bad", 333, "positive", 2, 1},
	{"emoji in japanese", "最高です😍", 1000, "positive", 2, 0},
	{"mixed emoji near threshold", "Delivery was late 😞 but support was great 😍", 200, "neutral", 3, 2},

	// Thresholds and rounding.
	{"threshold positive", "good good good good good bad bad bad", 250, "positive", 5, 3},
	{"threshold negative", "bad bad bad bad bad good good good", -250, "negative", 3, 5},
	{"below threshold", "good good good good bad bad bad", 143, "neutral", 4, 3},
	{"round half up", strings.Repeat("good ", 17) + strings.Repeat("bad ", 15), 63, "neutral", 17, 15},
	{"round half down", strings.Repeat("good ", 15) + strings.Repeat("bad ", 17), -63, "neutral", 15, 17},

	// Nothing to score.
	{"empty", "", 0, "neutral", 0, 0},
	{"whitespace", " \t\r\n  \u00a0\u3000 ", 0, "neutral", 0, 0},
	{"punctuation only", "... !!! ??? :: --", 0, "neutral", 0, 0},
	{"japanese", "この製品は素晴らしいです。配送も早かった。", 0, "neutral", 0, 0},
	{"chinese", "这个产品很好，服务也很好！", 0, "neutral", 0, 0},
	{"arabic", "المنتج رائع جدا، شكرا لكم", 0, "neutral", 0, 0},
	{"hindi", "यह उत्पाद बहुत अच्छा है", 0, "neutral", 0, 0},
	{"russian", "Отличный продукт, но доставка ужасная", 0, "neutral", 0, 0},

	// Invalid UTF-8.
	{"invalid around word", "\xff\xfegood\xff", 1000, "positive", 1, 0},
	{"invalid splits word", "go\xffod", 0, "neutral", 0, 0},
	{"truncated rune", "bad\xe2\x80", -1000, "negative", 0, 1},
	{"lone continuation bytes", "\x80\x81\x82", 0, "neutral", 0, 0},
	{"replacement character", "\uFFFD not \uFFFD good", -1000, "negative", 0, 1},
}

func TestAnalyze(t *testing.T) {
	for _, c := range analyzeCases {
		t.Run(c.name, func(t *testing.T) {
			want := Result{Score: c.score, Label: c.label, Positive: c.pos, Negative: c.neg}
			if got := Analyze(c.text); got != want {
				t.Errorf("Analyze(%q) = %+v, want %+v", c.text, got, want)
			}
		})
	}
}

func TestScoreOf(t *testing.T) {
	cases := []struct{ pos, neg, want int }{
		{0, 0, 0},
		{1, 0, 1000},
		{0, 1, -1000},
		{1, 1, 0},
		{2, 1, 333},   // 333.33
		{1, 2, -333},  // -333.33
		{5, 1, 667},   // 666.67
		{1, 5, -667},  // -666.67
		{17, 15, 63},  // 62.5, half away from zero
		{15, 17, -63}, // -62.5
		{5, 3, 250},
		{3, 5, -250},
		{4, 3, 143}, // 142.86
	}
	for _, c := range cases {
		if got := scoreOf(c.pos, c.neg); got != c.want {
			t.Errorf("scoreOf(%d, %d) = %d, want %d", c.pos, c.neg, got, c.want)
		}
	}
}

func TestLabelOf(t *testing.T) {
	cases := map[int]string{
		-1000: "negative", -250: "negative", -249: "neutral", 0: "neutral",
		249: "neutral", 250: "positive", 1000: "positive",
	}
	for score, want := range cases {
		if got := LabelOf(score); got != want {
			t.Errorf("LabelOf(%d) = %q, want %q", score, got, want)
		}
	}
}

// TestAnalyzeReadsOnlyPrefix checks that only the first 10,000 bytes count.
func TestAnalyzeReadsOnlyPrefix(t *testing.T) {
	const mb = 1 << 20
	cases := []struct {
		name     string
		text     string
		pos, neg int
	}{
		// 10,000 / len("good ") = 2,000 words, exactly.
		{"words", strings.Repeat("good ", mb/5+1), 2000, 0},
		// 1,111 whole "terrible " and a cut "t".
		{"strong words", strings.Repeat("terrible ", mb/9+1), 0, 2 * 1111},
		// "❤" is 3 bytes: 3,333 hearts with no separator, then a cut one.
		{"dense emoji", strings.Repeat("❤", mb/3+1), 2 * 3333, 0},
		{"after the limit", strings.Repeat(" ", maxBytes) + strings.Repeat("excellent ", mb/10), 0, 0},
		{"word ends at the limit", strings.Repeat(" ", maxBytes-4) + "good", 1, 0},
		{"word cut by the limit", strings.Repeat(" ", maxBytes-3) + "good", 0, 0},
		{"emoji cut by the limit", strings.Repeat(" ", maxBytes-2) + "😀 good", 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := Analyze(c.text)
			if r.Positive != c.pos || r.Negative != c.neg {
				t.Errorf("Analyze(%d bytes) = %+v, want Positive %d, Negative %d", len(c.text), r, c.pos, c.neg)
			}
			if r.Positive+r.Negative > maxBytes {
				t.Errorf("Positive+Negative = %d, more than one per byte read", r.Positive+r.Negative)
			}
		})
	}
}

// TestAnalyzeCourtesy checks the greeting rule, including its interaction
// with the negation window.
func TestAnalyzeCourtesy(t *testing.T) {
	cases := []struct {
		text     string
		pos, neg int
	}{
		{"Good morning", 0, 0},
		{"Best regards, Ann", 0, 0},
		{"Good, morning", 1, 0},            // a clause mark in between
		{"good product morning", 1, 0},     // not directly followed
		{"great morning great", 1, 0},      // only the word before counts
		{"not good morning bad", 1, 0},     // "good" skipped: window 3 → 2 → 1, "bad" negated
		{"not good morning a b bad", 0, 1}, // the window ran out
	}
	for _, c := range cases {
		r := Analyze(c.text)
		if r.Positive != c.pos || r.Negative != c.neg {
			t.Errorf("Analyze(%q) = %+v, want Positive %d, Negative %d", c.text, r, c.pos, c.neg)
		}
	}
}

// TestAnalyzeConcurrent runs Analyze from several goroutines; with -race it
// shows that Analyze shares no mutable state.
func TestAnalyzeConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i, c := range analyzeCases {
				if i%8 != g {
					continue
				}
				if got, want := Analyze(c.text), Analyze(c.text); got != want {
					t.Errorf("Analyze(%q) not deterministic: %+v, %+v", c.text, got, want)
				}
			}
		})
	}
	wg.Wait()
}

func ExampleAnalyze() {
	r := Analyze("The delivery wasn't fast, but the staff were really friendly and helpful! 👍")
	fmt.Printf("%+v\n", r)
	// Output: {Score:500 Label:positive Positive:3 Negative:1}
}
