package trigger

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/cxstream/cxstream/pkg/event"
	"github.com/cxstream/cxstream/pkg/profile"
)

// Cart is a cart that may be abandoned: what its latest cart event showed
// (the Segment e-commerce spec's properties, where the event carried them).
type Cart struct {
	// CartAt is the event time of the latest cart activity; the window
	// runs from it.
	CartAt    time.Time `json:"cart_at"`
	EventID   string    `json:"event_id"`
	EventName string    `json:"event_name"`
	CartID    string    `json:"cart_id,omitempty"`
	// Products is the event's products array as sent, or for a single
	// product event (Product Added) that product's fields; absent if
	// neither, or if longer than 64 KB.
	Products json.RawMessage `json:"products,omitempty"`
	// Items counts units: the products' quantities (1 each if not
	// given), or the quantity property.
	Items int64 `json:"items,omitempty"`
	// Value is the value, revenue or total property, or for a single
	// product its price times quantity.
	Value    *float64 `json:"value,omitempty"`
	Currency string   `json:"currency,omitempty"`
	Window   Duration `json:"window"`
}

// maxProducts bounds the products carried along.
const maxProducts = 64 << 10

// productFields are the Segment e-commerce fields of one product.
var productFields = []string{"product_id", "sku", "name", "brand", "category", "variant", "price", "quantity", "coupon",
	"url", "image_url"}

// CartActivity reports whether e is cart activity under the rule: a track
// event named in cfg.Events, with the rule enabled.
func CartActivity(cfg CartConfig, e *event.Event) bool {
	return cfg.Enabled && e.Type == event.TypeTrack && slices.Contains(cfg.Events, e.Name)
}

// IsOrder reports whether e closes carts under the rule: a track event
// named in cfg.OrderEvents, with the rule enabled.
func IsOrder(cfg CartConfig, e *event.Event) bool {
	return cfg.Enabled && e.Type == event.TypeTrack && slices.Contains(cfg.OrderEvents, e.Name)
}

// CartOf returns the cart that cart activity e shows. The caller keeps
// the latest one per profile (by CartAt) until it is due or an order
// closes it.
func CartOf(cfg CartConfig, e *event.Event) Cart {
	c := Cart{CartAt: e.EventTime.UTC().Truncate(time.Millisecond), EventID: e.EventID, EventName: e.Name,
		Window: cfg.Window}
	props := objectOf(e.Properties)
	c.CartID = textOf(props["cart_id"])
	if cur, ok := stringOf(props["currency"]); ok {
		c.Currency = strings.ToUpper(strings.TrimSpace(cur))
	}
	for _, k := range []string{"value", "revenue", "total"} {
		if v, ok := amountOf(props[k]); ok {
			c.Value = &v
			break
		}
	}
	var products []map[string]json.RawMessage
	if raw := bytes.TrimSpace(props["products"]); len(raw) > 0 && raw[0] == '[' &&
		json.Unmarshal(raw, &products) == nil && len(products) > 0 {
		for _, p := range products {
			c.Items += quantity(p)
		}
		if len(raw) <= maxProducts {
			c.Products = raw
		}
		return c
	}
	// A single product event: the product is the properties themselves.
	one := map[string]json.RawMessage{}
	for _, k := range productFields {
		if v, ok := props[k]; ok {
			one[k] = v
		}
	}
	if len(one) == 0 {
		return c
	}
	q := quantity(props)
	c.Items = q
	if price, ok := amountOf(props["price"]); ok && c.Value == nil {
		v := math.Round(price*float64(q)*1e6) / 1e6
		c.Value = &v
	}
	if b, err := json.Marshal([]map[string]json.RawMessage{one}); err == nil && len(b) <= maxProducts {
		c.Products = b
	}
	return c
}

// quantity is a product's whole, non-negative quantity, 1 if not given.
func quantity(p map[string]json.RawMessage) int64 {
	f, ok := numberOf(p["quantity"])
	if !ok || f != math.Trunc(f) || f < 0 || f > 1e9 {
		return 1
	}
	return int64(f)
}

// Due is when the cart counts as abandoned if no order came.
func (c Cart) Due() time.Time { return c.CartAt.Add(time.Duration(c.Window)) }

// ClosedBy reports whether e is an order at or after the cart's activity,
// which closes the cart. CartConfig.Closes states the same as a bound on
// due times, for a store that keeps carts by due time.
func (c Cart) ClosedBy(cfg CartConfig, e *event.Event) bool {
	return IsOrder(cfg, e) && !e.EventTime.Before(c.CartAt)
}

// Trigger returns the cart.abandoned trigger of a cart about p, at its
// due time; its key is the cart event's id.
func (c Cart) Trigger(cfg CartConfig, p *profile.Profile) *Trigger {
	reason := "cart abandoned: " + c.EventName + " at " + c.CartAt.UTC().Format(time.RFC3339) +
		" and no order within " + c.Window.String()
	t := New(TypeCartAbandoned, string(TypeCartAbandoned)+"/"+c.EventID, p, c.Due(), reason, cfg.Purpose)
	t.Cart = &c
	return t
}

// Closes reports whether e is an order, and if so the latest due time of
// the carts it closes: a cart is closed by e (ClosedBy) exactly when its
// Due is at or before the bound, as its activity was at or before e.
func (cfg CartConfig) Closes(e *event.Event) (dueAtMost time.Time, ok bool) {
	if !IsOrder(cfg, e) {
		return time.Time{}, false
	}
	return e.EventTime.Add(time.Duration(cfg.Window)), true
}

// OrderedSince reports whether profile p has an order at or after the
// cart's activity: the check when the cart comes due, which sees orders
// however they reached the profile (a merge since, an order whose event
// was processed before the cart's).
func (c Cart) OrderedSince(p *profile.Profile) bool {
	last := p.Transactional.LastOrderAt
	return last != nil && !last.Before(c.CartAt)
}
