package sentiment

// The word lists. They are read-only: nothing in the package writes to them.
//
// Every key is written the way normalize leaves a token: lower-case, with
// precomposed accents (NFC) and the straight apostrophe. Within each section
// the keys are sorted alphabetically, ignoring accents. A word shared by
// several languages appears once, in the first section that needs it; the
// comment at the head of a later section names the words it borrows.
//
// Left out on purpose:
//   - politeness formulas that open or close nearly every support ticket
//     ("thanks", "merci", "danke", "gracias", "obrigado", "grazie", "regards",
//     German "liebe", "beste"); courtesyWords handles "good morning" and kin;
//   - words whose commonest sense in another covered language is neutral:
//     "like" (preposition), "content" (noun), "sale" (discount), "legal",
//     "top", "cher" ("cher client"), "caro" ("caro cliente"), Italian "male"
//     (English "male").
//
// Known homographs that remain: "mal" is also a German particle ("noch mal"),
// "fast" means "almost" in German, and "bad" is German for "bathroom".

// lexicon maps an opinion word, emoji or emoticon to its weight: +1 or +2 for
// positive words, -1 or -2 for negative ones; 2 marks strong words.
var lexicon = map[string]int{
	// English, positive.
	"amazing": 2, "awesome": 2, "beautiful": 1, "best": 2, "brilliant": 2,
	"comfortable": 1, "convenient": 1, "delighted": 2, "easy": 1, "efficient": 1,
	"enjoy": 1, "enjoyed": 1, "excellent": 2, "exceptional": 2, "fantastic": 2,
	"fast": 1, "favorite": 1, "favourite": 1, "friendly": 1, "glad": 1,
	"good": 1, "great": 1, "happy": 1, "helpful": 1, "impeccable": 2,
	"impressed": 1, "liked": 1, "love": 2, "loved": 2, "lovely": 1,
	"loves": 2, "nice": 1, "outstanding": 2, "perfect": 2, "pleasant": 1,
	"pleased": 1, "polite": 1, "professional": 1, "quick": 1, "recommend": 1,
	"recommended": 1, "reliable": 1, "satisfied": 1, "smooth": 1, "super": 1,
	"superb": 2, "useful": 1, "wonderful": 2, "worth": 1,

	// English, negative.
	"angry": -1, "annoyed": -1, "annoying": -1, "awful": -2, "bad": -1,
	"broken": -1, "catastrophe": -2, "confusing": -1, "crash": -1, "crashed": -1,
	"crashes": -1, "defective": -1, "difficult": -1, "dirty": -1, "disappointed": -1,
	"disappointing": -1, "disgusting": -2, "dreadful": -2, "expensive": -1, "fail": -1,
	"failed": -1, "faulty": -1, "frustrated": -1, "frustrating": -1, "hate": -2,
	"hated": -2, "hates": -2, "horrible": -2, "late": -1, "mediocre": -1,
	"pathetic": -2, "poor": -1, "poorly": -1, "problem": -1, "problems": -1,
	"ridiculous": -1, "rude": -1, "sad": -1, "scam": -2, "slow": -1,
	"sucks": -1, "terrible": -2, "unacceptable": -2, "unhappy": -1, "unhelpful": -1,
	"useless": -2, "waste": -1, "worse": -1, "worst": -2, "wrong": -1,

	// Spanish, positive.
	"adoro": 2, "agradable": 1, "amable": 1, "bien": 1, "buen": 1,
	"buena": 1, "buenas": 1, "buenísimo": 2, "bueno": 1, "buenos": 1,
	"contenta": 1, "contento": 1, "eficiente": 1, "encanta": 2, "encantado": 1,
	"encantó": 2, "estupendo": 2, "excelente": 2, "facil": 1, "fácil": 1,
	"fantástico": 2, "feliz": 1, "genial": 2, "gusta": 1, "gustó": 1,
	"increible": 2, "increíble": 2, "magnífico": 2, "maravilloso": 2, "mejor": 1,
	"perfecta": 2, "perfecto": 2, "rapido": 1, "rápido": 1, "recomendable": 1,
	"recomiendo": 1, "satisfecha": 1, "satisfecho": 1, "útil": 1,

	// Spanish, negative; also "horrible", "mediocre", "terrible".
	"basura": -2, "costoso": -1, "decepción": -1, "decepcionada": -1, "decepcionado": -1,
	"decepcionante": -1, "defectuoso": -1, "desastre": -2, "difícil": -1, "enfadado": -1,
	"espantoso": -2, "estafa": -2, "fatal": -2, "fraude": -2, "grosero": -1,
	"inútil": -2, "lamentable": -2, "lenta": -1, "lento": -1, "mal": -1,
	"mala": -1, "malo": -1, "odio": -2, "peor": -2, "pésima": -2,
	"pesimo": -2, "pésimo": -2, "problema": -1, "problemas": -1, "queja": -1,
	"rota": -1, "roto": -1, "sucio": -1, "triste": -1,

	// French, positive; also "bien", "excellent", "impeccable", "super".
	"adore": 2, "adoré": 2, "agréable": 1, "aimable": 1, "aime": 1,
	"bon": 1, "bonne": 1, "contente": 1, "efficace": 1, "excellente": 2,
	"facile": 1, "fantastique": 2, "formidable": 2, "génial": 2, "géniale": 2,
	"gentil": 1, "heureuse": 1, "heureux": 1, "incroyable": 2, "magnifique": 2,
	"meilleur": 1, "meilleure": 1, "merveilleux": 2, "parfait": 2, "parfaite": 2,
	"pratique": 1, "rapide": 1, "ravi": 2, "ravie": 2, "recommande": 1,
	"satisfait": 1, "satisfaite": 1, "sympa": 1, "utile": 1,

	// French, negative; also "catastrophe", "fraude", "horrible", "lamentable",
	// "mal", "terrible", "triste".
	"affreux": -2, "arnaque": -2, "cassé": -1, "cassée": -1, "catastrophique": -2,
	"déception": -1, "décevant": -1, "décevante": -1, "déçu": -1, "déçue": -1,
	"déteste": -2, "difficile": -1, "honteux": -2, "horreur": -2, "inacceptable": -2,
	"insupportable": -2, "inutile": -2, "lent": -1, "lente": -1, "mauvais": -1,
	"mauvaise": -1, "médiocre": -1, "nul": -2, "nulle": -2, "panne": -1,
	"pire": -2, "problème": -1, "problèmes": -1, "retard": -1,

	// German, positive; also "genial", "super".
	"angenehm": 1, "ausgezeichnet": 2, "begeistert": 2, "empfehle": 1, "empfehlenswert": 1,
	"fantastisch": 2, "freundlich": 1, "froh": 1, "gefällt": 1, "grossartig": 2,
	"großartig": 2, "gut": 1, "gute": 1, "guten": 1, "guter": 1,
	"gutes": 1, "hervorragend": 2, "hilfreich": 1, "klasse": 1, "nett": 1,
	"perfekt": 2, "prima": 1, "schnell": 1, "schön": 1, "spitze": 1,
	"toll": 1, "tolle": 1, "toller": 1, "wunderbar": 2, "zufrieden": 1,
	"zuverlässig": 1,

	// German, negative; also "fatal", "problem".
	"ärger": -1, "ärgerlich": -1, "betrug": -2, "defekt": -1, "enttäuschend": -1,
	"enttäuscht": -1, "enttäuschung": -1, "furchtbar": -2, "grauenhaft": -2, "hasse": -2,
	"kaputt": -1, "katastrophal": -2, "katastrophe": -2, "langsam": -1, "leider": -1,
	"mangelhaft": -2, "mies": -1, "nervig": -1, "nutzlos": -2, "probleme": -1,
	"schade": -1, "schlecht": -1, "schlechte": -1, "schlechter": -1, "schlechtes": -1,
	"schlimm": -1, "schrecklich": -2, "teuer": -1, "unfreundlich": -1, "unmöglich": -1,
	"unverschämt": -2, "unzufrieden": -1,

	// Portuguese, positive; also "adoro", "eficiente", "excelente", "fácil",
	// "fantástico", "feliz", "rápido", "útil".
	"adorei": 2, "amei": 2, "amo": 2, "atenciosa": 1, "atencioso": 1,
	"boa": 1, "bom": 1, "gostei": 1, "gosto": 1, "incrivel": 2,
	"incrível": 2, "maravilhosa": 2, "maravilhoso": 2, "melhor": 1, "otima": 2,
	"ótima": 2, "otimo": 2, "ótimo": 2, "perfeita": 2, "perfeito": 2,
	"recomendo": 1, "satisfeita": 1, "satisfeito": 1, "simpático": 1,

	// Portuguese, negative; also "decepcionado", "desastre", "fraude", "lento",
	// "mal", "problema", "problemas", "triste".
	"atraso": -1, "decepção": -1, "defeito": -1, "demorado": -1, "horrivel": -2,
	"horrível": -2, "insatisfeito": -1, "lixo": -2, "má": -1, "mau": -1,
	"odeio": -2, "péssima": -2, "pessimo": -2, "péssimo": -2, "pior": -2,
	"quebrado": -1, "reclamação": -1, "ruim": -1, "terrível": -2,

	// Italian, positive; also "adoro", "contenta", "contento", "rapido", "utile".
	"bella": 1, "bellissima": 2, "bellissimo": 2, "bello": 1, "bene": 1,
	"buon": 1, "buona": 1, "buono": 1, "consigliato": 1, "consiglio": 1,
	"cortese": 1, "eccellente": 2, "eccezionale": 2, "fantastica": 2, "fantastico": 2,
	"felice": 1, "gentile": 1, "gentilissimi": 2, "magnifico": 2, "meraviglioso": 2,
	"migliore": 1, "ottima": 2, "ottimo": 2, "perfetta": 2, "perfetto": 2,
	"piace": 1, "piaciuto": 1, "professionale": 1, "soddisfatta": 1, "soddisfatto": 1,
	"veloce": 1,

	// Italian, negative; also "costoso", "difficile", "inutile", "lenta", "lento",
	// "odio", "pessimo", "problema", "triste".
	"brutta": -1, "brutto": -1, "deludente": -1, "delusa": -1, "delusione": -1,
	"deluso": -1, "maleducato": -1, "orribile": -2, "peggio": -1, "peggiore": -2,
	"pessima": -2, "problemi": -1, "ritardo": -1, "rotto": -1, "scadente": -1,
	"scarso": -1, "schifo": -2, "terribile": -2, "truffa": -2, "vergogna": -2,

	// Emoji and emoticons, positive. Emoji are keyed by their first code
	// point: "❤️" (U+2764 U+FE0F) is looked up as "❤" (see scanner).
	":)": 1, ":-)": 1,
	"☺": 1, "♥": 2, "❤": 2, "👌": 1, "👍": 1, "👏": 1, "💕": 2, "💖": 2, "💯": 1,
	"😀": 1, "😁": 1, "😃": 1, "😄": 1, "😊": 1, "😍": 2, "😘": 1, "🙂": 1, "🤩": 2, "🥰": 2,

	// Emoji and emoticons, negative.
	":(": -1, ":-(": -1,
	"☹": -1, "👎": -1, "💩": -2, "😞": -1, "😠": -2, "😡": -2, "😢": -1, "😤": -1,
	"😩": -1, "😫": -1, "😭": -1, "🙁": -1, "🤬": -2, "🤮": -2,
}

// negators are the words that open a negation window (see the package
// documentation). Any word ending in "n't" (didn't, doesn't, ain't, ...) is a
// negator too; see isNegator. "n'" is the elided French "ne", as in "n'aime".
var negators = map[string]bool{
	// English.
	"arent": true, "cannot": true, "cant": true, "couldnt": true, "didnt": true,
	"doesnt": true, "dont": true, "hadnt": true, "hasnt": true, "havent": true,
	"isnt": true, "neither": true, "never": true, "no": true, "nobody": true,
	"none": true, "nor": true, "not": true, "nothing": true, "shouldnt": true,
	"wasnt": true, "werent": true, "without": true, "wont": true, "wouldnt": true,

	// Spanish; also "no".
	"jamás": true, "nada": true, "nadie": true, "ni": true, "ningún": true,
	"ninguna": true, "ninguno": true, "nunca": true, "sin": true, "tampoco": true,

	// French.
	"aucun": true, "aucune": true, "jamais": true, "n'": true, "ne": true,
	"non": true, "pas": true, "rien": true, "sans": true,

	// German.
	"kein": true, "keine": true, "keinem": true, "keinen": true, "keiner": true,
	"keines": true, "nicht": true, "nichts": true, "nie": true, "niemals": true,
	"ohne": true, "weder": true,

	// Portuguese; also "jamais", "nada", "no", "nunca".
	"não": true, "nem": true, "nenhum": true, "nenhuma": true, "ninguém": true,
	"sem": true,

	// Italian; also "non".
	"mai": true, "né": true, "neanche": true, "nemmeno": true, "nessun": true,
	"nessuna": true, "nessuno": true, "niente": true, "nulla": true, "senza": true,
}

// courtesyWords end greetings and sign-offs. An opinion word immediately
// followed by one of them is not counted: "good morning", "best regards",
// "buenos días", "boa tarde", "bonne journée", "guten Tag", "buona giornata".
var courtesyWords = map[string]bool{
	// English.
	"afternoon": true, "day": true, "evening": true, "morning": true, "night": true,
	"regards": true, "weekend": true, "wishes": true,

	// Spanish and Portuguese.
	"dia": true, "día": true, "dias": true, "días": true, "noches": true,
	"noite": true, "semana": true, "tarde": true, "tardes": true,

	// French.
	"journée": true, "matinée": true, "salutations": true, "soirée": true,

	// German.
	"abend": true, "grüsse": true, "grüße": true, "morgen": true, "tag": true,
	"wochenende": true,

	// Italian.
	"giornata": true, "giorno": true, "notte": true, "sera": true, "serata": true,
}
