package sentiment

import (
	"strings"
	"testing"
)

// FuzzAnalyze checks the invariants of Analyze on arbitrary bytes.
func FuzzAnalyze(f *testing.F) {
	for _, c := range analyzeCases {
		f.Add(c.text)
	}
	f.Fuzz(func(t *testing.T, text string) {
		r := Analyze(text)
		if r.Score < -1000 || r.Score > 1000 {
			t.Errorf("Score %d out of range", r.Score)
		}
		if r.Label != LabelOf(r.Score) {
			t.Errorf("Label %q does not match Score %d", r.Label, r.Score)
		}
		if r.Positive < 0 || r.Negative < 0 {
			t.Errorf("negative count: %+v", r)
		}
		if r.Positive == 0 && r.Negative == 0 && r.Score != 0 {
			t.Errorf("Score %d without opinion words", r.Score)
		}
		if r.Score != scoreOf(r.Positive, r.Negative) {
			t.Errorf("Score %d does not follow from the counts: %+v", r.Score, r)
		}
		if r.Positive+r.Negative > maxBytes {
			t.Errorf("counts %+v exceed the bytes read", r)
		}
		if again := Analyze(text); again != r {
			t.Errorf("not deterministic: %+v then %+v", r, again)
		}
		if len(text) > maxBytes && Analyze(text[:maxBytes]) != r {
			t.Errorf("bytes after the first %d changed the result", maxBytes)
		}
	})
}

// review is a typical ~200-byte piece of feedback.
const review = "Ordered the blue jacket last week. Delivery wasn't fast and the box " +
	"was a bit damaged, but the jacket itself is excellent: warm, well made, and " +
	"the support team was really friendly. Would recommend! 👍"

func BenchmarkAnalyze(b *testing.B) {
	b.SetBytes(int64(len(review)))
	b.ReportAllocs()
	for b.Loop() {
		Analyze(review)
	}
}

// BenchmarkAnalyzeLong measures the cost ceiling: a 1 MB text, of which only
// the first 10,000 bytes are read.
func BenchmarkAnalyzeLong(b *testing.B) {
	text := strings.Repeat(review+" ", (1<<20)/(len(review)+1))
	b.SetBytes(maxBytes)
	b.ReportAllocs()
	for b.Loop() {
		Analyze(text)
	}
}
