// Package synth generates a synthetic, seeded customer population whose
// interactions span web, mobile, store, call center, email and surveys, with
// the ground truth of who is who. The messages are Segment tracking-API calls,
// so they can be played through the collector exactly as real SDKs and
// channel systems would send them.
//
// Journeys follow what CX teams see: anonymous browsing on the web, a login
// in the mobile app, a loyalty sign-up in a store that ties a phone number to
// the email, purchases at the till by phone number, support calls, email
// engagement and survey answers. Some visitors never identify.
//
// On top of that the population carries the identity hazards that merge
// protection exists for (each a share in Config):
//   - shared devices: two known customers of one household use the same
//     family tablet (its device_id in the app, its browser's anonymous_id
//     on the web), each logged in as themselves. They are two people; the
//     tablet's identifiers belong to neither alone (Population.Shared);
//   - junk identifiers from broken integrations: anonymousId "undefined" or
//     "null", the email "test@test.com", the all-zero device id. They always
//     travel with a real identifier of the person (an event with junk only
//     is refused by the collector) and identify nobody (Population.Junk);
//   - a second email: a work address next to the personal one, both the
//     person's own;
//   - phone-only events: a customer outside the store's loyalty programme
//     leaves a phone number in their online account and is then seen by a
//     till or the call center by that number only, sometimes before the
//     account knows the number.
//
// The ground truth stays exact: every identifier a message carries is one
// person's (Person.Identifiers), shared by named people (Population.Shared),
// or junk (Population.Junk); and a correct resolver with merge protection
// ends with one profile per person. Accuracy (see Score) measures how close a
// resolver comes. The truth also says what each person's profile must show
// of their purchases (Person.Orders, Person.Revenue).
//
// Load knobs (Config) shape the traffic without touching that truth:
//   - Events raises the mean events per person with filler activity (page
//     and screen views, email opens and clicks) on identifiers the person
//     already used on that channel, after their first use there;
//   - MergeRate sends a share of known customers to an extra browser where
//     they browse anonymously before logging in: one more anonymous to
//     known merge, whose anonymous id is in Person.Identifiers;
//   - HotKeys and HotShare make a few people (the lowest indexes) very
//     active, a kiosk or a bot-like heavy user: they get HotShare of the
//     filler events, which skews the key distribution.
//
// Generate builds a population in memory. For large populations, Chunks and
// Chunk build it in independent chunks of a fixed number of people each
// (see Chunk), so that a million people stream with bounded memory.
package synth

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/tracking"
)

// Channels the generator produces, one write key each.
var Channels = []string{"web", "mobile", "store", "call_center", "email", "survey"}

// Hazards, as named in Person.Hazards and Message.Hazard.
const (
	HazardSharedDevice = "shared_device"
	HazardJunk         = "junk"
	HazardSecondEmail  = "second_email"
	HazardPhoneOnly    = "phone_only"
)

// Junk identifier values that broken integrations send ("type:value", as the
// pipeline normalises them). The default identity rules block all of them.
const (
	JunkAnonymousUndefined = "anonymous_id:undefined"
	JunkAnonymousNull      = "anonymous_id:null"
	JunkEmail              = "email:test@test.com"
	JunkDevice             = "device_id:00000000-0000-0000-0000-000000000000"
)

// Config shapes the population.
type Config struct {
	People int
	Seed   uint64
	// Start and Span place the interactions in time.
	Start time.Time
	Span  time.Duration
	// KnownShare is the share of people who identify themselves (the rest
	// stay anonymous web visitors).
	KnownShare float64

	// SharedDeviceShare is the share of known customers who share a family
	// tablet with another known customer (households of two).
	SharedDeviceShare float64
	// JunkShare is the share of all people with one message from a broken
	// integration that adds a junk identifier.
	JunkShare float64
	// SecondEmailShare is the share of known customers who also use a work
	// email address.
	SecondEmailShare float64
	// PhoneOnlyShare is the share of known customers outside the store's
	// loyalty programme (about half of them) who add a phone number to their
	// online account and are seen by a till or the call center by that
	// number only.
	PhoneOnlyShare float64

	// Events is the target mean number of events (messages) per person.
	// When the journeys average fewer (about 8 with the default shares),
	// each chunk is topped up to Events times its people with filler
	// activity: page views, app screen views, email opens and clicks, on
	// identifiers the person already used on that channel and after their
	// first use there, so the identity ground truth is unchanged. 0 (or a
	// target below the journeys' own mean) adds nothing.
	Events float64
	// MergeRate is the share of known customers who browse anonymously on
	// an extra browser or device before logging in there: one more
	// anonymous to known merge for the resolver. The extra anonymous id is
	// the person's (Person.ExtraBrowser, Person.Identifiers).
	MergeRate float64
	// HotKeys is the number of hot people: the people with the lowest
	// indexes (0 to HotKeys-1), always known customers, who start their
	// journey at Start. HotShare is the share of each chunk's filler events
	// (see Events) that go to them, spread evenly, as logged-in page views
	// on the web after their sign-up: a kiosk or a bot-like heavy user that
	// skews the key distribution. Filler of a hot person can sit in any
	// chunk; their Person is in the chunk of their index.
	HotKeys  int
	HotShare float64
}

// Default is a few hundred people over the last 30 days, with every hazard.
func Default() Config {
	return Config{
		People: 300, Seed: 1, Start: time.Now().UTC().Add(-30 * 24 * time.Hour), Span: 30 * 24 * time.Hour,
		KnownShare:        0.6,
		SharedDeviceShare: 0.08,
		JunkShare:         0.1,
		SecondEmailShare:  0.15,
		PhoneOnlyShare:    0.2,
	}
}

// NoHazards returns cfg with every hazard share set to 0.
func (c Config) NoHazards() Config {
	c.SharedDeviceShare, c.JunkShare, c.SecondEmailShare, c.PhoneOnlyShare = 0, 0, 0, 0
	return c
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.People < 0 {
		errs = append(errs, fmt.Errorf("people: must be >= 0, got %d", c.People))
	}
	if c.Span < 2 {
		errs = append(errs, fmt.Errorf("span: must be positive, got %s", c.Span))
	}
	for _, s := range []struct {
		name string
		v    float64
	}{
		{"known share", c.KnownShare}, {"shared device share", c.SharedDeviceShare}, {"junk share", c.JunkShare},
		{"second email share", c.SecondEmailShare}, {"phone-only share", c.PhoneOnlyShare},
		{"merge rate", c.MergeRate}, {"hot share", c.HotShare},
	} {
		if !(s.v >= 0 && s.v <= 1) {
			errs = append(errs, fmt.Errorf("%s: must be between 0 and 1, got %v", s.name, s.v))
		}
	}
	if !(c.Events >= 0 && c.Events <= maxEvents) {
		errs = append(errs, fmt.Errorf("events: must be between 0 and %d (mean events per person; 0 keeps the journeys as they are), got %v", maxEvents, c.Events))
	}
	switch {
	case c.HotKeys < 0:
		errs = append(errs, fmt.Errorf("hot keys: must be >= 0, got %d", c.HotKeys))
	case c.HotKeys > c.People && c.People >= 0:
		errs = append(errs, fmt.Errorf("hot keys: must be at most people (%d), got %d", c.People, c.HotKeys))
	}
	if c.HotShare > 0 && c.HotKeys <= 0 {
		errs = append(errs, fmt.Errorf("hot share: %v of the filler events needs hot keys > 0", c.HotShare))
	}
	if c.HotShare > 0 && c.Events == 0 {
		errs = append(errs, fmt.Errorf("hot share: %v of the filler events needs events > 0 (the hot people's traffic is filler)", c.HotShare))
	}
	return errors.Join(errs...)
}

// maxEvents bounds Config.Events.
const maxEvents = 10000

// Message is one tracking call of one person on one channel.
type Message struct {
	Channel string
	// Person is the ground truth: the index of the person who acted.
	Person int
	// Body is the Segment message JSON (type, messageId, ids, event...).
	Body map[string]any
	At   time.Time
	// Hazard names the identity hazard the message is part of, if any.
	Hazard string
	// Filler marks activity added to reach Config.Events: it carries only
	// identifiers the person already used on its channel.
	Filler bool
}

// Person is one generated customer.
type Person struct {
	Index int
	Name  string
	Email string // empty for anonymous visitors
	Phone string // set for customers who shop in a store or give a phone online
	// WorkEmail is a second address of the person's own, if they have one.
	WorkEmail string `json:",omitempty"`
	// Identifiers lists every identifier that is this person's alone,
	// "type:value", as the pipeline normalises them. Shared and junk
	// identifiers are not listed.
	Identifiers []string
	// Shared lists the identifiers of the household tablet the person uses
	// with SharesWith (another person's index); they belong to no one person.
	Shared     []string `json:",omitempty"`
	SharesWith []int    `json:",omitempty"`
	// Hazards names the identity hazards in the person's journey.
	Hazards []string `json:",omitempty"`
	// Orders is the number of the person's Order Completed events, and
	// Revenue the sum of their revenue per currency (ISO 4217), exact to a
	// millionth as the profile keeps amounts: what a correct pipeline shows
	// as the person's transactional.orders and transactional.revenue.
	// Revenue is nil for a person without orders.
	Orders  int                `json:",omitempty"`
	Revenue map[string]float64 `json:",omitempty"`
	// ExtraBrowser is the anonymous id ("anonymous_id:...") of the extra
	// browser where the person browsed anonymously before logging in
	// (Config.MergeRate); it is in Identifiers too.
	ExtraBrowser string `json:",omitempty"`
	// Hot marks one of the Config.HotKeys very active people.
	Hot bool `json:",omitempty"`
}

// Population is the generated people and their messages, in time order.
// People are in index order; in a population from Generate or Concat of
// all chunks, People[i].Index == i, and in chunk k of size n,
// People[j].Index == k*n+j.
type Population struct {
	People   []Person
	Messages []Message
	// Junk lists the junk identifiers the messages carry, sorted: they
	// identify nobody.
	Junk []string
	// Shared maps each identifier that several people used (a household
	// tablet) to those people's indexes, in order.
	Shared map[string][]int
}

// household is a family tablet: its app's device id and its browser's
// anonymous id.
type household struct {
	device, browser string
	members         []int
}

// Generate builds the population. The same Config always gives the same
// population. It is the population's only chunk: Chunk(cfg.People, 0).
func Generate(cfg Config) Population { return cfg.Chunk(cfg.People, 0) }

// ChunkCount is the number of chunks of size people (see Chunk) that hold
// the population.
func (c Config) ChunkCount(size int) int {
	size = c.chunkSize(size)
	return (c.People + size - 1) / size
}

func (c Config) chunkSize(size int) int {
	if size <= 0 {
		return max(c.People, 1)
	}
	return size
}

// Chunk builds chunk k (from 0) of the population cut into chunks of size
// people: the people with indexes k*size up to (k+1)*size (fewer in the
// last chunk), their messages in time order, and the junk and shared
// identifiers they carry, plus the chunk's share of the hot people's
// filler (Config.HotKeys), whatever chunk those people are in. size <= 0
// means one chunk of all people.
//
// A chunk draws from its own random stream, derived from the seed and k, so
// it is built without the chunks before it and is the same alone as in
// Chunks; chunk 0 draws from Generate's stream, so it equals Generate with
// People = size. The population as a whole depends on the chunk size.
// Identifiers, message ids and order ids derive from the person's index, so
// chunks never share one; households (shared tablets) form within a chunk.
// Messages are in time order within a chunk, not across chunks.
func (c Config) Chunk(size, k int) Population {
	size = c.chunkSize(size)
	if k < 0 || k >= c.ChunkCount(size) {
		return Population{Shared: map[string][]int{}}
	}
	lo := k * size
	return c.generate(lo, min(lo+size, c.People), chunkSource(c.Seed, k))
}

// Chunks yields the chunks of size people (see Chunk) in order: the whole
// population, one chunk in memory at a time. Concat of them all is the
// population in one piece.
func (c Config) Chunks(size int) iter.Seq[Population] {
	return func(yield func(Population) bool) {
		for k := range c.ChunkCount(size) {
			if !yield(c.Chunk(size, k)) {
				return
			}
		}
	}
}

// chunkSource is chunk k's random stream: Generate's for chunk 0, else one
// seeded from the seed and a hash of k.
func chunkSource(seed uint64, k int) *rand.Rand {
	if k == 0 {
		return rand.New(rand.NewPCG(seed, 0x5eed))
	}
	// splitmix64 of k spreads the chunks over the stream space.
	z := uint64(k)*0x9e3779b97f4a7c15 + 0x5eed
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return rand.New(rand.NewPCG(seed, z^(z>>31)))
}

// generate builds the people with indexes lo to hi-1 from rng.
func (c Config) generate(lo, hi int, rng *rand.Rand) Population {
	n := hi - lo
	known := make([]bool, n)
	for j := range known {
		// A hot person is known, and the draw is made all the same.
		known[j] = rng.Float64() < c.KnownShare || lo+j < c.HotKeys
	}
	homes := households(rng, c, lo, known)
	pop := Population{Shared: map[string][]int{}, People: make([]Person, 0, n),
		Messages: make([]Message, 0, max(9*n, int(c.Events*float64(n))+1))}
	junk := map[string]bool{}
	var fills []fillable
	if c.Events > 0 {
		fills = make([]fillable, 0, n)
	}
	end := c.Start.Add(c.Span)
	for j := range n {
		i := lo + j
		g := &journey{rng: rng, cfg: c, i: i, junk: junk}
		g.run(known[j], homes[i])
		g.fit(end)
		g.settle()
		pop.People = append(pop.People, g.p)
		pop.Messages = append(pop.Messages, g.msgs...)
		for _, id := range g.p.Shared {
			pop.Shared[id] = append(pop.Shared[id], i)
		}
		if c.Events > 0 {
			fills = append(fills, g.fillable())
		}
	}
	if c.Events > 0 {
		c.filler(rng, &pop, fills, lo)
	}
	pop.Junk = slices.Sorted(func(yield func(string) bool) {
		for id := range junk {
			if !yield(id) {
				return
			}
		}
	})
	sortByTime(pop.Messages)
	return pop
}

// sortByTime sorts messages by time, keeping the order of simultaneous ones
// (a stable sort, done on small keys: moving messages is what costs).
func sortByTime(msgs []Message) {
	type key struct {
		at time.Time
		i  int
	}
	keys := make([]key, len(msgs))
	for i, m := range msgs {
		keys[i] = key{m.At, i}
	}
	slices.SortFunc(keys, func(a, b key) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return cmp.Compare(a.i, b.i)
	})
	sorted := make([]Message, len(msgs))
	for i, k := range keys {
		sorted[i] = msgs[k.i]
	}
	copy(msgs, sorted)
}

// Concat joins populations built apart, such as all the chunks of a Config
// in order, into one: people in the order given, messages in time order,
// junk and shared identifiers together.
func Concat(parts ...Population) Population {
	var out Population
	out.Shared = map[string][]int{}
	junk := map[string]bool{}
	nPeople, nMsgs := 0, 0
	for _, p := range parts {
		nPeople += len(p.People)
		nMsgs += len(p.Messages)
	}
	out.People = make([]Person, 0, nPeople)
	out.Messages = make([]Message, 0, nMsgs)
	for _, p := range parts {
		out.People = append(out.People, p.People...)
		out.Messages = append(out.Messages, p.Messages...)
		for id, users := range p.Shared {
			out.Shared[id] = append(out.Shared[id], users...)
		}
		for _, id := range p.Junk {
			junk[id] = true
		}
	}
	if len(junk) > 0 {
		out.Junk = make([]string, 0, len(junk))
		for id := range junk {
			out.Junk = append(out.Junk, id)
		}
		slices.Sort(out.Junk)
	}
	sortByTime(out.Messages)
	return out
}

// households pairs known customers into households that share a tablet:
// walking the known customers in order, each one not yet paired starts a
// household with the next with probability q, which makes the share of
// paired customers 2q/(1+q) = SharedDeviceShare.
//
// known[j] is whether person lo+j is known; the households are keyed by
// the person's index.
func households(rng *rand.Rand, cfg Config, lo int, known []bool) map[int]*household {
	homes := map[int]*household{}
	var ks []int
	for j, k := range known {
		if k {
			ks = append(ks, lo+j)
		}
	}
	s := cfg.SharedDeviceShare
	if s <= 0 {
		return homes
	}
	q := s / (2 - s)
	for k := 0; k+1 < len(ks); k++ {
		a, b := ks[k], ks[k+1]
		if homes[a] != nil || rng.Float64() >= q {
			continue
		}
		h := &household{
			device:  uuid.NewSHA1(uuid.NameSpaceURL, fmt.Appendf(nil, "tablet/%d/%d", cfg.Seed, a)).String(),
			browser: uuid.NewSHA1(uuid.NameSpaceURL, fmt.Appendf(nil, "tablet-browser/%d/%d", cfg.Seed, a)).String(),
			members: []int{a, b},
		}
		homes[a], homes[b] = h, h
	}
	return homes
}

var (
	firstNames = []string{"Jane", "Omar", "Mei", "Lukas", "Amara", "Diego", "Sofia", "Kenji", "Fatima", "Noah", "Ingrid", "Ravi", "Chloé", "Zoë", "Björn", "Aylin"}
	lastNames  = []string{"Doe", "Haddad", "Chen", "Weber", "Okafor", "García", "Rossi", "Tanaka", "Khan", "Smith", "Larsen", "Patel", "Dubois", "Novak", "Yılmaz"}
	products   = []struct {
		SKU   string
		Name  string
		Price float64
	}{{"SKU-1001", "Trail Runner Shoe", 129.0}, {"SKU-1002", "Rain Jacket", 89.5}, {"SKU-1003", "Merino Socks", 14.9}, {"SKU-1004", "Day Pack 22L", 64.0}, {"SKU-1005", "Water Bottle", 19.0}}
	pages   = []string{"Home", "Running", "Outdoor", "Sale", "Product", "Stores"}
	reasons = []string{"late delivery", "size exchange", "refund request", "product question"}
	// Survey comments by the NPS group of the score, in several languages;
	// pkg/sentiment labels each as its group (positive for promoters,
	// neutral for passives, negative for detractors).
	promoterComments  = []string{"Great shoes, love them!", "Schneller Versand, super Qualität!", "Muy buena calidad, excelente.", "La taille est parfaite, merci !"}
	passiveComments   = []string{"Delivery took a week, the size fits.", "Produit reçu, rien à signaler.", "Ordered on Monday, arrived on Friday."}
	detractorComments = []string{"The delivery was late and the box arrived damaged.", "Der Schuh ist zu klein und die Lieferung war langsam.", "El pedido llegó tarde y roto.", "Terrible service, never again."}
)

// journey draws one person's interactions.
type journey struct {
	rng  *rand.Rand
	cfg  Config
	i    int
	junk map[string]bool // junk identifiers used, population-wide

	p       Person
	msgs    []Message
	t       time.Time
	hazard  string           // of the messages being added
	revenue map[string]int64 // of the Order Completed events, per currency, in millionths

	// What filler (Config.Events) may use: the person's identifiers, and
	// the kinds of filler their journey made possible, with the message
	// that first used those identifiers on the filler's channel.
	ids  fillIDs
	opts []fillOpt
}

// Kinds of filler activity, each on identifiers the journey used on its
// channel first.
const (
	fillPage      = iota // web page view by the anonymous id
	fillUserPage         // web page view, logged in (user id and anonymous id)
	fillScreen           // app screen view, logged in (user id, app anonymous id, device id)
	fillEmail            // email open or click by the email address
	fillExtraPage        // page view in the extra browser, logged in
)

type fillIDs struct{ anon, userID, email, device, mobileAnon, extra string }

type fillOpt struct {
	kind int
	msg  int // index of the journey message after which it is possible
	at   time.Time
}

// fillable is what filler may do for one person.
type fillable struct {
	person int
	ids    fillIDs
	opts   []fillOpt
}

// offer records that the message just added makes filler of kind possible.
func (g *journey) offer(kind int) {
	if g.cfg.Events > 0 {
		g.opts = append(g.opts, fillOpt{kind: kind, msg: len(g.msgs) - 1})
	}
}

// fillable returns the person's filler options, timed after fit.
func (g *journey) fillable() fillable {
	for k := range g.opts {
		g.opts[k].at = g.msgs[g.opts[k].msg].At
	}
	return fillable{person: g.i, ids: g.ids, opts: g.opts}
}

// fit compresses a journey that runs past end towards its first message,
// keeping the order, so that no interaction lies in the future of a
// population that ends now (the collector refuses those).
func (g *journey) fit(end time.Time) {
	if len(g.msgs) == 0 || !g.msgs[len(g.msgs)-1].At.After(end) {
		return
	}
	first := g.msgs[0].At
	scale := float64(end.Sub(first)) / float64(g.msgs[len(g.msgs)-1].At.Sub(first))
	for k := range g.msgs {
		m := &g.msgs[k]
		m.At = first.Add(time.Duration(float64(m.At.Sub(first)) * scale)).Truncate(time.Millisecond)
		m.Body["timestamp"] = m.At.Format(time.RFC3339Nano)
	}
}

// order adds an Order Completed message and counts it in the person's
// ground truth.
func (g *journey) order(channel string, body map[string]any, revenue float64, currency string) {
	body["type"], body["event"] = "track", "Order Completed"
	props := body["properties"].(map[string]any)
	props["revenue"], props["currency"] = revenue, currency
	g.add(channel, body)
	g.p.Orders++
	if g.revenue == nil {
		g.revenue = map[string]int64{}
	}
	// The message carries revenue as a JSON number that decodes to this
	// float64 again; the profile sums it in millionths, rounded likewise.
	g.revenue[currency] += int64(math.Round(revenue * 1e6))
}

// settle completes the person's ground truth once the journey is drawn.
func (g *journey) settle() {
	for cur, micros := range g.revenue {
		if g.p.Revenue == nil {
			g.p.Revenue = make(map[string]float64, len(g.revenue))
		}
		g.p.Revenue[cur] = float64(micros) / 1e6
	}
}

// survey is an NPS survey answer, keyed by the email, with a comment that
// fits the score.
func (g *journey) survey() {
	nps := g.rng.IntN(11)
	comments := detractorComments
	switch {
	case nps >= 9:
		comments = promoterComments
	case nps >= 7:
		comments = passiveComments
	}
	g.add("survey", map[string]any{"type": "track", "event": "Survey Responded",
		"context":    map[string]any{"traits": map[string]any{"email": g.p.Email}},
		"properties": map[string]any{"survey": "nps", "nps": nps, "comment": comments[g.rng.IntN(len(comments))]}})
}

// step advances the person's clock by up to a day and a half (maxStep).
func (g *journey) step() time.Time {
	g.t = g.t.Add(time.Duration(1+g.rng.IntN(int(maxStep/time.Minute))) * time.Minute)
	return g.t
}

// add appends a message at the next step.
func (g *journey) add(channel string, body map[string]any) {
	at := g.step()
	body["messageId"] = uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "%d/%d/%d", g.cfg.Seed, g.i, len(g.msgs))).String()
	body["timestamp"] = at.Format(time.RFC3339Nano)
	g.msgs = append(g.msgs, Message{Channel: channel, Person: g.i, Body: body, At: at, Hazard: g.hazard})
}

func (g *journey) own(ids ...string) { g.p.Identifiers = append(g.p.Identifiers, ids...) }

func (g *journey) flag(hazard string) {
	if !slices.Contains(g.p.Hazards, hazard) {
		g.p.Hazards = append(g.p.Hazards, hazard)
	}
}

func (g *journey) product() (string, string, float64) {
	pr := products[g.rng.IntN(len(products))]
	return pr.SKU, pr.Name, pr.Price
}

func (g *journey) run(known bool, home *household) {
	rng, cfg, i := g.rng, g.cfg, g.i
	g.p = Person{Index: i, Name: firstNames[rng.IntN(len(firstNames))] + " " + lastNames[rng.IntN(len(lastNames))]}
	g.t = cfg.Start.Add(time.Duration(rng.Int64N(int64(cfg.Span) / 2)))
	if i < cfg.HotKeys {
		g.p.Hot = true
		g.t = cfg.Start // so that their sign-up comes before hotFrom
	}
	junk := rng.Float64() < cfg.JunkShare

	anon := anonymousID(cfg.Seed, i)
	g.ids.anon = anon
	g.own("anonymous_id:" + anon)
	// Anonymous browsing on the web.
	for k := range 1 + rng.IntN(5) {
		page := pages[rng.IntN(len(pages))]
		g.add("web", map[string]any{"type": "page", "anonymousId": anon, "name": page,
			"properties": map[string]any{"path": "/" + page}, "context": map[string]any{"userAgent": "Mozilla/5.0", "ip": "198.51.100.7"}})
		if k == 0 {
			g.offer(fillPage)
		}
	}
	if !known {
		if junk {
			// A newsletter form whose test address was never taken out
			// sends it with the visitor's own anonymous id.
			g.junkMessage(JunkEmail, "web", map[string]any{"type": "track", "anonymousId": anon, "event": "Newsletter Subscribed",
				"context": map[string]any{"traits": map[string]any{"email": "test@test.com"}}})
		}
		return // stays anonymous
	}

	g.p.Email = emailOf(i)
	userID := userIDOf(i)
	device := uuid.NewSHA1(uuid.NameSpaceURL, fmt.Appendf(nil, "device/%d/%d", cfg.Seed, i)).String()
	mobileAnon := uuid.NewSHA1(uuid.NameSpaceURL, fmt.Appendf(nil, "mobile/%d/%d", cfg.Seed, i)).String()
	g.own("email:"+g.p.Email, "user_id:"+userID)
	g.ids.userID, g.ids.email, g.ids.device, g.ids.mobileAnon = userID, g.p.Email, device, mobileAnon

	// Sign-up on the web: the anonymous visitor becomes known.
	g.add("web", map[string]any{"type": "identify", "anonymousId": anon, "userId": userID,
		"traits": map[string]any{"email": g.p.Email, "name": g.p.Name, "plan": "free"}})
	g.offer(fillUserPage)
	// The mobile app: another device, logged in.
	mobile := rng.IntN(3) > 0
	if mobile {
		g.own("device_id:"+device, "anonymous_id:"+mobileAnon)
		// The app is used anonymously first; the login then merges that
		// profile into the known one.
		g.add("mobile", map[string]any{"type": "track", "anonymousId": mobileAnon, "event": "Application Opened",
			"context": map[string]any{"device": map[string]any{"id": device, "type": "ios"}}})
		g.add("mobile", map[string]any{"type": "identify", "anonymousId": mobileAnon, "userId": userID,
			"traits": map[string]any{"email": g.p.Email}, "context": map[string]any{"device": map[string]any{"id": device, "type": "ios"}}})
		g.offer(fillScreen)
		for range 1 + rng.IntN(4) {
			sku, name, price := g.product()
			g.add("mobile", map[string]any{"type": "track", "userId": userID, "event": "Product Viewed",
				"properties": map[string]any{"sku": sku, "name": name, "price": price},
				"context":    map[string]any{"device": map[string]any{"id": device}}})
		}
	}
	if cfg.MergeRate > 0 && rng.Float64() < cfg.MergeRate {
		g.extraBrowser(userID)
	}
	if home != nil {
		g.tablet(home, userID)
	}
	if rng.Float64() < cfg.SecondEmailShare {
		g.secondEmail(userID)
	}
	// The store: loyalty sign-up ties the phone to the email, then purchases
	// at the till by phone number only.
	if rng.IntN(2) == 0 {
		g.p.Phone = fmt.Sprintf("+4915%09d", 100000000+i)
		g.own("phone:" + g.p.Phone)
		if rng.IntN(2) == 0 {
			g.storeOrder() // bought by phone before joining the loyalty programme
		}
		g.add("store", map[string]any{"type": "identify", "userId": userID,
			"traits": map[string]any{"email": g.p.Email, "phone": formatLocal(g.p.Phone), "store": "Berlin Mitte"}})
		for range rng.IntN(3) {
			g.storeOrder()
		}
		// Support calls come in by phone.
		if rng.IntN(2) == 0 {
			g.supportCall()
		}
	} else {
		if rng.IntN(2) == 0 {
			// Online order after the sign-up.
			sku, _, price := g.product()
			g.order("web", map[string]any{"userId": userID, "anonymousId": anon,
				"properties": map[string]any{"order_id": fmt.Sprintf("WEB-%d", i),
					"products": []any{map[string]any{"sku": sku, "quantity": 1}}}}, price, "EUR")
		}
		if rng.Float64() < cfg.PhoneOnlyShare {
			g.phoneOnly(userID)
		}
	}
	// Email engagement and a survey answer.
	for k := range rng.IntN(3) {
		g.add("email", map[string]any{"type": "track", "event": "Email Opened",
			"context": map[string]any{"traits": map[string]any{"email": g.p.Email}}, "properties": map[string]any{"campaign": "spring-sale"}})
		if k == 0 {
			g.offer(fillEmail)
		}
	}
	if rng.IntN(3) == 0 {
		g.survey()
	}
	if junk {
		g.knownJunk(userID, mobile, device, mobileAnon)
	}
}

// anonymousID is person i's web anonymous id.
func anonymousID(seed uint64, i int) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, fmt.Appendf(nil, "anon/%d/%d", seed, i)).String()
}

// emailOf and userIDOf are known person i's email and user id.
func emailOf(i int) string  { return fmt.Sprintf("customer%d@example.com", i) }
func userIDOf(i int) string { return fmt.Sprintf("u-%05d", i) }

// extraBrowser is an anonymous to known merge: the customer browses in
// another browser (a work laptop) before logging in there.
func (g *journey) extraBrowser(userID string) {
	extra := uuid.NewSHA1(uuid.NameSpaceURL, fmt.Appendf(nil, "browser/%d/%d", g.cfg.Seed, g.i)).String()
	g.ids.extra = extra
	g.p.ExtraBrowser = "anonymous_id:" + extra
	g.own(g.p.ExtraBrowser)
	ctx := func() map[string]any {
		return map[string]any{"userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64)", "ip": "203.0.113.40"}
	}
	for range 1 + g.rng.IntN(3) {
		page := pages[g.rng.IntN(len(pages))]
		g.add("web", map[string]any{"type": "page", "anonymousId": extra, "name": page,
			"properties": map[string]any{"path": "/" + page}, "context": ctx()})
	}
	g.add("web", map[string]any{"type": "identify", "anonymousId": extra, "userId": userID,
		"traits": map[string]any{"email": g.p.Email}, "context": ctx()})
	g.offer(fillExtraPage)
}

// maxStep is the most a journey's clock advances per message (step).
const maxStep = 36 * time.Hour

// hotFrom is when the hot people's filler may start: a hot person's
// journey starts at Start, and their sign-up, after at most five page
// views, comes at most six steps later.
func (c Config) hotFrom() time.Time {
	end := c.Start.Add(c.Span)
	if from := c.Start.Add(6 * maxStep); from.Before(end) {
		return from
	}
	return end
}

var screens = []string{"Home", "Search", "Product", "Cart", "Account"}

// filler tops the chunk of people lo... up to Config.Events messages per
// person: HotShare of the added messages go to the hot people, the rest to
// the chunk's other people, each on one of the person's filler options
// (uniformly), at a time between the option's first message and the end of
// the span.
func (c Config) filler(rng *rand.Rand, pop *Population, fills []fillable, lo int) {
	n := int(math.Round(c.Events*float64(len(fills)))) - len(pop.Messages)
	if n <= 0 {
		return
	}
	// The hot people (the lowest indexes) get their filler as hot people
	// only, unless the chunk has nobody else.
	regular := fills[min(max(c.HotKeys-lo, 0), len(fills)):]
	if len(regular) == 0 {
		regular = fills
	}
	hot := 0
	if c.HotKeys > 0 {
		hot = int(math.Round(c.HotShare * float64(n)))
	}
	end := c.Start.Add(c.Span)
	hotFrom := c.hotFrom()
	between := func(from time.Time) time.Time {
		return from.Add(time.Duration(rng.Int64N(int64(end.Sub(from)) + 1)))
	}
	webCtx := func(userAgent string) map[string]any {
		return map[string]any{"userAgent": userAgent, "ip": "198.51.100.7"}
	}
	page := func(anon, userID, userAgent string) map[string]any {
		name := pages[rng.IntN(len(pages))]
		b := map[string]any{"type": "page", "anonymousId": anon, "name": name,
			"properties": map[string]any{"path": "/" + name}, "context": webCtx(userAgent)}
		if userID != "" {
			b["userId"] = userID
		}
		return b
	}
	for j := range n {
		var (
			person  int
			channel = "web"
			body    map[string]any
			at      time.Time
		)
		if j < hot {
			person = rng.IntN(c.HotKeys)
			body = page(anonymousID(c.Seed, person), userIDOf(person), "Mozilla/5.0 (Linux; kiosk)")
			at = between(hotFrom)
		} else {
			f := &regular[rng.IntN(len(regular))]
			o := f.opts[rng.IntN(len(f.opts))]
			person, at = f.person, between(o.at)
			switch o.kind {
			case fillPage:
				body = page(f.ids.anon, "", "Mozilla/5.0")
			case fillUserPage:
				body = page(f.ids.anon, f.ids.userID, "Mozilla/5.0")
			case fillExtraPage:
				body = page(f.ids.extra, f.ids.userID, "Mozilla/5.0 (Windows NT 10.0; Win64; x64)")
			case fillScreen:
				channel = "mobile"
				body = map[string]any{"type": "screen", "userId": f.ids.userID, "anonymousId": f.ids.mobileAnon,
					"name": screens[rng.IntN(len(screens))], "context": map[string]any{"device": map[string]any{"id": f.ids.device, "type": "ios"}}}
			case fillEmail:
				channel = "email"
				event := "Email Opened"
				if rng.IntN(3) == 0 {
					event = "Email Link Clicked"
				}
				body = map[string]any{"type": "track", "event": event,
					"context": map[string]any{"traits": map[string]any{"email": f.ids.email}}, "properties": map[string]any{"campaign": "spring-sale"}}
			}
		}
		body["messageId"] = uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "%d/filler/%d/%d", c.Seed, lo, j)).String()
		body["timestamp"] = at.Format(time.RFC3339Nano)
		pop.Messages = append(pop.Messages, Message{Channel: channel, Person: person, Body: body, At: at, Filler: true})
	}
}

// storeOrder is a purchase at the till, keyed by the phone number only.
func (g *journey) storeOrder() {
	sku, _, price := g.product()
	qty := 1 + g.rng.IntN(2)
	g.order("store", map[string]any{"context": map[string]any{"traits": map[string]any{"phone": formatLocal(g.p.Phone)}},
		"properties": map[string]any{"order_id": fmt.Sprintf("POS-%d-%d", g.i, len(g.msgs)), "products": []any{map[string]any{"sku": sku, "quantity": qty}}}},
		price*float64(qty), "EUR")
}

// supportCall is a call-center ticket, keyed by the phone number only.
func (g *journey) supportCall() {
	reason := reasons[g.rng.IntN(len(reasons))]
	g.add("call_center", map[string]any{"type": "track", "event": "Ticket Opened",
		"context": map[string]any{"traits": map[string]any{"phone": g.p.Phone}}, "properties": map[string]any{"reason": reason, "priority": "normal"}})
	g.add("call_center", map[string]any{"type": "track", "event": "Ticket Solved",
		"context": map[string]any{"traits": map[string]any{"phone": g.p.Phone}}, "properties": map[string]any{"reason": reason, "satisfaction": 1 + g.rng.IntN(5)}})
}

// tablet is the household's family tablet: some anonymous browsing in its
// browser, a login there, and the app on it, each time as this person.
func (g *journey) tablet(h *household, userID string) {
	g.hazard = HazardSharedDevice
	defer func() { g.hazard = "" }()
	g.flag(HazardSharedDevice)
	g.p.Shared = []string{"anonymous_id:" + h.browser, "device_id:" + h.device}
	for _, m := range h.members {
		if m != g.i {
			g.p.SharesWith = append(g.p.SharesWith, m)
		}
	}
	tabletCtx := func() map[string]any {
		return map[string]any{"userAgent": "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X)", "ip": "198.51.100.23"}
	}
	for range 1 + g.rng.IntN(2) {
		page := pages[g.rng.IntN(len(pages))]
		g.add("web", map[string]any{"type": "page", "anonymousId": h.browser, "name": page,
			"properties": map[string]any{"path": "/" + page}, "context": tabletCtx()})
	}
	g.add("web", map[string]any{"type": "identify", "anonymousId": h.browser, "userId": userID,
		"traits": map[string]any{"email": g.p.Email}, "context": tabletCtx()})
	appCtx := func() map[string]any {
		return map[string]any{"device": map[string]any{"id": h.device, "type": "ios", "model": "iPad13,16"}}
	}
	g.add("mobile", map[string]any{"type": "identify", "userId": userID, "traits": map[string]any{"email": g.p.Email}, "context": appCtx()})
	sku, name, price := g.product()
	g.add("mobile", map[string]any{"type": "track", "userId": userID, "event": "Product Viewed",
		"properties": map[string]any{"sku": sku, "name": name, "price": price}, "context": appCtx()})
}

// secondEmail adds a work address: a B2B newsletter reaches it, and the
// customer adds it to their account (written as they typed it).
func (g *journey) secondEmail(userID string) {
	g.hazard = HazardSecondEmail
	defer func() { g.hazard = "" }()
	g.flag(HazardSecondEmail)
	g.p.WorkEmail = fmt.Sprintf("customer%d@work.example.org", g.i)
	g.own("email:" + g.p.WorkEmail)
	open := func() {
		g.add("email", map[string]any{"type": "track", "event": "Email Opened",
			"context": map[string]any{"traits": map[string]any{"email": g.p.WorkEmail}}, "properties": map[string]any{"campaign": "pro-team-newsletter"}})
	}
	if g.rng.IntN(2) == 0 {
		open() // before the account knows the address
	}
	typed := fmt.Sprintf(" Customer%d@Work.Example.org", g.i)
	g.add("web", map[string]any{"type": "track", "userId": userID, "event": "Work Email Added",
		"context": map[string]any{"traits": map[string]any{"email": typed}}})
	for range g.rng.IntN(2) {
		open()
	}
}

// phoneOnly gives a customer outside the loyalty programme a phone number
// on their online account and a till purchase or a support call by that
// number only, before or after the account knows it.
func (g *journey) phoneOnly(userID string) {
	g.hazard = HazardPhoneOnly
	defer func() { g.hazard = "" }()
	g.flag(HazardPhoneOnly)
	g.p.Phone = fmt.Sprintf("+4915%09d", 100000000+g.i)
	g.own("phone:" + g.p.Phone)
	byPhone := func() {
		if g.rng.IntN(2) == 0 {
			g.storeOrder()
		} else {
			g.supportCall()
		}
	}
	early := g.rng.IntN(2) == 0
	if early {
		byPhone()
	}
	g.add("web", map[string]any{"type": "identify", "userId": userID,
		"traits": map[string]any{"phone": formatIntl(g.p.Phone)}})
	if !early {
		byPhone()
	}
}

// knownJunk adds one message of a known customer from a broken integration:
// a server-side tag that renders a missing anonymous id as "undefined" or
// "null", a CRM sync that fills missing emails with a test address, or an
// app build that sends the all-zero device id.
func (g *journey) knownJunk(userID string, mobile bool, device, mobileAnon string) {
	kinds := []string{JunkAnonymousUndefined, JunkAnonymousNull, JunkEmail}
	if mobile {
		kinds = append(kinds, JunkDevice)
	}
	switch kind := kinds[g.rng.IntN(len(kinds))]; kind {
	case JunkAnonymousUndefined, JunkAnonymousNull:
		value := "undefined"
		if kind == JunkAnonymousNull {
			value = "null"
		}
		sku, _, price := g.product()
		g.junkMessage(kind, "web", map[string]any{"type": "track", "userId": userID, "anonymousId": value, "event": "Checkout Started",
			"properties": map[string]any{"revenue": price, "currency": "EUR", "products": []any{map[string]any{"sku": sku, "quantity": 1}}}})
	case JunkEmail:
		g.junkMessage(kind, "web", map[string]any{"type": "identify", "userId": userID,
			"traits": map[string]any{"email": "test@test.com", "source": "crm-sync"}})
	case JunkDevice:
		g.junkMessage(kind, "mobile", map[string]any{"type": "track", "userId": userID, "anonymousId": mobileAnon, "event": "Application Backgrounded",
			"context": map[string]any{"device": map[string]any{"id": "00000000-0000-0000-0000-000000000000", "type": "ios"}}})
	}
}

func (g *journey) junkMessage(id, channel string, body map[string]any) {
	g.hazard = HazardJunk
	g.flag(HazardJunk)
	g.junk[id] = true
	g.add(channel, body)
	g.hazard = ""
}

// formatLocal writes an E.164 number the way a till would print it, so
// that the pipeline's normalisation is exercised.
func formatLocal(e164 string) string {
	return "00" + e164[1:3] + " " + e164[3:6] + " " + e164[6:]
}

// formatIntl writes an E.164 number the way people type it into a web form.
func formatIntl(e164 string) string {
	return e164[:3] + " " + e164[3:6] + "-" + e164[6:]
}

// JSON encodes a message body.
func (m Message) JSON() []byte {
	b, _ := json.Marshal(m.Body) // maps of strings, numbers and slices always encode
	return b
}

// ID returns the message's messageId, the event id it gets in the pipeline.
func (m Message) ID() string {
	id, _ := m.Body["messageId"].(string)
	return id
}

// Identifiers returns the identifiers the collector reads from the message,
// normalised, in its order (pkg/tracking's mapping).
func (m Message) Identifiers() ([]event.Identifier, error) {
	msg, err := tracking.DecodeMessage(m.JSON())
	if err != nil {
		return nil, err
	}
	e, err := tracking.Map(msg, tracking.Source{Tenant: "synth", Channel: m.Channel}, m.At)
	if err != nil {
		return nil, err
	}
	return e.Identifiers, nil
}

// Hazards counts the people per hazard (Person.Hazards).
func (p Population) Hazards() map[string]int {
	n := map[string]int{HazardSharedDevice: 0, HazardJunk: 0, HazardSecondEmail: 0, HazardPhoneOnly: 0}
	for _, person := range p.People {
		for _, h := range person.Hazards {
			n[h]++
		}
	}
	return n
}

// IsJunk reports whether id ("type:value") is one of the junk identifiers
// the population carries.
func (p Population) IsJunk(id string) bool {
	_, ok := slices.BinarySearch(p.Junk, id)
	return ok
}

// ExpectedProfiles is the number of profiles a correct resolver ends with:
// one per person. Each person's own identifiers are connected by their
// journey and never overlap another's; a shared tablet's identifiers join
// one of its users (a user_id is unique, so the two never merge), and junk
// identifiers join nobody.
func (p Population) ExpectedProfiles() int { return len(p.People) }
