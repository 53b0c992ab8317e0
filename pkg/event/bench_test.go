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
