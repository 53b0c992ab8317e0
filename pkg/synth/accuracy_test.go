package synth_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cxstream/cxstream/pkg/synth"
)

func TestScore(t *testing.T) {
	// Three people: a (3 identifiers), b (2), c (1): 3 + 1 pairs together.
	truth := map[string]int{"a1": 0, "a2": 0, "a3": 0, "b1": 1, "b2": 1, "c1": 2}
	tests := []struct {
		name                  string
		truth                 map[string]int
		pred                  map[string]string
		want                  synth.Accuracy
		precision, recall, f1 float64
	}{
		{
			name:      "perfect",
			truth:     truth,
			pred:      map[string]string{"a1": "X", "a2": "X", "a3": "X", "b1": "Y", "b2": "Y", "c1": "Z"},
			want:      synth.Accuracy{Items: 6, People: 3, Profiles: 3, TruePairs: 4, PredictedPairs: 4, CorrectPairs: 4},
			precision: 1, recall: 1, f1: 1,
		},
		{
			name:  "over-merge: a and b in one profile",
			truth: truth,
			pred:  map[string]string{"a1": "X", "a2": "X", "a3": "X", "b1": "X", "b2": "X", "c1": "Z"},
			want: synth.Accuracy{Items: 6, People: 3, Profiles: 2, OverMerged: 1, LargestOverMerge: 2,
				TruePairs: 4, PredictedPairs: 10, CorrectPairs: 4},
			precision: 0.4, recall: 1, f1: 2 * 0.4 / 1.4,
		},
		{
			name:  "everything in one profile",
			truth: truth,
			pred:  map[string]string{"a1": "X", "a2": "X", "a3": "X", "b1": "X", "b2": "X", "c1": "X"},
			want: synth.Accuracy{Items: 6, People: 3, Profiles: 1, OverMerged: 1, LargestOverMerge: 3,
				TruePairs: 4, PredictedPairs: 15, CorrectPairs: 4},
			precision: 4.0 / 15, recall: 1, f1: 2 * (4.0 / 15) / (1 + 4.0/15),
		},
		{
			name:  "under-merge: a and b split",
			truth: truth,
			pred:  map[string]string{"a1": "X", "a2": "X", "a3": "W", "b1": "Y", "b2": "V", "c1": "Z"},
			want: synth.Accuracy{Items: 6, People: 3, Profiles: 5, Split: 2, WorstSplit: 2,
				TruePairs: 4, PredictedPairs: 1, CorrectPairs: 1},
			precision: 1, recall: 0.25, f1: 0.4,
		},
		{
			name:  "unresolved items are profiles of their own",
			truth: truth,
			pred:  map[string]string{"a1": "X", "a2": "X", "b1": "Y", "b2": "", "c1": "Z"},
			want: synth.Accuracy{Items: 6, Unresolved: 2, People: 3, Profiles: 3, Split: 2, WorstSplit: 2,
				TruePairs: 4, PredictedPairs: 1, CorrectPairs: 1},
			precision: 1, recall: 0.25, f1: 0.4,
		},
		{
			name:  "over- and under-merge at once",
			truth: truth,
			pred:  map[string]string{"a1": "X", "a2": "X", "a3": "Y", "b1": "Y", "b2": "Y", "c1": "X"},
			// X: a1 a2 c1 (pairs 3, correct 1); Y: a3 b1 b2 (pairs 3, correct 1).
			want: synth.Accuracy{Items: 6, People: 3, Profiles: 2, OverMerged: 2, LargestOverMerge: 2, Split: 1, WorstSplit: 2,
				TruePairs: 4, PredictedPairs: 6, CorrectPairs: 2},
			precision: 2.0 / 6, recall: 0.5, f1: 0.4,
		},
		{
			name:  "predicted items the truth does not list are ignored",
			truth: truth,
			pred: map[string]string{"a1": "X", "a2": "X", "a3": "X", "b1": "Y", "b2": "Y", "c1": "Z",
				"email:test@test.com": "X", "anonymous_id:tablet": "Y"},
			want:      synth.Accuracy{Items: 6, People: 3, Profiles: 3, TruePairs: 4, PredictedPairs: 4, CorrectPairs: 4},
			precision: 1, recall: 1, f1: 1,
		},
		{
			name:      "singletons only",
			truth:     map[string]int{"a": 0, "b": 1},
			pred:      map[string]string{"a": "X", "b": "Y"},
			want:      synth.Accuracy{Items: 2, People: 2, Profiles: 2},
			precision: 1, recall: 1, f1: 1,
		},
		{
			name:      "nothing to score",
			want:      synth.Accuracy{},
			precision: 1, recall: 1, f1: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := synth.Score(tt.truth, tt.pred)
			if got != tt.want {
				t.Errorf("Score =\n %+v, want\n %+v", got, tt.want)
			}
			for _, c := range []struct {
				name      string
				got, want float64
			}{{"precision", got.Precision(), tt.precision}, {"recall", got.Recall(), tt.recall}, {"f1", got.F1(), tt.f1}} {
				if d := c.got - c.want; d > 1e-12 || d < -1e-12 {
					t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
				}
			}
			if perfect := tt.precision == 1 && tt.recall == 1 && got.Unresolved == 0; got.Perfect() != perfect {
				t.Errorf("Perfect() = %v, want %v", got.Perfect(), perfect)
			}
		})
	}
}

// Score counts per cell; enumerating every pair must give the same numbers.
func TestScoreMatchesPairEnumeration(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for round := range 200 {
		n := rng.IntN(40)
		truth := map[string]int{}
		pred := map[string]string{}
		items := make([]string, n)
		for i := range n {
			items[i] = fmt.Sprint("i", i)
			truth[items[i]] = rng.IntN(1 + n/3)
			if rng.IntN(10) > 0 {
				pred[items[i]] = fmt.Sprint("p", rng.IntN(1+n/2))
			}
		}
		var want synth.Accuracy
		for i := range n {
			for j := i + 1; j < n; j++ {
				a, b := items[i], items[j]
				together := truth[a] == truth[b]
				predicted := pred[a] != "" && pred[a] == pred[b]
				if together {
					want.TruePairs++
				}
				if predicted {
					want.PredictedPairs++
				}
				if together && predicted {
					want.CorrectPairs++
				}
			}
		}
		got := synth.Score(truth, pred)
		if got.TruePairs != want.TruePairs || got.PredictedPairs != want.PredictedPairs || got.CorrectPairs != want.CorrectPairs {
			t.Fatalf("round %d: pairs (true %d, predicted %d, correct %d), enumeration says (%d, %d, %d)", round,
				got.TruePairs, got.PredictedPairs, got.CorrectPairs, want.TruePairs, want.PredictedPairs, want.CorrectPairs)
		}
		if got.Items != n {
			t.Fatalf("round %d: %d items, want %d", round, got.Items, n)
		}
	}
}
