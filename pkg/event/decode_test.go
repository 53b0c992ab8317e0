package event

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestDecodeTimeFieldErrors: a time field that time.Time does not decode is
// named, whatever its JSON type (time.Time's own error for a non-string
// names no field).
func TestDecodeTimeFieldErrors(t *testing.T) {
	mutate := func(old, repl string) string { return strings.Replace(valid, old, repl, 1) }
	const et, rcv = `"event_time":"2026-03-01T10:00:00.123Z"`, `"received_at":"2026-03-01T10:00:01Z"`
	for _, tc := range []struct {
		name, in, want string
	}{
		{"event_time a number", mutate(et, `"event_time":1700000000`),
			"event_time: must be an RFC 3339 time string, got JSON number"},
		{"received_at a number", mutate(rcv, `"received_at":1700000000`),
			"received_at: must be an RFC 3339 time string, got JSON number"},
		{"received_at an object", mutate(rcv, `"received_at":{"seconds":1}`),
			"received_at: must be an RFC 3339 time string, got JSON object"},
		{"event_time a boolean", mutate(et, `"event_time":true`),
			"event_time: must be an RFC 3339 time string, got JSON boolean"},
		{"event_time an array", mutate(et, `"event_time":["2026-03-01T10:00:00Z"]`),
			"event_time: must be an RFC 3339 time string, got JSON array"},
		{"event_time not RFC 3339", mutate(et, `"event_time":"yesterday"`),
			"event_time: must be an RFC 3339 time string, e.g. 2026-01-02T15:04:05.123Z"},
		{"received_at not RFC 3339", mutate(rcv, `"received_at":"2026-03-01 10:00:01"`),
			"received_at: must be an RFC 3339 time string, e.g. 2026-01-02T15:04:05.123Z"},
		{"both numbers", strings.Replace(mutate(et, `"event_time":1`), rcv, `"received_at":2`, 1),
			"event_time: must be an RFC 3339 time string, got JSON number; received_at: must be an RFC 3339 time string, got JSON number"},
		{"key in other case", mutate(et, `"Event_Time":1700000000`),
			"event_time: must be an RFC 3339 time string, got JSON number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.in))
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %v is not Errors", err)
			}
			if err.Error() != tc.want {
				t.Errorf("error %q, want %q", err, tc.want)
			}
		})
	}
	// null is no time: Prepare says it is required.
	_, err := DecodePrepared([]byte(mutate(et, `"event_time":null`)), DefaultLimits())
	if err == nil || !strings.Contains(err.Error(), "event_time: required") {
		t.Errorf("event_time null: %v", err)
	}
}

// TestDecodeBadUTF8 names the byte offset of the first invalid byte and the
// top-level field that holds it.
func TestDecodeBadUTF8(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"in a top-level string", "{\"event_id\":\"e\xff\"}", "event_id: not valid UTF-8 at byte 14 of the message"},
		{"nested", "{\"event_id\":\"e\",\"properties\":{\"a\":[\"\\\"{\",\"x\xfe\"]}}", "properties: not valid UTF-8 at byte 43 of the message"},
		{"after escapes and valid runes", "{\"ä\\\"\":\"é\",\"name\":\"Caf\xc3\"}", "name: not valid UTF-8 at byte 24 of the message"},
		{"in a key", "{\"event_id\":\"e\",\"na\xffme\":\"x\"}", "message is not valid UTF-8 at byte 19"},
		{"not an object", "[\"\xff\"]", "message is not valid UTF-8 at byte 2"},
		{"bare", "\xff", "message is not valid UTF-8 at byte 0"},
		{"after the object", "{\"a\":1}\xff", "message is not valid UTF-8 at byte 7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.in))
			if err == nil || err.Error() != tc.want {
				t.Errorf("Decode(%q) = %v, want %q", tc.in, err, tc.want)
			}
		})
	}
}

func TestFindBadUTF8(t *testing.T) {
	b := []byte("{\"a\":\"\xff\xff\",\"b\":1,\"c\":{\"d\":\"\xfe\"},\"e\":[\"\xc3\xa9\",\"\xc3\"]}")
	got := FindBadUTF8(b)
	want := []BadUTF8{{Offset: 6, Key: "a"}, {Offset: 26, Key: "c"}, {Offset: 41, Key: "e"}}
	if len(got) != len(want) {
		t.Fatalf("FindBadUTF8 = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] || b[got[i].Offset] < 0x80 {
			t.Errorf("problem %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	// A bad key hides nothing after it.
	b = []byte("{\"k\xff\":\"\xfe\",\"sentAt\":\"\xff\"}")
	if got := FindBadUTF8(b); len(got) != 2 || got[0] != (BadUTF8{Offset: 3}) || got[1] != (BadUTF8{Offset: 20, Key: "sentAt"}) {
		t.Errorf("FindBadUTF8(%q) = %+v", b, got)
	}
	if got := FindBadUTF8([]byte(valid)); len(got) != 0 {
		t.Errorf("valid UTF-8: %+v", got)
	}
}

// FuzzFindBadUTF8: FindBadUTF8 finds something exactly when the input is not
// valid UTF-8, its first find is the first invalid byte, and every find is
// an invalid byte, in order.
func FuzzFindBadUTF8(f *testing.F) {
	f.Add([]byte(valid))
	f.Add([]byte("{\"a\":\"\xff\",\"b\\\"\":[\"\xfe\"],\"\xc3\":1}"))
	f.Add([]byte("[\"\xff\"]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got := FindBadUTF8(b)
		if (len(got) == 0) != utf8.Valid(b) {
			t.Fatalf("FindBadUTF8 = %+v, utf8.Valid %v", got, utf8.Valid(b))
		}
		for i, p := range got {
			if r, size := utf8.DecodeRune(b[p.Offset:]); r != utf8.RuneError || size != 1 {
				t.Fatalf("find %d at %d is not an invalid byte", i, p.Offset)
			}
			if i == 0 && !utf8.Valid(b[:p.Offset]) {
				t.Fatalf("first find at %d is not the first invalid byte", p.Offset)
			}
			if i > 0 && p.Offset <= got[i-1].Offset {
				t.Fatalf("finds out of order: %+v", got)
			}
		}
	})
}

// TestPrepareRejectsReplacementCharacter: a lone surrogate escape decodes
// to U+FFFD, so "u-\ud800" and "u-\udbff" would be one identifier.
func TestPrepareRejectsReplacementCharacter(t *testing.T) {
	for _, v := range []string{`u-\ud800`, `u-\udbff`, `u-\ufffd`, "u-\uFFFD"} {
		e, err := Decode([]byte(`{"event_id":"e","tenant":"t","channel":"web","type":"page","event_time":"2026-01-01T00:00:00Z",` +
			`"received_at":"2026-01-01T00:00:00Z","identifiers":[{"type":"user_id","value":"` + v + `"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		err = Prepare(e, DefaultLimits())
		if err == nil || !strings.Contains(err.Error(), "identifiers[0].value: must not contain U+FFFD") {
			t.Errorf("%s: %v", v, err)
		}
	}
}
