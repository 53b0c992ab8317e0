package event

import "testing"

func BenchmarkDecodePrepared(b *testing.B) {
	msg := []byte(valid)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodePrepared(msg, DefaultLimits()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNormalizePhone(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Normalize(IDPhone, "0049 (151) 123-45678")
	}
}

// envelopeIDs are the identifiers of a typical envelope as a client sends
// them: an email in mixed case with stray space, a phone in local
// punctuation, a user id and an anonymous id.
var envelopeIDs = []Identifier{{IDEmail, " Jane.Doe@Example.COM "}, {IDPhone, "+49 (151) 123-45678"},
	{"user_id", "u-12345"}, {"anonymous_id", "5f1c2e7a-9b3d-4e8f-a1b2-c3d4e5f60718"}}

// BenchmarkNormalizeIdentifiers measures normalising a whole envelope's
// identifiers (Normalize per identifier).
func BenchmarkNormalizeIdentifiers(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		for _, id := range envelopeIDs {
			if _, err := Normalize(id.Type, id.Value); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkPrepare measures Prepare on a decoded envelope with those
// identifiers: normalising and deduplicating them, then validating the
// event (what the resolver does to each message after Decode).
func BenchmarkPrepare(b *testing.B) {
	e, err := Decode([]byte(valid))
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]Identifier, len(envelopeIDs))
	b.ReportAllocs()
	for b.Loop() {
		copy(ids, envelopeIDs)
		e.Identifiers = ids
		if err := Prepare(e, DefaultLimits()); err != nil {
			b.Fatal(err)
		}
	}
}
