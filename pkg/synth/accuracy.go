package synth

import (
	"fmt"

	"github.com/cxstream/cxstream/pkg/event"
)

// Accuracy compares a predicted clustering (profiles) of items (identifiers
// or events) with the true one (people), pairwise: a pair of items is
// together in the truth when both belong to one person, and predicted
// together when both are in one profile.
//
// Items without a predicted profile (unresolved) each count as a profile of
// their own for the pairs and for Split, but not in Profiles.
type Accuracy struct {
	// Items is the number of items scored, Unresolved how many of them had
	// no predicted profile.
	Items, Unresolved int
	// People and Profiles are the distinct true and predicted clusters of
	// the scored items.
	People, Profiles int
	// OverMerged counts the profiles holding items of two or more people;
	// LargestOverMerge is the most people one profile holds items of (0 when
	// no profile is over-merged).
	OverMerged, LargestOverMerge int
	// Split counts the people whose items are spread over two or more
	// profiles (or unresolved); WorstSplit is the most profiles one person's
	// items are spread over (0 when nobody is split).
	Split, WorstSplit int
	// TruePairs are the pairs of items of one person, PredictedPairs those
	// in one profile, CorrectPairs those both.
	TruePairs, PredictedPairs, CorrectPairs int64
}

// Precision is the share of the pairs predicted together that truly belong
// together: 1 minus the cost of over-merging. 1 when no pair is predicted
// together.
func (a Accuracy) Precision() float64 {
	if a.PredictedPairs == 0 {
		return 1
	}
	return float64(a.CorrectPairs) / float64(a.PredictedPairs)
}

// Recall is the share of the pairs that truly belong together that are
// predicted together: 1 minus the cost of splitting. 1 when no two items
// belong together.
func (a Accuracy) Recall() float64 {
	if a.TruePairs == 0 {
		return 1
	}
	return float64(a.CorrectPairs) / float64(a.TruePairs)
}

// F1 is the harmonic mean of Precision and Recall.
func (a Accuracy) F1() float64 {
	p, r := a.Precision(), a.Recall()
	if p+r == 0 {
		return 0
	}
	return 2 * p * r / (p + r)
}

// Perfect reports whether the prediction equals the truth.
func (a Accuracy) Perfect() bool {
	return a.CorrectPairs == a.TruePairs && a.CorrectPairs == a.PredictedPairs && a.Unresolved == 0
}

// String is a one-line summary.
func (a Accuracy) String() string {
	return fmt.Sprintf("precision=%.4f recall=%.4f f1=%.4f people=%d profiles=%d over_merged=%d split=%d unresolved=%d",
		a.Precision(), a.Recall(), a.F1(), a.People, a.Profiles, a.OverMerged, a.Split, a.Unresolved)
}

// Score scores a predicted clustering against the truth. truth maps each
// item to its person; only these items are scored. pred maps items to their
// predicted profile id; an item that is missing or maps to "" is
// unresolved. Items of pred that truth does not list (such as junk
// identifiers) are ignored.
//
// It counts the items per (person, profile) cell: the pairs together in
// both are the sum of C(n, 2) over the cells, and likewise per person and
// per profile; no pair is enumerated.
func Score(truth map[string]int, pred map[string]string) Accuracy {
	type profileKey struct {
		id         string
		unresolved string // the item, for an unresolved item's own profile
	}
	type cellKey struct {
		person  int
		profile profileKey
	}
	cells := map[cellKey]int{}
	var a Accuracy
	for item, person := range truth {
		k := profileKey{id: pred[item]}
		if k.id == "" {
			k.unresolved = item
			a.Unresolved++
		}
		cells[cellKey{person, k}]++
		a.Items++
	}
	perPerson := map[int]int{}         // items
	perProfile := map[profileKey]int{} // items
	profilesOf := map[int]int{}        // cells per person
	peopleIn := map[profileKey]int{}   // cells per profile
	for c, n := range cells {
		a.CorrectPairs += pairs(n)
		perPerson[c.person] += n
		perProfile[c.profile] += n
		profilesOf[c.person]++
		peopleIn[c.profile]++
	}
	for _, n := range perPerson {
		a.TruePairs += pairs(n)
	}
	for k, n := range perProfile {
		a.PredictedPairs += pairs(n)
		if k.unresolved == "" {
			a.Profiles++
		}
	}
	a.People = len(perPerson)
	for _, n := range profilesOf {
		if n > 1 {
			a.Split++
			a.WorstSplit = max(a.WorstSplit, n)
		}
	}
	for _, n := range peopleIn {
		if n > 1 {
			a.OverMerged++
			a.LargestOverMerge = max(a.LargestOverMerge, n)
		}
	}
	return a
}

func pairs(n int) int64 { return int64(n) * int64(n-1) / 2 }

// IdentifierTruth maps every identifier that is one person's alone to that
// person's index. Shared identifiers (a household tablet, which a correct
// resolver may put with either user) and junk identifiers are left out.
func (p Population) IdentifierTruth() map[string]int {
	t := map[string]int{}
	for _, person := range p.People {
		for _, id := range person.Identifiers {
			t[id] = person.Index
		}
	}
	return t
}

// ScoreIdentifiers scores a resolver's identity graph: profileOf maps
// identifiers ("type:value") to the profile they belong to.
func (p Population) ScoreIdentifiers(profileOf map[string]string) Accuracy {
	return Score(p.IdentifierTruth(), profileOf)
}

// EventTruth maps every message's id (its event id) to the person who acted.
func (p Population) EventTruth() map[string]int {
	t := make(map[string]int, len(p.Messages))
	for _, m := range p.Messages {
		t[m.ID()] = m.Person
	}
	return t
}

// EventProfiles predicts each message's profile as the profile its
// strongest identifier belongs to, which is where a resolver files the
// event. strongest picks that identifier and skips blocked values (such as
// identity.Policy.Strongest); profileOf maps identifiers ("type:value") to
// profiles. A message whose strongest identifier has no profile is left out
// (unresolved).
func (p Population) EventProfiles(profileOf map[string]string, strongest func([]event.Identifier) (event.Identifier, bool)) (map[string]string, error) {
	pred := make(map[string]string, len(p.Messages))
	for _, m := range p.Messages {
		ids, err := m.Identifiers()
		if err != nil {
			return nil, fmt.Errorf("message %s: %w", m.ID(), err)
		}
		if id, ok := strongest(ids); ok && profileOf[id.String()] != "" {
			pred[m.ID()] = profileOf[id.String()]
		}
	}
	return pred, nil
}

// ScoreEvents scores where a resolver filed the events (see EventProfiles).
// Even a perfect resolver files some events of a shared tablet with the
// other user: an anonymous page view on it names nobody.
func (p Population) ScoreEvents(profileOf map[string]string, strongest func([]event.Identifier) (event.Identifier, bool)) (Accuracy, error) {
	pred, err := p.EventProfiles(profileOf, strongest)
	if err != nil {
		return Accuracy{}, err
	}
	return Score(p.EventTruth(), pred), nil
}
