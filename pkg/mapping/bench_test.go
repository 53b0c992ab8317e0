package mapping

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/cxstream/cxstream/pkg/event"
)

// BenchmarkImport reads, maps and prepares the POS samples, per record.
func BenchmarkImport(b *testing.B) {
	set, err := Builtin()
	if err != nil {
		b.Fatal(err)
	}
	pos, _ := set.Get("pos")
	for _, file := range []string{"pos.ndjson", "pos.csv"} {
		input, err := os.ReadFile(filepath.Join("..", "..", "schemas", "mappings", "samples", file))
		if err != nil {
			b.Fatal(err)
		}
		f, _ := FormatOfFile(file)
		b.Run(file, func(b *testing.B) {
			b.ReportAllocs()
			records := 0
			for b.Loop() {
				for rec, err := range pos.Read(f, bytes.NewReader(input), 32<<10) {
					if err != nil {
						b.Fatal(err)
					}
					mapped, err := pos.Map(rec, "acme", now)
					if err != nil {
						b.Fatal(err)
					}
					for _, mp := range mapped {
						if err := mp.Prepare(event.DefaultLimits()); err != nil {
							b.Fatal(err)
						}
					}
					records++
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(records)/1e3, "µs/record")
		})
	}
}
