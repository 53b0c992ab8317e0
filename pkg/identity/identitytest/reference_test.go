package identitytest_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/identity"
	"github.com/cxstream/cxstream/pkg/identity/identitytest"
)

type obs = identitytest.Observation
type block = identitytest.Block

func o(eventID string, at int64, ids ...string) obs {
	return obs{EventID: eventID, At: at, IDs: ids}
}

type scenario struct {
	name string
	// rules changes the default rules (nil: the defaults).
	rules    func(*identity.Rules)
	obs      []obs
	profiles [][]string
	unlinked []string
	blocks   []block
}

func policy(t testing.TB, change func(*identity.Rules)) *identity.Policy {
	t.Helper()
	r := identity.DefaultRules()
	if change != nil {
		change(&r)
	}
	p, err := r.Compile()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func run(t *testing.T, scenarios []scenario) {
	t.Helper()
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			p := policy(t, sc.rules)
			g := identitytest.Resolve(p, sc.obs)
			if !reflect.DeepEqual(g.Profiles, sc.profiles) {
				t.Errorf("profiles:\n got %v\nwant %v", g.Profiles, sc.profiles)
			}
			if !slices.Equal(g.Unlinked, sc.unlinked) {
				t.Errorf("unlinked: got %v, want %v", g.Unlinked, sc.unlinked)
			}
			if !slices.Equal(g.Blocks, sc.blocks) {
				t.Errorf("blocks:\n got %v\nwant %v", g.Blocks, sc.blocks)
			}
			checkInvariants(t, p, sc.obs, g)
			// Resolve orders observations itself: the reverse gives the
			// same graph.
			rev := slices.Clone(sc.obs)
			slices.Reverse(rev)
			if again := identitytest.Resolve(p, rev); !reflect.DeepEqual(again, g) {
				t.Errorf("reversed input gave a different graph:\n got %+v\nwant %+v", again, g)
			}
		})
	}
}

// The scenarios below mirror the rules of Segment's identity resolution
// documentation (Unify: "Identity Resolution Onboarding", sections Flat
// matching logic, Limit, Priority, Blocked values; Unify FAQ "How does Unify
// handle identity merging?"). Segment's priority 1 is the strongest; here
// a higher number is stronger. Segment's limits have a time window
// ("5 weekly"); cxstream's count values ever held.

func TestFlatMatching(t *testing.T) {
	run(t, []scenario{
		{
			// Segment, flat matching 1: no profile matches any identifier
			// of the event: create a new profile.
			name:     "no match creates a profile",
			obs:      []obs{o("e1", 1, "anonymous_id:a", "device_id:d")},
			profiles: [][]string{{"anonymous_id:a", "device_id:d"}},
		},
		{
			// Segment, flat matching 2: one profile matches: the event's
			// new identifiers are added to it.
			name:     "one match adds to the profile",
			obs:      []obs{o("e1", 1, "anonymous_id:a"), o("e2", 2, "anonymous_id:a", "email:jane@example.com")},
			profiles: [][]string{{"anonymous_id:a", "email:jane@example.com"}},
		},
		{
			// Segment, flat matching 3: several profiles match: they
			// merge when the rules allow it.
			name: "several matches merge",
			obs: []obs{
				o("e1", 1, "anonymous_id:web"), o("e2", 2, "device_id:phone"),
				o("e3", 3, "user_id:u1", "anonymous_id:web", "device_id:phone"),
			},
			profiles: [][]string{{"anonymous_id:web", "device_id:phone", "user_id:u1"}},
		},
	})
}

func TestUniqueUserID(t *testing.T) {
	run(t, []scenario{
		{
			// Segment, Limit: user_id defaults to limit 1 ("an immutable
			// ID should have 1 ever per user profile"). A browser
			// (anonymous_id a) used by u1 and then by u2: admitting
			// strongest first, user_id:u2 is new and joins; anonymous_id:a
			// belongs to u1's profile, which would give the event's
			// profile two user_ids, so it is dropped. u2 gets a profile of
			// its own; a stays with u1.
			name: "second user_id on a browser gets its own profile",
			obs: []obs{
				o("e1", 1, "user_id:u1", "anonymous_id:a"),
				o("e2", 2, "user_id:u2", "anonymous_id:a"),
			},
			profiles: [][]string{{"anonymous_id:a", "user_id:u1"}, {"user_id:u2"}},
			blocks:   []block{{EventID: "e2", Identifier: "anonymous_id:a", Rule: "limit:user_id"}},
		},
		{
			// Segment's own Priority example: a profile holds user_id
			// abc123 and email jane@example1.com; an event arrives with
			// user_id abc456 and the same email. Joining would give two
			// user_ids; email ranks lower, so it is demoted and the event
			// matches only user_id abc456: a new profile.
			name: "Segment priority example",
			obs: []obs{
				o("e1", 1, "user_id:abc123", "email:jane@example1.com"),
				o("e2", 2, "user_id:abc456", "email:jane@example1.com"),
			},
			profiles: [][]string{{"email:jane@example1.com", "user_id:abc123"}, {"user_id:abc456"}},
			blocks:   []block{{EventID: "e2", Identifier: "email:jane@example1.com", Rule: "limit:user_id"}},
		},
		{
			// The events are ordered by event time, whatever order they
			// arrive in: here u2's event happened first, so a is u2's.
			name: "event time decides, not arrival",
			obs: []obs{
				o("e1", 2, "user_id:u1", "anonymous_id:a"),
				o("e2", 1, "user_id:u2", "anonymous_id:a"),
			},
			profiles: [][]string{{"anonymous_id:a", "user_id:u2"}, {"user_id:u1"}},
			blocks:   []block{{EventID: "e1", Identifier: "anonymous_id:a", Rule: "limit:user_id"}},
		},
		{
			// Equal event times: the event id breaks the tie.
			name: "ties broken by event id",
			obs: []obs{
				o("e-b", 5, "user_id:u2", "anonymous_id:a"),
				o("e-a", 5, "user_id:u1", "anonymous_id:a"),
			},
			profiles: [][]string{{"anonymous_id:a", "user_id:u1"}, {"user_id:u2"}},
			blocks:   []block{{EventID: "e-b", Identifier: "anonymous_id:a", Rule: "limit:user_id"}},
		},
		{
			// Without a user_id the anonymous profile is free to take
			// one: the limit counts values, not events.
			name: "anonymous profile takes its first user_id",
			obs: []obs{
				o("e1", 1, "anonymous_id:a"),
				o("e2", 2, "anonymous_id:a", "email:jane@example.com"),
				o("e3", 3, "user_id:u1", "email:jane@example.com"),
				o("e4", 4, "user_id:u1", "anonymous_id:a"),
			},
			profiles: [][]string{{"anonymous_id:a", "email:jane@example.com", "user_id:u1"}},
		},
	})
}

func TestSharedDevice(t *testing.T) {
	run(t, []scenario{
		{
			// Segment, "Shared iPad use case": an in-store iPad
			// (device_id ipad) is used by several known customers. Their
			// user_ids (limit 1) never join through it: each later
			// customer's event drops the device. Anonymous walk-ins on the
			// iPad join the profile the device belongs to (its first
			// customer).
			name: "shared iPad never joins two customers",
			obs: []obs{
				o("e1", 1, "user_id:u1", "device_id:ipad"),
				o("e2", 2, "user_id:u2", "device_id:ipad"),
				o("e3", 3, "user_id:u3", "device_id:ipad", "anonymous_id:s3"),
				o("e4", 4, "device_id:ipad", "anonymous_id:walkin"),
			},
			profiles: [][]string{
				{"anonymous_id:s3", "user_id:u3"},
				{"anonymous_id:walkin", "device_id:ipad", "user_id:u1"},
				{"user_id:u2"},
			},
			blocks: []block{
				{EventID: "e2", Identifier: "device_id:ipad", Rule: "limit:user_id"},
				{EventID: "e3", Identifier: "device_id:ipad", Rule: "limit:user_id"},
			},
		},
		{
			// The same through email (Segment: email is unique to a person
			// and ranks above shared device ids): two customers who gave
			// their email at the till stay apart.
			name: "a till shared by two customers' emails",
			obs: []obs{
				o("e1", 1, "user_id:u1", "email:ann@example.com"),
				o("e2", 2, "email:ann@example.com", "device_id:till"),
				o("e3", 3, "user_id:u2", "email:bob@example.com"),
				o("e4", 4, "email:bob@example.com", "device_id:till"),
			},
			profiles: [][]string{
				{"device_id:till", "email:ann@example.com", "user_id:u1"},
				{"email:bob@example.com", "user_id:u2"},
			},
			blocks: []block{{EventID: "e4", Identifier: "device_id:till", Rule: "limit:user_id"}},
		},
	})
}

func emails(n int) []string {
	var out []string
	for i := 1; i <= n; i++ {
		out = append(out, fmt.Sprintf("email:e%d@example.com", i))
	}
	return out
}

func TestEmailLimit(t *testing.T) {
	var grow []obs
	for i := 1; i <= 5; i++ {
		grow = append(grow, o(fmt.Sprintf("e%d", i), int64(i), "anonymous_id:a", fmt.Sprintf("email:e%d@example.com", i)))
	}
	five := append([]string{"anonymous_id:a"}, emails(5)...)
	run(t, []scenario{
		{
			// Segment, Limit: "all other identifiers: 5". A browser signs
			// in with five emails: one profile with all five.
			name:     "five emails fit",
			obs:      grow,
			profiles: [][]string{five},
		},
		{
			// The sixth email on the same browser: the email is the
			// event's strongest identifier, so it joins (Segment: the
			// anonymous_id ranks lower and is demoted, then the event is
			// matched on the email alone). The event does not attach to
			// the browser's profile: the email founds a new profile and
			// the anonymous_id is dropped from this event.
			name:     "sixth email with a weaker identifier founds a new profile",
			obs:      append(slices.Clone(grow), o("e6", 6, "anonymous_id:a", "email:e6@example.com")),
			profiles: [][]string{five, {"email:e6@example.com"}},
			blocks:   []block{{EventID: "e6", Identifier: "anonymous_id:a", Rule: "limit:email"}},
		},
		{
			// The sixth email with a stronger identifier of the profile
			// (its user_id): the event attaches to the profile and the
			// sixth email is dropped; no event ever linked it, so it is
			// unlinked.
			name: "sixth email with a stronger identifier is dropped",
			obs: append(slices.Clone(grow),
				o("e6", 6, "user_id:u1", "anonymous_id:a"),
				o("e7", 7, "user_id:u1", "email:e6@example.com")),
			profiles: [][]string{append([]string{"anonymous_id:a"}, append(emails(5), "user_id:u1")...)},
			unlinked: []string{"email:e6@example.com"},
			blocks:   []block{{EventID: "e7", Identifier: "email:e6@example.com", Rule: "limit:email"}},
		},
		{
			// Two profiles of three emails each would merge into one of
			// six: the merge is not made.
			name: "merge that would exceed the email limit is not made",
			obs: []obs{
				o("e1", 1, "device_id:d1", "email:e1@example.com", "email:e2@example.com", "email:e3@example.com"),
				o("e2", 2, "device_id:d2", "email:e4@example.com", "email:e5@example.com", "email:e6@example.com"),
				o("e3", 3, "device_id:d1", "device_id:d2"),
			},
			profiles: [][]string{
				{"device_id:d1", "email:e1@example.com", "email:e2@example.com", "email:e3@example.com"},
				{"device_id:d2", "email:e4@example.com", "email:e5@example.com", "email:e6@example.com"},
			},
			blocks: []block{{EventID: "e3", Identifier: "device_id:d2", Rule: "limit:email"}},
		},
		{
			// A configured limit: email 1 (Segment's alternative example
			// "email: 1, user_id: 2").
			name: "custom limits",
			rules: func(r *identity.Rules) {
				r.Types[event.IDEmail] = identity.TypeRule{Priority: 90, Limit: 1}
				r.Types[event.IDUserID] = identity.TypeRule{Priority: 100, Limit: 2}
			},
			obs: []obs{
				o("e1", 1, "user_id:shopify-1", "email:jane@example.com"),
				o("e2", 2, "user_id:uuid-1", "email:jane@example.com"),
				o("e3", 3, "user_id:uuid-1", "email:jane.doe@example.com"),
			},
			profiles: [][]string{{"email:jane@example.com", "user_id:shopify-1", "user_id:uuid-1"}},
			unlinked: []string{"email:jane.doe@example.com"},
			blocks:   []block{{EventID: "e3", Identifier: "email:jane.doe@example.com", Rule: "limit:email"}},
		},
	})
}

func TestPriority(t *testing.T) {
	run(t, []scenario{
		{
			// Segment, Priority: of two conflicting identifiers the lower
			// ranked one is dropped. With email ranked above user_id, the
			// same events as Segment's example keep the email and drop the
			// new user_id instead: the event attaches to the email's
			// profile.
			name: "the lower priority is dropped, not the higher",
			rules: func(r *identity.Rules) {
				r.Types[event.IDEmail] = identity.TypeRule{Priority: 110, Limit: 5}
			},
			obs: []obs{
				o("e1", 1, "user_id:abc123", "email:jane@example1.com"),
				o("e2", 2, "user_id:abc456", "email:jane@example1.com"),
			},
			profiles: [][]string{{"email:jane@example1.com", "user_id:abc123"}},
			unlinked: []string{"user_id:abc456"},
			blocks:   []block{{EventID: "e2", Identifier: "user_id:abc456", Rule: "limit:user_id"}},
		},
		{
			// Only the identifier that conflicts is dropped; a weaker one
			// that does not conflict still joins.
			name: "only the conflicting identifier is dropped",
			obs: []obs{
				o("e1", 1, "user_id:u1", "email:x@example.com"),
				o("e2", 2, "user_id:u2", "phone:+4915112345678"),
				o("e3", 3, "email:x@example.com", "phone:+4915112345678", "anonymous_id:n"),
			},
			profiles: [][]string{
				{"anonymous_id:n", "email:x@example.com", "user_id:u1"},
				{"phone:+4915112345678", "user_id:u2"},
			},
			blocks: []block{{EventID: "e3", Identifier: "phone:+4915112345678", Rule: "limit:user_id"}},
		},
		{
			// Departure from the letter of Segment's procedure ("demote
			// the lowest-ranked identifier of the event and try again"),
			// which would drop anonymous_id:a first although it does not
			// conflict, then email, and leave u2 alone. The reference
			// admits identifiers strongest first and drops only those
			// that conflict: a's anonymous profile joins u2.
			name: "a weaker identifier that fits still joins",
			obs: []obs{
				o("e1", 1, "user_id:u1", "email:e@example.com"),
				o("e2", 2, "anonymous_id:a"),
				o("e3", 3, "user_id:u2", "email:e@example.com", "anonymous_id:a"),
			},
			profiles: [][]string{{"anonymous_id:a", "user_id:u2"}, {"email:e@example.com", "user_id:u1"}},
			blocks:   []block{{EventID: "e3", Identifier: "email:e@example.com", Rule: "limit:user_id"}},
		},
		{
			// Types without a rule rank at default_priority (50), above
			// device_id (40): of the two conflicting identifiers the
			// device is dropped.
			name: "types without a rule",
			obs: []obs{
				o("e1", 1, "user_id:u1", "crm_id:c1"),
				o("e2", 2, "user_id:u2", "device_id:d1"),
				o("e3", 3, "device_id:d1", "crm_id:c1"),
			},
			profiles: [][]string{{"crm_id:c1", "user_id:u1"}, {"device_id:d1", "user_id:u2"}},
			blocks:   []block{{EventID: "e3", Identifier: "device_id:d1", Rule: "limit:user_id"}},
		},
	})
}

func TestMaxIdentifiers(t *testing.T) {
	cap3 := func(r *identity.Rules) { r.MaxIdentifiers = 3 }
	run(t, []scenario{
		{
			// Segment FAQ: "Segment doesn't add any further merges or
			// mappings if the profile is at either limit, but event
			// resolution for the profile will continue." A profile at the
			// cap takes no new identifier; the event still resolves to it
			// through its strongest identifier.
			name:  "a profile at the cap takes no new identifier",
			rules: cap3,
			obs: []obs{
				o("e1", 1, "device_id:d1", "anonymous_id:a1"),
				o("e2", 2, "device_id:d1", "anonymous_id:a2"),
				o("e3", 3, "device_id:d1", "anonymous_id:a3"),
			},
			profiles: [][]string{{"anonymous_id:a1", "anonymous_id:a2", "device_id:d1"}},
			unlinked: []string{"anonymous_id:a3"},
			blocks:   []block{{EventID: "e3", Identifier: "anonymous_id:a3", Rule: "max_identifiers"}},
		},
		{
			// Nor does a merge past the cap happen.
			name:  "no merge past the cap",
			rules: cap3,
			obs: []obs{
				o("e1", 1, "device_id:d1", "anonymous_id:a1", "anonymous_id:a2"),
				o("e2", 2, "device_id:d2", "anonymous_id:a4"),
				o("e3", 3, "device_id:d2", "anonymous_id:a1"),
			},
			profiles: [][]string{
				{"anonymous_id:a1", "anonymous_id:a2", "device_id:d1"},
				{"anonymous_id:a4", "device_id:d2"},
			},
			blocks: []block{{EventID: "e3", Identifier: "anonymous_id:a1", Rule: "max_identifiers"}},
		},
		{
			// The strongest identifier always joins, even when the event
			// carries more new identifiers than the cap allows.
			name:  "the strongest always joins",
			rules: func(r *identity.Rules) { r.MaxIdentifiers = 1 },
			obs: []obs{
				o("e1", 1, "user_id:u1", "email:a@example.com", "anonymous_id:a"),
			},
			profiles: [][]string{{"user_id:u1"}},
			unlinked: []string{"anonymous_id:a", "email:a@example.com"},
			blocks: []block{
				{EventID: "e1", Identifier: "email:a@example.com", Rule: "max_identifiers"},
				{EventID: "e1", Identifier: "anonymous_id:a", Rule: "max_identifiers"},
			},
		},
		{
			// A type limit is reported before the cap when both break.
			name:  "limit reported before the cap",
			rules: func(r *identity.Rules) { r.MaxIdentifiers = 2 },
			obs: []obs{
				o("e1", 1, "user_id:u1", "anonymous_id:a"),
				o("e2", 2, "user_id:u2", "anonymous_id:a"),
			},
			profiles: [][]string{{"anonymous_id:a", "user_id:u1"}, {"user_id:u2"}},
			blocks:   []block{{EventID: "e2", Identifier: "anonymous_id:a", Rule: "limit:user_id"}},
		},
	})
}

func TestOrderAndDuplicates(t *testing.T) {
	base := []obs{
		o("e1", 1, "user_id:u1", "anonymous_id:a"),
		o("e2", 2, "user_id:u2", "anonymous_id:a"),
	}
	run(t, []scenario{
		{
			// An identifier set seen before changes nothing, whatever the
			// order or repetition of its identifiers: no second block.
			name: "a repeated identifier set is ignored",
			obs: append(slices.Clone(base),
				o("e3", 3, "anonymous_id:a", "user_id:u2"),
				o("e4", 4, "user_id:u2", "user_id:u2", "anonymous_id:a"),
				o("e5", 5, "anonymous_id:a", "user_id:u1")),
			profiles: [][]string{{"anonymous_id:a", "user_id:u1"}, {"user_id:u2"}},
			blocks:   []block{{EventID: "e2", Identifier: "anonymous_id:a", Rule: "limit:user_id"}},
		},
		{
			// Malformed identifiers ("type:value" expected) are ignored;
			// an observation with none changes nothing.
			name:     "malformed identifiers are ignored",
			obs:      []obs{o("e1", 1, "user_id:u1", "nocolon", "email:"), o("e2", 2), o("e3", 3, ":x")},
			profiles: [][]string{{"user_id:u1"}},
		},
		{
			name: "no observations",
		},
	})

	// Every permutation of a small history gives the same graph.
	p := policy(t, nil)
	hist := []obs{
		o("e1", 1, "user_id:u1", "anonymous_id:a"),
		o("e2", 2, "user_id:u2", "anonymous_id:a", "device_id:d"),
		o("e3", 2, "device_id:d", "email:x@example.com"),
		o("e4", 3, "email:x@example.com", "user_id:u1"),
		o("e5", 4, "anonymous_id:b", "device_id:d"),
	}
	want := identitytest.Resolve(p, hist)
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		shuffled := slices.Clone(hist)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		for i := range shuffled {
			ids := slices.Clone(shuffled[i].IDs)
			r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
			shuffled[i].IDs = ids
		}
		if got := identitytest.Resolve(p, shuffled); !reflect.DeepEqual(got, want) {
			t.Fatalf("order %v gave\n%+v\nwant\n%+v", shuffled, got, want)
		}
	}
	if !slices.Equal(hist[1].IDs, []string{"user_id:u2", "anonymous_id:a", "device_id:d"}) {
		t.Error("Resolve changed its input")
	}
}

func TestProfileOf(t *testing.T) {
	p := policy(t, nil)
	g := identitytest.Resolve(p, []obs{
		o("e1", 1, "user_id:u1", "anonymous_id:a"),
		o("e2", 2, "user_id:u2", "anonymous_id:a"),
	})
	// The event belongs to the profile of its strongest identifier.
	if got, want := g.ProfileOf(p, []string{"anonymous_id:a", "user_id:u2"}), g.Of["user_id:u2"]; got != want {
		t.Errorf("ProfileOf = %d, want %d (user_id:u2's)", got, want)
	}
	if g.Of["user_id:u2"] == g.Of["anonymous_id:a"] {
		t.Error("u2 joined a")
	}
}

// Blocked values never reach Resolve: Policy.Usable filters them first
// (Segment, Blocked values: "zeroes and dashes, -1, null, anonymous" are
// not promoted to identifiers). An event of two users sharing a junk
// user_id does not merge them.
func TestBlockedValuesFilteredBeforeResolve(t *testing.T) {
	p := policy(t, nil)
	usable := func(ss ...string) []string {
		var ids []event.Identifier
		for _, s := range ss {
			id, _ := event.ParseIdentifier(s)
			ids = append(ids, id)
		}
		u, _ := p.Usable(ids)
		out := make([]string, len(u))
		for i, id := range u {
			out[i] = id.String()
		}
		return out
	}
	raw := [][]string{
		{"user_id:null", "email:ann@example.com"},
		{"user_id:null", "email:bob@example.com"},
		{"anonymous_id:00000000-0000-0000-0000-000000000000", "email:cy@example.com"},
		{"anonymous_id:00000000-0000-0000-0000-000000000000", "email:ann@example.com"},
	}
	var filtered, unfiltered []obs
	for i, ids := range raw {
		filtered = append(filtered, obs{EventID: fmt.Sprint("e", i), At: int64(i), IDs: usable(ids...)})
		unfiltered = append(unfiltered, obs{EventID: fmt.Sprint("e", i), At: int64(i), IDs: ids})
	}
	g := identitytest.Resolve(p, filtered)
	want := [][]string{{"email:ann@example.com"}, {"email:bob@example.com"}, {"email:cy@example.com"}}
	if !reflect.DeepEqual(g.Profiles, want) {
		t.Errorf("profiles %v, want %v", g.Profiles, want)
	}
	// Unfiltered, the junk values would have joined everyone.
	if g := identitytest.Resolve(p, unfiltered); len(g.Profiles) != 1 {
		t.Errorf("unfiltered: profiles %v, want one", g.Profiles)
	}
}

// --- properties on random histories ---

// pools: identifier types and how many distinct values each takes in
// random histories; small, so that histories collide and hit the limits.
var pools = []struct {
	typ, format string
	n           int
}{
	{"user_id", "u%d", 6},
	{"email", "e%d@example.com", 10},
	{"phone", "+4915100000%02d", 6},
	{"loyalty_id", "l%d", 3},
	{"crm_id", "c%d", 4}, // no rule
	{"device_id", "d%d", 5},
	{"anonymous_id", "a%d", 14},
}

func randomHistory(r *rand.Rand, n int) []obs {
	out := make([]obs, n)
	for i := range out {
		k := 1 + r.IntN(4)
		ids := make([]string, k)
		for j := range ids {
			pl := pools[r.IntN(len(pools))]
			ids[j] = pl.typ + ":" + fmt.Sprintf(pl.format, r.IntN(pl.n))
		}
		out[i] = obs{EventID: fmt.Sprintf("e%04d", i), At: int64(r.IntN(n)), IDs: ids}
	}
	return out
}

// components is plain identity resolution without merge protection: the
// connected components of the identifiers, by union-find.
func components(hist []obs) [][]string {
	parent := map[string]string{}
	var find func(string) string
	find = func(x string) string {
		if parent[x] != x {
			parent[x] = find(parent[x])
		}
		return parent[x]
	}
	for _, ob := range hist {
		for _, id := range ob.IDs {
			if _, ok := parent[id]; !ok {
				parent[id] = id
			}
		}
		for _, id := range ob.IDs[1:] {
			parent[find(id)] = find(ob.IDs[0])
		}
	}
	groups := map[string][]string{}
	for id := range parent {
		root := find(id)
		groups[root] = append(groups[root], id)
	}
	var out [][]string
	for _, g := range groups {
		sort.Strings(g)
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

// Without limits that bind, resolution is plain connected components
// (Segment's flat matching: every match merges).
func TestUnboundedLimitsAreConnectedComponents(t *testing.T) {
	const huge = 1 << 30
	p := policy(t, func(r *identity.Rules) {
		for typ, tr := range r.Types {
			tr.Limit, tr.Unique = huge, false
			r.Types[typ] = tr
		}
		r.DefaultLimit, r.MaxIdentifiers = huge, huge
	})
	for seed := range uint64(500) {
		r := rand.New(rand.NewPCG(seed, 0x1d))
		hist := randomHistory(r, 1+r.IntN(40))
		g := identitytest.Resolve(p, hist)
		if want := components(hist); !reflect.DeepEqual(g.Profiles, want) {
			t.Fatalf("seed %d: profiles\n%v\nwant components\n%v\nhistory %v", seed, g.Profiles, want, hist)
		}
		if len(g.Blocks) != 0 || len(g.Unlinked) != 0 {
			t.Fatalf("seed %d: blocks %v, unlinked %v without limits", seed, g.Blocks, g.Unlinked)
		}
	}
}

// With the default rules (and with a tight cap) every outcome keeps the
// rules: no profile breaks a limit or the cap, every event's strongest
// identifier is linked together with every identifier the event did not
// drop, and the unlinked identifiers are exactly those every event dropped.
func TestResolveKeepsTheRules(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rules func(*identity.Rules)
		want  []string // rules the random histories must hit
	}{
		{"defaults", nil, []string{"limit:user_id"}},
		{"tight", func(r *identity.Rules) {
			r.MaxIdentifiers = 7
			r.Types[event.IDAnonymousID] = identity.TypeRule{Priority: 30, Limit: 3}
			r.Types[event.IDDeviceID] = identity.TypeRule{Priority: 40, Limit: 2}
			r.Types[event.IDEmail] = identity.TypeRule{Priority: 90, Limit: 2}
		}, []string{"limit:user_id", "limit:email", "limit:anonymous_id", "limit:device_id", "max_identifiers"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := policy(t, tc.rules)
			blocked := 0
			rules := map[string]int{}
			for seed := range uint64(400) {
				r := rand.New(rand.NewPCG(seed, 0xc0ffee))
				hist := randomHistory(r, 1+r.IntN(60))
				g := identitytest.Resolve(p, hist)
				blocked += len(g.Blocks)
				for _, b := range g.Blocks {
					rules[b.Rule]++
				}
				if checkInvariants(t, p, hist, g); t.Failed() {
					t.Fatalf("seed %d: history %v\ngraph %+v", seed, hist, g)
				}
				shuffled := slices.Clone(hist)
				r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
				if again := identitytest.Resolve(p, shuffled); !reflect.DeepEqual(again, g) {
					t.Fatalf("seed %d: shuffled history gave a different graph", seed)
				}
			}
			if blocked == 0 {
				t.Error("no random history hit a rule: the test exercises nothing")
			}
			for _, rule := range tc.want {
				if rules[rule] == 0 {
					t.Errorf("no random history hit rule %s (hit: %v)", rule, rules)
				}
			}
		})
	}
}

// checkInvariants checks the graph of hist against the rules.
func checkInvariants(t *testing.T, p *identity.Policy, hist []obs, g *identitytest.Graph) {
	t.Helper()
	typeOf := func(id string) string { typ, _, _ := strings.Cut(id, ":"); return typ }

	// Profiles partition the linked identifiers, Of indexes them, and each
	// keeps every limit and the cap.
	linked := map[string]bool{}
	for i, prof := range g.Profiles {
		if len(prof) == 0 || !slices.IsSorted(prof) {
			t.Errorf("profile %d %v is empty or unsorted", i, prof)
		}
		counts := map[string]int{}
		for _, id := range prof {
			if linked[id] {
				t.Errorf("%s is in two profiles", id)
			}
			linked[id] = true
			if g.Of[id] != i {
				t.Errorf("Of[%s] = %d, but it is in profile %d", id, g.Of[id], i)
			}
			counts[typeOf(id)]++
		}
		for typ, n := range counts {
			if n > p.Limit(typ) {
				t.Errorf("profile %v holds %d %s, limit %d", prof, n, typ, p.Limit(typ))
			}
		}
		if len(prof) > p.MaxIdentifiers() {
			t.Errorf("profile %v holds %d identifiers, cap %d", prof, len(prof), p.MaxIdentifiers())
		}
	}
	if len(g.Of) != len(linked) {
		t.Errorf("Of has %d entries, profiles %d identifiers", len(g.Of), len(linked))
	}

	// The observations that count: the first (by time, then event id) of
	// each identifier set.
	sorted := slices.Clone(hist)
	sort.SliceStable(sorted, func(i, j int) bool {
		if sorted[i].At != sorted[j].At {
			return sorted[i].At < sorted[j].At
		}
		return sorted[i].EventID < sorted[j].EventID
	})
	counted := map[string]obs{} // event id -> observation
	seen := map[string]bool{}
	all := map[string]bool{}
	for _, ob := range sorted {
		set := slices.Clone(ob.IDs)
		set = slices.DeleteFunc(set, func(s string) bool { _, ok := event.ParseIdentifier(s); return !ok })
		slices.Sort(set)
		set = slices.Compact(set)
		if len(set) == 0 {
			continue
		}
		for _, id := range set {
			all[id] = true
		}
		if key := strings.Join(set, "\n"); !seen[key] {
			seen[key] = true
			counted[ob.EventID] = obs{EventID: ob.EventID, At: ob.At, IDs: set}
		}
	}

	dropped := map[[2]string]bool{} // event id, identifier
	for _, b := range g.Blocks {
		ob, ok := counted[b.EventID]
		if !ok || !slices.Contains(ob.IDs, b.Identifier) {
			t.Errorf("block %v: no such observation or identifier", b)
			continue
		}
		if dropped[[2]string{b.EventID, b.Identifier}] {
			t.Errorf("block %v twice", b)
		}
		dropped[[2]string{b.EventID, b.Identifier}] = true
		if b.Rule != identity.RuleMaxIdentifiers && !strings.HasPrefix(b.Rule, identity.RuleLimit+":") {
			t.Errorf("block %v: unknown rule", b)
		}
	}

	admittedSomewhere := map[string]bool{}
	firstAdmitted := map[string]int64{} // identifier -> earliest time an event admitted it
	for _, ob := range counted {
		strongest := g.ProfileOf(p, ob.IDs)
		var ids []event.Identifier
		for _, s := range ob.IDs {
			id, _ := event.ParseIdentifier(s)
			ids = append(ids, id)
		}
		top, _ := p.Strongest(ids)
		// The strongest identifier is never dropped and always linked.
		if dropped[[2]string{ob.EventID, top.String()}] {
			t.Errorf("%s: the strongest identifier %s was dropped", ob.EventID, top)
		}
		if !linked[top.String()] || strongest != g.Of[top.String()] {
			t.Errorf("%s: the strongest identifier %s is not linked", ob.EventID, top)
		}
		// Every identifier the event did not drop is in its profile.
		for _, id := range ob.IDs {
			if dropped[[2]string{ob.EventID, id}] {
				continue
			}
			admittedSomewhere[id] = true
			if at, ok := firstAdmitted[id]; !ok || ob.At < at {
				firstAdmitted[id] = ob.At
			}
			if i, ok := g.Of[id]; !ok || i != strongest {
				t.Errorf("%s: admitted %s is not in the event's profile", ob.EventID, id)
			}
		}
	}

	// Unlinked: exactly the identifiers every event carrying them dropped.
	var wantUnlinked []string
	for id := range all {
		if !linked[id] {
			wantUnlinked = append(wantUnlinked, id)
		}
		if linked[id] != admittedSomewhere[id] {
			t.Errorf("%s: linked %v, but admitted by some event %v", id, linked[id], admittedSomewhere[id])
		}
	}
	sort.Strings(wantUnlinked)
	if !slices.Equal(g.Unlinked, wantUnlinked) {
		t.Errorf("unlinked %v, want %v", g.Unlinked, wantUnlinked)
	}
	for id := range linked {
		if !all[id] {
			t.Errorf("%s linked but in no observation", id)
		}
	}
	// Linked: when each linked identifier was first admitted.
	if len(g.Linked) != len(firstAdmitted) {
		t.Errorf("Linked has %d identifiers, %d were admitted", len(g.Linked), len(firstAdmitted))
	}
	for id, at := range firstAdmitted {
		if got, ok := g.Linked[id]; !ok || got != at {
			t.Errorf("Linked[%s] = %d, %v; first admitted at %d", id, got, ok, at)
		}
	}
}
