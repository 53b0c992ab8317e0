package segment

import (
	"strings"
)

// Condition shows the segment's condition in words, for the reason of a
// trigger: "derived.lifecycle = at_risk and
// transactional.lifetime_value_reporting > 500".
func (g *Segment) Condition() string {
	var b strings.Builder
	g.when.describe(&b, false)
	return b.String()
}

// describe writes a condition; nested combinators of several conditions
// are put in parentheses.
func (n *node) describe(b *strings.Builder, nested bool) {
	switch n.op {
	case opAll, opAny:
		sep := " and "
		if n.op == opAny {
			sep = " or "
		}
		paren := nested && len(n.kids) > 1
		if paren {
			b.WriteByte('(')
		}
		for i := range n.kids {
			if i > 0 {
				b.WriteString(sep)
			}
			n.kids[i].describe(b, true)
		}
		if paren {
			b.WriteByte(')')
		}
		return
	case opNot:
		b.WriteString("not ")
		n.kids[0].describe(b, true)
		return
	}
	b.WriteString(n.field.path)
	switch n.op {
	case opExists:
		if n.exists {
			b.WriteString(" exists")
		} else {
			b.WriteString(" is missing")
		}
		return
	case opWithin:
		b.WriteString(" within " + n.dText)
		return
	case opOlderThan:
		b.WriteString(" older than " + n.dText)
		return
	case opIn:
		b.WriteString(" in [")
		for i, l := range n.lits {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(l.words())
		}
		b.WriteByte(']')
		return
	}
	b.WriteString(map[op]string{opEq: " = ", opNe: " != ", opGt: " > ", opGte: " >= ", opLt: " < ", opLte: " <= ", opContains: " contains "}[n.op])
	b.WriteString(n.lits[0].words())
}

// words shows a literal in a sentence: texts unquoted unless they would
// read as something else.
func (l literal) words() string {
	if l.kind == kindText && l.str != "" && !strings.ContainsAny(l.str, " ,[]()\"") {
		return l.str
	}
	return l.String()
}
