package chstore

import (
	"encoding/base64"
	"errors"
	"testing"
)

func TestCursorRoundTrip(t *testing.T) {
	for _, c := range []cursor{
		{timeMS: 0, eventID: "e"},
		{timeMS: 1767225600123, eventID: "6f1c1d2e-0000-7000-8000-000000000001"},
		{timeMS: -1, eventID: "id:with:colons and spaces/ünïcode"},
	} {
		t.Run(c.eventID, func(t *testing.T) {
			got, err := decodeCursor(c.encode())
			if err != nil {
				t.Fatalf("decodeCursor(encode(%+v)): %v", c, err)
			}
			if got != c {
				t.Errorf("round trip = %+v, want %+v", got, c)
			}
		})
	}
}

func TestDecodeCursorRejects(t *testing.T) {
	tests := map[string]string{
		"not base64":        "!!!",
		"wrong version":     b64("c0:1:e"),
		"no event id":       b64("c1:1:"),
		"time not a number": b64("c1:x:e"),
		"too few parts":     b64("c1:1"),
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := decodeCursor(in); !errors.Is(err, ErrBadQuery) {
				t.Errorf("decodeCursor(%q) error = %v, want ErrBadQuery", in, err)
			}
		})
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
