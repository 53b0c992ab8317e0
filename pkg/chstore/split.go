package chstore

import "strings"

// SplitStatements splits a migration file into statements. A statement ends
// with a ";" at the end of a line (trailing spaces allowed); the ";" is
// dropped. Lines that are only a "--" comment are dropped too, so a comment
// ending in ";" never ends a statement and comment-only chunks yield nothing.
// A ";" inside a line (in a string literal, say) does not split, and the last
// statement of a file may omit its ";".
func SplitStatements(sql string) []string {
	var (
		stmts []string
		cur   strings.Builder
	)
	flush := func() {
		if s := strings.TrimSpace(cur.String()); s != "" {
			stmts = append(stmts, s)
		}
		cur.Reset()
	}
	for line := range strings.Lines(sql) {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "--") {
			continue
		}
		if end, ok := strings.CutSuffix(strings.TrimRight(line, " \t\r\n"), ";"); ok {
			cur.WriteString(end)
			flush()
			continue
		}
		cur.WriteString(line)
	}
	flush()
	return stmts
}
