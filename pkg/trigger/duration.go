package trigger

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written as text in YAML and JSON: Go's
// notation ("90m", "1h", "168h") or whole days in front of it ("7d",
// "1d12h"). It is written back in Go's notation without zero units ("1h",
// "168h", "1h30m").
type Duration time.Duration

// ParseDuration reads a Duration: an optional number of whole days
// ("7d") followed by an optional Go duration ("12h30m").
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	rest := s
	var days int64
	hasDays := false
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil || n < 0 || n > maxDays {
			return 0, fmt.Errorf("duration %q: want whole days before d (at most %d), then e.g. 12h", s, maxDays)
		}
		days, rest, hasDays = n, s[i+1:], true
	}
	var d time.Duration
	if rest != "" || !hasDays {
		var err error
		if d, err = time.ParseDuration(rest); err != nil {
			return 0, fmt.Errorf("duration %q: want e.g. 90m, 1h, 168h or 7d", s)
		}
		if hasDays && d < 0 {
			return 0, fmt.Errorf("duration %q: a negative part after the days", s)
		}
	}
	total := time.Duration(days)*24*time.Hour + d
	if total < d { // overflow
		return 0, fmt.Errorf("duration %q: too long", s)
	}
	return Duration(total), nil
}

// maxDays keeps days*24h within time.Duration.
const maxDays = 100000

// String writes d in Go's notation without zero units: "1h", "168h",
// "1h30m", "90s", "0s".
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// MarshalText writes d as String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads d as ParseDuration does.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
