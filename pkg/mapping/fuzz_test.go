package mapping

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/schemas"
)

// FuzzMappings feeds arbitrary input, in every format, through every
// built-in mapping: reading and mapping never panic, every problem is an
// *InputError or event.Errors, no record is larger than the limit, and
// every event that passes Prepare encodes to an envelope that decodes and
// passes Prepare again unchanged.
func FuzzMappings(f *testing.F) {
	for _, dir := range []string{filepath.Join("..", "..", "schemas", "mappings", "samples"), filepath.Join("testdata", "bad")} {
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte("a,b\n\"x\ny\",\"\"\"\n"))
	set, err := Builtin()
	if err != nil {
		f.Fatal(err)
	}
	const maxBytes = 4 << 10
	f.Fuzz(func(t *testing.T, input []byte) {
		for _, name := range set.Names() {
			m, _ := set.Get(name)
			for _, format := range []Format{JSON, NDJSON, CSV} {
				for rec, err := range m.Read(format, bytes.NewReader(input), maxBytes) {
					var ie *InputError
					var es event.Errors
					switch {
					case errors.As(err, &ie):
						continue
					case err != nil && !errors.As(err, &es):
						t.Fatalf("%s/%s: error %T %v", name, format, err, err)
					case len(rec.Raw) > maxBytes+1:
						t.Fatalf("%s/%s: record of %d bytes", name, format, len(rec.Raw))
					case err != nil:
						continue
					}
					mapped, err := m.Map(rec, "acme", now)
					if err != nil && !errors.As(err, &es) {
						t.Fatalf("%s/%s: map error %T %v", name, format, err, err)
					}
					for _, mp := range mapped {
						if err := mp.Prepare(event.DefaultLimits()); err != nil {
							if !errors.As(err, &es) {
								t.Fatalf("%s/%s: prepare error %T %v", name, format, err, err)
							}
							continue
						}
						b, err := event.Encode(mp.Event)
						if err != nil {
							t.Fatalf("%s/%s: encode: %v", name, format, err)
						}
						back, err := event.Decode(b)
						if err != nil {
							t.Fatalf("%s/%s: decode %s: %v", name, format, b, err)
						}
						if err := event.Prepare(back, event.DefaultLimits()); err != nil {
							t.Fatalf("%s/%s: prepared event fails again: %v\n%s", name, format, err, b)
						}
						again, _ := event.Encode(back)
						if !bytes.Equal(again, b) {
							t.Fatalf("%s/%s: round trip changed the envelope:\n%s\n%s", name, format, b, again)
						}
					}
				}
			}
		}
	})
}

// FuzzParse feeds arbitrary mapping files to the compiler: it never panics,
// and a mapping it accepts can map a record.
func FuzzParse(f *testing.F) {
	files, _ := schemas.Mappings.ReadDir("mappings")
	for _, file := range files {
		b, _ := schemas.Mappings.ReadFile("mappings/" + file.Name())
		f.Add(b)
	}
	f.Add([]byte(base))
	f.Fuzz(func(t *testing.T, spec []byte) {
		m, err := Parse(spec)
		if err != nil {
			return
		}
		for rec, err := range m.Read(JSON, bytes.NewReader([]byte(`{"a":"1","b":{"c":[1,2]}}`)), 1<<10) {
			if err == nil {
				_, _ = m.Map(rec, "acme", now)
			}
		}
	})
}
