package segment

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocs checks docs/segments.md: its YAML examples compile (the shipped
// ones are the defaults), and its error messages are the compiler's.
func TestDocs(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "segments.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(doc, -1)
	if len(blocks) < 3 {
		t.Fatalf("%d yaml blocks", len(blocks))
	}
	defaults, err := Compile(Default())
	if err != nil {
		t.Fatal(err)
	}
	shown := func(s *Set) string {
		var b strings.Builder
		for _, name := range s.Names() {
			g, _ := s.Get(name)
			b.WriteString(strings.Join([]string{name, g.Description(), g.Purpose(), g.Condition()}, " | ") + "\n")
		}
		return b.String()
	}
	for i, m := range blocks {
		y := m[1]
		if !strings.HasPrefix(y, "segments:") {
			y = "segments:\n" + y
		}
		s, err := Parse([]byte(y))
		if err != nil {
			t.Errorf("block %d: %v\n%s", i, err, y)
			continue
		}
		if strings.Contains(y, "# NPS <= 6 in the last 30 days") && shown(s) != shown(defaults) {
			t.Errorf("the shipped examples are\n%s\nthe defaults\n%s", shown(s), shown(defaults))
		}
	}
	errs := regexp.MustCompile("(?s)```\n(segment .*?)```").FindStringSubmatch(doc)
	if errs == nil {
		t.Fatal("no error messages")
	}
	_, err = Parse([]byte(`
segments:
  - name: vip_at_risk
    when:
      all:
        - {field: derived.lifecycle, eq: at_risk}
        - {field: transactional.lifetime_valu, gt: 500}
  - name: recent_detractors
    when:
      all:
        - {field: psychographic.nps.score, gt: six}
  - name: store_only
    when:
      all:
        - {field: behavioral.channels.store, gt: 0}
        - not: {field: behavioral.channels, gt: 0}
`))
	if err == nil || err.Error()+"\n" != errs[1] {
		t.Errorf("docs show\n%s\nthe compiler says\n%v", errs[1], err)
	}
}
