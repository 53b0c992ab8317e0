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
package synth

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/google/uuid"
)

// Channels the generator produces, one write key each.
var Channels = []string{"web", "mobile", "store", "call_center", "email", "survey"}

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
}

// Default is a few hundred people over the last 30 days.
func Default() Config {
	return Config{People: 300, Seed: 1, Start: time.Now().UTC().Add(-30 * 24 * time.Hour), Span: 30 * 24 * time.Hour, KnownShare: 0.6}
}

// Message is one tracking call of one person on one channel.
type Message struct {
	Channel string
	// Person is the ground truth: the index of the person who acted.
	Person int
	// Body is the Segment message JSON (type, messageId, ids, event...).
	Body map[string]any
	At   time.Time
}

// Person is one generated customer.
type Person struct {
	Index int
	Name  string
	Email string // empty for anonymous visitors
	Phone string // set for customers who shop in a store
	// Identifiers lists every identifier the person used, "type:value",
	// as the pipeline normalises them.
	Identifiers []string
}

// Population is the generated people and their messages, in time order.
type Population struct {
	People   []Person
	Messages []Message
}

// Generate builds the population.
func Generate(cfg Config) Population {
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	var pop Population
	for i := range cfg.People {
		p, msgs := journey(rng, cfg, i)
		pop.People = append(pop.People, p)
		pop.Messages = append(pop.Messages, msgs...)
	}
	sort.SliceStable(pop.Messages, func(a, b int) bool { return pop.Messages[a].At.Before(pop.Messages[b].At) })
	return pop
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
)

// journey draws one person's interactions.
func journey(rng *rand.Rand, cfg Config, i int) (Person, []Message) {
	name := firstNames[rng.IntN(len(firstNames))] + " " + lastNames[rng.IntN(len(lastNames))]
	p := Person{Index: i, Name: name}
	var msgs []Message
	t := cfg.Start.Add(time.Duration(rng.Int64N(int64(cfg.Span) / 2)))
	step := func() time.Time {
		t = t.Add(time.Duration(1+rng.IntN(36*60)) * time.Minute)
		return t
	}
	add := func(channel string, at time.Time, body map[string]any) {
		body["messageId"] = uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "%d/%d/%d", cfg.Seed, i, len(msgs))).String()
		body["timestamp"] = at.Format(time.RFC3339Nano)
		msgs = append(msgs, Message{Channel: channel, Person: i, Body: body, At: at})
	}
	anon := uuid.NewSHA1(uuid.NameSpaceURL, fmt.Appendf(nil, "anon/%d/%d", cfg.Seed, i)).String()
	p.Identifiers = append(p.Identifiers, "anonymous_id:"+anon)
	// Anonymous browsing on the web.
	for range 1 + rng.IntN(5) {
		page := pages[rng.IntN(len(pages))]
		add("web", step(), map[string]any{"type": "page", "anonymousId": anon, "name": page,
			"properties": map[string]any{"path": "/" + page}, "context": map[string]any{"userAgent": "Mozilla/5.0", "ip": "198.51.100.7"}})
	}
	if rng.Float64() >= cfg.KnownShare {
		return p, msgs // stays anonymous
	}

	p.Email = fmt.Sprintf("customer%d@example.com", i)
	userID := fmt.Sprintf("u-%05d", i)
	device := uuid.NewSHA1(uuid.NameSpaceURL, fmt.Appendf(nil, "device/%d/%d", cfg.Seed, i)).String()
	p.Identifiers = append(p.Identifiers, "email:"+p.Email, "user_id:"+userID)

	// Sign-up on the web: the anonymous visitor becomes known.
	add("web", step(), map[string]any{"type": "identify", "anonymousId": anon, "userId": userID,
		"traits": map[string]any{"email": p.Email, "name": p.Name, "plan": "free"}})
	// The mobile app: another device, logged in.
	if rng.IntN(3) > 0 {
		p.Identifiers = append(p.Identifiers, "device_id:"+device)
		mobileAnon := uuid.NewSHA1(uuid.NameSpaceURL, fmt.Appendf(nil, "mobile/%d/%d", cfg.Seed, i)).String()
		p.Identifiers = append(p.Identifiers, "anonymous_id:"+mobileAnon)
		// The app is used anonymously first; the login then merges that
		// profile into the known one.
		add("mobile", step(), map[string]any{"type": "track", "anonymousId": mobileAnon, "event": "Application Opened",
			"context": map[string]any{"device": map[string]any{"id": device, "type": "ios"}}})
		add("mobile", step(), map[string]any{"type": "identify", "anonymousId": mobileAnon, "userId": userID,
			"traits": map[string]any{"email": p.Email}, "context": map[string]any{"device": map[string]any{"id": device, "type": "ios"}}})
		for range 1 + rng.IntN(4) {
			pr := products[rng.IntN(len(products))]
			add("mobile", step(), map[string]any{"type": "track", "userId": userID, "event": "Product Viewed",
				"properties": map[string]any{"sku": pr.SKU, "name": pr.Name, "price": pr.Price},
				"context":    map[string]any{"device": map[string]any{"id": device}}})
		}
	}
	// The store: loyalty sign-up ties the phone to the email, then purchases
	// at the till by phone number only.
	if rng.IntN(2) == 0 {
		p.Phone = fmt.Sprintf("+4915%09d", 100000000+i)
		p.Identifiers = append(p.Identifiers, "phone:"+p.Phone)
		order := func() {
			pr := products[rng.IntN(len(products))]
			qty := 1 + rng.IntN(2)
			add("store", step(), map[string]any{"type": "track", "event": "Order Completed",
				"context":    map[string]any{"traits": map[string]any{"phone": formatLocal(p.Phone)}},
				"properties": map[string]any{"order_id": fmt.Sprintf("POS-%d-%d", i, len(msgs)), "revenue": pr.Price * float64(qty), "currency": "EUR", "products": []any{map[string]any{"sku": pr.SKU, "quantity": qty}}}})
		}
		if rng.IntN(2) == 0 {
			order() // bought by phone before joining the loyalty programme
		}
		add("store", step(), map[string]any{"type": "identify", "userId": userID,
			"traits": map[string]any{"email": p.Email, "phone": formatLocal(p.Phone), "store": "Berlin Mitte"}})
		for range rng.IntN(3) {
			order()
		}
		// Support calls come in by phone.
		if rng.IntN(2) == 0 {
			reason := reasons[rng.IntN(len(reasons))]
			add("call_center", step(), map[string]any{"type": "track", "event": "Ticket Opened",
				"context": map[string]any{"traits": map[string]any{"phone": p.Phone}}, "properties": map[string]any{"reason": reason, "priority": "normal"}})
			add("call_center", step(), map[string]any{"type": "track", "event": "Ticket Solved",
				"context": map[string]any{"traits": map[string]any{"phone": p.Phone}}, "properties": map[string]any{"reason": reason, "satisfaction": 1 + rng.IntN(5)}})
		}
	} else if rng.IntN(2) == 0 {
		// Online order after the sign-up.
		pr := products[rng.IntN(len(products))]
		add("web", step(), map[string]any{"type": "track", "userId": userID, "anonymousId": anon, "event": "Order Completed",
			"properties": map[string]any{"order_id": fmt.Sprintf("WEB-%d", i), "revenue": pr.Price, "currency": "EUR"}})
	}
	// Email engagement and a survey answer.
	for range rng.IntN(3) {
		add("email", step(), map[string]any{"type": "track", "event": "Email Opened",
			"context": map[string]any{"traits": map[string]any{"email": p.Email}}, "properties": map[string]any{"campaign": "spring-sale"}})
	}
	if rng.IntN(3) == 0 {
		add("survey", step(), map[string]any{"type": "track", "event": "Survey Responded",
			"context":    map[string]any{"traits": map[string]any{"email": p.Email}},
			"properties": map[string]any{"survey": "nps", "score": rng.IntN(11), "comment": "Schneller Versand, gerne wieder!"}})
	}
	return p, msgs
}

// formatLocal writes an E.164 number the way a till would print it, so
// that the pipeline's normalisation is exercised.
func formatLocal(e164 string) string {
	return "00" + e164[1:3] + " " + e164[3:6] + " " + e164[6:]
}

// JSON encodes a message body.
func (m Message) JSON() []byte {
	b, _ := json.Marshal(m.Body) // maps of strings, numbers and slices always encode
	return b
}

// ExpectedProfiles is the number of profiles a correct resolver ends with:
// the people's identifiers never overlap, and each person's identifiers are
// connected by their own journey.
func (p Population) ExpectedProfiles() int { return len(p.People) }
