package trigger

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cxstream/cxstream/pkg/event"
)

func TestCartActivityAndOrders(t *testing.T) {
	cfg := Default().WithOrderEvents([]string{"Order Completed"}).Cart
	page := &event.Event{Type: event.TypePage, Name: "Product Added"}
	tests := []struct {
		e           *event.Event
		cart, order bool
	}{
		{track("Product Added", "web", `{}`), true, false},
		{track("Cart Viewed", "web", `{}`), true, false},
		{track("Checkout Started", "web", `{}`), true, false},
		{track("Order Completed", "web", `{}`), false, true},
		{track("Order Refunded", "store", `{}`), false, false},
		{track("product added", "web", `{}`), false, false}, // names match exactly
		{page, false, false}, // track events only
	}
	for _, tt := range tests {
		if got := CartActivity(cfg, tt.e); got != tt.cart {
			t.Errorf("CartActivity(%s %q) = %v", tt.e.Type, tt.e.Name, got)
		}
		if got := IsOrder(cfg, tt.e); got != tt.order {
			t.Errorf("IsOrder(%s %q) = %v", tt.e.Type, tt.e.Name, got)
		}
	}
	cfg.Enabled = false
	if CartActivity(cfg, track("Product Added", "web", `{}`)) || IsOrder(cfg, track("Order Completed", "web", `{}`)) {
		t.Error("a disabled rule sees carts or orders")
	}
}

func TestCartOf(t *testing.T) {
	cfg := Default().WithOrderEvents([]string{"Order Completed"}).Cart
	num := func(f float64) *float64 { return &f }
	tests := []struct {
		name     string
		props    string
		items    int64
		value    *float64
		currency string
		cartID   string
		products string // "" for none
	}{
		{"product added", `{"product_id":"p1","sku":"S-1","name":"Runner","price":89.9,"quantity":2,"currency":"eur","cart_id":"c1","position":3}`,
			2, num(179.8), "EUR", "c1", `[{"name":"Runner","price":89.9,"product_id":"p1","quantity":2,"sku":"S-1"}]`},
		{"product added, no quantity", `{"product_id":"p1","price":"10.50"}`, 1, num(10.5), "", "",
			`[{"price":"10.50","product_id":"p1"}]`},
		{"checkout with products and value", `{"value":120,"revenue":100,"currency":"USD","products":[{"product_id":"a","quantity":3},{"product_id":"b"}]}`,
			4, num(120), "USD", "", `[{"product_id":"a","quantity":3},{"product_id":"b"}]`},
		{"cart viewed, products only", `{"cart_id":42,"products":[{"sku":"x","quantity":0}]}`, 0, nil, "", "42",
			`[{"sku":"x","quantity":0}]`},
		{"bad quantity counts one", `{"products":[{"quantity":-2},{"quantity":1.5},{"quantity":"2"}]}`, 3, nil, "", "",
			`[{"quantity":-2},{"quantity":1.5},{"quantity":"2"}]`},
		{"nothing", `{"page":"cart"}`, 0, nil, "", "", ""},
		{"not an object", `"cart"`, 0, nil, "", "", ""},
		{"empty products, single-product fields", `{"products":[],"name":"Cap"}`, 1, nil, "", "", `[{"name":"Cap"}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := track("Product Added", "web", tt.props)
			c := CartOf(cfg, e)
			if c.EventID != e.EventID || c.EventName != "Product Added" || !c.CartAt.Equal(t0) || c.Window != cfg.Window {
				t.Errorf("event fields %+v", c)
			}
			if c.Items != tt.items || c.Currency != tt.currency || c.CartID != tt.cartID {
				t.Errorf("items %d currency %q cart %q, want %d %q %q", c.Items, c.Currency, c.CartID, tt.items, tt.currency, tt.cartID)
			}
			if (c.Value == nil) != (tt.value == nil) || (c.Value != nil && *c.Value != *tt.value) {
				t.Errorf("value %v, want %v", c.Value, tt.value)
			}
			if string(c.Products) != tt.products {
				t.Errorf("products %s, want %s", c.Products, tt.products)
			}
			if _, err := json.Marshal(c); err != nil {
				t.Error(err)
			}
		})
	}
	huge := `{"products":[` + strings.Repeat(`{"name":"`+strings.Repeat("x", 1000)+`"},`, 70) + `{}]}`
	if c := CartOf(cfg, track("Cart Viewed", "web", huge)); c.Products != nil || c.Items != 71 {
		t.Errorf("a 70 KB products array: %d bytes kept, %d items", len(c.Products), c.Items)
	}
}

func TestCartDueAndClosed(t *testing.T) {
	cfg := Default().WithOrderEvents([]string{"Order Completed"}).Cart
	c := CartOf(cfg, track("Product Added", "web", `{}`))
	if !c.Due().Equal(t0.Add(time.Hour)) {
		t.Errorf("due %s", c.Due())
	}
	order := func(at time.Time) *event.Event {
		e := track("Order Completed", "web", `{}`)
		e.EventTime = at
		return e
	}
	for _, tt := range []struct {
		e      *event.Event
		closed bool
	}{
		{order(t0.Add(10 * time.Minute)), true},
		{order(t0), true},
		{order(t0.Add(-time.Minute)), false}, // an earlier order (arriving late) closes no later cart
		{order(t0.Add(3 * time.Hour)), true}, // after the window: the caller has fired already
		{track("Cart Viewed", "web", `{}`), false},
	} {
		if got := c.ClosedBy(cfg, tt.e); got != tt.closed {
			t.Errorf("ClosedBy(%s at %s) = %v", tt.e.Name, tt.e.EventTime, got)
		}
		// Closes says the same as a bound on due times.
		bound, ok := cfg.Closes(tt.e)
		if got := ok && !c.Due().After(bound); got != tt.closed {
			t.Errorf("Closes(%s at %s) = %v, %v: closes the cart %v, want %v", tt.e.Name, tt.e.EventTime, bound, ok, got, tt.closed)
		}
	}
}

func TestCartOrderedSince(t *testing.T) {
	c := Cart{CartAt: t0}
	for _, tt := range []struct {
		last *time.Time
		want bool
	}{
		{nil, false},
		{ptr(t0.Add(-time.Minute)), false}, // the order before the cart
		{ptr(t0), true},
		{ptr(t0.Add(time.Minute)), true},
	} {
		p := jane()
		p.Transactional.LastOrderAt = tt.last
		if got := c.OrderedSince(p); got != tt.want {
			t.Errorf("last order %v: OrderedSince = %v, want %v", tt.last, got, tt.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }
