// Package sentiment scores the sentiment of free-text customer feedback
// (survey comments, support tickets, social messages) with a small built-in
// lexicon of English, Spanish, French, German, Portuguese and Italian opinion
// words, emoji and emoticons.
//
// It does no I/O and keeps no state. [Analyze] is a pure function of the bytes
// of its argument: the same text gives the same [Result] on every platform and
// in every run, and the arithmetic is integer-only. (Character classes come
// from the Unicode tables of the Go release, so a Go upgrade could only change
// how characters newly added to Unicode are tokenised.) It is safe for
// concurrent use.
//
// # Method
//
// Only the first 10,000 bytes of the text are read; the rest is ignored. A
// word or a character cut by that limit is read as cut (a cut character is
// invalid UTF-8, see below).
//
// 1. Tokens. The text is read rune by rune. A byte that is not valid UTF-8 is
// skipped and separates tokens like a space. A token is one of:
//   - a word: a maximal run of letters, marks, digits and apostrophes
//     (unicode.IsLetter, unicode.IsMark, unicode.IsDigit, ' and ’), with the
//     apostrophes at either end removed (quotes);
//   - an emoticon: ":)", ":(", ":-)" or ":-(";
//   - a symbol, which covers emoji: one rune of Unicode category So. Variation
//     selectors (U+FE0E, U+FE0F) and skin-tone modifiers (U+1F3FB to U+1F3FF)
//     right after it are dropped, so "❤️" is "❤" and "👍🏽" is "👍". A ZWJ
//     sequence gives one token per symbol.
//
// The marks . , ; : ! ? … ¡ ¿ and 。，；：！？ end a clause (step 3). Any other
// rune (spaces, hyphens, quotes, ZWJ, ...) only separates tokens.
//
// 2. Normalisation. A word is lower-cased rune by rune with unicode.ToLower
// (which is what strings.ToLower does), ’ becomes ', and a letter among
// a, e, i, o, u, y, c, n followed by a combining grave, acute, circumflex,
// tilde, diaeresis or cedilla (U+0300, U+0301, U+0302, U+0303, U+0308,
// U+0327) is composed into the accented letter, so decomposed (NFD) "pe\u0301simo"
// reads as "pésimo". A word that is neither a negator nor a lexicon entry and
// contains an apostrophe is split after each apostrophe, and the parts are
// tokens of their own: "l'excellent" gives "l'" and "excellent", "n'aime"
// gives "n'" and "aime", "it's" gives "it'" and "s". A word longer than 64
// bytes after lower-casing is an ordinary token (no entry is that long) and
// is not split.
//
// 3. Counting. Positive and Negative start at 0 and the tokens are taken left
// to right, in three classes (lists in lexicon.go):
//   - A negator (not, no, never, nothing, without, any word ending in "n't";
//     no, nunca, nada, sin; ne, n', pas, jamais, rien, sans; nicht, kein,
//     keine, nie, ohne; não, nem, sem; non, mai, niente, senza; ...) opens a
//     negation window over the next 3 tokens. A negator inside the window
//     opens it afresh.
//   - An opinion word (a lexicon entry: word, emoji or emoticon) has a weight:
//     1, or 2 for strong words such as "excellent", "love", "terrible",
//     "worst", "hate"; positive or negative. The weight is added to Positive
//     or Negative; if a negation window is open, it is added to the opposite
//     count instead and the window closes. Negations do not cancel out:
//     "ce n'est pas bon" and "not never good" count one negated "good".
//   - Any other token shrinks an open window by one token.
//
// Two more rules complete step 3. A clause mark closes the window. And an
// opinion word directly followed by a courtesy word (morning, day, regards,
// días, tarde, noite, journée, Tag, Grüße, giornata, ...) is taken back and
// treated as an ordinary token, so "Good morning", "Buenos días", "Best
// regards" and "Boa tarde" carry no sentiment.
//
// 4. Result. Score is (Positive - Negative) / (Positive + Negative) * 1000,
// rounded half away from zero in integer arithmetic, and 0 when both counts
// are 0. Label is "positive" when Score >= 250, "negative" when
// Score <= -250, and "neutral" otherwise.
//
// Text in a language without a lexicon (Japanese, Arabic, Hindi, ...) and text
// without opinion words score 0, "neutral"; emoji count in any language.
//
// # Example
//
// "The delivery wasn't fast, but the staff were really friendly and helpful! 👍"
// has the tokens the, delivery, wasn't, fast, (clause), but, the, staff,
// were, really, friendly, and, helpful, (clause), 👍. "wasn't" opens a window
// and "fast" (+1) is negated: Negative = 1. "friendly", "helpful" and "👍"
// add 1 each: Positive = 3. Score = (3 - 1) / (3 + 1) * 1000 = 500, "positive".
//
// # Limitations
//
// The lexicon is small and the method knows no grammar: it misses sarcasm,
// intensifiers ("very"), contrast ("but"), negation that follows its verb
// ("gefällt mir nicht") and idioms ("pas terrible"), and a word shared by two
// languages has one polarity ("mal", "fast"). Scores are a coarse signal for
// aggregation, not a judgement on one message.
package sentiment
